"""ai-toolkit's size cache (.aitk_size.json): a ZIP that carries one is judged with its sizes,
as the trainer's dataloader does (see bot/core/dataset/sizecache.py), through the URL check
(whole and sampled) and the local path (which repacks without it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.dataset.check import inspect_dataset
from bot.core.dataset.local import prepare_path_sync
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.sizecache import cache_key
from bot.core.settings import Settings, load_settings
from tests.dataset_corpus import CorpusServer, dataset, jpeg_bytes, make_zip
from tests.local_images import TRIGGER, members_of, write_folder


@pytest.fixture
def settings() -> Settings:
    return load_settings(SD35L_ALLOW_PRIVATE_URLS=True)


@pytest.fixture
async def server() -> AsyncIterator[CorpusServer]:
    srv = CorpusServer()
    await srv.start()
    yield srv
    await srv.stop()


def cache(sizes: dict[str, Any], version: str = "0.1.1") -> bytes:
    return json.dumps({"__version__": version, **sizes}).encode()


async def check(server: CorpusServer, settings: Settings, members: Any) -> DatasetReport:
    server.files["d.zip"] = make_zip(members)
    return await inspect_dataset(server.url("/range/d.zip"), settings=settings, trigger_word="TOK")


def codes(report: DatasetReport) -> set[str]:
    return {f.code for f in report.errors + report.warnings + report.notes}


def test_keys_are_the_extracted_path_without_the_folder_name() -> None:
    assert cache_key("img000.jpg") == "/img000.jpg"
    assert cache_key("deep/a.png") == "/deep/a.png"
    assert cache_key("input_images_2/a.png") == "/_2/a.png"  # str.replace: every occurrence


@pytest.mark.parametrize("sampled", [False, True])
async def test_a_cached_size_decides_the_bucket(
    server: CorpusServer, settings: Settings, monkeypatch: pytest.MonkeyPatch, sampled: bool
) -> None:
    """img000 is 640x512, but the cache says 64x103: the trainer's bucket then has a 0 px side
    and the run fails; the check, judging with the cached size, refuses it."""
    if sampled:  # judged by ranges and sampling, as a large ZIP is: the cache is still read
        monkeypatch.setattr("bot.core.dataset.check.WHOLE_MAX", 0)
    members = [(".aitk_size.json", cache({"/img000.jpg": [64, 103]})), *dataset(12)]
    report = await check(server, settings, members)
    assert not report.ok
    bucket = next(f for f in report.errors if f.code == "image_bucket_zero")
    assert bucket.paths == ["img000.jpg"] and "64x103" in bucket.message
    assert {"size_cache_used", "size_cache_stale"} <= codes(report)
    stale = next(f for f in report.warnings if f.code == "size_cache_stale")
    assert "cached 64x103, really 640x512" in stale.message
    assert "not_an_image_name" not in codes(report)  # the cache is not an ignored file


async def test_a_listed_image_is_never_probed_so_a_broken_one_fails_the_run(
    server: CorpusServer, settings: Settings
) -> None:
    broken = jpeg_bytes(640, 512)[:300]
    members = [
        (".aitk_size.json", cache({"/broken.jpg": [640, 512]})),
        ("broken.jpg", broken),
        *dataset(12),
    ]
    report = await check(server, settings, members)
    assert not report.ok
    failed = next(f for f in report.errors if f.code == "cached_unopenable")
    assert failed.paths == ["broken.jpg"]
    # Without the cache the trainer probes it, skips it, and trains on the others.
    alone = await check(server, settings, members[1:])
    assert alone.ok and "unreadable_images" in codes(alone)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not valid JSON"),
        (cache({"/img000.jpg": [64, 103]}, version="0.1.0"), "not a version 0.1.1 cache"),
        (json.dumps([["/img000.jpg", [64, 103]]]).encode(), "not a version 0.1.1 cache"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
async def test_a_malformed_or_old_cache_is_ignored_and_every_image_probed(
    server: CorpusServer, settings: Settings, content: bytes, why: str
) -> None:
    report = await check(server, settings, [(".aitk_size.json", content), *dataset(12)])
    assert report.ok, report.errors
    note = next(f for f in report.notes if f.code == "size_cache_ignored")
    assert why in note.message


async def test_entries_that_are_not_sizes_skip_their_images_and_others_are_probed(
    server: CorpusServer, settings: Settings
) -> None:
    sizes = {"/img000.jpg": "640x512", "/img001.png": [641, 512], "/img002.webp": [1, 2, 3]}
    report = await check(server, settings, [(".aitk_size.json", cache(sizes)), *dataset(12)])
    assert report.ok and report.counts["usable_images"] == 10
    skipped = next(f for f in report.warnings if f.code == "size_cache_entry")
    assert skipped.paths == ["img000.jpg", "img002.webp"]
    used = next(f for f in report.notes if f.code == "size_cache_used")
    assert used.paths == ["img001.png"] and "size_cache_stale" not in codes(report)


async def test_zero_sizes_and_a_cache_folder_fail_the_run(
    server: CorpusServer, settings: Settings
) -> None:
    zero = [(".aitk_size.json", cache({"/img003.jpg": [0, 512]})), *dataset(12)]
    assert "size_cache_bucket" in {f.code for f in (await check(server, settings, zero)).errors}
    folder = [(".aitk_size.json/x", b"1"), *dataset(12)]
    assert "size_cache_folder" in {f.code for f in (await check(server, settings, folder)).errors}


async def test_a_cache_below_the_top_folder_is_not_the_trainers(
    server: CorpusServer, settings: Settings
) -> None:
    members = [("photos/.aitk_size.json", cache({"/img000.jpg": [64, 103]}))]
    members += dataset(12, folder="photos/")
    report = await check(server, settings, members)
    assert report.ok and not codes(report) & {"size_cache_used", "size_cache_ignored"}


def test_a_local_dataset_is_repacked_without_its_cache(tmp_path: Path) -> None:
    files = {name: data for name, data in dataset(12)}
    files[".aitk_size.json"] = cache({"/img000.jpg": [64, 103]})
    local = prepare_path_sync(
        write_folder(tmp_path / "ds", files),
        trigger_word=TRIGGER,
        field="dataset_path",
        url_option="--dataset-url",
    )
    assert local.ok and local.packed is not None
    assert not any(".aitk_size" in name for name in members_of(local.packed.data))
    note = next(f for f in local.report.notes if f.code == "size_cache_ignored")
    assert "left out of the upload" in note.message
