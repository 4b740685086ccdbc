"""Console and admin forms for users and keys. They validate and convert (USD to credits,
text to lists); the writes happen in ``accounts.services``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AdminUserCreationForm, AuthenticationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import ApiKey, KeyKind, LimitReset, User
from accounts.services import apikey_rate_limit_allowed
from catalog.selectors import model_resolve
from config.errors import DomainError
from config.money import credits_to_usd, usd_to_credits

EMAIL_TAKEN = "An account with this email already exists."
LOGIN_THROTTLED = (
    "Too many failed log-ins for this email or from your address. Try again in {minutes} minutes."
)


def split_list(text: str) -> list[str]:
    """Comma- or whitespace-separated items, stripped, without duplicates, in order."""
    items = [item for item in re.split(r"[,\s]+", text or "") if item]
    return list(dict.fromkeys(items))


def cidrs_clean(values: list[str]) -> list[str]:
    """IP addresses or CIDR ranges, normalised (``10.0.0.1`` becomes ``10.0.0.1/32``)."""
    cleaned = []
    for value in values:
        try:
            cleaned.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError as exc:
            raise ValidationError(f"{value!r} is not an IP address or CIDR range.") from exc
    return cleaned


class SignUpForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password (again)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        # A friendly early answer; the unique constraint still decides (the view catches it).
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError(EMAIL_TAKEN)
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(first, User(email=data.get("email", "")))
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


class LoginForm(AuthenticationForm):
    """Django's log-in form, saying so when the log-in was refused by the throttle
    (``accounts.throttle``: the backend marks the request) rather than "wrong password"."""

    def get_invalid_login_error(self) -> ValidationError:
        if getattr(self.request, "login_throttled", False):
            minutes = max(1, settings.ACCOUNTS_LOGIN_WINDOW_SECONDS // 60)
            return ValidationError(LOGIN_THROTTLED.format(minutes=minutes), code="throttled")
        return super().get_invalid_login_error()


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="Optional; for you.")
    monthly_limit_usd = forms.DecimalField(
        label="Spend limit (USD)",
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=6,
        help_text="Per day, week or calendar month (UTC), or in all, as it resets below. Empty: "
        "no limit beyond your balance.",
    )
    limit_reset = forms.ChoiceField(
        label="Spend limit resets",
        choices=[
            (LimitReset.DAILY, "Daily (00:00 UTC)"),
            (LimitReset.WEEKLY, "Weekly (Monday UTC)"),
            (LimitReset.MONTHLY, "Monthly (the 1st, UTC)"),
            (LimitReset.NEVER, "Never (the key's whole life)"),
        ],
        initial=LimitReset.MONTHLY,
        required=False,
    )
    allowed_models = forms.CharField(
        required=False,
        help_text="Comma-separated model ids or aliases. Empty allows every model.",
    )
    allowed_ips = forms.CharField(
        label="Allowed IPs",
        required=False,
        help_text="Comma-separated addresses or CIDR ranges. Empty allows every address.",
    )
    rate_limit_rpm = forms.IntegerField(
        label="Rate limit (requests per minute)", required=False, min_value=1
    )
    expires_on = forms.DateField(
        label="Expires on (UTC)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at 00:00 UTC on this date.",
    )

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip() or "default"

    def clean_allowed_models(self) -> list[str]:
        names = split_list(self.cleaned_data["allowed_models"])
        unknown = [name for name in names if model_resolve(name=name) is None]
        if unknown:
            raise ValidationError(f"Unknown model: {', '.join(unknown)}.")
        return names

    def clean_allowed_ips(self) -> list[str]:
        return cidrs_clean(split_list(self.cleaned_data["allowed_ips"]))

    def clean_expires_on(self) -> dt.date | None:
        day = self.cleaned_data["expires_on"]
        if day is not None and day <= timezone.now().date():
            raise ValidationError("Choose a date after today.")
        return day

    def service_kwargs(self) -> dict[str, Any]:
        """Arguments for ``accounts.services.apikey_create``."""
        data = self.cleaned_data
        usd = data.get("monthly_limit_usd")  # absent from a management key's form
        day = data["expires_on"]
        return {
            "name": data["name"],
            "monthly_limit": None if usd is None else usd_to_credits(usd),
            "limit_reset": data.get("limit_reset")
            or self.initial.get("limit_reset", LimitReset.MONTHLY),
            "allowed_models": data.get("allowed_models", []),
            "allowed_ips": data["allowed_ips"],
            "rate_limit_rpm": data["rate_limit_rpm"],
            "expires_at": None
            if day is None
            else dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC),
        }


class ApiKeyNewForm(ApiKeyCreateForm):
    """The console's new key: its kind too (fixed for the key's life). A management key
    (``/v1/keys``) takes a name, allowed IPs, a rate limit and an expiry; the spend limit and
    the model allowlist are an inference key's only (``INFERENCE_ONLY``)."""

    kind = forms.ChoiceField(
        label="Kind",
        choices=[
            (KeyKind.INFERENCE, "Inference: calls the models (chat, media, embeddings)"),
            (KeyKind.MANAGEMENT, "Management: creates and manages keys through /v1/keys"),
        ],
        initial=KeyKind.INFERENCE,
        required=False,
        widget=forms.RadioSelect,
    )

    field_order = ["kind", "name"]

    def clean_kind(self) -> str:
        return self.cleaned_data["kind"] or KeyKind.INFERENCE

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == KeyKind.MANAGEMENT:
            for field in ("monthly_limit_usd", "allowed_models"):
                if str(self.data.get(field) or "").strip():  # as sent, even if invalid
                    self.errors.pop(field, None)
                    self.add_error(field, MANAGEMENT_ONLY_ERROR)
        return data

    def service_kwargs(self) -> dict[str, Any]:
        kwargs = {**super().service_kwargs(), "kind": self.cleaned_data["kind"]}
        if kwargs["kind"] == KeyKind.MANAGEMENT:
            kwargs.update(monthly_limit=None, limit_reset=LimitReset.MONTHLY, allowed_models=[])
        return kwargs


INFERENCE_ONLY = ("monthly_limit_usd", "limit_reset", "allowed_models")
MANAGEMENT_ONLY_ERROR = "A management key calls no model: leave this empty."


class ApiKeyEditForm(ApiKeyCreateForm):
    """A key's limits, filled in from the key; ``changed_limits`` sets the new values on it
    and names the model fields that changed, for ``accounts.services.apikey_update``."""

    def __init__(self, *args: Any, api_key: ApiKey, **kwargs: Any) -> None:
        self.api_key = api_key
        limit = api_key.monthly_limit
        kwargs.setdefault(
            "initial",
            {
                "name": api_key.name,
                "monthly_limit_usd": None if limit is None else credits_to_usd(limit),
                "limit_reset": api_key.limit_reset,
                "allowed_models": ", ".join(api_key.allowed_models),
                "allowed_ips": ", ".join(api_key.allowed_ips),
                "rate_limit_rpm": api_key.rate_limit_rpm,
                "expires_on": api_key.expires_at.astimezone(dt.UTC).date()
                if api_key.expires_at
                else None,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields[
            "rate_limit_rpm"
        ].help_text = "At most your tier's ceiling; empty gets the ceiling."
        if api_key.kind == KeyKind.MANAGEMENT:
            for field in INFERENCE_ONLY:  # a management key calls no model
                del self.fields[field]

    def clean_expires_on(self) -> dt.date | None:
        day = self.cleaned_data["expires_on"]
        if day is not None and day == self.initial.get("expires_on"):
            return day  # unchanged: an expired key may keep its date
        return super().clean_expires_on()

    def changed_limits(self) -> list[str]:
        """Set the form's values on the key; the names of the fields that differ."""
        changed = []
        for field, value in self.service_kwargs().items():
            if getattr(self.api_key, field) != value:
                setattr(self.api_key, field, value)
                changed.append(field)
        return changed


class AdminUserAddForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class AdminUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class ApiKeyAdminForm(forms.ModelForm):
    """Limits only: the secret is never shown nor accepted."""

    class Meta:
        model = ApiKey
        fields = [
            "name",
            "monthly_limit",
            "limit_reset",
            "allowed_models",
            "allowed_ips",
            "rate_limit_rpm",
            "expires_at",
        ]
        help_texts = {
            "rate_limit_rpm": "Requests per minute, at most the account's tier allows (empty: "
            "that ceiling; no limit only on Enterprise). For more, set the tier on the "
            "account's billing profile.",
        }

    def clean_allowed_models(self) -> list[str]:
        value = self.cleaned_data["allowed_models"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('A JSON list of model ids, e.g. ["openai/gpt-5.5"].')
        return value

    def clean_allowed_ips(self) -> list[str]:
        value = self.cleaned_data["allowed_ips"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError('A JSON list of CIDRs, e.g. ["10.0.0.0/8"].')
        return cidrs_clean(value)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["limit_reset"].required = False  # not sent: the key's own, or monthly

    def clean_limit_reset(self) -> str:
        return self.cleaned_data["limit_reset"] or self.instance.limit_reset

    def clean_monthly_limit(self) -> int | None:
        value = self.cleaned_data["monthly_limit"]
        if value is not None and value < 0:
            raise ValidationError("A limit is zero or more credits.")
        return value

    def clean_rate_limit_rpm(self) -> int | None:
        """Within the account's tier, as in the console: above its ceiling is refused, empty
        gets the ceiling. Staff who want more raise the account's tier (billing profile)."""
        value = self.cleaned_data["rate_limit_rpm"]
        if "rate_limit_rpm" not in self.changed_data:
            return value
        try:
            return apikey_rate_limit_allowed(user_id=self.instance.user_id, rate_limit_rpm=value)
        except DomainError as exc:
            raise ValidationError(exc.message) from exc
