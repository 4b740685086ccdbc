"""The console's Providers page (session and CSRF): the user's own providers with their
health, a form to add one, and per provider: rotate its key, make it a key's default,
delete it. Views validate and delegate to ``gateway.self_route.services``; another
user's provider is 404."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import ApiKey, KeyKind
from accounts.views import see_other
from catalog.models import UserProvider
from config.errors import DomainError
from gateway.self_route.forms import KeyDefaultForm, ProviderAddForm, ProviderKeyForm
from gateway.self_route.selectors import user_provider_get, user_provider_rows
from gateway.self_route.services import (
    apikey_self_route_set,
    user_provider_create,
    user_provider_delete,
    user_provider_key_rotate,
)


@never_cache
@login_required
def providers(request: HttpRequest) -> HttpResponse:
    form = ProviderAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            created = user_provider_create(user_id=request.user.pk, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            messages.success(request, f"Provider {created.slug} is added.")
            return see_other("providers")
    keys = ApiKey.objects.filter(user=request.user, is_disabled=False, kind=KeyKind.INFERENCE)
    context = {
        "rows": user_provider_rows(user_id=request.user.pk),
        "form": form,
        "keys": keys,
        "fee": settings.GATEWAY_SELF_ROUTE_FEE_PERCENT,
        "failures": settings.GATEWAY_CIRCUIT_FAILURES,
    }
    return render(request, "gateway/providers.html", context, status=400 if form.errors else 200)


def _own(request: HttpRequest, pk: int) -> UserProvider:
    provider = user_provider_get(user_id=request.user.pk, pk=pk)
    if provider is None:
        raise Http404("No such provider")
    return provider


@login_required
@require_POST
def provider_delete(request: HttpRequest, pk: int) -> HttpResponse:
    provider = _own(request, pk)
    user_provider_delete(provider=provider)
    messages.success(request, f"Provider {provider.slug} is deleted.")
    return see_other("providers")


@login_required
@require_POST
def provider_key(request: HttpRequest, pk: int) -> HttpResponse:
    provider = _own(request, pk)
    form = ProviderKeyForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("invalid_parameter", "Enter the new key", param="key")
        user_provider_key_rotate(provider=provider, key=form.cleaned_data["key"])
    except DomainError as exc:
        messages.error(request, f"The key of {provider.slug} is unchanged: {exc.message}.")
    else:
        messages.success(request, f"The key of {provider.slug} is replaced.")
    return see_other("providers")


@login_required
@require_POST
def key_default(request: HttpRequest) -> HttpResponse:
    form = KeyDefaultForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a key and a provider.")
        return see_other("providers")
    key = ApiKey.objects.filter(user=request.user, pk=form.cleaned_data["api_key"]).first()
    if key is None:
        raise Http404("No such key")
    pk = form.cleaned_data.get("provider") or 0
    provider = _own(request, pk) if pk else None
    apikey_self_route_set(api_key=key, provider=provider)
    target = provider.slug if provider else "the gateway's routes"
    messages.success(request, f"Key {key.name} now routes to {target} by default.")
    return see_other("providers")
