"""The model form of Django admin: modalities as checkboxes from a known set, supported
parameters as a list of names (one per line or comma-separated), prices normalized
(``1.76``, not ``1.760000000``). Each field stores the same JSON list the raw JSON box
stored; bad input is a validation error on its field."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms

from catalog.models import MODALITIES, Model
from catalog.units import decimal_text

PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")
SEPARATORS = re.compile(r"[,\n\r]+")


class PriceInput(forms.NumberInput):
    """A price box that shows ``1.76`` and ``0`` where ``str()`` of the stored decimal
    shows ``1.760000000`` and ``0E-9``."""

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Decimal):
            return decimal_text(value)
        return super().format_value(value)


class ModalitiesField(forms.MultipleChoiceField):
    """A JSON list of modalities, chosen among ``MODALITIES`` (and any other value the
    model already holds, so saving never drops it), stored in ``MODALITIES`` order."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [(m, m) for m in MODALITIES])
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[str]:
        chosen = set(super().clean(value))
        order = [name for name, _ in self.choices]
        return [name for name in order if name in chosen]


class ParameterListField(forms.CharField):
    """A JSON list of parameter names, typed one per line or separated by commas.
    Names are lower case letters, digits, ``_`` and ``.``; a repeated name is kept once."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text", "One per line or separated by commas, e.g. temperature, tools"
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        text = super().to_python(value)
        names: list[str] = []
        for raw in SEPARATORS.split(text):
            name = raw.strip()
            if name and name not in names:
                names.append(name)
        return names

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        bad = [name for name in value if not PARAMETER_NAME.match(name)]
        if bad:
            raise forms.ValidationError(
                "Not a parameter name: %(names)s. Use lower-case letters, digits, _ and ., "
                "one name per line or separated by commas.",
                code="invalid",
                params={"names": ", ".join(bad)},
            )


class ModelAdminForm(forms.ModelForm):
    input_modalities = ModalitiesField()
    output_modalities = ModalitiesField()
    supported_parameters = ParameterListField()

    class Meta:
        model = Model
        # Django admin adds the fields of ModelAdmin.fieldsets to these.
        fields = ["input_modalities", "output_modalities", "supported_parameters"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("input_modalities", "output_modalities"):
            held = self.initial.get(name) or []
            field = self.fields[name]
            known = [value for value, _ in field.choices]
            extra = [value for value in held if isinstance(value, str) and value not in known]
            if extra:
                field.choices = [*field.choices, *((value, value) for value in extra)]
