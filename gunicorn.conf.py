"""gunicorn settings for the web tier (used by the Procfile, ./run and the benchmark).

gevent workers: each request is a greenlet, so thousands of open upstream streams cost
little. gevent must patch the standard library before anything imports psycopg, requests
or Django, so the patch happens here, at the top of the config file gunicorn loads first
(this holds with --preload too).
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

# The pooled psycopg connections then wait on gevent's loop (config.pg_gevent).

# This machine only, unless HOST says otherwise (HOST=0.0.0.0 behind a load balancer or in
# a container).
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "4000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "0")) or 3600
graceful_timeout = 30
keepalive = 75
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
wsgi_app = "config.wsgi:application"

# /metrics sums every worker's values (prometheus-client's multiprocess mode): each process
# writes its own files in PROMETHEUS_MULTIPROC_DIR, which must be set before the application
# imports prometheus_client, so here, in the master, whose workers inherit it. A launcher
# whose other processes count too (./run: the Celery worker, which records media tasks and
# the sweeper's interrupted streams) sets and empties it itself; else each server start gets
# a fresh directory of its own, removed when the server stops.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
_metrics_dir_owned = not _metrics_dir
if _metrics_dir_owned:
    _metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def child_exit(server: object, worker: object) -> None:
    """A worker ended: its live gauges leave the sums (its counters stay, as counters must)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    if _metrics_dir_owned:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
