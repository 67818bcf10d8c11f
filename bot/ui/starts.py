"""What a member reads when their Start was interrupted and settled without a training.

Pure functions of the stored submission (see `bot.core.jobs.pending` for how each outcome is
decided): the words say what happened, whether money was spent, and what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord

from bot.core.jobs.pending import AMBIGUOUS, NOT_SUBMITTED
from bot.core.store.rows import PendingSubmission, TrainingRow
from bot.ui.format import DESCRIPTION, FIELD_VALUE, clip

_TITLES = {
    NOT_SUBMITTED: "Your training was not started",
    AMBIGUOUS: "Your training start needs a manager's check",
}
_TEXT = {
    NOT_SUBMITTED: (
        "The bot restarted while it was starting your training, before the request reached "
        "Replicate: **nothing was submitted and nothing was charged**. Press **Start training** "
        "below to start it now with the same settings, or run /train again."
    ),
    AMBIGUOUS: (
        "The bot restarted while it was starting your training, and Replicate shows trainings "
        "that look like it but cannot be proved to be yours, so none was attributed to you. "
        "Before starting again, ask a manager to check the trainings listed below "
        "(`sd35l-trainer status ID`) and cancel any nobody started."
    ),
}
UNKNOWN_TEXT = (
    "The bot restarted while it was starting your training and could not reach Replicate long "
    "enough to find out whether it was created. Check /jobs or `sd35l-trainer list` before "
    "starting again, so you do not pay twice."
)


def start_outcome_embed(pending: PendingSubmission) -> discord.Embed:
    outcome = pending.outcome or ""
    embed = discord.Embed(
        title=_TITLES.get(outcome, "Your training start could not be confirmed"),
        description=clip(_TEXT.get(outcome, UNKNOWN_TEXT), DESCRIPTION),
        colour=0xE67E22,
    )
    embed.add_field(name="Destination", value=clip(pending.destination, FIELD_VALUE), inline=True)
    embed.add_field(name="Trigger word", value=f"`{clip(pending.trigger_word or '?', 60)}`")
    trainings = pending.outcome_info.get("trainings") or []
    if trainings:
        listed = ", ".join(f"`{t}`" for t in trainings[:10])
        embed.add_field(name="Trainings to check", value=clip(listed, FIELD_VALUE), inline=False)
    return embed


def late_start_embed(row: TrainingRow, payload: Mapping[str, Any]) -> discord.Embed:
    """The correction when an interrupted Start's create reached Replicate after the bot had
    settled it: the training exists, is billed, and is tracked now."""
    told = ""
    if payload.get("told"):
        told = (
            "You were told that nothing was submitted or charged; that was wrong. "
            if payload.get("earlier") == NOT_SUBMITTED
            else "You were told the bot could not find out whether it was created: it was. "
        )
    text = (
        "The bot restarted while it was starting your training, and the request reached "
        f"Replicate later than the bot waited for it. {told}**Training `{row.id}` was created "
        "and is billed.** It is tracked for you now: its card follows in the channel and you "
        "will hear when it ends. If you started it again meanwhile, cancel the one you do not "
        "need (/cancel)."
    )
    embed = discord.Embed(
        title="Correction: your training was started after all",
        url=str(payload.get("web_url") or row.web_url),
        description=clip(text, DESCRIPTION),
        colour=0xE67E22,
    )
    embed.add_field(name="Destination", value=clip(row.destination, FIELD_VALUE), inline=True)
    embed.add_field(name="Trigger word", value=f"`{clip(row.trigger_word or '?', 60)}`")
    return embed
