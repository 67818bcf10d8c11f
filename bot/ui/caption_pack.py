"""The reviewed dataset of a preview of own images: its packed ZIP read back, its captions, and
a new preview after any change to them.

The dataset of such a preview is the packed ZIP the bot kept for Start (`bot.core.jobs.uploads`),
so every caption action reads that pack, changes its `.txt` members, judges and packs again and
posts a new preview (the old one is discarded): the sheet, the list and the upload are always
the same bytes. Button keys are `<number>c<preview key>`: the number is the price in cents
(Write captions) or the page (the others); the owner is re-read from the stored preview.
"""

from __future__ import annotations

import asyncio
import io
import posixpath
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.core.captions.clean import trigger_rule
from bot.core.captions.run import caption_name, is_image
from bot.core.dataset.collect import Member, collect_zip
from bot.core.dataset.local import prepare_upload
from bot.core.errors import InputError
from bot.core.store.previews import Preview
from bot.ui.format import BLUE, clip
from bot.ui.services import ServicedBot, services

PAGE = 5  # images per page, and per edit form (a modal holds five inputs)
EXPIRED = "This preview expired or was already used; run /train or Train on these images again."
LABEL = "your images (captions reviewed)"


def split_key(key: str) -> tuple[int, str]:
    """`12cAbC...` -> (12, "AbC..."): the number before the first `c`, then the preview key."""
    number, _, preview_key = key.partition("c")
    if not number.isdigit() or not preview_key:
        raise InputError(EXPIRED, field="preview")
    return int(number), preview_key


def pack_members(data: bytes) -> list[Member]:
    members, _entries = collect_zip(
        io.BytesIO(data), "dataset.zip", field="dataset", url_option="dataset_url"
    )
    return members


def caption_entries(members: list[Member]) -> list[tuple[str, str | None]]:
    """Each image of a pack, in order, with its caption (None: trained on the trigger word)."""
    texts = {m.name: m.data for m in members if m.name.endswith(".txt") and m.data is not None}
    out = []
    for m in sorted(members, key=lambda m: m.name):
        if m.is_dir or not is_image(m.name):
            continue
        raw = texts.get(caption_name(m.name))
        text = raw.decode("utf-8", "replace").strip() if raw is not None else ""
        out.append((m.name, text or None))
    return out


def captions_embed(
    entries: list[tuple[str, str | None]], page: int, trigger_word: str | None
) -> discord.Embed:
    """One page of `name: caption` lines, with the trainer's trigger-word rule."""
    pages = max(1, -(-len(entries) // PAGE))
    page = min(max(page, 0), pages - 1)
    lines = [
        f"**{clip(posixpath.basename(name), 60)}**: {clip(text, 180) if text else '*(none)*'}"
        for name, text in entries[page * PAGE : (page + 1) * PAGE]
    ]
    embed = discord.Embed(
        title=f"Captions (page {page + 1} of {pages})",
        colour=BLUE,
        description=clip("\n".join(lines) or "No images.", 2000),
    )
    embed.set_footer(text=clip(trigger_rule(trigger_word), 500))
    return embed


async def owned_preview(interaction: discord.Interaction[Any], preview_key: str) -> Preview:
    bot = services(interaction)
    preview = await bot.store.previews.get(preview_key)
    if preview is None or preview.used or preview.expired():
        raise InputError(EXPIRED, field="preview")
    if interaction.user.id != preview.owner_id:
        raise InputError("Only the person who ran /train can change these captions.")
    return preview


async def read_pack(bot: ServicedBot, preview: Preview) -> list[Member]:
    """The preview's kept pack read back, off the event loop (every member's CRC is checked)."""
    path = bot.jobs.datasets.pack_at(str(preview.config.get("dataset_path") or ""))
    return await asyncio.to_thread(lambda: pack_members(path.read_bytes()))


Previewer = Callable[..., Awaitable[None]]
_previewer: list[Previewer] = []


def set_previewer(previewer: Previewer) -> None:
    """`bot.ui.train` hands its `preview_config` over when it loads: it imports this module for
    the preview's captions, so this one cannot import it back."""
    _previewer[:] = [previewer]


async def repreview(
    interaction: discord.Interaction[Any], preview: Preview, members: list[Member], note: str
) -> None:
    """Judge and pack the changed members, discard the old preview, post the new one."""
    (preview_config,) = _previewer
    bot = services(interaction)
    config = {k: v for k, v in preview.config.items() if k != "dataset_path"}
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    local = await prepare_upload(
        members,
        LABEL,
        trigger_word=config.get("trigger_word"),
        field="dataset",
        url_option="dataset_url",
        resolution=(training or {}).get("resolution"),
        min_images=bot.settings.policy_min_images,
    )
    await bot.store.previews.discard(preview.key)
    await preview_config(
        interaction, {}, config, dry_run=False, source=None, local=local, note=note
    )
