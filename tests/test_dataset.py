"""Dataset pre-flight: each corpus ZIP gets the verdict the trainer's behaviour implies."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.core.dataset.check import DatasetReport, inspect_dataset
from bot.core.dataset.imageinfo import sniff_image
from bot.core.dataset.links import share_page_fix
from bot.core.dataset.rules import Entry, RuleResult, check_dataset, classify, recommended_steps
from bot.core.dataset.zipremote import FileSource, RangeSource, list_entries, read_members
from bot.core.errors import InputError
from bot.core.net import SafeFetcher
from bot.core.settings import Settings, load_settings
from tests.dataset_corpus import (
    CorpusServer,
    bmp_bytes,
    dataset,
    gif_bytes,
    heic_bytes,
    jpeg_bytes,
    make_zip,
    patch_central,
    png_bytes,
    webp_bytes,
)


@pytest.fixture
def settings() -> Settings:
    return load_settings(SD35L_ALLOW_PRIVATE_URLS=True)


@pytest.fixture
async def server() -> AsyncIterator[CorpusServer]:
    srv = CorpusServer()
    await srv.start()
    yield srv
    await srv.stop()


def codes(report: DatasetReport) -> dict[str, set[str]]:
    return {
        "errors": {f.code for f in report.errors},
        "warnings": {f.code for f in report.warnings},
        "notes": {f.code for f in report.notes},
    }


def finding(report: DatasetReport, code: str) -> Any:
    for f in report.errors + report.warnings + report.notes:
        if f.code == code:
            return f
    raise AssertionError(f"{code} not in {codes(report)}")


async def check(
    server: CorpusServer,
    settings: Settings,
    members: Any,
    *,
    mode: str = "range",
    trigger: str | None = "TOK",
    raw: bytes | None = None,
) -> DatasetReport:
    server.files["d.zip"] = raw if raw is not None else make_zip(members)
    return await inspect_dataset(
        server.url(f"/{mode}/d.zip"), settings=settings, trigger_word=trigger
    )


# ------------------------------------------------------------------ healthy datasets


async def test_healthy_dataset_passes_with_counts_and_guidance(server, settings) -> None:
    report = await check(server, settings, dataset(12))
    assert report.ok, report.errors
    assert report.range_supported is True
    assert report.counts["usable_images"] == 12 and report.counts["images_with_captions"] == 12
    assert report.counts["images_jpeg"] == 4 and report.counts["headers_checked"] == 12
    assert report.recommended_steps == 1000
    assert "1000 steps" in finding(report, "steps_guidance").message
    assert finding(report, "trigger_word_in_captions").message.startswith("12 of 12")
    assert report.archive_size == len(server.files["d.zip"])
    assert report.bytes_read <= report.archive_size + 16 * 1024
    assert report.seconds >= 0 and report.as_dict()["ok"] is True


@pytest.mark.parametrize("mode", ["range", "norange", "nohead"])
async def test_same_verdict_with_and_without_range_support(server, settings, mode) -> None:
    members = [*dataset(25, folder="deep/er/"), ("x.heic", heic_bytes())]
    report = await check(server, settings, members, mode=mode)
    assert report.ok
    assert report.range_supported is (mode != "norange")
    assert report.counts["usable_images"] == 25 and report.recommended_steps == 1500
    assert "unsupported_images" in codes(report)["warnings"]
    if mode == "nohead":
        assert [h.method for h in server.hits[:2]] == ["HEAD", "GET"]
        assert server.hits[1].range == "bytes=0-0"


async def test_large_archive_reads_only_directory_and_headers(server, settings) -> None:
    filler = [("filler.bin", b"\x00" * 3_000_000)]
    members = dataset(30) + filler
    server.files["d.zip"] = make_zip(members, method=zipfile.ZIP_STORED)
    report = await inspect_dataset(server.url("/range/d.zip"), settings=settings)
    assert report.ok
    assert report.bytes_read < 400_000
    assert "ignored_files" in codes(report)["notes"]


async def test_zip64_and_deep_folders(server, settings) -> None:
    raw = make_zip(dataset(10, folder="a/b/c/"), force_zip64=True)
    report = await check(server, settings, None, raw=raw)
    assert report.ok and report.counts["usable_images"] == 10


async def test_big_central_directory_is_read_through_ranges(server, settings) -> None:
    members = dataset(10) + [(f"notes/{'x' * 150}{i}.md", b"n") for i in range(600)]
    report = await check(server, settings, members)
    assert report.ok and report.counts["ignored_files"] == 600


async def test_redirect_chain_is_followed(server, settings) -> None:
    server.files["d.zip"] = make_zip(dataset(10))
    report = await inspect_dataset(server.url("/redirect/3/d.zip"), settings=settings)
    assert report.ok


# ------------------------------------------------------------------ links that are not a ZIP


async def test_html_share_page_explains_direct_links(server, settings) -> None:
    report = await inspect_dataset(server.url("/html"), settings=settings)
    error = finding(report, "not_a_zip_html")
    assert not report.ok and "direct download" in error.message
    assert "uc?export=download" in error.message and "dl=1" in error.message


def test_share_page_fix_for_drive_and_dropbox() -> None:
    drive = share_page_fix("https://drive.google.com/file/d/1AbC_d-9/view?usp=sharing")
    assert "https://drive.google.com/uc?export=download&id=1AbC_d-9" in drive
    drop = share_page_fix("https://www.dropbox.com/s/abc/data.zip?dl=0")
    assert "https://www.dropbox.com/s/abc/data.zip?dl=1" in drop
    assert "id=XYZ" in share_page_fix("https://drive.google.com/open?id=XYZ")


async def test_not_a_zip_names_what_it_is(server, settings) -> None:
    server.files["p.png"] = png_bytes()
    server.files["t.bin"] = b"hello world, not a zip"
    report = await inspect_dataset(server.url("/range/p.png"), settings=settings)
    assert "PNG image" in finding(report, "not_a_zip").message
    report = await inspect_dataset(server.url("/norange/t.bin"), settings=settings)
    assert "not a ZIP" in finding(report, "not_a_zip").message


@pytest.mark.parametrize("status", [404, 403, 500])
async def test_http_errors(server, settings, status) -> None:
    report = await inspect_dataset(server.url(f"/status/{status}"), settings=settings)
    assert codes(report)["errors"] == {"url_http_error"}
    assert str(status) in report.errors[0].message


async def test_empty_file(server, settings) -> None:
    server.files["e.zip"] = b""
    for mode in ("range", "norange"):
        report = await inspect_dataset(server.url(f"/{mode}/e.zip"), settings=settings)
        assert codes(report)["errors"] == {"archive_empty"}


async def test_truncated_upload_is_fatal(server, settings) -> None:
    raw = make_zip(dataset(12))
    for mode in ("range", "norange"):
        report = await check(server, settings, None, raw=raw[: len(raw) * 2 // 3], mode=mode)
        assert "archive_corrupt" in codes(report)["errors"]
        assert "truncated" in report.errors[0].message


async def test_directory_pointing_past_the_end(server, settings) -> None:
    raw = patch_central(make_zip(dataset(10)), "img001.png", compress_size=10**8)
    report = await check(server, settings, None, raw=raw)
    assert finding(report, "archive_corrupt").paths == ["img001.png"]


async def test_bad_local_header_is_corrupt(server, settings) -> None:
    raw = bytearray(make_zip(dataset(10)))
    raw[0:4] = b"PK\x03\x04"
    second = raw.find(b"PK\x03\x04", 10)
    raw[second : second + 4] = b"XXXX"
    report = await check(server, settings, None, raw=bytes(raw))
    assert "archive_corrupt" in codes(report)["errors"]


async def test_no_range_over_the_cap_says_what_was_skipped(server) -> None:
    small_cap = load_settings(SD35L_ALLOW_PRIVATE_URLS=True, SD35L_MAX_DATASET_MB=1)
    server.files["big.zip"] = make_zip(
        [*dataset(10), ("f.bin", b"\x01" * 1200000)], method=zipfile.ZIP_STORED
    )
    report = await inspect_dataset(server.url("/norange/big.zip"), settings=small_cap)
    assert report.ok and report.range_supported is False
    note = finding(report, "dataset_not_inspected")
    assert "SD35L_MAX_DATASET_MB=1" in note.message and "image count" in report.skipped_checks
    assert report.bytes_read <= 1024 * 1024 + 16 * 1024


async def test_refuses_loopback_without_allow_private(server) -> None:
    with pytest.raises(InputError) as err:
        await inspect_dataset(server.url("/range/d.zip"), settings=load_settings())
    assert err.value.field == "dataset_url" and "loopback" in str(err.value)


# ------------------------------------------------------------------ the trainer's loader rules


async def test_macos_junk_heic_videos_and_other_files(server, settings) -> None:
    members = [
        *dataset(10),
        ("__MACOSX/._img000.jpg", b"\x00\x05\x16\x07"),
        ("._root.jpg", b"junk"),
        ("sub/._img.jpg", b"junk"),
        ("IMG_1.HEIC", heic_bytes()),
        ("clip.MOV", b"\x00" * 10),
        ("readme.md", b"hi"),
        ("sub/", b""),
    ]
    report = await check(server, settings, members)
    c = codes(report)
    assert report.ok
    assert {"nested_appledouble", "unsupported_images", "videos_ignored"} <= c["warnings"]
    assert {"macos_metadata_ignored", "ignored_files"} <= c["notes"]
    assert finding(report, "nested_appledouble").paths == ["sub/._img.jpg"]
    assert ".heic" in finding(report, "unsupported_images").message
    assert report.counts["usable_images"] == 10 and report.counts["ignored_files"] == 6


async def test_caption_pairing_rules(server, settings) -> None:
    members = [m for m in dataset(12) if m[0] not in ("img000.txt", "img001.txt")] + [
        ("img000.jpg.txt", b"named with extension"),
        ("other/img001.txt", b"wrong folder"),
        ("img004.jpg", jpeg_bytes()),  # img004.png exists: shared stem
    ]
    members = [m for m in members if m[0] != "img005.txt"] + [("img005.txt", b"caf\xe9 latin")]
    report = await check(server, settings, members)
    c = codes(report)
    assert "caption_not_utf8" in c["errors"] and "UTF-8" in report.errors[0].message
    assert finding(report, "caption_named_with_extension").paths == ["img000.jpg.txt"]
    assert finding(report, "orphan_captions").paths == ["other/img001.txt"]
    assert set(finding(report, "shared_stem").paths) == {"img004.jpg", "img004.png"}
    assert finding(report, "images_without_captions").paths == ["img000.jpg", "img001.png"]


async def test_no_captions_and_trigger_word_notes(server, settings) -> None:
    report = await check(server, settings, dataset(10, captions=False))
    assert report.ok and "no_captions" in codes(report)["notes"]
    report = await check(server, settings, dataset(10, trigger="someone"), trigger="TOK")
    assert finding(report, "trigger_word_in_captions").message.startswith("0 of 10")


@pytest.mark.parametrize(
    ("n", "severity", "code"),
    [(0, "errors", "no_images"), (1, "errors", "too_few_images"), (5, "warnings", "few_images")],
)
async def test_image_count_thresholds(server, settings, n, severity, code) -> None:
    members = [*dataset(n), ("notes.txt", b"hello")]
    report = await check(server, settings, members)
    assert code in codes(report)[severity]
    assert report.ok is (severity != "errors")


async def test_only_heic_is_no_images(server, settings) -> None:
    report = await check(server, settings, [(f"p{i}.heic", heic_bytes()) for i in range(5)])
    assert codes(report)["errors"] == {"no_images"}
    assert "no images found" in report.errors[0].message


async def test_image_headers(server, settings) -> None:
    members = [
        *dataset(10),
        ("tiny.png", png_bytes(40, 300)),
        ("small.jpg", jpeg_bytes(200, 300, progressive=True)),
        ("huge.webp", webp_bytes(4000, 3000, kind="VP8X")),
        ("alpha.png", png_bytes(alpha=True)),
        ("trns.png", png_bytes(trns=True)),
        ("renamed.jpg", png_bytes()),
        ("phone.jpg", heic_bytes()),
        ("anim.png", gif_bytes()),
        ("exif.jpg", jpeg_bytes(600, 600, exif=20000)),
    ]
    report = await check(server, settings, members)
    c = codes(report)
    assert c["errors"] == {"image_too_small"}
    assert finding(report, "image_too_small").paths == ["tiny.png (40x300)"]
    assert finding(report, "image_small").paths == ["small.jpg (200x300)"]
    assert finding(report, "image_large").paths == ["huge.webp (4000x3000)"]
    assert finding(report, "image_alpha").paths == ["alpha.png", "trns.png"]
    assert finding(report, "extension_mismatch").paths == ["anim.png (gif)", "renamed.jpg (png)"]
    assert finding(report, "unreadable_images").paths == ["phone.jpg"]
    assert "webp_images" in c["notes"]
    assert report.counts["usable_images"] == 18


async def test_archive_safety_errors(server, settings) -> None:
    members = [
        *dataset(10),
        ("../evil.jpg", jpeg_bytes()),
        ("/abs.png", png_bytes()),
        ("link.jpg", b"/etc/passwd"),
        ("secret.jpg", jpeg_bytes()),
        ("d64.jpg", jpeg_bytes()),
        ("bomb.png", png_bytes()),
    ]
    raw = make_zip(members, symlinks=["link.jpg"])
    raw = patch_central(raw, "secret.jpg", flag=1)
    raw = patch_central(raw, "d64.jpg", method=9)
    raw = patch_central(raw, "bomb.png", file_size=3_000_000_000)
    report = await check(server, settings, None, raw=raw)
    c = codes(report)["errors"]
    assert {
        "unsafe_entries",
        "encrypted_entries",
        "unsupported_compression",
        "compression_bomb",
    } <= c
    assert set(finding(report, "unsafe_entries").paths) == {"../evil.jpg", "/abs.png", "link.jpg"}
    assert finding(report, "encrypted_entries").paths == ["secret.jpg"]
    assert finding(report, "unsupported_compression").paths == ["d64.jpg"]
    assert finding(report, "compression_bomb").paths == ["bomb.png"]


async def test_paths_are_capped_at_ten(server, settings) -> None:
    members = dataset(10) + [(f"x{i}.heic", heic_bytes()) for i in range(30)]
    report = await check(server, settings, members)
    assert len(finding(report, "unsupported_images").paths) == 10
    assert finding(report, "unsupported_images").message.startswith("30 images")


# ------------------------------------------------------------------ pieces


async def test_header_budget_skips_and_says_so(server, settings) -> None:
    server.files["d.zip"] = make_zip(dataset(40), method=zipfile.ZIP_STORED)
    async with SafeFetcher(settings) as fetcher:
        source = RangeSource(fetcher, server.url("/range/d.zip"), len(server.files["d.zip"]))
        entries = await list_entries(source)
        reads = await read_members(source, entries, budget=64 * 1024)
    assert reads.skipped_images > 0 and len(reads.images) + reads.skipped_images == 40
    rules = RuleResult()
    check_dataset(entries, {}, {}, None, rules)
    assert "caption text of 40 captions" in rules.skipped_checks[0]


async def test_file_source_and_bzip2(tmp_path) -> None:
    raw = make_zip(dataset(10), method=zipfile.ZIP_BZIP2)
    path = tmp_path / "d.zip"
    path.write_bytes(raw)
    with path.open("rb") as handle:
        source = FileSource(handle, len(raw))
        entries = await list_entries(source)
        reads = await read_members(source, entries)
    assert len(reads.images) == 10 and len(reads.captions) == 10
    assert sniff_image(reads.images["img000.jpg"]).width == 640


def test_sniff_formats() -> None:
    assert sniff_image(webp_bytes(100, 50, kind="VP8 ")).width == 100
    vp8l = sniff_image(webp_bytes(100, 50, alpha=True))
    assert (vp8l.width, vp8l.height, vp8l.alpha) == (100, 50, True)
    assert sniff_image(bmp_bytes(30, 40)).height == 40
    assert sniff_image(b"II*\x00rest").format == "tiff"
    assert sniff_image(b"\x00\x00\x00\x18ftypavif").format == "avif"
    assert sniff_image(b"\xff\xd8\xff\xe0\x00\x10JFIF").format == "jpeg"
    assert sniff_image(b"\x89PNG\r\n\x1a\n").width is None
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8X").width is None


def test_classify_and_steps() -> None:
    assert classify(Entry("a/__MACOSX/x.jpg")) == "image"  # only the root __MACOSX is skipped
    assert classify(Entry("__MACOSX/a/x.jpg")) == "macos"
    assert classify(Entry("A.JPEG")) == "image"
    assert [recommended_steps(n) for n in (1, 5, 20, 21, 80, 81)] == [
        None,
        1000,
        1000,
        1500,
        1500,
        2000,
    ]
