"""The verdict on a local dataset: the same report as for a URL, plus what exactly is usable.

Why an adapter: the loader rules (`rules.py`) judge a listing and header bytes; with a local
dataset every byte is at hand, so each image is also decoded in full with Pillow the way the
trainer's size probe does (`exif_transpose(Image.open(...))`), and an image Pillow cannot decode
is skipped, as the trainer skips it. The result names every usable image with its caption (what
`pack` puts in the upload) and every skipped file with its reason (what the contact sheet marks).
"""

from __future__ import annotations

import io
import posixpath
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from bot.core.dataset.check import DatasetReport
from bot.core.dataset.collect import Member
from bot.core.dataset.imageinfo import ImageHeader, check_images, sniff_image
from bot.core.dataset.rules import (
    Entry,
    RuleResult,
    check_archive,
    check_dataset,
    classify,
)

THUMB = 192
_NOT_AN_IMAGE = "not a JPEG, PNG or WebP inside"
_REASONS = {
    "macos": "macOS metadata",
    "appledouble": "macOS ._ file",
    "unsupported_image": "format the trainer ignores",
    "video": "video",
    "other": "not an image or caption",
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


@dataclass
class Verdict:
    report: DatasetReport
    usable: list[Usable] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


def _caption_name(name: str) -> str:
    folder, base = posixpath.split(name)
    return posixpath.join(folder, posixpath.splitext(base)[0] + ".txt")


def _decode(data: bytes) -> tuple[int, int, Image.Image]:
    """Decode in full like the trainer's probe; returns the upright size and a thumbnail."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as raw:
            upright = ImageOps.exif_transpose(raw)
            upright.load()
    width, height = upright.size
    thumb = upright.convert("RGB")
    thumb.thumbnail((THUMB, THUMB))
    return width, height, thumb


def _decode_all(
    members: dict[str, Member], images: list[str], headers: dict[str, ImageHeader | None]
) -> tuple[dict[str, tuple[int, int, Image.Image]], dict[str, str]]:
    decoded: dict[str, tuple[int, int, Image.Image]] = {}
    failed: dict[str, str] = {}
    unreadable, _ = check_images(images, headers)
    for name in images:
        data = members[name].data
        if not data:
            failed[name] = "could not be read from the archive"
        elif name in unreadable:
            failed[name] = _NOT_AN_IMAGE
        else:
            try:
                decoded[name] = _decode(data)
            except Exception as exc:  # Pillow raises many types; the trainer skips on any
                failed[name] = f"cannot be decoded ({type(exc).__name__})"
    return decoded, failed


def judge(
    members: list[Member],
    *,
    label: str,
    trigger_word: str | None,
    archive_entries: list[Entry] | None = None,
) -> Verdict:
    """Judge `members` in full; `archive_entries` are the raw ZIP directory when one was given."""
    report = DatasetReport(url=label)
    rules = RuleResult()
    if archive_entries:
        check_archive(archive_entries, rules)
    by_name = {m.name: m for m in members}
    entries = [Entry(name=m.name, size=m.size) for m in members]
    kinds = {e.name: classify(e) for e in entries}
    images = [n for n, k in kinds.items() if k == "image"]
    headers: dict[str, ImageHeader | None] = {
        n: sniff_image(by_name[n].data or b"") for n in images
    }
    decoded, failed = _decode_all(by_name, images, headers)
    broken = [n for n, why in failed.items() if why != _NOT_AN_IMAGE]
    for name in failed:
        headers[name] = ImageHeader(None)  # the rules count it as one the trainer skips
    if broken:
        rules.add(
            "warning",
            "undecodable_images",
            f"{len(broken)} images are damaged or cut short and cannot be decoded, so the "
            "trainer skips them; export them again.",
            broken,
        )
    captions = {n: by_name[n].data for n, k in kinds.items() if k == "caption"}
    check_dataset(entries, headers, captions, trigger_word, rules)
    _not_twice(rules, set(broken))
    report._merge(rules)
    verdict = Verdict(report=report)
    for name in sorted(decoded):
        width, height, thumb = decoded[name]
        caption = by_name.get(_caption_name(name))
        verdict.usable.append(
            Usable(name, by_name[name].data or b"", caption.data if caption else None,
                   width, height, thumb)
        )  # fmt: skip
    used_captions = {_caption_name(u.name) for u in verdict.usable}
    for name, kind in sorted(kinds.items()):
        if name in failed:
            verdict.skipped.append((name, failed[name]))
        elif kind == "caption" and name not in used_captions:
            verdict.skipped.append((name, "caption without an image of the same name"))
        elif kind in _REASONS:
            verdict.skipped.append((name, _REASONS[kind]))
    return verdict


def _not_twice(rules: RuleResult, broken: set[str]) -> None:
    """A damaged image is reported once, as damaged, not also as 'not an image inside'."""
    for finding in list(rules.warnings):
        if finding.code == "unreadable_images":
            finding.paths = [p for p in finding.paths if p not in broken]
            if not finding.paths:
                rules.warnings.remove(finding)
