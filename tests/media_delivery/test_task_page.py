"""The console's task page: its owner sees status, model, kind, cost, times in their time
zone, the outputs (images shown from their durable links), the error and every callback
attempt; anyone else a 404. The request log's page of a media request links to it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import user_create
from tests.media_delivery.rows import task_make
from tests.media_delivery.scenes import scene_make
from tests.usage.page_rows import generation_at

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_owner_sees_the_task() -> None:
    user = user_create(email="owner@example.com")
    User.objects.filter(pk=user.pk).update(time_zone="Asia/Kolkata")
    scene = scene_make(user)
    task = scene.image_task
    page = signed_in(user).get(f"/usage/tasks/{task.public_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    text = text_of(html)
    assert '<span class="status succeeded">succeeded</span>' in html
    assert "Model acme/painter-2" in text and "Kind image" in text
    assert "80,000 credits ($0.08) · 84,000 were held" in text
    # 2026-12-01 22:30:05 UTC is 04:00:05 the next day in Kolkata
    assert "Created 2026-12-02 04:00:05 (UTC+05:30)" in text
    assert "Completed 2026-12-02 04:00:19 (UTC+05:30)" in text
    assert "A lighthouse at dusk, in watercolour" in text
    files = sorted(task.files.all(), key=lambda f: f.index)
    for media in files:
        assert f'<img src="/v1/files/{media.token}"' in html
    assert [m.content_type for m in files] == ["image/png", "image/png"]
    assert f'href="/usage/requests/{task.request_id}/"' in html
    assert "https://hooks.example.com/gateway/tasks?tenant=7" in html
    assert '<span class="status delivered">delivered</span>' in html
    rows = re.findall(r"<tr><td data-label=\"#\".*?</tr>", html)
    assert [text_of(r).strip() for r in rows] == [
        "1 2026-12-02 04:01:05 (UTC+05:30) HTTP 503 41 ms",
        "2 2026-12-02 04:02:05 (UTC+05:30) HTTP 200 18 ms",
    ]


def test_a_failed_task_shows_its_error_and_every_attempt() -> None:
    user = user_create(email="owner@example.com")
    task = scene_make(user).video_task
    html = signed_in(user).get(f"/usage/tasks/{task.public_id}/").content.decode()
    text = text_of(html)
    assert '<span class="status failed">failed</span>' in html
    assert "provider_failed The provider could not render this prompt" in text
    assert "0 credits ($0.00) · the 400,000 held were released" in text
    assert "No outputs." in text
    rows = re.findall(r"<tr><td data-label=\"#\".*?</tr>", html)
    assert [text_of(r).strip() for r in rows] == [
        "1 2026-12-01 22:31:05 (UTC+00:00) timed out after 10 s 10,002 ms",
        "2 2026-12-01 22:32:05 (UTC+00:00) HTTP 302 redirects are not followed 35 ms",
        "3 2026-12-01 22:33:05 (UTC+00:00) ConnectFailed: [Errno 111] Connection refused 2 ms",
    ]
    assert '<span class="status failed">failed</span>' in html.split('id="callback"')[1]


def test_an_open_task_without_callback() -> None:
    user = user_create(email="owner@example.com")
    task = task_make(user, estimate=5_000)
    text = text_of(signed_in(user).get(f"/usage/tasks/{task.public_id}/").content.decode())
    assert "5,000 credits held ($0.005) until it ends" in text
    assert "None yet: the provider is still working." in text
    assert "The task has no callback URL." in text


def test_only_the_owner() -> None:
    owner = user_create(email="owner@example.com")
    task = scene_make(owner).image_task
    other = signed_in(user_create(email="other@example.com"))
    assert other.get(f"/usage/tasks/{task.public_id}/").status_code == 404
    assert signed_in(owner).get("/usage/tasks/task_nope/").status_code == 404
    anonymous = Client().get(f"/usage/tasks/{task.public_id}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_the_request_page_links_to_its_task() -> None:
    user = user_create(email="owner@example.com")
    scene = scene_make(user)
    client = signed_in(user)
    html = client.get(f"/usage/requests/{scene.generation.request_id}/").content.decode()
    link = f'<a href="/usage/tasks/{scene.image_task.public_id}/">'
    assert f'<dd id="task-link">{link}' in html
    # a chat request has no task row to link
    chat = generation_at(user, scene.generation.created_at)
    assert (
        'id="task-link"' not in client.get(f"/usage/requests/{chat.request_id}/").content.decode()
    )
