"""MEDIA_S3_BUCKET switches the default storage (the task outputs) to django-storages' S3
backend with the endpoint, region, keys and prefix given; without it, the filesystem."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, django
django.setup()
from django.core.files.storage import default_storage as d
d._setup()
print(json.dumps({"class": type(d._wrapped).__name__}))
"""
S3_SCRIPT = """
import json, django
django.setup()
from django.core.files.storage import default_storage as d
d._setup()
print(json.dumps({
    "class": type(d._wrapped).__name__, "bucket": d.bucket_name, "endpoint": d.endpoint_url,
    "region": d.region_name, "key": d.access_key, "prefix": d.location,
    "overwrite": d.file_overwrite, "acl": d.default_acl,
    "name": d._normalize_name("media/1/task_x/0-t.png"),
}))
"""


def settings_of(script: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_S3_")}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings.test")
    out = subprocess.run(
        [sys.executable, "-c", script], env=clean, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_filesystem_by_default() -> None:
    assert settings_of(SCRIPT) == {"class": "FileSystemStorage"}


def test_s3_when_a_bucket_is_set() -> None:
    pytest.importorskip("storages.backends.s3", reason="needs the s3 extra")
    found = settings_of(
        S3_SCRIPT,
        MEDIA_S3_BUCKET="outputs",
        MEDIA_S3_ENDPOINT_URL="https://s3.example.test",
        MEDIA_S3_REGION="eu-west-3",
        MEDIA_S3_ACCESS_KEY_ID="AKIDEXAMPLE",
        MEDIA_S3_SECRET_ACCESS_KEY="not-a-real-secret",
        MEDIA_S3_PREFIX="gateway",
    )
    assert found == {
        "class": "S3Storage",
        "bucket": "outputs",
        "endpoint": "https://s3.example.test",
        "region": "eu-west-3",
        "key": "AKIDEXAMPLE",
        "prefix": "gateway",
        "overwrite": False,
        "acl": None,
        "name": "gateway/media/1/task_x/0-t.png",
    }
