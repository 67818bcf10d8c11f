"""All the checks in order, for `sd35l-trainer doctor` and for the bot's start.

Discord first (the bot's own token, servers, permissions, commands), then Replicate (token,
destination, trainer), then the local machine (database, data folder, and the clock against
the `Date` both services sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.doctor.local import check_data_folder, check_database
from bot.core.doctor.replicate import check_replicate
from bot.core.doctor.report import ChecklistLine
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import Settings

DISCORD_API = "https://discord.com/api/v10"

# What the bot would sync, by scope: a guild id, or None for the global commands.
Commands = Mapping[int | None, list[dict[str, Any]]]


@dataclass
class DoctorOptions:
    """What only the caller knows: where Discord is, what the bot syncs, which destination."""

    destination: str | None = None  # None: SD35L_DEFAULT_DESTINATION
    discord_api: str = DISCORD_API
    commands: Commands | None = None  # None: the command check is skipped
    gateway_options: dict[str, Any] = field(default_factory=dict)
    discord_timeout: float = 15.0


async def run_doctor(
    settings: Settings, options: DoctorOptions | None = None
) -> list[ChecklistLine]:
    """Every finding, ✔ and ✘ alike; never raises for what it finds."""
    from bot.core.doctor.discord_checks import check_discord

    options = options or DoctorOptions()
    discord = await check_discord(settings, options)
    destination = options.destination or settings.default_destination
    # Building the official client makes an SSL context (~25 ms of CPU): not on the bot's loop.
    gateway = await asyncio.to_thread(ReplicateGateway, settings, **options.gateway_options)
    async with gateway:
        replicate = await check_replicate(settings, gateway, destination)
    local = [check_database(settings.database), check_data_folder(settings.database)]
    local += [c for c in (discord.clock, replicate.clock) if c is not None]
    return [*discord.findings, *replicate.findings, *local]
