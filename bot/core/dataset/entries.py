"""The loader model's vocabulary: an entry as read, a skipped file, a failure, a usable image.

Kept apart from the verdict (`verdict.py`) so the extraction step, the verdict and the rules
share the types without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class EntryView:
    """One ZIP entry, with as much of its content as the caller could read.

    `read` returns the whole decompressed content and raises what zipfile raises while
    extracting (bad CRC, truncated data); `problem` is an extraction failure known without
    reading (encrypted, unsupported method, damaged local header); `head`/`tail` are the first
    and last bytes when the content was too big to read.
    """

    name: str
    is_dir: bool = False
    size: int = 0
    read: Callable[[], bytes] | None = None
    problem: str | None = None
    head: bytes = b""
    tail: bytes = b""


@dataclass(frozen=True)
class Skipped:
    """A file the trainer does not train on, and why (`reason` is a stable code)."""

    name: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Failure:
    """Something that stops the trainer's run; `names` are the entries involved."""

    code: str
    detail: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsableImage:
    """An image the trainer trains on: its entry, extracted path, size and caption.

    `width == 0` means the size is not known (a remote image that was not read); `caption` is
    the cleaned caption text ("" when the caption file is empty), None without a caption file;
    `prompt` is what the trainer pairs with the image (trigger word injected).
    """

    name: str
    path: str
    width: int
    height: int
    format: str
    caption: str | None
    caption_name: str | None
    prompt: str
    read: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def checked(self) -> bool:
        return self.width > 0
