"""Read parts of a large remote ZIP over HTTP ranges.

Why: datasets are hundreds of MB, and what the loader model needs first sits in the central
directory (at the end). `RangeSource` serves byte ranges over HTTP `Range`: `read_many` through
a block cache (the ZIP's end and the rest of its directory, which the worker process parses,
see `sampler`), `fetch_range` in one uncached request (each of the sample's planned ranges).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.core.errors import ServiceError
from bot.core.http.fetcher import SafeFetcher

BLOCK = 4 * 1024
# The first read of every check: one TCP initial window's worth, so it costs no more round trips
# than a few bytes would, and a ZIP of a couple of small images is whole after it.
FIRST_READ = 4 * BLOCK
TAIL = 64 * 1024 + 22  # EOCD comment can be 64 KB; this usually covers the whole directory too
MAX_RUN = 1024 * 1024  # a directory read is fetched in runs of at most this
CONCURRENCY = 6


class RangeSource:
    """A remote file read by HTTP byte ranges, cached in `BLOCK`-sized blocks."""

    def __init__(self, fetcher: SafeFetcher, url: str, size: int) -> None:
        self.fetcher, self.url, self.size = fetcher, url, size
        self._blocks: dict[int, bytes] = {}
        self._sem = asyncio.Semaphore(CONCURRENCY)

    def seed(self, first: bytes) -> None:
        """Cache the blocks the check's first read holds, so the first members' headers cost
        nothing (a short last block only when it is the end of the file)."""
        for i in range(0, len(first), BLOCK):
            block = first[i : i + BLOCK]
            if len(block) == min(BLOCK, self.size - i):
                self._blocks[i // BLOCK] = block

    async def fetch_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end) in one request (no cache)."""
        async with self._sem:
            result = await self.fetcher.fetch(
                self.url, headers={"Range": f"bytes={start}-{end - 1}"}, max_bytes=end - start
            )
        if result.status != 206 or len(result.body) != end - start:
            raise ServiceError(
                f"The dataset host stopped answering byte ranges correctly (HTTP {result.status}, "
                f"{len(result.body)} of {end - start} bytes); try again or host the file "
                "elsewhere.",
                status=result.status,
            )
        return result.body

    async def _fetch_run(self, first: int, last: int) -> None:
        body = await self.fetch_range(first * BLOCK, min((last + 1) * BLOCK, self.size))
        for i in range(first, last + 1):
            self._blocks[i] = body[(i - first) * BLOCK : (i - first + 1) * BLOCK]

    async def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Bytes for each [start, end) range; missing blocks fetched in coalesced runs."""
        wanted = sorted(
            {
                i
                for start, end in ranges
                if end > start
                for i in range(max(start, 0) // BLOCK, (min(end, self.size) - 1) // BLOCK + 1)
                if i not in self._blocks
            }
        )
        runs: list[tuple[int, int]] = []
        for i in wanted:
            if runs and runs[-1][1] == i - 1 and (i - runs[-1][0] + 1) * BLOCK <= MAX_RUN:
                runs[-1] = (runs[-1][0], i)
            else:
                runs.append((i, i))
        await asyncio.gather(*(self._fetch_run(a, b) for a, b in runs))
        return [self._slice(start, end) for start, end in ranges]

    def _slice(self, start: int, end: int) -> bytes:
        start, end = max(start, 0), min(end, self.size)
        if end <= start:
            return b""
        parts = [self._blocks[i] for i in range(start // BLOCK, (end - 1) // BLOCK + 1)]
        offset = start - (start // BLOCK) * BLOCK
        return b"".join(parts)[offset : offset + end - start]
