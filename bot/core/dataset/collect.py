"""Local datasets as named byte sources: a folder (recursively), a .zip file, or .zip bytes.

Why: a user's own pictures reach the trainer only after we judge and repack them, so the first
step turns whatever they gave into one shape, `Member` (a dataset-relative name, its size, and
its bytes when the judge needs them). Only images and captions are read; every other file is
listed by name and size so the report can say it is ignored. Reading stops at `READ_CAP`
(twice Replicate's upload limit): a dataset that big could never be uploaded anyway.
"""

from __future__ import annotations

import io
import os
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bot.core.dataset.archive import data_start
from bot.core.dataset.extract import EXTRACT_ERRORS, is_dir, overlaps
from bot.core.dataset.verdict import IMAGE_SUFFIXES as TRAINER_IMAGES
from bot.core.errors import InputError
from bot.core.limits import (
    BOMB_MIN_SIZE,
    BOMB_RATIO,
    MAX_TOTAL_UNCOMPRESSED,
    MIB,
    READ_CAP,
    UPLOAD_LIMIT,
)

ARCHIVE_SUFFIXES = (".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif", ".bmp", ".tif")
# The upload's URL shape, for checks (the trainer's input schema) that run before the upload.
UPLOAD_STAND_IN = "https://api.replicate.com/v1/files/not-uploaded-yet"


@dataclass(frozen=True)
class Member:
    """One entry of a dataset, in order; `data` is None for files the trainer never reads,
    `problem` says why zipfile could not extract it (bad CRC, overlap, password...);
    `left_out` says why a folder's entry is not part of the dataset at all."""

    name: str
    size: int
    data: bytes | None = None
    is_dir: bool = False
    problem: str | None = None
    left_out: str | None = None  # a folder's file that cannot be read at all (a looping link)


@dataclass(frozen=True)
class Entry:
    """What a ZIP's central directory says about one member (for the unpacked-size guard)."""

    name: str
    size: int = 0
    compress_size: int = 0


def _wanted(name: str) -> bool:
    """Files the loader reads: image candidates and (lower-case) .txt captions."""
    return posixpath.basename(name).lower().endswith(TRAINER_IMAGES) or name.endswith(".txt")


def human_size(size: int) -> str:
    """`28 KB`, `3.4 MB`: enough precision for a person, in the units Replicate's limit uses."""
    return f"{size / MIB:.1f} MB" if size >= MIB else f"{max(size // 1024, 1)} KB"


def too_big_message(size: int, what: str, url_option: str) -> str:
    """The one sentence for a dataset over the upload limit: how big, and what to do."""
    return (
        f"{what} is {size / MIB:.1f} MB, but Replicate takes uploads of at most "
        f"{UPLOAD_LIMIT // MIB} MiB; use fewer or smaller images (JPEG, about 1024 px is plenty), "
        f"or host a .zip yourself and give its link as {url_option}."
    )


def _unsupported(name: str, field: str) -> InputError | None:
    lower = name.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        return InputError(
            f"{field}: {name} is not a .zip; the trainer reads only ZIP archives, so re-pack the "
            "images (and .txt captions) as a .zip.",
            field=field,
        )
    if lower.endswith(IMAGE_SUFFIXES):
        return InputError(
            f"{field}: {name} is a single image; give a folder of images or a .zip of them "
            "(at least 2 images, 10 or more recommended).",
            field=field,
        )
    return None


def require_exists(path: Path, *, field: str) -> None:
    """A dataset path that is not there: one line, before anything else is shown or read."""
    if not Path(path).expanduser().exists():
        raise InputError(
            f"{field}: {str(path)!r} does not exist; give a folder of images or a .zip file.",
            field=field,
        )


def collect_path(path: Path, *, field: str, url_option: str) -> tuple[list[Member], list[Entry]]:
    """A folder or a .zip on disk -> its members (and, for a ZIP, its raw directory)."""
    path = Path(path).expanduser()
    if path.is_dir():
        return collect_folder(path, field=field, url_option=url_option), []
    require_exists(path, field=field)
    problem = _unsupported(path.name, field)
    if problem is not None:
        raise problem
    try:
        with path.open("rb") as fh:
            if not zipfile.is_zipfile(fh):
                raise InputError(
                    f"{field}: {path.name} is not a ZIP archive; give a folder of images or a "
                    ".zip of them.",
                    field=field,
                )
            fh.seek(0)
            return collect_zip(fh, path.name, field=field, url_option=url_option)
    except OSError as exc:
        raise InputError(
            f"{field}: {path.name} cannot be read ({exc.strerror or exc}).", field=field
        ) from None


def _broken_link(path: Path) -> str | None:
    """Why a symbolic link leads nowhere (to itself, in a loop, to a missing file), else None.

    Such a link is no file of the dataset: it is left out with a warning, where reading it
    would stop the whole check."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        import errno

        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops back on itself"
        return f"a symbolic link to nothing ({exc.strerror or exc})"
    return None


def collect_folder(root: Path, *, field: str, url_option: str) -> list[Member]:
    """Every file under `root`, sorted; only images and captions are read into memory."""
    members: list[Member] = []
    total = 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for base in sorted(files):
            full = Path(folder) / base
            name = full.relative_to(root).as_posix()
            broken = _broken_link(full)
            if broken is not None:
                members.append(Member(name, 0, left_out=broken))
                continue
            try:
                size = full.stat().st_size
                data = full.read_bytes() if _wanted(name) else None
            except OSError as exc:
                raise InputError(
                    f"{field}: {name} cannot be read ({exc.strerror or exc}).", field=field
                ) from None
            total += len(data) if data is not None else 0
            if total > READ_CAP:
                raise InputError(
                    too_big_message(total, f"The folder {root.name}", url_option), field=field
                )
            members.append(Member(name, size, data))
    if not members:
        raise InputError(
            f"{field}: the folder {root.name} is empty; put your images (and .txt captions) in it.",
            field=field,
        )
    return members


def _entry(info: zipfile.ZipInfo) -> Entry:
    return Entry(name=info.filename, size=info.file_size, compress_size=info.compress_size)


def _read(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, keep: bool
) -> tuple[bytes | None, str | None]:
    """Read a member as `extract` would (CRC checked); keep the bytes only when asked."""
    try:
        with archive.open(info) as handle:
            if keep:
                return handle.read(), None
            while handle.read(1024 * 1024):
                pass
            return None, None
    except EXTRACT_ERRORS as exc:
        return None, f"zipfile cannot extract it ({str(exc)[:80] or type(exc).__name__})"


def collect_zip(
    fileobj: io.IOBase | io.BufferedReader | io.BytesIO, label: str, *, field: str, url_option: str
) -> tuple[list[Member], list[Entry]]:
    """A ZIP's entries in order, as the trainer's extraction meets them.

    Every member is read once (so a bad CRC or overlapping data is found, as `extract` would);
    only images and captions keep their bytes. Duplicate names stay: the model lets the last win.
    """
    try:
        archive = zipfile.ZipFile(fileobj)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(
            f"{field}: {label} is damaged ({str(exc)[:80]}); re-create the ZIP and try again.",
            field=field,
        ) from None
    with archive:
        infos = archive.infolist()
        entries = [_entry(i) for i in infos]
        bomb = bool(bomb_entries(entries))
        wanted = sum(i.file_size for i in infos if _wanted(i.filename) and not bomb)
        if wanted > READ_CAP:
            raise InputError(too_big_message(wanted, label, url_option), field=field)
        start_dir = int(getattr(archive, "start_dir", 0))
        overlapped = overlaps(infos, start_dir, lambda i: data_start(fileobj, i))  # type: ignore[arg-type]
        members = []
        for index, info in enumerate(infos):
            if is_dir(info):
                members.append(Member(info.filename, 0, is_dir=True))
                continue
            problem = overlapped.get(index)
            data = None
            if problem is None and not bomb:
                data, problem = _read(archive, info, keep=_wanted(info.filename))
            members.append(Member(info.filename, info.file_size, data, problem=problem))
    return members, entries


def bomb_entries(entries: list[Entry]) -> list[str]:
    """Entries that unpack far beyond their packed size (all of them when the total is absurd)."""
    bombs = [
        e.name
        for e in entries
        if e.size > BOMB_MIN_SIZE and e.size > BOMB_RATIO * max(e.compress_size, 1)
    ]
    if sum(e.size for e in entries) > MAX_TOTAL_UNCOMPRESSED:
        return bombs or [e.name for e in entries]
    return bombs


def display_name(name: str) -> str:
    """The last path part, for labels where the whole path would not fit."""
    return posixpath.basename(name) or name
