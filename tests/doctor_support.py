"""A deployment to check: the fake Discord (on its own loop in a thread, since the CLI runs
its own event loop) and the Replicate simulator, with settings pointing at both."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.core.doctor import permissions as perm
from bot.core.settings import load_settings
from bot.sim import ReplicateSimulator
from tests.fakediscord import FakeChannel, FakeDiscord, FakeGuild, FakeRole

# The bot's role in a well-set-up server: exactly what the invite link grants.
BOT_PERMISSIONS = perm.NEEDED_PERMISSIONS


class DiscordThread:
    """A started FakeDiscord serving from a background thread; world building is plain calls."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.fd: FakeDiscord

    def __enter__(self) -> FakeDiscord:
        self._thread.start()

        async def start() -> FakeDiscord:
            fd = FakeDiscord(auto_install=False)
            await fd.start()
            return fd

        self.fd = asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        return self.fd

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fd.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


@dataclass
class Deployment:
    fd: FakeDiscord
    sim: ReplicateSimulator
    guild: FakeGuild
    channel: FakeChannel
    bot_role: FakeRole
    database: Path

    def sync_commands(self) -> None:
        """Register exactly what this version syncs, as a good start of the bot would."""
        from bot.app import expected_commands

        for scope, payload in expected_commands(load_settings()).items():
            stored = [self.fd.register_command(c, scope) for c in payload]
            if scope is None:
                self.fd.state.global_commands = stored
            else:
                self.fd.state.guild_commands[scope] = stored
