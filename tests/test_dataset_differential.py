"""The loader model against a re-creation of the trainer's steps on a real disk.

Every generated ZIP mixes the classes where a summary of the trainer went wrong: tiny and narrow
images (zero-side buckets or not), `._` folders, truncated images, bad CRCs, a file and a folder
with one name, over-long names, `../` and absolute names, symlink entries, junk before the ZIP,
non-UTF-8 captions (of used and of skipped images), formats Pillow opens under another name, a
file named just `.jpg`, `.TXT` captions, duplicate names, decompression bombs. The verdict, the
usable count and the captioned count must equal the re-creation's, for every ZIP.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import warnings
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.core.dataset.archive import judge_archive
from bot.sim.trainer_dataset import trainer_outcome
from tests import dataset_corpus
from tests.dataset_corpus import heic_bytes, patch_central

# The same image bytes serve many ZIPs: generating them is most of a case's cost.
png_bytes = functools.lru_cache(maxsize=None)(dataset_corpus.png_bytes)
jpeg_bytes = functools.lru_cache(maxsize=None)(dataset_corpus.jpeg_bytes)
webp_bytes = functools.lru_cache(maxsize=None)(dataset_corpus.webp_bytes)
image_bytes = functools.lru_cache(maxsize=None)(dataset_corpus.image_bytes)

SIZES = [(256, 256), (300, 200), (320, 240), (64, 103), (80, 1900), (2000, 80), (50, 400)]
WEIGHTS = [6, 3, 3, 1, 1, 1, 2]
RESOLUTIONS = [[512, 768], [768, 1024], [256], [1024]]


def _bomb() -> bytes:
    """A PNG header claiming more pixels than Pillow allows (it refuses it at open)."""
    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", 20000, 20000)
    return bytes(data)


def _image(rng: random.Random) -> tuple[str, bytes]:
    w, h = rng.choices(SIZES, WEIGHTS)[0]
    kind = rng.randrange(12)
    if kind == 0:
        return ".jpg", jpeg_bytes(h, w, orientation=6)  # stored sideways, EXIF turns it
    if kind == 1:
        return ".png", image_bytes(rng.choice(["PPM", "TGA", "PCX", "ICO" if w < 256 else "BMP"]))
    if kind == 2:
        return ".png", png_bytes(w, h)[: -rng.randrange(20, 60)]  # truncated
    if kind == 3:
        return ".jpg", heic_bytes()
    if kind == 4:
        return ".png", _bomb()
    if kind == 5:
        return ".webp", webp_bytes(w, h)
    return rng.choice([".png", ".PNG", ".jpeg"]), png_bytes(w, h)


def _name(rng: random.Random, stem: str, ext: str, taken: list[str]) -> str:
    folder = rng.choice(["", "", "", "", "", "sub/", "._dot/", "a/._", "__MACOSX/", "../", "/a/"])
    kind = rng.randrange(24)
    if kind == 0 and taken:
        return rng.choice(taken)  # duplicate name, or a file where a folder will be
    if kind == 1:
        return folder + ("x" * 260) + ext
    if kind == 2:
        return folder + ext  # a file named just ".jpg"
    return folder + stem + ext


def random_zip(rng: random.Random) -> bytes:
    """A ZIP drawn from every class in the module docstring."""
    members: list[tuple[str, bytes, bool]] = []  # name, data, symlink
    taken: list[str] = []
    for i in range(rng.randrange(0, 6)):
        ext, data = _image(rng)
        name = _name(rng, f"img{i}", ext, taken)
        members.append((name, data, False))
        taken.append(name)
        stem = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
        caption = rng.randrange(9)
        if caption in (1, 5, 6):
            members.append((stem + ".txt", f"a photo of [trigger], {i}".encode(), False))
        elif caption == 2:
            members.append((stem + ".TXT", b"upper-case extension", False))
        elif caption == 3 and rng.random() < 0.5:
            members.append((stem + ".txt", b"caf\xe9 latin-1", False))
        elif caption == 4:
            members.append((stem + ".txt", b"", False))
    if rng.random() < 0.08 and taken:
        members.append((taken[0] + "/inner.png", png_bytes(), False))  # file vs folder
    if rng.random() < 0.15:
        members.append(("link.jpg", b"../../etc/hostname", True))
    raw = _write(members, corrupt=rng.random() < 0.06)
    if members and rng.random() < 0.06:  # a directory that lies about a size: overlap
        raw = patch_central(raw, rng.choice(members)[0], compress_size=10**6)
    return b"junk before the zip" + raw if rng.random() < 0.1 else raw


def _write(members: list[tuple[str, bytes, bool]], *, corrupt: bool) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are on purpose
        for name, data, link in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            if link:
                info.create_system, info.external_attr = 3, 0o120777 << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_STORED)
        infos = [i for i in archive.infolist() if i.file_size > 0]
    raw = bytearray(buf.getvalue())
    if corrupt and infos:  # flip one data byte: a bad CRC for zipfile
        info = infos[-1]
        at = info.header_offset + 30 + len(info.filename.encode()) + info.file_size - 1
        raw[at] ^= 0xFF
    return bytes(raw)


def _compare(seed: int) -> tuple[bool, bool, bool, bool]:
    rng = random.Random(seed)
    data = random_zip(rng)
    resolutions = rng.choice(RESOLUTIONS)
    truth = trainer_outcome(data, resolutions)
    model = judge_archive(data, resolutions, "TOK")
    same = model.fails == truth.fails
    if truth.fails or model.fails:
        return same, same, same, truth.fails
    return same, len(model.usable) == truth.usable, model.captioned == truth.captioned, False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_model_agrees_with_the_trainer(seed: int) -> None:
    rng = random.Random(seed)
    data = random_zip(rng)
    resolutions = rng.choice(RESOLUTIONS)
    truth = trainer_outcome(data, resolutions)
    model = judge_archive(data, resolutions, "TOK")
    assert model.fails == truth.fails, (truth.why, model.failures)
    if not truth.fails:
        assert len(model.usable) == truth.usable
        assert model.captioned == truth.captioned


def test_agreement_figures_over_300_zips() -> None:
    results = [_compare(seed) for seed in range(300)]
    verdict, usable, captioned, failing = (sum(r[i] for r in results) for i in range(4))
    print(
        f"\nloader model vs trainer re-creation over {len(results)} ZIPs ({failing} fail in the "
        f"trainer): verdict {verdict}/300, usable count {usable}/300, "
        f"captioned count {captioned}/300"
    )
    assert (verdict, usable, captioned) == (300, 300, 300)
