"""/status (one training in detail, or your recent ones) and /jobs (the team's trainings)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import SD35LError
from bot.core.jobs.rights import not_tracked
from bot.core.log import get_logger
from bot.core.replicate.errors import training_id_of
from bot.core.replicate.training import KNOWN_STATUSES
from bot.ui.card import card_embed
from bot.ui.status import MAX_ROWS, jobs_embed
from cogs._common import services, training_choices

log = get_logger(__name__)

STATUS_CHOICES = [
    app_commands.Choice(name=s, value=s) for s in ("active", "ended", *sorted(KNOWN_STATUSES))
]


class StatusCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="status", description="One training in detail, or your recent ones")
    @app_commands.guild_only()
    @app_commands.describe(training="The training (type to search); empty = your recent ones")
    async def status(
        self, interaction: discord.Interaction[Any], training: str | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = services(interaction)
        if not training:
            rows = await bot.store.trainings.find(owner_id=interaction.user.id, limit=10)
            embed = jobs_embed(
                rows, "Your recent trainings", "You have not started a training yet; try /train."
            )
            await interaction.followup.send(embed=embed, ephemeral=True)
            return
        wanted = training_id_of(training)
        row = await bot.store.trainings.get(wanted)
        if row is None:
            raise not_tracked(wanted[:40])
        note = ""
        if not row.is_terminal:
            try:
                row = await bot.jobs.refresh(row.id)
            except SD35LError as exc:
                note = f"Replicate did not answer just now ({exc}); showing the last known state."
        if note:
            await interaction.followup.send(note, embed=card_embed(row), ephemeral=True)
        else:
            await interaction.followup.send(embed=card_embed(row), ephemeral=True)

    @status.autocomplete("training")
    async def status_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await training_choices(interaction, current, active_only=False)

    @app_commands.command(name="jobs", description="The trainings of this server, newest first")
    @app_commands.guild_only()
    @app_commands.describe(
        user="Only this member's trainings",
        status="Only trainings in this state",
        limit="How many to show (1-25, default 10)",
    )
    @app_commands.choices(status=STATUS_CHOICES)
    async def jobs(
        self,
        interaction: discord.Interaction[Any],
        user: discord.User | None = None,
        status: str | None = None,
        limit: app_commands.Range[int, 1, MAX_ROWS] = 10,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = services(interaction)
        rows = await bot.store.trainings.find(
            guild_id=interaction.guild_id,
            owner_id=user.id if user else None,
            status=status,
            limit=limit,
        )
        who = f" of {user.display_name}" if user else ""
        what = f" ({status})" if status else ""
        embed = jobs_embed(rows, f"Trainings{who}{what}", "No trainings match.")
        await interaction.followup.send(embed=embed, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(StatusCog(bot))
