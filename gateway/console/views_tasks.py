"""A media task's page (``/usage/tasks/<public_id>/``): its status, model, cost and times in
the user's time zone, its stored outputs (images shown, other files linked), its error, and
its callback with every delivery attempt. Only its owner sees it: anyone else gets a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from gateway.media.models import Callback, CallbackAttempt, MediaTask
from gateway.media.serialize import FILES_PATH
from gateway.models import Generation

# the request log's surfaces of media tasks (their Generation's surface)
MEDIA_SURFACES = frozenset({"images", "videos", "music"})


def task_of(*, user_id: int, public_id: str) -> MediaTask | None:
    """The user's task with its files, or None."""
    return (
        MediaTask.objects.filter(user_id=user_id, public_id=public_id)
        .prefetch_related("files")
        .first()
    )


def callback_of(task: MediaTask) -> Callback | None:
    """The task's callback with its attempts in order, or None."""
    return (
        Callback.objects.filter(task=task)
        .prefetch_related(Prefetch("tries", CallbackAttempt.objects.order_by("number")))
        .first()
    )


def task_public_id_for(*, user_id: int, generation: Generation) -> str:
    """The public id of the media task behind a request-log row ("" for other requests)."""
    if generation.surface not in MEDIA_SURFACES:
        return ""
    found = MediaTask.objects.filter(user_id=user_id, request_id=generation.request_id)
    return found.values_list("public_id", flat=True).first() or ""


@login_required
@require_GET
def task_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    task = task_of(user_id=request.user.pk, public_id=public_id)
    if task is None:
        raise Http404("No such task.")
    files = sorted(task.files.all(), key=lambda f: f.index)
    outputs = [
        {
            "file": media,
            "url": FILES_PATH + media.token,
            "is_image": media.content_type.startswith("image/"),
            "number": media.index + 1,
        }
        for media in files
    ]
    has_request = Generation.objects.filter(user=request.user, request_id=task.request_id).exists()
    context = {
        "task": task,
        "outputs": outputs,
        "callback": callback_of(task),
        "has_request": has_request,
        "prompt": task.params.get("prompt", "") if isinstance(task.params, dict) else "",
    }
    return render(request, "gateway/task_detail.html", context)
