"""Approval requests: registers the Approve/Reject buttons (so requests posted before a restart
keep working) and expires requests nobody decided within a day, driven from the database.
"""

from __future__ import annotations

import asyncio
import contextlib

from discord.ext import commands

from bot.core.log import get_logger
from bot.ui.approval import ApproveButton, RejectButton, expired

log = get_logger(__name__)


class ApprovalsCog(commands.Cog):
    """Looks for expired requests every `bot.approval_sweep` seconds (a restart loses none:
    a request that expired while the bot was down is found on the first look)."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._sweep(), name="sd35l-approval-expiry")
        getattr(self.bot, "background", []).append(self._task)

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep_once(self) -> int:
        bot = self.bot
        done = await bot.approvals.expire_due()  # type: ignore[attr-defined]
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
            await asyncio.sleep(getattr(self.bot, "approval_sweep", 300.0))


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(ApproveButton, RejectButton)
    await bot.add_cog(ApprovalsCog(bot))
