"""Read a large ZIP's directory and parts of its members over HTTP ranges.

Why: datasets are hundreds of MB, and what the loader model needs first sits in the central
directory (at the end). `RangeSource` serves byte ranges over HTTP `Range` with a block cache, so
the standard library's `zipfile` (run in a worker thread on a file-like view whose reads are
bridged to the event loop) parses the directory from one or two requests. `read_ranges` then
fetches the few coalesced ranges `plan.plan_reads` chose, one request each, and `member_views`
turns them into the loader model's `EntryView`s (whole members, or first and last bytes).
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Sequence
from typing import IO

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

    def cached(self, start: int, end: int) -> bytes | None:
        """The bytes if every block is cached (for the sync view), else None."""
        first, last = max(start, 0) // BLOCK, (min(end, self.size) - 1) // BLOCK
        if any(i not in self._blocks for i in range(first, last + 1)):
            return None
        return self._slice(start, end)


class SeekableRaw(io.RawIOBase):
    """A read-only, seekable file of `size` bytes for zipfile; subclasses say how `read` gets
    the bytes at `pos` (from the network, or from pieces already fetched)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.pos = size, 0

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

    def end_of(self, size: int | None) -> int:
        """Where a `read(size)` from `pos` stops."""
        return self.size if size is None or size < 0 else min(self.pos + size, self.size)


class _RangeFile(SeekableRaw):
    """Sync, seekable view of a `RangeSource` for zipfile in a worker thread."""

    def __init__(self, source: RangeSource, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(source.size)
        self.source, self.loop = source, loop

    def read(self, size: int | None = -1) -> bytes:
        end = self.end_of(size)
        data = self.source.cached(self.pos, end)
        if data is None:
            future = asyncio.run_coroutine_threadsafe(
                self.source.read_many([(self.pos, end)]), self.loop
            )
            data = future.result(timeout=120)[0]
        self.pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _list_sync(fileobj: IO[bytes]) -> tuple[list[zipfile.ZipInfo], int]:
    with zipfile.ZipFile(fileobj) as archive:
        return archive.infolist(), int(getattr(archive, "start_dir", 0))


async def list_entries(source: RangeSource) -> tuple[list[zipfile.ZipInfo], int]:
    """The central directory and where it starts; raises zipfile.BadZipFile (or OSError) if it
    is broken."""
    await source.read_many([(max(source.size - TAIL, 0), source.size)])
    view: IO[bytes] = _RangeFile(source, asyncio.get_running_loop())  # type: ignore[assignment]
    return await asyncio.to_thread(_list_sync, view)


async def read_ranges(
    source: RangeSource, ranges: Sequence[tuple[int, int]]
) -> list[tuple[int, bytes]]:
    """Each planned range in one request, concurrently: (start offset, bytes)."""
    bodies = await asyncio.gather(*(source.fetch_range(a, b) for a, b in ranges))
    return [(a, body) for (a, _), body in zip(ranges, bodies, strict=True)]
