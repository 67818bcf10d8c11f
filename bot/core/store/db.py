"""The bot's memory: SQLite through aiosqlite, WAL, versioned migrations.

Background work is driven from here, not from memory (RoboDanny's timers): after a restart the
tracker finds every unfinished training and every undelivered notice in this file. Secrets never
reach it: configs are scrubbed on the way in.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.errors import SD35LError
from bot.core.log import get_logger
from bot.core.replicate.training import TERMINAL_STATUSES, Training
from bot.core.secrets import redact
from bot.core.store.cards import CardsMixin
from bot.core.store.migrations import LATEST_VERSION, MIGRATIONS
from bot.core.store.outbox import OutboxMixin
from bot.core.store.rows import (
    Notice,
    PendingSubmission,
    ProgressLike,
    TrainingRow,
    config_dict,
    dump_json,
    row_from_db,
    to_iso,
    training_update,
)

__all__ = [
    "Notice",
    "OwnerConflictError",
    "PendingSubmission",
    "ProgressLike",
    "Store",
    "TrainingRow",
    "config_dict",
]

log = get_logger(__name__)

_TERMINAL_SQL = "(" + ",".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES)) + ")"
_ROW_COLUMNS = (
    "id, owner_id, guild_id, channel_id, card_message_id, destination, trigger_word, "
    "config_json, status, step, total, eta_at, loss, predict_time, cost_cents, weights_url, "
    "new_version, error, log_tail, created_at, updated_at, started_at, completed_at, "
    "card_edited_at, card_status, card_gone, card_attempted_at"
)


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


def _prepare(path: str | Path) -> Path:
    """The database path with its folder created (a fresh install has no ./data yet)."""
    path = Path(path).expanduser()
    if str(path) != ":memory:":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SD35LError(
                f"Cannot create the folder of the database {path} ({exc.strerror}); set "
                "SD35L_DATABASE to a writable path."
            ) from None
    return path


class Store(OutboxMixin, CardsMixin):
    """One connection per process; writes are serialised by a lock so transactions never mix."""

    _row_columns = _ROW_COLUMNS

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating the file and its folder) and migrate to the latest schema."""
        path = _prepare(path)
        pending = aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn = await pending
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread after a failed connect but does not wait for it;
            # wait here, or the thread may answer an event loop that has closed meanwhile.
            await asyncio.to_thread(pending._thread.join, 5.0)
            raise SD35LError(
                f"Cannot open the database {path}: {exc}; check SD35L_DATABASE and its folder."
            ) from None
        conn.row_factory = aiosqlite.Row
        store = cls(conn, path)
        try:
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await store._migrate()
        except BaseException:
            await conn.close()
            raise
        return store

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- schema ------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        await self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        async with self._conn.execute("SELECT MAX(version) FROM schema_version") as cur:
            rec = await cur.fetchone()
        return int(rec[0]) if rec and rec[0] is not None else 0

    async def _migrate(self) -> None:
        current = await self.schema_version()
        if current > LATEST_VERSION:
            raise SD35LError(
                f"The database {self.path} was written by a newer sd35l-trainer (schema "
                f"version {current}, this one knows up to {LATEST_VERSION}); upgrade "
                "sd35l-trainer or point SD35L_DATABASE at another file."
            )
        for version in range(current + 1, LATEST_VERSION + 1):
            script = MIGRATIONS[version - 1]
            try:
                await self._conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\n"
                    f"INSERT INTO schema_version (version) VALUES ({version});\nCOMMIT;"
                )
            except sqlite3.Error:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
            log.info("database %s migrated to schema version %d", self.path, version)

    async def journal_mode(self) -> str:
        async with self._conn.execute("PRAGMA journal_mode") as cur:
            rec = await cur.fetchone()
        return str(rec[0]) if rec else ""

    def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """A write transaction for tables kept beside the store's own (e.g. previews)."""
        return self._tx()

    @property
    def connection(self) -> aiosqlite.Connection:
        """The shared connection, for reads of those tables."""
        return self._conn

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time within this process; other processes wait (busy)."""
        async with self._lock:
            try:
                await self._to_the_end("BEGIN IMMEDIATE")
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    await self._to_the_end("ROLLBACK")
                raise
            await self._to_the_end("COMMIT")

    async def _to_the_end(self, sql: str) -> None:
        """Run a transaction statement to completion even when the caller is cancelled: the
        worker thread runs it anyway, and a BEGIN nobody ends would block every later write."""
        statement = asyncio.ensure_future(self._conn.execute(sql))
        try:
            await asyncio.shield(statement)
        except asyncio.CancelledError:
            await statement
            raise

    async def _fetch_rows(self, sql: str, params: Iterable[Any] = ()) -> list[TrainingRow]:
        # One trip to the database thread (execute, fetch and close there): the tracker reads
        # rows on every refresh, and each trip costs a thread hand-off.
        return [row_from_db(rec) for rec in await self._conn.execute_fetchall(sql, tuple(params))]

    # -- trainings ---------------------------------------------------------------------------

    async def add_training(self, row: TrainingRow, *, pending_id: int | None = None) -> TrainingRow:
        """Insert a training and drop its pending submission with it; returns the stored row.

        A training already tracked is never silently taken over: the same owner gets the row
        that exists (the tracker adopted it first), another owner raises `OwnerConflictError`.
        """
        async with self._tx() as db:
            await self._insert(db, row)
            if pending_id is not None:
                await db.execute("DELETE FROM pending_submissions WHERE id = ?", (pending_id,))
        stored = await self.get(row.id)
        assert stored is not None
        if stored.owner_id != row.owner_id:
            raise OwnerConflictError(row.id, stored.owner_id, row.owner_id)
        return stored

    async def _insert(self, db: aiosqlite.Connection, row: TrainingRow) -> None:
        await db.execute(
            f"INSERT OR IGNORE INTO trainings ({_ROW_COLUMNS}) VALUES "  # noqa: S608
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
        rows = await self._fetch_rows(
            f"SELECT {_ROW_COLUMNS} FROM trainings WHERE id = ?",  # noqa: S608
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
        Returns the updated row, or None for a training this store does not track.
        """
        params = training_update(training, progress, cost_cents, log_tail)
        # Fields of a finished row only fill gaps; a late non-terminal answer changes nothing.
        sql = f"""
            UPDATE trainings SET
              status = CASE WHEN status IN {_TERMINAL_SQL} THEN status ELSE :status END,
              step = CASE WHEN status IN {_TERMINAL_SQL} THEN step ELSE COALESCE(:step, step) END,
              total = COALESCE(total, :total),
              eta_at = CASE WHEN :terminal = 1 THEN NULL
                            WHEN status IN {_TERMINAL_SQL} THEN eta_at
                            ELSE COALESCE(:eta_at, eta_at) END,
              loss = CASE WHEN status IN {_TERMINAL_SQL} THEN loss ELSE COALESCE(:loss, loss) END,
              predict_time = COALESCE(predict_time, :predict_time),
              cost_cents = COALESCE(cost_cents, :cost_cents),
              weights_url = COALESCE(weights_url, :weights_url),
              new_version = COALESCE(new_version, :new_version),
              error = COALESCE(error, :error),
              log_tail = CASE WHEN status IN {_TERMINAL_SQL} AND log_tail IS NOT NULL
                              THEN log_tail ELSE COALESCE(:log_tail, log_tail) END,
              updated_at = :updated_at,
              started_at = COALESCE(started_at, :started_at),
              completed_at = COALESCE(completed_at, :completed_at)
            WHERE id = :id
            RETURNING {_ROW_COLUMNS}
        """  # noqa: S608
        if notice is None or not training.is_terminal:
            # One statement is atomic on its own (autocommit): one trip to the database thread
            # instead of three, on every refresh of a running training.
            async with self._lock:
                updated = list(await self._conn.execute_fetchall(sql, params))
            return row_from_db(updated[0]) if updated else None
        async with self._tx() as db:  # the row comes back with the UPDATE: no second read
            updated = list(await db.execute_fetchall(sql, params))
            if not updated:
                return None
            if notice is not None and training.is_terminal:
                await self._enqueue(db, training.id, notice[0], notice[1])
        return row_from_db(updated[0])

    async def list_trainings(
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
            where.append(f"status NOT IN {_TERMINAL_SQL}")
        elif status == "ended":
            where.append(f"status IN {_TERMINAL_SQL}")
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
        return await self._fetch_rows(
            f"SELECT {_ROW_COLUMNS} FROM trainings {clause} "  # noqa: S608
            "ORDER BY created_at DESC, id LIMIT ?",
            params,
        )

    async def active_trainings(self) -> list[TrainingRow]:
        """Every training not known to have ended, oldest first."""
        return await self._fetch_rows(
            f"SELECT {_ROW_COLUMNS} FROM trainings "  # noqa: S608
            f"WHERE status NOT IN {_TERMINAL_SQL} ORDER BY created_at"
        )

    async def count_active(self, owner_id: int) -> int:
        sql = f"SELECT COUNT(*) FROM trainings WHERE owner_id = ? AND status NOT IN {_TERMINAL_SQL}"  # noqa: S608
        async with self._conn.execute(sql, (owner_id,)) as cur:
            rec = await cur.fetchone()
        return int(rec[0]) if rec else 0
