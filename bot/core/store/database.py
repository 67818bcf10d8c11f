"""The bot's SQLite file: open it, migrate it, write to it one transaction at a time.

Background work is driven from the database, not from memory (RoboDanny's timers): after a
restart the tracker finds every unfinished training and every undelivered notice in this file.
Each table has its own small module (`trainings`, `cards`, `outbox`, `submissions`, `previews`,
`ledger`, `approvals`) built on a `Database`; `db.Store` opens one and holds them all. Secrets
never reach the file: configs are scrubbed on the way in.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.errors import SD35LError
from bot.core.log import get_logger
from bot.core.store.migrations import LATEST_VERSION, MIGRATIONS

log = get_logger(__name__)


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


class Database:
    """One connection per process; writes are serialised by a lock so transactions never mix."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
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
        db = cls(conn, path)
        try:
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await db._migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self._conn.close()

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

    # -- reading and writing -----------------------------------------------------------------

    @property
    def connection(self) -> aiosqlite.Connection:
        """The shared connection, for reads; writes go through `transaction`."""
        return self._conn

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Every row of a read, in one trip to the database thread (execute, fetch and close
        there): the tracker reads on every refresh, and each trip costs a thread hand-off."""
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def write_one(self, sql: str, params: Any) -> list[aiosqlite.Row]:
        """One statement, atomic on its own (autocommit), with its RETURNING rows: one trip
        instead of the three of a transaction, for the most frequent write."""
        async with self._lock:
            return list(await self._conn.execute_fetchall(sql, params))

    def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """One write transaction at a time within this process; other processes wait (busy)."""
        return self._tx()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
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
