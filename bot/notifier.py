"""The Discord half of the tracker: post and redraw job cards, deliver notices, exactly once.

Cards are edited with the bot token through a partial message (an interaction token dies after
15 minutes; trainings run for an hour). A notice is a DM to the owner; when their DMs are closed
(Discord 50007) it goes to the card's channel mentioning only the owner. `deliver_notice`
returns True only when Discord accepted a message, so the outbox retries everything else.

Exactly once across crashes: the process may die after Discord stored a message and before the
database says so. Every card and notice is therefore sent with a `nonce` derived from what it is
(discord.py then sets `enforce_nonce`, and Discord returns the earlier message instead of making
a second, for a few minutes). A retry of a send attempted longer ago than `NONCE_TRUST` first
reads the channel's recent messages for the one it may already have sent (its `ref` footer, or
the card's title) and, if found, counts it as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import discord

from bot.core.jobs.crash import crash_point
from bot.core.jobs.pace import Pace
from bot.core.jobs.pending import AMBIGUOUS, NOT_SUBMITTED, NOTICE_LATE
from bot.core.jobs.tracker import CardResult, Tracker
from bot.core.log import get_logger
from bot.core.money.cents import format_cents
from bot.core.settings import Settings
from bot.core.store.db import Store
from bot.core.store.rows import Notice, PendingSubmission, TrainingRow, utcnow
from bot.ui.buttons import view_of
from bot.ui.card import card_embed, log_file, notice_embed
from bot.ui.charts import loss_curve_png
from bot.ui.format import mention
from bot.ui.starts import late_start_embed, start_outcome_embed
from bot.ui.train import DiscardButton, StartButton, card_message

log = get_logger(__name__)

CANNOT_DM = 50007
# /train posts a card right after the submit; only a card still missing after this is ours to post.
CARD_GRACE = timedelta(seconds=60)
# How long Discord's nonce check is trusted to catch a repeat; older attempts look first.
NONCE_TRUST = timedelta(seconds=60)
HISTORY_SCAN = 50  # recent messages read when looking for an earlier send
RESTART_PREVIEW_TTL = timedelta(hours=24)


def nonce(*parts: object) -> str:
    """A stable id (24 chars; Discord allows 25) for one message the bot owes."""
    text = ":".join(str(p) for p in parts)
    return "s" + hashlib.sha256(text.encode()).hexdigest()[:23]


def _looked_long_ago(attempted: datetime | None) -> bool:
    return attempted is not None and utcnow() - attempted >= NONCE_TRUST


class KeyedLocks:
    """One asyncio lock per key, forgotten once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class DiscordNotifier:
    """Implements `bot.core.jobs.tracker.Notifier` for a connected `discord.Client`."""

    def __init__(self, client: discord.Client, store: Store, settings: Settings) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.tracker: Tracker | None = None  # handed over once built (it needs this notifier)
        self._curves: dict[str, bytes | None] = {}  # loss curve PNGs drawn recently, by training
        self.card_posts = KeyedLocks()  # one card post at a time per training

    async def loss_curve(self, row: TrainingRow) -> tuple[str, bytes] | None:
        """(filename, PNG) of a succeeded training's loss curve, when its log showed a loss."""
        if row.status != "succeeded":
            return None
        if row.id not in self._curves:
            points = await self.store.ledger.loss_points(row.id)
            png = None
            if points:
                steps = row.total or points[-1][0]
                cost = "" if row.cost_cents is None else f" · cost {format_cents(row.cost_cents)}"
                title = f"Training {row.id}: loss over {steps} steps{cost}"
                png = await asyncio.to_thread(loss_curve_png, points, title=title)
            while len(self._curves) >= 16:
                self._curves.pop(next(iter(self._curves)))
            self._curves[row.id] = png
        png = self._curves[row.id]
        return (f"loss-curve-{row.id}.png", png) if png else None

    # -- looking for what an earlier attempt may have sent -----------------------------------

    async def _find(
        self, channel: discord.abc.Messageable, ref: str | None = None, title: str | None = None
    ) -> discord.Message | None:
        """A recent message of this bot carrying `ref` in a footer, or titled `title`."""
        me = self.client.user
        try:
            async for message in channel.history(limit=HISTORY_SCAN):
                if me is None or message.author.id != me.id:
                    continue
                for embed in message.embeds:
                    if ref is not None and ref in (embed.footer.text or ""):
                        return message
                    if title is not None and embed.title == title:
                        return message
        except discord.HTTPException as exc:
            log.warning("recent messages not readable (HTTP %s %s)", exc.status, exc.code)
        return None

    # -- cards -------------------------------------------------------------------------------

    async def post_card(
        self, row: TrainingRow, channel_id: int
    ) -> discord.Message | discord.PartialMessage:
        """Post a training's card once: an earlier post (before a crash) is found, not doubled.
        The Start that created a training and the tracker finding it without a card may get
        here at the same moment; they take turns, and the second gets the first one's card
        from the store. Raises discord.HTTPException when Discord refuses."""
        async with self.card_posts.hold(row.id):
            fresh = await self.store.trainings.get(row.id)
            if fresh is not None and fresh.card_message_id is not None and fresh.channel_id:
                shown = self.client.get_partial_messageable(fresh.channel_id)
                return shown.get_partial_message(fresh.card_message_id)
            row = fresh or row
            channel = self.client.get_partial_messageable(channel_id)
            earlier = None
            if row.card_attempted_at is not None:
                earlier = await self._find(channel, title=card_embed(row).title)
            await self.store.cards.mark_attempt(row.id)
            if earlier is not None:
                message = await earlier.edit(
                    **card_message(row, self.pace())
                )  # show what is true now
            else:
                message = await channel.send(
                    **card_message(row, self.pace()), nonce=nonce("card", row.id)
                )
            crash_point("card-posted")
            await self.store.cards.set(row.id, channel_id, message.id)
            return message

    def pace(self) -> Pace | None:
        """How often the tracker reads each training now (the cards say it)."""
        return self.tracker.pace() if self.tracker is not None else None

    async def update_card(self, row: TrainingRow) -> CardResult:
        if row.channel_id is None or row.card_gone:
            return CardResult.GONE
        channel = self.client.get_partial_messageable(row.channel_id)
        if row.card_message_id is None:
            return await self._post_missing_card(row)
        message = channel.get_partial_message(row.card_message_id)
        kwargs = card_message(row, self.pace())
        curve = await self.loss_curve(row)
        if curve is not None:  # the card shows the loss curve once the training succeeded
            kwargs["embed"].set_image(url=f"attachment://{curve[0]}")
            kwargs["attachments"] = [discord.File(io.BytesIO(curve[1]), filename=curve[0])]
        try:
            await message.edit(**kwargs)
        except discord.NotFound:
            return CardResult.GONE
        except discord.HTTPException as exc:
            log.warning("card of %s not edited (HTTP %s %s)", row.id, exc.status, exc.code)
            return CardResult.RETRY
        return CardResult.OK

    async def _post_missing_card(self, row: TrainingRow) -> CardResult:
        """A training with no card: either /train is posting it right now (wait), or it was
        adopted after a create whose answer was lost, and the channel deserves its card."""
        if utcnow() - row.created_at < CARD_GRACE:
            return CardResult.RETRY
        assert row.channel_id is not None
        try:
            await self.post_card(row, row.channel_id)
        except (discord.Forbidden, discord.NotFound):
            return CardResult.GONE
        except discord.HTTPException as exc:
            log.warning("card of %s not posted (HTTP %s %s)", row.id, exc.status, exc.code)
            return CardResult.RETRY
        log.info("posted the missing card of training %s", row.id)
        return CardResult.OK

    # -- notices -----------------------------------------------------------------------------

    async def deliver_notice(self, row: TrainingRow, notice: Notice) -> bool:
        ref = nonce("notice", notice.id, notice.training_id, notice.kind)
        if notice.kind == NOTICE_LATE:
            return await self._correct_start(row, notice, ref)
        embed = notice_embed(row, notice.payload)
        embed.set_footer(text=f"ref {ref}")
        curve = await self.loss_curve(row)
        if curve is not None:
            embed.set_image(url=f"attachment://{curve[0]}")
        text = (
            f"{mention(row.owner_id)} your training ended (your DMs are closed, so the result "
            "is here)."
        )
        return await self._tell_owner(
            row.owner_id,
            row.channel_id,
            ref,
            notice.attempted_at,
            text,
            embed,
            lambda: _files(row, notice.payload, curve),  # a File can be sent only once
            row,
        )

    async def _correct_start(self, row: TrainingRow, notice: Notice, ref: str) -> bool:
        """An interrupted Start's training turned up after all: tell its owner, once."""
        embed = late_start_embed(row, notice.payload)
        embed.set_footer(text=f"ref {ref}")
        text = f"{mention(row.owner_id)} about your training start (your DMs are closed):"
        return await self._tell_owner(
            row.owner_id, row.channel_id, ref, notice.attempted_at, text, embed, dict, row
        )

    async def _tell_owner(
        self,
        owner_id: int,
        channel_id: int | None,
        ref: str,
        attempted: datetime | None,
        channel_text: str,
        embed: discord.Embed,
        extra: Callable[[], dict[str, Any]],
        row: TrainingRow | None = None,
    ) -> bool:
        """DM the owner, else mention them in the channel; never twice (see module docstring)."""
        channel = self.client.get_partial_messageable(channel_id) if channel_id else None
        look = _looked_long_ago(attempted)
        try:
            dm = await self.client.create_dm(discord.Object(id=owner_id))
            if look and await self._sent_before([dm, channel], ref):
                return True
            await dm.send(embed=embed, nonce=f"{ref}d", **extra())
            return True
        except discord.Forbidden as exc:
            if exc.code != CANNOT_DM:
                log.warning("message %s not sent as DM (%s)", ref, exc.code)
        except discord.HTTPException as exc:
            log.warning("message %s not sent (HTTP %s %s)", ref, exc.status, exc.code)
            return False
        if channel is None:
            log.warning("owner %s has DMs closed and there is no channel for %s", owner_id, ref)
            return False
        if look and await self._sent_before([channel], ref):
            return True
        return await self._in_channel(channel, owner_id, ref, channel_text, embed, extra, row)

    async def _sent_before(self, places: list[discord.abc.Messageable | None], ref: str) -> bool:
        for place in places:
            if place is not None and await self._find(place, ref=ref) is not None:
                log.info("message %s was already delivered before a restart", ref)
                return True
        return False

    async def _in_channel(
        self,
        channel: discord.PartialMessageable,
        owner_id: int,
        ref: str,
        text: str,
        embed: discord.Embed,
        extra: Callable[[], dict[str, Any]],
        row: TrainingRow | None,
    ) -> bool:
        """DMs closed: tell the owner in the channel, pinging only them."""
        reference = None
        if row is not None and row.card_message_id is not None and not row.card_gone:
            reference = channel.get_partial_message(row.card_message_id).to_reference(
                fail_if_not_exists=False
            )
        try:
            await channel.send(
                text,
                embed=embed,
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(id=owner_id)]),
                reference=reference,  # type: ignore[arg-type]
                nonce=ref,
                **extra(),
            )
        except discord.HTTPException as exc:
            log.warning("message %s not posted in the channel (%s)", ref, exc.code)
            return False
        return True

    # -- interrupted starts ------------------------------------------------------------------

    async def tell_submission(self, pending: PendingSubmission) -> bool:
        ref = nonce("start", pending.id, pending.marker, pending.outcome)
        embed = start_outcome_embed(pending)
        embed.set_footer(text=f"ref {ref}")
        extra: dict[str, Any] = {}
        if pending.outcome == NOT_SUBMITTED:
            extra["view"] = await self._start_again_view(pending)
        text = f"{mention(pending.owner_id)} about your training start (your DMs are closed):"
        told = await self._tell_owner(
            pending.owner_id,
            pending.channel_id,
            ref,
            pending.tell_attempted_at,
            text,
            embed,
            lambda: extra,
        )
        if told and pending.outcome == AMBIGUOUS:
            await self._tell_managers(pending, ref, embed)
        return told

    async def _start_again_view(self, pending: PendingSubmission) -> discord.ui.View:
        """A fresh preview of the same settings for the same member, with Start and Cancel."""
        preview = await self.store.previews.save(
            pending.owner_id,
            pending.guild_id,
            pending.channel_id,
            pending.config,
            ttl=RESTART_PREVIEW_TTL,
        )
        return view_of(StartButton(preview.key), DiscardButton(preview.key))

    async def _tell_managers(
        self, pending: PendingSubmission, ref: str, embed: discord.Embed
    ) -> None:
        """Ambiguous matches are for a manager to sort out: say so where the Start happened."""
        if pending.channel_id is None:
            return
        channel = self.client.get_partial_messageable(pending.channel_id)
        roles = _manager_role_ids(self.client, self.settings.manager_roles, pending.guild_id)
        pings = " ".join(f"<@&{r}>" for r in roles) or "Managers"
        if await self._find(channel, ref=ref + "m") is not None:
            return
        copy = embed.copy()
        copy.set_footer(text=f"ref {ref}m")
        try:
            await channel.send(
                f"{pings}: a training start of {mention(pending.owner_id)} could not be "
                "matched safely; please check the trainings below.",
                embed=copy,
                allowed_mentions=discord.AllowedMentions(
                    users=[discord.Object(id=pending.owner_id)],
                    roles=[discord.Object(id=r) for r in roles],
                ),
                nonce=f"{ref}m",
            )
        except discord.HTTPException as exc:
            log.warning("managers not told about %s (%s)", ref, exc.code)


def _manager_role_ids(
    client: discord.Client, manager_roles: list[str], guild_id: int | None
) -> list[int]:
    """SD35L_MANAGER_ROLES as role ids in that guild (names looked up in its roles)."""
    specs = {s.strip().lower() for s in manager_roles}
    guild = client.get_guild(guild_id) if guild_id else None
    if guild is None:
        return [int(s) for s in specs if s.isascii() and s.isdigit()]
    return [r.id for r in guild.roles if str(r.id) in specs or r.name.lower() in specs]


def _files(
    row: TrainingRow, payload: dict[str, Any], curve: tuple[str, bytes] | None
) -> dict[str, Any]:
    """The notice's attachments: the end of the log (failures), the loss curve (success)."""
    files = [f for f in (log_file(row, payload),) if f is not None]
    if curve is not None:
        files.append(discord.File(io.BytesIO(curve[1]), filename=curve[0]))
    return {"files": files} if files else {}
