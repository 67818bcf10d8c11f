"""/train and the 'Train with this config' message menu: check everything, preview, Start.

The preview is only for the invoker and saved in the database, so its Start button works after
a restart; Start re-reads the owner from there (custom_ids are visible to clients), claims the
preview once (a double click submits once), submits, and posts the public job card.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.config.model import OPTIMIZERS, ResolvedConfig, resolve_config, to_trainer_input
from bot.core.dataset.check import inspect_dataset
from bot.core.errors import InputError, SD35LError
from bot.core.estimate import estimate_training, format_estimate
from bot.core.log import get_logger
from bot.core.replicate.gateway import OutcomeUnknownError
from bot.core.store.rows import TrainingRow, config_dict
from bot.notifier import card_message
from bot.tree import reply_error, send_ephemeral
from bot.ui.buttons import (
    DISCARD_TEMPLATE,
    START_TEMPLATE,
    discard_button,
    start_button,
    view_of,
)
from bot.ui.preview import PreviewChecks, preview_embeds
from cogs._common import (
    PRESET_CHOICES,
    config_attachment_of,
    read_config,
    require_start,
    services,
)

log = get_logger(__name__)

OPTIMIZER_CHOICES = [app_commands.Choice(name=o, value=o) for o in OPTIMIZERS]
EXPIRED = "This preview expired or was already used; run /train again."


async def run_checks(bot: Any, resolved: ResolvedConfig, dry_run: bool) -> PreviewChecks:
    """Dataset, token, destination, trainer inputs and the estimate (the network part)."""
    settings = bot.settings
    config = resolved.config
    checks = PreviewChecks()
    checks.dataset = await inspect_dataset(
        str(config.dataset_url),
        settings=settings,
        trigger_word=config.trigger_word,
        resolution=config.training.resolution,
    )
    if settings.token:
        checks.account = await bot.gateway.check_token() or None
        checks.destination_ok = await bot.gateway.destination_exists(str(config.destination))
        if not checks.destination_ok:
            checks.problems.append(
                f"The destination model {config.destination} does not exist on Replicate; "
                "create it at https://replicate.com/create (private is fine) and run /train again."
            )
        checks.problems += await bot.gateway.check_inputs(to_trainer_input(config))
    elif not dry_run:
        checks.problems.append(
            "REPLICATE_API_TOKEN is not set on the bot, so nothing can be submitted; ask the "
            "bot's admin to set it."
        )
    t = config.training
    estimate = estimate_training(
        steps=t.steps,
        batch_size=t.batch_size,
        resolution=t.resolution,
        gpu_price=settings.gpu_price,
    )
    checks.estimate = format_estimate(estimate)
    return checks


async def show_preview(
    interaction: discord.Interaction[Any],
    cli: dict[str, Any],
    attachment: discord.Attachment | None,
    dry_run: bool,
) -> None:
    """Everything after the defer: read, resolve, check, and answer with the preview."""
    bot = services(interaction)
    require_start(interaction.user, bot.settings.allowed_roles)
    file_data = await read_config(attachment) if attachment is not None else None
    source = attachment.filename if attachment is not None else None
    await preview_config(interaction, cli, file_data, dry_run=dry_run, source=source)


async def preview_config(
    interaction: discord.Interaction[Any],
    cli: dict[str, Any],
    file_data: dict[str, Any] | None,
    *,
    dry_run: bool,
    source: str | None,
) -> None:
    """Resolve, check and answer with the preview (and its Start button when all is well).
    Shared by /train, the message menu and a card's Train again; the caller deferred and
    checked the right to start."""
    bot = services(interaction)
    resolved = resolve_config(cli=cli, file=file_data, settings=bot.settings)
    checks = await run_checks(bot, resolved, dry_run)
    embeds = preview_embeds(resolved, checks, dry_run=dry_run, source=source)
    if checks.ok and not dry_run:
        preview = await bot.previews.save(
            interaction.user.id,
            interaction.guild_id,
            interaction.channel_id,
            config_dict(resolved),
        )
        view = view_of(StartButton(preview.key), DiscardButton(preview.key))
        await interaction.followup.send(embeds=embeds, view=view, ephemeral=True)
    else:
        await interaction.followup.send(embeds=embeds, ephemeral=True)


async def post_card(interaction: discord.Interaction[Any], row: TrainingRow) -> str:
    """The public card in the channel, sent with the bot token so it can be edited for hours."""
    bot = services(interaction)
    channel_id = interaction.channel_id or row.channel_id
    message: discord.Message | discord.WebhookMessage
    try:
        assert channel_id is not None
        message = await bot.get_partial_messageable(channel_id).send(**card_message(row))
    except (discord.HTTPException, AssertionError) as exc:
        log.warning("card of %s not posted with the bot token (%s); using a followup", row.id, exc)
        message = await interaction.followup.send(**card_message(row), wait=True)
    await bot.store.set_card(row.id, message.channel.id, message.id)
    return message.jump_url


class StartButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=START_TEMPLATE):
    """Submits a saved preview; works after a restart (the preview is in the database)."""

    def __init__(self, key: str) -> None:
        super().__init__(start_button(key))
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> StartButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self._start(interaction)
        except Exception as exc:
            await reply_error(interaction, exc)

    async def _start(self, interaction: discord.Interaction[Any]) -> None:
        bot = services(interaction)
        preview = await bot.previews.get(self.key)
        if preview is None or preview.used or preview.expired():
            await send_ephemeral(interaction, EXPIRED)
            return
        if interaction.user.id != preview.owner_id:
            await send_ephemeral(
                interaction, "Only the person who ran /train can start this preview."
            )
            return
        require_start(interaction.user, bot.settings.allowed_roles)
        await interaction.response.defer()
        if not await bot.previews.claim(self.key):
            await send_ephemeral(interaction, EXPIRED)
            return
        try:
            resolved = resolve_config(file=preview.config, settings=bot.settings)
            row = await bot.jobs.submit(
                preview.owner_id, preview.guild_id, preview.channel_id, resolved
            )
        except OutcomeUnknownError:
            # The training may exist: never offer the same preview twice.
            await interaction.edit_original_response(view=None)
            raise
        except SD35LError:
            await bot.previews.release(self.key)
            raise
        bot.tracker.wake()
        link = await post_card(interaction, row)
        await interaction.edit_original_response(
            content=f"✅ Started training `{row.id}`; follow it on the card: {link}", view=None
        )


class DiscardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=DISCARD_TEMPLATE):
    """The preview's Cancel: forget it, submit nothing."""

    def __init__(self, key: str) -> None:
        super().__init__(discard_button(key))
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DiscardButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            bot = services(interaction)
            preview = await bot.previews.get(self.key)
            if preview is not None and interaction.user.id != preview.owner_id:
                await send_ephemeral(interaction, "Only the person who ran /train can do that.")
                return
            await bot.previews.discard(self.key)
            await interaction.response.edit_message(
                content="Preview discarded; nothing was submitted.", embeds=[], view=None
            )
        except Exception as exc:
            await reply_error(interaction, exc)


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
        destination="Replicate model owner/name that receives the LoRA",
        trigger_word="Made-up word that calls up your subject, e.g. ZXQTOK",
        preset="Starting values (beginner, experienced, fast)",
        config="Config file (.yaml/.yml/.json, max 64 KB); options win over it",
        steps="Training steps (team policy applies)",
        batch_size="Images per step",
        optimizer="prodigy (learning rate 1.0) or adamw8bit (about 0.0004)",
        learning_rate="Learning rate",
        resolution='Comma-separated sizes, e.g. "768,1024"',
        lora_rank="LoRA rank (1-128)",
        dry_run="Only check and preview; no Start button",
    )
    @app_commands.choices(preset=PRESET_CHOICES, optimizer=OPTIMIZER_CHOICES)
    async def train(
        self,
        interaction: discord.Interaction[Any],
        dataset_url: str | None = None,
        destination: str | None = None,
        trigger_word: str | None = None,
        preset: str | None = None,
        config: discord.Attachment | None = None,
        steps: app_commands.Range[int, 3, 6000] | None = None,
        batch_size: app_commands.Range[int, 1, 64] | None = None,
        optimizer: str | None = None,
        learning_rate: app_commands.Range[float, 0.0, 10.0] | None = None,
        resolution: str | None = None,
        lora_rank: app_commands.Range[int, 1, 128] | None = None,
        dry_run: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        cli = {
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
        }
        await show_preview(interaction, cli, config, dry_run)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(StartButton, DiscardButton)
    await bot.add_cog(TrainCog(bot))
    bot.tree.add_command(train_from_message)
