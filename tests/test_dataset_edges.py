"""A hand-made corpus of edge cases: for each, the trainer's outcome written down by hand, and both
the loader model and the trainer re-creation must produce it. Plus the pieces of the remote path
(read planning, the head/tail probe) and the local judge's folder mode.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from bot.core.dataset.archive import judge_archive, judge_folder, parse_resolutions
from bot.core.dataset.buckets import bucket_for
from bot.core.dataset.plan import Wanted, coalesce, plan_reads
from bot.core.dataset.probe import probe_full, probe_head
from bot.core.dataset.verdict import clean_caption, inject_trigger
from bot.sim.trainer_dataset import trainer_outcome
from tests.dataset_corpus import heic_bytes, image_bytes, jpeg_bytes, make_zip, png_bytes

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # duplicates on purpose
PNG = png_bytes(320, 240)


def _zip(*members: tuple[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    return make_zip(members, symlinks=symlinks)


def _bad_crc() -> bytes:
    raw = bytearray(make_zip([("a.png", PNG), ("b.png", PNG)], method=zipfile.ZIP_STORED))
    raw[30 + len("a.png") + 40] ^= 0xFF  # inside a.png's data
    return bytes(raw)


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = (20000).to_bytes(4, "big") * 2
    return bytes(data)


# name: (zip bytes, resolutions, fails, usable, captioned)
CORPUS: dict[str, tuple[Callable[[], bytes], list[int], bool, int, int]] = {
    "healthy with captions": (
        lambda: _zip(("a.png", PNG), ("a.txt", b"red"), ("b.png", PNG)),
        [512, 768],
        False,
        2,
        1,
    ),
    "64x103 gets a zero-side bucket": (
        lambda: _zip(("a.png", png_bytes(64, 103))),
        [512],
        True,
        1,
        0,
    ),
    "80x1900 zero side": (lambda: _zip(("a.png", png_bytes(80, 1900))), [1024], True, 1, 0),
    "2000x80 zero side": (lambda: _zip(("a.png", png_bytes(2000, 80))), [768], True, 1, 0),
    "50x400 trains": (lambda: _zip(("a.png", png_bytes(50, 400))), [512], False, 1, 0),
    "60x300 rotated by EXIF trains": (
        lambda: _zip(("a.jpg", jpeg_bytes(300, 60, orientation=6))),
        [512, 768],
        False,
        1,
        0,
    ),
    "top-level ._ folder is never extracted": (
        lambda: _zip(("._photos/a.png", PNG), ("._photos/b.png", PNG)),
        [512],
        True,
        0,
        0,
    ),
    "nested ._ file is extracted and skipped": (
        lambda: _zip(("a.png", PNG), ("sub/._a.png", b"\x00\x05\x16\x07")),
        [512],
        False,
        1,
        0,
    ),
    "all images truncated": (
        lambda: _zip(("a.png", PNG[:-40]), ("b.png", PNG[:-60])),
        [512],
        True,
        0,
        0,
    ),
    "bad CRC stops extraction": (_bad_crc, [512], True, 0, 0),
    "file and folder with one name": (
        lambda: _zip(("x", b"1"), ("x/a.png", PNG)),
        [512],
        True,
        0,
        0,
    ),
    "folder then file with one name": (
        lambda: _zip(("x/a.png", PNG), ("x", b"1")),
        [512],
        True,
        0,
        0,
    ),
    "name part over 255 bytes": (lambda: _zip(("a" * 256 + ".png", PNG)), [512], True, 0, 0),
    "../ and absolute names land inside": (
        lambda: _zip(("../a.png", PNG), ("/abs/b.png", PNG)),
        [512],
        False,
        2,
        0,
    ),
    "symlink entry is a plain file": (
        lambda: _zip(("a.png", PNG), ("b.png", b"a.png"), symlinks=("b.png",)),
        [512],
        False,
        1,
        0,
    ),
    "junk before the ZIP still opens": (lambda: b"junk" + _zip(("a.png", PNG)), [512], False, 1, 0),
    "not a ZIP at all": (lambda: b"hello, not a zip", [512], True, 0, 0),
    "non-UTF-8 caption of a used image": (
        lambda: _zip(("a.png", PNG), ("a.txt", b"caf\xe9")),
        [512],
        True,
        1,
        0,
    ),
    "non-UTF-8 caption of a skipped image": (
        lambda: _zip(("a.png", PNG), ("b.jpg", heic_bytes()), ("b.txt", b"caf\xe9")),
        [512],
        False,
        1,
        0,
    ),
    "caption that is a folder": (
        lambda: _zip(("a.png", PNG), ("a.txt/x", b"1")),
        [512],
        True,
        1,
        0,
    ),
    "PPM named .png is used": (
        lambda: _zip(("a.png", image_bytes("PPM", 300, 300))),
        [512],
        False,
        1,
        0,
    ),
    "TGA, PCX and ICO named .png are used": (
        lambda: _zip(*((f"{k}.png", image_bytes(k, 200, 200)) for k in ("TGA", "PCX", "ICO"))),
        [512],
        False,
        3,
        0,
    ),
    "a file named just .jpg": (lambda: _zip((".jpg", jpeg_bytes(300, 300))), [512], False, 1, 0),
    ".TXT caption is never read": (
        lambda: _zip(("a.png", PNG), ("a.TXT", b"red")),
        [512],
        False,
        1,
        0,
    ),
    "empty caption counts as none": (
        lambda: _zip(("a.png", PNG), ("a.txt", b" \n ")),
        [512],
        False,
        1,
        0,
    ),
    "duplicate names: the last wins": (
        lambda: _zip(("a.png", heic_bytes()), ("a.png", PNG)),
        [512],
        False,
        1,
        0,
    ),
    "duplicate names: a bad last one loses the image": (
        lambda: _zip(("a.png", PNG), ("a.png", heic_bytes())),
        [512],
        True,
        0,
        0,
    ),
    "decompression bomb is skipped": (
        lambda: _zip(("a.png", PNG), ("b.png", _bomb())),
        [512],
        False,
        1,
        0,
    ),
    "HEIC only": (
        lambda: _zip(("a.heic", heic_bytes()), ("b.HEIC", heic_bytes())),
        [512],
        True,
        0,
        0,
    ),
    "__MACOSX only": (
        lambda: _zip(
            ("__MACOSX/a.png", PNG),
        ),
        [512],
        True,
        0,
        0,
    ),
    "an entry with an empty name": (lambda: _zip(("a.png", PNG), ("", b"x")), [512], True, 0, 0),
    "an entry named .. is written onto the folder": (
        lambda: _zip(("a.png", PNG), ("..", b"x")),
        [512],
        True,
        0,
        0,
    ),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_edge_case(name: str) -> None:
    build, resolutions, fails, usable, captioned = CORPUS[name]
    data = build()
    truth = trainer_outcome(data, resolutions)
    model = judge_archive(data, resolutions, "TOK")
    assert truth.fails == fails, truth.why
    assert model.fails == fails, model.failures
    if not fails:  # a failed run trains on nothing: its counts mean nothing
        assert truth.usable == usable and len(model.usable) == usable
        assert truth.captioned == captioned and model.captioned == captioned


def test_verdict_names_what_to_fix() -> None:
    verdict = judge_archive(_zip(("a.png", PNG), ("strip.png", png_bytes(2000, 80))), "768")
    (failure,) = verdict.failures
    assert failure.code == "zero_side_bucket" and failure.names == ("strip.png",)
    verdict = judge_archive(_zip(("x", b"1"), ("x/a.png", PNG)))
    assert verdict.failures[0].names == ("x/a.png",) and "file" in verdict.failures[0].detail
    skipped = {
        s.name: s.reason for s in judge_archive(_zip(("a.png", PNG), ("b.TXT", b"c"))).skipped
    }
    assert skipped == {"b.TXT": "caption_wrong_case"}


def test_usable_items_carry_bytes_and_captions() -> None:
    verdict = judge_archive(
        _zip(("d/a.png", PNG), ("d/a.txt", b"red,\r\n[trigger]  dog")), trigger_word="ZQX"
    )
    (image,) = verdict.usable
    assert image.name == "d/a.png" and image.read is not None and image.read() == PNG
    assert (image.width, image.height, image.format) == (320, 240, "PNG")
    assert image.caption == "red, [trigger]  dog" and image.caption_name == "d/a.txt"
    assert image.prompt == "red, ZQX  dog"


def test_folder_judged_as_if_zipped(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(PNG)
    (tmp_path / "sub" / "a.txt").write_text("red")
    (tmp_path / "b.jpg").write_bytes(heic_bytes())
    verdict = judge_folder(tmp_path, [512], "TOK")
    assert not verdict.fails and [u.name for u in verdict.usable] == ["sub/a.png"]
    assert verdict.captioned == 1 and [s.name for s in verdict.skipped] == ["b.jpg"]
    assert judge_archive(tmp_path).usable[0].name == "sub/a.png"
    path = tmp_path / "d.zip"
    path.write_bytes(_zip(("a.png", PNG)))
    assert len(judge_archive(path).usable) == 1


def test_resolutions_and_caption_helpers() -> None:
    assert parse_resolutions("768,1024") == (768, 1024) and parse_resolutions(512) == (512,)
    assert parse_resolutions([256]) == (256,) and parse_resolutions(None) == (768, 1024)
    for bad in ("big", "0", []):
        with pytest.raises(ValueError, match="resolution"):
            parse_resolutions(bad)  # type: ignore[arg-type]
    assert clean_caption("a\r\nb,, c\n") == "a, b, c"
    assert inject_trigger("", "TOK") == "TOK " and inject_trigger("a [name]", "X") == "a X"
    assert inject_trigger("a photo", None) == "a photo"
    assert bucket_for(512, 512, 1024) == (512, 512) and bucket_for(64, 103, 512) == (0, 64)


def test_probe_head_reads_size_rotation_and_truncation() -> None:
    big = png_bytes(900, 700)
    assert probe_full(big).width == 900
    head = probe_head(big[:-50], big[-128:], len(big))
    assert (head.width, head.height, head.error, head.decoded) == (900, 700, None, False)
    cut = probe_head(big[:-50], big[-200:-100], len(big))
    assert cut.error is not None and "truncated" in cut.error
    turned = jpeg_bytes(300, 60, orientation=6)
    assert probe_head(turned[:2000], turned[-64:], len(turned)).width == 60
    unknown = probe_head(jpeg_bytes(400, 400, exif=30000)[:1000], b"", 40000)
    assert unknown.width == 0 and unknown.error is None
    assert probe_head(b"not an image at all", b"", 100).error is not None
    assert probe_full(heic_bytes()).error is not None


def test_coalesce_bounds_requests_by_bridging_the_smallest_gaps() -> None:
    spans = [(0, 10), (5, 20), (100, 110), (130, 140), (1000, 1010)]
    assert coalesce(spans, 10, 2000) == [(0, 20), (100, 110), (130, 140), (1000, 1010)]
    assert coalesce(spans, 2, 2000) == [(0, 140), (1000, 1010)]
    assert coalesce(spans, 1, 500) == [(0, 500)]


def test_plan_samples_evenly_within_budget_and_requests() -> None:
    images = [Wanted(2 * i, i * 60_000, 10, 50_000, True) for i in range(1000)]
    captions = [Wanted(2 * i + 1, i * 60_000 + 50_400, 10, 20, True, 2 * i) for i in range(1000)]
    plan = plan_reads(images, captions, size=60_000_000, budget=4_000_000, max_requests=50)
    assert len(plan.ranges) <= 50 and plan.bytes <= 4_000_000
    assert 0 < len(plan.sampled) < 1000
    gaps = {b - a for a, b in zip(plan.sampled, plan.sampled[1:], strict=False)}
    assert max(gaps) - min(gaps) <= 2  # evenly spaced
    everything = plan_reads(images[:5], captions[:5], size=300_000, budget=10**9, max_requests=50)
    assert len(everything.sampled) == 5


def test_bzip2_and_lzma_members_are_judged() -> None:
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        data = make_zip([("a.png", PNG), ("a.txt", b"red")], method=method)
        verdict = judge_archive(data)
        assert not verdict.fails and verdict.captioned == 1
