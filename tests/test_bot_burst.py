"""A burst of members through the real bot on the fake Discord: the dataset checks' line (its
messages: place, estimate, moving up, the turn), a Start that reads only its own training, and
the card saying how often it refreshes once Replicate's rate limit stretches the poll period."""

from __future__ import annotations

import asyncio
import gc
import io
import random

import pytest
from aiohttp import web
from PIL import Image

from bot.core import memory
from tests.bot_support import World, has_button, make_bot, train_options
from tests.cli_support import dataset_zip
from tests.dataset_corpus import CorpusServer
from tests.fakediscord import StoredMessage
from tests.stall_support import StallGuard
from tests.synthetic_zip import SyntheticZip


class GatedHost(CorpusServer):
    """The corpus server, except that `/range/held-*.zip` answers only once its gate opens."""

    def __init__(self, names: list[str]) -> None:
        zipped = dataset_zip()
        super().__init__(files={name: zipped for name in [*names, "good.zip"]})
        self.gates = {name: asyncio.Event() for name in names}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        gate = self.gates.get(request.path.rsplit("/", 1)[-1])
        if gate is not None:
            await gate.wait()
        return await super()._handle(request)


def texts(message: StoredMessage) -> list[str]:
    """Every version of a message's content, oldest first."""
    return [str(old.get("content") or "") for old in message.history] + [message.content]


async def test_checks_wait_in_line_told_their_place_and_when(world: World) -> None:
    fd = world.fd
    host = GatedHost(["held-a.zip", "held-b.zip"])
    await host.start()
    try:
        async with fd.running(make_bot(world, SD35L_MAX_CHECKS="1")) as bot:
            assert bot.checks.size == 1
            url = host.url("/range/{}").format
            first = await fd.slash(
                "train", train_options(world, dataset_url=url("held-a.zip")), user=world.alice
            )
            await fd.wait_until(lambda: bot.checks.running == 1, timeout=5)
            second = await fd.slash(
                "train", train_options(world, dataset_url=url("held-b.zip")), user=world.bob
            )
            third = await fd.slash(
                "train", train_options(world, dataset_url=url("good.zip")), user=world.mia
            )
            for res in (first, second, third):  # acknowledged at once, whatever the line
                assert (await res.wait_response())["type"] == 5

            told = await second.wait_original(lambda m: "in line" in m.content)
            assert "1st in line for a dataset check" in told.content
            assert "1 running" in told.content and "at most 1 run at once" in told.content
            assert "should start in about 20 s" in told.content  # no turn timed yet: 20 s each
            told = await third.wait_original(lambda m: "in line" in m.content)
            assert "2nd in line" in told.content and "1 waiting ahead of you" in told.content
            assert "should start in about 40 s" in told.content
            assert first.original() is not None and first.original().loading  # never waited

            host.gates["held-a.zip"].set()  # the first check ends: everyone moves up
            await first.wait_text("Start", timeout=10)
            await second.wait_original(lambda m: "Your turn came" in m.content, timeout=5)
            moved = await third.wait_original(lambda m: "1st in line" in m.content, timeout=5)
            assert "waiting ahead" not in moved.content

            host.gates["held-b.zip"].set()
            preview = await third.wait_text("Start", timeout=10)
            assert has_button("Start")(preview)
            history = texts(await third.wait_original(lambda m: "Your turn came" in m.content))
            told_places = [t for t in history if "in line" in t]
            assert [t.split(" in line")[0][-3:] for t in told_places] == ["2nd", "1st"]
            assert "the dataset check is running now" in history[-1]
            await second.wait_text("Start", timeout=10)
            assert bot.checks.running == 0 and bot.checks.waiting == 0
    finally:
        await host.stop()
    world.assert_clean()


async def test_a_start_reads_its_own_training_not_every_active_one(world: World) -> None:
    fd = world.fd
    # Rounds far apart: any read after the Start is the Start's own.
    async with fd.running(
        make_bot(world, SD35L_POLL_INTERVAL=600, SD35L_MAX_ACTIVE_PER_USER=10)
    ) as bot:
        for _ in range(4):  # trainings already running
            res = await fd.slash("train", train_options(world, steps=6000), user=world.alice)
            preview = await res.wait_original(has_button("Start"), timeout=10)
            click = await fd.click(preview, label="Start", user=world.alice)
            await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
        await asyncio.sleep(0.2)
        before = len(world.sim.requests)
        res = await fd.slash("train", train_options(world, steps=6000), user=world.bob)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        asked_for_preview = len(world.sim.requests)
        click = await fd.click(preview, label="Start", user=world.bob)
        done = await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
        new_id = done.content.split("`")[1]
        await fd.wait_until(lambda: not bot.tracker._single, timeout=5)
        after_start = [f"{r.method} {r.path}" for r in list(world.sim.requests)[asked_for_preview:]]
        reads = [r for r in after_start if r.startswith("GET /v1/trainings/")]
        assert reads == [f"GET /v1/trainings/{new_id}"], after_start
        assert before <= asked_for_preview


async def test_the_card_says_how_often_it_refreshes_when_the_limit_stretches_it(
    world: World,
) -> None:
    fd = world.fd
    bot = make_bot(world)
    # A tracker allowed 60 reads a minute: two active trainings are read every 2 s, not 0.05 s.
    bot.tracker_options["reads_per_minute"] = 60.0
    async with fd.running(bot):
        ids = []
        for _ in range(2):
            res = await fd.slash("train", train_options(world, steps=6000), user=world.alice)
            preview = await res.wait_original(has_button("Start"), timeout=10)
            click = await fd.click(preview, label="Start", user=world.alice)
            done = await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
            ids.append(done.content.split("`")[1])
        await fd.wait_until(lambda: bot.tracker.interval == 2.0, timeout=10)
        assert bot.tracker.pace().stretched

        def footers() -> list[str]:
            return [((c.embeds[0].get("footer") or {}).get("text") or "") for c in world.cards()]

        await fd.wait_until(lambda: any("every 2 s" in f for f in footers()), timeout=15)
        footer = next(f for f in footers() if "every 2 s" in f)
        assert footer.startswith("Refreshed every 2 s (slower than usual")
        assert "Replicate limits how often" in footer
    world.assert_clean()


def many_images_zip(images: int = 5000) -> SyntheticZip:
    """A ZIP of `images` PNGs (27 KB of noise each) with captions, 135 MB served by range: its
    10,000 directory entries are what the sample's planning walks."""
    noise = Image.frombytes("RGB", (96, 96), random.Random(5).randbytes(96 * 96 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    return SyntheticZip(images, out.getvalue(), suffix="png")


async def test_a_5000_image_zip_is_planned_off_the_event_loop(
    world: World, loop_stalls: StallGuard
) -> None:
    """The stall guard (tests/stall_support.py) fails this test if planning the sample of ~10,000
    directory entries (70-160 ms) runs on the loop, as it did."""
    host = CorpusServer(files={"many.zip": many_images_zip()})  # type: ignore[dict-item]
    await host.start()
    try:
        async with world.fd.running(make_bot(world)):
            options = train_options(world, dataset_url=host.url("/range/many.zip"))
            res = await world.fd.slash("train", options, user=world.alice)
            preview = await res.wait_text("Preview", timeout=30)
            assert "usable images: 5000" in preview.text() and has_button("Start")(preview)
            assert "of 5000 images were read (an evenly spaced sample" in preview.text()
    finally:
        await host.stop()
    assert loop_stalls.stalls == []


async def test_what_lives_from_start_up_is_frozen_out_of_collections_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full garbage collection walked every object of the connected bot (50-60 ms, stalling
    whichever callback it hit); frozen once the bot is ready, they are skipped."""
    frozen: list[int] = []
    monkeypatch.setattr(memory, "_frozen", False)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    bot = make_bot(world)
    async with world.fd.running(bot):
        for _ in range(200):
            if frozen:
                break
            await asyncio.sleep(0.01)
        assert frozen == [1] and bot.tracker._task is not None  # after the tracker started
    memory.freeze_survivors()  # a second bot in one process freezes nothing more
    assert frozen == [1]
