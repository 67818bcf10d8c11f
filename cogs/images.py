"""Apps → 'Train on these images': a message's pictures (or its .zip) become the dataset.

A context menu takes no options, so it answers with a modal asking the trigger word, the
destination (filled with the user's last one) and the preset. The attachments are downloaded the
moment the menu is used, while the modal is open, because Discord's links expire. Submitting
the modal leads to the same preview as /train, with the contact sheet and Start.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.dataset.collect import Member
from bot.core.dataset.local import prepare_upload
from bot.core.log import get_logger
from bot.tree import reply_error, send_ephemeral
from bot.ui.caption_forms import FORM_PREFIX as CAPTION_FORM
from bot.ui.caption_forms import is_open as caption_form_open
from bot.ui.captions import CAPTION_BUTTONS
from bot.ui.images import label_of, message_dataset, read_message_dataset
from bot.ui.services import ServicedBot
from bot.ui.train import attached_resolution, preview_config
from cogs._common import require_start, services

log = get_logger(__name__)

MODAL_SECONDS = 15 * 60
FORM_PREFIX = "sd35l:images:"
FORM_EXPIRED = (
    "This form is no longer open (the bot restarted or 15 minutes passed) and its images were "
    "not kept; use Apps → Train on these images on the message again."
)
CAPTIONS_EXPIRED = (
    "This caption form is no longer open (the bot restarted or 15 minutes passed); press Edit "
    "captions or Upload captions file on the preview again."
)
_last_destination: dict[int, str] = {}  # this process's memory; the database knows older ones
_open_forms: set[str] = set()  # custom_ids of the forms this process can still answer


async def last_destination(bot: ServicedBot, user_id: int) -> str | None:
    """The destination this user typed or trained into last (modal, then their trainings)."""
    if user_id in _last_destination:
        return _last_destination[user_id]
    rows = await bot.store.trainings.find(owner_id=user_id, limit=1)
    return str(rows[0].destination) if rows else bot.settings.default_destination


class ImagesModal(discord.ui.Modal, title="Train on these images"):
    """Trigger word, destination and preset for the posted images; only its opener submits."""

    def __init__(
        self,
        owner_id: int,
        label: str,
        download: asyncio.Task[bytes | list[Member]],
        destination: str | None,
    ) -> None:
        super().__init__(timeout=MODAL_SECONDS, custom_id=FORM_PREFIX + secrets.token_urlsafe(12))
        _open_forms.add(self.custom_id)
        self.owner_id, self.label, self.download = owner_id, label, download
        self.trigger_word: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Trigger word", placeholder="a made-up word, e.g. ZXQTOK", max_length=50
        )
        self.destination: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Destination (Replicate owner/model)",
            placeholder="you/my-lora",
            default=destination,
            max_length=100,
        )
        self.preset: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Preset: beginner, experienced or fast",
            placeholder="beginner",
            required=False,
            max_length=20,
        )
        for item in (self.trigger_word, self.destination, self.preset):
            self.add_item(item)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """A stranger's submit is answered and ignored; the form stays open for its opener."""
        if interaction.user.id == self.owner_id:
            return True
        await send_ephemeral(interaction, "Only the person who opened this form can use it.")
        return False

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        # Stays in `_open_forms` until the stop: the restart listener runs beside this task.
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = services(interaction)
        require_start(interaction.user, bot.settings.allowed_roles)
        destination = self.destination.value.strip()
        if destination:
            _last_destination[self.owner_id] = destination
        options = {
            "trigger_word": self.trigger_word.value.strip() or None,
            "destination": destination or None,
            "preset": self.preset.value.strip().lower() or None,
        }
        local = await prepare_upload(
            await self.download,
            self.label,
            trigger_word=self.trigger_word.value.strip() or None,
            field="message",
            url_option="dataset_url",
            resolution=attached_resolution(bot, options, None, self.label),
            min_images=bot.settings.policy_min_images,
        )
        await preview_config(interaction, options, None, dry_run=False, source=None, local=local)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: Any = None
    ) -> None:
        await reply_error(interaction, error)

    def stop(self) -> None:
        """Submitted (after its answer was sent) or timed out: no longer answerable here."""
        _open_forms.discard(self.custom_id)
        super().stop()

    async def on_timeout(self) -> None:
        _open_forms.discard(self.custom_id)
        self.download.cancel()


def _forget(task: asyncio.Task[Any]) -> None:
    """A download nobody awaits (the modal was closed) must not log 'never retrieved'."""
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()


@app_commands.guild_only()
@app_commands.context_menu(name="Train on these images")
async def train_on_images(interaction: discord.Interaction[Any], message: discord.Message) -> None:
    """Right-click a message with images (+ .txt captions) or a .zip -> Apps -> this."""
    bot = services(interaction)
    require_start(interaction.user, bot.settings.allowed_roles)
    attachments = message_dataset(message)
    download = asyncio.create_task(read_message_dataset(attachments))
    download.add_done_callback(_forget)
    destination = await last_destination(bot, interaction.user.id)
    modal = ImagesModal(interaction.user.id, label_of(attachments), download, destination)
    await interaction.response.send_modal(modal)


class ImagesCog(commands.Cog):
    """Answers a submitted form this process does not know (opened before a restart)."""

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        data: Any = interaction.data or {}
        custom_id = str(data.get("custom_id") or "")
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        lost_images = custom_id.startswith(FORM_PREFIX) and custom_id not in _open_forms
        lost_captions = custom_id.startswith(CAPTION_FORM) and not caption_form_open(
            interaction.client, custom_id
        )
        if (lost_images or lost_captions) and not interaction.response.is_done():
            await send_ephemeral(interaction, CAPTIONS_EXPIRED if lost_captions else FORM_EXPIRED)


async def setup(bot: commands.Bot) -> None:
    """The context menu lives on the tree; the cog answers forms lost to a restart; the caption
    buttons of own images' previews (here and /train dataset:) are registered here."""
    await bot.add_cog(ImagesCog())
    bot.tree.add_command(train_on_images)
    bot.add_dynamic_items(*CAPTION_BUTTONS)
