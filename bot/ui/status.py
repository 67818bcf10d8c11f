"""/jobs and /status without an argument: one line per training, newest first."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.core.money.cents import format_cents
from bot.core.store.rows import TrainingRow
from bot.ui.format import BLUE, clip, mention, relative, status_line

MAX_ROWS = 25


def training_line(row: TrainingRow) -> str:
    """`✅ succeeded · abc123 · alice/lora · 700/700 · $1.20 · <@1> · 3 hours ago`"""
    parts = [status_line(row.status), f"[`{row.id}`]({row.web_url})", row.destination]
    if row.total:
        parts.append(f"{row.step or 0}/{row.total}")
    if row.cost_cents is not None:
        parts.append(format_cents(row.cost_cents))
    parts += [mention(row.owner_id), relative(row.created_at)]
    return " · ".join(parts)


def jobs_embed(rows: Sequence[TrainingRow], title: str, empty: str) -> discord.Embed:
    """One line per training, newest first; the description is cut to stay within limits."""
    lines = [training_line(r) for r in rows[:MAX_ROWS]]
    text = "\n".join(lines) if lines else empty
    embed = discord.Embed(title=clip(title, 256), colour=BLUE, description=clip(text, 4000))
    embed.set_footer(text="/status TRAINING for one training in detail")
    return embed
