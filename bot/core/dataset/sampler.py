"""A large ZIP's sample judged in a worker process: its directory parsed, its reads planned,
its entries built and run through the loader model, the verdict told in words.

Why a process and not a thread: for a ZIP of 5,000 captioned images this is ~300 ms of pure
Python over 10,000 directory entries and as many objects. In a thread it holds the GIL (and
its garbage collections) against the event loop, so every member's acknowledgement waited; and
the objects it churned stayed in the bot's heap as fragments long after the check. In a worker
process the bot only sends bytes and receives a `RuleResult`.

The worker has no network: `plan_sample` and `judge_sample` get the bytes the bot fetched (the
ZIP's end, its directory; the sampled ranges in a spool file, see `judge_sample`) and raise
`NeedBytes` when the directory goes beyond them; the bot fetches those and asks again. The
worker keeps what `plan_sample` parsed for the same check's `judge_sample` (`workers` sends both
to one process); both are deterministic, so a judgement that finds nothing kept parses the same
directory into the same plan whose ranges were fetched.
"""

from __future__ import annotations

import io
import zipfile
from collections import OrderedDict

from bot.core.dataset.plan import ReadPlan
from bot.core.dataset.remote import ZipSample, _build, _plan
from bot.core.dataset.rules import RuleResult, describe
from bot.core.dataset.verdict import run_loader

Pieces = list[tuple[int, bytes]]  # (offset, bytes) of the ZIP the bot has read
Spool = tuple[str, list[tuple[int, int]]]  # a file of the sampled ranges back to back, the ranges


class NeedBytes(Exception):
    """The directory reaches bytes the bot has not read yet: [start, end)."""

    def __init__(self, start: int, end: int) -> None:
        super().__init__(start, end)
        self.start, self.end = start, end


class _Sparse(io.RawIOBase):
    """A read-only, seekable file of `size` bytes of which only `pieces` are known (zipfile
    reads the directory through it)."""

    def __init__(self, pieces: Pieces, size: int) -> None:
        super().__init__()
        self.size, self.pos = size, 0
        self.pieces = sorted(pieces)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(base + offset, 0)
        return self.pos

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.pos + size, self.size)
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


Parsed = tuple[list[zipfile.ZipInfo], int, int, ReadPlan, set[int]]
_parsed: OrderedDict[str, Parsed] = OrderedDict()  # by check: what `plan_sample` worked out
KEPT = 8  # a check that never came back for its judgement is forgotten after this many more


def _parse(pieces: Pieces, size: int, budget: int, max_requests: int) -> Parsed:
    infos, start_dir = _directory(pieces, size)
    images, plan, chosen = _plan(infos, size, budget, max_requests)
    return infos, start_dir, images, plan, chosen


def plan_sample(
    pieces: Pieces, size: int, budget: int, max_requests: int, key: str | None = None
) -> list[tuple[int, int]]:
    """The ranges to read for the sample (raises NeedBytes, or what zipfile raises). With a
    `key`, what it parsed is kept for `judge_sample` of the same key in this process."""
    parsed = _parse(pieces, size, budget, max_requests)
    if key is not None:
        _parsed[key] = parsed
        while len(_parsed) > KEPT:
            _parsed.popitem(last=False)
    return parsed[3].ranges


def judge_sample(
    pieces: Pieces,
    size: int,
    spool: Spool,
    budget: int,
    max_requests: int,
    judging: tuple[tuple[int, ...], str | None, int],
    key: str | None = None,
) -> tuple[RuleResult, int]:
    """The sample judged: the rules' findings, and how many requests its plan made.

    The sampled bytes (~12 MB) come in a file the bot wrote each range to as it arrived, not
    as an argument: pickled, they were held by the bot twice (its list and the pickle) for the
    whole judgement, for every check in flight. Here they are one buffer, viewed, not copied.
    The directory is parsed again only if this process has not kept it under `key` (both
    functions are deterministic, so it is the same).
    """
    resolutions, trigger, min_images = judging
    parsed = _parsed.pop(key, None) if key is not None else None
    infos, start_dir, images, plan, chosen = parsed or _parse(pieces, size, budget, max_requests)
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
