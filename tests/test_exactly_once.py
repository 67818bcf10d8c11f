"""Settling Starts whose create answer was lost, in-process: identity by marker, the strict
rule without one, ambiguity told to owners and managers, and inserts that are never silent."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot import notifier
from bot.core.config.model import to_trainer_input
from bot.core.jobs.pending import AMBIGUOUS, NOT_SUBMITTED, UNKNOWN
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow
from bot.core.store.trainings import OwnerConflictError
from bot.sim import ReplicateSimulator
from tests.bot_support import World, has_button, make_bot, train_options
from tests.jobs_support import OTHER, OWNER, Process, config

pytestmark = pytest.mark.usefixtures("sim")


async def _sent(store: Store, owner: int, inputs: dict[str, Any], marker: str | None) -> int:
    pid = await store.pending.add(
        owner_id=owner,
        guild_id=1,
        channel_id=2,
        destination="alice/lora",
        trigger_word="ZXQTOK",
        config={},
        inputs=inputs,
        marker=marker,
    )
    assert pid is not None
    await store.pending.mark_sent(pid)
    return pid


async def test_submit_sends_a_marker_and_a_lost_answer_is_found_by_it(
    jobs_sim: ReplicateSimulator, settings: Any, proc: Process
) -> None:
    jobs_sim.faults.create_timeouts = 1
    jobs_sim.faults.create_timeout_mode = "close"
    row = await proc.jobs.submit(OWNER, 1, 2, config(settings))
    (made,) = jobs_sim.trainings.values()
    marker = made["input"]["wandb_run"]
    assert marker.startswith("sd35l-") and len(marker) == 22
    assert row.id == made["id"] and row.owner_id == OWNER  # the gateway's lookup used the marker


async def test_identical_configs_without_a_marker_are_never_guessed(
    jobs_sim: ReplicateSimulator, settings: Any, proc: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two open Starts with the same full input and one training: nobody gets it."""
    inputs = to_trainer_input(config(settings).config)
    await _sent(proc.store, OWNER, inputs, None)
    await _sent(proc.store, OTHER, inputs, None)
    made = jobs_sim.create_training("alice/lora", dict(inputs))
    assert await proc.jobs.resolve_pending_submissions() == 0
    assert await proc.store.trainings.get(made.id) is None
    told = await proc.store.pending.untold()
    assert [(p.owner_id, p.outcome) for p in told] == [(OWNER, AMBIGUOUS), (OTHER, AMBIGUOUS)]
    assert all(p.outcome_info == {"trainings": [made.id]} for p in told)


async def test_a_marker_owned_by_nobody_here_is_not_adopted_and_nothing_waits_forever(
    jobs_sim: ReplicateSimulator, settings: Any, proc: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = to_trainer_input(config(settings).config)
    jobs_sim.create_training("alice/lora", {**inputs, "wandb_run": "sd35l-someone-else"})
    pid = await _sent(proc.store, OWNER, {**inputs, "wandb_run": "sd35l-mine"}, "sd35l-mine")
    assert await proc.jobs.resolve_pending_submissions() == 0  # too fresh to be sure
    assert [p.id for p in await proc.store.pending.unsettled()] == [pid]
    monkeypatch.setattr("bot.core.jobs.pending.SETTLE", timedelta(0))
    assert await proc.jobs.resolve_pending_submissions() == 0
    (told,) = await proc.store.pending.untold()
    assert told.outcome == NOT_SUBMITTED and len(jobs_sim.trainings) == 1
    await proc.store.pending.mark_told(told.id)
    assert await proc.store.pending.untold() == []


async def test_unreachable_replicate_gives_up_as_unknown(
    settings: Any, proc: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _sent(proc.store, OWNER, {}, "sd35l-x")
    monkeypatch.setattr(proc.gateway, "_token", None)  # every request now fails before sending
    assert await proc.jobs.resolve_pending_submissions() == 0
    assert await proc.store.pending.untold() == []
    monkeypatch.setattr("bot.core.jobs.pending.PENDING_GIVE_UP", timedelta(0))
    assert await proc.jobs.resolve_pending_submissions() == 0
    (told,) = await proc.store.pending.untold()
    assert told.outcome == UNKNOWN


async def test_an_insert_for_another_owner_is_refused_loudly(proc: Process) -> None:
    await proc.store.trainings.add(TrainingRow(id="t1", owner_id=OWNER, destination="a/b"))
    again = await proc.store.trainings.add(TrainingRow(id="t1", owner_id=OWNER, destination="a/b"))
    assert again.owner_id == OWNER
    with pytest.raises(OwnerConflictError, match="not attributed to you"):
        await proc.store.trainings.add(TrainingRow(id="t1", owner_id=OTHER, destination="a/b"))
    row = await proc.store.trainings.get("t1")
    assert row is not None and row.owner_id == OWNER


def test_nonces_fit_discord_and_differ_per_message() -> None:
    made = {notifier.nonce("notice", i, "t", "ended") for i in range(1000)}
    assert len(made) == 1000 and all(len(n) + 1 <= 25 for n in made)  # +1: the DM's suffix


async def test_ambiguous_start_is_told_to_owner_and_managers(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)) as bot:
        pid = await bot.store.pending.add(
            owner_id=world.alice.id,
            guild_id=fd.first_guild().id,
            channel_id=world.channel().id,
            destination="alice/lora",
            trigger_word="ZXQTOK",
            config={},
            inputs={},
        )
        assert pid is not None
        await bot.store.pending.settle(pid, AMBIGUOUS, {"trainings": ["abc123"]})
        await bot.tracker.run_once()
        (dm,) = fd.dms(world.alice)
        assert "manager" in dm.text() and "abc123" in dm.text()
        (post,) = [m for m in fd.messages(world.channel()) if m.content.startswith("<@&")]
        assert post.content.startswith(f"<@&{world.manager_role}>")
        await bot.tracker.run_once()  # told once
        assert len(fd.dms(world.alice)) == 1
    world.assert_clean()


async def test_a_start_cut_off_before_sending_offers_start_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.core.jobs.pending.SETTLE", timedelta(0))
    fd = world.fd
    fd.add_member(fd.first_guild(), world.alice.id, dms_closed=True)
    async with fd.running(make_bot(world)) as bot:
        res = await fd.slash("train", train_options(world), user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        key = preview.buttons()[0]["custom_id"].split(":")[-1]
        stored = await bot.store.previews.get(key)
        resolved = await _resolved(bot, stored)
        assert await bot.jobs.claim_start(stored, resolved) is not None
        bot.jobs._inflight.clear()  # as after a restart: nobody is sending it
        assert await bot.jobs.claim_start(stored, resolved) is None  # the preview is used up
        await bot.tracker.run_once()
        (told,) = [m for m in fd.messages(world.channel()) if m.content.startswith("<@")]
        assert "nothing was submitted and nothing was charged" in told.text()
        click = await fd.click(told, label="Start", user=world.alice)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
    assert len(world.sim.trainings) == 1
    world.assert_clean()


async def _resolved(bot: Any, preview: Any) -> Any:
    from bot.core.config.model import resolve_config

    return resolve_config(file=preview.config, settings=bot.settings)


async def test_one_member_twice_at_once_gets_two_trainings_even_when_answers_are_lost(
    jobs_sim: ReplicateSimulator, settings: Any, proc: Process
) -> None:
    """The same config twice at the same moment, both create answers lost: each Start finds
    its own training by its own marker, never the other's."""
    jobs_sim.faults.create_timeouts = 2
    jobs_sim.faults.create_timeout_mode = "close"
    first, second = await asyncio.gather(
        proc.jobs.submit(OWNER, 1, 2, config(settings)),
        proc.jobs.submit(OWNER, 1, 2, config(settings)),
    )
    assert first.id != second.id and set(jobs_sim.trainings) == {first.id, second.id}
    markers = {jobs_sim.trainings[t]["input"]["wandb_run"] for t in (first.id, second.id)}
    assert len(markers) == 2
    assert await proc.store.pending.unsettled() == []


def test_the_correction_says_what_the_owner_was_told_before() -> None:
    from bot.ui.starts import late_start_embed

    row = TrainingRow(id="t9", owner_id=OWNER, destination="alice/lora", trigger_word="ZXQTOK")

    def said(**payload: Any) -> str:
        return str(late_start_embed(row, payload).description)

    assert "nothing was submitted or charged; that was wrong" in said(
        told=True, earlier=NOT_SUBMITTED
    )
    assert "could not find out whether it was created: it was" in said(told=True, earlier=UNKNOWN)
    untold = said(told=False, earlier=NOT_SUBMITTED)
    assert "You were told" not in untold and "`t9` was created and is billed" in untold
