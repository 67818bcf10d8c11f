"""Captions end to end: the real `replicate` client's transport (through our gateway) against the
simulator's Florence-2 and LLaVA models; plus the cleaning, the image copy and the price.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.core.captions import clean
from bot.core.captions.cache import CaptionCache
from bot.core.captions.cost import (
    CaptionSample,
    cost_cents,
    format_price,
    price_per_image,
)
from bot.core.captions.images import MAX_BYTES, captioner_copy
from bot.core.captions.models import DEFAULT_MODEL, LLAVA, LLAVA_VERSION
from bot.core.captions.run import (
    CaptionOptions,
    Picture,
    needs_caption,
    plan,
    run,
    with_captions,
    write_folder,
)
from bot.core.dataset.collect import Member, collect_folder
from bot.core.errors import InputError
from bot.core.replicate import predictions
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import DEFAULT_CAPTION_MODEL, Settings, load_settings
from bot.sim import ReplicateSimulator
from bot.sim.captioners import CAPTIONERS
from tests.local_images import jpeg
from tests.local_images import write_folder as write_files
from tests.test_sim_openapi import check

TOKEN = "r8_" + "cap" * 10
CREATE = "POST /v1/predictions"


@pytest.fixture
async def sim() -> AsyncIterator[ReplicateSimulator]:
    simulator = ReplicateSimulator(token=TOKEN)
    await simulator.start()
    predictions._SCHEMAS.clear()
    try:
        yield simulator
    finally:
        await simulator.stop()


def settings_for(sim: ReplicateSimulator, **extra: Any) -> Settings:
    return load_settings(REPLICATE_BASE_URL=sim.base_url, REPLICATE_API_TOKEN=TOKEN, **extra)


@pytest.fixture
async def gw(sim: ReplicateSimulator) -> AsyncIterator[ReplicateGateway]:
    gateway = ReplicateGateway(settings_for(sim), backoff_base=0.001)
    yield gateway
    await gateway.aclose()


def creates(sim: ReplicateSimulator) -> int:
    return sum(1 for r in sim.requests if r.endpoint == CREATE)


def folder_of(tmp: Path, count: int, captioned: int, width: int = 320) -> Path:
    files: dict[str, bytes] = {}
    for i in range(count):
        files[f"img{i:02d}.jpg"] = jpeg(width=width, seed=i)
        if i < captioned:
            files[f"img{i:02d}.txt"] = f"my own caption {i}".encode()
    return write_files(tmp / "data", files)


# --- cleaning ---------------------------------------------------------------------------------


def test_florence_text_is_read_as_a_literal_never_evaluated() -> None:
    shaped = {"text": "{'<MORE_DETAILED_CAPTION>': 'The image shows a red car.'}", "img": None}
    assert clean.model_text(shaped) == "The image shows a red car."
    hostile = "{'a': __import__('os').system('echo pwned')}"
    assert clean.model_text(hostile) == hostile  # not a literal: kept as text, never run
    assert clean.model_text("{'x': 1}") == ""
    huge = "{'a': '" + "x" * (clean.MAX_RAW + 10) + "'}"
    assert clean.model_text(huge) == huge  # over the cap: not parsed at all
    assert clean.model_text(["The ", "dog ", "runs."]) == "The dog runs."
    assert clean.model_text(None) == ""


def test_cleaning_removes_openings_forbidden_words_and_caps_length() -> None:
    assert clean.clean("  The image shows   a red car ,parked  ") == "A red car, parked"
    assert clean.clean("This photo depicts a cat") == "A cat"
    assert clean.clean("In this picture is a dog") == "A dog"
    assert clean.clean("a woman with a tattoo, smiling", forbidden=["tattoo"]) == (
        "A woman with a, smiling"
    )
    long = "word " * 200
    capped = clean.clean(long, limit=50)
    assert len(capped) <= 50 and not capped.endswith(" ") and capped.endswith("word")
    assert clean.frame("A cat", " photo of TOK", "film grain ") == "photo of TOK, A cat, film grain"
    assert clean.forbidden_words(" nsfw, tattoo ,, ") == ["nsfw", "tattoo"]
    assert "ZQX" in clean.trigger_rule("ZQX") and "lacks it" in clean.trigger_rule("ZQX")


def test_the_captioner_sees_a_small_copy_never_the_training_image() -> None:
    big = jpeg(width=3000, height=2000, noise=3_000_000)
    copy = captioner_copy(big)
    with Image.open(io.BytesIO(copy)) as img:
        assert max(img.size) <= 1024
    assert len(copy) * 4 // 3 < MAX_BYTES
    assert big == jpeg(width=3000, height=2000, noise=3_000_000)  # untouched


def test_price_comes_from_calibration_then_setting_then_published() -> None:
    florence = DEFAULT_MODEL.split(":")[0]
    published = price_per_image(florence, None, [])
    assert published.per_image == Decimal("0.0019") and "published" in published.basis
    assert price_per_image(florence, Decimal("0.005"), []).per_image == Decimal("0.005")
    runs = [CaptionSample(10, 20.0)] * 3  # 2 s per image on an A40 ($0.000725/s)
    calibrated = price_per_image(florence, Decimal("0.005"), runs)
    assert calibrated.per_image == Decimal("0.00145") and "3 finished" in calibrated.basis
    with pytest.raises(InputError) as err:
        price_per_image("someone/unknown", None, [])
    assert err.value.field == "SD35L_CAPTION_PRICE"
    assert cost_cents(published, 10) == 2 and cost_cents(published, 0) == 0
    assert cost_cents(published, 1) == 1  # a started cent is charged
    assert format_price(Decimal("0.0019")) == "$0.0019"
    assert DEFAULT_CAPTION_MODEL == DEFAULT_MODEL


# --- the simulator against the spec ----------------------------------------------------------


async def test_simulated_predictions_match_the_spec(sim: ReplicateSimulator) -> None:
    version = CAPTIONERS["lucataco/florence-2-large"].version
    image = "data:image/jpeg;base64," + __import__("base64").b64encode(jpeg()).decode()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=5) as client:
        body = {"version": version, "input": {"image": image, "task_input": "Caption"}}
        made = await client.post("/v1/predictions", json=body, headers={"Prefer": "wait=5"})
        assert made.status_code == 201
        check(made.json(), "/predictions", method="post", status="201")
        got = await client.get(f"/v1/predictions/{made.json()['id']}")
        check(got.json(), "/predictions/{prediction_id}")
        assert got.json()["status"] == "succeeded"
        assert got.json()["output"]["text"].startswith("{'<CAPTION>': 'The image shows")
        bad = {"version": version, "input": {"image": image, "task_input": "Poem"}}
        refused = await client.post("/v1/predictions", json=bad)
        assert refused.status_code == 422 and "task_input" in refused.json()["detail"]
        llava = CAPTIONERS[LLAVA]
        schema = (await client.get(f"/v1/models/{LLAVA}/versions/{llava.version}")).json()
        props = schema["openapi_schema"]["components"]["schemas"]["Input"]["properties"]
        assert {"image", "prompt"} <= set(props)


# --- end to end -------------------------------------------------------------------------------


async def test_captions_exactly_the_uncaptioned_cleaned_then_cached(
    sim: ReplicateSimulator, gw: ReplicateGateway, tmp_path: Path
) -> None:
    root = folder_of(tmp_path, 5, captioned=2)
    members = collect_folder(root, field="dataset", url_option="--dataset-url")
    todo = needs_caption(members)
    assert [p.name for p in todo] == ["img02.jpg", "img03.jpg", "img04.jpg"]
    cache = CaptionCache(tmp_path / "cache")
    settings = settings_for(sim)
    first = await plan(gw, settings, todo, cache=cache)
    assert len(first.todo) == 3 and first.cost_cents == cost_cents(first.price, 3)
    options = CaptionOptions(prefix="photo of TOK", forbidden=("plain",))
    done = await run(gw, settings, first, options, cache=cache)
    assert sorted(done.captions) == ["img02.jpg", "img03.jpg", "img04.jpg"]
    assert done.requests == 3 and creates(sim) == 3 and not done.failed
    for text in done.captions.values():
        assert text.startswith("photo of TOK, A ")
        assert "The image shows" not in text and "plain" not in text and "  " not in text
    assert done.charged_cents == first.cost_cents
    written = write_folder(root, done.captions, overwrite=False)
    assert written == ["img02.txt", "img03.txt", "img04.txt"]
    assert (root / "img00.txt").read_text() == "my own caption 0"

    again = await plan(gw, settings, todo, cache=cache)
    assert again.todo == [] and again.cost_cents == 0
    repeat = await run(gw, settings, again, options, cache=cache)
    assert creates(sim) == 3  # second run: zero prediction requests
    assert repeat.captions == done.captions and repeat.charged_cents == 0

    members = with_captions(members, done.captions)
    assert needs_caption(members) == []


async def test_partial_failure_leaves_those_images_uncaptioned_and_names_them(
    sim: ReplicateSimulator, gw: ReplicateGateway, tmp_path: Path
) -> None:
    pictures = [Picture(f"a{i}.jpg", jpeg(width=333 if i == 1 else 320, seed=i)) for i in range(3)]
    sim.faults.caption_fail_widths = {333}
    sim.faults.prediction_statuses = [429, 500, 503]  # retried, then fine
    settings = settings_for(sim)
    planned = await plan(gw, settings, pictures, cache=CaptionCache(tmp_path / "c"))
    done = await run(gw, settings, planned, CaptionOptions(), cache=CaptionCache(tmp_path / "c"))
    assert sorted(done.captions) == ["a0.jpg", "a2.jpg"]
    assert list(done.failed) == ["a1.jpg"] and "failed" in done.failed["a1.jpg"]
    assert done.requests == 3  # a failed prediction is billed too
    again = await plan(gw, settings, pictures, cache=CaptionCache(tmp_path / "c"))
    assert [p.name for p in again.todo] == ["a1.jpg"]  # only the failure is tried again


async def test_a_llava_model_is_asked_with_a_prompt(
    sim: ReplicateSimulator, tmp_path: Path
) -> None:
    settings = settings_for(sim, SD35L_CAPTION_MODEL=f"{LLAVA}:{LLAVA_VERSION}")
    async with ReplicateGateway(settings, backoff_base=0.001) as gw:
        planned = await plan(gw, settings, [Picture("x.png", jpeg())], cache=CaptionCache(tmp_path))
        assert planned.captioner.kind == "prompt"
        done = await run(gw, settings, planned, CaptionOptions(suffix="35mm"))
    assert done.captions["x.png"].startswith("A ") and done.captions["x.png"].endswith(", 35mm")
    sent = next(r.json for r in sim.requests if r.endpoint == CREATE)
    assert set(sent["input"]) == {"image", "prompt"}
    assert sent["input"]["image"].startswith("data:image/jpeg;base64,")


async def test_the_models_schema_decides_and_refuses_what_cannot_caption(
    sim: ReplicateSimulator, tmp_path: Path
) -> None:
    bad_task = settings_for(sim, SD35L_CAPTION_PROMPT="Write a poem")
    async with ReplicateGateway(bad_task) as gw:
        with pytest.raises(InputError) as err:
            await plan(gw, bad_task, [], cache=CaptionCache(tmp_path))
    assert err.value.field == "SD35L_CAPTION_PROMPT" and "More Detailed Caption" in str(err.value)
    unpinned = settings_for(sim, SD35L_CAPTION_MODEL="lucataco/florence-2-large")
    async with ReplicateGateway(unpinned) as gw:
        made = await plan(gw, unpinned, [], cache=CaptionCache(tmp_path))
    assert made.captioner.version == CAPTIONERS["lucataco/florence-2-large"].version
    trainer = settings_for(sim, SD35L_CAPTION_MODEL=unpinned.trainer)
    async with ReplicateGateway(trainer) as gw:
        with pytest.raises(InputError) as err:
            await plan(gw, trainer, [], cache=CaptionCache(tmp_path))
    assert err.value.field == "SD35L_CAPTION_MODEL" and "image" in str(err.value)
    missing = settings_for(sim, SD35L_CAPTION_MODEL="nobody/nothing")
    async with ReplicateGateway(missing) as gw:
        with pytest.raises(InputError) as err:
            await plan(gw, missing, [], cache=CaptionCache(tmp_path))
    assert "not found" in str(err.value)
    with pytest.raises(InputError):
        load_settings(SD35L_CAPTION_PRICE="cheap")


def test_with_captions_replaces_and_adds_caption_members() -> None:
    members = [Member("a.jpg", 3, b"abc"), Member("a.txt", 3, b"old"), Member("b.png", 3, b"x")]
    out = with_captions(members, {"a.jpg": "new a", "b.png": "new b"})
    texts = {m.name: m.data for m in out if m.name.endswith(".txt")}
    assert texts == {"a.txt": b"new a", "b.txt": b"new b"}
    assert [p.name for p in needs_caption(members, every=True)] == ["a.jpg", "b.png"]


async def test_finished_caption_runs_calibrate_the_price_in_the_bot_and_the_cli(
    tmp_path: Path,
) -> None:
    from bot.core.captions.charges import caption_samples, record_charge
    from bot.core.captions.cost import read_samples
    from bot.core.captions.run import CaptionResult
    from bot.core.store.db import Store

    florence = DEFAULT_MODEL.split(":")[0]
    path = tmp_path / "bot.sqlite"
    async with await Store.open(path) as store:
        for _ in range(3):
            run_ = CaptionResult(requests=10, predict_time=20.0, charged_cents=2)
            await record_charge(store.ledger, 1, None, florence, run_)
        assert await record_charge(store.ledger, 1, None, florence, CaptionResult()) is None
        in_bot = await caption_samples(store.ledger, florence)
        assert await store.ledger.spent_cents(_month(), 1) == 6  # counted against budgets
    in_cli = read_samples(path, florence)
    assert in_bot == in_cli == [CaptionSample(10, 20.0)] * 3
    price = price_per_image(florence, None, in_cli)
    assert price.per_image == Decimal("0.00145") and "calibrated" in price.basis
    assert read_samples(tmp_path / "none.sqlite", florence) == []


def _month() -> str:
    from bot.core.store.ledger import month_of
    from bot.core.store.rows import utcnow

    return month_of(utcnow())


async def test_a_slow_prediction_is_read_again_until_it_ends(
    sim: ReplicateSimulator, gw: ReplicateGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predictions, "WAIT_SECONDS", 1)
    monkeypatch.setattr(predictions, "POLL_SECONDS", 0.05)
    sim.caption_seconds = 1.3  # longer than the create waits: it answers "processing"
    settings = settings_for(sim)
    planned = await plan(gw, settings, [Picture("a.jpg", jpeg())], cache=CaptionCache(tmp_path))
    done = await run(gw, settings, planned, CaptionOptions(), cache=CaptionCache(tmp_path))
    assert list(done.captions) == ["a.jpg"] and done.predict_time == 2.6
    reads = [r for r in sim.requests if r.endpoint == "GET /v1/predictions/{id}"]
    assert reads and all(r.method == "GET" for r in reads)


async def test_a_refused_create_fails_only_that_image_with_the_reason(
    sim: ReplicateSimulator, gw: ReplicateGateway, tmp_path: Path
) -> None:
    sim.faults.prediction_statuses = [402]  # insufficient credit: not retried
    settings = settings_for(sim)
    pictures = [Picture("a.jpg", jpeg(seed=1))]
    planned = await plan(gw, settings, pictures, cache=CaptionCache(tmp_path))
    done = await run(gw, settings, planned, CaptionOptions(), cache=CaptionCache(tmp_path))
    assert done.captions == {} and done.requests == 0 and done.charged_cents == 0
    assert "credit" in done.failed["a.jpg"].lower()
    broken = [Picture("b.jpg", b"not an image at all")]
    planned = await plan(gw, settings, broken, cache=CaptionCache(tmp_path))
    done = await run(gw, settings, planned, CaptionOptions(), cache=CaptionCache(tmp_path))
    assert done.failed["b.jpg"].startswith("not readable as an image")


def test_caption_files_are_matched_loosely_and_refused_clearly() -> None:
    from bot.core.captions.edits import parse_caption_file

    images = ["0001_cat.jpg", "0002_dog.png", "0003_dog.jpg"]
    found = parse_caption_file(b"\xef\xbb\xbfcat: a cat\n0003_dog.jpg:  two  words \n", images)
    assert found == {"0001_cat.jpg": "a cat", "0003_dog.jpg": "two words"}
    for data, needle in (
        (b"dog: ambiguous\n", "two images"),
        (b"no colon here\n", "no `name:`"),
        (b"\xff\xfe", "not UTF-8"),
        (b"# only a comment\n", "no `name: caption` lines"),
        (b"x" * 70_000, "at most 64 KB"),
    ):
        with pytest.raises(InputError) as err:
            parse_caption_file(data, images)
        assert needle in str(err.value) and err.value.field == "captions"
