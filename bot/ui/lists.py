"""Lists: /jobs and /status without an argument, /presets side by side or one in detail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import discord

from bot.core.config.presets import FLAT_TO_PATH, Preset
from bot.core.money.cents import format_cents
from bot.core.store.rows import TrainingRow
from bot.ui.format import BLUE, FIELD_VALUE, clip, mention, relative, status_line

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


def presets_embed(presets: Mapping[str, Preset]) -> discord.Embed:
    """Every preset side by side: one inline field each with its main values."""
    embed = discord.Embed(
        title="Presets",
        colour=BLUE,
        description="Starting values for /train (`preset` option); any option you give wins.",
    )
    for preset in list(presets.values())[:24]:
        values = "\n".join(f"{k}: `{v}`" for k, v in preset.values.items())
        embed.add_field(
            name=clip(preset.name, 256),
            value=clip(f"{preset.description}\n{values}", FIELD_VALUE),
            inline=True,
        )
    embed.set_footer(text="/presets name:<preset> explains each value")
    return embed


def preset_embed(preset: Preset, help_text: Mapping[str, str]) -> discord.Embed:
    """One preset in detail: each value with what it does."""
    embed = discord.Embed(
        title=clip(f"Preset {preset.name}", 256),
        colour=BLUE,
        description=clip(preset.description, 1000),
    )
    for key, value in list(preset.values.items())[:24]:
        if key in FLAT_TO_PATH:
            embed.add_field(
                name=clip(f"{key} = {value}", 256),
                value=clip(help_text.get(key, ""), FIELD_VALUE),
                inline=False,
            )
    return embed
