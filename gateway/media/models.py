"""The rows of a media task: the task, its stored outputs, and its callback with every
delivery attempt. Credits are integers (1,000,000 credits = 1 USD)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class MediaTask(models.Model):
    """One image, video or music generation, synchronous or not.

    ``status`` changes only by a conditional UPDATE from an open status (pending, running),
    in the same transaction as the ledger's settle or release of ``hold_id``: any number of
    pollers, workers and API reads give one settle or one release."""

    class Kind(models.TextChoices):
        IMAGE = "image"
        VIDEO = "video"
        MUSIC = "music"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    OPEN = (Status.PENDING, Status.RUNNING)

    # "task_" and 32 random URL-safe characters: what the API shows as id and task_id
    public_id = models.CharField(max_length=48, unique=True)
    # the Generation's request_id and the ledger entry's reference
    request_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="media_tasks",
        db_index=False,
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    model = models.CharField(max_length=200, help_text="Public id of the model.")
    route = models.ForeignKey(
        "catalog.Route", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=100, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    # the canonical request sent upstream (prompt, n, size, duration, ...)
    params = models.JSONField(default=dict, blank=True)
    provider_task_id = models.CharField(max_length=200, blank=True)
    # what polling the provider needs besides its id (gateway.providers.dialect.UpstreamTask)
    provider_data = models.JSONField(default=dict, blank=True)

    # money: the hold the task owns (hold_id 0: a free task, nothing held)
    estimate = models.BigIntegerField(default=0, help_text="Credits held at creation.")
    max_credits = models.BigIntegerField(null=True, blank=True)
    hold_id = models.BigIntegerField(default=0)
    hold_month = models.DateField(null=True, blank=True)
    prices = models.JSONField(default=dict, help_text="Price snapshot taken at creation.")
    # what the provider reported producing: {"images": n, "video_seconds": "4", ...}
    usage = models.JSONField(default=dict, blank=True)
    cost = models.BigIntegerField(default=0, help_text="Credits charged once settled.")

    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    # polling: due when next_poll_at has passed; attempts so far; failed after deadline_at
    next_poll_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    deadline_at = models.DateTimeField()
    callback_url = models.URLField(max_length=2000, blank=True)
    # scheme and host the task was created through ("https://gw.example"): its links in a
    # callback, built by a worker with no request at hand, point there
    origin = models.CharField(max_length=300, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"]),
            # the poller's due open tasks: partial, so finished tasks leave it
            models.Index(
                fields=["next_poll_at"],
                condition=Q(status__in=["pending", "running"]),
                name="mediatask_open_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class MediaFile(models.Model):
    """One output of a task, copied to durable storage (``STORAGES["default"]``) and served
    at ``/v1/files/<token>``: the token is the link's only secret (unguessable, 43 URL-safe
    characters of 256 random bits)."""

    token = models.CharField(max_length=64, unique=True)
    task = models.ForeignKey(MediaTask, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=300, help_text="The file's name in the storage.")
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField(default=0)
    source_url = models.URLField(max_length=2000, blank=True, help_text="Where it was copied from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "index"]
        constraints = [
            models.UniqueConstraint(fields=["task", "index"], name="mediafile_unique_task_index")
        ]

    def __str__(self) -> str:
        return self.name


class Callback(models.Model):
    """The announcement of a finished task to its ``callback_url``: the body is frozen when
    the task ends (every attempt signs and sends the same bytes), retried with exponential
    backoff until delivered or out of attempts."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    task = models.OneToOneField(MediaTask, on_delete=models.CASCADE, related_name="callback")
    url = models.URLField(max_length=2000)
    event = models.CharField(max_length=40)
    body = models.TextField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="callback_pending_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.url}"


class CallbackAttempt(models.Model):
    """One POST of a callback: its answer's status (null: no answer) or the error."""

    callback = models.ForeignKey(Callback, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveSmallIntegerField()
    timestamp = models.BigIntegerField(help_text="The x-api-key-timestamp sent (Unix seconds).")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["callback", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["callback", "number"], name="callbackattempt_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.callback_id} #{self.number}"
