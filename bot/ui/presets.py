"""/presets: every preset side by side, or one in detail."""

from __future__ import annotations

from collections.abc import Mapping

import discord

from bot.core.config.presets import FLAT_TO_PATH, Preset
from bot.ui.format import BLUE, FIELD_VALUE, clip


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
