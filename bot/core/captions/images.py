"""The copy of an image the captioner sees: a data URI of at most 1024 px and about 1 MB.

Why a copy: Replicate takes data URIs for files under about 1 MB, so nothing is hosted or
deleted, but a training image is often bigger. The training image itself is never touched; the
captioner gets an upright RGB JPEG, smaller and lower in quality until it fits.
"""

from __future__ import annotations

import base64
import io
import warnings

from PIL import Image, ImageOps

from bot.core.limits import CAPTION_DATA_URI_BYTES, CAPTION_IMAGE_SIDE

MAX_SIDE = CAPTION_IMAGE_SIDE
MAX_BYTES = CAPTION_DATA_URI_BYTES  # the URI is base64: 4/3 of the JPEG
_QUALITIES = (90, 80, 70, 60, 50)


class UnreadableImageError(ValueError):
    """Pillow could not decode the image (the dataset check would have said why)."""


def captioner_copy(data: bytes, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> bytes:
    """JPEG bytes no wider or taller than `max_side` and, base64-encoded, under `max_bytes`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as raw:
                raw.draft("RGB", (max_side, max_side))
                image = (ImageOps.exif_transpose(raw) or raw).convert("RGB")
        except Exception as exc:
            raise UnreadableImageError(str(exc)[:80] or type(exc).__name__) from None
    side = max_side
    while True:
        copy = image.copy()
        copy.thumbnail((side, side))
        for quality in _QUALITIES:
            out = io.BytesIO()
            copy.save(out, format="JPEG", quality=quality)
            if len(out.getvalue()) * 4 // 3 + 32 <= max_bytes:
                return out.getvalue()
        side = max(64, side * 3 // 4)
        if side == 64:  # pragma: no cover - a 64 px JPEG is a few KB
            return out.getvalue()


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
