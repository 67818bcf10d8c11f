"""End to end: /train -> preview -> Start -> public card -> edited to the end -> one DM."""

from __future__ import annotations

import json
from typing import Any

from bot.sim.schema import trainer_openapi_schema
from tests.bot_support import TRIGGER, World, has_button, make_bot, train_options
from tests.fakediscord import StoredMessage, validate_commands


async def test_train_preview_start_card_and_dm(world: World) -> None:
    fd = world.fd
    bot = make_bot(world)
    async with fd.running(bot):
        sync = [r for r in fd.requests if r.method == "PUT" and "/guilds/" in r.path]
        assert len(sync) == 1 and validate_commands(sync[0].json) == []
        puts = [r for r in fd.requests if r.method == "PUT" and r.path.endswith("/commands")]
        (clear,) = [r for r in puts if "/guilds/" not in r.path]
        assert clear.json == []  # globals from an earlier setup emptied: no duplicates
        names = {c["name"] for c in fd.synced_commands(fd.first_guild())}
        assert names == {
            "train", "status", "cancel", "presets", "jobs", "config-template", "usage",
            "Train with this config", "Train on these images",
        }  # fmt: skip

        res = await fd.slash("train", train_options(world), user=world.alice)
        assert (await res.wait_response())["type"] == 5 and res.ephemeral
        preview = await res.wait_original(has_button("Start"), timeout=10)
        text = preview.text()
        assert "Preview: LoRA for alice/lora" in text and "option" in text
        assert "looks usable" in text and "exists" in text and "$" in text

        stranger = await fd.click(preview, label="Start", user=world.bob)
        await stranger.wait_text("Only the person who ran /train")
        assert world.cards() == []

        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
        (card,) = world.cards()
        posted = StoredMessage(card.history[0]) if card.history else card  # it may have ended
        assert has_button("Cancel")(posted)
        training_id = card.embeds[0]["title"].split()[-1]

        await fd.wait_until(lambda: bool(fd.dms(world.alice)), timeout=15)
        (dm,) = fd.dms(world.alice)
        dm_text = dm.text()
        assert "succeeded" in dm_text and f"sd35l-trainer download {training_id}" in dm_text
        assert TRIGGER in dm_text and "Weights" in dm_text and "Cost" in dm_text
        await fd.wait_until(lambda: "succeeded" in fd.message(card.id).text(), timeout=5)
        final = fd.message(card.id)
        assert final.buttons() == [] and "step 40/40" in final.text()
        assert bot.settings.database.with_name("bot.sqlite.heartbeat").exists()

        assert fd.message(preview.id).buttons() == []  # no second Start
    world.assert_clean()


WANDB_KEY = "wandbkey" + "7" * 32


async def test_start_sends_replicate_the_training_the_preview_showed(world: World) -> None:
    """The create request behind Start: destination top-level (never an input), the slash
    options as the trainer's inputs, the W&B key only as the secret input and nowhere else."""
    fd = world.fd
    bot = make_bot(world, WANDB_API_KEY=WANDB_KEY)
    options = train_options(
        world, batch_size=2, optimizer="prodigy", resolution="768,1024", lora_rank=32
    )
    async with fd.running(bot):
        res = await fd.slash("train", options, user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        assert world.sim.requests and not _creates(world)  # the preview creates nothing
        click = await fd.click(preview, label="Start", user=world.alice)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
        (create,) = _creates(world)
        body = create.json
        assert set(body) == {"destination", "input"} and body["destination"] == "alice/lora"
        inputs = body["input"]
        assert "destination" not in inputs
        assert inputs["input_images"] == world.dataset_url
        assert inputs["trigger_word"] == TRIGGER and inputs["steps"] == 40
        assert inputs["batch_size"] == 2 and inputs["lora_rank"] == 32
        assert inputs["optimizer"] == "prodigy" and inputs["learning_rate"] == 1.0
        assert inputs["resolution"] == "768,1024"
        assert inputs["wandb_api_key"] == WANDB_KEY
        known = trainer_openapi_schema()["components"]["schemas"]["TrainingInput"]["properties"]
        assert set(inputs) <= set(known)
        (row,) = await bot.store.trainings.find(limit=5)
        assert row.config["training"]["lora_rank"] == 32
        assert WANDB_KEY not in json.dumps(row.config)
    assert all(WANDB_KEY not in json.dumps(r.json, default=str) for r in fd.requests)
    world.assert_clean()


def _creates(world: World) -> list[Any]:
    return [r for r in world.sim.requests if r.method == "POST" and r.path.endswith("/trainings")]
