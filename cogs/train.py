"""/train and the 'Train with this config' message menu: read the options and the config file,
then the preview (`bot.ui.train`) checks everything and offers Start. Also registers the job
card's Train again button, so it keeps working on cards posted before a restart.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.config.model import OPTIMIZERS
from bot.core.dataset.local import prepare_upload
from bot.core.errors import InputError
from bot.core.limits import BATCH_SIZE, LEARNING_RATE_MAX, LORA_RANK, STEPS
from bot.ui.images import check_zip, read
from bot.ui.train import (
    AgainButton,
    DiscardButton,
    StartButton,
    attached_resolution,
    preview_config,
)
from cogs._common import (
    PRESET_CHOICES,
    config_attachment_of,
    read_config,
    require_start,
    services,
)

OPTIMIZER_CHOICES = [app_commands.Choice(name=o, value=o) for o in OPTIMIZERS]


async def show_preview(
    interaction: discord.Interaction[Any],
    options: dict[str, Any],
    attachment: discord.Attachment | None,
    dry_run: bool,
    dataset: discord.Attachment | None = None,
) -> None:
    """Everything after the defer: read, resolve, check, and answer with the preview."""
    bot = services(interaction)
    require_start(interaction.user, bot.settings.allowed_roles)
    if dataset is not None:
        check_zip(dataset)  # before a byte of the config or the dataset is downloaded
    file_data = await read_config(attachment) if attachment is not None else None
    source = attachment.filename if attachment is not None else None
    local = None
    if dataset is not None:
        local = await prepare_upload(
            await read(dataset),
            dataset.filename,
            trigger_word=options.get("trigger_word") or (file_data or {}).get("trigger_word"),
            field="dataset",
            url_option="dataset_url",
            resolution=attached_resolution(bot, options, file_data, dataset.filename),
            min_images=bot.settings.policy_min_images,
        )
    await preview_config(
        interaction, options, file_data, dry_run=dry_run, source=source, local=local
    )


@app_commands.guild_only()
@app_commands.context_menu(name="Train with this config")
async def train_from_message(
    interaction: discord.Interaction[Any], message: discord.Message
) -> None:
    """Right-click a colleague's message with a YAML/JSON config -> Apps -> this."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    attachment = config_attachment_of(message)
    if attachment is None:
        raise InputError(
            "That message has no .yaml, .yml or .json attachment; use this on a message that "
            "carries a config file (get one with /config-template).",
            field="config",
        )
    await show_preview(interaction, {}, attachment, dry_run=False)


class TrainCog(commands.Cog):
    """/train with options and/or a config file; options win over the file."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="train", description="Check a LoRA training and preview it")
    @app_commands.guild_only()
    @app_commands.describe(
        dataset_url="Direct https link to the dataset .zip (images + captions)",
        dataset="A .zip of your images (+ .txt captions), uploaded for you at Start",
        destination="Replicate model owner/name that receives the LoRA",
        trigger_word="Made-up word that calls up your subject, e.g. ZXQTOK",
        preset="Starting values (beginner, experienced, fast)",
        config="Config file (.yaml/.yml/.json, max 64 KB); options win over it",
        steps="Training steps (team policy applies)",
        batch_size="Images per step",
        optimizer="prodigy (learning rate 1.0) or adamw8bit (about 0.0004)",
        learning_rate="Learning rate",
        resolution='Comma-separated sizes, e.g. "768,1024"',
        lora_rank=f"LoRA rank ({LORA_RANK})",
        dry_run="Only check and preview; no Start button",
        sample_prompts="W&B sample image prompts, separated by | (needs WANDB_API_KEY)",
    )
    @app_commands.choices(preset=PRESET_CHOICES, optimizer=OPTIMIZER_CHOICES)
    async def train(
        self,
        interaction: discord.Interaction[Any],
        dataset_url: str | None = None,
        dataset: discord.Attachment | None = None,
        destination: str | None = None,
        trigger_word: str | None = None,
        preset: str | None = None,
        config: discord.Attachment | None = None,
        steps: app_commands.Range[int, STEPS.low, STEPS.high] | None = None,
        batch_size: app_commands.Range[int, BATCH_SIZE.low, BATCH_SIZE.high] | None = None,
        optimizer: str | None = None,
        learning_rate: app_commands.Range[float, 0.0, LEARNING_RATE_MAX] | None = None,
        resolution: str | None = None,
        lora_rank: app_commands.Range[int, LORA_RANK.low, LORA_RANK.high] | None = None,
        dry_run: bool = False,
        sample_prompts: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        options = {
            "dataset_url": dataset_url,
            "destination": destination,
            "trigger_word": trigger_word,
            "preset": preset,
            "steps": steps,
            "batch_size": batch_size,
            "optimizer": optimizer,
            "learning_rate": learning_rate,
            "resolution": resolution,
            "lora_rank": lora_rank,
            "wandb_sample_prompts": sample_prompts,
        }
        await show_preview(interaction, options, config, dry_run, dataset)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(StartButton, DiscardButton, AgainButton)
    await bot.add_cog(TrainCog(bot))
    bot.tree.add_command(train_from_message)
