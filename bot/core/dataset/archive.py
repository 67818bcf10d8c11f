"""Judge a dataset in full: a local ZIP file, ZIP bytes, or a folder about to be zipped.

Why: when the bytes are at hand nothing has to be guessed, so every step of the loader model runs
on every entry (zipfile reads each member, which checks its CRC; Pillow decodes each image).
This is the public entry point for "train on your own images": collect the files, judge them,
then pack only `verdict.usable` (each with `read()` and its caption file) into the ZIP to upload.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from bot.core.dataset.entries import EntryView, Failure
from bot.core.dataset.extract import EXTRACT_ERRORS, is_dir, overlaps
from bot.core.dataset.verdict import DatasetVerdict, run_loader

DEFAULT_RESOLUTIONS = (768, 1024)  # the product's default `training.resolution`
Resolutions = str | int | Sequence[int] | None


def parse_resolutions(value: Resolutions) -> tuple[int, ...]:
    """`"768,1024"`, `1024` or `[768, 1024]` -> (768, 1024); None -> the product default."""
    if value is None:
        return DEFAULT_RESOLUTIONS
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        try:
            sizes = tuple(int(part) for part in value.split(","))
        except ValueError:
            raise ValueError(
                f'resolution {value!r} is not a list of sizes; use sizes like "768,1024"'
            ) from None
    else:
        sizes = tuple(int(v) for v in value)
    if not sizes or any(s <= 0 for s in sizes):
        raise ValueError(f'resolution {value!r} must list positive sizes, like "768,1024"')
    return sizes


def _reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        with archive.open(info) as handle:
            return handle.read()

    return read


def judge_zip(
    fileobj: IO[bytes], resolutions: Resolutions = None, trigger_word: str | None = "TOK"
) -> DatasetVerdict:
    """The whole model over an open, seekable ZIP file object (kept open by the verdict)."""
    sizes = parse_resolutions(resolutions)
    if not zipfile.is_zipfile(fileobj):
        return DatasetVerdict(
            failures=[Failure("not_a_zip", "input_images must be a zip file")], resolutions=sizes
        )
    try:
        archive = zipfile.ZipFile(fileobj)
    except (*EXTRACT_ERRORS, UnicodeDecodeError, zipfile.LargeZipFile) as exc:
        why = f"zipfile cannot open it ({str(exc)[:80] or type(exc).__name__})"
        return DatasetVerdict(failures=[Failure("archive_unreadable", why)], resolutions=sizes)
    infos = archive.infolist()
    entries = [
        EntryView(info.filename, is_dir(info), info.file_size, read=_reader(archive, info))
        for info in infos
    ]
    start_dir = getattr(archive, "start_dir", fileobj.seek(0, io.SEEK_END))
    for i, why in overlaps(infos, start_dir, lambda info: data_start(fileobj, info)).items():
        entries[i].problem = why
    return run_loader(entries, sizes, trigger_word)


def data_start(fileobj: IO[bytes], info: zipfile.ZipInfo) -> int:
    """Where the entry's data begins, from its local header (its own name and extra lengths)."""
    fileobj.seek(info.header_offset)
    header = fileobj.read(30)
    if len(header) < 30:
        return info.header_offset + 30
    return (
        info.header_offset
        + 30
        + int.from_bytes(header[26:28], "little")
        + int.from_bytes(header[28:30], "little")
    )


def judge_folder(
    folder: str | os.PathLike[str],
    resolutions: Resolutions = None,
    trigger_word: str | None = "TOK",
) -> DatasetVerdict:
    """The model over a folder as if it were zipped with paths relative to it (`zip -r`)."""
    root = Path(folder)
    entries = []
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            entries.append(EntryView(rel, False, path.stat().st_size, read=path.read_bytes))
    return run_loader(entries, parse_resolutions(resolutions), trigger_word)


def judge_archive(
    source: str | os.PathLike[str] | bytes,
    resolutions: Resolutions = None,
    trigger_word: str | None = "TOK",
) -> DatasetVerdict:
    """Judge ZIP bytes, a ZIP file or a folder in full: the trainer's verdict, usable images
    (`.usable`: archive name, `read()` for the bytes, caption), and every skipped file with why.
    """
    if isinstance(source, bytes | bytearray):
        return judge_zip(io.BytesIO(bytes(source)), resolutions, trigger_word)
    path = Path(source)
    if path.is_dir():
        return judge_folder(path, resolutions, trigger_word)
    return judge_zip(path.open("rb"), resolutions, trigger_word)
