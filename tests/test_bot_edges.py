"""Edges of the bot's flows: no Replicate token, strangers and stale previews, Replicate down
during /status, a failed sync, a channel the bot cannot post in."""

from __future__ import annotations

from typing import Any

import discord

from tests.bot_support import LONG_STEPS, World, has_button, make_bot, train_options


class _Resp:
    status, reason = 403, "Forbidden"


async def test_without_replicate_token(world: World) -> None:
    fd = world.fd
    world.env.pop("REPLICATE_API_TOKEN")
    async with fd.running(make_bot(world)):
        res = await fd.slash("train", train_options(world, dry_run=True), user=world.alice)
        msg = await res.wait_original(lambda m: "Preview" in m.text(), timeout=10)
        assert "not checked" in msg.text() and msg.buttons() == []
        res = await fd.slash("train", train_options(world), user=world.alice)
        msg = await res.wait_original(lambda m: "Preview" in m.text(), timeout=10)
        assert "REPLICATE_API_TOKEN is not set" in msg.text() and msg.buttons() == []
    world.assert_clean()


async def test_strangers_stale_previews_and_replicate_down(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world)) as bot:
        res = await fd.slash("train", train_options(world, steps=LONG_STEPS), user=world.alice)
        preview = await res.wait_original(has_button("Start"), timeout=10)
        res2 = await fd.slash("train", train_options(world, steps=LONG_STEPS), user=world.alice)
        preview2 = await res2.wait_original(has_button("Start"), timeout=10)

        stranger = await fd.click(preview, label="Cancel", user=world.bob)
        await stranger.wait_text("Only the person who ran /train")
        key = next(b["custom_id"] for b in preview.buttons() if "Start" in b["label"])
        await bot.store.previews.discard(key.rsplit(":", 1)[1])
        stale = await fd.click(preview, label="Start", user=world.alice)
        await stale.wait_text("expired or was already used")

        real = bot.get_partial_messageable

        class NoPost:
            async def send(self, *a: Any, **kw: Any) -> None:
                raise discord.Forbidden(_Resp(), {"code": 50013, "message": "no"})  # type: ignore[arg-type]

        bot.get_partial_messageable = lambda *a, **k: NoPost()  # type: ignore[method-assign,assignment,return-value]
        click = await fd.click(preview2, label="Start", user=world.alice)
        await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
        bot.get_partial_messageable = real  # type: ignore[method-assign]
        (card,) = world.cards()  # posted as a public followup instead
        tid = card.embeds[0]["title"].split()[-1]
        row = await bot.store.trainings.get(tid)
        assert row is not None and row.card_message_id == card.id

        world.sim.faults.read_failure_rate = 1.0
        res = await fd.slash("status", {"training": tid}, user=world.alice)
        await res.wait_text("showing the last known state", timeout=10)
        world.sim.faults.read_failure_rate = 0.0
    world.assert_clean()


async def test_sync_failure_is_logged_and_hashes_survive_garbage(world: World) -> None:
    fd = world.fd
    guild = fd.first_guild()
    bot = make_bot(world, SD35L_GUILD_IDS=f"{guild.id},12345")
    bot.settings.database.parent.mkdir(parents=True, exist_ok=True)
    bot._hash_path().write_text("not json")
    async with fd.running(bot):
        # The guild gets the commands; globals from an earlier setup are emptied once.
        assert bot.synced_scopes == [f"{fd.app_id}:{guild.id}", f"{fd.app_id}:global"]
        assert fd.sync_count(guild) == 1
        assert fd.synced_commands() == [] and len(fd.synced_commands(guild)) == 9
        res = await fd.slash("presets", user=world.alice)
        await res.wait_original()
    global_bot = make_bot(world, SD35L_GUILD_IDS="")
    async with fd.running(global_bot):
        # Back to global commands: the guild's copies are removed so none shows twice.
        assert global_bot.synced_scopes == [f"{fd.app_id}:global", f"{fd.app_id}:{guild.id}"]
        assert fd.sync_count() == 2 and len(fd.synced_commands()) == 9
        assert fd.synced_commands(guild) == []
