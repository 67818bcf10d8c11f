"""/cancel: creator or manager only, always confirmed (the buttons are in `bot.ui.cancel`)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.replicate.errors import training_id_of
from bot.ui.cancel import CardCancelButton, ConfirmCancelButton, ask_to_confirm
from cogs._common import is_manager, services, training_choices


class CancelCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="cancel", description="Cancel a running training (asks first)")
    @app_commands.guild_only()
    @app_commands.describe(training="The training to cancel (type to search)")
    async def cancel(self, interaction: discord.Interaction[Any], training: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await ask_to_confirm(interaction, training_id_of(training))

    @cancel.autocomplete("training")
    async def cancel_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        manager = is_manager(interaction.user, services(interaction).settings.manager_roles)
        return await training_choices(interaction, current, active_only=True, own_only=not manager)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(CardCancelButton, ConfirmCancelButton)
    await bot.add_cog(CancelCog(bot))
