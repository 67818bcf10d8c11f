"""Captions changed by hand: a form's fields, or a text file of `name: caption` lines.

Why names are matched loosely: the reviewed dataset's images are named `0003_photo.jpg` in the
packed ZIP (what Start uploads), while people write `photo.jpg`, `photo` or the packed name. A
line matches an image by its packed name, its stem, or its stem without the index, when that is
unambiguous; every line that matches nothing (or two images) is refused by line number.
"""

from __future__ import annotations

import posixpath
import re

from bot.core.captions.run import caption_name, with_captions
from bot.core.dataset.collect import Member
from bot.core.errors import InputError

MAX_FILE_BYTES = 64 * 1024
MAX_EDITED = 4000  # a form's text input holds at most this
FIELD = "captions"
_INDEX = re.compile(r"^\d{4}_")


def _aliases(name: str) -> set[str]:
    base = posixpath.basename(name)
    stem = posixpath.splitext(base)[0]
    out = {name.lower(), base.lower(), stem.lower()}
    plain = _INDEX.sub("", stem)
    out |= {plain.lower(), (plain + posixpath.splitext(base)[1]).lower()}
    return out


def edited_caption(text: str) -> str | None:
    """A caption typed by a person, kept as written but on one line; empty means none."""
    tidy = " ".join(text.split())[:MAX_EDITED]
    return tidy or None


def apply_edits(members: list[Member], edits: dict[str, str | None]) -> list[Member]:
    """`members` with each edited image's `.txt` replaced, or removed for None."""
    gone = {caption_name(image) for image, text in edits.items() if text is None}
    kept = [m for m in members if m.name not in gone]
    return with_captions(kept, {image: text for image, text in edits.items() if text})


def parse_caption_file(data: bytes, images: list[str]) -> dict[str, str | None]:
    """`name: caption` lines -> {image: caption or None}; blank lines and `#` comments skipped."""
    if len(data) > MAX_FILE_BYTES:
        raise InputError(
            f"{FIELD}: the file is {len(data) // 1024} KB; a caption file may be at most "
            f"{MAX_FILE_BYTES // 1024} KB.",
            field=FIELD,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"{FIELD}: the file is not UTF-8 text; save it as UTF-8.", field=FIELD
        ) from None
    owners: dict[str, list[str]] = {}
    for image in images:
        for alias in _aliases(image):
            owners.setdefault(alias, []).append(image)
    found: dict[str, str | None] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, colon, caption = line.partition(":")
        matches = sorted(set(owners.get(name.strip().lower(), []))) if colon else []
        if len(matches) != 1:
            why = "no `name:`" if not colon else ("no such image" if not matches else "two images")
            problems.append(f"line {number} ({why})")
            continue
        found[matches[0]] = edited_caption(caption)
    if problems:
        raise InputError(
            f"{FIELD}: these lines match no single image: {', '.join(problems[:10])}; write "
            "`name: caption`, one image per line (the names are in the captions list).",
            field=FIELD,
        )
    if not found:
        raise InputError(f"{FIELD}: the file has no `name: caption` lines.", field=FIELD)
    return found
