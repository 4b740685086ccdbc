"""The request log: one Generation per request that reached the money path."""

from django.conf import settings
from django.db import models


class Generation(models.Model):
    class Status(models.TextChoices):
        SUCCESS = "success"
        ERROR = "error"
        CANCELLED = "cancelled"
        # the worker died mid-stream; the sweeper charged the stream's last checkpoint
        INTERRUPTED = "interrupted"
        # a 4xx answered before any hold (bad body, no credits, not allowed, rate limited):
        # recorded with its http_status and error_code, cost 0, no ledger entry, no rollup
        REFUSED = "refused"

    request_id = models.CharField(max_length=64)
    # user and api_key are indexed with -created_at (Meta.indexes), which serves lookups by
    # either alone too: no single-column indexes, one insert's worth of work less each
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="generations",
        db_index=False,
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        on_delete=models.SET_NULL,
        related_name="generations",
        db_index=False,
    )
    model = models.CharField(max_length=200, help_text="Public id of the model that served.")
    route = models.ForeignKey(
        "catalog.Route", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=100, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    surface = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    native_usage = models.JSONField(default=dict, blank=True)
    prices = models.JSONField(default=dict, help_text="Price snapshot taken at the start.")
    cost = models.BigIntegerField(default=0, help_text="Credits charged.")
    cost_breakdown = models.JSONField(default=dict, blank=True)
    ledger_entry = models.OneToOneField(
        "billing.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="generation",
    )
    attempts = models.JSONField(default=list, blank=True)
    is_streamed = models.BooleanField(default=False)
    usage_estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # the request log pages by (created_at, id), newest first: with the id as the
            # tie-break a page is one range scan of this index, no sort; it still serves
            # every lookup by user, or by user and time, the (user, -created_at) one did
            models.Index(fields=["user", "-created_at", "-id"]),
            # a log filtered to a status other than success (few rows, or none) is a range
            # scan of its own rows, not a walk of the whole log; partial, so a billed
            # (successful) request writes no entry in it
            models.Index(
                fields=["user", "status", "-created_at", "-id"],
                condition=~models.Q(status="success"),
                name="generation_user_failed_idx",
            ),
            # the log filtered to a model: its successful rows are found through the daily
            # rollups (gateway.console.requests_log); its other rows are a range of this
            # one, partial for the same reason (no write on a billed request)
            models.Index(
                fields=["user", "model", "-created_at", "-id"],
                condition=~models.Q(status="success"),
                name="generation_failed_model_idx",
            ),
            # the log filtered to a surface: its successful rows are found through the
            # daily rollups, as a model's are; its other rows are a range of this one
            models.Index(
                fields=["user", "surface", "-created_at", "-id"],
                condition=~models.Q(status="success"),
                name="generation_failed_surface_idx",
            ),
            models.Index(fields=["api_key", "-created_at"]),
        ]
        constraints = [
            # a constraint, not unique=True, which would add a LIKE index nothing uses
            models.UniqueConstraint(fields=["request_id"], name="generation_unique_request_id"),
        ]

    def __str__(self) -> str:
        return self.request_id


class UsageDaily(models.Model):
    """One user's usage of one model through one key and one API surface on one UTC day: the
    sum of the Generations settled in that bucket. Upserted in the same transaction as each
    settle that writes a Generation (on PostgreSQL inside the settle's single statement), so
    reports read these rows instead of scanning the request log. Refused requests never touch it.
    cost in credits; 1,000,000 credits = 1 USD."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="usage_daily",
        db_index=False,
    )
    # not a foreign key: a deleted key keeps its history; 0 for a request without a key
    key_id = models.BigIntegerField()
    model = models.CharField(
        max_length=200, help_text="Public id of the model, as Generation.model."
    )
    surface = models.CharField(
        max_length=32, default="", help_text="API surface, as Generation.surface."
    )
    day = models.DateField(help_text="UTC date of the settle.")
    requests = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cost = models.BigIntegerField(default=0, help_text="Credits charged.")

    class Meta:
        # the unique constraint's index (user, key_id, model, surface, day) serves the
        # upsert; the (user, day) index serves an account's date-range reports
        indexes = [models.Index(fields=["user", "day"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key_id", "model", "surface", "day"],
                name="usagedaily_unique_bucket",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} key {self.key_id} {self.model} {self.day}"


class RateCounter(models.Model):
    """One key's rate-limit state when no Redis is configured (gateway.pipeline.ratelimit, GCRA):
    changed only by a conditional UPDATE of this row."""

    api_key_id = models.BigIntegerField(unique=True)
    tat = models.BigIntegerField(
        default=0, help_text="Theoretical arrival time of the next request, Unix microseconds."
    )

    def __str__(self) -> str:
        return f"key {self.api_key_id}: next at {self.tat / 1_000_000:.3f}"


class SweepRun(models.Model):
    """The last run of the holds sweeper (one row, id 1), so readiness checks can report its
    age without asking the scheduler."""

    ran_at = models.DateTimeField()
    released = models.PositiveIntegerField(default=0, help_text="Holds released uncharged.")
    interrupted = models.PositiveIntegerField(default=0, help_text="Interrupted records written.")
    charged = models.BigIntegerField(default=0, help_text="Credits charged from checkpoints.")

    def __str__(self) -> str:
        return f"sweep at {self.ran_at.isoformat()}"


class RouteBreaker(models.Model):
    """One route's circuit breaker when no Redis is configured (gateway.pipeline.health):
    consecutive retryable failures and the time it is out of rotation until. Changed only by
    conditional UPDATEs of this row. ``route_id`` is a catalog Route pk, or the negative pk of
    a user's own provider, so it is no foreign key."""

    route_id = models.BigIntegerField(unique=True)
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive failures.")
    open_until = models.DateTimeField(
        null=True, blank=True, help_text="Out of rotation until then; empty when closed."
    )

    def __str__(self) -> str:
        return f"route {self.route_id}: {self.failures} failures, open until {self.open_until}"


# The media task rows live with their package; imported here so Django finds them.
from gateway.idempotency.models import IdempotencyRecord  # noqa: E402
from gateway.media.models import Callback, CallbackAttempt, MediaFile, MediaTask  # noqa: E402

__all__ = [
    "Callback",
    "CallbackAttempt",
    "Generation",
    "IdempotencyRecord",
    "MediaFile",
    "MediaTask",
    "RateCounter",
    "RouteBreaker",
    "SweepRun",
    "UsageDaily",
]
