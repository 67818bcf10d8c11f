"""The two caption forms, and the buttons opening them: five captions to edit, or a text file of
`name: caption` lines.

Discord's limits shape them: a form holds five components, a text input's label is at most 45
characters (an image's name is clipped; its custom_id says which image), its value at most 4000;
a form's custom_id at most 100. A form lives in this process only (a restart loses an open one,
and its submit is answered by `cogs.images`, like the images form).
"""

from __future__ import annotations

import posixpath
import secrets
import weakref
from typing import Any

import discord

from bot.core.captions.edits import (
    MAX_EDITED,
    MAX_FILE_BYTES,
    apply_edits,
    edited_caption,
    parse_caption_file,
)
from bot.core.errors import InputError
from bot.tree import reply_error, send_ephemeral
from bot.ui.buttons import KeyedButton
from bot.ui.caption_pack import (
    PAGE,
    caption_entries,
    owned_preview,
    read_pack,
    repreview,
    split_key,
)
from bot.ui.services import services

FORM_PREFIX = "sd35l:capform:"
FORM_SECONDS = 15 * 60
LABEL_MAX = 45
# Per running bot, the custom_ids of the caption forms it can still answer (a restarted bot
# knows none of the old ones, even in the same process).
_open: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def is_open(client: Any, custom_id: str) -> bool:
    return custom_id in _open.get(client, set())


def _label(name: str) -> str:
    base = posixpath.basename(name)
    return base if len(base) <= LABEL_MAX else base[: LABEL_MAX - 1] + "…"


class _OwnedModal(discord.ui.Modal):
    """A caption form only its opener submits; failures are one private sentence."""

    def __init__(self, client: Any, preview_key: str, title: str) -> None:
        super().__init__(
            title=title, timeout=FORM_SECONDS, custom_id=FORM_PREFIX + secrets.token_urlsafe(12)
        )
        self.preview_key = preview_key
        self.open = _open.setdefault(client, set())
        self.open.add(self.custom_id)

    def stop(self) -> None:
        self.open.discard(self.custom_id)
        super().stop()

    async def on_timeout(self) -> None:
        self.open.discard(self.custom_id)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        preview = await services(interaction).store.previews.get(self.preview_key)
        if preview is not None and interaction.user.id == preview.owner_id:
            return True
        await send_ephemeral(interaction, "Only the person who ran /train can change these.")
        return False

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: Any = None
    ) -> None:
        await reply_error(interaction, error)


class CaptionsModal(_OwnedModal):
    """Up to five images' captions; an emptied field means no caption for that image."""

    def __init__(
        self, client: Any, preview_key: str, entries: list[tuple[str, str | None]]
    ) -> None:
        super().__init__(client, preview_key, "Edit captions")
        self.images = [name for name, _ in entries[:5]]
        self.fields: list[discord.ui.TextInput[Any]] = []
        for index, (name, text) in enumerate(entries[:5]):
            field: discord.ui.TextInput[Any] = discord.ui.TextInput(
                label=_label(name),
                custom_id=f"caption{index}",
                style=discord.TextStyle.paragraph,
                default=(text or "")[:MAX_EDITED] or None,
                required=False,
                max_length=MAX_EDITED,
            )
            self.fields.append(field)
            self.add_item(field)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        preview = await owned_preview(interaction, self.preview_key)
        edits = {
            image: edited_caption(field.value)
            for image, field in zip(self.images, self.fields, strict=True)
        }
        members = apply_edits(await read_pack(services(interaction), preview), edits)
        await repreview(interaction, preview, members, f"Captions edited: {len(edits)} image(s).")


class CaptionFileModal(_OwnedModal):
    """A `.txt` of `name: caption` lines replacing the named images' captions."""

    def __init__(self, client: Any, preview_key: str) -> None:
        super().__init__(client, preview_key, "Upload captions")
        self.upload: discord.ui.FileUpload[Any] = discord.ui.FileUpload(
            custom_id="captions_file", min_values=1, max_values=1, required=True
        )
        self.add_item(
            discord.ui.Label(
                text="Caption file (.txt)",
                description="One line per image: name: caption",
                component=self.upload,
            )
        )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        preview = await owned_preview(interaction, self.preview_key)
        attachment = self.upload.values[0] if self.upload.values else None
        if attachment is None or attachment.size > MAX_FILE_BYTES:
            raise InputError(
                f"captions: attach one text file of at most {MAX_FILE_BYTES // 1024} KB.",
                field="captions",
            )
        data = await attachment.read()
        members = await read_pack(services(interaction), preview)
        images = [m.name for m in members if not m.name.endswith(".txt") and not m.is_dir]
        edits = parse_caption_file(data, images)
        note = f"Captions replaced from {attachment.filename}: {len(edits)} image(s)."
        await repreview(interaction, preview, apply_edits(members, edits), note)


class EditCaptionsButton(
    KeyedButton, action="capedit", label="Edit captions", style=discord.ButtonStyle.secondary
):
    """A form with the captions of one page (five images) to change."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        page, preview_key = split_key(self.key)
        preview = await owned_preview(interaction, preview_key)
        entries = caption_entries(await read_pack(services(interaction), preview))
        if not entries:
            raise InputError("This preview has no images to caption.")
        page = min(page, (len(entries) - 1) // PAGE)
        chosen = entries[page * PAGE : (page + 1) * PAGE]
        await interaction.response.send_modal(
            CaptionsModal(interaction.client, preview.key, chosen)
        )


class UploadCaptionsButton(
    KeyedButton,
    action="capfile",
    label="Upload captions file",
    style=discord.ButtonStyle.secondary,
):
    """A form taking a text file of `name: caption` lines."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        _page, preview_key = split_key(self.key)
        preview = await owned_preview(interaction, preview_key)
        await interaction.response.send_modal(CaptionFileModal(interaction.client, preview.key))
