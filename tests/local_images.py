"""Real, fully decodable images for local-dataset tests (Pillow writes them; no binary fixtures).

The header-only images of `dataset_corpus` are enough for the remote check, which reads a few
bytes; a local dataset is decoded in full, so these tests need complete files.
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

from PIL import Image

TRIGGER = "ZXQTOK"


def jpeg(width: int = 320, height: int = 256, seed: int = 0, *, noise: int = 0) -> bytes:
    """A JPEG of one colour per seed; with `noise` about that many bytes of random pixels
    (incompressible; JPEG at quality 95 spends ~1.18 bytes on a noise pixel)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), 90, rng.randrange(256)))
    if noise:
        side = max(int((noise / 1.18) ** 0.5), 64)
        image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def png(width: int = 300, height: int = 300, seed: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (seed % 256, 40, 200)).save(out, format="PNG")
    return out.getvalue()


def dataset_files(count: int = 12, trigger: str = TRIGGER) -> dict[str, bytes]:
    """`count` captioned JPEGs in a subfolder, as name -> bytes."""
    files: dict[str, bytes] = {}
    for i in range(count):
        files[f"photos/img{i:02d}.jpg"] = jpeg(seed=i)
        files[f"photos/img{i:02d}.txt"] = f"a photo of {trigger} number {i}".encode()
    return files


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
