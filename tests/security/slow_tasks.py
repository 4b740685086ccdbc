"""A task that takes a while, for the worker shutdown tests (imported with ``-I``)."""

import time
from pathlib import Path

from config.celery import app


@app.task(name="tests.slow_write")
def slow_write(folder: str, seconds: float) -> None:
    Path(folder, "started").write_text("started")
    time.sleep(seconds)
    Path(folder, "done").write_text("done")
