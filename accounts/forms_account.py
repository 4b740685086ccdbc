"""Account settings forms: email, time zone, deletion (the password change is Django's
``PasswordChangeForm``). Each that changes who can sign in asks for the current password."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.forms import EMAIL_TAKEN
from accounts.models import User, time_zones

WRONG_PASSWORD = "That is not your current password."  # noqa: S105 (a message)


class _PasswordConfirmed(forms.Form):
    password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    id_prefix = "form"

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        # the settings page holds several forms with a password: ids unique per form
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError(WRONG_PASSWORD, code="password_incorrect")
        return password


class EmailChangeForm(_PasswordConfirmed):
    id_prefix = "email"
    email = forms.EmailField(label="New email", max_length=254)
    field_order = ["email", "password"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if email == self.user.email:
            raise ValidationError("That is already your email.")
        # A friendly early answer; the unique constraint decides (the view catches it).
        if User.objects.filter(email__iexact=email).exclude(pk=self.user.pk).exists():
            raise ValidationError(EMAIL_TAKEN)
        return email


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Dates in the console are shown in it, with their offset from UTC. "
        "Spending periods (a key's monthly limit) still start at 00:00 UTC.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "tz_%s")
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in sorted(time_zones())]


class AccountDeleteForm(_PasswordConfirmed):
    id_prefix = "delete"
