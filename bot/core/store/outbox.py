"""The store's outbox (notices owed to owners) and submissions whose outcome is unknown.

A mixin of `Store`, kept apart only to keep each file small; it shares the store's connection
and its write lock (`_tx`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import aiosqlite

from bot.core.secrets import redact
from bot.core.store.rows import (
    Notice,
    PendingSubmission,
    dump_json,
    notice_from_db,
    pending_from_db,
    to_iso,
    utcnow,
)


class OutboxMixin:
    """Outbox and pending submissions; `Store` supplies `_conn` and `_tx`."""

    _conn: aiosqlite.Connection

    def _tx(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    # -- outbox ------------------------------------------------------------------------------

    async def _enqueue(
        self, db: aiosqlite.Connection, training_id: str, kind: str, payload: Mapping[str, Any]
    ) -> bool:
        cur = await db.execute(
            "INSERT OR IGNORE INTO outbox (training_id, kind, payload_json, created_at) "
            "VALUES (?, ?, ?, ?)",
            (training_id, kind, dump_json(payload), to_iso(utcnow())),
        )
        return cur.rowcount > 0

    async def enqueue_notice(self, training_id: str, kind: str, payload: Mapping[str, Any]) -> bool:
        """Owe the owner a notice; True when new, False when that notice already exists."""
        async with self._tx() as db:
            return await self._enqueue(db, training_id, kind, payload)

    async def pending_notices(self, limit: int = 100) -> list[Notice]:
        async with self._conn.execute(
            "SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT ?", (limit,)
        ) as cur:
            return [notice_from_db(rec) for rec in await cur.fetchall()]

    async def notices_for(self, training_id: str) -> list[Notice]:
        async with self._conn.execute(
            "SELECT * FROM outbox WHERE training_id = ? ORDER BY id", (training_id,)
        ) as cur:
            return [notice_from_db(rec) for rec in await cur.fetchall()]

    async def mark_notice_delivered(self, notice_id: int) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?",
                (to_iso(utcnow()), notice_id),
            )

    async def mark_notice_attempt(self, notice_id: int) -> None:
        """A send begins: if the process dies before it is marked, the next try looks first."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE outbox SET attempted_at = ? WHERE id = ?", (to_iso(utcnow()), notice_id)
            )

    async def mark_notice_failed(self, notice_id: int, error: str) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (redact(error)[:500], notice_id),
            )

    # -- submissions whose outcome is unknown ------------------------------------------------

    async def add_pending_submission(
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
        async with self._tx() as db:
            if preview_key is not None:
                claimed = await db.execute(
                    "UPDATE previews SET used = 1 WHERE key = ? AND used = 0 AND expires_at > ?",
                    (preview_key, to_iso(utcnow())),
                )
                if claimed.rowcount == 0:
                    return None
            cur = await db.execute(
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

    async def set_pending_inputs(self, pending_id: int, inputs: Mapping[str, Any]) -> None:
        """The inputs as sent (a local dataset's upload URL is known only at Start)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE pending_submissions SET inputs_json = ? WHERE id = ?",
                (dump_json(inputs), pending_id),
            )

    async def mark_pending_sent(self, pending_id: int) -> None:
        """The create is about to leave: from now on a training may exist."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE pending_submissions SET sent_at = ? WHERE id = ?",
                (to_iso(utcnow()), pending_id),
            )

    async def pending_submission(self, pending_id: int) -> PendingSubmission | None:
        async with self._conn.execute(
            "SELECT * FROM pending_submissions WHERE id = ?", (pending_id,)
        ) as cur:
            rec = await cur.fetchone()
        return pending_from_db(rec) if rec is not None else None

    async def pending_submissions(self) -> list[PendingSubmission]:
        """Submissions still open: no training stored for them and no outcome decided."""
        async with self._conn.execute(
            "SELECT * FROM pending_submissions WHERE outcome IS NULL ORDER BY id"
        ) as cur:
            return [pending_from_db(rec) for rec in await cur.fetchall()]

    async def settle_pending(
        self, pending_id: int, outcome: str, info: Mapping[str, Any] | None = None
    ) -> None:
        """Close an open submission without a training; its owner is told next (untold)."""
        async with self._tx() as db:
            await db.execute(
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
        async with self._conn.execute(sql, (*outcomes, to_iso(since))) as cur:
            return [pending_from_db(rec) for rec in await cur.fetchall()]

    async def reopen_as(
        self, pending_id: int, outcome: str, info: Mapping[str, Any] | None = None
    ) -> None:
        """Change a closed submission's outcome (a training turned up after all); an owner not
        told the old one yet is not told it at all."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE pending_submissions SET outcome = ?, outcome_json = ?, "
                "told_at = COALESCE(told_at, ?) WHERE id = ?",
                (outcome, dump_json(info or {}), to_iso(utcnow()), pending_id),
            )

    async def untold_submissions(self) -> list[PendingSubmission]:
        async with self._conn.execute(
            "SELECT * FROM pending_submissions WHERE outcome IS NOT NULL AND told_at IS NULL "
            "ORDER BY id"
        ) as cur:
            return [pending_from_db(rec) for rec in await cur.fetchall()]

    async def mark_tell_attempt(self, pending_id: int) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE pending_submissions SET tell_attempted_at = ? WHERE id = ?",
                (to_iso(utcnow()), pending_id),
            )

    async def mark_submission_told(self, pending_id: int) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE pending_submissions SET told_at = ? WHERE id = ?",
                (to_iso(utcnow()), pending_id),
            )

    async def drop_pending_submission(self, pending_id: int) -> None:
        async with self._tx() as db:
            await db.execute("DELETE FROM pending_submissions WHERE id = ?", (pending_id,))

    async def raw_config_json(self, training_id: str) -> str | None:
        """The stored JSON text (tests prove no secret is in it)."""
        async with self._conn.execute(
            "SELECT config_json FROM trainings WHERE id = ?", (training_id,)
        ) as cur:
            rec = await cur.fetchone()
        return str(rec[0]) if rec else None
