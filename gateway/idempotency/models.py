"""One claimed Idempotency-Key: the request it belongs to and, once answered, the answer a
retry replays."""

from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """A key claimed by one API key's request, unique per (API key, key).

    The row is inserted (the claim) before the money path, so of any number of requests
    with the same key exactly one inserts it; the others read it. ``state`` says what a
    retry gets: ``pending`` (still in flight: 409), ``done`` (the stored answer, replayed)
    or ``stream`` (a streamed answer, never replayed: 409)."""

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        STREAM = "stream"

    api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255, help_text="The Idempotency-Key header's value.")
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 hex of the request's path and body."
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    request_id = models.CharField(max_length=64, help_text="X-Request-Id of the first request.")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="The answer's headers kept.")
    body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="After it the key is free again (24 h).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_idx")]

    def __str__(self) -> str:
        return f"key {self.api_key_id} {self.key!r} {self.state}"
