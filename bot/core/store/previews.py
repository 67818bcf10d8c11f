"""Saved /train previews: what the Start button submits, kept in the database.

Why: the Start button must work after a bot restart (its custom_id only carries a key), and the
button's custom_id is visible to clients, so who may press it comes from here, not from the id.
A preview is claimed atomically before submitting, so a double click submits once. Configs are
scrubbed like every stored config: no secret reaches the file.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from bot.core.store.database import Database
from bot.core.store.rows import dump_json, from_iso, to_iso, utcnow

PREVIEW_TTL = timedelta(minutes=15)  # the interaction token that shows it lives 15 min too


@dataclass
class Preview:
    """One preview a user saw: the checked config (handoff layout) and who may start it."""

    key: str
    owner_id: int
    guild_id: int | None
    channel_id: int | None
    config: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    used: bool = False
    dataset_summary: str = ""  # one line of the dataset report, for an approval request
    images: int | None = None  # usable images the dataset check counted (the estimate uses it)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


async def claim_in(conn: aiosqlite.Connection, key: str) -> bool:
    """Claim an unused, unexpired preview inside a transaction already open; False when someone
    (a double click) was first."""
    cur = await conn.execute(
        "UPDATE previews SET used = 1 WHERE key = ? AND used = 0 AND expires_at > ?",
        (key, to_iso(utcnow())),
    )
    return cur.rowcount > 0


def _from_db(rec: Any) -> Preview:
    return Preview(
        key=rec["key"],
        owner_id=int(rec["owner_id"]),
        guild_id=rec["guild_id"],
        channel_id=rec["channel_id"],
        config=json.loads(rec["config_json"] or "{}"),
        created_at=from_iso(rec["created_at"]) or utcnow(),
        expires_at=from_iso(rec["expires_at"]) or utcnow(),
        used=bool(rec["used"]),
        dataset_summary=rec["dataset_summary"] or "",
        images=rec["images"],
    )


class Previews:
    """The previews table of a `Database`."""

    def __init__(self, db: Database, ttl: timedelta = PREVIEW_TTL) -> None:
        self.db = db
        self.ttl = ttl

    async def save(
        self,
        owner_id: int,
        guild_id: int | None,
        channel_id: int | None,
        config: dict[str, Any],
        dataset_summary: str = "",
        images: int | None = None,
        ttl: timedelta | None = None,
    ) -> Preview:
        """Store a new preview (and drop expired ones) and return it with its fresh key;
        `ttl` overrides the table's for this one (a Start offered again after a restart)."""
        now = utcnow()
        config_json = dump_json(config)
        preview = Preview(
            key=secrets.token_urlsafe(12),
            owner_id=owner_id,
            guild_id=guild_id,
            channel_id=channel_id,
            config=json.loads(config_json),
            created_at=now,
            expires_at=now + (ttl or self.ttl),
            dataset_summary=dataset_summary,
            images=images,
        )
        async with self.db.transaction() as db:
            await db.execute("DELETE FROM previews WHERE expires_at < ?", (to_iso(now),))
            await db.execute(
                "INSERT INTO previews (key, owner_id, guild_id, channel_id, config_json, "
                "created_at, expires_at, used, dataset_summary, images) "
                "VALUES (?,?,?,?,?,?,?,0,?,?)",
                (
                    preview.key,
                    owner_id,
                    guild_id,
                    channel_id,
                    config_json,
                    to_iso(now),
                    to_iso(preview.expires_at),
                    dataset_summary,
                    images,
                ),
            )
        return preview

    async def get(self, key: str) -> Preview | None:
        sql = "SELECT * FROM previews WHERE key = ?"
        async with self.db.connection.execute(sql, (key,)) as cur:
            rec = await cur.fetchone()
        return _from_db(rec) if rec is not None else None

    async def claim(self, key: str) -> bool:
        """Mark unused and unexpired preview used; False when someone (a double click) was first."""
        async with self.db.transaction() as conn:
            return await claim_in(conn, key)

    async def release(self, key: str) -> None:
        """Make a claimed preview usable again (the submit failed before anything started)."""
        async with self.db.transaction() as db:
            await db.execute("UPDATE previews SET used = 0 WHERE key = ?", (key,))

    async def discard(self, key: str) -> None:
        async with self.db.transaction() as db:
            await db.execute("DELETE FROM previews WHERE key = ?", (key,))
