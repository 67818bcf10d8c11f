"""The job card's "Train again": after a failed, canceled or aborted training, anyone allowed to
start trainings gets the /train preview of that training's stored config, for themselves.

The stored config was scrubbed of secrets before it was saved and is checked again exactly like a
config file given to /train: a value that no longer passes today's rules (say a narrower
SD35L_POLICY_STEPS) gets the usual one-sentence answer naming the field. The preview (and the
training its Start submits) belongs to whoever clicked, not to the first training's creator.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord.ext import commands

from bot.core.errors import InputError
from bot.core.store.rows import TrainingRow
from bot.tree import reply_error
from bot.ui.buttons import AGAIN_TEMPLATE, again_button
from cogs._common import require_start, services
from cogs.train import preview_config

AGAIN_STATUSES = frozenset({"failed", "canceled", "aborted"})


async def _ended_row(interaction: discord.Interaction[Any], training_id: str) -> TrainingRow:
    row = await services(interaction).store.get(training_id)
    if row is None:
        raise InputError(
            f"Training {training_id} is no longer tracked by this bot; start a new one with "
            "/train.",
            field="training",
        )
    if row.status not in AGAIN_STATUSES:
        raise InputError(
            f"Training {row.id} is {row.status}; Train again is only offered once a training "
            "failed, was canceled or was aborted.",
            field="training",
        )
    if not row.config:
        raise InputError(
            f"Training {row.id} has no stored config to reuse; start a new one with /train.",
            field="training",
        )
    return row


async def train_again(interaction: discord.Interaction[Any], training_id: str) -> None:
    """Defer first (the checks download the dataset), then the same preview as /train."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = services(interaction)
    require_start(interaction.user, bot.settings.allowed_roles)
    row = await _ended_row(interaction, training_id)
    await preview_config(
        interaction,
        {},
        dict(row.config),
        dry_run=False,
        source=f"the stored config of training {row.id}",
    )


class AgainButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=AGAIN_TEMPLATE):
    """The card's Train again; works after a restart (the config is in the database)."""

    def __init__(self, training_id: str) -> None:
        super().__init__(again_button(training_id))
        self.training_id = training_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> AgainButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await train_again(interaction, self.training_id)
        except Exception as exc:
            await reply_error(interaction, exc)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(AgainButton)
