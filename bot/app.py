"""The Discord bot: `create_bot()` builds it from the environment without touching the network.

Startup order (discord.py): `setup_hook` runs after login and before the gateway connects. It
opens the database, loads one extension per feature, registers the DynamicItem buttons (so Start
and Cancel keep working on messages sent before a restart) and syncs the slash commands only when
their payload changed. The tracker starts in a task that waits for READY (never inside
setup_hook), reconciles what happened while the bot was down, then polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.core.doctor.backoff import Refusals, refusals_path, stop_refused
from bot.core.errors import InputError, SD35LError
from bot.core.jobs.service import JobService
from bot.core.jobs.tracker import RoundReport, Tracker
from bot.core.line import Line
from bot.core.log import get_logger, setup_logging
from bot.core.memory import freeze_survivors, steady_heap
from bot.core.money.approvals import ApprovalDesk
from bot.core.money.budget import Budget
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.secrets import redact
from bot.core.settings import Settings, load_settings
from bot.core.store.approvals import APPROVAL_TTL
from bot.core.store.db import Store
from bot.drain import HandlerGate
from bot.health import touch_heartbeat
from bot.notifier import DiscordNotifier
from bot.tree import SD35LTree
from bot.ui.services import ServicedBot

log = get_logger(__name__)

EXTENSIONS = (
    "cogs.train", "cogs.images", "cogs.status", "cogs.cancel", "cogs.presets",
    "cogs.approvals", "cogs.usage",
)  # fmt: skip
MSG_MISSING_BOT_LOGIN = (
    "DISCORD_TOKEN is not set, so the bot cannot log in to Discord. To run it, follow the "
    'README\'s "Create the Discord application" steps (https://discord.com/developers/'
    "applications, then Bot: copy the token) and set DISCORD_TOKEN in the environment or in "
    ".env. No account needed to try everything first: ./scripts/rehearse runs the 60-second "
    'rehearsal (README, "The first five minutes").'
)
MSG_REFUSED_BOT_LOGIN = (
    "Discord refused DISCORD_TOKEN; copy the bot token again (Developer Portal → your "
    "application → Bot → Reset Token) and set DISCORD_TOKEN."
)


def _digest(payload: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


EMPTY_DIGEST = _digest([])


class HeartbeatTracker(Tracker):
    """The core tracker plus the heartbeat file the container healthcheck reads."""

    async def run_once(self) -> RoundReport:
        report = await super().run_once()
        try:
            touch_heartbeat(self.settings)
        except OSError as exc:
            log.warning("heartbeat not written: %s", exc)
        return report


class TrainerBot(ServicedBot):
    """The sd35l-trainer bot; services exist after `setup_hook` (i.e. after `start()`)."""

    notifier: DiscordNotifier

    def __init__(
        self,
        settings: Settings,
        *,
        sync_commands: bool = True,
        tracker_options: dict[str, Any] | None = None,
        gateway_options: dict[str, Any] | None = None,
        approval_ttl: timedelta = APPROVAL_TTL,
        approval_sweep: float = 300.0,
        **options: Any,
    ) -> None:
        # The bot never joins voice: no start-up warnings about voice libraries.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        options.setdefault("intents", discord.Intents.default())
        super().__init__(command_prefix=commands.when_mentioned, tree_cls=SD35LTree, **options)
        self.settings = settings
        self.sync_commands = sync_commands
        self.tracker_options = dict(tracker_options or {})
        self.gateway_options = dict(gateway_options or {})
        self.approval_ttl = approval_ttl
        self.approval_sweep = approval_sweep  # seconds between looks for expired approvals
        # Dataset checks and captioning runs: `check_slots` at once, the rest wait in line; the
        # large buffers they free go straight back to the system (`bot.core.memory`).
        steady_heap()
        self.checks = Line(settings.check_slots)
        self.synced_scopes: list[str] = []
        self._tracker_task: asyncio.Task[None] | None = None
        self.background = []
        self.reason_forms = set()
        self._services_open = False
        self.gate = HandlerGate(self)
        self.shutdown_grace = 20.0  # seconds running interactions get to finish on close()
        self.close_on_sigterm = False  # run_bot: `docker stop` closes gracefully too
        self.startup_checks = False  # run_bot: the `doctor` checks, each failure logged

    # -- startup -----------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.store = await Store.open(self.settings.database, approval_ttl=self.approval_ttl)
        # Building the official client makes an SSL context and its first request imports
        # anyio's backend (~25 and ~40 ms of CPU): both in a worker thread, not on the loop.
        await asyncio.to_thread(importlib.import_module, "anyio._backends._asyncio")
        self.gateway = await asyncio.to_thread(
            ReplicateGateway, self.settings, **self.gateway_options
        )
        self.budget = Budget(self.store.ledger, self.settings)
        self.jobs = JobService(self.store, self.gateway, self.settings, budget=self.budget)
        self.approvals = ApprovalDesk(self.store.approvals, self.jobs)
        self.notifier = DiscordNotifier(self, self.store, self.settings)
        self.tracker = HeartbeatTracker(
            self.jobs, self.store, self.notifier, self.settings, **self.tracker_options
        )
        self.notifier.tracker = self.tracker
        self._services_open = True
        self.gate.install()
        if self.close_on_sigterm:
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
                asyncio.get_running_loop().add_signal_handler(
                    signal.SIGTERM, lambda: asyncio.ensure_future(self.close())
                )
        for name in EXTENSIONS:
            # Its imports (the UI, the core) run in a worker thread; discord.py then executes
            # only the extension itself on the loop.
            await asyncio.to_thread(importlib.import_module, name)
            await self.load_extension(name)
        if self.sync_commands:
            await self.sync_if_changed()
        self._tracker_task = asyncio.create_task(self._run_tracker(), name="sd35l-tracker-start")

    async def _run_tracker(self) -> None:
        await self.wait_until_ready()
        Refusals(refusals_path(self.settings.database)).clear()  # logged in: tokens are good
        if self.startup_checks:
            self.background.append(
                asyncio.create_task(self._startup_checks(), name="sd35l-startup-checks")
            )
        try:
            rows = await self.jobs.reconcile()
            log.info("reconciled %d unfinished training(s) after start", len(rows))
        except Exception:
            log.exception("reconcile after start failed; the tracker will catch up")
        self.tracker.start()
        freeze_survivors()

    async def _startup_checks(self) -> None:
        await self.run_startup_checks()

    async def run_startup_checks(self) -> list[Any]:
        """The `doctor` checklist once the bot is connected; each failure logged with its fix."""
        from bot.core.doctor.report import failed
        from bot.core.doctor.run import DoctorOptions, run_doctor

        options = DoctorOptions(
            discord_api=discord.http.Route.BASE,
            commands=self.command_payloads(),
            gateway_options={"read_attempts": 2, "timeout": 15.0},
        )
        try:
            findings = await run_doctor(self.settings, options)
        except Exception:
            log.exception("start-up checks could not run; `sd35l-trainer doctor` shows them")
            return []
        problems = failed(findings)
        for finding in problems:
            log.warning("start-up check failed: %s", finding.line())
        log.info(
            "start-up checks: %d passed, %d failed%s",
            len(findings) - len(problems),
            len(problems),
            "" if problems else " (deployment OK)",
        )
        return findings

    # -- command sync ------------------------------------------------------------------------

    def command_payloads(self) -> dict[int | None, list[dict[str, Any]]]:
        """What the bot syncs, by scope (a guild id of SD35L_GUILD_IDS, or None: global)."""
        scopes: dict[int | None, list[dict[str, Any]]] = {}
        ids: list[int | None] = list(self.settings.guild_ids) or [None]
        for guild_id in ids:
            guild = discord.Object(id=guild_id) if guild_id is not None else None
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            scopes[guild_id] = self.command_payload(guild)
        return scopes

    def _hash_path(self) -> Path:
        db = self.settings.database.expanduser()
        return db.with_name(db.name + ".commands.json")

    def _load_hashes(self) -> dict[str, str]:
        try:
            data = json.loads(self._hash_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def command_payload(self, guild: discord.abc.Snowflake | None) -> list[dict[str, Any]]:
        """Exactly what `tree.sync(guild=...)` would send."""
        return [c.to_dict(self.tree) for c in self.tree._get_all_commands(guild=guild)]

    async def sync_if_changed(self) -> list[str]:
        """Sync to SD35L_GUILD_IDS (globals copied there first) or globally, when changed."""
        hashes = self._load_hashes()
        guilds: list[discord.Object | None]
        guilds = [discord.Object(id=g) for g in self.settings.guild_ids] or [None]
        synced: list[str] = []
        for guild in guilds:
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            digest = _digest(self.command_payload(guild))
            scope = self._scope(guild.id if guild else None)
            if hashes.get(scope) == digest:
                continue
            try:
                await self.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.error("syncing slash commands to %s failed: %s", scope, exc)
                continue
            hashes[scope] = digest
            synced.append(scope)
        synced += await self._clear_stale_scopes(hashes, guilds)
        try:
            self._hash_path().parent.mkdir(parents=True, exist_ok=True)
            self._hash_path().write_text(json.dumps(hashes, indent=1), encoding="utf-8")
        except OSError as exc:
            log.warning("command hashes not saved (%s); the next start syncs again", exc)
        self.synced_scopes = synced
        return synced

    def _scope(self, guild_id: int | None) -> str:
        return f"{self.application_id}:{guild_id if guild_id is not None else 'global'}"

    async def _clear_stale_scopes(
        self, hashes: dict[str, str], current: list[discord.Object | None]
    ) -> list[str]:
        """Empty the scopes this bot synced before but no longer uses, so a server never
        shows every command twice (global + guild) after SD35L_GUILD_IDS changed."""
        assert self.application_id is not None
        wanted = {self._scope(g.id if g else None) for g in current}
        if current != [None]:
            hashes.setdefault(self._scope(None), "unknown")  # globals from an earlier setup
        cleared: list[str] = []
        for scope, digest in list(hashes.items()):
            app, _, where = scope.partition(":")
            if app != str(self.application_id) or scope in wanted or digest == EMPTY_DIGEST:
                continue
            try:
                if where == "global":
                    await self.http.bulk_upsert_global_commands(self.application_id, payload=[])
                else:
                    await self.http.bulk_upsert_guild_commands(
                        self.application_id, int(where), payload=[]
                    )
            except (discord.HTTPException, ValueError) as exc:
                log.warning("stale slash commands in %s not removed: %s", scope, exc)
                continue
            hashes[scope] = EMPTY_DIGEST
            cleared.append(scope)
        return cleared

    # -- shutdown ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop taking interactions, let running ones finish (bounded), then close the
        services they use: a handler never meets a closed store."""
        await self.gate.drain(self.shutdown_grace)
        tasks = [t for t in (self._tracker_task, *self.background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._services_open:
            self._services_open = False
            await self.tracker.stop(grace=5.0)
            await self.gateway.aclose()
            await self.store.close()
        await super().close()


def create_bot(settings: Settings | None = None, **kwargs: Any) -> TrainerBot:
    """The configured bot; reads the environment (and .env) when `settings` is not given."""
    return TrainerBot(settings if settings is not None else load_settings(), **kwargs)


def expected_commands(settings: Settings) -> dict[int | None, list[dict[str, Any]]]:
    """The commands this version syncs, built offline: extensions loaded, nothing connected."""

    async def build() -> dict[int | None, list[dict[str, Any]]]:
        bot = create_bot(settings, sync_commands=False)
        try:
            for name in EXTENSIONS:
                await bot.load_extension(name)
            return bot.command_payloads()
        finally:
            for task in bot.background:
                task.cancel()
            await asyncio.gather(*bot.background, return_exceptions=True)

    return asyncio.run(build())


def check_replicate(settings: Settings) -> None:
    """At start, `GET /v1/account` once, so a bad token is found now and not at someone's
    /train: a refused token stops the bot (InputError, exit 2); a missing one or an unreachable
    Replicate is a warning, since the bot can still answer and Replicate may come back."""
    if not settings.token:
        log.warning(
            "REPLICATE_API_TOKEN is not set: the bot starts, but /train cannot submit until it is."
        )
        return

    async def account() -> str:
        async with ReplicateGateway(settings, read_attempts=2, timeout=10.0) as gateway:
            return await gateway.check_token()

    try:
        name = asyncio.run(account())
    except InputError:
        raise
    except SD35LError as exc:
        log.warning("could not check REPLICATE_API_TOKEN at start: %s", exc)
        return
    log.info("Replicate token OK (account %s)", name or "unknown")


def run_bot() -> None:
    """`sd35l-trainer bot` / `python -m bot`: run until stopped; exit 2 on bad configuration."""
    setup_logging()
    try:
        settings = load_settings()
    except SD35LError as exc:
        import os

        stop_refused(Path(os.environ.get("SD35L_DATABASE") or "./data/sd35l.db"), str(exc))
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        stop_refused(settings.database, MSG_MISSING_BOT_LOGIN)
    try:
        check_replicate(settings)
    except SD35LError as exc:
        stop_refused(settings.database, str(exc))
    bot = create_bot(settings)
    bot.close_on_sigterm = True
    bot.startup_checks = True
    try:
        bot.run(settings.discord_token.get_secret_value(), log_handler=None)
    except discord.LoginFailure:
        stop_refused(settings.database, MSG_REFUSED_BOT_LOGIN)
    except SD35LError as exc:
        if exc.exit_code == 2:
            stop_refused(settings.database, str(exc))
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except (aiohttp.ClientError, OSError) as exc:
        print(
            f"Error: could not reach Discord ({redact(str(exc))}); check the network and try "
            "again (the bot reconnects by itself once it has started).",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
