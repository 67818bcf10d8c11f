"""Approval requests in the channel: who asks for what, the estimate and the dataset, with
Approve and Reject buttons only managers may use.

The buttons are DynamicItems whose custom_id carries only the request's key, so they keep working
after a restart; every click reads the request from the database and the clicker's roles as they
are at that moment. Approve submits for the original owner (the job service checks the budgets
again) and posts the job card; Reject and expiry tell the owner in the channel.

Reject opens a form asking the manager why (optional, at most REASON_MAX characters; none given
reads "no reason given"); the owner is told that reason in the channel and by DM. The form's
custom_id carries the request's key, so a form submitted after a restart (or after its view
timed out here) is still answered from the database (`reject_submitted`). Whether the submitter
is a manager and whether the request is still pending are checked again at submit: a request
another manager approved while this one was typing is refused as such and nothing changes.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.core.errors import SD35LError
from bot.core.log import get_logger
from bot.core.money.approvals import NO_REASON, REASON_MAX, request_text, require_manager
from bot.core.money.budget import APPROVAL_ABOVE, ApprovalRequiredError
from bot.core.money.cents import format_cents
from bot.core.money.estimate import format_estimate
from bot.core.store.approvals import ApprovalRequest
from bot.core.store.previews import Preview
from bot.core.store.rows import TrainingRow
from bot.tree import reply_error, send_ephemeral
from bot.ui.access import is_manager
from bot.ui.buttons import KeyedButton, view_of
from bot.ui.cancel import CardCancelButton
from bot.ui.card import card_embed
from bot.ui.format import FIELD_VALUE, GREEN, ORANGE, RED, clip, mention, relative
from bot.ui.services import ServicedBot, services
from bot.ui.train_preview import summary

log = get_logger(__name__)

REASON_FORM = "sd35l:reject-reason:"  # + the request's key: the form survives a restart
REASON_INPUT = "reason"
FORM_SECONDS = 15 * 60


def request_embed(request: ApprovalRequest, estimate: str, dataset: str) -> discord.Embed:
    embed = discord.Embed(
        title="Approval needed",
        colour=ORANGE,
        description=clip(
            f"{mention(request.owner_id)} wants to train {request.summary}.", FIELD_VALUE
        ),
    )
    training = request.config.get("training") or {}
    shape = ", ".join(
        f"{k} {training[k]}" for k in ("steps", "batch_size", "resolution") if k in training
    )
    embed.add_field(name="Config", value=clip(shape or "defaults", FIELD_VALUE), inline=False)
    embed.add_field(name="Estimate", value=clip(estimate, FIELD_VALUE), inline=False)
    embed.add_field(name="Dataset", value=clip(dataset, FIELD_VALUE), inline=False)
    embed.set_footer(
        text=f"Above {APPROVAL_ABOVE}: only a manager can approve or reject it. Budgets are "
        "checked again on Approve."
    )
    embed.add_field(name="Expires", value=relative(request.expires_at), inline=False)
    return embed


def decided_embed(request: ApprovalRequest, text: str, colour: int) -> discord.Embed:
    return discord.Embed(
        title="Training request", colour=colour, description=clip(text, FIELD_VALUE)
    ).add_field(name="Request", value=clip(request_text(request), FIELD_VALUE))


async def request_approval(
    interaction: discord.Interaction[Any], preview: Preview, needed: ApprovalRequiredError
) -> str:
    """Post the request in the preview's channel; returns a link to it."""
    bot = services(interaction)
    verdict = needed.verdict
    request = await bot.approvals.request(
        preview.owner_id,
        preview.guild_id,
        preview.channel_id,
        preview.config,
        verdict,
        summary(preview.config),
        preview.images,
    )
    estimate = f"{format_estimate(verdict.estimate)} ({verdict.estimate.basis})"
    channel_id = preview.channel_id or interaction.channel_id
    if channel_id is None:  # slash commands here are guild-only; a channel always exists
        raise SD35LError("This training needs a manager's approval; start it from a channel.")
    message = await bot.get_partial_messageable(channel_id).send(
        embed=request_embed(request, estimate, preview.dataset_summary or "not checked"),
        view=view_of(ApproveButton(request.key), RejectButton(request.key)),
    )
    await bot.approvals.requests.set_message(request.key, message.channel.id, message.id)
    return str(message.jump_url)


async def _tell_owner(bot: ServicedBot, request: ApprovalRequest, text: str) -> None:
    """A line in the request's channel that pings only the owner."""
    if request.channel_id is None:
        return
    try:
        await bot.get_partial_messageable(request.channel_id).send(
            f"{mention(request.owner_id)} {text}",
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(request.owner_id)]),
        )
    except discord.HTTPException as exc:
        log.warning("owner of approval %s not told (%s)", request.key, exc.code)


async def _dm_owner(bot: ServicedBot, request: ApprovalRequest, text: str) -> None:
    """The same words by DM, best effort: closed DMs leave the channel line as the notice."""
    try:
        dm = await bot.create_dm(discord.Object(id=request.owner_id))
        await dm.send(text, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as exc:
        log.info("owner of approval %s not told by DM (%s)", request.key, exc.code)


async def close_request(bot: ServicedBot, request: ApprovalRequest, text: str, colour: int) -> None:
    """Replace the request's buttons by what happened (the message may be gone: fine)."""
    if request.channel_id is None or request.message_id is None:
        return
    message = bot.get_partial_messageable(request.channel_id).get_partial_message(
        request.message_id
    )
    try:
        await message.edit(embed=decided_embed(request, text, colour), view=None)
    except discord.HTTPException as exc:
        log.warning("approval message %s not edited (%s)", request.key, exc.code)


async def expired(bot: ServicedBot, request: ApprovalRequest) -> None:
    """The day passed without a decision: say so on the request and to its owner."""
    text = "Nobody approved it within a day, so nothing was submitted; run /train again."
    await close_request(bot, request, f"⌛ Expired. {text}", RED)
    await _tell_owner(bot, request, f"your training request ({request.summary}) expired. {text}")


async def _post_card(bot: ServicedBot, row: TrainingRow) -> None:
    """The approved training's job card in the request's channel (a fresh card offers Cancel;
    the tracker redraws it from there on)."""
    if row.channel_id is None:
        return
    message = await bot.get_partial_messageable(row.channel_id).send(
        embed=card_embed(row), view=view_of(CardCancelButton(row.id))
    )
    await bot.store.cards.set(row.id, message.channel.id, message.id)


class ApproveButton(
    KeyedButton, action="approve", label="Approve", style=discord.ButtonStyle.success
):
    """A manager's yes: submits the training for its owner, once."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        bot = services(interaction)
        manager = is_manager(interaction.user, bot.settings.manager_roles)
        if manager:
            await interaction.response.defer(ephemeral=True, thinking=True)
        request, row = await bot.approvals.approve(self.key, interaction.user.id, manager)
        bot.tracker.refresh_soon(row.id)  # its own training only
        await _post_card(bot, row)
        text = f"✅ Approved by {mention(interaction.user.id)}: training `{row.id}` started."
        await close_request(bot, request, text, GREEN)
        await _tell_owner(bot, request, f"your training `{row.id}` was approved and started.")
        await send_ephemeral(interaction, f"Approved; training `{row.id}` started.")


class RejectButton(KeyedButton, action="reject", label="Reject", style=discord.ButtonStyle.danger):
    """A manager's no: asks why (a form), then nothing is submitted and the owner is told."""

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        bot = services(interaction)
        require_manager(is_manager(interaction.user, bot.settings.manager_roles))
        await bot.approvals.pending_request(self.key)  # decided or expired: say so, no form
        form = ReasonForm(self.key, bot.reason_forms, interaction.user.id)
        await interaction.response.send_modal(form)


class ReasonForm(discord.ui.Modal, title="Reject the training request"):
    """The rejecting manager's reason; the request is decided only when it is submitted."""

    def __init__(self, key: str, held: set[str], user_id: int) -> None:
        super().__init__(timeout=FORM_SECONDS, custom_id=REASON_FORM + key)
        self.key, self.held, self.mark = key, held, f"{user_id}:{self.custom_id}"
        held.add(self.mark)
        self.reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id=REASON_INPUT,
            label="Reason for the owner (optional)",  # Discord: a label is at most 45 chars
            style=discord.TextStyle.paragraph,
            placeholder=f"Up to {REASON_MAX} characters, e.g. over this month's plan; 1500 "
            "steps should do",
            required=False,
            max_length=REASON_MAX,
        )
        self.add_item(self.reason)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await reject_submitted(interaction, self.key, self.reason.value)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: Any = None
    ) -> None:
        await reply_error(interaction, error)

    def stop(self) -> None:
        self.held.discard(self.mark)
        super().stop()

    async def on_timeout(self) -> None:
        self.held.discard(self.mark)


def form_reason(data: Any) -> str:
    """The reason typed into a submitted form, from the raw interaction data."""
    for row in (data or {}).get("components") or []:
        inner = row.get("components") or [row.get("component") or {}]
        for comp in inner:
            if comp.get("custom_id") == REASON_INPUT:
                return str(comp.get("value") or "")
    return ""


def held_form(bot: ServicedBot, user_id: int, custom_id: str) -> bool:
    """True when this bot holds this user's form (its own on_submit answers it)."""
    return f"{user_id}:{custom_id}" in bot.reason_forms


async def reject_submitted(interaction: discord.Interaction[Any], key: str, reason: str) -> None:
    """Reject with the reason, once: close the request, tell the owner, answer the manager."""
    bot = services(interaction)
    manager = is_manager(interaction.user, bot.settings.manager_roles)
    request = await bot.approvals.reject(key, interaction.user.id, manager, reason)
    who = mention(interaction.user.id)
    because = request.reason or NO_REASON
    why = (
        f"{who} rejected it: {because.rstrip('.')}. It may cost up to "
        f"{format_cents(request.estimate_high_cents)} (above {APPROVAL_ABOVE}); nothing was "
        "submitted"
    )
    await close_request(bot, request, f"❌ Rejected. {why}.", RED)
    text = f"your training request ({request.summary}) was rejected. {why}."
    await _tell_owner(bot, request, text)
    await _dm_owner(bot, request, f"Your training request ({request.summary}) was rejected. {why}.")
    await send_ephemeral(interaction, "Rejected; the owner was told why.")
