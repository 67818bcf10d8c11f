"""The ZIP we upload: exactly the usable images and their captions, in deterministic bytes.

Why deterministic: the same pictures must give the same bytes (same SHA-256), so a Start that is
retried after a crash or a failed create recognises the upload it already made instead of paying
for another. So: sorted entries, fixed timestamps and permissions, images stored (they are
already compressed), captions deflated. Names are rewritten to a short unique `0001_stem.ext`
form: the originals may repeat across folders, exceed file-system limits or share a stem (a.jpg
and a.png both read a.txt), and none of that should reach the trainer.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from bot.core.dataset.judge import Usable

_EPOCH = (1980, 1, 1, 0, 0, 0)
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")
_PACKED = re.compile(r"^\d{4}_(?=.)")
STEM_MAX = 40


@dataclass
class Packed:
    """The upload's bytes, their SHA-256, and each original name's name inside the ZIP."""

    data: bytes
    sha256: str
    names: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def filename(self) -> str:
        """A stable upload name: the same content always uploads under the same name."""
        return f"dataset-{self.sha256[:16]}.zip"


def short_name(index: int, name: str) -> str:
    """`0007_my-photo.jpg`: an index for uniqueness, a readable clipped stem, the extension."""
    stem, ext = posixpath.splitext(posixpath.basename(name))
    stem = _PACKED.sub("", stem)  # a reviewed pack is packed again: keep one index
    slug = _SLUG.sub("-", stem).strip("-")[:STEM_MAX] or "image"
    return f"{index:04d}_{slug}{ext.lower()}"


def _info(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = compress
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    return info


def pack(usable: list[Usable]) -> Packed:
    """The deterministic ZIP of `usable` (sorted by original name)."""
    buffer = io.BytesIO()
    names: dict[str, str] = {}
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, item in enumerate(sorted(usable, key=lambda u: u.name), start=1):
            packed = short_name(index, item.name)
            names[item.name] = packed
            archive.writestr(_info(packed, zipfile.ZIP_STORED), item.data)
            if item.caption is not None:
                caption = posixpath.splitext(packed)[0] + ".txt"
                archive.writestr(_info(caption, zipfile.ZIP_DEFLATED), item.caption)
    data = buffer.getvalue()
    return Packed(data=data, sha256=hashlib.sha256(data).hexdigest(), names=names)
