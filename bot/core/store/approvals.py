"""Approval requests: trainings above SD35L_APPROVAL_ABOVE waiting for a manager's yes.

Kept in the database so the Approve and Reject buttons work after a restart (their custom_id
carries only the request's key) and so expiry is driven from here, not from memory. A request is
decided atomically: two managers clicking at once submit one training. Configs are scrubbed like
every stored config.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.store.database import Database
from bot.core.store.rows import dump_json, from_iso, to_iso, utcnow

APPROVAL_TTL = timedelta(days=1)
PENDING = "pending"


@dataclass
class ApprovalRequest:
    """One training waiting for (or past) a manager's decision."""

    key: str
    owner_id: int
    guild_id: int | None
    channel_id: int | None
    message_id: int | None
    config: dict[str, Any]
    estimate_high_cents: int
    summary: str
    status: str
    decided_by: int | None
    training_id: str | None
    created_at: datetime
    expires_at: datetime
    images: int | None = None  # usable images of the dataset, carried to the ledger at Approve
    reason: str | None = None  # a rejecting manager's words

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


def _request(rec: Any) -> ApprovalRequest:
    return ApprovalRequest(
        key=rec["key"],
        owner_id=int(rec["owner_id"]),
        guild_id=rec["guild_id"],
        channel_id=rec["channel_id"],
        message_id=rec["message_id"],
        config=json.loads(rec["config_json"] or "{}"),
        estimate_high_cents=int(rec["estimate_high_cents"]),
        summary=rec["summary"],
        status=rec["status"],
        decided_by=rec["decided_by"],
        training_id=rec["training_id"],
        created_at=from_iso(rec["created_at"]) or utcnow(),
        expires_at=from_iso(rec["expires_at"]) or utcnow(),
        images=rec["images"],
        reason=rec["reason"],
    )


class Approvals:
    """The approvals table of the bot's database."""

    def __init__(self, db: Database, ttl: timedelta = APPROVAL_TTL) -> None:
        self.db = db
        self.ttl = ttl

    async def create(
        self,
        *,
        owner_id: int,
        guild_id: int | None,
        channel_id: int | None,
        config: dict[str, Any],
        estimate_high_cents: int,
        summary: str,
        images: int | None = None,
    ) -> ApprovalRequest:
        now = utcnow()
        key = secrets.token_urlsafe(12)
        async with self.db.transaction() as db:
            await db.execute(
                "INSERT INTO approvals (key, owner_id, guild_id, channel_id, config_json, "
                "estimate_high_cents, summary, status, created_at, expires_at, images) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    owner_id,
                    guild_id,
                    channel_id,
                    dump_json(config),
                    estimate_high_cents,
                    summary,
                    PENDING,
                    to_iso(now),
                    to_iso(now + self.ttl),
                    images,
                ),
            )
        request = await self.get(key)
        assert request is not None
        return request

    async def get(self, key: str) -> ApprovalRequest | None:
        async with self.db.connection.execute(
            "SELECT * FROM approvals WHERE key = ?", (key,)
        ) as cur:
            rec = await cur.fetchone()
        return _request(rec) if rec is not None else None

    async def set_message(self, key: str, channel_id: int, message_id: int) -> None:
        async with self.db.transaction() as db:
            await db.execute(
                "UPDATE approvals SET channel_id = ?, message_id = ? WHERE key = ?",
                (channel_id, message_id, key),
            )

    async def decide(self, key: str, status: str, by: int, reason: str | None = None) -> bool:
        """Move a pending, unexpired request to `status` (with a rejecting manager's reason);
        False when someone was first."""
        now = to_iso(utcnow())
        async with self.db.transaction() as db:
            cur = await db.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, reason = ? "
                "WHERE key = ? AND status = ? AND expires_at > ?",
                (status, by, now, reason, key, PENDING, now),
            )
            return cur.rowcount > 0

    async def reopen(self, key: str) -> None:
        """Back to pending: the approved submit failed before anything was created."""
        async with self.db.transaction() as db:
            await db.execute(
                "UPDATE approvals SET status = ?, decided_by = NULL, decided_at = NULL "
                "WHERE key = ?",
                (PENDING, key),
            )

    async def set_training(self, key: str, training_id: str) -> None:
        async with self.db.transaction() as db:
            await db.execute(
                "UPDATE approvals SET training_id = ? WHERE key = ?", (training_id, key)
            )

    async def pending(self) -> list[ApprovalRequest]:
        async with self.db.connection.execute(
            "SELECT * FROM approvals WHERE status = ? ORDER BY created_at", (PENDING,)
        ) as cur:
            return [_request(rec) for rec in await cur.fetchall()]

    async def expire_due(self) -> list[ApprovalRequest]:
        """Mark every pending request past its time as expired and return them (each once)."""
        now = to_iso(utcnow())
        async with self.db.transaction() as db:
            async with db.execute(
                "SELECT key FROM approvals WHERE status = ? AND expires_at <= ?", (PENDING, now)
            ) as cur:
                keys = [str(rec[0]) for rec in await cur.fetchall()]
            for key in keys:
                await db.execute(
                    "UPDATE approvals SET status = 'expired', decided_at = ? WHERE key = ?",
                    (now, key),
                )
        found = [await self.get(key) for key in keys]
        return [r for r in found if r is not None]
