"""Users (email login) and their API keys.

A key is ``sk-<prefix>-<secret>``. Only the prefix (public, unique, indexed) and the SHA-256
of the whole key are stored; the key itself is shown once at creation and never again.
"""

import zoneinfo
from functools import cache
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from config.money import Period


@cache
def time_zones() -> frozenset[str]:
    """The IANA names this machine knows (``zoneinfo.available_timezones``), read once."""
    return frozenset(zoneinfo.available_timezones())


def time_zone_validate(value: str) -> None:
    if value not in time_zones():
        raise ValidationError(f"{value!r} is not a known time zone.", code="invalid_time_zone")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    is_api_enabled = models.BooleanField(
        default=True, help_text="When off, every key of this user is refused (403 api_disabled)."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[time_zone_validate],
        help_text="IANA name (e.g. Europe/Paris): the console shows times in it.",
    )
    # signs the media task callbacks (x-api-key-signature); made on first use, rotatable
    callback_secret = models.CharField(max_length=80, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email


class LimitReset(models.TextChoices):
    DAILY = "daily", "daily"
    WEEKLY = "weekly", "weekly"
    MONTHLY = "monthly", "monthly"
    NEVER = "never", "never"


LIMIT_PERIODS: dict[str, Period] = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "never": "never",
}


class KeyKind(models.TextChoices):
    INFERENCE = "inference", "inference"
    MANAGEMENT = "management", "management"


class ApiKey(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64, help_text="SHA-256 hex of the whole key.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    is_disabled = models.BooleanField(default=False)
    kind = models.CharField(
        max_length=10,
        choices=KeyKind.choices,
        default=KeyKind.INFERENCE,
        editable=False,
        help_text="inference: the model endpoints; management: only /v1/keys (and /v1/key, "
        "/v1/credits, /v1/models/catalog). Fixed at creation.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    monthly_limit = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Spend limit per period of limit_reset (UTC), in credits.",
    )
    limit_reset = models.CharField(
        max_length=7,
        choices=LimitReset.choices,
        default=LimitReset.MONTHLY,
        help_text="When the spend limit starts over (UTC): each day, each week from Monday, "
        "each calendar month, or never.",
    )
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Public ids or aliases; empty allows every model."
    )
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="CIDRs; empty allows every address."
    )
    rate_limit_rpm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute; empty: no limit."
    )
    self_route_provider = models.ForeignKey(
        "catalog.UserProvider",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The owner's own provider this key routes to when a request names none.",
    )
    revision = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Moves on every change of the key: a process holding an older copy rereads it.",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (sk-{self.prefix}-…)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            super().save(*args, **kwargs)
            return
        # moved in the database, so a copy loaded before another change cannot reuse a number
        self.revision = models.F("revision") + 1  # type: ignore[assignment]
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "revision"}
        super().save(*args, **kwargs)
        self.refresh_from_db(fields=["revision"])

    @property
    def limit_period(self) -> Period:
        """The period (``config.money.Period``) the spend limit is counted over."""
        return LIMIT_PERIODS.get(self.limit_reset, "month")

    @property
    def display(self) -> str:
        return f"sk-{self.prefix}-…"


class ApiKeyEvent(models.Model):
    """Audit row written in the same transaction as the change it records."""

    class Kind(models.TextChoices):
        CREATED = "created"
        REVOKED = "revoked"
        UPDATED = "updated"

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.api_key_id}"
