"""The trainer's `extract_zip`, replayed on a model of the folder instead of a disk.

Why: the trainer extracts every entry with `ZipFile.extract` except those whose name starts with
`__MACOSX/` or `._`, and any entry that makes `extract` raise stops the run. What `extract` does
with a name decides both: `../` and absolute names are sanitised into the folder, symlink entries
become plain files, a file and a folder with the same path collide, a name component longer than
the file system allows is refused, and the last of two equal paths wins. This module computes the
same target paths (CPython's `_extract_member` on POSIX) and the same collisions, and records the
content-level failures the caller found (bad CRC, encryption, unsupported compression).
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.dataset.entries import EntryView, Failure, Skipped
from bot.core.limits import NAME_MAX, PATH_MAX

if TYPE_CHECKING:  # the verdict runs this step; here it is only filled in
    from bot.core.dataset.verdict import DatasetVerdict

FOLDER = "input_images"  # the trainer's extraction folder, relative to its working directory
SKIPPED_PREFIXES = ("__MACOSX/", "._")
# What zipfile raises while reading an entry's content during `extract`.
EXTRACT_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    RuntimeError,
    NotImplementedError,
    OSError,
    ValueError,
)


def is_dir(info: zipfile.ZipInfo) -> bool:
    """`ZipInfo.is_dir()` without its IndexError on an empty name (such an entry fails
    extraction; the model says so instead of crashing)."""
    return info.filename.endswith("/")


def overlaps(
    infos: Sequence[zipfile.ZipInfo], start_dir: int, data_start: Callable[[zipfile.ZipInfo], int]
) -> dict[int, str]:
    """Entries whose data runs into the next entry or the directory: index -> why.

    The trainer's Python (3.10.14) refuses to read them ("Overlapped entries ... (possible zip
    bomb)", a 2024 security fix that older interpreters such as ours may lack), so the model
    applies the same rule itself: entries sorted by header offset, each ends where the next one
    (or the central directory) starts. `data_start` gives where an entry's data begins (from its
    local header, or a lower bound when that header was not read).
    """
    ends: dict[int, int] = {}
    end = start_dir
    for i in sorted(range(len(infos)), key=lambda i: infos[i].header_offset, reverse=True):
        ends[i] = end
        end = infos[i].header_offset
    out = {}
    for i, info in enumerate(infos):
        if not is_dir(info) and data_start(info) + info.compress_size > ends[i]:
            out[i] = (
                "its data overlaps the next entry (zipfile: 'Overlapped entries ... possible zip "
                "bomb'); the ZIP's directory is damaged"
            )
    return out


@dataclass
class Extraction:
    """The extracted folder: file path -> index of the entry that wrote it last, and folders."""

    files: dict[str, int] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {""})


def target_path(name: str) -> str:
    """Where `ZipFile.extract` writes entry `name`, relative to the folder ("" = the folder)."""
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    joined = posixpath.normpath(posixpath.join(FOLDER, "/".join(parts)))
    return "" if joined == FOLDER else joined[len(FOLDER) + 1 :]


def _too_long(path: str) -> str | None:
    for part in path.split("/"):
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            return f"a name in its path is over {NAME_MAX} bytes, too long for the file system"
    if len(f"{FOLDER}/{path}".encode("utf-8", "surrogateescape")) >= PATH_MAX:
        return f"its path is over {PATH_MAX} bytes, too long for the file system"
    return None


def _collision(tree: Extraction, path: str, is_dir: bool) -> str | None:
    """What `makedirs`/`mkdir`/`open` would trip over, given what is already extracted."""
    parts = path.split("/") if path else []
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix in tree.files:
            return f"'{prefix}' was extracted as a file, so it cannot also be a folder"
    if is_dir:
        if path in tree.files:
            return f"'{path}' was extracted as a file, so it cannot also be a folder"
    elif path in tree.dirs:
        where = f"'{path}'" if path else "the extraction folder itself"
        return f"{where} is a folder, so the entry cannot be written there as a file"
    return None


def _apply(tree: Extraction, path: str, is_dir: bool, index: int) -> None:
    parts = path.split("/") if path else []
    for i in range(1, len(parts)):
        tree.dirs.add("/".join(parts[:i]))
    if is_dir:
        tree.dirs.add(path)
    else:
        tree.files[path] = index


def _fail(verdict: DatasetVerdict, name: str, why: str) -> None:
    verdict.failures.append(Failure("extraction_fails", why, (name,)))


def extract(entries: Sequence[EntryView], verdict: DatasetVerdict) -> Extraction:
    """Replay `extract_zip`; every entry that would raise becomes an `extraction_fails` failure.

    The trainer stops at the first one; this goes on, so the user sees every entry to fix.
    """
    tree = Extraction()
    for index, entry in enumerate(entries):
        if entry.name.startswith(SKIPPED_PREFIXES):
            verdict.skipped.append(Skipped(entry.name, "macos_metadata", "never extracted"))
            continue
        if not entry.name:
            _fail(verdict, entry.name, "the entry has an empty name")
            continue
        is_dir = entry.is_dir
        path = target_path(entry.name)
        why = _too_long(path) or _collision(tree, path, is_dir)
        if why is None and not is_dir:
            why = _content_problem(entry)
        if why is not None:
            _fail(verdict, entry.name, why)
            continue
        if not is_dir and path in tree.files:
            earlier = entries[tree.files[path]].name
            detail = f"replaced by the later entry '{entry.name}' with the same path"
            verdict.skipped.append(Skipped(earlier, "overwritten", detail))
        _apply(tree, path, is_dir, index)
    return tree


def _content_problem(entry: EntryView) -> str | None:
    if entry.problem:
        return entry.problem
    if entry.read is None:
        return None
    try:
        entry.read()
    except EXTRACT_ERRORS as exc:
        return f"zipfile cannot extract it ({str(exc)[:80] or type(exc).__name__})"
    return None
