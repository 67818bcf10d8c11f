"""The `trainings` table: one row per training the bot tracks, who owns it, what Replicate said.

A finished row stays finished whatever a late answer says; an ending and its notice are stored in
one transaction (`outbox`), and a training and the end of its pending submission too
(`submissions`), so a crash leaves neither an ending without its notice nor a Start counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import aiosqlite

from bot.core.errors import SD35LError
from bot.core.replicate.training import Training
from bot.core.secrets import redact
from bot.core.store.database import Database
from bot.core.store.outbox import enqueue_in
from bot.core.store.rows import (
    TERMINAL_SQL,
    TRAINING_COLUMNS,
    ProgressLike,
    TrainingRow,
    dump_json,
    row_from_db,
    to_iso,
    training_update,
)
from bot.core.store.submissions import drop_in


class OwnerConflictError(SD35LError):
    """A training id arrived for a second owner: it stays with the first, and this is loud."""

    def __init__(self, training_id: str, owner_id: int, other_id: int) -> None:
        super().__init__(
            f"Training {training_id} is already tracked for another member; it was not "
            "attributed to you. Ask a manager to check /jobs before starting again."
        )
        self.training_id, self.owner_id, self.other_id = training_id, owner_id, other_id


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class Trainings:
    """The trainings table of a `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[TrainingRow]:
        """The `TrainingRow`s a SELECT of `TRAINING_COLUMNS` returns."""
        return [row_from_db(rec) for rec in await self.db.fetch_all(sql, params)]

    async def add(self, row: TrainingRow, *, pending_id: int | None = None) -> TrainingRow:
        """Insert a training and drop its pending submission with it; returns the stored row.

        A training already tracked is never silently taken over: the same owner gets the row
        that exists (the tracker adopted it first), another owner raises `OwnerConflictError`.
        """
        async with self.db.transaction() as conn:
            await self._insert(conn, row)
            if pending_id is not None:
                await drop_in(conn, pending_id)
        stored = await self.get(row.id)
        assert stored is not None
        if stored.owner_id != row.owner_id:
            raise OwnerConflictError(row.id, stored.owner_id, row.owner_id)
        return stored

    async def _insert(self, conn: aiosqlite.Connection, row: TrainingRow) -> None:
        await conn.execute(
            f"INSERT OR IGNORE INTO trainings ({TRAINING_COLUMNS}) VALUES "  # noqa: S608
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                row.id,
                row.owner_id,
                row.guild_id,
                row.channel_id,
                row.card_message_id,
                row.destination,
                row.trigger_word,
                dump_json(row.config),
                row.status,
                row.step,
                row.total,
                to_iso(row.eta_at),
                row.loss,
                row.predict_time,
                row.cost_cents,
                row.weights_url,
                row.new_version,
                redact(row.error) if row.error else None,
                redact(row.log_tail) if row.log_tail else None,
                to_iso(row.created_at),
                to_iso(row.updated_at),
                to_iso(row.started_at),
                to_iso(row.completed_at),
                to_iso(row.card_edited_at),
                row.card_status,
                int(row.card_gone),
                to_iso(row.card_attempted_at),
            ),
        )

    async def get(self, training_id: str) -> TrainingRow | None:
        rows = await self.rows(
            f"SELECT {TRAINING_COLUMNS} FROM trainings WHERE id = ?",  # noqa: S608
            (training_id,),
        )
        return rows[0] if rows else None

    async def update_from_training(
        self,
        training: Training,
        progress: ProgressLike | None = None,
        cost_cents: int | None = None,
        *,
        log_tail: str | None = None,
        notice: tuple[str, Mapping[str, Any]] | None = None,
    ) -> TrainingRow | None:
        """Store what Replicate said; a terminal row stays terminal whatever arrives later.

        `notice` (kind, payload) is enqueued in the same transaction when the training is
        terminal, so a crash can never leave an ended training without its notice.
        Returns the updated row, or None for a training this table does not hold.
        """
        params = training_update(training, progress, cost_cents, log_tail)
        # Fields of a finished row only fill gaps; a late non-terminal answer changes nothing.
        sql = f"""
            UPDATE trainings SET
              status = CASE WHEN status IN {TERMINAL_SQL} THEN status ELSE :status END,
              step = CASE WHEN status IN {TERMINAL_SQL} THEN step ELSE COALESCE(:step, step) END,
              total = COALESCE(total, :total),
              eta_at = CASE WHEN :terminal = 1 THEN NULL
                            WHEN status IN {TERMINAL_SQL} THEN eta_at
                            ELSE COALESCE(:eta_at, eta_at) END,
              loss = CASE WHEN status IN {TERMINAL_SQL} THEN loss ELSE COALESCE(:loss, loss) END,
              predict_time = COALESCE(predict_time, :predict_time),
              cost_cents = COALESCE(cost_cents, :cost_cents),
              weights_url = COALESCE(weights_url, :weights_url),
              new_version = COALESCE(new_version, :new_version),
              error = COALESCE(error, :error),
              log_tail = CASE WHEN status IN {TERMINAL_SQL} AND log_tail IS NOT NULL
                              THEN log_tail ELSE COALESCE(:log_tail, log_tail) END,
              updated_at = :updated_at,
              started_at = COALESCE(started_at, :started_at),
              completed_at = COALESCE(completed_at, :completed_at)
            WHERE id = :id
            RETURNING {TRAINING_COLUMNS}
        """  # noqa: S608
        if notice is None or not training.is_terminal:
            # One statement is atomic on its own (autocommit): one trip to the database thread
            # instead of three, on every refresh of a running training.
            updated = await self.db.write_one(sql, params)
            return row_from_db(updated[0]) if updated else None
        async with self.db.transaction() as conn:  # the row comes back with the UPDATE
            updated = list(await conn.execute_fetchall(sql, params))
            if not updated:
                return None
            if notice is not None and training.is_terminal:
                await enqueue_in(conn, training.id, notice[0], notice[1])
        return row_from_db(updated[0])

    async def find(
        self,
        guild_id: int | None = None,
        owner_id: int | None = None,
        status: str | None = None,
        limit: int = 25,
        query: str | None = None,
    ) -> list[TrainingRow]:
        """Newest first. `status` is a Replicate status, or "active"/"ended"; `query` is a
        prefix of the id, the destination (or its model name) or the trigger word."""
        where: list[str] = []
        params: list[Any] = []
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if owner_id is not None:
            where.append("owner_id = ?")
            params.append(owner_id)
        if status == "active":
            where.append(f"status NOT IN {TERMINAL_SQL}")
        elif status == "ended":
            where.append(f"status IN {TERMINAL_SQL}")
        elif status:
            where.append("status = ?")
            params.append(status)
        if query:
            pattern = _like_prefix(query.strip())
            where.append(
                "(id LIKE ? ESCAPE '\\' OR destination LIKE ? ESCAPE '\\' "
                "OR trigger_word LIKE ? ESCAPE '\\' OR destination LIKE '%/' || ? ESCAPE '\\')"
            )
            params.extend([pattern] * 4)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        params.append(max(1, min(int(limit), 1000)))
        return await self.rows(
            f"SELECT {TRAINING_COLUMNS} FROM trainings {clause} "  # noqa: S608
            "ORDER BY created_at DESC, id LIMIT ?",
            params,
        )

    async def active(self) -> list[TrainingRow]:
        """Every training not known to have ended, oldest first."""
        return await self.rows(
            f"SELECT {TRAINING_COLUMNS} FROM trainings "  # noqa: S608
            f"WHERE status NOT IN {TERMINAL_SQL} ORDER BY created_at"
        )

    async def count_active(self, owner_id: int) -> int:
        sql = f"SELECT COUNT(*) FROM trainings WHERE owner_id = ? AND status NOT IN {TERMINAL_SQL}"  # noqa: S608
        rec = await self.db.fetch_one(sql, (owner_id,))
        return int(rec[0]) if rec else 0

    async def raw_config_json(self, training_id: str) -> str | None:
        """The stored JSON text (tests prove no secret is in it)."""
        rec = await self.db.fetch_one(
            "SELECT config_json FROM trainings WHERE id = ?", (training_id,)
        )
        return str(rec[0]) if rec else None
