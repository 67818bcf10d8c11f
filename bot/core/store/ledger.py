"""The money ledger: what every training the bot started was expected to cost and what it cost.

One row per training, in whole cents, filed under the UTC month of its Start. A running training
counts at its high estimate until its ending settles the row with the actual cost, so a budget
can never be overrun by trainings that have not ended yet. An ending whose billed time Replicate
did not report keeps `actual_cents` NULL (unknown, never $0): it too counts at its high estimate
until a later read fills the figure in (`fill_cost`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.money.estimate import Sample
from bot.core.store.database import Database
from bot.core.store.history import SAMPLE_LIMIT, SAMPLES_SQL, sample_of
from bot.core.store.rows import from_iso, to_iso, utcnow

RUNNING = "running"
_SPENT = (
    "COALESCE(SUM(CASE WHEN settled_at IS NULL OR actual_cents IS NULL THEN estimate_high_cents "
    "ELSE actual_cents END), 0)"
)


def month_of(at: datetime) -> str:
    """`YYYY-MM` of a moment, in UTC (budgets reset at midnight UTC on the 1st)."""
    return to_iso(at)[:7]  # type: ignore[index]


@dataclass
class LedgerEntry:
    """One training's money: estimate at Start, actual at the end (None while running)."""

    training_id: str
    owner_id: int
    guild_id: int | None
    month: str
    estimate_low_cents: int
    estimate_high_cents: int
    estimate_basis: str = ""
    steps: int | None = None
    batch_size: int | None = None
    resolution: str | None = None
    images: int | None = None  # usable images of the dataset at Start; None on older rows
    status: str = RUNNING
    predict_time: float | None = None
    actual_cents: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    settled_at: datetime | None = None

    @property
    def settled(self) -> bool:
        return self.settled_at is not None

    @property
    def cost_unknown(self) -> bool:
        """Ended, but Replicate has not said what it billed (yet)."""
        return self.settled and self.actual_cents is None

    @property
    def counted_cents(self) -> int:
        """What this training weighs on a budget now: its bill once known, else the high end
        of its estimate (running, or ended with its cost unknown)."""
        if self.settled and self.actual_cents is not None:
            return self.actual_cents
        return self.estimate_high_cents


_COLUMNS = (
    "training_id, owner_id, guild_id, month, estimate_low_cents, estimate_high_cents, "
    "estimate_basis, steps, batch_size, resolution, images, status, predict_time, actual_cents, "
    "created_at, settled_at"
)


def _entry(rec: Any) -> LedgerEntry:
    data = {key: rec[key] for key in rec.keys()}
    data["created_at"] = from_iso(data["created_at"]) or utcnow()
    data["settled_at"] = from_iso(data["settled_at"])
    return LedgerEntry(**data)


class Ledger:
    """The ledger table of the bot's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, entry: LedgerEntry) -> None:
        """File a training at its Start (a second record of the same training changes nothing)."""
        async with self.db.transaction() as db:
            await db.execute(
                f"INSERT OR IGNORE INTO ledger ({_COLUMNS}) VALUES "  # noqa: S608
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    entry.training_id,
                    entry.owner_id,
                    entry.guild_id,
                    entry.month,
                    entry.estimate_low_cents,
                    entry.estimate_high_cents,
                    entry.estimate_basis,
                    entry.steps,
                    entry.batch_size,
                    entry.resolution,
                    entry.images,
                    entry.status,
                    entry.predict_time,
                    entry.actual_cents,
                    to_iso(entry.created_at),
                    to_iso(entry.settled_at),
                ),
            )

    async def settle(
        self,
        training_id: str,
        status: str,
        predict_time: float | None,
        actual_cents: int | None,
        loss_points: list[tuple[int, float]] | None = None,
    ) -> bool:
        """Record the ending once; later calls (a re-poll, a restart) change nothing.
        `actual_cents` None records the cost as unknown (see `fill_cost`)."""
        loss_json = json.dumps(loss_points) if loss_points else None
        async with self.db.transaction() as db:
            cur = await db.execute(
                "UPDATE ledger SET status = ?, predict_time = ?, actual_cents = ?, "
                "loss_json = ?, settled_at = ? WHERE training_id = ? AND settled_at IS NULL",
                (
                    status,
                    predict_time,
                    actual_cents,
                    loss_json,
                    to_iso(utcnow()),
                    training_id,
                ),
            )
            return cur.rowcount > 0

    async def fill_cost(
        self, training_id: str, predict_time: float | None, actual_cents: int
    ) -> bool:
        """Give an ended training whose cost was unknown its bill (once)."""
        async with self.db.transaction() as db:
            cur = await db.execute(
                "UPDATE ledger SET predict_time = COALESCE(predict_time, ?), actual_cents = ? "
                "WHERE training_id = ? AND settled_at IS NOT NULL AND actual_cents IS NULL",
                (predict_time, actual_cents, training_id),
            )
            return cur.rowcount > 0

    async def unknown_costs(self, since: datetime) -> list[str]:
        """Trainings that ended after `since` whose cost is still unknown, oldest first."""
        sql = (
            "SELECT training_id FROM ledger WHERE settled_at IS NOT NULL AND actual_cents IS NULL "
            "AND settled_at >= ? ORDER BY settled_at"
        )
        async with self.db.connection.execute(sql, (to_iso(since),)) as cur:
            return [str(rec[0]) for rec in await cur.fetchall()]

    async def get(self, training_id: str) -> LedgerEntry | None:
        sql = f"SELECT {_COLUMNS} FROM ledger WHERE training_id = ?"  # noqa: S608
        async with self.db.connection.execute(sql, (training_id,)) as cur:
            rec = await cur.fetchone()
        return _entry(rec) if rec is not None else None

    async def unfiled(self, training_ids: list[str]) -> list[str]:
        """Those of `training_ids` that have no ledger row (the bot died between the two writes)."""
        if not training_ids:
            return []
        marks = ",".join("?" * len(training_ids))
        sql = f"SELECT training_id FROM ledger WHERE training_id IN ({marks})"  # noqa: S608
        async with self.db.connection.execute(sql, training_ids) as cur:
            filed = {str(rec[0]) for rec in await cur.fetchall()}
        return [tid for tid in training_ids if tid not in filed]

    async def spent_cents(self, month: str, owner_id: int | None = None) -> int:
        """Actual cost of ended trainings plus the high estimate of running ones and of ended
        ones whose cost is unknown."""
        sql = f"SELECT {_SPENT} FROM ledger WHERE month = ?"  # noqa: S608
        params: list[Any] = [month]
        if owner_id is not None:
            sql += " AND owner_id = ?"
            params.append(owner_id)
        async with self.db.connection.execute(sql, params) as cur:
            rec = await cur.fetchone()
        return int(rec[0]) if rec else 0

    async def awaiting_approval(self, owner_id: int | None = None) -> dict[int, tuple[int, int]]:
        """Approval requests still pending (not decided, not expired), by owner: (count, sum of
        their high estimates in cents). They are not trainings yet, but each may become one."""
        sql = (
            "SELECT owner_id, COUNT(*), COALESCE(SUM(estimate_high_cents), 0) FROM approvals "
            "WHERE status = 'pending' AND expires_at > ?"
        )
        params: list[Any] = [to_iso(utcnow())]
        if owner_id is not None:
            sql += " AND owner_id = ?"
            params.append(owner_id)
        async with self.db.connection.execute(sql + " GROUP BY owner_id", params) as cur:
            return {int(r[0]): (int(r[1]), int(r[2])) for r in await cur.fetchall()}

    async def entries(self, month: str) -> list[LedgerEntry]:
        sql = f"SELECT {_COLUMNS} FROM ledger WHERE month = ? ORDER BY created_at"  # noqa: S608
        async with self.db.connection.execute(sql, (month,)) as cur:
            return [_entry(rec) for rec in await cur.fetchall()]

    async def samples(self, limit: int = SAMPLE_LIMIT) -> list[Sample]:
        """Succeeded trainings whose shape and billed time are known, newest first (the image
        count is None on rows filed before it was recorded)."""
        async with self.db.connection.execute(SAMPLES_SQL, (limit,)) as cur:
            return [sample_of(r) for r in await cur.fetchall()]

    async def loss_points(self, training_id: str) -> list[tuple[int, float]]:
        sql = "SELECT loss_json FROM ledger WHERE training_id = ?"
        async with self.db.connection.execute(sql, (training_id,)) as cur:
            rec = await cur.fetchone()
        if rec is None or not rec[0]:
            return []
        return [(int(step), float(loss)) for step, loss in json.loads(rec[0])]
