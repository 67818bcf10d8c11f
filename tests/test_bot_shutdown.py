"""Shutdown: new interactions are turned away, running ones finish before the store closes."""

from __future__ import annotations

import asyncio

from bot.drain import RESTARTING
from tests.bot_support import World, has_button, make_bot, train_options


async def test_close_lets_a_running_start_finish_and_turns_new_work_away(world: World) -> None:
    fd, sim = world.fd, world.sim
    async with fd.running(make_bot(world)) as bot:
        res = await fd.slash("train", train_options(world), user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        sim.faults.slow_seconds = 1.0  # the create is in flight when close() begins
        click = await fd.click(preview, label="Start", user=world.alice)
        await fd.wait_until(lambda: bot.gate.running > 0, timeout=5)
        closing = asyncio.create_task(bot.close())
        await fd.wait_until(lambda: bot.gate.draining, timeout=5)
        late = await fd.slash("presets", {}, user=world.bob)
        turned = await late.wait_text("restarting", timeout=10)
        assert turned.ephemeral and RESTARTING in turned.text()
        await asyncio.wait_for(closing, timeout=30)
        started = await click.wait_original(lambda m: "Started training" in m.content, timeout=1)
        assert "went wrong" not in started.text()
        assert bot.gate.turned_away == 1 and bot.gate.running == 0
    (tid,) = sim.trainings
    assert [c for c in world.cards() if tid in c.text()]
    world.assert_clean()


async def test_a_handler_over_the_grace_is_cancelled(world: World) -> None:
    fd, sim = world.fd, world.sim
    async with fd.running(make_bot(world)) as bot:
        bot.shutdown_grace = 0.2
        res = await fd.slash("train", train_options(world), user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        sim.faults.slow_seconds = 5.0
        await fd.click(preview, label="Start", user=world.alice)
        await fd.wait_until(lambda: bot.gate.running > 0, timeout=5)
        assert await bot.gate.drain(0.2) == 1
        sim.faults.slow_seconds = 0.0


async def test_close_closes_the_session_the_tracker_reads_trainings_with(world: World) -> None:
    fd, sim = world.fd, world.sim
    async with fd.running(make_bot(world)) as bot:
        res = await fd.slash("train", train_options(world), user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        await fd.click(preview, label="Start", user=world.alice)
        await fd.wait_until(lambda: len(sim.trainings) == 1, timeout=10)
        (tid,) = sim.trainings
        polled = f"/v1/trainings/{tid}"
        await fd.wait_until(lambda: any(r.path == polled for r in sim.requests), timeout=10)
        reader = bot.gateway._reader
        assert reader is not None and reader._session is not None
        session = reader._session
        assert not session.closed
        await bot.close()
        assert session.closed
    world.assert_clean()
