"""The embedded setup's Celery broker (kombu's filesystem transport) keeps every file it
writes under ``var/``, none in the working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({"broker": settings.CELERY_BROKER_URL,
                  "options": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
                  "var": str(settings.VAR_DIR)}))
"""

PUBLISH = """
import json, sys
from kombu import Connection, Exchange, Queue
options = json.loads(sys.argv[1])
with Connection("filesystem://", transport_options=options) as conn:
    queue = Queue("celery", Exchange("celery", type="direct"), routing_key="celery")
    producer = conn.Producer()
    producer.publish({"probe": 1}, exchange=queue.exchange, routing_key="celery",
                     declare=[queue])
"""


def test_the_filesystem_broker_writes_only_under_var(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["broker"] == "filesystem://"
    folders = {k: v for k, v in found["options"].items() if "folder" in k}
    assert set(folders) == {
        "data_folder_in",
        "data_folder_out",
        "processed_folder",
        "control_folder",
    }
    var = Path(found["var"])
    assert all(Path(v).is_relative_to(var / "celery") for v in folders.values())

    # the same options, rooted in a scratch directory: kombu honours every one of them
    scratch = tmp_path / "var"
    (scratch / "celery" / "processed").mkdir(parents=True)
    rooted = {
        k: str(scratch / Path(v).relative_to(var)) if k in folders else v
        for k, v in found["options"].items()
    }
    work = tmp_path / "cwd"
    work.mkdir()
    pub = subprocess.run(
        [sys.executable, "-c", PUBLISH, json.dumps(rooted)],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert pub.returncode == 0, pub.stderr
    assert list(work.iterdir()) == []  # no ./control
    assert (scratch / "celery" / "control" / "celery.exchange").is_file()
    assert len(list((scratch / "celery").glob("*.msg"))) == 1
