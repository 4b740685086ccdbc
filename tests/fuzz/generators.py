"""A seeded generator of hostile HTTP requests for the /v1 API, built by mutating valid
ones: wrong types at any JSON path, NUL bytes, huge / negative / non-finite numbers
(written as JSON text, e.g. ``1e999`` or ``NaN``, which no JSON library would produce),
deep nesting, unknown and duplicate fields, empty strings, bodies that are not JSON or not
UTF-8, wrong content types, and odd methods, paths and query strings.

Every request is a ``FuzzRequest`` whose ``describe()`` is enough to send it again.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from typing import Any

from tests.fuzz.bodies import base_bodies

PREFIXES = ("/v1", "/api/v1")
BODY_LIMIT = 64 * 1024  # GATEWAY_MAX_BODY_BYTES while fuzzing, so 413 is cheap to reach
OVERSIZE = BODY_LIMIT + 1


@dataclass(frozen=True)
class Raw:
    """JSON text placed as is in a serialised body (``NaN``, ``1e999``, 2**70...)."""

    text: str


def dump(value: Any, *, duplicate: str | None = None) -> str:
    """JSON text of ``value``, ``Raw`` pieces verbatim; ``duplicate`` repeats that key of
    the outer object with a second value first (the last one wins in most parsers)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()]
        if duplicate is not None:
            items.insert(0, f"{json.dumps(duplicate)}:{dump(['duplicate', 5])}")
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class FuzzRequest:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    mutations: list[str] = field(default_factory=list)
    has_provider: bool = False  # provider preferences may leave no route: 503 is documented
    chunked: bool = False  # sent with Transfer-Encoding: chunked
    faulty: bool = False  # to a model whose upstreams fail: 502 provider_error is expected

    def describe(self) -> str:
        body = None if self.body is None else self.body[:2000]
        return (
            f"{self.method} {self.path} headers={self.headers} mutations={self.mutations} "
            f"chunked={self.chunked} body={body!r}"
        )


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def hostile_value(rng: random.Random) -> Any:
    """A value of a random kind, often one that no field expects."""
    choices: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        1,
        5,
        -(2**31),
        2**63 - 1,
        2**64,
        Raw(str(2**70)),
        Raw("-" + str(2**70)),
        1.5,
        -0.0,
        1e308,
        -1e308,
        5e-324,
        Raw("1e999"),
        Raw("-1e999"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("-Infinity"),
        Raw("1e999999999"),
        "",
        "x",
        "\x00",
        "a\x00b",
        "NaN",
        "1e999999999",
        "-1",
        "auto",
        "user",
        "text",
        "\ud7ff\ufffd😀",
        "x" * rng.choice((100, 5000)),
        [],
        [5],
        ["hi"],
        [None],
        [{}],
        {},
        {"v": 5},
        {"type": "text", "text": 5},
        {"type": "image", "source": "x"},
        {"type": "function", "function": 5},
        nested(rng.choice((30, 70, 300))),
    ]
    return rng.choice(choices)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (the root is ``()``), down to 12 levels (so a
    deeply nested value is replaced whole, and bodies stay within Python's recursion)."""
    out = [prefix]
    if len(prefix) >= 12:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, (*prefix, i)))
    return out


def _label(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "<root>"


def mutate(body: Any, rng: random.Random, log: list[str]) -> Any:
    """One mutation of a copy of ``body``: replace, delete, add or wrap a value."""
    body = copy.deepcopy(body)
    paths = _paths(body)
    path = rng.choice(paths)
    kind = rng.random()
    if not path:
        if kind < 0.5 and isinstance(body, dict):
            key = rng.choice(["zz_unknown", "model", "messages", "stream", "provider", "models"])
            body[key] = hostile_value(rng)
            log.append(f"set .{key}")
            return body
        log.append("replace <root>")
        return hostile_value(rng)
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if kind < 0.6:
        parent[last] = hostile_value(rng)
        log.append(f"replace {_label(path)}")
    elif kind < 0.75:
        del parent[last]
        log.append(f"delete {_label(path)}")
    elif kind < 0.85 and isinstance(parent[last], dict):
        parent[last]["zz_unknown"] = hostile_value(rng)
        log.append(f"add {_label(path)}.zz_unknown")
    elif kind < 0.92:
        parent[last] = [parent[last]]
        log.append(f"wrap {_label(path)} in an array")
    else:
        parent[last] = {"value": parent[last]}
        log.append(f"wrap {_label(path)} in an object")
    return body


ODD_SEGMENTS = ["%00", "%ff%fe", "%2e%2e", "%2F", "a" * 300, "😀", "gen-%00x", " ", "%25", "~"]
CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=zz",
    "multipart/form-data",
    "application/json; charset=latin-1",
    "",
]


class Generator:
    """Requests, one at a time, from a seeded RNG. ``auth`` is the valid key header."""

    def __init__(
        self,
        seed: int,
        auth: dict[str, str],
        models: tuple[str, str, str],
        broken: tuple[str, ...] = (),
    ):
        self.rng = random.Random(seed)
        self.auth = auth
        self.models = models
        self.broken = broken  # models whose every route fails: a 502 is expected of them
        self.bases = base_bodies(*models)

    def _headers(self, log: list[str]) -> dict[str, str]:
        roll = self.rng.random()
        headers = {"Content-Type": "application/json"}
        if roll < 0.9:
            headers.update(self.auth)
        elif roll < 0.95:
            headers["Authorization"] = "Bearer sk-not-a-key"
            log.append("bad key")
        else:
            log.append("no key")
        if self.rng.random() < 0.05:
            headers["Content-Type"] = self.rng.choice(CONTENT_TYPES)
            log.append(f"content-type {headers['Content-Type']!r}")
        return headers

    def _get(self, prefix: str, log: list[str]) -> FuzzRequest:
        rng = self.rng
        gpt = self.models[0]
        target = rng.choice(["generation", "models", "model", "key", "unknown"])
        segment = rng.choice([*ODD_SEGMENTS, gpt, "gen-abc", ""])
        path = {
            "generation": f"{prefix}/generation?id={segment}",
            "models": f"{prefix}/models?output_modalities={segment}",
            "model": f"{prefix}/models/{segment or gpt}",
            "key": f"{prefix}/key",
            "unknown": f"{prefix}/{rng.choice(['nope', 'chat', 'messages/x', segment])}",
        }[target]
        method = rng.choice(["GET"] * 6 + ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
        return FuzzRequest(
            method, path, b"{}" if method != "GET" else None, self._headers(log), log
        )

    def next(self) -> FuzzRequest:
        rng = self.rng
        prefix = rng.choice(PREFIXES)
        log: list[str] = []
        if rng.random() < 0.12:
            return self._get(prefix, log)
        endpoint = rng.choice(list(self.bases))
        body: Any = rng.choice(self.bases[endpoint])
        faulty = bool(self.broken) and endpoint != "/embeddings" and rng.random() < 0.04
        if faulty:
            body = {**body, "model": rng.choice(self.broken)}
            body.pop("models", None)
            log.append(f"upstream fault: model {body['model']}")
        for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
            body = mutate(body, rng, log)
        headers = self._headers(log)
        raw = self._serialise(body, log)
        method = "POST" if rng.random() < 0.97 else rng.choice(["GET", "PUT", "DELETE"])
        has_provider = isinstance(body, dict) and "provider" in body
        chunked = rng.random() < 0.03
        if chunked:
            log.append("chunked")
        return FuzzRequest(
            method, prefix + endpoint, raw, headers, log, has_provider, chunked, faulty
        )

    def _serialise(self, body: Any, log: list[str]) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            log.append("body not JSON")
            return rng.choice([b"", b"{", b"nope", b"[1,2", b"\x00\x01\x02", b'{"a":1}x'])
        if roll < 0.04:
            log.append("body not UTF-8")
            return dump(body).encode()[:-1] + b"\xff\xfe" + b"}"
        if roll < 0.06 and isinstance(body, dict) and body:
            key = rng.choice(list(body))
            log.append(f"duplicate .{key}")
            return dump(body, duplicate=key).encode()
        if roll < 0.075:
            log.append("body above the size limit")
            return (
                dump({**body, "zz_padding": "x" * OVERSIZE}).encode()
                if isinstance(body, dict)
                else b"[" + b"1," * OVERSIZE + b"1]"
            )
        if roll < 0.08:
            log.append("latin-1 body")
            return dump(body).replace("\\u00e9", "é").encode("utf-8") + b"\xe9"
        return dump(body).encode()
