"""The card's Train again: offered once a training ended without success, opens the /train
preview of its stored config for whoever clicked, survives restarts, and re-checks the config."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.core.errors import InputError
from bot.core.store.rows import TrainingRow
from bot.ui.train import ended_row
from tests.bot_support import TRIGGER, World, has_button, make_bot, train_options
from tests.fakediscord import FakeUser, StoredMessage

AGAIN = "Train again"


async def _preview(world: World, **options: Any) -> StoredMessage:
    res = await world.fd.slash("train", train_options(world, **options), user=world.alice)
    return await res.wait_original(has_button("Start"), timeout=10)


async def _start(world: World, preview: StoredMessage, user: FakeUser) -> tuple[StoredMessage, str]:
    click = await world.fd.click(preview, label="Start", user=user)
    await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
    card = world.cards()[-1]
    return card, card.embeds[0]["title"].split()[-1]


async def _ended_card(world: World, outcome: str, **options: Any) -> tuple[StoredMessage, str]:
    """Alice starts a training that ends with `outcome`; wait until its card shows the end."""
    world.sim.faults.outcome = outcome
    card, tid = await _start(world, await _preview(world, **options), world.alice)
    await world.fd.wait_until(lambda: outcome in world.fd.message(card.id).text(), timeout=10)
    world.sim.faults.outcome = "succeeded"
    return card, tid


async def test_failed_card_offers_train_again_to_others(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)) as bot:
        card, tid = await _ended_card(world, "failed", steps=40, destination="alice/lora")
        await fd.wait_until(lambda: has_button(AGAIN)(fd.message(card.id)), timeout=10)
        assert [b["label"] for b in fd.message(card.id).buttons()] == [AGAIN]

        click = await fd.click(fd.message(card.id), label=AGAIN, user=world.bob)
        preview = await click.wait_original(has_button("Start"), timeout=10)
        assert preview.ephemeral and has_button("Cancel")(preview)
        text = preview.text()
        assert "alice/lora" in text and TRIGGER in text and "`40`" in text
        assert f"training {tid}" in text  # says where the config came from
        assert "Dataset" in text or "dataset" in text

        card2, tid2 = await _start(world, preview, world.bob)
        assert tid2 != tid and card2.id != card.id
        row2 = await bot.store.trainings.get(tid2)
        assert row2 is not None and row2.owner_id == world.bob.id
        assert row2.config == (await bot.store.trainings.get(tid)).config  # type: ignore[union-attr]
        assert f"<@{world.bob.id}>" in card2.text()
        # The first card keeps its button; the used preview lost its Start.
        assert has_button(AGAIN)(fd.message(card.id))
        assert fd.message(preview.id).buttons() == []
    world.assert_clean()


async def test_succeeded_card_has_no_train_again(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)):
        card, _tid = await _ended_card(world, "succeeded")
        assert fd.message(card.id).buttons() == []
        canceled, _ = await _ended_card(world, "canceled")
        await fd.wait_until(lambda: has_button(AGAIN)(fd.message(canceled.id)), timeout=10)
    world.assert_clean()


async def test_train_again_after_restart_and_with_stricter_policy(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)):
        card, _tid = await _ended_card(world, "aborted", steps=40)
        await fd.wait_until(lambda: has_button(AGAIN)(fd.message(card.id)), timeout=10)

    async with fd.running(make_bot(world)):  # a restart: the old card's button still works
        click = await fd.click(fd.message(card.id), label=AGAIN, user=world.bob)
        preview = await click.wait_original(has_button("Start"), timeout=10)
        assert "`40`" in preview.text()

    # The team's policy narrowed while the bot was down: the stored steps no longer pass.
    async with fd.running(make_bot(world, SD35L_POLICY_STEPS="100-2000")):
        click = await fd.click(fd.message(card.id), label=AGAIN, user=world.mia)
        answer = await click.wait_text("steps", timeout=10)
        assert answer.ephemeral and answer.buttons() == [] and not answer.embeds
        assert "steps" in answer.content and "Traceback" not in answer.content
        assert answer.content.count(". ") <= 1, answer.content
        assert len(world.cards()) == 1
    world.assert_clean()


async def test_train_again_respects_allowed_roles(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)):
        card, _tid = await _ended_card(world, "failed")
    async with fd.running(make_bot(world, SD35L_ALLOWED_ROLES="lora-managers")):
        refused = await fd.click(fd.message(card.id), label=AGAIN, user=world.bob)
        await refused.wait_text("SD35L_ALLOWED_ROLES")
        allowed = await fd.click(fd.message(card.id), label=AGAIN, user=world.mia)
        await allowed.wait_original(has_button("Start"), timeout=10)
    world.assert_clean()


async def test_stale_or_unknown_training_gets_one_sentence() -> None:
    """A card button can outlive its row's state (unknown id, a status that changed, a row
    without a stored config): each gets one sentence, never a preview."""
    rows = {
        "ok1": TrainingRow(id="ok1", owner_id=1, destination="a/b", status="failed", config={}),
        "run1": TrainingRow(id="run1", owner_id=1, destination="a/b", status="processing"),
    }

    async def get(training_id: str) -> TrainingRow | None:
        return rows.get(training_id)

    import discord

    from bot.ui.services import ServicedBot

    client = ServicedBot(command_prefix="!", intents=discord.Intents.none())
    client.store = SimpleNamespace(trainings=SimpleNamespace(get=get))  # type: ignore[assignment]
    interaction: Any = SimpleNamespace(client=client)
    cases = {"nope": "no longer tracked", "run1": "is processing", "ok1": "no stored config"}
    for training_id, needle in cases.items():
        with pytest.raises(InputError) as err:
            await ended_row(interaction, training_id)
        assert needle in str(err.value) and err.value.field == "training"
