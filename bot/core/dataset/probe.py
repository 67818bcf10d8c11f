"""The trainer's size probe, with the same library: Pillow opens and decodes each image.

Why Pillow: the trainer decides with `exif_transpose(Image.open(path))` on Pillow 10.4.0, which
opens by content (a PPM or TGA named `.png` is used), refuses decompression bombs (over
2 x `Image.MAX_IMAGE_PIXELS`) and, because `exif_transpose` copies the image, decodes every
pixel, so a truncated file is skipped. Running the same calls is the only honest prediction.

`probe_full` is that probe. `probe_head` is the cheap variant for a remote ZIP whose images are
too big to read: the first bytes give the format, size and EXIF rotation, and the last bytes say
whether the file ends the way its format ends (a truncation probe, not a decode).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# JPEGs over this many pixels are decoded at 1/8 scale: libjpeg still reads every byte (so a
# truncated file still fails) without holding hundreds of MB of pixels.
DRAFT_PIXELS = 24_000_000
_SWAPS = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90 degrees


@dataclass(frozen=True)
class Probe:
    """What the probe saw: a size (after EXIF rotation) or why the trainer skips the file."""

    width: int = 0
    height: int = 0
    format: str = ""
    error: str | None = None  # None = the trainer uses this image
    decoded: bool = True  # False = only the header and the end were checked


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        return "too many pixels: Pillow refuses it as a decompression bomb"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can open (e.g. HEIC, AVIF, or not an image at all)"
    text = str(exc).split("\n")[0][:100]
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return "the image data is truncated or damaged"
    return f"Pillow cannot decode it ({text or type(exc).__name__})"


def _oriented(image: Image.Image) -> tuple[int, int]:
    """Size after EXIF rotation, without decoding: a PNG without an eXIf chunk before its data
    would be decoded by `getexif()` to look for one after it, so it counts as unrotated."""
    if image.format == "PNG" and "exif" not in image.info:
        orientation = 1
    else:
        orientation = image.getexif().get(0x0112, 1)
    w, h = image.size
    return (h, w) if orientation in _SWAPS else (w, h)


def probe_full(data: bytes) -> Probe:
    """`exif_transpose(Image.open(...))` on the whole file, as the trainer runs it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                if fmt == "JPEG" and image.width * image.height > DRAFT_PIXELS:
                    width, height = _oriented(image)
                    image.draft("RGB", (image.width // 8, image.height // 8))
                    image.load()
                    return Probe(width, height, fmt)
                turned = ImageOps.exif_transpose(image) or image  # None only when in place
                return Probe(turned.width, turned.height, fmt)
        except Exception as exc:  # the trainer catches everything here and skips the file
            return Probe(error=_describe(exc))


def _ends_like(fmt: str, tail: bytes, size: int, head: bytes) -> bool:
    """Does the file end where its format says it ends? (Unknown formats: assume yes.)

    JPEG is not judged here: Pillow decodes a JPEG followed by other data (phone "motion
    photos" append a video; some tools pad), so a missing end marker in the last bytes proves
    nothing, and calling such a file truncated would refuse images the trainer uses.
    """
    if not tail:
        return True  # the end was not read (a compressed member): nothing to say
    if fmt == "PNG":
        return b"IEND" in tail[-32:]
    if fmt == "WEBP" and len(head) >= 8:
        return int.from_bytes(head[4:8], "little") + 8 <= size
    return True


_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def probe_head(head: bytes, tail: bytes, size: int) -> Probe:
    """Format, rotated size and a truncation probe from the first and last bytes of a file.

    A width of 0 with no error means "not known from the head" (a JPEG whose size marker sits
    after a long EXIF block): the file is counted, not judged.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(head)) as image:
                fmt = image.format or ""
                width, height = _oriented(image)
        except Image.DecompressionBombError as exc:
            return Probe(error=_describe(exc), decoded=False)
        except Exception as exc:
            if head.startswith(_MAGIC):
                return Probe(decoded=False)
            return Probe(error=_describe(exc), decoded=False)
    if not _ends_like(fmt, tail, size, head):
        return Probe(error="the image data is truncated (its end is missing)", decoded=False)
    return Probe(width, height, fmt, decoded=False)
