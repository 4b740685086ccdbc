"""The embedded settings (config.settings.local) with the filesystem broker and beat's
schedule in ``GATEWAY_TEST_BROKER_DIR``, for workers started by the tests."""

import os
from pathlib import Path

from config.settings.local import *  # noqa: F403

_dir = Path(os.environ["GATEWAY_TEST_BROKER_DIR"])
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_dir),
    "data_folder_out": str(_dir),
    "processed_folder": str(_dir / "processed"),
    "control_folder": str(_dir / "control"),
    "store_processed": False,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(_dir / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = False
