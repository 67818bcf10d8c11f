"""FakeDiscord: lifecycle, the two discord.py seams, world building and waiting.

The real discord.py client reaches Discord through exactly two module globals:
`discord.http.Route.BASE` (all REST, webhooks and interaction callbacks) and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` (the websocket; a non-sharded client never
asks GET /gateway/bot). `install()` points both at this loopback server and `restore()` puts
the previous values back, so nothing leaks between tests and nothing reaches the network.
"""

# ruff: noqa: ASYNC109  (a `timeout` argument is the point of a test-waiting API)

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from .driver import DriverMixin
from .gateway import INVALID_SESSION, RECONNECT, GatewayState, dispatch
from .interactions import InteractionResult
from .limits import command_problems
from .server import RecordedRequest, RestApi
from .state import (
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeState,
    FakeUser,
    StoredMessage,
    snowflake,
)


class FakeDiscord(DriverMixin):
    """A loopback Discord for the real discord.py client. Use `async with FakeDiscord() as fd`."""

    def __init__(
        self,
        *,
        bot_name: str = "sd35l-bot",
        owner_name: str = "owner",
        interaction_deadline: float = 3.0,
        heartbeat_interval_ms: int = 41250,
        auto_install: bool = True,
        nonce_window: float = 300.0,
    ) -> None:
        self.state = FakeState()
        self.token = "fake-bot-token." + secrets.token_hex(12)
        self.app_id = snowflake()
        self.application_flags = 0
        self.bot_user = FakeUser(self.app_id, bot_name, bot=True)
        self.state.users[self.app_id] = self.bot_user
        self.owner_id = snowflake()
        self.state.users[self.owner_id] = FakeUser(self.owner_id, owner_name)
        self.interaction_deadline = interaction_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.auto_install = auto_install
        # Discord returns the earlier message for a repeated nonce (with enforce_nonce) only
        # "within the past few minutes"; tests shorten this to restart outside the window.
        self.nonce_window = nonce_window
        self.nonce_hits = 0  # creates answered with an earlier message instead of a new one
        self.requests: list[RecordedRequest] = []
        self.unknown_requests: list[RecordedRequest] = []
        # Requests refused for their body (Discord's 50035 / 413): a bot bug unless a test
        # sends them on purpose. `limit_problems()` describes them.
        self.refused_requests: list[RecordedRequest] = []
        self.interactions: list[InteractionResult] = []
        self.interactions_by_id: dict[int, InteractionResult] = {}
        self.interactions_by_token: dict[str, InteractionResult] = {}
        self.gateway = GatewayState()
        self.sockets: set[web.WebSocketResponse] = set()
        self.base_url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._saved: tuple[str, yarl.URL] | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on 127.0.0.1 (random port); returns the base URL."""
        self._runner = web.AppRunner(RestApi(self).app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self.port}"
        if self.auto_install:
            self.install()
        return self.base_url

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1000)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.restore()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def install(self) -> None:
        """Point discord.py's REST base and default gateway at this fake (idempotent)."""
        if self._saved is None:
            self._saved = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            )
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def restore(self) -> None:
        """Put back the globals `install()` replaced."""
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None

    @contextlib.asynccontextmanager
    async def running(
        self, bot: discord.Client, *, fast_ready: bool = True, timeout: float = 10.0
    ) -> AsyncIterator[discord.Client]:
        """Start `bot` against the fake, wait for on_ready, close it (and await its task) after.

        fast_ready lowers discord.py's `guild_ready_timeout` (2 s of silence after the last
        GUILD_CREATE before on_ready) to 0.05 s; the fake sends every guild at once.
        """
        if fast_ready:
            bot._connection.guild_ready_timeout = 0.05
        task = asyncio.create_task(bot.start(self.token))
        try:
            waiter = asyncio.ensure_future(bot.wait_until_ready())
            done, _ = await asyncio.wait(
                {waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                waiter.cancel()
                task.result()  # re-raise the bot's startup failure
                raise RuntimeError("bot stopped before it was ready")
            if waiter not in done:
                waiter.cancel()
                raise TimeoutError(f"bot not ready after {timeout}s; gateway={self.gateway}")
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)

    # -- change notification & waiting ------------------------------------------------------

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def notify(self) -> None:
        """Wake every `wait_until` (called after each state change)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,
        describe: Callable[[], str] | None = None,
    ) -> None:
        """Wait (event driven) until `predicate()` is true; TimeoutError says what was seen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            left = deadline - loop.time()
            if left <= 0:
                what = describe() if describe else ""
                raise TimeoutError(f"fake discord: condition not met in {timeout}s {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=left)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the bot has IDENTIFIED and got READY + every GUILD_CREATE."""
        await self.wait_until(
            lambda: self.gateway.ready.is_set(), timeout, lambda: f"gateway={self.gateway}"
        )

    async def dispatch_event(self, event: str, data: dict[str, Any]) -> None:
        await dispatch(self, event, data)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py reconnects at once and RESUMEs."""
        ws = self.gateway.ws
        if ws is not None:
            await ws.send_json({"op": RECONNECT, "d": None})

    async def invalidate_session(self) -> None:
        """Send op 9 (not resumable): discord.py starts over with a fresh IDENTIFY.

        Slow: discord.py's `Client.before_identify_hook` sleeps 5 s before any non-initial
        IDENTIFY, so expect `gateway.identifies` to grow only ~5 s later.
        """
        ws = self.gateway.ws
        if ws is not None:
            self.gateway.session_id = None
            await ws.send_json({"op": INVALID_SESSION, "d": False})

    async def restart_gateway(self) -> None:
        """Like a Discord-side gateway restart: drop the socket; the bot RESUMEs."""
        await self.disconnect(4000)

    async def disconnect(self, code: int = 4000) -> None:
        """Drop the gateway socket (code 4000 = resumable); the bot reconnects and RESUMEs."""
        ws = self.gateway.ws
        if ws is not None:
            await ws.close(code=code)

    # -- world building ----------------------------------------------------------------------

    def add_user(
        self, name: str, *, user_id: int | None = None, dms_closed: bool = False, bot: bool = False
    ) -> FakeUser:
        user = FakeUser(user_id or snowflake(), name, bot=bot, dms_closed=dms_closed)
        self.state.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "test-guild",
        *,
        channels: tuple[str, ...] = ("general",),
        guild_id: int | None = None,
    ) -> FakeGuild:
        """A guild owned by the application owner, with @everyone, the bot and text channels."""
        gid = guild_id or snowflake()
        guild = FakeGuild(gid, name, owner_id=self.owner_id)
        guild.roles[gid] = FakeRole(
            gid, "@everyone", permissions=0x80000000 | 0x800 | 0x400, position=0
        )
        self.state.guilds[gid] = guild
        guild.members[self.app_id] = FakeMember(self.bot_user)
        guild.members[self.owner_id] = FakeMember(self.state.users[self.owner_id])
        for channel_name in channels:
            self.add_channel(guild, channel_name)
        return guild

    def _guild(self, guild: FakeGuild | int) -> FakeGuild:
        return guild if isinstance(guild, FakeGuild) else self.state.guilds[int(guild)]

    def add_role(self, guild: FakeGuild | int, name: str, *, permissions: int = 0) -> FakeRole:
        g = self._guild(guild)
        role = FakeRole(snowflake(), name, permissions=permissions, position=len(g.roles))
        g.roles[role.id] = role
        return role

    def add_channel(self, guild: FakeGuild | int, name: str) -> FakeChannel:
        g = self._guild(guild)
        channel = FakeChannel(snowflake(), name, type=0, guild_id=g.id, position=len(g.channels))
        g.channels[channel.id] = channel
        self.state.channels[channel.id] = channel
        return channel

    def add_member(
        self,
        guild: FakeGuild | int,
        user_id: int | None = None,
        name: str = "user",
        *,
        roles: list[FakeRole | int] | None = None,
        dms_closed: bool = False,
    ) -> FakeUser:
        """Add (or update) a guild member; creates the user when `user_id` is new or None."""
        g = self._guild(guild)
        user = self.state.users.get(user_id or 0) or self.add_user(
            name, user_id=user_id, dms_closed=dms_closed
        )
        user.dms_closed = dms_closed
        role_ids = [r.id if isinstance(r, FakeRole) else int(r) for r in roles or []]
        g.members[user.id] = FakeMember(user, role_ids)
        return user

    def first_guild(self) -> FakeGuild:
        return next(iter(self.state.guilds.values()))

    def default_channel(self, guild: FakeGuild | None = None) -> FakeChannel:
        return next(iter((guild or self.first_guild()).channels.values()))

    # -- queries -----------------------------------------------------------------------------

    def messages(
        self,
        channel: FakeChannel | int,
        *,
        include_ephemeral: bool = False,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """A channel's messages in creation order (each with its edit `history`)."""
        cid = channel.id if isinstance(channel, FakeChannel) else int(channel)
        return [
            m
            for m in self.state.channel_messages(cid)
            if (include_ephemeral or not m.ephemeral) and (include_deleted or not m.deleted)
        ]

    def dms(self, user: FakeUser | int) -> list[StoredMessage]:
        """Messages the bot sent to a user's DM channel."""
        uid = user.id if isinstance(user, FakeUser) else int(user)
        cid = self.state.dm_channels.get(uid)
        return [] if cid is None else self.messages(cid)

    def message(self, message_id: int) -> StoredMessage:
        return self.state.messages[int(message_id)]

    def delete_message(self, channel: FakeChannel | int | None, message_id: int) -> None:
        """Delete a message (as a moderator would): later edits get 404 10008.

        Must be called with the loop running (MESSAGE_DELETE is dispatched in the background).
        """
        stored = self.state.messages[int(message_id)]
        stored.deleted = True
        data = {"id": str(stored.id), "channel_id": str(stored.channel_id)}
        if "guild_id" in stored.data:
            data["guild_id"] = stored.data["guild_id"]
        task = asyncio.get_running_loop().create_task(dispatch(self, "MESSAGE_DELETE", data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.notify()

    def synced_commands(self, guild: FakeGuild | int | None = None) -> list[dict[str, Any]]:
        if guild is None:
            return list(self.state.global_commands)
        gid = guild.id if isinstance(guild, FakeGuild) else int(guild)
        return list(self.state.guild_commands.get(gid, []))

    def sync_count(self, guild: FakeGuild | int | None = None) -> int:
        gid = None if guild is None else (guild.id if isinstance(guild, FakeGuild) else int(guild))
        return self.state.sync_counts.get(gid, 0)

    def command_problems(self, payload: Any) -> list[str]:
        return command_problems(payload)

    def register_command(self, cmd: dict[str, Any], guild_id: int | None) -> dict[str, Any]:
        """Store one synced command like Discord returns it (stable id per name+type)."""
        key = (guild_id, cmd["name"], int(cmd.get("type") or 1))
        cid = self.state.command_ids.setdefault(key, snowflake())
        out = {
            "id": str(cid),
            "application_id": str(self.app_id),
            "version": str(snowflake()),
            "type": key[2],
            "name": cmd["name"],
            "description": cmd.get("description") or "",
            "options": cmd.get("options") or [],
            "default_member_permissions": cmd.get("default_member_permissions"),
            "dm_permission": cmd.get("dm_permission", True),
            "nsfw": cmd.get("nsfw", False),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "name_localizations": cmd.get("name_localizations"),
            "description_localizations": cmd.get("description_localizations"),
        }
        if guild_id is not None:
            out["guild_id"] = str(guild_id)
        return out

    def limit_problems(self) -> list[str]:
        """Why each refused request was refused (empty: Discord would have taken every body)."""
        return [f"{r.method} {r.path}: {p}" for r in self.refused_requests for p in r.problems]

    def body_refused(self, rec: RecordedRequest) -> None:
        """A refused interaction callback also shows in its result's `rejected` list."""
        parts = rec.path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "interactions" and parts[3] == "callback":
            res = self.interactions_by_id.get(int(parts[1])) if parts[1].isdigit() else None
            if res is not None:
                body = rec.json if isinstance(rec.json, dict) else {}
                reason = "; ".join(map(str, rec.problems))
                res.rejected.append({"type": body.get("type"), "reason": reason})
        self.notify()

    @property
    def token_leaks(self) -> list[RecordedRequest]:
        """Requests whose body contained the bot token (should always be empty)."""
        return [r for r in self.requests if r.token_in_body]
