"""Read a ZIP's directory and its members' first bytes without downloading the whole file.

Why: datasets are hundreds of MB, and everything the trainer's loader rules need sits in the
central directory (at the end) plus each image's first few KB. `RangeSource` serves byte ranges
over HTTP `Range` with a block cache, so the standard library's `zipfile` (run in a worker thread
on a file-like view whose reads are bridged to the event loop) parses the directory from one or
two requests. Member headers are then fetched concurrently, coalesced into a few large ranges,
within a byte budget. `FileSource` does the same over a downloaded copy (hosts without Range).
"""

from __future__ import annotations

import asyncio
import bz2
import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import IO, Protocol

from bot.core.dataset.imageinfo import sniff_image
from bot.core.dataset.rules import Entry, classify
from bot.core.errors import ServiceError
from bot.core.net import SafeFetcher

BLOCK = 4 * 1024
TAIL = 64 * 1024 + 22  # EOCD comment can be 64 KB; this usually covers the whole directory too
MAX_RUN = 1024 * 1024  # one range request never asks for more than this
HEADER_BUDGET = 8 * 1024 * 1024
PER_IMAGE_MAX, PER_IMAGE_MIN = 128 * 1024, 4 * 1024
FIRST_WINDOW = 16 * 1024  # PNG/WebP headers and most JPEG frame headers fit in this
CAPTION_MAX = 16 * 1024
CONCURRENCY = 6
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile's local file header layout (30 bytes)


class Source(Protocol):
    size: int

    async def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]: ...


class RangeSource:
    """A remote file read by HTTP byte ranges, cached in `BLOCK`-sized blocks."""

    def __init__(self, fetcher: SafeFetcher, url: str, size: int) -> None:
        self.fetcher, self.url, self.size = fetcher, url, size
        self._blocks: dict[int, bytes] = {}
        self._sem = asyncio.Semaphore(CONCURRENCY)

    def seed(self, first_block: bytes) -> None:
        """Cache block 0 fetched by the probe, so the first member's header costs nothing."""
        if len(first_block) == min(BLOCK, self.size):
            self._blocks[0] = first_block

    async def _fetch_run(self, first: int, last: int) -> None:
        start, end = first * BLOCK, min((last + 1) * BLOCK, self.size)
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
        for i in range(first, last + 1):
            self._blocks[i] = result.body[(i - first) * BLOCK : (i - first + 1) * BLOCK]

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


class FileSource:
    """A downloaded copy (host without Range support) behind the same interface."""

    def __init__(self, fileobj: IO[bytes], size: int) -> None:
        self.fileobj, self.size = fileobj, size

    async def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for start, end in ranges:
            self.fileobj.seek(max(start, 0))
            out.append(self.fileobj.read(max(min(end, self.size) - max(start, 0), 0)))
        return out


class _RangeFile(io.RawIOBase):
    """Sync, seekable view of a `RangeSource` for zipfile in a worker thread."""

    def __init__(self, source: RangeSource, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.source, self.loop, self.pos = source, loop, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.source.size}[whence]
        self.pos = max(base + offset, 0)
        return self.pos

    def read(self, size: int | None = -1) -> bytes:
        end = (
            self.source.size if size is None or size < 0 else min(self.pos + size, self.source.size)
        )
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


def _to_entry(info: zipfile.ZipInfo) -> Entry:
    mode = info.external_attr >> 16
    return Entry(
        name=info.filename,
        size=info.file_size,
        compress_size=info.compress_size,
        compress_type=info.compress_type,
        encrypted=bool(info.flag_bits & 0x1),
        is_dir=info.is_dir(),
        is_symlink=info.create_system == 3 and stat.S_ISLNK(mode),
        header_offset=info.header_offset,
    )


def _list_sync(fileobj: IO[bytes]) -> list[Entry]:
    with zipfile.ZipFile(fileobj) as archive:
        return [_to_entry(info) for info in archive.infolist()]


async def list_entries(source: Source) -> list[Entry]:
    """The central directory as `Entry`s; raises zipfile.BadZipFile (or OSError) if broken."""
    if isinstance(source, RangeSource):
        await source.read_many([(max(source.size - TAIL, 0), source.size)])
        view: IO[bytes] = _RangeFile(source, asyncio.get_running_loop())  # type: ignore[assignment]
        return await asyncio.to_thread(_list_sync, view)
    assert isinstance(source, FileSource)
    source.fileobj.seek(0)
    return await asyncio.to_thread(_list_sync, source.fileobj)


def _member_bytes(raw: bytes, entry: Entry, limit: int) -> bytes | None:
    """Up to `limit` decompressed bytes of a member from its local header onward; None = unknown."""
    if len(raw) < _LOCAL.size or raw[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(entry.name)
    fields = _LOCAL.unpack(raw[: _LOCAL.size])
    data = raw[_LOCAL.size + fields[10] + fields[11] :][: entry.compress_size]
    try:
        if entry.compress_type == zipfile.ZIP_STORED:
            return data[:limit]
        if entry.compress_type == zipfile.ZIP_DEFLATED:
            return zlib.decompressobj(-15).decompress(data, limit)
        if entry.compress_type == zipfile.ZIP_BZIP2:
            return bz2.BZ2Decompressor().decompress(data, limit)
    except (zlib.error, OSError, EOFError, ValueError):
        return b""
    return None


async def _read_plan(
    source: Source, plan: list[tuple[Entry, int, int, bool]], out: MemberReads, limit: int
) -> None:
    blobs = await source.read_many([(start, end) for _, start, end, _ in plan])
    for (entry, _, _, is_image), raw in zip(plan, blobs, strict=True):
        try:
            data = _member_bytes(raw, entry, limit if is_image else CAPTION_MAX)
        except zipfile.BadZipFile:
            out.corrupt.append(entry.name)
            continue
        if data is None:
            continue
        if is_image:
            out.images[entry.name] = data
        elif len(data) == entry.size:
            out.captions[entry.name] = data


class MemberReads:
    """What `read_members` found: first bytes of images, full captions, problems."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.captions: dict[str, bytes] = {}
        self.corrupt: list[str] = []
        self.skipped_images = 0


async def read_members(
    source: Source, entries: list[Entry], *, budget: int = HEADER_BUDGET
) -> MemberReads:
    """Fetch each image's first bytes and each small caption, concurrently, within `budget`."""
    out = MemberReads()
    images = [e for e in entries if classify(e) == "image" and not e.encrypted]
    captions = [
        e
        for e in entries
        if classify(e) == "caption" and not e.encrypted and e.compress_size <= CAPTION_MAX
    ]
    caption_bytes = sum(e.compress_size + 30 + len(e.name) * 2 + 64 for e in captions)
    room = max(budget - min(caption_bytes, budget // 4), 0)
    per_image = max(min(PER_IMAGE_MAX, room // max(len(images), 1)), PER_IMAGE_MIN)
    checked = images[: max(room // per_image, 0)]
    out.skipped_images = len(images) - len(checked)
    if caption_bytes > budget // 4:
        captions = captions[: int(len(captions) * (budget // 4) / caption_bytes)]
    first = min(FIRST_WINDOW, per_image)
    plan: list[tuple[Entry, int, int, bool]] = []
    for e in checked:
        extent = 30 + len(e.name.encode()) * 2 + 256 + e.compress_size
        plan.append((e, e.header_offset, e.header_offset + min(extent, first), True))
    for e in captions:
        extent = 30 + len(e.name.encode()) * 2 + 1024 + e.compress_size
        plan.append((e, e.header_offset, e.header_offset + extent, False))
    await _read_plan(source, plan, out, per_image)
    # JPEGs put their size after EXIF/ICC blocks (often 20-60 KB on phone photos): read more of
    # those whose frame header was not in the first window, while the budget lasts.
    left = budget - sum(end - start for _, start, end, _ in plan)
    again: list[tuple[Entry, int, int, bool]] = []
    for e in checked:
        data = out.images.get(e.name, b"")
        head = sniff_image(data)
        if head.format == "jpeg" and head.width is None and e.size > len(data) and left > 0:
            window = min(PER_IMAGE_MAX, left)
            again.append((e, e.header_offset, e.header_offset + window, True))
            left -= window
    await _read_plan(source, again, out, PER_IMAGE_MAX)
    return out
