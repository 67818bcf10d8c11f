"""A local dataset from start to upload-ready: collect, judge in full, pack, contact sheet.

Both front ends call this: the CLI with `--dataset PATH`, the bot with the bytes of a Discord
attachment. Nothing here touches the network; the upload happens only at Start
(`bot.core.replicate.files`). The work is CPU-bound (every image decoded), so the async entry
points run it in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.counted import count
from bot.core.dataset.archive import Resolutions
from bot.core.dataset.collect import (
    Entry,
    Member,
    collect_path,
    collect_zip,
    human_size,
    too_big_message,
)
from bot.core.dataset.judge import judge
from bot.core.dataset.pack import Packed, pack
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.rules import Finding
from bot.core.dataset.sheet import contact_sheet
from bot.core.limits import DEFAULT_MIN_IMAGES, UPLOAD_LIMIT


@dataclass
class LocalDataset:
    """The report, the upload (None when the dataset is refused) and the contact sheet PNG."""

    label: str
    report: DatasetReport
    packed: Packed | None
    sheet: bytes | None

    @property
    def ok(self) -> bool:
        return self.report.ok and self.packed is not None


def prepare_members(
    members: list[Member],
    entries: list[Entry] | None,
    *,
    label: str,
    trigger_word: str | None,
    url_option: str,
    with_sheet: bool = True,
    resolution: Resolutions = None,
    min_images: int = DEFAULT_MIN_IMAGES,
) -> LocalDataset:
    """Judge, pack (only when nothing is fatal) and draw the sheet, in that order.

    `resolution` is the training's (bucket rules depend on it); `min_images` the team policy.
    """
    selection = judge(
        members,
        label=label,
        trigger_word=trigger_word,
        archive_entries=entries,
        resolution=resolution,
        min_images=min_images,
    )
    report = selection.report
    packed: Packed | None = None
    if report.ok:
        packed = pack(selection.usable)
        report.counts["upload_bytes"] = packed.size
        if packed.size > UPLOAD_LIMIT:
            report.errors.append(
                Finding(
                    "upload_too_large",
                    too_big_message(packed.size, "The packed dataset", url_option),
                )
            )
            packed = None
        else:
            captions = sum(1 for u in selection.usable if u.caption is not None)
            report.notes.append(
                Finding(
                    "upload_contents",
                    f"Uploaded at Start: {count(len(selection.usable), 'image')} and "
                    f"{count(captions, 'caption')} "
                    f"in one {human_size(packed.size)} ZIP (only what the trainer uses).",
                )
            )
    report.bytes_read = sum(len(m.data or b"") for m in members)
    sheet = contact_sheet(selection) if with_sheet else None
    return LocalDataset(label=label, report=report, packed=packed, sheet=sheet)


def prepare_source_sync(
    source: Path | bytes | list[Member],
    label: str,
    *,
    trigger_word: str | None,
    field: str,
    url_option: str,
    with_sheet: bool = True,
    resolution: Resolutions = None,
    min_images: int = DEFAULT_MIN_IMAGES,
) -> LocalDataset:
    """Collect (a folder or .zip on disk, the bytes of one .zip, or attachments already read as
    members), then judge at the resolutions the training will use (`None`: the trainer's
    buckets for 768 and 1024), pack and draw the sheet."""
    entries: list[Entry] | None = None
    if isinstance(source, Path):
        members, entries = collect_path(source, field=field, url_option=url_option)
    elif isinstance(source, bytes):
        members, entries = collect_zip(
            io.BytesIO(source), label, field=field, url_option=url_option
        )
    else:
        members = source
    return prepare_members(
        members,
        entries,
        label=label,
        trigger_word=trigger_word,
        url_option=url_option,
        with_sheet=with_sheet,
        resolution=resolution,
        min_images=min_images,
    )


def prepare_path_sync(path: Path, **options: Any) -> LocalDataset:
    return prepare_source_sync(Path(path), Path(path).name, **options)


def prepare_zip_bytes_sync(data: bytes, label: str, **options: Any) -> LocalDataset:
    return prepare_source_sync(data, label, **options)


async def prepare_path(path: Path, **options: Any) -> LocalDataset:
    """A folder or .zip on disk, judged and packed off the event loop."""
    return await asyncio.to_thread(prepare_source_sync, Path(path), Path(path).name, **options)


async def prepare_upload(source: list[Member] | bytes, label: str, **options: Any) -> LocalDataset:
    """Attachments (the bytes of one .zip, or loose images and captions as members), judged
    and packed off the event loop."""
    return await asyncio.to_thread(prepare_source_sync, source, label, **options)
