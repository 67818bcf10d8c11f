"""Cancel rights and confirmation, restarts (buttons on old messages, one notice), closed DMs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot import notifier
from bot.core.jobs.pending import NOT_SUBMITTED
from bot.core.jobs.tracker import CardResult
from bot.core.store.rows import TrainingRow, utcnow
from tests.bot_support import LONG_STEPS, World, has_button, make_bot, train_options
from tests.fakediscord import StoredMessage


async def _preview(world: World, **options: Any) -> StoredMessage:
    res = await world.fd.slash("train", train_options(world, **options), user=world.alice)
    return await res.wait_original(has_button("Start"), timeout=10)


async def _start(world: World, preview: StoredMessage) -> tuple[StoredMessage, str]:
    click = await world.fd.click(preview, label="Start", user=world.alice)
    await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
    card = world.cards()[-1]
    return card, card.embeds[0]["title"].split()[-1]


async def test_cancel_rights_confirmation_and_notice(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)) as bot:
        card, tid = await _start(world, await _preview(world, steps=LONG_STEPS))
        refused = await fd.click(card, label="Cancel", user=world.bob)
        await refused.wait_text("Only the creator")
        res = await fd.slash("cancel", {"training": tid}, user=world.bob)
        await res.wait_text("Only the creator")

        ask = await fd.click(card, label="Cancel", user=world.alice)
        confirm = await ask.wait_text("cannot resume")
        assert has_button("Cancel")(confirm) and confirm.ephemeral
        done = await fd.click(confirm, label="Cancel", user=world.alice)
        await done.wait_original(lambda m: "canceled" in m.content, timeout=10)
        await fd.wait_until(lambda: "canceled" in fd.message(card.id).text(), timeout=10)
        # Ended without success: Cancel is gone, Train again offers the same config.
        assert [b["label"] for b in fd.message(card.id).buttons()] == ["Train again"]
        await fd.wait_until(lambda: bool(fd.dms(world.alice)), timeout=10)
        assert "canceled" in fd.dms(world.alice)[0].text()

        assert fd.message(confirm.id).buttons() == []
        late = await fd.slash("cancel", {"training": tid}, user=world.alice)
        await late.wait_text("already ended")
        row = await bot.store.trainings.get(tid)
        assert row is not None and row.status == "canceled"

        _card2, tid2 = await _start(world, await _preview(world, steps=LONG_STEPS))
        res = await fd.slash("cancel", {"training": tid2}, user=world.mia)  # a manager
        confirm2 = await res.wait_text("cannot resume")
        done = await fd.click(confirm2, label="Cancel", user=world.mia)
        await done.wait_original(lambda m: "canceled" in m.content, timeout=10)
    world.assert_clean()


async def test_restart_keeps_buttons_and_notifies_once(world: World) -> None:
    fd = world.fd
    first = make_bot(world)
    async with fd.running(first):
        preview = await _preview(world, steps=LONG_STEPS)
    assert fd.sync_count(fd.first_guild()) == 1

    async with fd.running(make_bot(world)):  # a restart: same database, new process
        assert fd.sync_count(fd.first_guild()) == 1  # payload unchanged: no second sync
        card, tid = await _start(world, preview)
        processing = lambda: "processing" in fd.message(card.id).text()  # noqa: E731
        await fd.wait_until(processing, timeout=10)

    async with fd.running(make_bot(world)):  # restart while it runs; a stranger still refused
        refused = await fd.click(card, label="Cancel", user=world.bob)
        await refused.wait_text("Only the creator")
        world.sim.finish(tid, "failed")
        await fd.wait_until(lambda: bool(fd.dms(world.alice)), timeout=10)
        await fd.wait_until(lambda: "failed" in fd.message(card.id).text(), timeout=10)

    async with fd.running(make_bot(world)) as last:  # one more restart: nothing is re-sent
        await last.tracker.run_once()
        notices = await last.store.outbox.for_training(tid)
    (dm,) = fd.dms(world.alice)
    assert len(notices) == 1 and notices[0].delivered_at is not None
    assert "failed" in dm.text()
    assert any(a["filename"].endswith("log-tail.txt") for a in dm.attachments)
    world.assert_clean()


async def test_closed_dms_mention_owner_in_channel(world: World) -> None:
    fd = world.fd
    fd.add_member(fd.first_guild(), world.alice.id, dms_closed=True)
    async with fd.running(make_bot(world)):
        _card, tid = await _start(world, await _preview(world))

        def fallback() -> list[StoredMessage]:
            return [m for m in fd.messages(world.channel()) if m.content.startswith("<@")]

        await fd.wait_until(lambda: bool(fallback()), timeout=15)
        (msg,) = fallback()
        assert msg.content.startswith(f"<@{world.alice.id}>")
        assert [u["id"] for u in msg.data["mentions"]] == [str(world.alice.id)]
        assert tid in msg.text() and "succeeded" in msg.text()
        assert fd.dms(world.alice) == []
    world.assert_clean()


async def test_lost_create_is_adopted_and_gets_its_card(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start's create times out and the training can't be found yet: the user is told, nothing
    is offered twice, and once Replicate answers again the tracker adopts the training, posts
    its card in the channel and notifies the owner once."""
    monkeypatch.setattr(notifier, "CARD_GRACE", timedelta(0))
    fd, sim = world.fd, world.sim
    async with fd.running(make_bot(world)) as bot:
        preview = await _preview(world)
        saved = await bot.store.previews.get(preview.buttons()[0]["custom_id"].split(":")[-1])
        assert saved is not None and saved.images
        sim.faults.create_timeouts = 1
        sim.faults.create_timeout_mode = "close"
        sim.faults.read_failure_rate = 1.0  # the lookup for the lost create finds nothing
        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_text("sd35l-trainer list")
        assert world.cards() == []
        assert len(sim.trainings) == 1  # made once, never retried blindly
        sim.faults.read_failure_rate = 0.0
        await fd.wait_until(lambda: len(world.cards()) == 1, timeout=15)
        await fd.wait_until(lambda: bool(fd.dms(world.alice)), timeout=15)
        (dm,) = fd.dms(world.alice)
        assert "succeeded" in dm.text()
        assert len(sim.trainings) == 1
        assert fd.message(preview.id).buttons() == []  # the preview can't start it again
        (tid,) = sim.trainings
        filed = await bot.budget.ledger.get(tid)
        assert filed is not None and filed.images == saved.images  # the preview's count
    world.assert_clean()


async def test_start_and_tracker_racing_post_one_card(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Start that created a training and the tracker, which posts the card of a training it
    finds without one, reach the same training at the same moment. One card is posted, even
    when Discord's nonce check is not there to catch a repeat."""
    monkeypatch.setattr(notifier, "CARD_GRACE", timedelta(0))
    fd = world.fd
    fd.nonce_window = 0.0
    async with fd.running(make_bot(world)) as bot:
        row = TrainingRow(
            id="race1",
            owner_id=world.alice.id,
            destination="alice/lora",
            channel_id=world.channel().id,
            created_at=utcnow() - timedelta(minutes=5),
        )
        await bot.store.trainings.add(row)
        started, tracked = await asyncio.gather(
            bot.notifier.post_card(row, world.channel().id), bot.notifier.update_card(row)
        )
        assert tracked is CardResult.OK
        cards = [c for c in world.cards() if "race1" in c.embeds[0]["title"]]
        assert len(cards) == 1 and started.id == cards[0].id
        stored = await bot.store.trainings.get("race1")
        assert stored is not None and stored.card_message_id == cards[0].id
        assert len(bot.notifier.card_posts) == 0  # nothing kept once both are done
    world.assert_clean()


async def test_start_training_in_a_dm_is_judged_on_the_members_roles(world: World) -> None:
    """After an interrupted start the owner is offered "Start training" in a DM. A DM click
    carries no roles, so with SD35L_ALLOWED_ROLES set the bot looks the member up in the
    preview's server: an allowed member starts, one who lost the role is refused."""
    fd = world.fd
    guild = fd.first_guild()
    trainers = fd.add_role(guild, "lora-trainers")
    carol = fd.add_member(guild, name="carol", roles=[trainers])
    async with fd.running(make_bot(world, SD35L_ALLOWED_ROLES="lora-trainers")) as bot:

        async def offered_in_dm() -> StoredMessage:
            res = await fd.slash("train", train_options(world, steps=LONG_STEPS), user=carol)
            preview = await res.wait_original(has_button("Start"), timeout=10)
            key = preview.buttons()[0]["custom_id"].split(":")[-1]
            saved = await bot.store.previews.get(key)
            assert saved is not None
            told = len(fd.dms(carol))
            pending = await bot.store.pending.add(
                owner_id=carol.id,
                guild_id=saved.guild_id,
                channel_id=saved.channel_id,
                destination="alice/lora",
                trigger_word=None,
                config=saved.config,
                inputs={},
            )
            assert pending is not None
            await bot.store.pending.settle(pending, NOT_SUBMITTED)
            bot.tracker.wake()
            await fd.wait_until(lambda: len(fd.dms(carol)) > told, timeout=10)
            dm = fd.dms(carol)[-1]
            assert has_button("Start training")(dm)
            return dm

        dm = await offered_in_dm()
        click = await fd.click(dm, label="Start training", user=carol)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
        assert len(world.sim.trainings) == 1

        dm = await offered_in_dm()
        fd.add_member(guild, carol.id, name="carol", roles=[])  # the role is taken away
        refused = await fd.click(dm, label="Start training", user=carol)
        await refused.wait_text("lora-trainers")
        assert len(world.sim.trainings) == 1
    world.assert_clean()
