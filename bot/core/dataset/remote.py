"""A large remote ZIP as the loader model's entries: the directory for all, content for a sample.

Why: the directory alone gives every name and size, which is all the extraction, discovery and
caption-pairing steps need. Content is read for an evenly spaced sample of images (whole members
when small, else the first and last bytes) and their captions, within a byte and request budget
(`plan.plan_reads`); what was read is checked the way zipfile would check it while extracting
(local header, decompression, CRC). The report states the sample size.
"""

from __future__ import annotations

import bz2
import lzma
import posixpath
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.counted import ordinal
from bot.core.dataset.entries import EntryView
from bot.core.dataset.extract import SKIPPED_PREFIXES, is_dir, overlaps, target_path
from bot.core.dataset.plan import ALWAYS, HEAD, ReadPlan, Wanted, plan_reads
from bot.core.dataset.sizecache import CACHE_NAME
from bot.core.dataset.verdict import IMAGE_SUFFIXES

Buffer = bytes | memoryview
Fetched = list[tuple[int, memoryview]]  # (start offset, the bytes read there)
EXTRACTABLE = frozenset({0, 8, 12, 14})  # stored, deflate, bzip2, lzma: what zipfile reads
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile's local file header layout (30 bytes)


@dataclass(frozen=True)
class ZipSample:
    """What was read of a large ZIP: the entries for the model and how the images were sampled."""

    entries: list[EntryView]
    images: int
    sampled: int
    requests: int

    @property
    def sampling(self) -> str:
        if self.sampled >= self.images:
            if self.images == 1:
                return "the one image was read"
            return f"all {self.images} images were read"
        step = self.images / max(self.sampled, 1)
        return (
            f"{self.sampled} of {self.images} images were read (an evenly spaced sample, about "
            f"every {ordinal(round(step))} in ZIP order), with their captions"
        )


def directory_problem(info: zipfile.ZipInfo, size: int) -> str | None:
    """Extraction failures visible in the central directory alone."""
    if info.flag_bits & 0x41:
        return "the entry is password-protected, and the trainer extracts without a password"
    if info.compress_type not in EXTRACTABLE:
        return (
            f"it uses compression method {info.compress_type} (e.g. Deflate64), which Python's "
            "zipfile cannot extract"
        )
    return None


def _is_image(info: zipfile.ZipInfo) -> bool:
    return not is_dir(info) and info.filename.lower().endswith(IMAGE_SUFFIXES)


def _wanted(infos: Sequence[zipfile.ZipInfo], size: int) -> tuple[list[Wanted], list[Wanted]]:
    images: list[Wanted] = []
    stems: dict[str, int] = {}
    for i, info in enumerate(infos):
        if _is_image(info) and not info.filename.startswith(SKIPPED_PREFIXES):
            if directory_problem(info, size) is None:
                images.append(_want(i, info))
                stems[posixpath.splitext(target_path(info.filename))[0]] = i
    captions = []
    for i, info in enumerate(infos):
        owner = (
            stems.get(target_path(info.filename)[:-4]) if info.filename.endswith(".txt") else None
        )
        if owner is not None and directory_problem(info, size) is None:
            captions.append(_want(i, info, owner))
        elif target_path(info.filename) == CACHE_NAME and not is_dir(info):
            captions.append(_want(i, info, ALWAYS))  # the trainer's size cache: read it whole
    return images, captions


def _want(i: int, info: zipfile.ZipInfo, caption_of: int | None = None) -> Wanted:
    name_len = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"))
    stored = info.compress_type == zipfile.ZIP_STORED
    return Wanted(i, info.header_offset, name_len, info.compress_size, stored, caption_of)


def _decompress(info: zipfile.ZipInfo, data: Buffer, limit: int = -1) -> bytes:
    if info.compress_type == zipfile.ZIP_STORED:
        return bytes(data if limit < 0 else data[:limit])
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-15).decompress(data, max(limit, 0))
    if info.compress_type == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor().decompress(data, limit)
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_lzma_filters(data)).decompress(
        data[4 + data[2] :], limit
    )


def _lzma_filters(data: Buffer) -> list[dict[str, object]]:
    props = bytes(data[4 : 4 + data[2]])
    return [lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)]  # type: ignore[attr-defined]


def _whole(info: zipfile.ZipInfo, data: Buffer) -> Callable[[], bytes]:
    def read() -> bytes:
        out = _decompress(info, data)
        if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
        return out

    return read


def _complete(read: Callable[[], bytes]) -> bool:
    """A compressed stream can end before its listed size: then it is whole after all."""
    try:
        read()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, lzma.LZMAError):
        return False
    return True


def _view(info: zipfile.ZipInfo, fetched: Fetched | None, size: int) -> EntryView:
    view = EntryView(info.filename, is_dir(info), info.file_size)
    view.problem = directory_problem(info, size)
    if fetched is None or view.problem or view.is_dir:
        return view
    raw = _slice(fetched, info.header_offset, size) or memoryview(b"")
    fields = _LOCAL.unpack(raw[: _LOCAL.size]) if len(raw) >= _LOCAL.size else None
    if fields is None or fields[0] != b"PK\x03\x04":
        view.problem = "its local header is damaged (Bad magic number for file header)"
        return view
    start = _LOCAL.size + fields[10] + fields[11]
    data = raw[start : start + info.compress_size]
    whole = _whole(info, data)
    if len(data) == info.compress_size or _complete(whole):
        view.read = whole
        return view
    try:
        view.head = _decompress(info, data, HEAD)
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError):
        view.head = b""
    if info.compress_type == zipfile.ZIP_STORED:
        end = info.header_offset + start + info.compress_size
        view.tail = bytes(_slice(fetched, end - 128, end) or b"")
    return view


def _data_start(info: zipfile.ZipInfo, fetched: Fetched | None) -> int:
    """From the local header when it was read, else a lower bound (no extra field)."""
    header = _slice(fetched, info.header_offset, info.header_offset + 30) if fetched else None
    if header and len(header) == 30:
        return (
            info.header_offset
            + 30
            + int.from_bytes(header[26:28], "little")
            + int.from_bytes(header[28:30], "little")
        )
    return info.header_offset + 30 + len(info.orig_filename.encode("utf-8", "surrogateescape"))


def _slice(fetched: Fetched, start: int, end: int) -> memoryview | None:
    """The bytes [start, end) if one fetched range covers `start`; cut at that range's end."""
    for offset, body in fetched:
        if offset <= start < offset + len(body):
            return body[start - offset : end - offset]
    return None


def _plan(
    infos: Sequence[zipfile.ZipInfo], size: int, budget: int, max_requests: int
) -> tuple[int, ReadPlan, set[int]]:
    """Which entries to read, and in which ranges (image count, plan, entries chosen)."""
    images, captions = _wanted(infos, size)
    plan = plan_reads(images, captions, size=size, budget=budget, max_requests=max_requests)
    sampled = set(plan.sampled)
    chosen = sampled | {c.index for c in captions if c.caption_of in sampled | {ALWAYS}}
    return len(images), plan, chosen


def _build(
    infos: Sequence[zipfile.ZipInfo],
    start_dir: int,
    fetched: list[tuple[int, memoryview]],
    chosen: set[int],
    size: int,
) -> list[EntryView]:
    """The loader model's entries; the chosen ones read from views of the fetched ranges (no
    copies: the bytes go when the entries do)."""
    entries = [_view(info, fetched if i in chosen else None, size) for i, info in enumerate(infos)]
    starts = {
        id(info): _data_start(info, fetched if i in chosen else None)
        for i, info in enumerate(infos)
    }
    for i, why in overlaps(infos, start_dir, lambda info: starts[id(info)]).items():
        entries[i].problem = entries[i].problem or why
    return entries
