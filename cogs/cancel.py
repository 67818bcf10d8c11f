"""/cancel and the card's Cancel button: creator or manager only, always confirmed.

Rights are checked from the database at every step (command, button, confirmation): a
custom_id is visible to clients and proves nothing. A cancel is final, and the confirmation
says so: a canceled training cannot resume.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import InputError
from bot.core.store.rows import TrainingRow
from bot.tree import reply_error, send_ephemeral
from bot.ui.buttons import CANCEL_TEMPLATE, CONFIRM_TEMPLATE, cancel_button, confirm_button, view_of
from cogs._common import is_manager, require_cancel, services, training_choices

CONFIRM_TEXT = (
    "Cancel training `{id}` ({destination})? A canceled training cannot resume: the GPU time "
    "used so far is still billed and a new run starts from step 0."
)


async def _checked_row(interaction: discord.Interaction[Any], training_id: str) -> TrainingRow:
    bot = services(interaction)
    row = await bot.store.get(training_id)
    if row is None:
        raise InputError(
            f"Training {training_id} is not tracked by this bot; pick one from /jobs or the "
            "autocomplete list.",
            field="training",
        )
    require_cancel(row, interaction.user, bot.settings.manager_roles)
    if row.is_terminal:
        raise InputError(
            f"Training {row.id} already ended ({row.status}); there is nothing to cancel.",
            field="training",
        )
    return row


async def ask_to_confirm(interaction: discord.Interaction[Any], training_id: str) -> None:
    row = await _checked_row(interaction, training_id)
    await send_ephemeral(
        interaction,
        CONFIRM_TEXT.format(id=row.id, destination=row.destination),
        view=view_of(ConfirmCancelButton(row.id)),
    )


class CardCancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CANCEL_TEMPLATE):
    """The job card's Cancel: asks to confirm (only for the creator or a manager)."""

    def __init__(self, training_id: str) -> None:
        super().__init__(cancel_button(training_id))
        self.training_id = training_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CardCancelButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await ask_to_confirm(interaction, self.training_id)
        except Exception as exc:
            await reply_error(interaction, exc)


class ConfirmCancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=CONFIRM_TEMPLATE
):
    """The confirmation: checks the rights again, then cancels on Replicate."""

    def __init__(self, training_id: str) -> None:
        super().__init__(confirm_button(training_id))
        self.training_id = training_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ConfirmCancelButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            bot = services(interaction)
            row = await _checked_row(interaction, self.training_id)
            manager = interaction.user.id != row.owner_id
            await interaction.response.defer()
            ended = await bot.jobs.cancel(row.id, interaction.user.id, manager)
            bot.tracker.wake()
            await interaction.edit_original_response(
                content=f"🛑 Training `{ended.id}` is {ended.status}; the card shows the end.",
                view=None,
            )
        except Exception as exc:
            await reply_error(interaction, exc)


class CancelCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="cancel", description="Cancel a running training (asks first)")
    @app_commands.guild_only()
    @app_commands.describe(training="The training to cancel (type to search)")
    async def cancel(self, interaction: discord.Interaction[Any], training: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await ask_to_confirm(interaction, training.strip())

    @cancel.autocomplete("training")
    async def cancel_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        manager = is_manager(interaction.user, services(interaction).settings.manager_roles)
        return await training_choices(interaction, current, active_only=True, own_only=not manager)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(CardCancelButton, ConfirmCancelButton)
    await bot.add_cog(CancelCog(bot))
