"""Pending submissions: every Start written down before its create is sent, until it is settled.

Why: the process may die, or the create's answer may be lost, between "Start" and "training
created". A row here says a training may exist; `bot.core.jobs.pending` settles it (adopts the
training, or decides none was made) and the owner is told the outcome once (`untold`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiosqlite

from bot.core.store.database import Database
from bot.core.store.previews import claim_in
from bot.core.store.rows import PendingSubmission, dump_json, pending_from_db, to_iso, utcnow


async def drop_in(conn: aiosqlite.Connection, pending_id: int) -> None:
    """Forget a submission inside a transaction already open (its training is stored)."""
    await conn.execute("DELETE FROM pending_submissions WHERE id = ?", (pending_id,))


class PendingSubmissions:
    """The pending_submissions table of a `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        owner_id: int,
        guild_id: int | None,
        channel_id: int | None,
        destination: str,
        trigger_word: str | None,
        config: Mapping[str, Any],
        inputs: Mapping[str, Any],
        marker: str | None = None,
        preview_key: str | None = None,
    ) -> int | None:
        """Written before the create is sent, so a crash mid-create can be recovered.

        With `preview_key`, the preview is claimed in the same transaction: None when it was
        already used or expired (a double click), and otherwise no claimed preview can exist
        without this record, so no acknowledged Start is ever forgotten.
        """
        async with self.db.transaction() as conn:
            if preview_key is not None:
                if not await claim_in(conn, preview_key):
                    return None
            cur = await conn.execute(
                "INSERT INTO pending_submissions (owner_id, guild_id, channel_id, destination, "
                "trigger_word, config_json, inputs_json, created_at, marker, preview_key) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    owner_id,
                    guild_id,
                    channel_id,
                    destination,
                    trigger_word,
                    dump_json(config),
                    dump_json(inputs),
                    to_iso(utcnow()),
                    marker,
                    preview_key,
                ),
            )
            return int(cur.lastrowid or 0)

    async def set_inputs(self, pending_id: int, inputs: Mapping[str, Any]) -> None:
        """The inputs as sent (a local dataset's upload URL is known only at Start)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE pending_submissions SET inputs_json = ? WHERE id = ?",
                (dump_json(inputs), pending_id),
            )

    async def mark_sent(self, pending_id: int) -> None:
        """The create is about to leave: from now on a training may exist."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE pending_submissions SET sent_at = ? WHERE id = ?",
                (to_iso(utcnow()), pending_id),
            )

    async def get(self, pending_id: int) -> PendingSubmission | None:
        rec = await self.db.fetch_one(
            "SELECT * FROM pending_submissions WHERE id = ?", (pending_id,)
        )
        return pending_from_db(rec) if rec is not None else None

    async def unsettled(self) -> list[PendingSubmission]:
        """Submissions still open: no training stored for them and no outcome decided."""
        sql = "SELECT * FROM pending_submissions WHERE outcome IS NULL ORDER BY id"
        return [pending_from_db(rec) for rec in await self.db.fetch_all(sql)]

    async def settle(
        self, pending_id: int, outcome: str, info: Mapping[str, Any] | None = None
    ) -> None:
        """Close an open submission without a training; its owner is told next (untold)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE pending_submissions SET outcome = ?, outcome_json = ? "
                "WHERE id = ? AND outcome IS NULL",
                (outcome, dump_json(info or {}), pending_id),
            )

    async def settled_sent_since(
        self, outcomes: tuple[str, ...], since: datetime
    ) -> list[PendingSubmission]:
        """Submissions closed with one of `outcomes` whose create left (with a marker) after
        `since`: a create still in flight when the bot died may land at Replicate later."""
        marks = ",".join("?" * len(outcomes))
        sql = (
            f"SELECT * FROM pending_submissions WHERE outcome IN ({marks}) "  # noqa: S608
            "AND marker IS NOT NULL AND sent_at IS NOT NULL AND sent_at >= ? ORDER BY id"
        )
        return [
            pending_from_db(rec) for rec in await self.db.fetch_all(sql, (*outcomes, to_iso(since)))
        ]

    async def reopen_as(
        self, pending_id: int, outcome: str, info: Mapping[str, Any] | None = None
    ) -> None:
        """Change a closed submission's outcome (a training turned up after all); an owner not
        told the old one yet is not told it at all."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE pending_submissions SET outcome = ?, outcome_json = ?, "
                "told_at = COALESCE(told_at, ?) WHERE id = ?",
                (outcome, dump_json(info or {}), to_iso(utcnow()), pending_id),
            )

    async def untold(self) -> list[PendingSubmission]:
        sql = (
            "SELECT * FROM pending_submissions WHERE outcome IS NOT NULL AND told_at IS NULL "
            "ORDER BY id"
        )
        return [pending_from_db(rec) for rec in await self.db.fetch_all(sql)]

    async def mark_tell_attempt(self, pending_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE pending_submissions SET tell_attempted_at = ? WHERE id = ?",
                (to_iso(utcnow()), pending_id),
            )

    async def mark_told(self, pending_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE pending_submissions SET told_at = ? WHERE id = ?",
                (to_iso(utcnow()), pending_id),
            )

    async def drop(self, pending_id: int) -> None:
        async with self.db.transaction() as conn:
            await drop_in(conn, pending_id)
