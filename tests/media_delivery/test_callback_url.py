"""callback_url is refused at request time unless it is a public http(s) address (names
resolving to private ones included); GATEWAY_CALLBACKS_ALLOW_PRIVATE lifts the address
check, not the scheme's."""

from __future__ import annotations

from typing import Any

import pytest

from config.errors import ApiError
from gateway.media.callbacks import callback_url_check

REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://localhost:8080/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://2130706433/hook", "loopback"),
    ("http://0.0.0.0/hook", "unspecified"),
]
MALFORMED = [
    ("ftp://93.184.216.34/hook", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("http://", "http or https"),
    ("hook", "http or https"),
    ("", "non-empty"),
    ("http://user:pw@93.184.216.34/hook", "user name or password"),
    ("http://93.184.216.34:99999/hook", "not a valid URL"),
    ("https://93.184.216.34/" + "a" * 2000, "longer than 2000"),
]


def refusal(url: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        callback_url_check(url)
    err = caught.value
    assert (err.status, err.code, err.param) == (400, "invalid_parameter", "callback_url")
    return err


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_private_addresses_refused(url: str, why: str) -> None:
    assert why in refusal(url).message


@pytest.mark.parametrize(("url", "why"), MALFORMED)
def test_malformed_refused(url: str, why: str, settings: Any) -> None:
    assert why in refusal(url).message
    settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE = True
    assert why in refusal(url).message


def test_public_addresses_pass() -> None:
    callback_url_check("https://93.184.216.34/hooks/task?x=1")
    callback_url_check("http://[2606:4700:4700::1111]:8443/hook")


def test_allow_private_lifts_the_address_check(settings: Any) -> None:
    settings.GATEWAY_CALLBACKS_ALLOW_PRIVATE = True
    for url, _ in REFUSED:
        callback_url_check(url)
