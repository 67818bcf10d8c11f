"""Captions in the preview of one's own images: the price on the Write captions button, the
captions listed page by page, and the buttons that change them (`caption_pack` says how).
"""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import dataclass
from typing import Any

import discord

from bot.core.captions.clean import forbidden_words
from bot.core.captions.cost import format_price
from bot.core.captions.run import (
    CaptionOptions,
    needs_caption,
    plan,
    run,
    with_captions,
)
from bot.core.dataset.collect import Member
from bot.core.dataset.local import LocalDataset
from bot.core.errors import InputError, SD35LError
from bot.core.log import get_logger
from bot.core.money.cents import format_cents
from bot.ui.access import acting_member, require_start
from bot.ui.buttons import KeyedButton, view_of
from bot.ui.caption_forms import EditCaptionsButton, UploadCaptionsButton
from bot.ui.caption_pack import (
    PAGE,
    caption_entries,
    captions_embed,
    owned_preview,
    pack_members,
    read_pack,
    repreview,
    split_key,
)
from bot.ui.services import ServicedBot, services
from bot.ui.waiting import turn_in_line

log = get_logger(__name__)


@dataclass(frozen=True)
class CaptionOffer:
    """What Write captions would do: how many images, for how many cents, at what price."""

    images: int
    cents: int
    text: str


async def caption_offer(bot: ServicedBot, members: list[Member]) -> CaptionOffer | None:
    """The price of captioning the images that have none; None when all have one or no price
    can be had (no token, an unusable model setting: the preview says so in a note)."""
    if not bot.settings.token:
        return None
    pictures = await asyncio.to_thread(needs_caption, members)
    if not pictures:
        return None
    from bot.core.captions.charges import caption_samples

    ledger = bot.budget.ledger
    planned = await plan(bot.gateway, bot.settings, pictures, samples=None)
    samples = await caption_samples(ledger, planned.captioner.model)
    if samples:
        planned = await plan(bot.gateway, bot.settings, pictures, samples=samples)
    text = (
        f"{len(planned.todo)} image(s) without a caption: Write captions costs "
        f"{format_cents(planned.cost_cents)} ({format_price(planned.price.per_image)} each, "
        f"{planned.price.basis}; {len(planned.cached)} already paid for) with "
        f"{planned.captioner.model}."
    )
    return CaptionOffer(len(pictures), planned.cost_cents, text)


@dataclass
class PreviewCaptions:
    """The captions part of a preview of own images: their first page and the buttons."""

    embed: discord.Embed | None = None
    offer: CaptionOffer | None = None
    pages: int = 0

    def buttons(self, preview_key: str) -> list[Any]:
        """Write captions (with its price), Edit captions, Upload captions, More captions."""
        if self.embed is None:
            return []
        items: list[Any] = []
        if self.offer is not None:
            items.append(WriteCaptionsButton(f"{self.offer.cents}c{preview_key}"))
        items.append(EditCaptionsButton(f"0c{preview_key}"))
        items.append(UploadCaptionsButton(f"0c{preview_key}"))
        if self.pages > 1:
            items.append(CaptionPageButton(f"1c{preview_key}"))
        return items


async def preview_captions(
    bot: ServicedBot, local: LocalDataset | None, checks: Any, trigger_word: str | None
) -> PreviewCaptions:
    """For a preview of own images: the captions' first page, the price of the missing ones
    (a note on the checks), or why they cannot be priced."""
    if local is None or local.packed is None:
        return PreviewCaptions()
    data = local.packed.data

    def read() -> tuple[list[Member], list[tuple[str, str | None]]]:
        members = pack_members(data)
        return members, caption_entries(members)

    members, entries = await asyncio.to_thread(read)  # thousands of images: off the loop
    found = PreviewCaptions(
        embed=captions_embed(entries, 0, trigger_word), pages=max(1, -(-len(entries) // PAGE))
    )
    try:
        found.offer = await caption_offer(bot, members)
    except SD35LError as exc:
        checks.notes.append(f"Captions cannot be written by the model here: {exc}")
    if found.offer is not None:
        checks.notes.append(found.offer.text)
    return found


class WriteCaptionsButton(
    KeyedButton, action="caption", label="Write captions", style=discord.ButtonStyle.primary
):
    """Caption the uncaptioned images for the price on the button, then a new preview."""

    def __init__(self, key: str) -> None:
        cents = split_key(key)[0] if key.partition("c")[0].isdigit() else 0
        self.label = f"Write captions ({format_cents(cents)})"  # type: ignore[misc]
        super().__init__(key)

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        from bot.core.captions.charges import caption_samples, check_budget, record_charge

        shown, preview_key = split_key(self.key)
        preview = await owned_preview(interaction, preview_key)
        bot = services(interaction)
        member = await acting_member(bot, interaction.user, preview.guild_id)
        require_start(member, bot.settings.allowed_roles)  # it spends money, like Start
        await interaction.response.defer(ephemeral=True, thinking=True)
        members = await read_pack(bot, preview)
        pictures = needs_caption(members)
        if not pictures:
            raise InputError("Every image of this preview already has a caption.")
        planned = await plan(bot.gateway, bot.settings, pictures)
        samples = await caption_samples(bot.budget.ledger, planned.captioner.model)
        if samples:
            planned = await plan(bot.gateway, bot.settings, pictures, samples=samples)
        if planned.cost_cents > shown:
            raise InputError(
                f"The captions now cost {format_cents(planned.cost_cents)}, not the "
                f"{format_cents(shown)} on the button; run /train again to see the new price."
            )
        await check_budget(bot.budget, preview.owner_id, planned.cost_cents)
        options = CaptionOptions(forbidden=tuple(forbidden_words(bot.settings.caption_forbidden)))
        async with turn_in_line(interaction, bot.checks, "captioning run"):
            result = await run(bot.gateway, bot.settings, planned, options)
        await record_charge(
            bot.budget.ledger, preview.owner_id, preview.guild_id, planned.captioner.model, result
        )
        note = (
            f"Captions written for {len(result.captions)} image(s) "
            f"({format_cents(result.charged_cents)} charged)."
        )
        if result.failed:
            failed = ", ".join(posixpath.basename(n) for n in sorted(result.failed))
            note += f" Not captioned (the model failed; they keep none): {failed}."
        await repreview(interaction, preview, with_captions(members, result.captions), note)


async def _page_message(interaction: discord.Interaction[Any], key: str) -> dict[str, Any]:
    page, preview_key = split_key(key)
    preview = await owned_preview(interaction, preview_key)
    entries = caption_entries(await read_pack(services(interaction), preview))
    pages = max(1, -(-len(entries) // PAGE))
    page = min(max(page, 0), pages - 1)
    trigger = preview.config.get("trigger_word")
    buttons: list[Any] = []
    if page > 0:
        buttons.append(CaptionPrevButton(f"{page - 1}c{preview_key}"))
    if page < pages - 1:
        buttons.append(CaptionNextButton(f"{page + 1}c{preview_key}"))
    buttons.append(EditCaptionsButton(f"{page}c{preview_key}"))
    return {"embed": captions_embed(entries, page, trigger), "view": view_of(*buttons)}


class CaptionPageButton(
    KeyedButton, action="capage", label="More captions", style=discord.ButtonStyle.secondary
):
    """From the preview: the captions page by page, in a message of their own."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        shown = await _page_message(interaction, self.key)
        await interaction.response.send_message(ephemeral=True, **shown)


class CaptionPrevButton(
    KeyedButton, action="capprev", label="◀ Previous", style=discord.ButtonStyle.secondary
):
    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.edit_message(**await _page_message(interaction, self.key))


class CaptionNextButton(
    KeyedButton, action="capnext", label="Next ▶", style=discord.ButtonStyle.secondary
):
    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.edit_message(**await _page_message(interaction, self.key))


CAPTION_BUTTONS: tuple[type[KeyedButton], ...] = (
    WriteCaptionsButton,
    EditCaptionsButton,
    UploadCaptionsButton,
    CaptionPageButton,
    CaptionPrevButton,
    CaptionNextButton,
)
