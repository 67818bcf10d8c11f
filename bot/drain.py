"""Graceful shutdown: stop taking new interactions, let running handlers finish, then close.

discord.py starts every slash command, autocomplete and button callback as its own task from
the gateway's INTERACTION_CREATE parser and never waits for them. Closing the store under such a
task makes it fail half-way and answer with the generic error. `HandlerGate` wraps that parser:
it remembers the tasks each interaction started, and once draining it answers new interactions
with "restarting" instead of starting them. `drain()` then waits (bounded) for the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import discord

from bot.core.log import get_logger
from bot.tree import send_ephemeral

log = get_logger(__name__)

RESTARTING = "The bot is restarting; nothing was done. Try again in a minute."
_AUTOCOMPLETE = 4


class HandlerGate:
    """Counts interaction handlers in flight and turns new ones away while draining."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self.draining = False
        self.turned_away = 0
        self._running: set[asyncio.Task[Any]] = set()
        self._original: Callable[[Any], None] | None = None

    def install(self) -> None:
        """Wrap the state's INTERACTION_CREATE parser (the gateway reads the same dict)."""
        parsers: dict[str, Callable[[Any], None]] = self.client._connection.parsers
        if self._original is None:
            self._original = parsers["INTERACTION_CREATE"]
            parsers["INTERACTION_CREATE"] = self._parse

    @property
    def running(self) -> int:
        return sum(1 for task in self._running if not task.done())

    def _parse(self, data: Any) -> None:
        assert self._original is not None
        if self.draining:
            self.turned_away += 1
            self._track({asyncio.create_task(self._turn_away(data), name="sd35l-turn-away")})
            return
        before = asyncio.all_tasks()
        self._original(data)  # synchronous: the handler tasks exist when it returns
        self._track(asyncio.all_tasks() - before)

    def _track(self, tasks: set[asyncio.Task[Any]]) -> None:
        for task in tasks:
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _turn_away(self, data: Any) -> None:
        interaction: discord.Interaction[Any] = discord.Interaction(
            data=data, state=self.client._connection
        )
        try:
            if int(data.get("type", 0)) == _AUTOCOMPLETE:
                await interaction.response.autocomplete([])
            else:
                await send_ephemeral(interaction, RESTARTING)
        except discord.HTTPException as exc:
            log.info("could not tell an interaction that the bot is restarting (%s)", exc.code)

    async def drain(self, grace: float) -> int:
        """Refuse new work and wait up to `grace` s for running handlers; returns how many
        were still running when the time was up (they are cancelled)."""
        self.draining = True
        pending = {task for task in self._running if not task.done()}
        if pending:
            log.info("waiting up to %.0fs for %d interaction(s) to finish", grace, len(pending))
            _done, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d interaction(s) did not finish in %.0fs", len(pending), grace)
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)
