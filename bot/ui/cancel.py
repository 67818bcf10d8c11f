"""Cancelling from Discord: the card's Cancel button and its confirmation.

Rights are checked from the database at every step (command, button, confirmation): a
custom_id is visible to clients and proves nothing. A cancel is final, and the confirmation
says so: a canceled training cannot resume.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.core.jobs.rights import not_tracked, require_cancel
from bot.core.store.rows import TrainingRow
from bot.tree import send_ephemeral
from bot.ui.access import is_manager
from bot.ui.buttons import KeyedButton, view_of
from bot.ui.services import services

CONFIRM_TEXT = (
    "Cancel training `{id}` ({destination})? A canceled training cannot resume: the GPU time "
    "used so far is still billed and a new run starts from step 0."
)


async def cancellable_row(interaction: discord.Interaction[Any], training_id: str) -> TrainingRow:
    """The training, if the clicker may cancel it and it has not ended."""
    bot = services(interaction)
    row = await bot.store.trainings.get(training_id)
    if row is None:
        raise not_tracked(training_id)
    manager = is_manager(interaction.user, bot.settings.manager_roles)
    require_cancel(row, interaction.user.id, manager)
    return row


async def ask_to_confirm(interaction: discord.Interaction[Any], training_id: str) -> None:
    row = await cancellable_row(interaction, training_id)
    await send_ephemeral(
        interaction,
        CONFIRM_TEXT.format(id=row.id, destination=row.destination),
        view=view_of(ConfirmCancelButton(row.id)),
    )


class CardCancelButton(
    KeyedButton, action="cancel", label="Cancel training", style=discord.ButtonStyle.danger
):
    """The job card's Cancel: asks to confirm (only for the creator or a manager)."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await ask_to_confirm(interaction, self.key)


class ConfirmCancelButton(
    KeyedButton,
    action="confirm-cancel",
    label="Yes, Cancel it for good",
    style=discord.ButtonStyle.danger,
):
    """The confirmation: checks the rights again, then cancels on Replicate."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        bot = services(interaction)
        row = await cancellable_row(interaction, self.key)
        manager = interaction.user.id != row.owner_id
        await interaction.response.defer()
        ended = await bot.jobs.cancel(row.id, interaction.user.id, manager)
        bot.tracker.wake()
        await interaction.edit_original_response(
            content=f"🛑 Training `{ended.id}` is {ended.status}; the card shows the end.",
            view=None,
        )
