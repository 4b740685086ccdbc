"""Console forms of the Providers page: they check shapes; the rules (the slug, the
address guard, the key's characters) are the services' (``gateway.self_route.services``),
whose DomainError lands beside the field it names."""

from __future__ import annotations

from django import forms

from catalog.models import UserProvider
from gateway.self_route.services import KEY_MAX, NAME_MAX, URL_MAX


class ProviderAddForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX,
        help_text="Its public name is my- and the name in lower case, for provider.only.",
    )
    dialect = forms.ChoiceField(choices=UserProvider.Dialect.choices)
    base_url = forms.CharField(
        label="Base URL",
        max_length=URL_MAX,
        help_text="As the provider's SDK takes it: https://host/v1 for OpenAI-compatible, "
        "https://host for Anthropic. Public addresses only.",
    )
    key = forms.CharField(
        label="API key",
        max_length=KEY_MAX,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; never shown again (only its last 4 characters).",
    )


class ProviderKeyForm(forms.Form):
    key = forms.CharField(
        label="New API key",
        max_length=KEY_MAX,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
    )


class KeyDefaultForm(forms.Form):
    """Which of the owner's providers one of their keys routes to by default."""

    api_key = forms.IntegerField(min_value=1)
    provider = forms.IntegerField(min_value=0, required=False)  # 0 or empty: none
