"""The one guard on URLs a user supplies (gateway.providers.url_guard), and the transport's
``request(..., user_url=True)`` that applies it: no internet needed, the hosts are numeric or
``localhost``."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from config.errors import DomainError
from gateway.api.errors import api_error_of
from gateway.providers import transport, url_guard
from gateway.providers.url_guard import address_refusal, assert_public_url
from tests.fakes.handler import FakeServer, JsonHandler

REFUSED = [
    # (URL, what the refusal names)
    ("http://127.0.0.1/", "loopback"),
    ("http://127.8.9.10:8080/x", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://LOCALHOST:9/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://[fd00:ec2::254]/", "private"),  # AWS's IPv6 metadata service
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # the metadata service
    ("http://169.254.0.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://100.64.0.1/", "non-public"),  # shared (carrier-grade NAT)
    ("http://192.0.2.10/", "private"),  # documentation
    ("http://198.18.0.1/", "private"),  # benchmarking
    ("http://240.0.0.1/", "private"),  # reserved
    ("http://255.255.255.255/", "private"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    # IPv4 inside IPv6
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[::ffff:10.1.2.3]/", "private"),
    ("http://[::ffff:0.0.0.0]/", "unspecified"),
    ("http://[2002:7f00:1::]/", "6to4-wrapped loopback"),
    ("http://[2002:a9fe:a9fe::]/", "6to4-wrapped link-local"),
    ("http://[::127.0.0.1]/", "non-public"),  # IPv4-compatible (deprecated, reserved)
    ("http://[64:ff9b::a9fe:a9fe]/", "non-public"),  # NAT64 of the metadata address
    # numeric spellings the resolver reads as 127.0.0.1
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("https://127.0.0.1:443/", "loopback"),
]

ALLOWED = [
    ("http://8.8.8.8/", ("8.8.8.8",)),
    ("https://1.1.1.1/dns-query?x=1", ("1.1.1.1",)),
    ("http://93.184.216.34:8080/hook", ("93.184.216.34",)),
    ("http://[2606:4700:4700::1111]/", ("2606:4700:4700::1111",)),
    ("http://[::ffff:8.8.8.8]/", ("::ffff:8.8.8.8",)),  # an IPv4-mapped public address
    ("http://[2002:808:808::]/", ("2002:808:808::",)),  # 6to4 of a public address
    ("http://134744072/", ("8.8.8.8",)),  # 8.8.8.8 as one number
]

NOT_URLS = [
    "ftp://8.8.8.8/file",
    "file:///etc/passwd",
    "gopher://8.8.8.8/",
    "http:///path-only",
    "8.8.8.8",
    "",
    "http://8.8.8.8:99999/",  # port out of range
    "http://[::1/",  # unclosed bracket
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_a_url_to_a_non_public_address_is_refused(url: str, reason: str) -> None:
    # when a user's URL names (or resolves to) a loopback, private, link-local, ... address
    with pytest.raises(DomainError) as caught:
        assert_public_url(url, param="callback_url")
    # then it is refused as invalid_url, a 400 naming the field and the kind of address
    err = api_error_of(caught.value)
    assert (err.status, err.code, err.param) == (400, "invalid_url", "callback_url")
    assert f"a {reason} address" in err.message


@pytest.mark.parametrize(("url", "addresses"), ALLOWED)
def test_a_url_to_a_public_address_passes(url: str, addresses: tuple[str, ...]) -> None:
    checked = assert_public_url(url)
    assert checked.addresses == addresses
    assert checked.scheme in ("http", "https")
    assert checked.port == (url_port(url) or (443 if checked.scheme == "https" else 80))


@pytest.mark.parametrize("url", NOT_URLS)
def test_anything_but_an_http_url_with_a_host_is_refused(url: str) -> None:
    with pytest.raises(DomainError) as caught:
        assert_public_url(url)
    assert caught.value.code == "invalid_url"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    # a label longer than 63 characters is refused by the resolver without a DNS query
    with pytest.raises(DomainError) as caught:
        assert_public_url("http://" + "a" * 64 + ".example/")
    assert caught.value.code == "invalid_url"
    assert "does not resolve" in caught.value.message


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("8.8.4.4", None),
        ("2001:4860:4860::8888", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:9.9.9.9", None),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("fe80::abcd", "link-local"),
        ("2001:db8::1", "private"),  # documentation
        ("2001::1", "private"),  # Teredo
    ],
)
def test_address_refusal_table(address: str, refusal: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == refusal


def url_port(url: str) -> int | None:
    from urllib.parse import urlsplit

    return urlsplit(url).port


# --- the transport: user URLs are checked, and called at the address that was checked ------


class Handler(JsonHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        with server.lock:
            server.requests.append({"path": self.path, "headers": dict(self.headers)})
        self._json(200, {"method": "GET", "path": self.path})

    def do_POST(self) -> None:
        self._read_json()
        self._json(200, {"method": "POST", "path": self.path})


@pytest.fixture
def server() -> Iterator[Any]:
    srv: Any = FakeServer(0, Handler).start()
    transport.pools_clear()
    yield srv
    srv.stop()
    transport.pools_clear()


def test_a_user_url_to_a_local_server_is_refused_before_anything_is_sent(server: Any) -> None:
    # given a live server on the loopback address (an admin's upstream may live there)
    url = server.url + "/hook"
    assert transport.request("GET", url, None, {}, connect_timeout=2, read_timeout=2).status == 200
    before = len(server.requests)
    # when a user supplies the same URL, or localhost's name for it
    for user_url in (url, url.replace("127.0.0.1", "localhost")):
        with pytest.raises(DomainError) as caught:
            transport.request(
                "POST", user_url, b"{}", {}, connect_timeout=2, read_timeout=2, user_url=True
            )
        assert caught.value.code == "invalid_url"
    # then nothing reached the server
    assert len(server.requests) == before


def test_request_sends_a_get_without_a_body(server: Any) -> None:
    resp = transport.request(
        "GET", server.url + "/task/7?x=1", None, {}, connect_timeout=2, read_timeout=2
    )
    assert resp.status == 200
    assert resp.data == b'{"method": "GET", "path": "/task/7?x=1"}'
    assert server.requests[-1]["path"] == "/task/7?x=1"
    assert "Content-Length" not in server.requests[-1]["headers"]


def test_a_user_url_is_called_at_the_address_that_was_checked(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a name whose first answer is the server's address and every later one another
    # address, where nothing listens (a rebinding DNS server); loopback is let through here
    # only so that the check can pass without internet
    port = server.server_address[1]
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            host = next(answers, "127.0.0.2")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(url_guard, "address_refusal", lambda ip: None)
    # when the user's URL is called
    resp = transport.request(
        "GET",
        f"http://rebind.test:{port}/hook",
        None,
        {},
        connect_timeout=2,
        read_timeout=2,
        user_url=True,
    )
    # then the connection went to the checked address, still naming the host
    assert resp.status == 200
    assert resp.data == b'{"method": "GET", "path": "/hook"}'
    assert server.requests[-1]["headers"]["Host"] == f"rebind.test:{port}"
