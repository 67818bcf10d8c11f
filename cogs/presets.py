"""/presets (all side by side, or one in detail) and /config-template (a YAML to fill in)."""

from __future__ import annotations

import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.config.model import describe_parameters, load_presets, render_template
from bot.ui.presets import preset_embed, presets_embed
from cogs._common import PRESET_CHOICES


class PresetsCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="presets", description="Show the presets, or one in detail")
    @app_commands.describe(name="The preset to explain")
    @app_commands.choices(name=PRESET_CHOICES)
    async def presets(self, interaction: discord.Interaction[Any], name: str | None = None) -> None:
        presets = load_presets()
        if name and name in presets:
            embed = preset_embed(presets[name], describe_parameters())
        else:
            embed = presets_embed(presets)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(
        name="config-template", description="A YAML config to fill in and attach to /train"
    )
    @app_commands.describe(preset="Start from this preset's values")
    @app_commands.choices(preset=PRESET_CHOICES)
    async def config_template(
        self, interaction: discord.Interaction[Any], preset: str | None = None
    ) -> None:
        text = render_template(preset)
        name = f"sd35l-{preset or 'config'}.yaml"
        file = discord.File(io.BytesIO(text.encode("utf-8")), filename=name)
        await interaction.response.send_message(
            f"Fill in the CHANGE_ME values in `{name}`, then attach it to /train (option "
            "`config`) or post it and use Apps -> Train with this config.",
            file=file,
            ephemeral=True,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(PresetsCog(bot))
