"""The running bot as its cogs, views and buttons see it: its services, each typed.

`bot.app.TrainerBot` builds them in `setup_hook`; a cog receives the bot in its `setup`, a button
or form (rebuilt by discord.py from a custom_id) reaches it through its interaction. Either way it
is a `ServicedBot`, never a bare client whose attributes are looked up by name.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import discord
from discord.ext import commands

from bot.core.jobs.service import JobService
from bot.core.jobs.tracker import Tracker
from bot.core.line import Line
from bot.core.money.approvals import ApprovalDesk
from bot.core.money.budget import Budget
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import Settings
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow


class CardPoster(Protocol):
    """What a Start needs of the notifier (`bot.notifier.DiscordNotifier`): post a card once."""

    async def post_card(
        self, row: TrainingRow, channel_id: int
    ) -> discord.Message | discord.PartialMessage: ...


class ServicedBot(commands.Bot):
    """A bot with its services; they exist from `setup_hook` on."""

    settings: Settings
    store: Store
    gateway: ReplicateGateway
    jobs: JobService
    budget: Budget
    approvals: ApprovalDesk
    tracker: Tracker
    notifier: CardPoster
    checks: Line  # dataset checks and captioning runs: a few at once, the rest wait in line
    # Loops of the cogs (e.g. approval expiry), stopped before the database closes.
    background: list[asyncio.Task[None]]
    # `user:custom_id` of the reject forms this process answers itself (the rest: the cog's
    # listener). On the bot, not the module: a bot built anew (a restart) holds none of them.
    reason_forms: set[str]
    approval_sweep: float  # seconds between looks for expired approval requests


def services_of(client: discord.Client) -> ServicedBot:
    """The bot behind a client (a cog's `setup`, an interaction's client)."""
    if not isinstance(client, ServicedBot):
        raise TypeError(f"{type(client).__name__} carries no sd35l-trainer services")
    return client


def services(interaction: discord.Interaction[Any]) -> ServicedBot:
    """The running bot with its store, job service and settings."""
    return services_of(interaction.client)
