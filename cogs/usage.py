"""/usage: who spent what this month (or a given `YYYY-MM`), the budgets, and a chart.

Managers see every member; others see the team totals and themselves, unless the team allows
more (`SD35L_USAGE_OPEN=1`: everyone sees everyone). The answer is ephemeral:
spend is nobody else's business in the channel.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.jobs.rights import NotAllowedError
from bot.core.money.budget import parse_month
from bot.core.money.usage import Spend, usage_report
from bot.ui.charts import usage_chart_png
from bot.ui.usage import chart_data, usage_embed
from cogs._common import is_manager, services


def _name_of(interaction: discord.Interaction[Any], picked: discord.User | None) -> Any:
    """Display names of the members we know (the invoker, the picked user, the cache)."""
    known: dict[int, str] = {interaction.user.id: interaction.user.display_name}
    if picked is not None:
        known[picked.id] = picked.display_name

    def name(user_id: int) -> str:
        member = interaction.guild.get_member(user_id) if interaction.guild else None
        if member is not None:
            return member.display_name
        return known.get(user_id, f"user {user_id}")

    return name


class UsageCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="usage", description="Spend this month per user and for the team")
    @app_commands.guild_only()
    @app_commands.describe(
        user="Only this member (managers may pick anyone)",
        month="A month as YYYY-MM (default: this month, UTC)",
    )
    async def usage(
        self,
        interaction: discord.Interaction[Any],
        user: discord.User | None = None,
        month: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = services(interaction)
        which = parse_month(month)
        sees_all = bot.settings.usage_open or is_manager(
            interaction.user, bot.settings.manager_roles
        )
        if user is not None and user.id != interaction.user.id and not sees_all:
            raise NotAllowedError(
                "Only managers (SD35L_MANAGER_ROLES) can see another member's spend; you can see "
                "the team totals and your own.",
                field="user",
            )
        report = await usage_report(bot.budget, which)
        if user is not None:
            shown = [user.id]
        elif sees_all:
            everyone = set(report.users) | set(report.awaiting)  # some only await approval
            shown = sorted(everyone, key=lambda uid: -report.users.get(uid, Spend()).total)
        else:
            shown = [interaction.user.id]
        data = chart_data(report, shown, _name_of(interaction, user))
        title = f"Spend per user, {which}"
        png = await asyncio.to_thread(
            usage_chart_png, data, budget_cents=report.user_budget, title=title
        )
        name = f"usage-{which}.png"
        await interaction.followup.send(
            embed=usage_embed(report, shown, chart=name),
            file=discord.File(io.BytesIO(png), filename=name),
            ephemeral=True,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(UsageCog(bot))
