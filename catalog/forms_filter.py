"""The models page's filters: input modality, output modality and provider, each a choice
among what the enabled catalog holds. Sent by GET, so a filtered list has its own URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from catalog.models import MODALITIES

if TYPE_CHECKING:
    from catalog.views import ModelCard


class ModelFilterForm(forms.Form):
    input = forms.ChoiceField(required=False, label="Input")
    output = forms.ChoiceField(required=False, label="Output")
    provider = forms.ChoiceField(required=False, label="Provider")

    def __init__(self, data: Any, *, cards: list[ModelCard]) -> None:
        super().__init__(data)
        ins = {m for c in cards for m in c.model.input_modalities}
        outs = {m for c in cards for m in c.model.output_modalities}
        providers = dict(p for c in cards for p in c.providers)
        order = {name: n for n, name in enumerate(MODALITIES)}
        self.fields["input"].choices = [("", "any")] + [
            (m, m) for m in sorted(ins, key=lambda m: (order.get(m, len(order)), m))
        ]
        self.fields["output"].choices = [("", "any")] + [
            (m, m) for m in sorted(outs, key=lambda m: (order.get(m, len(order)), m))
        ]
        by_name = sorted(providers.items(), key=lambda item: item[1].lower())
        self.fields["provider"].choices = [("", "any"), *by_name]

    def apply(self, cards: list[ModelCard]) -> list[ModelCard]:
        """The cards passing every valid filter (an invalid one is reported, not applied)."""
        self.is_valid()
        chosen = {name: value for name, value in self.cleaned_data.items() if value}
        return [
            c
            for c in cards
            if ("input" not in chosen or chosen["input"] in c.model.input_modalities)
            and ("output" not in chosen or chosen["output"] in c.model.output_modalities)
            and ("provider" not in chosen or chosen["provider"] in dict(c.providers))
        ]
