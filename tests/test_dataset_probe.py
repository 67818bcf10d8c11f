"""The first-and-last-bytes probe of large remote images: it never calls a JPEG that Pillow
decodes truncated (data after the end marker, as in phone motion photos), and still catches a
PNG whose end is missing."""

from __future__ import annotations

import io

from PIL import Image

from bot.core.dataset.probe import probe_full, probe_head


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    noise = Image.frombytes("RGB", (320, 200), bytes(range(256)) * 750)
    noise.save(out, fmt)
    return out.getvalue()


def _head_tail(data: bytes) -> tuple[bytes, bytes, int]:
    return data[:4096], data[-128:], len(data)


def test_jpeg_with_data_after_its_end_is_usable_like_pillow_says() -> None:
    jpeg = _image("JPEG") + b"\x00" * 300 + b"ftypmp42" + bytes(range(256)) * 4
    assert probe_full(jpeg).error is None  # what the trainer's Pillow does
    probe = probe_head(*_head_tail(jpeg))
    assert probe.error is None and (probe.width, probe.height) == (320, 200)


def test_png_missing_its_end_is_truncated() -> None:
    png = _image("PNG")
    cut = png[: len(png) // 2]  # an interrupted copy: the image data stops halfway
    assert probe_full(cut).error is not None
    assert "truncated" in (probe_head(*_head_tail(cut)).error or "")
    assert probe_head(*_head_tail(png)).error is None


def test_counted_words_read_right() -> None:
    from bot.core.counted import count, ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 52, 103, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "52nd", "103rd", "111th",
    ]  # fmt: skip
    assert count(1, "image") == "1 image" and count(0, "image") == "0 images"
    assert count(2, "caption") == "2 captions"
