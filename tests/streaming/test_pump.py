"""The stream driver's reader thread: it ends when told to, whatever state it is in."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from gateway.pipeline.streaming import _END, _Pump
from gateway.providers import StreamChunk
from gateway.providers.dialect import LocalStream


def endless() -> Iterator[dict[str, Any]]:
    for i in itertools.count():
        yield {"choices": [{"index": 0, "delta": {"content": str(i)}}]}


def test_stopped_pump_with_a_full_queue_ends_its_thread() -> None:
    # given an upstream far faster than the client: the queue fills up and the pump waits
    pump = _Pump(endless)
    deadline = time.monotonic() + 2
    while not pump.queue.full() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pump.queue.full()
    # when the client goes away and the relay stops the pump
    pump.stop()
    # then the thread does not stay blocked on the full queue
    pump.thread.join(timeout=2)
    assert not pump.thread.is_alive()


def test_pump_stopped_before_the_upstream_answered_reads_nothing() -> None:
    # given an upstream that takes a while to answer
    def slow_open() -> Iterator[dict[str, Any]]:
        time.sleep(0.2)
        return endless()

    pump = _Pump(slow_open)
    # when the pump is stopped while the request is in flight
    pump.stop()
    pump.thread.join(timeout=2)
    # then it ends without queueing a single chunk
    assert not pump.thread.is_alive()
    assert pump.queue.qsize() == 0


def test_pump_relays_every_chunk_then_the_end() -> None:
    pump = _Pump(lambda: LocalStream(c for c in [{"n": 1}, {"n": 2}]))
    assert [pump.get(1), pump.get(1), pump.get(1)] == [{"n": 1}, {"n": 2}, _END]


class Source:
    """A ChunkSource that counts how it was ended."""

    def __init__(self, count: int) -> None:
        self.chunks = iter([StreamChunk({"n": n}) for n in range(count)])
        self.released = self.closed = 0

    def __iter__(self) -> Source:
        return self

    def __next__(self) -> StreamChunk:
        return next(self.chunks)

    def release(self) -> None:
        self.released += 1

    def close(self) -> None:
        self.closed += 1


def test_a_source_read_to_its_end_is_released_once_and_a_stopped_one_closed() -> None:
    # given a source read to its end: its connection goes back to the pool, once
    ended = Source(2)
    pump = _Pump(lambda: ended)
    items = [pump.get(1), pump.get(1), pump.get(1)]
    pump.thread.join(timeout=2)
    assert items[2] is _END and [i.canonical for i in items[:2]] == [{"n": 0}, {"n": 1}]
    assert (ended.released, ended.closed, pump.queue.qsize()) == (1, 0, 0)
    # given a source the relay stops early: closed, never released
    stopped = Source(1000)
    pump = _Pump(lambda: stopped)
    pump.get(1)
    pump.stop()
    pump.thread.join(timeout=2)
    assert not pump.thread.is_alive()
    assert (stopped.released, stopped.closed) == (0, 1)
