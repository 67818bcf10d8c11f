"""The outbox: notices owed to owners, each stored once and marked when Discord took it.

Exactly once, in two halves. Stored once: a notice is written in the same transaction as the
ending it tells of (`enqueue_in`, used by `trainings.update_from_training`), and a unique
(training, kind) pair makes a second one impossible however often the ending is seen. Delivered
once: `bot.core.jobs.tracker.Tracker` sends what is `undelivered` through its `Notifier`, marking
the attempt first; `bot/notifier.py` gives each message a nonce and, for an attempt older than
Discord's nonce window, looks for the message it may already have sent before sending again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiosqlite

from bot.core.secrets import redact
from bot.core.store.database import Database
from bot.core.store.rows import Notice, dump_json, notice_from_db, to_iso, utcnow


async def enqueue_in(
    conn: aiosqlite.Connection, training_id: str, kind: str, payload: Mapping[str, Any]
) -> bool:
    """Owe a notice inside a transaction already open; False when it already exists."""
    cur = await conn.execute(
        "INSERT OR IGNORE INTO outbox (training_id, kind, payload_json, created_at) "
        "VALUES (?, ?, ?, ?)",
        (training_id, kind, dump_json(payload), to_iso(utcnow())),
    )
    return cur.rowcount > 0


class Outbox:
    """The outbox table of a `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(self, training_id: str, kind: str, payload: Mapping[str, Any]) -> bool:
        """Owe the owner a notice; True when new, False when that notice already exists."""
        async with self.db.transaction() as conn:
            return await enqueue_in(conn, training_id, kind, payload)

    async def undelivered(self, limit: int = 100, training_id: str | None = None) -> list[Notice]:
        """Notices owed, oldest first (of one training, when given)."""
        if training_id is None:
            sql = "SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT ?"
            params: tuple[Any, ...] = (limit,)
        else:
            sql = (
                "SELECT * FROM outbox WHERE delivered_at IS NULL AND training_id = ? "
                "ORDER BY id LIMIT ?"
            )
            params = (training_id, limit)
        return [notice_from_db(rec) for rec in await self.db.fetch_all(sql, params)]

    async def for_training(self, training_id: str) -> list[Notice]:
        sql = "SELECT * FROM outbox WHERE training_id = ? ORDER BY id"
        return [notice_from_db(rec) for rec in await self.db.fetch_all(sql, (training_id,))]

    async def mark_delivered(self, notice_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?",
                (to_iso(utcnow()), notice_id),
            )

    async def mark_attempt(self, notice_id: int) -> None:
        """A send begins: if the process dies before it is marked, the next try looks first."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET attempted_at = ? WHERE id = ?", (to_iso(utcnow()), notice_id)
            )

    async def mark_failed(self, notice_id: int, error: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (redact(error)[:500], notice_id),
            )
