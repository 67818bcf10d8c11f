"""The dataset worker processes (`bot.core.dataset.workers`), real ones: a check keeps one worker
for its plan and its judgement, and the worker keeps the directory it parsed in between; workers
start only while every running one is busy, at most `MOST`; they run below the bot, without
numpy; one that dies is replaced; idle ones stop. And the sample's spool: a failed range stops
the others."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from bot.core.dataset import check, sampler, workers
from bot.core.dataset.check import SAMPLE_BUDGET
from bot.core.dataset.sampler import NeedBytes, judge_sample, plan_sample
from bot.core.dataset.zipremote import TAIL
from bot.core.errors import ServiceError
from tests.synthetic_zip import SyntheticZip
from tests.test_sampler import noise_png


def kept() -> list[str]:
    """In a worker: the checks whose parsed directory it keeps."""
    return list(sampler._parsed)


def state() -> tuple[int, bool, bool]:
    """In a worker, after a judgement: its niceness, whether numpy was imported, whether Pillow
    works."""
    from PIL import Image

    return os.nice(0), "numpy" in sys.modules, Image.new("RGB", (2, 2)).size == (2, 2)


@pytest.fixture(autouse=True)
async def no_workers_left() -> AsyncIterator[None]:
    yield
    workers._stop_if_idle()
    assert workers._workers == []


def planned(archive: SyntheticZip) -> tuple[list[tuple[int, bytes]], int]:
    size = len(archive)
    pieces = [(size - TAIL, archive[size - TAIL : size])]
    try:
        plan_sample(pieces, size, SAMPLE_BUDGET, 98)
    except NeedBytes as need:
        pieces.append((need.start, archive[need.start : need.end]))
    return pieces, size


async def test_a_check_keeps_its_worker_and_the_directory_it_parsed(tmp_path: Path) -> None:
    archive = SyntheticZip(1500, noise_png(), suffix="png")
    pieces, size = planned(archive)
    judging = ((768, 1024), "ZXQTOK", 2)
    async with workers.dataset_worker() as worker:
        ranges = await worker.run(plan_sample, pieces, size, SAMPLE_BUDGET, 98, "check-1")
        assert await worker.run(kept) == ["check-1"]
        spool = tmp_path / "sample"
        spool.write_bytes(b"".join(archive[a:b] for a, b in ranges))
        rules, requests = await worker.run(
            judge_sample, pieces, size, (str(spool), ranges), SAMPLE_BUDGET, 98, judging, "check-1"
        )
        assert await worker.run(kept) == []  # used once, then let go
    assert requests == len(ranges) and rules.counts["usable_images"] == 1500
    # the same judgement without anything kept (another process) parses again: the same result
    again, _ = judge_sample(pieces, size, (str(spool), ranges), SAMPLE_BUDGET, 98, judging, "x")
    assert again.counts == rules.counts and again.errors == rules.errors


def test_a_worker_forgets_checks_that_never_came_back() -> None:
    archive = SyntheticZip(40, noise_png(), suffix="png")
    pieces, size = planned(archive)
    sampler._parsed.clear()
    for i in range(sampler.KEPT + 3):
        plan_sample(pieces, size, SAMPLE_BUDGET, 98, f"check-{i}")
    assert list(sampler._parsed) == [f"check-{i}" for i in range(3, sampler.KEPT + 3)]
    sampler._parsed.clear()


async def test_workers_start_only_while_every_one_is_busy_and_at_most_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "MOST", 2)
    async with workers.dataset_worker() as first:
        one = await first.run(os.getpid)
    async with workers.dataset_worker() as again:  # the first is free again: no new one
        assert await again.run(os.getpid) == one
    async with (
        workers.dataset_worker() as a,
        workers.dataset_worker() as b,
        workers.dataset_worker() as c,
    ):
        pids = [await w.run(os.getpid) for w in (a, b, c)]
        assert len(set(pids)) == 2 and one in pids  # a second while the first was busy; no third
        assert sorted(workers.worker_pids()) == sorted(set(pids))


async def test_a_worker_runs_below_the_bot_without_numpy(tmp_path: Path) -> None:
    archive = SyntheticZip(40, noise_png(), suffix="png")
    pieces, size = planned(archive)
    async with workers.dataset_worker() as worker:
        ranges = await worker.run(plan_sample, pieces, size, SAMPLE_BUDGET, 98)
        spool = tmp_path / "sample"
        spool.write_bytes(b"".join(archive[a:b] for a, b in ranges))
        judging = ((768, 1024), "ZXQTOK", 2)
        await worker.run(
            judge_sample, pieces, size, (str(spool), ranges), SAMPLE_BUDGET, 98, judging
        )
        niceness, has_numpy, pillow_works = await worker.run(state)
    assert niceness == min(os.nice(0) + workers.NICE, 19)
    assert not has_numpy and pillow_works


async def test_a_worker_that_dies_is_replaced() -> None:
    async with workers.dataset_worker() as worker:
        dead = await worker.run(os.getpid)
        with pytest.raises(BrokenProcessPool):
            await worker.run(os._exit, 1)
    async with workers.dataset_worker() as worker:
        assert await worker.run(os.getpid) != dead


async def test_idle_workers_stop_and_give_their_memory_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "IDLE_SECONDS", 0.05)
    async with workers.dataset_worker() as worker:
        pid = await worker.run(os.getpid)
    for _ in range(200):
        await asyncio.sleep(0.05)
        if not workers._workers and not alive(pid):
            break
    assert workers.worker_pids() == [] and not alive(pid)


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


class Source:
    """A `RangeSource` whose range at offset 0 fails while the others are still under way."""

    def __init__(self) -> None:
        self.cancelled = 0

    async def fetch_range(self, start: int, end: int) -> bytes:
        if start == 0:
            await asyncio.sleep(0.01)
            raise ServiceError("The dataset host stopped answering byte ranges correctly.")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return bytes(end - start)


async def test_a_failed_range_stops_the_others(tmp_path: Path) -> None:
    source = Source()
    ranges = [(0, 10), (100, 110), (200, 210), (300, 310)]
    with tempfile.NamedTemporaryFile(dir=tmp_path) as spool:
        with pytest.raises(ServiceError, match="byte ranges"):
            await check._spool(source, ranges, spool)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert source.cancelled == 3
        assert content(spool.name) == b""  # nothing written, then or later


async def test_the_sample_is_written_in_plan_order_whatever_order_it_arrives(
    tmp_path: Path,
) -> None:
    class Reversed:
        async def fetch_range(self, start: int, end: int) -> bytes:
            await asyncio.sleep((1000 - start) / 20000)  # the last range arrives first
            return bytes([start // 100]) * (end - start)

    ranges = [(0, 5), (100, 103), (500, 510)]
    with tempfile.NamedTemporaryFile(dir=tmp_path) as spool:
        await check._spool(Reversed(), ranges, spool)  # type: ignore[arg-type]
        written = content(spool.name)
    assert written == b"\x00" * 5 + b"\x01" * 3 + b"\x05" * 10


def content(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
