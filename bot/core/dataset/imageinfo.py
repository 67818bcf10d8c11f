"""Image format, size and transparency from an image's first bytes, without Pillow.

Why: the dataset check reads only the first few KB of each image inside a remote ZIP, and must
tell a real JPEG from a HEIC photo renamed to .jpg. Pillow would need the whole file and is not a
dependency; these headers are simple enough to read by hand.
"""

from __future__ import annotations

import posixpath
import struct
from collections.abc import Iterable
from dataclasses import dataclass

MIN_SIDE_ERROR, MIN_SIDE_WARN, MAX_SIDE_WARN = 64, 256, 2048
OPENABLE = frozenset({"jpeg", "png", "webp", "gif", "bmp", "tiff"})  # Pillow opens by content
EXT_FORMAT = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
RawFinding = tuple[str, str, str, list[str]]  # severity, code, message, paths
_MESSAGES: dict[str, tuple[str, str]] = {
    "unreadable_images": (
        "warning",
        "{n} files have an image extension but are not JPEG/PNG/WebP "
        "inside (often HEIC photos renamed to .jpg); the trainer skips them, so convert them to "
        "real JPEG or PNG.",
    ),
    "extension_mismatch": (
        "warning",
        "{n} images have an extension that does not match their "
        "real format; the trainer still opens them, but rename them to avoid surprises.",
    ),
    "image_too_small": (
        "error",
        "{n} images are under 64 px on a side and only teach blur; "
        "remove them or use larger originals.",
    ),
    "image_small": (
        "warning",
        "{n} images are under 256 px on a side; the trainer never "
        "upscales, so they train poorly at 512-1024 px buckets.",
    ),
    "image_large": (
        "warning",
        "{n} images are over 2048 px on a side; the trainer downsizes "
        "them anyway, so shrink them to make the upload smaller.",
    ),
    "image_alpha": (
        "warning",
        "{n} images have transparency; the trainer drops it and trains on "
        "whatever colour lies underneath, so flatten them onto a background.",
    ),
    "webp_images": (
        "note",
        "{n} images are WebP, which ai-toolkit notes 'has issues'; JPEG or PNG is safer.",
    ),
}


@dataclass
class ImageHeader:
    """Format and size read from an image's first bytes; `format` None = not an image we know."""

    format: str | None
    width: int | None = None
    height: int | None = None
    alpha: bool = False


def _png(data: bytes) -> ImageHeader:
    if len(data) < 26 or data[12:16] != b"IHDR":
        return ImageHeader("png")
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    alpha = colour in (4, 6)
    pos = 8
    while not alpha and pos + 8 <= len(data):  # tRNS must come before IDAT
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"tRNS":
            alpha = True
        if kind == b"IDAT":
            break
        pos += 12 + length
    return ImageHeader("png", width, height, alpha)


def _jpeg(data: bytes) -> ImageHeader:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return ImageHeader("jpeg")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return ImageHeader("jpeg", width, height)
        if marker in (0xD9, 0xDA):  # end of image / start of scan without a frame header
            break
        pos += 2 + length
    return ImageHeader("jpeg")


def _webp(data: bytes) -> ImageHeader:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader(
            "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
        )
    if kind == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height, bool(data[20] & 0x10))
    return ImageHeader("webp")


def sniff_image(data: bytes) -> ImageHeader:
    """Identify an image by its magic bytes; read its size (and alpha) where the format allows."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return ImageHeader("gif", width, height)
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return ImageHeader("bmp", abs(width), abs(height))
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ImageHeader("tiff")
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return ImageHeader("avif")
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return ImageHeader("heic")
    return ImageHeader(None)


def check_images(
    images: Iterable[str], headers: dict[str, ImageHeader | None]
) -> tuple[set[str], list[RawFinding]]:
    """Real format vs extension, size and alpha per image; also returns those the trainer skips."""
    hits: dict[str, list[str]] = {code: [] for code in _MESSAGES}
    for name in images:
        head = headers.get(name)
        if head is None:
            continue
        if head.format not in OPENABLE:
            hits["unreadable_images"].append(name)
            continue
        if head.format != EXT_FORMAT.get(posixpath.splitext(name)[1].lower()):
            hits["extension_mismatch"].append(f"{name} ({head.format})")
        if head.format == "webp":
            hits["webp_images"].append(name)
        if head.alpha:
            hits["image_alpha"].append(name)
        if head.width and head.height:
            low, high = min(head.width, head.height), max(head.width, head.height)
            label = f"{name} ({head.width}x{head.height})"
            if low < MIN_SIDE_ERROR:
                hits["image_too_small"].append(label)
            elif low < MIN_SIDE_WARN:
                hits["image_small"].append(label)
            if high > MAX_SIDE_WARN:
                hits["image_large"].append(label)
    findings = [
        (_MESSAGES[code][0], code, _MESSAGES[code][1].format(n=len(paths)), paths)
        for code, paths in hits.items()
        if paths
    ]
    return set(hits["unreadable_images"]), findings
