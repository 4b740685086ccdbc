"""Open N streaming chat completions at once and time every one (used by bench/stream.py).

One gevent process, one greenlet and one raw socket per stream (``Connection: close``, no
keep-alive). All greenlets connect together when released (or spread over ``--ramp``
seconds), send a POST with ``"stream": true`` and read the SSE answer (chunked or not). Per
stream: time to the first content chunk from the moment it started connecting (TTFT), the
content chunks counted, the relay latency of each chunk that carries a ``"ts"`` send stamp
(receive wall time minus the stamp: the fake upstream writes it), the usage chunk and its
``cost``, ``[DONE]``, keep-alive comments, errors and the total duration.

Prints one JSON object: counts, error kinds, percentiles (milliseconds) and the peak number
of streams open at once.

Run: ``python -m bench.streamgen --url http://127.0.0.1:8000/v1/chat/completions -n 500
--body-file body.json --keys-file keys.txt --chunks 20``.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
import orjson  # noqa: E402
from gevent.event import Event  # noqa: E402

from bench.loadgen import percentile  # noqa: E402


def raise_nofile(want: int) -> tuple[int, int]:
    """Raise the soft open-file limit towards ``want`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@dataclass(slots=True)
class Result:
    t0: float = 0.0  # perf_counter when the stream started connecting
    t_connected: float = 0.0
    t_first_byte: float = 0.0
    t_end: float = 0.0
    status: int = 0
    ttft: float | None = None  # seconds
    content_chunks: int = 0
    relay: list[float] = field(default_factory=list)  # seconds, per stamped chunk
    usage: dict[str, Any] | None = None
    done: bool = False
    finish_reason: str | None = None
    keepalives: int = 0
    error: str = ""
    error_event: str = ""


class SSEReader:
    """Decodes chunked transfer encoding (when the server uses it) and splits SSE events."""

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked
        self.raw = b""  # undecoded chunked framing
        self.text = b""  # decoded body not yet split into events
        self.need = -1  # bytes left of the current chunk (-1: reading a size line)
        self.finished = False  # terminal zero-size chunk seen

    def feed(self, data: bytes) -> list[bytes]:
        if not self.chunked:
            self.text += data
        else:
            self.raw += data
            while True:
                if self.need < 0:
                    cut = self.raw.find(b"\r\n")
                    if cut < 0:
                        break
                    size = int(self.raw[:cut].split(b";", 1)[0], 16)
                    self.raw = self.raw[cut + 2 :]
                    if size == 0:
                        self.finished = True
                        break
                    self.need = size
                if len(self.raw) < self.need + 2:
                    break
                self.text += self.raw[: self.need]
                self.raw = self.raw[self.need + 2 :]
                self.need = -1
        events = []
        while True:
            cut = self.text.find(b"\n\n")
            if cut < 0:
                break
            events.append(self.text[:cut])
            self.text = self.text[cut + 2 :]
        return events


def handle_event(res: Result, event: bytes, now: float, wall: float) -> None:
    data = []
    for line in event.split(b"\n"):
        line = line.rstrip(b"\r")
        if line.startswith(b":"):
            res.keepalives += 1
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
    if not data:
        return
    payload = b"\n".join(data)
    if payload == b"[DONE]":
        res.done = True
        return
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        res.error_event = res.error_event or "malformed event"
        return
    if not isinstance(chunk, dict):
        return
    if chunk.get("error"):
        err = chunk["error"]
        res.error_event = str(err.get("code") if isinstance(err, dict) else err)
    if chunk.get("usage"):
        res.usage = chunk["usage"]
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            res.content_chunks += 1
            if res.ttft is None:
                res.ttft = now - res.t0
            ts = chunk.get("ts")
            if isinstance(ts, float | int):
                res.relay.append(wall - ts)
        if choice.get("finish_reason"):
            res.finish_reason = choice["finish_reason"]


def one_stream(
    res: Result,
    host: str,
    port: int,
    request: bytes,
    timeout: float,
    go: Event,
    delay: float,
) -> None:
    go.wait()
    if delay:
        gevent.sleep(delay)
    res.t0 = time.perf_counter()
    sock = None
    try:
        # a numeric address and no create_connection(): no resolver call per stream
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((host, port))
        res.t_connected = time.perf_counter()
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed before the response head")
            if not res.t_first_byte:
                res.t_first_byte = time.perf_counter()
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        res.status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        reader = SSEReader("chunked" in headers.get("transfer-encoding", ""))
        if res.status != 200:
            body = rest
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                body += data
            res.error = f"HTTP {res.status}"
            res.error_event = body[:200].decode(errors="replace")
            return
        data = rest
        while True:
            if data:
                now, wall = time.perf_counter(), time.time()
                for event in reader.feed(data):
                    handle_event(res, event, now, wall)
                if reader.finished:
                    break
            data = sock.recv(65536)
            if not data:
                break
    except TimeoutError:
        res.error = "timeout"
    except OSError as exc:
        res.error = type(exc).__name__
    except (ValueError, IndexError) as exc:
        res.error = f"bad response: {exc}"
    finally:
        res.t_end = time.perf_counter()
        if sock is not None:
            sock.close()


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    peak = cur = 0
    for _, step in points:
        cur += step
        peak = max(peak, cur)
    return peak


def pcts(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": ms[-1] if ms else 0.0,
        "mean": sum(ms) / len(ms) if ms else 0.0,
    }


def run(
    url: str,
    *,
    streams: int,
    body: bytes,
    keys: list[str],
    chunks: int,
    timeout: float,
    ramp: float,
    expect_cost: bool,
) -> dict[str, Any]:
    raise_nofile(streams + 1024)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    host = socket.gethostbyname(host)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    base = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    )
    wires = [
        (base + (f"Authorization: Bearer {k}\r\n" if k else "") + "\r\n").encode() + body
        for k in (keys or [""])
    ]
    results = [Result() for _ in range(streams)]
    go = Event()
    greenlets = [
        gevent.spawn(
            one_stream,
            res,
            host,
            port,
            wires[i % len(wires)],
            timeout,
            go,
            ramp * i / streams if ramp else 0.0,
        )
        for i, res in enumerate(results)
    ]
    gevent.sleep(0.05)  # let every greenlet reach go.wait()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    go.set()
    gevent.joinall(greenlets)
    elapsed = time.perf_counter() - started
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)

    errors: Counter[str] = Counter()
    complete = 0
    costs = 0
    for res in results:
        kind = res.error
        if not kind:
            missing = []
            if res.content_chunks != chunks:
                missing.append(f"content chunks {res.content_chunks} != {chunks}")
            if res.usage is None:
                missing.append("no usage chunk")
            elif expect_cost and "cost" not in res.usage:
                missing.append("usage without cost")
            if not res.done:
                missing.append("no [DONE]")
            if res.error_event:
                missing.append(f"error event {res.error_event}")
            kind = "; ".join(missing)
        if kind:
            errors[kind[:160]] += 1
        else:
            complete += 1
            costs += int((res.usage or {}).get("cost") or 0)
    ok = [r for r in results if r.t_end]
    return {
        "streams": streams,
        "complete": complete,
        "errors": dict(errors),
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "ttft_ms": pcts([r.ttft for r in results if r.ttft is not None]),
        "connect_ms": pcts([r.t_connected - r.t0 for r in results if r.t_connected]),
        "first_byte_ms": pcts([r.t_first_byte - r.t0 for r in results if r.t_first_byte]),
        "duration_ms": pcts([r.t_end - r.t0 for r in ok]),
        "relay_first_ms": pcts([r.relay[0] for r in results if r.relay]),
        "relay_all_ms": pcts([v for r in results for v in r.relay]),
        "peak_open": peak_overlap([(r.t0, r.t_end) for r in ok]),
        "peak_streaming": peak_overlap(
            [(r.t_first_byte, r.t_end) for r in results if r.t_first_byte]
        ),
        "keepalives": sum(r.keepalives for r in results),
        "cost_sum": costs,
        "finish_reasons": dict(Counter(str(r.finish_reason) for r in results)),
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("-n", "--streams", type=int, default=100)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--keys-file", default="", help="API keys, one a line, used in turn")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks expected")
    parser.add_argument("--timeout", type=float, default=60.0, help="per socket operation")
    parser.add_argument("--ramp", type=float, default=0.0, help="spread the starts (seconds)")
    parser.add_argument("--expect-cost", action="store_true", help="usage must carry cost")
    args = parser.parse_args()
    keys = [k for k in Path(args.keys_file).read_text().split() if k] if args.keys_file else []
    result = run(
        args.url,
        streams=args.streams,
        body=Path(args.body_file).read_bytes(),
        keys=keys,
        chunks=args.chunks,
        timeout=args.timeout,
        ramp=args.ramp,
        expect_cost=args.expect_cost,
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
