"""Dataset pre-flight: each corpus ZIP gets the verdict the trainer's behaviour implies."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.core.dataset.check import inspect_dataset
from bot.core.dataset.links import share_page_fix
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.rules import recommended_steps
from bot.core.dataset.zipremote import FIRST_READ
from bot.core.errors import InputError
from bot.core.settings import Settings, load_settings
from tests.dataset_corpus import (
    CorpusServer,
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
def sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judge every ZIP by ranges and sampling, as if it were larger than a whole read allows."""
    monkeypatch.setattr("bot.core.dataset.check.WHOLE_MAX", 0)


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
    assert report.counts["images_checked"] == 12 and not report.skipped_checks
    assert report.recommended_steps == 1500  # the default preset's steps: advice and value agree
    assert "1500 steps" in finding(report, "steps_guidance").message
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
    # No HEAD (hosts that refuse it check the same): the first request is a ranged GET.
    assert [h.method for h in server.hits] == ["GET"] * len(server.hits)
    assert server.hits[0].range == f"bytes=0-{FIRST_READ - 1}"


@pytest.mark.parametrize("mode", ["range", "norange", "nohead"])
async def test_a_zip_inside_the_first_read_is_judged_from_one_request(
    server, settings, mode
) -> None:
    """A ZIP no bigger than the first read is whole after one GET, whether the host answers
    the range (206) or ignores it (200): no second download, and the verdict is the full one."""
    image = png_bytes(512, 512)
    members = [(f"i{i}.png", image) for i in range(2)] + [(f"i{i}.txt", b"a TOK") for i in range(2)]
    raw = make_zip(members)
    assert len(raw) <= FIRST_READ
    report = await check(server, settings, members, mode=mode, raw=raw)
    assert report.requests == 1 and len(server.hits) == 1 and server.hits[0].method == "GET"
    assert report.bytes_read == report.archive_size == len(raw)
    assert report.range_supported is (mode != "norange")
    assert report.counts["usable_images"] == 2 and report.counts["images_with_captions"] == 2
    assert not report.skipped_checks and report.ok


async def test_large_archive_reads_only_directory_and_members(server, settings) -> None:
    filler = [("filler.bin", b"\x00" * 17_000_000)]
    members = dataset(30) + filler
    server.files["d.zip"] = make_zip(members, method=zipfile.ZIP_STORED)
    report = await inspect_dataset(server.url("/range/d.zip"), settings=settings)
    assert report.ok and report.range_supported is True
    assert report.bytes_read < 400_000 and report.requests <= 100
    assert report.counts["images_checked"] == 30 and report.counts["images_with_captions"] == 30
    assert "ignored_files" in codes(report)["notes"]


async def test_sampling_stays_within_requests_and_budget(server, settings, monkeypatch) -> None:
    monkeypatch.setattr("bot.core.dataset.check.WHOLE_MAX", 0)
    monkeypatch.setattr("bot.core.dataset.check.SAMPLE_BUDGET", 256 * 1024)
    image = png_bytes(600, 600)
    members = [m for i in range(400) for m in ((f"i{i}.png", image), (f"i{i}.txt", b"c"))]
    server.files["d.zip"] = make_zip(members, method=zipfile.ZIP_STORED)
    report = await inspect_dataset(server.url("/range/d.zip"), settings=settings)
    assert report.ok and report.requests <= 100
    # The sample's budget, plus the first read and the directory at the end.
    assert report.bytes_read < 256 * 1024 + FIRST_READ + 64 * 1024
    sample = report.skipped_checks[0]
    assert "of 400 images were read (an evenly spaced sample" in sample
    assert report.counts["usable_images"] == 400
    assert 0 < report.counts["images_checked"] < 400
    assert report.counts["images_with_captions"] == 400  # unread captions counted by size


async def test_zip64_and_deep_folders(server, settings) -> None:
    raw = make_zip(dataset(10, folder="a/b/c/"), force_zip64=True)
    report = await check(server, settings, None, raw=raw)
    assert report.ok and report.counts["usable_images"] == 10


async def test_big_central_directory_is_read_through_ranges(server, settings, sampled) -> None:
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
        assert codes(report)["errors"] == {"not_a_zip"}, report.errors
        assert "input_images must be a zip file" in report.errors[0].message
        assert "upload that did not finish" in report.errors[0].message


@pytest.mark.parametrize("whole", [True, False])
async def test_directory_pointing_past_the_end(server, settings, monkeypatch, whole) -> None:
    """The trainer's zipfile (Python 3.10.14) refuses an entry whose data would run into the
    next one ("Overlapped entries"), even where ours would still read it."""
    if not whole:
        monkeypatch.setattr("bot.core.dataset.check.WHOLE_MAX", 0)
    raw = patch_central(make_zip(dataset(10)), "img001.png", compress_size=10**8)
    report = await check(server, settings, None, raw=raw)
    error = finding(report, "extraction_fails")
    assert error.paths == ["img001.png"] and "Overlapped entries" in error.message


async def test_overlapping_macos_entry_is_never_read(server, settings) -> None:
    members = [("__MACOSX/._x", b"resource fork"), *dataset(10)]
    raw = patch_central(make_zip(members), "__MACOSX/._x", compress_size=10**6)
    assert (await check(server, settings, None, raw=raw)).ok


@pytest.mark.parametrize("whole", [True, False])
async def test_bad_local_header_fails_extraction(server, settings, monkeypatch, whole) -> None:
    if not whole:
        monkeypatch.setattr("bot.core.dataset.check.WHOLE_MAX", 0)
    raw = bytearray(make_zip(dataset(10)))
    second = raw.find(b"PK\x03\x04", 10)
    raw[second : second + 4] = b"XXXX"
    report = await check(server, settings, None, raw=bytes(raw))
    error = finding(report, "extraction_fails")
    assert error.paths == ["img000.txt"] and "img000.txt" in error.message


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
    assert {"unreadable_images", "unsupported_images", "videos_ignored"} <= c["warnings"]
    assert {"macos_metadata_ignored", "ignored_files"} <= c["notes"]
    assert finding(report, "unreadable_images").paths == ["sub/._img.jpg"]
    assert finding(report, "macos_metadata_ignored").paths == [
        "._root.jpg",
        "__MACOSX/._img000.jpg",
    ]
    assert ".heic" in finding(report, "unsupported_images").message
    assert report.counts["usable_images"] == 10 and report.counts["ignored_files"] == 3


async def test_caption_pairing_rules(server, settings) -> None:
    members = [m for m in dataset(12) if m[0] not in ("img000.txt", "img001.txt")] + [
        ("img000.jpg.txt", b"named with extension"),
        ("other/img001.txt", b"wrong folder"),
        ("IMG002.txt", b"wrong case stem"),
        ("img003.TXT", b"upper-case extension"),
    ]
    members = [m for m in members if m[0] not in ("img003.txt", "img005.txt")]
    members += [("img005.txt", b"caf\xe9 latin")]
    report = await check(server, settings, members)
    c = codes(report)
    assert c["errors"] == {"caption_unreadable"} and "UTF-8" in report.errors[0].message
    assert finding(report, "caption_unreadable").paths == ["img005.txt"]
    assert finding(report, "caption_wrong_case").paths == ["img003.TXT"]
    assert set(finding(report, "orphan_captions").paths) == {
        "img000.jpg.txt",
        "other/img001.txt",
        "IMG002.txt",
    }
    assert finding(report, "images_without_captions").paths == [
        "img000.jpg",
        "img001.png",
        "img003.jpg",
    ]
    assert report.counts["images_with_captions"] == 12 - 4


async def test_non_utf8_caption_of_a_skipped_image_is_harmless(server, settings) -> None:
    members = [*dataset(10), ("bad.jpg", heic_bytes()), ("bad.txt", b"\xff\xfe latin")]
    report = await check(server, settings, members)
    assert report.ok, report.errors
    assert finding(report, "orphan_captions").paths == ["bad.txt"]


async def test_no_captions_note(server, settings) -> None:
    report = await check(server, settings, dataset(10, captions=False))
    assert report.ok and "no_captions" in codes(report)["notes"]
    assert report.counts["images_with_captions"] == 0


@pytest.mark.parametrize(
    ("n", "severity", "code"),
    [
        (0, "errors", "no_images"),
        (1, "errors", "too_few_images_policy"),
        (5, "warnings", "few_images"),
    ],
)
async def test_image_count_thresholds(server, settings, n, severity, code) -> None:
    members = [*dataset(n), ("notes.txt", b"hello")]
    report = await check(server, settings, members)
    assert code in codes(report)[severity]
    assert report.ok is (severity != "errors")


async def test_min_images_is_a_named_team_policy(server) -> None:
    one = [("only.png", png_bytes())]
    strict = load_settings(SD35L_ALLOW_PRIVATE_URLS=True)
    error = finding(await check(server, strict, one), "too_few_images_policy")
    assert "Team policy (SD35L_POLICY_MIN_IMAGES=2)" in error.message
    assert "The trainer would run" in error.message
    relaxed = load_settings(SD35L_ALLOW_PRIVATE_URLS=True, SD35L_POLICY_MIN_IMAGES=0)
    assert (await check(server, relaxed, one)).ok


async def test_only_heic_is_no_images(server, settings) -> None:
    report = await check(server, settings, [(f"p{i}.heic", heic_bytes()) for i in range(5)])
    assert codes(report)["errors"] == {"no_images"}
    assert "no images found" in report.errors[0].message


async def test_images_as_pillow_sees_them(server, settings) -> None:
    members = [
        *dataset(10),
        ("narrow.png", png_bytes(64, 103)),
        ("small.jpg", jpeg_bytes(200, 300, progressive=True)),
        ("huge.webp", webp_bytes(2100, 1500)),
        ("renamed.jpg", png_bytes()),
        ("phone.jpg", heic_bytes()),
        ("anim.png", gif_bytes()),
        ("exif.jpg", jpeg_bytes(600, 600, exif=20000)),
        ("cut.png", png_bytes(700, 700)[:-200]),
    ]
    report = await check(server, settings, members)
    c = codes(report)
    assert c["errors"] == {"image_bucket_zero"}
    error = finding(report, "image_bucket_zero")
    assert error.paths == ["narrow.png"] and "narrow.png: 64x103" in error.message
    assert finding(report, "image_small").paths == ["narrow.png", "small.jpg"]
    assert finding(report, "image_large").paths == ["huge.webp"]
    assert finding(report, "unreadable_images").paths == ["cut.png", "phone.jpg"]
    assert "truncated" in finding(report, "unreadable_images").message
    assert report.counts["usable_images"] == 16


async def test_names_zipfile_sanitises_and_raising_entries(server, settings) -> None:
    members = [
        *dataset(10),
        ("../evil.jpg", jpeg_bytes()),
        ("/abs.png", png_bytes()),
        ("link.jpg", b"/etc/passwd"),
        ("secret.jpg", jpeg_bytes()),
        ("d64.jpg", jpeg_bytes()),
    ]
    raw = make_zip(members, symlinks=["link.jpg"])
    report = await check(server, settings, None, raw=raw)
    assert report.ok and report.counts["usable_images"] == 14  # ../ and / land inside
    assert finding(report, "unreadable_images").paths == ["link.jpg"]
    raw = patch_central(patch_central(raw, "secret.jpg", flag=1), "d64.jpg", method=9)
    report = await check(server, settings, None, raw=raw)
    error = finding(report, "extraction_fails")
    assert error.paths == ["d64.jpg", "secret.jpg"] or error.paths == ["secret.jpg"]
    assert not report.ok


async def test_empty_entry_name_is_a_named_extraction_failure(server, settings, sampled) -> None:
    report = await check(server, settings, [*dataset(10), ("", b"x")])
    assert finding(report, "extraction_fails").paths == [""]


async def test_paths_are_capped_at_ten(server, settings) -> None:
    members = dataset(10) + [(f"x{i}.heic", heic_bytes()) for i in range(30)]
    report = await check(server, settings, members)
    assert len(finding(report, "unsupported_images").paths) == 10
    assert finding(report, "unsupported_images").message.startswith("30 images")


def test_steps_guidance() -> None:
    assert [recommended_steps(n) for n in (1, 5, 20, 21, 80, 81)] == [
        None,
        1500,
        1500,
        1500,
        1500,
        2000,
    ]
