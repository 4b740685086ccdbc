"""The jobs of the fake media upstream (tests.fakes.media): their states by mode, and how
Replicate and OpenAI show them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

FILE_TYPES = {"image": ("png", "image/png"), "video": ("mp4", "video/mp4")}
FILE_TYPES["music"] = ("wav", "audio/wav")
FAILURE = {"code": "fake_failure", "message": "The fake job failed"}


def status_of(mode: str, prefix: str) -> int | None:
    match = re.fullmatch(prefix + r"-(\d{3})", mode)
    return int(match.group(1)) if match else None


@dataclass
class Job:
    """One task at the fake: its API (``openai`` video or ``replicate``), mode and state."""

    id: str
    api: str
    mode: str
    kind: str
    model: str
    input: dict[str, Any]
    created_at: int = field(default_factory=lambda: int(time.time()))
    polls: int = 0
    state: str = "starting"  # starting | running | succeeded | failed | canceled
    outputs: list[str] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.state in ("starting", "running")

    def advance(self) -> None:
        """One poll: the state the mode gives at this poll, once it is not open."""
        if not self.is_open:
            return
        self.polls += 1
        wait = int(self.mode[6:]) if re.fullmatch(r"after-\d+", self.mode) else 0
        if self.mode == "never" or self.polls <= wait:
            self.state = "running"
        elif self.mode == "fail":
            self.state = "failed"
        elif self.mode == "canceled":
            self.state = "canceled"
        else:
            self.state = "succeeded"


def prediction_body(job: Job, url: str) -> dict[str, Any]:
    """The job as Replicate shows a prediction."""
    status = "processing" if job.state == "running" else job.state
    output: Any = None
    if job.outputs:
        output = job.outputs if job.kind == "image" else job.outputs[0]
    base = f"{url}/v1/predictions/{job.id}"
    return {
        "id": job.id,
        "model": job.model,
        "version": "fake-version",
        "input": job.input,
        "logs": "",
        "output": output,
        "error": FAILURE["message"] if job.state == "failed" else None,
        "status": status,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.created_at)),
        "urls": {"get": base, "cancel": base + "/cancel"},
        "metrics": {"predict_time": 1.25} if job.state == "succeeded" else {},
    }


def video_body(job: Job) -> dict[str, Any]:
    """The job as OpenAI shows a video."""
    status = {"starting": "queued", "running": "in_progress", "succeeded": "completed"}
    state = status.get(job.state, "failed")
    return {
        "id": job.id,
        "object": "video",
        "model": job.model,
        "status": state,
        "progress": {"queued": 0, "in_progress": 50}.get(state, 100),
        "created_at": job.created_at,
        "completed_at": int(time.time()) if state == "completed" else None,
        "expires_at": None,
        "seconds": job.input.get("seconds", "4"),
        "size": job.input.get("size") or "720x1280",
        "remixed_from_video_id": None,
        "error": FAILURE if state == "failed" else None,
    }
