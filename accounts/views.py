"""Console pages of accounts: log-in, sign-up and API keys (account settings and password
reset: ``accounts.views_account``). Views validate and call services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import EMAIL_TAKEN, ApiKeyEditForm, ApiKeyNewForm, LoginForm, SignUpForm
from accounts.models import ApiKey
from accounts.selectors import apikey_list, apikey_period_spend_set
from accounts.services import apikey_create, apikey_revoke, apikey_update, user_create
from config.errors import DomainError


class LoginView(auth_views.LoginView):
    """Django's log-in view with the throttled form; a throttled log-in answers 429."""

    authentication_form = LoginForm

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_create(
                email=form.cleaned_data["email"], password=form.cleaned_data["password1"]
            )
        except IntegrityError:
            form.add_error("email", EMAIL_TAKEN)
        else:
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form})


NEW_KEY_SESSION = "accounts.new_key"


def see_other(to: str, *args: object) -> HttpResponse:
    """303: the browser follows with a GET, so a reload never re-submits the POST."""
    return HttpResponse(status=303, headers={"Location": resolve_url(to, *args)})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    """List and create keys, post/redirect/get. A created key's secret waits in the session
    only until the next GET of this page, which pops it and shows it once (never logged,
    never in a message, ``Cache-Control: no-store``); a reload of that page shows it no
    more and creates nothing."""
    form = ApiKeyNewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            # the tier's caps are applied by the service, under a lock of the user's row
            created = apikey_create(user=request.user, actor=request.user, **form.service_kwargs())
        except DomainError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            request.session[NEW_KEY_SESSION] = {
                "id": created.api_key.pk,
                "secret": created.secret,
            }
            return see_other("keys")
    new_key = request.session.pop(NEW_KEY_SESSION, None) if request.method == "GET" else None
    key_list = apikey_period_spend_set(list(apikey_list(user=request.user)))
    created = None
    if new_key:
        created = next((k for k in key_list if k.pk == new_key["id"]), None)
    context = {
        "form": form,
        "created": created,
        "secret": new_key["secret"] if created else None,
        "keys": key_list,
        "now": timezone.now(),
    }
    return render(request, "accounts/keys.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def key_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A key's limits, changed through ``apikey_update`` (which applies the tier's rate
    ceiling). Another user's key is 404; a revoked key can no longer be edited."""
    key = get_object_or_404(apikey_list(user=request.user), pk=pk)
    apikey_period_spend_set([key])
    if key.is_disabled:
        messages.error(
            request, f"Key {key.name} ({key.display}) is revoked: it has no limits to edit."
        )
        return see_other("keys")
    form = ApiKeyEditForm(request.POST if request.method == "POST" else None, api_key=key)
    if request.method == "POST" and form.is_valid():
        changed = form.changed_limits()
        try:
            apikey_update(api_key=key, changed=changed, actor=request.user)
        except DomainError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
            key.refresh_from_db()
        else:
            if changed:
                messages.success(request, f"Key {key.name} ({key.display}) is updated.")
            return see_other("keys")
    return render(request, "accounts/key_edit.html", {"form": form, "key": key})


@login_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk, user=request.user)
    if not key.is_disabled:
        apikey_revoke(api_key=key, actor=request.user)
    messages.success(request, f"Key {key.name} ({key.display}) is revoked.")
    return redirect("keys")
