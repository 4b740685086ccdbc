"""Login throttling: failed log-ins are counted per email and per client address.

Limits (settings, from the environment): ``ACCOUNTS_LOGIN_FAILURES_PER_EMAIL`` (10) and
``ACCOUNTS_LOGIN_FAILURES_PER_IP`` (50) failures per ``ACCOUNTS_LOGIN_WINDOW_SECONDS`` (900).

Invariants:
- a counter lives in the cache (Redis in production, shared by every process; the
  in-process cache embedded) and is changed only by ``add`` and ``incr``, which are atomic,
  so concurrent failures are all counted;
- a counter starts at its first failure and lasts one window; the failure that reaches the
  limit restarts its lifetime, so a throttled email or address stays refused for a whole
  window after its last counted failure, and no window of that length ever sees more than
  the limit of failures;
- a throttled attempt checks no password (the right one is refused too) and is not counted;
- a successful log-in clears only its own email's counter: never the address's (else one
  valid account would let an address guess others' passwords without end), never another
  email's.

Password-reset requests are counted the same way (``reset_request_allowed``), so the reset
form cannot be used to flood someone's mailbox.

Every path through ``django.contrib.auth.authenticate`` is covered (the console's log-in and
the admin's), because the check sits in the authentication backend.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.http import HttpRequest

from accounts.authentication import client_ip

log = logging.getLogger(__name__)

PREFIX = "login-failures"


RESET_PREFIX = "reset-requests"


def _email_key(email: str, prefix: str = PREFIX) -> str:
    # Hashed: the cache holds no email addresses.
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"{prefix}:email:{digest}"


def _ip_key(ip: str, prefix: str = PREFIX) -> str:
    return f"{prefix}:ip:{ip}"


def _keys(*, email: str, ip: str) -> dict[str, int]:
    """Counter key -> its limit, for this email and (when known) this address."""
    keys = {_email_key(email): settings.ACCOUNTS_LOGIN_FAILURES_PER_EMAIL}
    if ip:
        keys[_ip_key(ip)] = settings.ACCOUNTS_LOGIN_FAILURES_PER_IP
    return keys


def login_is_throttled(*, email: str, ip: str) -> bool:
    """True when the email or the address has used up its failures for the window."""
    keys = _keys(email=email, ip=ip)
    counts = cache.get_many(list(keys))
    return any(counts.get(key, 0) >= limit for key, limit in keys.items())


def login_failure_record(*, email: str, ip: str) -> None:
    """Count one failed log-in for the email and for the address."""
    window = settings.ACCOUNTS_LOGIN_WINDOW_SECONDS
    for key, limit in _keys(email=email, ip=ip).items():
        count = _increment(key, window)
        if count >= limit:
            cache.touch(key, window)  # refused for a whole window from now


def login_success_record(*, email: str) -> None:
    cache.delete(_email_key(email))


def reset_request_allowed(*, email: str, ip: str) -> bool:
    """Count one password-reset request for the email and the address (whether or not an
    account has that email, so the answer tells nothing about accounts); False once either
    is over ``ACCOUNTS_RESET_REQUESTS_PER_EMAIL`` / ``_PER_IP`` in the log-in window: then
    no email is sent. The counters work as the log-in's (``add`` and ``incr``); a cache
    that is down lets the request through, logged."""
    window = settings.ACCOUNTS_LOGIN_WINDOW_SECONDS
    keys = {_email_key(email, RESET_PREFIX): settings.ACCOUNTS_RESET_REQUESTS_PER_EMAIL}
    if ip:
        keys[_ip_key(ip, RESET_PREFIX)] = settings.ACCOUNTS_RESET_REQUESTS_PER_IP
    try:
        counts = {key: _increment(key, window) for key in keys}
    except Exception:
        log.warning("reset throttle unavailable (cache error); not throttling", exc_info=True)
        return True
    return all(counts[key] <= limit for key, limit in keys.items())


def _increment(key: str, window: int) -> int:
    for _ in range(3):
        cache.add(key, 0, timeout=window)  # a no-op when the counter exists
        try:
            return cache.incr(key)
        except ValueError:  # it expired between add and incr: start it again
            continue
    return 0


class ThrottledModelBackend(ModelBackend):
    """Django's email-and-password backend, refusing throttled log-ins before any password
    is checked and counting the failures. A refusal is marked on the request
    (``login_throttled``) so that the form can say why."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        email = username
        ip = client_ip(request.META) if request is not None else ""
        try:
            if login_is_throttled(email=email, ip=ip):
                if request is not None:
                    request.login_throttled = True  # type: ignore[attr-defined]
                return None
        except Exception:  # the cache is down: log in unthrottled, and say so
            log.warning("login throttle unavailable (cache error); not throttling", exc_info=True)
            return super().authenticate(request, username, password, **kwargs)
        user = super().authenticate(request, username, password, **kwargs)
        try:
            if user is None:
                login_failure_record(email=email, ip=ip)
            else:
                login_success_record(email=email)
        except Exception:  # as above
            log.warning("login throttle unavailable (cache error); not counted", exc_info=True)
        return user
