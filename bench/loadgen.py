"""Closed-loop HTTP load generator (the fallback when ``wrk`` is not installed).

N greenlets, each with one keep-alive ``http.client`` connection, POST the same body in a
loop until the time or request budget runs out. Prints one JSON object (the same shape the
wrk script prints): requests, seconds, status counts, errors and latency percentiles in
milliseconds.

Run: ``python -m bench.loadgen --url http://127.0.0.1:8000/v1/chat/completions -c 50 -d 10
--body-file body.json -H 'Authorization: Bearer sk-...'``.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def run(
    url: str,
    *,
    concurrency: int,
    duration: float,
    max_requests: int,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    keys: list[str] | None = None,
) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    base_headers = {"Content-Type": "application/json", **headers}
    header_sets = [{**base_headers, "Authorization": f"Bearer {k}"} for k in keys or []]
    header_sets = header_sets or [base_headers]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    budget = [max_requests]
    started = time.perf_counter()
    deadline = started + duration

    def client() -> None:
        conn: http.client.HTTPConnection | None = None
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            all_headers = header_sets[budget[0] % len(header_sets)]
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=all_headers)
                resp = conn.getresponse()
                resp.read()
            except TimeoutError:
                errors["timeout"] += 1
                conn.close()
                conn = None
                continue
            except (OSError, http.client.HTTPException) as exc:
                errors[type(exc).__name__] += 1
                conn.close()
                conn = None
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[resp.status] += 1
            if resp.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    gevent.joinall([gevent.spawn(client) for _ in range(concurrency)])
    elapsed = time.perf_counter() - started
    latencies.sort()
    ms = [v * 1000 for v in latencies]
    return {
        "tool": "python",
        "requests": len(latencies),
        "sent": max_requests - budget[0],
        "seconds": elapsed,
        "status": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "errors": dict(errors),
        "latency_ms": {
            "p50": percentile(ms, 50),
            "p95": percentile(ms, 95),
            "p99": percentile(ms, 99),
            "max": ms[-1] if ms else 0.0,
            "mean": sum(ms) / len(ms) if ms else 0.0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("-n", "--max-requests", type=int, default=1_000_000)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("--keys-file", default="", help="API keys, one a line, used in turn")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    headers = {}
    for item in args.header:
        name, _, value = item.partition(":")
        headers[name.strip()] = value.strip()
    result = run(
        args.url,
        concurrency=args.concurrency,
        duration=args.duration,
        max_requests=args.max_requests,
        body=Path(args.body_file).read_bytes(),
        headers=headers,
        timeout=args.timeout,
        keys=[k for k in Path(args.keys_file).read_text().split() if k] if args.keys_file else None,
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
