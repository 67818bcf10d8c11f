"""Captions already paid for, keyed by image content + model + version + prompt.

Why a folder of small files: the CLI and the bot share it (both read `SD35L_CONFIG_DIR`), it
needs no schema or lock (each entry is written to a temporary name, then renamed), and a user
can delete it to pay again. What is stored is the model's text before cleaning, so a change of
the forbidden words or the length cap applies without a new request.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from bot.core.log import get_logger

log = get_logger(__name__)

MAX_ENTRY = 64 * 1024


def image_key(image: bytes, model: str, version: str, prompt: str) -> str:
    """The cache key: a change of any of the four is a different caption."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(image).digest())
    for part in (model, version, prompt):
        digest.update(b"\x00" + part.encode("utf-8"))
    return digest.hexdigest()


class CaptionCache:
    """`get`/`put` model text by key; every failure to read or write is a cache miss."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).expanduser()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.txt"

    def get(self, key: str) -> str | None:
        try:
            data = self._path(key).read_bytes()[:MAX_ENTRY]
        except OSError:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def put(self, key: str, text: str) -> None:
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text[:MAX_ENTRY], encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("caption cache not written (%s); the caption is still used", exc)
