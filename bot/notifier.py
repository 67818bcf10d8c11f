"""The Discord half of the tracker: redraw job cards, deliver 'ended' notices.

Cards are edited with the bot token through a partial message (an interaction token dies after
15 minutes; trainings run for an hour). A notice is a DM to the owner; when their DMs are closed
(Discord 50007) it goes to the card's channel mentioning only the owner. `deliver_notice`
returns True only when Discord accepted a message, so the outbox retries everything else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord

from bot.core.jobs.tracker import CardResult
from bot.core.log import get_logger
from bot.core.store.rows import Notice, TrainingRow, utcnow
from bot.ui.card import log_file, notice_embed
from bot.ui.format import mention
from bot.ui.training import card_message

log = get_logger(__name__)

CANNOT_DM = 50007
# /train posts a card right after the submit; only a card still missing after this is ours to post.
CARD_GRACE = timedelta(seconds=60)


class DiscordNotifier:
    """Implements `bot.core.tracker.Notifier` for a connected `discord.Client`."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def update_card(self, row: TrainingRow) -> CardResult:
        if row.channel_id is None or row.card_gone:
            return CardResult.GONE
        channel = self.client.get_partial_messageable(row.channel_id)
        if row.card_message_id is None:
            return await self._post_missing_card(row, channel)
        message = channel.get_partial_message(row.card_message_id)
        try:
            await message.edit(**card_message(row))
        except discord.NotFound:
            return CardResult.GONE
        except discord.HTTPException as exc:
            log.warning("card of %s not edited (HTTP %s %s)", row.id, exc.status, exc.code)
            return CardResult.RETRY
        return CardResult.OK

    async def _post_missing_card(
        self, row: TrainingRow, channel: discord.PartialMessageable
    ) -> CardResult:
        """A training with no card: either /train is posting it right now (wait), or it was
        adopted after a create whose answer was lost, and the channel deserves its card."""
        if utcnow() - row.created_at < CARD_GRACE:
            return CardResult.RETRY
        store = getattr(self.client, "store", None)
        try:
            message = await channel.send(**card_message(row))
        except (discord.Forbidden, discord.NotFound):
            return CardResult.GONE
        except discord.HTTPException as exc:
            log.warning("card of %s not posted (HTTP %s %s)", row.id, exc.status, exc.code)
            return CardResult.RETRY
        if store is not None:
            await store.set_card(row.id, row.channel_id or message.channel.id, message.id)
        log.info("posted the missing card of training %s", row.id)
        return CardResult.OK

    async def deliver_notice(self, row: TrainingRow, notice: Notice) -> bool:
        payload = notice.payload
        embed = notice_embed(row, payload)
        try:
            dm = await self.client.create_dm(discord.Object(id=row.owner_id))
            await dm.send(embed=embed, **_files(row, payload))
            return True
        except discord.Forbidden as exc:
            if exc.code != CANNOT_DM:
                log.warning("notice for %s not sent as DM (%s)", row.id, exc.code)
        except discord.HTTPException as exc:
            log.warning("notice for %s not sent (HTTP %s %s)", row.id, exc.status, exc.code)
            return False
        return await self._in_channel(row, payload, embed)

    async def _in_channel(
        self, row: TrainingRow, payload: dict[str, Any], embed: discord.Embed
    ) -> bool:
        """DMs closed: tell the owner in the card's channel, pinging only them."""
        if row.channel_id is None:
            log.warning("owner of %s has DMs closed and the training has no channel", row.id)
            return False
        channel = self.client.get_partial_messageable(row.channel_id)
        owner = discord.Object(id=row.owner_id)
        reference = None
        if row.card_message_id is not None and not row.card_gone:
            reference = channel.get_partial_message(row.card_message_id).to_reference(
                fail_if_not_exists=False
            )
        try:
            await channel.send(
                f"{mention(row.owner_id)} your training ended (your DMs are closed, so the "
                "result is here).",
                embed=embed,
                allowed_mentions=discord.AllowedMentions(users=[owner]),
                reference=reference,  # type: ignore[arg-type]
                **_files(row, payload),
            )
        except discord.HTTPException as exc:
            log.warning("notice for %s not posted in the channel (%s)", row.id, exc.code)
            return False
        return True


def _files(row: TrainingRow, payload: dict[str, Any]) -> dict[str, Any]:
    file = log_file(row, payload)
    return {"file": file} if file is not None else {}
