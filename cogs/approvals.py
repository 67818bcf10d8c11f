"""Approval requests: registers the Approve/Reject buttons (so requests posted before a restart
keep working) and expires requests nobody decided within a day, driven from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import discord
from discord.ext import commands

from bot.core.log import get_logger
from bot.tree import reply_error
from bot.ui.approvals import (
    REASON_FORM,
    ApproveButton,
    RejectButton,
    expired,
    form_reason,
    held_form,
    reject_submitted,
)
from bot.ui.services import ServicedBot, services_of

log = get_logger(__name__)


class ApprovalsCog(commands.Cog):
    """Looks for expired requests every `bot.approval_sweep` seconds (a restart loses none:
    a request that expired while the bot was down is found on the first look)."""

    def __init__(self, bot: ServicedBot) -> None:
        self.bot = bot
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._sweep(), name="sd35l-approval-expiry")
        self.bot.background.append(self._task)

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """A reject form this process does not hold (opened before a restart, or held past its
        timeout) is still answered: everything it needs is its key and the database."""
        data: Any = interaction.data or {}
        custom_id = str(data.get("custom_id") or "")
        if (
            interaction.type is discord.InteractionType.modal_submit
            and custom_id.startswith(REASON_FORM)
            and not held_form(self.bot, interaction.user.id, custom_id)
            and not interaction.response.is_done()
        ):
            try:
                await reject_submitted(
                    interaction, custom_id.removeprefix(REASON_FORM), form_reason(data)
                )
            except Exception as exc:
                await reply_error(interaction, exc)

    async def sweep_once(self) -> int:
        bot = self.bot
        done = await bot.approvals.expire_due()
        for request in done:
            await expired(bot, request)
        return len(done)

    async def _sweep(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            try:
                await self.sweep_once()
            except Exception:
                log.exception("looking for expired approval requests failed; trying again later")
            await asyncio.sleep(self.bot.approval_sweep)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(ApproveButton, RejectButton)
    await bot.add_cog(ApprovalsCog(services_of(bot)))
