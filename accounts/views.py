"""Console pages of accounts: sign-up and API keys. Views validate and call services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import EMAIL_TAKEN, ApiKeyCreateForm, LoginForm, SignUpForm
from accounts.models import ApiKey
from accounts.selectors import apikey_list
from accounts.services import CreatedKey, apikey_create, apikey_revoke, user_create
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


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    """List and create keys. A new key is rendered in this POST's response only: it is
    stored nowhere (not in the session, not in a message), so a reload cannot show it."""
    created: CreatedKey | None = None
    form = ApiKeyCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            # the tier's caps are applied by the service, under a lock of the user's row
            created = apikey_create(user=request.user, actor=request.user, **form.service_kwargs())
        except DomainError as exc:
            form.add_error(exc.param if exc.param in form.fields else None, exc.message)
        else:
            form = ApiKeyCreateForm()
    context = {
        "form": form,
        "created": created,
        "keys": apikey_list(user=request.user),
        "now": timezone.now(),
    }
    return render(request, "accounts/keys.html", context)


@login_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk, user=request.user)
    if not key.is_disabled:
        apikey_revoke(api_key=key, actor=request.user)
    messages.success(request, f"Key {key.name} ({key.display}) is revoked.")
    return redirect("keys")
