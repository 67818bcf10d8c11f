"""Proves the fake Discord harness end to end with the real discord.py client.

The bot here is a tiny demo defined in this file (not the product's bot): a deferring slash
command with a DynamicItem button, autocomplete, an attachment option, a message context
menu, a DM with the DMs-closed fallback, and a guild sync after copy_global_to.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord, check_discord_limits, spec, validate_commands
from tests.fakediscord.doctor_routes import add_thread
from tests.fakediscord.server import RestApi


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"demo:cancel:(?P<id>\d+)"
):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel job",
                style=discord.ButtonStyle.danger,
                custom_id=f"demo:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: Any
    ) -> CancelButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"cancelled {self.job_id}", view=None)


def make_bot(guild_id: int) -> commands.Bot:
    bot = commands.Bot(
        command_prefix="!",
        intents=discord.Intents.default(),
        allowed_mentions=discord.AllowedMentions.none(),
    )

    @bot.tree.command(name="work", description="Defer, then follow up twice")
    async def work(interaction: discord.Interaction, job: str, count: int = 1) -> None:
        await interaction.response.defer(thinking=True)
        view = discord.ui.View(timeout=None)
        view.add_item(CancelButton(42))
        await interaction.followup.send(f"started {job} x{count}", view=view)
        await interaction.followup.send("second")

    @bot.tree.command(name="pick", description="Pick an item")
    async def pick(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"picked {name}", ephemeral=True)

    @pick.autocomplete("name")
    async def pick_ac(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        items = [f"item-{i}" for i in range(40) if current in f"item-{i}"]
        return [app_commands.Choice(name=i, value=i) for i in items][:25]

    @bot.tree.command(name="upload", description="Read an attached config")
    async def upload(interaction: discord.Interaction, config: discord.Attachment) -> None:
        data = await config.read()
        await interaction.response.send_message(
            f"{config.filename}: {len(data)} bytes, {data.decode()!r}",
            file=discord.File(io.BytesIO(b"echo"), "echo.txt"),
        )

    @bot.tree.command(name="notify", description="DM someone, or mention them if DMs are closed")
    async def notify(interaction: discord.Interaction, who: discord.User) -> None:
        await interaction.response.defer(ephemeral=True)
        try:
            await who.send("hello from the bot")
            await interaction.edit_original_response(content="sent a DM")
        except discord.Forbidden as exc:
            assert exc.code == 50007
            assert interaction.channel is not None
            await interaction.channel.send(  # type: ignore[union-attr]
                f"{who.mention} your DMs are closed",
                allowed_mentions=discord.AllowedMentions(users=[who]),
            )
            await interaction.edit_original_response(content="fell back to the channel")

    @app_commands.context_menu(name="Read attachments")
    async def read_atts(interaction: discord.Interaction, message: discord.Message) -> None:
        texts = [(await a.read()).decode() for a in message.attachments]
        await interaction.response.send_message(f"read {texts}")

    bot.tree.add_command(read_atts)

    @bot.tree.command(name="tour", description="Touch every webhook route")
    async def tour(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await interaction.edit_original_response(content="working")
        extra = await interaction.followup.send("extra", wait=True)
        await extra.edit(content="extra edited")
        await extra.delete()
        original = await interaction.original_response()
        await interaction.edit_original_response(
            content=f"was {original.content}",
            attachments=[discord.File(io.BytesIO(b"log"), "log.txt")],
        )

    async def setup_hook() -> None:
        bot.add_dynamic_items(CancelButton)
        guild = discord.Object(guild_id)
        bot.tree.copy_global_to(guild=guild)
        await bot.tree.sync(guild=guild)

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


async def test_connects_syncs_and_serves_exact_json(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    guild = fd.first_guild()
    assert discord.http.Route.BASE == fd.api_base
    async with fd.running(make_bot(guild.id)) as bot:
        assert bot.user is not None and bot.user.id == fd.app_id
        assert bot.get_guild(guild.id) is not None
        assert fd.gateway.identifies == 1
        names = {c["name"] for c in fd.synced_commands(guild)}
        assert names == {"work", "pick", "upload", "notify", "tour", "Read attachments"}
        assert fd.sync_count(guild) == 1 and fd.sync_count() == 0
        sync = next(r for r in fd.requests if r.method == "PUT")
        assert validate_commands(sync.json) == []
        auth = {"Authorization": f"Bot {fd.token}"}
        async with aiohttp.ClientSession(headers=auth) as s:
            async with s.get(f"{fd.api_base}/gateway/bot") as r:
                assert r.headers["Content-Type"] == "application/json"
                assert (await r.json())["url"] == fd.gateway_url
            async with s.get(f"{fd.api_base}/nope") as r:
                assert r.status == 404 and (await r.json())["code"] == 0
    assert [r.path for r in fd.unknown_requests] == ["/nope"]
    fd.unknown_requests.clear()
    assert all(r.authorized for r in fd.requests if r.path.startswith("/applications"))
    assert "Authorization" not in fd.requests[0].headers


async def test_seams_restored_after_exit() -> None:
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as fd:
        assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY.port == fd.port
    assert (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == before


async def test_defer_followups_and_dynamic_button(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    alice = fd.add_member(fd.first_guild(), name="alice")
    async with fd.running(make_bot(fd.first_guild().id)):
        res = await fd.slash("work", {"job": "lora", "count": 3}, user=alice)
        assert (await res.wait_response())["type"] == 5
        first, second = await res.wait_followups(2)
        assert first.id == res.original_id  # first followup fills the "thinking" message
        assert first.content == "started lora x3" and second.content == "second"
        assert [b["label"] for b in first.buttons()] == ["Cancel job"]
        click = await fd.click(first, label="Cancel", user=alice)
        assert (await click.wait_response())["type"] == 7
        msg = await click.wait_original(lambda m: m.content == "cancelled 42")
        assert msg.components == [] and msg.edits == 2
        assert msg.history[0]["flags"] & 128  # loading, then filled, then edited
        assert [m.content for m in fd.messages(fd.default_channel())] == ["cancelled 42", "second"]
        assert fd.limit_problems() == []


async def test_autocomplete_and_ephemeral(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    async with fd.running(make_bot(fd.first_guild().id)):
        choices = await fd.autocomplete("pick", "name", "item")
        assert len(choices) == 25 and choices[0] == {"name": "item-0", "value": "item-0"}
        assert await fd.autocomplete("pick", "name", "item-3") == [
            {"name": n, "value": n}
            for n in [
                "item-3",
                "item-30",
                "item-31",
                "item-32",
                "item-33",
                "item-34",
                "item-35",
                "item-36",
                "item-37",
                "item-38",
                "item-39",
            ]
        ]
        res = await fd.slash("pick", {"name": "item-7"})
        msg = await res.wait_text("picked item-7")
        assert res.ephemeral and msg.ephemeral
        assert fd.messages(fd.default_channel()) == []
        assert fd.messages(fd.default_channel(), include_ephemeral=True) == [msg]


async def test_attachment_option_and_context_menu(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    channel = fd.default_channel()
    async with fd.running(make_bot(fd.first_guild().id)):
        res = await fd.slash("upload", attachments=[("cfg.yaml", b"steps: 10\n")])
        msg = await res.wait_original()
        assert msg.content == "cfg.yaml: 10 bytes, 'steps: 10\\n'"
        assert [a["filename"] for a in msg.attachments] == ["echo.txt"]
        assert res.response is not None and res.response["files"] == ["echo.txt"]
        post = await fd.user_message(channel, content="cfg", attachments=[("a.json", b"{}")])
        menu = await fd.context_menu("Read attachments", post)
        assert (await menu.wait_original()).content == "read ['{}']"


async def test_dm_and_closed_dm_fallback(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    guild = fd.first_guild()
    alice = fd.add_member(guild, name="alice")
    bob = fd.add_member(guild, name="bob", dms_closed=True)
    async with fd.running(make_bot(guild.id)):
        res = await fd.slash("notify", {"who": alice})
        await res.wait_original(lambda m: m.content == "sent a DM")
        assert [m.content for m in fd.dms(alice)] == ["hello from the bot"]
        res = await fd.slash("notify", {"who": bob})
        await res.wait_original(lambda m: m.content == "fell back to the channel")
        assert fd.dms(bob) == []
        (public,) = fd.messages(fd.default_channel())
        assert public.content == f"<@{bob.id}> your DMs are closed"
        assert [u["id"] for u in public.data["mentions"]] == [str(bob.id)]
        assert any(r.status == 403 for r in fd.requests if r.path.endswith("/messages"))


async def test_bot_token_edit_then_deleted_message(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    channel = fd.default_channel()
    async with fd.running(make_bot(fd.first_guild().id)) as bot:
        sent = await bot.get_partial_messageable(channel.id).send("job 1: queued")
        partial = bot.get_partial_messageable(channel.id).get_partial_message(sent.id)
        await partial.edit(content="job 1: 50%")
        stored = fd.message(sent.id)
        assert [h["content"] for h in stored.history] == ["job 1: queued"]
        assert stored.content == "job 1: 50%"
        fd.delete_message(channel, sent.id)
        with pytest.raises(discord.NotFound) as info:
            await partial.edit(content="job 1: 60%")
        assert info.value.code == 10008


async def test_webhook_and_rest_tour(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    guild, channel = fd.first_guild(), fd.default_channel()
    role = fd.add_role(guild, "trainer", permissions=0x8)
    alice = fd.add_member(guild, name="alice", roles=[role])
    async with fd.running(make_bot(guild.id)) as bot:
        res = await fd.slash("tour", user=alice)
        msg = await res.wait_original(lambda m: m.content == "was working")
        assert res.ephemeral and res.response_type == 5 and msg.edits == 2
        assert [a["filename"] for a in msg.attachments] == ["log.txt"]
        (extra,) = res.followups()
        assert extra.deleted and extra.history[-1]["content"] == "extra"
        assert res.payload["member"]["permissions"] == str((1 << 51) - 1)  # admin role
        g = await bot.fetch_guild(guild.id)
        assert g.name == guild.name
        assert [r.name for r in await g.fetch_roles()] == ["@everyone", "trainer"]
        assert [c.name for c in await g.fetch_channels()] == ["general"]
        member = await g.fetch_member(alice.id)
        assert [r.id for r in member.roles if r.name == "trainer"] == [role.id]
        ch = await bot.fetch_channel(channel.id)
        assert isinstance(ch, discord.TextChannel)
        sent = await ch.send("hello")
        assert (await ch.fetch_message(sent.id)).content == "hello"
        assert [m.content async for m in ch.history(limit=5)] == ["hello"]
        with pytest.raises(discord.NotFound):
            await ch.fetch_message(msg.id)  # ephemeral: invisible to the bot token
        with pytest.raises(discord.NotFound):
            await bot.fetch_user(12345)
        assert (await bot.fetch_user(alice.id)).name == "alice"
        assert fd.limit_problems() == []


async def test_reconnect_resumes_and_replays(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    async with fd.running(make_bot(fd.first_guild().id)):
        await fd.disconnect()
        await fd.wait_until(lambda: fd.gateway.resumes == 1)
        res = await fd.slash("pick", {"name": "x"})
        await res.wait_text("picked x")
        await fd.request_reconnect()
        await fd.wait_until(lambda: fd.gateway.resumes == 2)
        assert fd.gateway.identifies == 1
        await fd.wait_ready()
        res = await fd.slash("pick", {"name": "z"})
        await res.wait_text("picked z")
        # (fd.invalidate_session() works too, but discord.py sleeps 5 s before a re-IDENTIFY.)


async def test_dm_interaction_and_click_by_custom_id(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    alice = fd.add_member(fd.first_guild(), name="alice")
    async with fd.running(make_bot(fd.first_guild().id)):
        fd.state.global_commands = [
            fd.register_command(
                {
                    "name": "pick",
                    "description": "d",
                    "options": [{"name": "name", "description": "n", "type": 3, "required": True}],
                },
                None,
            )
        ]
        res = await fd.slash("pick", {"name": "dm"}, user=alice, guild="dm")
        assert "user" in res.payload and "member" not in res.payload
        await res.wait_text("picked dm")
        res = await fd.slash("work", {"job": "hidden"}, user=alice)
        first, _ = await res.wait_followups(2)
        click = await fd.click(first, "demo:cancel:42", user=alice)
        await click.wait_text("cancelled 42")


async def test_late_double_and_expired_answers(fake_discord: FakeDiscord) -> None:
    fd = fake_discord
    async with fd.running(make_bot(fd.first_guild().id)):
        fd.interaction_deadline = 0.0
        res = await fd.slash("pick", {"name": "x"})
        await fd.wait_until(lambda: bool(res.rejected))
        assert res.rejected[0]["reason"] == "too late" and res.response is None
        fd.interaction_deadline = 3.0
        res = await fd.slash("pick", {"name": "y"})
        await res.wait_text("picked y")
        url = f"{fd.api_base}/webhooks/{fd.app_id}/{res.token}/messages/@original"
        async with aiohttp.ClientSession() as s:
            async with s.patch(url, json={"content": "again"}) as r:
                assert r.status == 200 and (await r.json())["content"] == "again"
            cb = f"{fd.api_base}/interactions/{res.id}/{res.token}/callback"
            async with s.post(cb, json={"type": 4, "data": {"content": "twice"}}) as r:
                assert r.status == 400 and (await r.json())["code"] == 40060
            res.expire()
            async with s.patch(url, json={"content": "late"}) as r:
                assert r.status == 401 and (await r.json())["code"] == 50027
        assert res.original() is not None and res.original().content == "again"


async def test_driver_refuses_what_discord_would() -> None:
    async with FakeDiscord() as fd:
        fd.add_guild()
        fd.state.guild_commands[fd.first_guild().id] = [
            fd.register_command(
                {
                    "name": "pick",
                    "description": "d",
                    "options": [
                        {
                            "name": "name",
                            "description": "n",
                            "type": 3,
                            "required": True,
                            "choices": [{"name": "a", "value": "a"}],
                        }
                    ],
                },
                fd.first_guild().id,
            )
        ]
        with pytest.raises(LookupError):
            await fd.slash("nope")
        with pytest.raises(ValueError, match="required"):
            await fd.slash("pick", {})
        with pytest.raises(ValueError, match="choices"):
            await fd.slash("pick", {"name": "b"})
        with pytest.raises(ValueError, match="does not exist"):
            await fd.slash("pick", {"other": "b"})
        res = await fd.slash("pick", {"name": "a"})  # no bot connected: queued for RESUME
        assert res.payload["data"]["options"] == [{"name": "name", "type": 3, "value": "a"}]


def _button(**extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "Go", "custom_id": "go", **extra}


def _row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def _text_input(**extra: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": "why", "style": 2, "label": "Why", **extra}


def _modal(**extra: Any) -> dict[str, Any]:
    data = {"custom_id": "form", "title": "Form", "components": [_row(_text_input())], **extra}
    return {"type": 9, "data": data}


def _select(options: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": 3, "custom_id": "pick", "options": options}


MESSAGES = "/channels/1/messages"
CALLBACK = "/interactions/1/tok/callback"
# (what, method, path, body, the path Discord names in `errors`): each body breaks one rule.
INVALID: list[tuple[str, str, str, Any, str]] = [
    ("content over 2000 (hand)", "POST", MESSAGES, {"content": "x" * 2001}, "content"),
    ("content over 4000", "POST", MESSAGES, {"content": "x" * 4001}, "content"),
    ("content not a string", "POST", MESSAGES, {"content": 5}, "content"),
    ("tts not a boolean", "POST", MESSAGES, {"content": "x", "tts": "yes"}, "tts"),
    ("nonce over 25", "POST", MESSAGES, {"content": "x", "nonce": "n" * 26}, "nonce"),
    ("embed title 257", "POST", MESSAGES, {"embeds": [{"title": "t" * 257}]}, "embeds.0.title"),
    ("11 embeds", "POST", MESSAGES, {"embeds": [{"title": "t"}] * 11}, "embeds"),
    (
        "26 fields",
        "POST",
        MESSAGES,
        {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
        "embeds.0.fields",
    ),
    (
        "field value 1025",
        "POST",
        MESSAGES,
        {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
        "embeds.0.fields.0.value",
    ),
    (
        "empty field name (hand)",
        "POST",
        MESSAGES,
        {"embeds": [{"fields": [{"name": "", "value": "v"}]}]},
        "embeds.0.fields.0.name",
    ),
    (
        "embeds over 6000 in all (hand)",
        "POST",
        MESSAGES,
        {"embeds": [{"description": "d" * 4096}, {"description": "d" * 2000}]},
        "embeds",
    ),
    ("colour below 0", "POST", MESSAGES, {"embeds": [{"color": -1}]}, "embeds.0.color"),
    (
        "button label 81",
        "POST",
        MESSAGES,
        {"components": [_row(_button(label="l" * 81))]},
        "components.0.components.0.label",
    ),
    (
        "custom_id 101",
        "POST",
        MESSAGES,
        {"components": [_row(_button(custom_id="c" * 101))]},
        "components.0.components.0.custom_id",
    ),
    (
        "unknown button style",
        "POST",
        MESSAGES,
        {"components": [_row(_button(style=9))]},
        "components.0.components.0.style",
    ),
    (
        "button without custom_id (hand)",
        "POST",
        MESSAGES,
        {"components": [_row({"type": 2, "style": 1, "label": "Go"})]},
        "components.0.components.0.custom_id",
    ),
    (
        "6 buttons in a row",
        "POST",
        MESSAGES,
        {"components": [_row(*[_button(custom_id=f"b{i}") for i in range(6)])]},
        "components.0.components",
    ),
    (
        "6 action rows (hand)",
        "POST",
        MESSAGES,
        {"components": [_row(_button(custom_id=f"b{i}")) for i in range(6)]},
        "components",
    ),
    (
        "26 select options",
        "POST",
        MESSAGES,
        {"components": [_row(_select([{"label": "a", "value": "a"}] * 26))]},
        "components.0.components.0.options",
    ),
    (
        "select option without value",
        "POST",
        MESSAGES,
        {"components": [_row(_select([{"label": "a"}]))]},
        "components.0.components.0.options.0.value",
    ),
    (
        "unknown mention type",
        "POST",
        MESSAGES,
        {"content": "x", "allowed_mentions": {"parse": ["nobody"]}},
        "allowed_mentions.parse.0",
    ),
    (
        "edit: content 2001 (hand)",
        "PATCH",
        "/channels/1/messages/2",
        {"content": "x" * 2001},
        "content",
    ),
    (
        "message callback: content 2001",
        "POST",
        CALLBACK,
        {"type": 4, "data": {"content": "x" * 2001}},
        "data.content",
    ),
    (
        "deferred: flags a string",
        "POST",
        CALLBACK,
        {"type": 5, "data": {"flags": "64"}},
        "data.flags",
    ),
    (
        "update: empty action row",
        "POST",
        CALLBACK,
        {"type": 7, "data": {"components": [_row()]}},
        "data.components.0.components",
    ),
    ("modal: title 46", "POST", CALLBACK, _modal(title="t" * 46), "data.title"),
    (
        "modal: text input label 46",
        "POST",
        CALLBACK,
        _modal(components=[_row(_text_input(label="l" * 46))]),
        "data.components.0.components.0.label",
    ),
    (
        "modal: text input without style",
        "POST",
        CALLBACK,
        _modal(components=[_row({"type": 4, "custom_id": "why", "label": "Why"})]),
        "data.components.0.components.0.style",
    ),
    (
        "modal: max_length 4001",
        "POST",
        CALLBACK,
        _modal(components=[_row(_text_input(max_length=4001))]),
        "data.components.0.components.0.max_length",
    ),
    ("modal: no components", "POST", CALLBACK, _modal(components=[]), "data.components"),
    (
        "autocomplete: 26 choices",
        "POST",
        CALLBACK,
        {"type": 8, "data": {"choices": [{"name": "n", "value": "v"}] * 26}},
        "data.choices",
    ),
    (
        "autocomplete: value 101 (hand)",
        "POST",
        CALLBACK,
        {"type": 8, "data": {"choices": [{"name": "n", "value": "v" * 101}]}},
        "data.choices.0.value",
    ),
    (
        "autocomplete: empty choice name",
        "POST",
        CALLBACK,
        {"type": 8, "data": {"choices": [{"name": "", "value": "v"}]}},
        "data.choices.0.name",
    ),
    ("unknown callback type", "POST", CALLBACK, {"type": 3}, "type"),
    ("follow-up: content 2001", "POST", "/webhooks/1/tok", {"content": "x" * 2001}, "content"),
    (
        "edit original: title 257",
        "PATCH",
        "/webhooks/1/tok/messages/@original",
        {"embeds": [{"title": "t" * 257}]},
        "embeds.0.title",
    ),
    (
        "edit follow-up: label 81",
        "PATCH",
        "/webhooks/1/tok/messages/5",
        {"components": [_row(_button(label="l" * 81))]},
        "components.0.components.0.label",
    ),
    (
        "sync: uppercase name (hand)",
        "PUT",
        "/applications/1/commands",
        [{"name": "Train", "description": "d"}],
        "0.name",
    ),
    (
        "sync: description 101",
        "PUT",
        "/applications/1/commands",
        [{"name": "train", "description": "d" * 101}],
        "0.description",
    ),
    (
        "sync: option without description",
        "PUT",
        "/applications/1/guilds/2/commands",
        [{"name": "train", "description": "d", "options": [{"type": 3, "name": "a"}]}],
        "0.options.0.description",
    ),
    (
        "sync: required after optional (hand)",
        "PUT",
        "/applications/1/guilds/2/commands",
        [
            {
                "name": "train",
                "description": "d",
                "options": [
                    {"type": 3, "name": "a", "description": "a"},
                    {"type": 3, "name": "b", "description": "b", "required": True},
                ],
            }
        ],
        "0.options.1.required",
    ),
    (
        "DM: recipient not a snowflake",
        "POST",
        "/users/@me/channels",
        {"recipient_id": "x"},
        "recipient_id",
    ),
]


# The same rules kept: each of these is taken.
VALID: list[tuple[str, str, Any]] = [
    ("POST", MESSAGES, {"content": "x" * 2000, "tts": False}),
    ("POST", MESSAGES, {"embeds": [{"description": "d" * 4096}, {"description": "d" * 1904}]}),
    ("POST", MESSAGES, {"components": [_row(*[_button(custom_id=f"b{i}") for i in range(5)])]}),
    ("POST", MESSAGES, {"content": "x", "allowed_mentions": {"users": [1, "2"], "parse": []}}),
    ("POST", CALLBACK, _modal(components=[_row(_text_input(label="l" * 45))])),
    ("POST", CALLBACK, {"type": 8, "data": {"choices": [{"name": "n", "value": "v" * 100}]}}),
    ("POST", CALLBACK, {"type": 5, "data": {"flags": 64}}),
    ("POST", CALLBACK, {"type": 6}),
    ("PUT", "/applications/1/commands", [{"name": "train", "description": "d"}]),
    ("PUT", "/applications/1/commands", [{"name": "Read it", "type": 3, "description": ""}]),
]


@pytest.mark.parametrize(
    ("what", "method", "path", "body", "where"), INVALID, ids=[c[0] for c in INVALID]
)
async def test_the_fake_refuses_what_discord_refuses(
    what: str, method: str, path: str, body: Any, where: str
) -> None:
    """Discord's answer to a bad body: 400, code 50035, the failing path in `errors`."""
    async with FakeDiscord() as fd, aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bot {fd.token}"}
        async with s.request(method, fd.api_base + path, json=body, headers=headers) as r:
            answer = await r.json()
        assert r.status == 400 and answer["code"] == 50035, (what, answer)
        node = answer["errors"]
        for key in where.split("."):
            assert key in node, (what, where, answer["errors"])
            node = node[key]
        assert node["_errors"][0]["message"], answer
        assert fd.limit_problems() and fd.refused_requests[0].path == path


def test_unions_judged_by_kind_give_the_spec_s_own_verdicts() -> None:
    """`spec._by_kind` (a speed-up) accepts and refuses exactly what the document as written
    does, for every body of the table above and their valid twins."""
    bodies = [(m, p, b) for _what, m, p, b, _where in INVALID] + VALID
    for method, path, body in bodies:
        template = spec.template_for(path)
        assert template is not None
        fast, plain = (spec.validator_for(method, template, by_kind=k) for k in (True, False))
        assert fast is not None and plain is not None
        assert fast.is_valid(body) == plain.is_valid(body), (path, body)
    assert "oneOf" not in json.dumps(
        spec.spec()["components"]["schemas"]["ActionRowComponentForMessageRequest"]
    )


async def test_valid_bodies_pass_the_same_checks() -> None:
    """The bodies of the table above with the one rule kept are taken (not 400)."""
    async with FakeDiscord() as fd, aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bot {fd.token}"}
        for method, path, body in VALID:
            async with s.request(method, fd.api_base + path, json=body, headers=headers) as r:
                assert r.status != 400, (path, body, await r.text())
    assert fd.limit_problems() == []


async def test_uploads_payload_json_and_file_parts_are_checked() -> None:
    async with FakeDiscord() as fd, aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bot {fd.token}"}

        def form(payload: dict[str, Any], files: int) -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("payload_json", json.dumps(payload), content_type="application/json")
            for n in range(files):
                data.add_field(f"files[{n}]", b"x", filename=f"{n}.txt")
            return data

        url = fd.api_base + "/webhooks/1/tok/messages/@original"
        async with s.patch(url, data=form({"content": "x" * 2001}, 1), headers=headers) as r:
            assert r.status == 400 and "content" in (await r.json())["errors"]
        async with s.patch(url, data=form({"content": "ok"}, 11), headers=headers) as r:
            assert r.status == 400 and "files[10]" in (await r.json())["errors"]
        big = aiohttp.FormData()
        big.add_field("payload_json", "{}", content_type="application/json")
        big.add_field("files[0]", b"x" * (10 * 1024 * 1024 + 1), filename="big.bin")
        async with s.post(fd.api_base + MESSAGES, data=big, headers=headers) as r:
            assert r.status == 413 and (await r.json())["code"] == 40005
        async with s.patch(url, data=form({"content": "ok"}, 10), headers=headers) as r:
            assert r.status != 400  # 10 files is the limit, not over it
        assert len(fd.refused_requests) == 3


def _modal_bot(guild_id: int, failures: list[discord.HTTPException]) -> commands.Bot:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())

    @bot.tree.command(name="form", description="Open a form whose label has this length")
    async def form(interaction: discord.Interaction, label_length: int) -> None:
        modal = discord.ui.Modal(title="Why", custom_id="why-form")
        modal.add_item(discord.ui.TextInput(label="L" * label_length, custom_id="why"))
        try:
            await interaction.response.send_modal(modal)
        except discord.HTTPException as exc:
            failures.append(exc)

    async def setup_hook() -> None:
        bot.tree.copy_global_to(guild=discord.Object(guild_id))
        await bot.tree.sync(guild=discord.Object(guild_id))

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


async def test_a_46_character_text_input_label_is_refused_through_discord_py() -> None:
    failures: list[discord.HTTPException] = []
    async with FakeDiscord() as fd:
        guild = fd.add_guild()
        async with fd.running(_modal_bot(guild.id, failures)):
            fine = await fd.slash("form", {"label_length": 45})
            assert (await fine.wait_response())["type"] == 9
            refused = await fd.slash("form", {"label_length": 46})
            await fd.wait_until(lambda: bool(failures))
        (exc,) = failures
        assert (exc.status, exc.code) == (400, 50035)
        assert "In data.components.0.components.0.label: Must be 45 or fewer in length." in str(exc)
        assert refused.response is None and "label" in refused.rejected[0]["reason"]
        assert fd.limit_problems() == [
            f"POST /interactions/{refused.id}/{refused.token}/callback: "
            "data.components.0.components.0.label: Must be 45 or fewer in length."
        ]


def test_limit_checkers_for_unit_tests() -> None:
    assert check_discord_limits({"content": "x" * 2000}) == []
    assert check_discord_limits({"content": "x" * 2001}) == [
        "content: Must be 2000 or fewer in length."
    ]
    assert check_discord_limits({"type": 4, "data": {"content": "x" * 2001}}) == [
        "data.content: Must be 2000 or fewer in length."
    ]
    assert check_discord_limits({"content": "x"}, [("a.bin", 10 * 1024 * 1024 + 1)]) != []
    assert validate_commands([{"name": "ok", "description": "fine"}]) == []
    assert validate_commands([{"name": "Menu", "description": "", "type": 3}]) == []
    assert validate_commands([{"name": "bad", "description": "x", "type": "chat"}]) != []


def _reference_dir() -> Path | None:
    """shared/reference beside the checkout (CI) or above a worktree; None when absent."""
    here = Path(__file__).resolve().parent.parent
    for parent in (here, *here.parents):
        found = parent / "shared" / "reference"
        if (found / "discord-openapi.json").is_file():
            return found
    return None


def test_the_committed_spec_is_discord_s_own() -> None:
    """tests/data/discord-openapi.json is `prune()` of the reference document (checked against
    it where it is beside the checkout), covers every route the fake answers, and every `$ref`
    in it resolves."""
    committed = json.loads(spec.SPEC_PATH.read_text())
    reference = _reference_dir()
    if reference is not None:
        source = reference / "discord-openapi.json"
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        assert committed["x-pruned-from"]["sha256"] == digest, (
            "run python -m tests.fakediscord.spec"
        )
        assert committed == spec.prune_file(source)
    assert len(committed["x-pruned-from"]["sha256"]) == 64
    schemas = committed["components"]["schemas"]
    for ref in spec._refs(committed):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[-1] in schemas
    assert set(committed["paths"]) == set(spec.PATHS)
    for _method, pattern, _handler, _auth in RestApi(FakeDiscord()).routes:
        sample = re.sub(r"\(\?P<\w+>\[\^/\]\+\)", "1", pattern.pattern).rstrip("$")
        assert spec.template_for(sample.replace("\\", "")) is not None, pattern.pattern


async def test_messages_to_channels_dms_and_threads_are_checked_through_discord_py() -> None:
    """The same rules on every way a message goes out with the bot token: a channel, a DM, a
    thread, and an edit; discord.py raises HTTPException naming the field, as on Discord."""
    async with FakeDiscord() as fd:
        guild = fd.add_guild()
        channel = fd.default_channel(guild)
        thread = add_thread(fd, guild, channel, "job-1")
        alice = fd.add_member(guild, name="alice")
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.default())
        async with fd.running(bot):
            too_long = "x" * 2001
            where: list[str] = []
            dm = await (await bot.fetch_user(alice.id)).create_dm()
            for target in (channel.id, thread.id, dm.id):
                messageable = bot.get_partial_messageable(target)
                with pytest.raises(discord.HTTPException) as refused:
                    await messageable.send(too_long)
                where.append(str(refused.value))
                sent = await messageable.send("fine")
                with pytest.raises(discord.HTTPException) as refused:
                    await sent.edit(embed=discord.Embed(title="t" * 257))
                where.append(str(refused.value))
        assert all(exc.startswith("400 Bad Request (error code: 50035)") for exc in where)
        assert (
            where[0::2]
            == [
                "400 Bad Request (error code: 50035): Invalid Form Body\n"
                "In content: Must be 2000 or fewer in length."
            ]
            * 3
        )
        assert all("In embeds.0.title: Must be 256 or fewer in length." in e for e in where[1::2])
        assert [m.content for m in fd.messages(thread)] == ["fine"]
        assert [m.content for m in fd.dms(alice)] == ["fine"]
        assert len(fd.refused_requests) == 6
