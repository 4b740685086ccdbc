"""The Celery application: tasks are discovered in each app's ``tasks.py``."""

import os

from celery import Celery, signals
from celery.exceptions import WorkerShutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("gateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_shutting_down.connect
def worker_stop_now_when_idle(how: str = "", exitcode: int = 0, **kwargs: object) -> None:
    """A warm shutdown (SIGTERM) of an idle worker stops at once.

    Celery only sets a flag in its signal handler. With a broker that has no event loop
    (the embedded filesystem broker) the worker polls in 2-second drains and, once it sees
    the flag, drains once more before it stops: up to 4 s idle, 7.5 s in all with the
    prefork pool, past the 5 s honcho (``./run``) waits before SIGKILL. With no task
    running, raising here what the loop would raise on its next turn (WorkerShutdown, a
    SystemExit) interrupts the drain; the worker then stops as usual. With tasks running
    the flag path is kept, so a task in the solo pool's main thread is never interrupted.
    """
    from celery.worker import state

    if how == "Warm" and not state.active_requests:
        raise WorkerShutdown(exitcode)
