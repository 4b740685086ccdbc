"""A fake media upstream: a real threaded HTTP server speaking OpenAI images, OpenAI videos
and Replicate predictions, and serving the output files it links, with fault modes chosen by
the upstream model name.

Endpoints (OpenAI's base URL is ``{url}/v1``, Replicate's is ``{url}``):
- ``POST /v1/images/generations`` (synchronous): ``n`` PNGs as ``url`` links, or as
  ``b64_json`` when the request asks ``response_format: b64_json`` or the model is ``b64``
  (then with usage ``{"input_tokens": 10, "output_tokens": 50 x n, "total_tokens"}``, as
  gpt-image models report; url answers carry no usage).
- ``POST /v1/videos`` (``{"model", "prompt", "seconds": "<digits>", "size"}``; ``seconds``
  not a string of digits is a 400), ``GET /v1/videos/{id}`` (``queued`` at creation, then
  ``in_progress``, ``completed`` or ``failed`` with ``error: {code, message}``), and
  ``GET /v1/videos/{id}/content`` (the MP4; needs an ``Authorization`` header; 404 until
  completed).
- ``POST /v1/models/{owner}/{name}/predictions`` (``{"input": {...}}``; 201, ``starting``),
  ``GET /v1/predictions/{id}`` (``processing``, then ``succeeded``, ``failed`` or
  ``canceled``) and ``POST /v1/predictions/{id}/cancel``. The owner picks the output:
  ``video`` an MP4, ``music`` or ``audio`` a WAV (``output`` one URL string for both),
  anything else ``input.num_outputs`` PNGs (default 1; ``output`` a list of URLs).
  Errors in Replicate's shape, ``{"title", "detail", "status"}``.
- ``GET /files/{name}``: the output files (real PNG, MP4 and WAV bytes, made by
  ``tests.fakes.media_files``, different per output); no key needed, as provider delivery
  links.

Modes, by upstream model name (OpenAI: the body's ``model``; Replicate: the ``name`` of
``owner/name``):
- ``ok`` (or any other name): done at the first poll.
- ``after-<n>``: running for the first n polls, done at poll n + 1.
- ``fail``: failed at the first poll (code ``fake_failure``, message "The fake job failed").
- ``never``: never finishes.
- ``canceled``: Replicate says ``canceled`` at the first poll (OpenAI: ``failed``).
- ``empty``: done at the first poll with no output (Replicate ``output: null``).
- ``submit-<status>``: the submit (or image generation) answers that HTTP status with an
  error body; nothing is created.
- ``poll-<status>``: every poll answers that HTTP status (the job exists).
- ``content-<status>``: OpenAI's video content answers that status.
- ``expire``: done at the first poll; each output link (and video content) works once,
  then answers 404, as a provider's expired link.
- ``redirect``: done at the first poll; each output link is ``/redirect/{name}``, a 302 to
  ``/files/{name}`` (the same origin), and the video content a 302 to
  ``http://localhost:{port}/files/{name}`` (another origin). ``GET /loop`` redirects to
  itself.
- ``slow-<ms>``: the submit answers after <ms> milliseconds, then as ``ok``.
- ``b64``: images as ``b64_json`` (see above).
A job cancelled while open stays ``canceled`` (Replicate) or ``failed`` (OpenAI);
cancelling a finished one changes nothing. Unknown job ids answer 404.

Authentication: with ``api_key`` set, every API request (not ``/files``) must carry
``Authorization: Bearer <api_key>``, else 401.

Counters (under ``lock``): ``created`` (jobs and image generations created), ``polls``
(poll requests answered, faulty ones included), ``cancels`` (cancel requests for known
jobs), ``fetches`` (file and video content requests); ``requests``: every request as
``{"method", "path", "headers", "body"}`` (body None for a GET), ``hits(method, prefix)``
counts them. ``poll_delay`` (seconds) slows every poll. ``reset()`` empties all of it.

Run standalone: ``python -m tests.fakes.media --port 9200``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import time
from typing import Any

from tests.fakes.handler import FakeServer, JsonHandler
from tests.fakes.media_files import mp4_bytes, png_bytes, wav_bytes
from tests.fakes.media_jobs import FILE_TYPES, Job, prediction_body, status_of, video_body


class MediaHandler(JsonHandler):
    server: FakeMedia

    # --- plumbing ------------------------------------------------------------------------

    def _record(self, body: Any) -> None:
        with self.server.lock:
            self.server.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )

    def _body(self) -> tuple[bool, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._record(raw.decode(errors="replace"))
            return False, None
        self._record(body)
        return True, body

    def _error(self, status: int, message: str, *, replicate: bool, code: str = "") -> None:
        if replicate:
            self._json(status, {"title": "Error", "detail": message, "status": status})
        else:
            kind = "server_error" if status >= 500 else "invalid_request_error"
            self._json(status, {"error": {"message": message, "type": kind, "code": code or None}})

    def _authorized(self, *, replicate: bool, required: bool = False) -> bool:
        auth = self.headers.get("Authorization") or ""
        key = self.server.api_key
        if (key and auth != f"Bearer {key}") or (required and not auth.startswith("Bearer ")):
            self._error(
                401, "Invalid or missing API key", replicate=replicate, code="invalid_api_key"
            )
            return False
        return True

    def _job(self, job_id: str, *, replicate: bool) -> Job | None:
        job = self.server.jobs.get(job_id)
        if job is None:
            self._error(404, f"No job {job_id}", replicate=replicate, code="not_found")
        return job

    # --- routing -------------------------------------------------------------------------

    def do_POST(self) -> None:
        parsed, body = self._body()
        path = self.path.split("?")[0].rstrip("/")
        replicate = path.startswith("/v1/models/") or path.startswith("/v1/predictions/")
        if not self._authorized(replicate=replicate):
            return
        if not parsed or not isinstance(body, dict):
            self._error(400, "The body is not a JSON object", replicate=replicate)
        elif path == "/v1/images/generations":
            self._images(body)
        elif path == "/v1/videos":
            self._video_create(body)
        elif m := re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path):
            self._prediction_create(m.group(1), m.group(2), body)
        elif m := re.fullmatch(r"/v1/predictions/([^/]+)/cancel", path):
            self._prediction_cancel(m.group(1))
        else:
            self._error(404, f"No route {self.path}", replicate=replicate)

    def do_GET(self) -> None:
        self._record(None)
        path = self.path.split("?")[0].rstrip("/")
        if path.startswith("/files/"):
            self._file(path.removeprefix("/files/"))
            return
        if path.startswith("/redirect/"):
            self._redirect("/files/" + path.removeprefix("/redirect/"))
            return
        if path == "/loop":
            self._redirect("/loop")
            return
        replicate = path.startswith("/v1/predictions/")
        if m := re.fullmatch(r"/v1/videos/([^/]+)/content", path):
            if self._authorized(replicate=False, required=True):
                self._video_content(m.group(1))
        elif not self._authorized(replicate=replicate):
            return
        elif m := re.fullmatch(r"/v1/videos/([^/]+)", path):
            self._poll(m.group(1), replicate=False)
        elif m := re.fullmatch(r"/v1/predictions/([^/]+)", path):
            self._poll(m.group(1), replicate=True)
        else:
            self._error(404, f"No route {self.path}", replicate=replicate)

    # --- creating ------------------------------------------------------------------------

    def _submit_refused(self, mode: str, *, replicate: bool) -> bool:
        status = status_of(mode, "submit")
        if status is not None:
            self._error(status, f"fake submit failure {status}", replicate=replicate)
            return True
        if m := re.fullmatch(r"slow-(\d+)", mode):
            time.sleep(int(m.group(1)) / 1000)
        return False

    def _images(self, body: dict[str, Any]) -> None:
        mode = str(body.get("model") or "ok")
        if self._submit_refused(mode, replicate=False):
            return
        n = int(body.get("n") or 1)
        b64 = mode == "b64" or body.get("response_format") == "b64_json"
        with self.server.lock:
            self.server.created += 1
            seq = self.server.created
            data: list[dict[str, Any]] = []
            for i in range(n):
                content = png_bytes(seq * 10 + i)
                if b64:
                    data.append({"b64_json": base64.b64encode(content).decode()})
                else:
                    name = f"img-{seq}-{i}.png"
                    self.server.files[name] = (content, "image/png", mode == "expire")
                    data.append({"url": self._link(name, mode)})
        answer: dict[str, Any] = {"created": int(time.time()), "data": data}
        if b64:
            answer["usage"] = {
                "input_tokens": 10,
                "output_tokens": 50 * n,
                "total_tokens": 10 + 50 * n,
            }
        self._json(200, answer)

    def _video_create(self, body: dict[str, Any]) -> None:
        mode = str(body.get("model") or "ok")
        seconds = body.get("seconds", "4")
        if not isinstance(seconds, str) or not seconds.isdigit():
            self._error(400, "seconds must be a string of digits", replicate=False)
            return
        if self._submit_refused(mode, replicate=False):
            return
        job = self._job_create("openai", mode, "video", mode, body, "video_")
        self._json(200, video_body(job))

    def _prediction_create(self, owner: str, name: str, body: dict[str, Any]) -> None:
        if not isinstance(body.get("input"), dict):
            self._error(422, "input is required", replicate=True)
            return
        if self._submit_refused(name, replicate=True):
            return
        kind = {"video": "video", "music": "music", "audio": "music"}.get(owner, "image")
        job = self._job_create("replicate", name, kind, f"{owner}/{name}", body["input"], "rp")
        self._json(201, prediction_body(job, self.server.url))

    def _job_create(
        self, api: str, mode: str, kind: str, model: str, given: dict[str, Any], prefix: str
    ) -> Job:
        with self.server.lock:
            self.server.created += 1
            job = Job(f"{prefix}{self.server.created:06d}", api, mode, kind, model, dict(given))
            self.server.jobs[job.id] = job
        return job

    # --- polling and cancelling ----------------------------------------------------------

    def _poll(self, job_id: str, *, replicate: bool) -> None:
        if self.server.poll_delay:
            time.sleep(self.server.poll_delay)
        status: int | None = None
        answer: dict[str, Any] = {}
        with self.server.lock:
            self.server.polls += 1
            job = self.server.jobs.get(job_id)
            if job is not None and job.api == ("replicate" if replicate else "openai"):
                status = status_of(job.mode, "poll")
                if status is None:
                    job.advance()
                    self._outputs_make(job)
                    answer = prediction_body(job, self.server.url) if replicate else video_body(job)
            else:
                job = None
        if job is None:
            self._error(404, f"No job {job_id}", replicate=replicate, code="not_found")
        elif status is not None:
            self._error(status, f"fake poll failure {status}", replicate=replicate)
        else:
            self._json(200, answer)

    def _outputs_make(self, job: Job) -> None:
        """Register a succeeded job's files, once (under the lock)."""
        if job.state != "succeeded" or job.outputs or job.mode == "empty":
            return
        ext, content_type = FILE_TYPES[job.kind]
        count = int(job.input.get("num_outputs") or 1) if job.kind == "image" else 1
        maker = {"image": png_bytes, "video": mp4_bytes, "music": wav_bytes}[job.kind]
        for i in range(count):
            name = f"{job.id}-{i}.{ext}"
            self.server.files[name] = (
                maker(int(job.id[-6:]) * 10 + i),
                content_type,
                job.mode == "expire",
            )
            job.outputs.append(self._link(name, job.mode))

    def _prediction_cancel(self, job_id: str) -> None:
        with self.server.lock:
            job = self.server.jobs.get(job_id)
            if job is not None:
                self.server.cancels += 1
                if job.is_open:
                    job.state = "canceled"
                answer = prediction_body(job, self.server.url)
        if job is None:
            self._error(404, f"No job {job_id}", replicate=True)
        else:
            self._json(200, answer)

    def _video_content(self, job_id: str) -> None:
        job = self._job(job_id, replicate=False)
        if job is None:
            return
        with self.server.lock:
            self.server.fetches += 1
        status = status_of(job.mode, "content")
        if status is not None:
            self._error(status, f"fake content failure {status}", replicate=False)
        elif job.state != "succeeded":
            self._error(404, "The video is not ready", replicate=False, code="video_not_ready")
        elif job.mode == "redirect":  # to another origin: the same server named otherwise
            name = job.outputs[0].rsplit("/", 1)[1]
            self._redirect(f"http://localhost:{self.server.server_address[1]}/files/{name}")
        else:
            self._file(job.outputs[0].rsplit("/", 1)[1], counted=True)

    def _link(self, name: str, mode: str) -> str:
        kind = "redirect" if mode == "redirect" else "files"
        return f"{self.server.url}/{kind}/{name}"

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _file(self, name: str, *, counted: bool = False) -> None:
        with self.server.lock:
            if not counted:
                self.server.fetches += 1
            entry = self.server.files.get(name)
            if entry is not None and entry[2]:  # expires: served once
                del self.server.files[name]
        if entry is None:
            self._send(404, b"Not found", "text/plain")
        else:
            self._send(200, entry[0], entry[1])


class FakeMedia(FakeServer):
    def __init__(self, port: int = 0, *, api_key: str = "") -> None:
        super().__init__(port, MediaHandler)
        self.api_key = api_key
        self.jobs: dict[str, Job] = {}
        # name -> (bytes, content type, expires after its first fetch)
        self.files: dict[str, tuple[bytes, str, bool]] = {}
        self.created = self.polls = self.cancels = self.fetches = 0
        self.poll_delay = 0.0

    def reset(self, *, api_key: str | None = None) -> FakeMedia:
        """Forget every job, file, request and count (and set ``api_key`` when given)."""
        with self.lock:
            self.jobs.clear()
            self.files.clear()
            self.requests.clear()
            self.created = self.polls = self.cancels = self.fetches = 0
            self.poll_delay = 0.0
            if api_key is not None:
                self.api_key = api_key
        return self

    def hits(self, method: str, prefix: str) -> int:
        """How many ``method`` requests had a path starting with ``prefix``."""
        with self.lock:
            return sum(
                1 for r in self.requests if r["method"] == method and r["path"].startswith(prefix)
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--api-key", default="")
    args = parser.parse_args()
    server = FakeMedia(args.port, api_key=args.api_key)
    print(f"fake media upstream on {server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
