"""Account settings (email, password, time zone, the callback signing secret, deletion)
and password reset through Django's auth views and email backend. Views validate and call
services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm
from django.db import IntegrityError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.authentication import client_ip
from accounts.forms import EMAIL_TAKEN
from accounts.forms_account import AccountDeleteForm, EmailChangeForm, TimeZoneForm
from accounts.services import (
    AccountDeletionRefused,
    callback_secret_get,
    callback_secret_rotate,
    user_delete,
    user_deletion_refusal,
    user_email_change,
    user_time_zone_set,
)
from accounts.throttle import reset_request_allowed
from accounts.views import see_other

ROTATED = "The callback signing secret is rotated: callbacks are signed with the new one."
RESET_THROTTLED = (
    "Too many reset requests for this email or from your address. Try again in {minutes} minutes."
)


def _page(request: HttpRequest, status: int = 200, **bound: Form) -> HttpResponse:
    """The settings page, with the form that was posted (bound, with its errors) and the
    others fresh."""
    user = request.user
    forms: dict[str, Any] = {
        "email_form": EmailChangeForm(user=user),
        "password_form": password_change_form(user),
        "time_zone_form": TimeZoneForm(initial={"time_zone": user.time_zone}),
        "delete_form": AccountDeleteForm(user=user),
        **bound,
    }
    secret = callback_secret_get(user)
    context = {
        **forms,
        "deletion_refusal": user_deletion_refusal(user=user),
        "callback_secret": secret,
        "callback_secret_masked": secret_mask(secret),
    }
    return render(request, "accounts/account.html", context, status=status)


def secret_mask(secret: str) -> str:
    """``whsec_…`` with only its last four characters shown."""
    prefix, _, rest = secret.partition("_")
    return f"{prefix}_{'•' * 12}{rest[-4:]}" if rest else "•" * 12


def password_change_form(user: Any, data: Any = None) -> PasswordChangeForm:
    """Django's form, its ids unique on the settings page, without its autofocus (which
    would scroll the page to the password section)."""
    form = PasswordChangeForm(user, data, auto_id="pw_%s")
    form.fields["old_password"].widget.attrs.pop("autofocus", None)
    return form


@never_cache
@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def account_email(request: HttpRequest) -> HttpResponse:
    form = EmailChangeForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            user_email_change(user=request.user, email=form.cleaned_data["email"])
        except IntegrityError:
            form.add_error("email", EMAIL_TAKEN)
            request.user.refresh_from_db()
        else:
            messages.success(request, f"Your email is now {request.user.email}.")
            return see_other("account")
    return _page(request, email_form=form)


@login_required
@require_POST
def account_password(request: HttpRequest) -> HttpResponse:
    form = password_change_form(request.user, request.POST)
    if form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)  # this session stays signed in, others end
        messages.success(request, "Your password is changed.")
        return see_other("account")
    return _page(request, password_form=form)


@login_required
@require_POST
def account_time_zone(request: HttpRequest) -> HttpResponse:
    form = TimeZoneForm(request.POST)
    if form.is_valid():
        user_time_zone_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
        messages.success(request, f"Times are now shown in {request.user.time_zone}.")
        return see_other("account")
    return _page(request, time_zone_form=form)


@login_required
@require_POST
def account_callback_secret(request: HttpRequest) -> HttpResponse:
    """Rotate the callback signing secret: callbacks sent from now on carry the new one."""
    callback_secret_rotate(request.user)
    messages.success(request, ROTATED)
    return see_other(f"{reverse('account')}#callback-secret")


@login_required
@require_POST
def account_delete(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            user_delete(user=request.user)
        except AccountDeletionRefused as exc:
            form.add_error(None, str(exc))
        else:
            logout(request)
            messages.success(request, "Your account is deleted and its keys are revoked.")
            return see_other("login")
    return _page(request, delete_form=form)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, throttled per email and per address (accounts.throttle): a
    throttled request sends nothing and answers 429 saying why."""

    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        if not reset_request_allowed(email=email, ip=client_ip(self.request.META)):
            minutes = max(1, settings.ACCOUNTS_LOGIN_WINDOW_SECONDS // 60)
            form.add_error("email", RESET_THROTTLED.format(minutes=minutes))
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    extra_context = {"timeout_days": settings.PASSWORD_RESET_TIMEOUT // 86400}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("password_reset_complete")
