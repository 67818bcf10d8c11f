"""A local dataset judged: the same report as for a URL, plus the images the upload takes.

Why an adapter: every byte of a local dataset is at hand, so the loader model (`verdict.py`) runs
in full on the collected members (extraction names and collisions, Pillow decoding every image,
buckets, captions). This turns its verdict into what the upload path needs: each usable image
with its bytes, its caption file's bytes and a thumbnail (what `pack` uploads and the contact
sheet shows), and every skipped file with its reason.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from bot.core.counted import count
from bot.core.dataset.archive import Resolutions, parse_resolutions
from bot.core.dataset.collect import Entry, Member, bomb_entries
from bot.core.dataset.entries import EntryView, Failure
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.rules import RuleResult, describe
from bot.core.dataset.verdict import run_loader
from bot.core.limits import BOMB_RATIO, DEFAULT_MIN_IMAGES, MAX_TOTAL_UNCOMPRESSED, MIB

THUMB = 192
# Short reasons drawn under a refused image on the contact sheet (the report says the rest).
REFUSED_WHY = {
    "zero_side_bucket": "too small or narrow",
    "caption_unreadable": "is not UTF-8 text",
}


@dataclass
class Usable:
    """An image the trainer will train on, with its caption (None = trigger word alone)."""

    name: str
    data: bytes
    caption: bytes | None
    width: int
    height: int
    thumb: Image.Image | None = None
    refused: str | None = None  # why the check refuses the dataset over this image, if it does


@dataclass
class Selection:
    """The report, the images the upload takes (with their bytes) and what it leaves out, why."""

    report: DatasetReport
    usable: list[Usable] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


def _const(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _thumb(data: bytes) -> Image.Image | None:
    """A small upright RGB copy for the contact sheet (JPEGs decoded at reduced scale)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as raw:
                raw.draft("RGB", (THUMB * 2, THUMB * 2))
                upright = ImageOps.exif_transpose(raw) or raw
                thumb = upright.convert("RGB")
        except Exception:  # the model already decoded it; a thumbnail is only decoration
            return None
    thumb.thumbnail((THUMB, THUMB))
    return thumb


def _views(members: Sequence[Member]) -> list[EntryView]:
    return [
        EntryView(
            m.name,
            m.is_dir,
            m.size,
            read=_const(m.data) if m.data is not None else None,
            problem=m.problem,
        )
        for m in members
    ]


def _refused(failures: Sequence[Failure]) -> dict[str, str]:
    """Entry name -> why it makes the check refuse the dataset, for the contact sheet."""
    out: dict[str, str] = {}
    for failure in failures:
        why = REFUSED_WHY.get(failure.code, failure.detail)
        for name in failure.names:
            out.setdefault(name, why)
    return out


def judge(
    members: list[Member],
    *,
    label: str,
    trigger_word: str | None,
    archive_entries: list[Entry] | None = None,
    resolution: Resolutions = None,
    min_images: int = DEFAULT_MIN_IMAGES,
) -> Selection:
    """Judge `members` (in ZIP or folder order) in full; `archive_entries` is the raw ZIP
    directory when one was given (for the unpacked-size guard)."""
    report = DatasetReport(url=label)
    rules = RuleResult()
    left_out = [(m.name, m.left_out) for m in members if m.left_out]
    members = [m for m in members if not m.left_out]
    model = run_loader(_views(members), parse_resolutions(resolution), trigger_word, uploaded=False)
    describe(model, rules, min_images=min_images)
    if left_out:
        rules.add(
            "warning",
            "files_left_out",
            f"{count(len(left_out), 'file is', 'files are')} left out because "
            f"{'it cannot' if len(left_out) == 1 else 'they cannot'} be read "
            f"({'; '.join(f'{n}: {why}' for n, why in left_out[:3])}"
            f"{f'; and {len(left_out) - 3} more' if len(left_out) > 3 else ''}); remove or fix "
            f"{'it' if len(left_out) == 1 else 'them'} if an image was meant.",
            [n for n, _ in left_out],
        )
    bombs = bomb_entries(archive_entries or [])
    if bombs:
        rules.add(
            "error",
            "compression_bomb",
            "Team policy: the ZIP unpacks to far more than it weighs (over "
            f"{MAX_TOTAL_UNCOMPRESSED // (1024 * MIB)} GB, or entries over {BOMB_RATIO}x their "
            "packed size), so it was not unpacked; zip only the images and "
            "captions.",
            bombs,
        )
    report._merge(rules)
    data_of = {m.name: m.data for m in members if m.data is not None}
    selection = Selection(report=report)
    refused = _refused(model.failures)
    for image in sorted(model.usable, key=lambda u: u.name):
        data = image.read() if image.read is not None else b""
        caption = data_of.get(image.caption_name) if image.caption_name else None
        why = refused.get(image.name) or (
            refused.get(image.caption_name) if image.caption_name else None
        )
        if why and image.name not in refused:
            why = f"its caption {why}"
        selection.usable.append(
            Usable(image.name, data, caption, image.width, image.height, _thumb(data), why)
        )
    selection.skipped = [(s.name, s.detail or s.reason) for s in model.skipped]
    selection.skipped += [(name, why) for name, why in left_out]
    selection.skipped += [
        (n, "caption without an image that uses it") for n in model.orphan_captions
    ]
    selection.skipped.sort()
    return selection
