"""Waiting in line for a dataset check (or a captioning run), told in the deferred reply.

The command was acknowledged at once (the defer); when every place at the front of the line
(`bot.core.line`) is taken, the member's "thinking…" reply becomes their place in line and
roughly when their turn starts, edited as the line moves, and says so when the turn comes. A
member who never waited sees nothing of the line.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import discord

from bot.core.counted import ordinal
from bot.core.line import Line, Place
from bot.core.log import get_logger

log = get_logger(__name__)


def roughly(seconds: float) -> str:
    """`about 40 s`, `about 3 min`: the estimate claims no more precision than it has."""
    if seconds < 10:
        return "in a few seconds"
    if seconds < 90:
        return f"in about {int(math.ceil(seconds / 10) * 10)} s"
    return f"in about {round(seconds / 60)} min"


def place_text(place: Place, work: str, line: Line) -> str:
    """The waiting member's message: their place, what is ahead, when theirs starts."""
    ahead = place.position - 1
    front = f"{line.running} running" + (f", {ahead} waiting ahead of you" if ahead else "")
    return (
        f"⏳ You are {ordinal(place.position)} in line for a {work} ({front}; at most "
        f"{line.size} run at once). Yours should start {roughly(place.starts_in)}; this message "
        "updates as the line moves."
    )


def turn_text(work: str) -> str:
    return f"🔎 Your turn came: the {work} is running now; the result follows below."


@asynccontextmanager
async def turn_in_line(
    interaction: discord.Interaction[Any], line: Line, work: str = "dataset check"
) -> AsyncIterator[None]:
    """Hold a turn in `line` for this deferred interaction, telling its place while it waits."""
    waited = False

    async def tell(place: Place) -> None:
        nonlocal waited
        waited = True
        await interaction.edit_original_response(content=place_text(place, work, line))

    async with line.turn(tell):
        if waited:
            try:
                await interaction.edit_original_response(content=turn_text(work))
            except discord.HTTPException as exc:
                log.info("could not tell a member their turn came: %s", exc)
        yield
