"""The job card's "Train again" button (`bot.ui.training.AgainButton`), registered so it keeps
working on cards posted before a restart."""

from __future__ import annotations

from discord.ext import commands

from bot.ui.training import AgainButton


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(AgainButton)
