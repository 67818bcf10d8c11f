"""The command tree with the one error handler every failure goes through.

Modelled on Red-DiscordBot's tree.py: every failure gets a short ephemeral answer, never a
traceback. The answer goes wherever it still can: the initial response, else a followup when
the interaction was already acknowledged; an expired token (10062/50027) is only logged.
Button callbacks (DynamicItems) use `reply_error` too, since discord.py only logs their errors.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.core.errors import SD35LError
from bot.core.log import get_logger
from bot.core.secrets import redact

log = get_logger(__name__)

UNKNOWN_INTERACTION = 10062  # the 3 s (or 15 min) window is over
ALREADY_ACKNOWLEDGED = 40060
INVALID_WEBHOOK_TOKEN = 50027  # the interaction token expired (15 min)
GENERIC = "Something went wrong on the bot's side (it was logged); please try again in a moment."


def error_message(error: BaseException) -> str:
    """One human sentence for any failure; unexpected ones are logged with their traceback."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        original = getattr(error, "original", None) or error.__cause__
        if isinstance(error, app_commands.TransformerError) and original is None:
            return f"The value {str(error.value)[:80]!r} is not valid for this option."
        if original is not None:
            return error_message(original)
    if isinstance(error, SD35LError):
        return redact(str(error))
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only in a server channel, not in direct messages."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return redact(str(error)) or "You are not allowed to use this command here."
    if isinstance(error, app_commands.CommandNotFound):
        return "This command is not known to the bot any more; Discord will update the list soon."
    if isinstance(error, discord.Forbidden):
        return (
            "Discord refused the bot an action here (missing permission); ask an admin to give "
            "the bot View Channel, Send Messages, Embed Links and Attach Files in this channel."
        )
    log.error("unexpected error in an interaction", exc_info=error)
    return GENERIC


async def send_ephemeral(interaction: discord.Interaction[Any], text: str, **kw: Any) -> bool:
    """Answer privately wherever possible; False when the interaction is dead."""
    text = redact(text)[:2000]
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, **kw)
        else:
            await interaction.response.send_message(text, ephemeral=True, **kw)
        return True
    except discord.HTTPException as exc:
        if exc.code == ALREADY_ACKNOWLEDGED:
            try:
                await interaction.followup.send(text, ephemeral=True, **kw)
                return True
            except discord.HTTPException as again:
                exc = again
        if exc.code in (UNKNOWN_INTERACTION, INVALID_WEBHOOK_TOKEN):
            log.info("could not answer an expired interaction: %s", text)
        else:
            log.warning("could not answer an interaction (%s): %s", exc.code, text)
        return False


async def reply_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    await send_ephemeral(interaction, error_message(error))


class SD35LTree(app_commands.CommandTree[Any]):
    """CommandTree whose `on_error` answers the user instead of only logging."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError, /
    ) -> None:
        await reply_error(interaction, error)
