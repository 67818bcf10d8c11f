"""Starting a training from Discord: the preview with its Start and Cancel buttons, the public
job card, and the card's Train again, which leads back to a preview.

These live together because they lead into each other (Start posts a card, a card's Train again
opens a preview with Start), and below both the cogs and the notifier, which only call in.

The preview is only for the invoker and saved in the database, so its Start button works after
a restart; Start re-reads the owner from there (custom_ids are visible to clients), claims the
preview once (a double click submits once), submits, and posts the public job card.

Train again, after a failed, canceled or aborted training, gives whoever clicks (if they may
start trainings) the preview of that training's stored config. The stored config was scrubbed
of secrets before it was saved and is checked again exactly like a config file given to /train:
a value that no longer passes today's rules gets the usual one-sentence answer naming the field.
"""

from __future__ import annotations

import contextlib
from typing import Any

import discord

from bot.core.config.model import resolve_config
from bot.core.dataset.local import LocalDataset
from bot.core.errors import InputError, SD35LError
from bot.core.jobs.pace import Pace
from bot.core.jobs.preflight import image_count, preflight
from bot.core.log import get_logger
from bot.core.money.budget import ApprovalRequiredError, money_lines
from bot.core.replicate.gateway import OutcomeUnknownError
from bot.core.store.rows import TrainingRow, config_dict
from bot.tree import send_ephemeral
from bot.ui.access import acting_member, require_start
from bot.ui.approvals import request_approval
from bot.ui.buttons import KeyedButton, view_of
from bot.ui.cancel import CardCancelButton
from bot.ui.caption_pack import set_previewer
from bot.ui.captions import preview_captions
from bot.ui.card import card_embed
from bot.ui.images import SHEET_NAME, sheet_file
from bot.ui.services import ServicedBot, services
from bot.ui.train_preview import PreviewChecks, dataset_summary, preview_checks, preview_embeds
from bot.ui.waiting import turn_in_line

log = get_logger(__name__)

EXPIRED = "This preview expired or was already used; run /train again."
AGAIN_STATUSES = frozenset({"failed", "canceled", "aborted"})


# -- the preview ---------------------------------------------------------------------------------


async def add_money(bot: ServicedBot, checks: PreviewChecks, owner_id: int, config: Any) -> None:
    """The estimate learnt from the team's runs, and what budgets and approval will do."""
    verdict = await bot.budget.verdict(owner_id, config, images=image_count(checks.dataset))
    lines = money_lines(verdict, bot.budget.approval_cents)
    checks.estimate = lines.estimate
    checks.problems += lines.problems
    checks.notes += lines.notes


async def preview_config(
    interaction: discord.Interaction[Any],
    options: dict[str, Any],
    file_data: dict[str, Any] | None,
    *,
    dry_run: bool,
    source: str | None,
    local: LocalDataset | None = None,
    note: str | None = None,
) -> None:
    """Resolve, check and answer with the preview (and its Start button when all is well).

    `options` are the slash command's options (they win over `file_data`). Shared by /train,
    the message menu, a card's Train again and the caption actions (`note` says what they
    did); the caller deferred and checked the right to start. Own images also get their
    captions listed and the caption buttons (`bot.ui.captions`).
    """
    bot = services(interaction)
    options = local_dataset_option(bot, options, file_data, local)
    resolved = resolve_config(
        cli=options, file=file_data, settings=bot.settings, file_source=source or "config file"
    )
    # A URL's check reads and decodes a sample: it waits its turn (an attached dataset was
    # judged already, so its preview needs no turn).
    turn = turn_in_line(interaction, bot.checks) if local is None else contextlib.nullcontext()
    async with turn:
        found = await preflight(
            resolved.config, bot.settings, bot.gateway, dry_run=dry_run, local=local
        )
    checks = preview_checks(found, destination=str(resolved.config.destination))
    await add_money(bot, checks, interaction.user.id, resolved)
    if note:
        checks.notes.insert(0, note)
    captions = await preview_captions(bot, local, checks, resolved.config.trigger_word)
    sheet = sheet_file(local.sheet if local else None, interaction.filesize_limit)
    checks.dataset_label = local.label if local else None
    checks.sheet = SHEET_NAME if sheet is not None else None
    embeds = preview_embeds(resolved, checks, dry_run=dry_run, source=source, extra=captions.embed)
    files: dict[str, Any] = {"file": sheet} if sheet is not None else {}
    if checks.ok and not dry_run:
        stored = config_dict(resolved)
        if local is not None and local.packed is not None:  # kept for Start, even after a restart
            stored["dataset_path"] = str(bot.jobs.datasets.keep(local.packed))
        preview = await bot.store.previews.save(
            interaction.user.id,
            interaction.guild_id,
            interaction.channel_id,
            stored,
            dataset_summary(checks.dataset),
            image_count(checks.dataset),
        )
        view = view_of(
            StartButton(preview.key), DiscardButton(preview.key), *captions.buttons(preview.key)
        )
        await interaction.followup.send(embeds=embeds, view=view, ephemeral=True, **files)
    else:
        await interaction.followup.send(embeds=embeds, ephemeral=True, **files)


set_previewer(preview_config)


def attached_resolution(
    bot: ServicedBot, options: dict[str, Any], file_data: dict[str, Any] | None, label: str
) -> str | None:
    """The resolutions the training will use, so an attached dataset is judged by the buckets it
    will really get; `None` when the config does not resolve yet (the preview then names why)."""
    try:
        resolved = resolve_config(
            cli={**options, "dataset_path": label}, file=file_data, settings=bot.settings
        )
    except SD35LError:
        return None
    return str(resolved.config.training.resolution)


def local_dataset_option(
    bot: ServicedBot,
    options: dict[str, Any],
    file_data: dict[str, Any] | None,
    local: LocalDataset | None,
) -> dict[str, Any]:
    """An attached dataset stands in as `dataset_path` (its name) for the checks; a config file
    never names a path on the bot's machine."""
    named = {k for k in ("dataset_url", "dataset_path") if (file_data or {}).get(k)}
    if "dataset_path" in named:
        raise InputError(
            "dataset_path is a command-line setting (a folder on your computer) the bot cannot "
            "read; attach the .zip as /train's dataset option, or post the images and use Apps → "
            "Train on these images (also to retrain a training whose images were uploaded).",
            field="dataset_path",
        )
    if local is None:
        return options
    if named or options.get("dataset_url"):
        raise InputError(
            "dataset: give either an attached dataset or dataset_url (option or config file), "
            "not both.",
            field="dataset",
        )
    return {**options, "dataset_path": local.label}  # the kept pack replaces it when saved


class StartButton(
    KeyedButton, action="start", label="Start training", style=discord.ButtonStyle.success
):
    """Submits a saved preview; works after a restart (the preview is in the database)."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        bot = services(interaction)
        preview = await bot.store.previews.get(self.key)
        if preview is None or preview.used or preview.expired():
            await send_ephemeral(interaction, EXPIRED)
            return
        if interaction.user.id != preview.owner_id:
            await send_ephemeral(
                interaction, "Only the person who ran /train can start this preview."
            )
            return
        member = await acting_member(bot, interaction.user, preview.guild_id)
        require_start(member, bot.settings.allowed_roles)
        await interaction.response.defer()
        resolved = resolve_config(file=preview.config, settings=bot.settings)
        # Claimed together with a record of this Start: whatever happens next, it is settled.
        pending_id = await bot.jobs.claim_start(preview, resolved)
        if pending_id is None:
            await send_ephemeral(interaction, EXPIRED)
            return
        try:
            row = await bot.jobs.submit(
                preview.owner_id,
                preview.guild_id,
                preview.channel_id,
                resolved,
                self.key,
                pending_id=pending_id,
                images=preview.images,
            )
        except OutcomeUnknownError:
            # The training may exist: never offer the same preview twice.
            await interaction.edit_original_response(view=None)
            raise
        except ApprovalRequiredError as needed:
            link = await request_approval(interaction, preview, needed)
            await interaction.edit_original_response(
                content=f"⏳ {needed} Asked the managers here: {link}", view=None
            )
            return
        except SD35LError:
            await bot.store.previews.release(self.key)
            raise
        bot.tracker.refresh_soon(row.id)  # its own training only, not a round of all of them
        link = await post_card(interaction, row)
        await interaction.edit_original_response(
            content=f"✅ Started training `{row.id}`; follow it on the card: {link}", view=None
        )


class DiscardButton(
    KeyedButton, action="discard", label="Cancel", style=discord.ButtonStyle.secondary
):
    """The preview's Cancel: forget it, submit nothing."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        bot = services(interaction)
        preview = await bot.store.previews.get(self.key)
        if preview is not None and interaction.user.id != preview.owner_id:
            await send_ephemeral(interaction, "Only the person who ran /train can do that.")
            return
        await bot.store.previews.discard(self.key)
        await interaction.response.edit_message(
            content="Preview discarded; nothing was submitted.", embeds=[], view=None
        )


# -- the job card --------------------------------------------------------------------------------


def card_view(row: TrainingRow) -> discord.ui.View | None:
    """The card's Cancel button while the training runs; Train again once it ended without
    success (failed, canceled, aborted); none after a success."""
    if row.status == "succeeded":
        return None
    if row.is_terminal:
        return view_of(AgainButton(row.id))
    return view_of(CardCancelButton(row.id))


def card_message(row: TrainingRow, pace: Pace | None = None) -> dict[str, Any]:
    """Keyword arguments for sending or editing a card; `pace` is how often it refreshes."""
    view = card_view(row)
    embed = card_embed(row, pace)
    return {"embed": embed, "view": view if view is not None else discord.ui.View()}


async def post_card(interaction: discord.Interaction[Any], row: TrainingRow) -> str:
    """The public card in the preview's channel (also when Start was pressed in a DM), sent
    with the bot token so it can be edited for hours, and never twice (see the notifier)."""
    bot = services(interaction)
    channel_id = row.channel_id or interaction.channel_id
    message: discord.Message | discord.PartialMessage | discord.WebhookMessage
    try:
        assert channel_id is not None
        message = await bot.notifier.post_card(row, channel_id)
    except (discord.HTTPException, AssertionError) as exc:
        log.warning("card of %s not posted with the bot token (%s); using a followup", row.id, exc)
        message = await interaction.followup.send(**card_message(row), wait=True)
        await bot.store.cards.set(row.id, message.channel.id, message.id)
    return message.jump_url


# -- Train again ---------------------------------------------------------------------------------


async def ended_row(interaction: discord.Interaction[Any], training_id: str) -> TrainingRow:
    """The training whose stored config Train again reuses, if it ended without success."""
    row = await services(interaction).store.trainings.get(training_id)
    if row is None:
        raise InputError(
            f"Training {training_id} is no longer tracked by this bot; start a new one with "
            "/train.",
            field="training",
        )
    if row.status not in AGAIN_STATUSES:
        raise InputError(
            f"Training {row.id} is {row.status}; Train again is only offered once a training "
            "failed, was canceled or was aborted.",
            field="training",
        )
    if not row.config:
        raise InputError(
            f"Training {row.id} has no stored config to reuse; start a new one with /train.",
            field="training",
        )
    return row


async def train_again(interaction: discord.Interaction[Any], training_id: str) -> None:
    """Defer first (the checks download the dataset), then the same preview as /train."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = services(interaction)
    row = await ended_row(interaction, training_id)
    member = await acting_member(bot, interaction.user, row.guild_id)
    require_start(member, bot.settings.allowed_roles)
    await preview_config(
        interaction,
        {},
        dict(row.config),
        dry_run=False,
        source=f"the stored config of training {row.id}",
    )


class AgainButton(
    KeyedButton, action="again", label="Train again", style=discord.ButtonStyle.primary
):
    """The card's Train again; works after a restart (the config is in the database)."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        await train_again(interaction, self.key)
