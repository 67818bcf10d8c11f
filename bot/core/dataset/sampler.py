"""A large ZIP's sample judged in a worker process: its directory parsed, its reads planned,
its entries built and run through the loader model, the verdict told in words.

Why a process and not a thread: for a ZIP of 5,000 captioned images this is ~300 ms of pure
Python over 10,000 directory entries and as many objects. In a thread it holds the GIL (and
its garbage collections) against the event loop, so every member's acknowledgement waited; and
the objects it churned stayed in the bot's heap as fragments long after the check. In a worker
process the bot only sends bytes and receives a `RuleResult`.

The worker has no network: `plan_sample` and `judge_sample` get the bytes the bot fetched (the
ZIP's end, its directory; the sampled ranges in a spool file, see `judge_sample`) and raise
`NeedBytes` when the directory goes beyond them; the bot fetches those and asks again. Both
functions are deterministic, so the plan `judge_sample` rebuilds is the one whose ranges were
fetched.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import zipfile
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from bot.core.dataset.remote import ZipSample, _build, _plan
from bot.core.dataset.rules import RuleResult, describe
from bot.core.dataset.verdict import run_loader
from bot.core.dataset.zipremote import SeekableRaw
from bot.core.memory import steady_heap

T = TypeVar("T")
Pieces = list[tuple[int, bytes]]  # (offset, bytes) of the ZIP the bot has read
Spool = tuple[str, list[tuple[int, int]]]  # a file of the sampled ranges back to back, the ranges


class NeedBytes(Exception):
    """The directory reaches bytes the bot has not read yet: [start, end)."""

    def __init__(self, start: int, end: int) -> None:
        super().__init__(start, end)
        self.start, self.end = start, end


class _Sparse(SeekableRaw):
    """A seekable file of `size` bytes of which only `pieces` are known."""

    def __init__(self, pieces: Pieces, size: int) -> None:
        super().__init__(size)
        self.pieces = sorted(pieces)

    def read(self, size: int | None = -1) -> bytes:
        end = self.end_of(size)
        for offset, data in self.pieces:
            if offset <= self.pos and end <= offset + len(data):
                out = data[self.pos - offset : end - offset]
                self.pos = end
                return out
        raise NeedBytes(self.pos, end)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _directory(pieces: Pieces, size: int) -> tuple[list[zipfile.ZipInfo], int]:
    with zipfile.ZipFile(_Sparse(pieces, size)) as archive:  # type: ignore[arg-type]
        return archive.infolist(), int(getattr(archive, "start_dir", 0))


def plan_sample(pieces: Pieces, size: int, budget: int, max_requests: int) -> list[tuple[int, int]]:
    """The ranges to read for the sample (raises NeedBytes, or what zipfile raises)."""
    infos, _ = _directory(pieces, size)
    return _plan(infos, size, budget, max_requests)[1].ranges


def judge_sample(
    pieces: Pieces,
    size: int,
    spool: Spool,
    budget: int,
    max_requests: int,
    judging: tuple[tuple[int, ...], str | None, int],
) -> tuple[RuleResult, int]:
    """The sample judged: the rules' findings, and how many requests its plan made.

    The sampled bytes (~12 MB) come in a file the bot wrote each range to as it arrived, not
    as an argument: pickled, they were held by the bot twice (its list and the pickle) for the
    whole judgement, for every check in flight. Here they are one buffer, viewed, not copied.
    """
    resolutions, trigger, min_images = judging
    infos, start_dir = _directory(pieces, size)
    images, plan, chosen = _plan(infos, size, budget, max_requests)
    path, ranges = spool
    with open(path, "rb") as fh:
        data = memoryview(fh.read())
    views, at = [], 0
    for start, end in ranges:
        views.append((start, data[at : at + end - start]))
        at += end - start
    sample = ZipSample(
        _build(infos, start_dir, views, chosen, size), images, len(plan.sampled), len(plan.ranges)
    )
    verdict = run_loader(sample.entries, resolutions, trigger)
    if sample.sampled < sample.images:
        verdict.partial.insert(0, sample.sampling)
    rules = RuleResult()
    describe(verdict, rules, min_images=min_images)
    return rules, sample.requests


IDLE_SECONDS = 15.0  # a pool unused this long is stopped: its memory goes back to the system
_POOL: ProcessPoolExecutor | None = None
_busy = 0
_idle_timer: asyncio.TimerHandle | None = None


_starting = threading.Lock()


def _pool() -> ProcessPoolExecutor:
    """One small pool per process, started on first use ("spawn": no fork of a process with
    threads and an event loop) and stopped when a burst is over (`IDLE_SECONDS`). Called in a
    worker thread: starting a process takes tens of ms (the pool starts its workers when a
    task is submitted, so a no-op is)."""
    global _POOL
    with _starting:
        if _POOL is None:
            workers = max(1, min(2, (os.cpu_count() or 2) // 2))
            pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=steady_heap
            )
            pool.submit(int).result()
            _POOL = pool
        return _POOL


def _stop_if_idle() -> None:
    global _POOL
    if _busy == 0 and _POOL is not None:
        _POOL.shutdown(wait=False)
        _POOL = None


def worker_pids() -> list[int]:
    """The pool's processes (benchmarks count their memory as the bot's)."""
    processes: dict[int, Any] = getattr(_POOL, "_processes", None) or {}
    return list(processes)


async def in_worker(fn: Any, *args: Any) -> Any:
    """`fn(*args)` in the worker pool."""
    global _busy, _idle_timer
    loop = asyncio.get_running_loop()
    if _idle_timer is not None:
        _idle_timer.cancel()
    _busy += 1
    try:
        pool = _POOL if _POOL is not None else await asyncio.to_thread(_pool)
        return await loop.run_in_executor(pool, fn, *args)
    finally:
        _busy -= 1
        if _busy == 0:
            _idle_timer = loop.call_later(IDLE_SECONDS, _stop_if_idle)
