"""The team's finished trainings as estimate samples, read by the bot and by the CLI.

The bot reads them through its store (`Ledger.samples`); the CLI, which keeps no database
of its own, reads the bot's file when one is there (`SD35L_DATABASE`) so both front ends show
the same estimate. The CLI's read is read-only by construction: stdlib `sqlite3` with
`mode=ro` (no aiosqlite on the CLI's start-up path), no write, no lock held after it returns,
and any trouble (no file, a lock, a schema from before the ledger) means "no history": the
estimate falls back to the community figures rather than failing a command over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core.money.estimate import Sample

SAMPLE_LIMIT = 200  # the newest finished runs are enough to fit an estimate
SAMPLES_SQL = (
    "SELECT steps, batch_size, resolution, predict_time, images FROM ledger "
    "WHERE status = 'succeeded' AND predict_time IS NOT NULL AND steps IS NOT NULL "
    "AND batch_size IS NOT NULL AND resolution IS NOT NULL "
    "ORDER BY settled_at DESC LIMIT ?"
)
_BUSY_MS = 200  # a database the bot is writing right now is waited for this long, no more


def sample_of(rec: Any) -> Sample:
    """One row of SAMPLES_SQL (the image count is None on rows filed before it was kept)."""
    images = None if rec[4] is None else int(rec[4])
    return Sample(int(rec[0]), int(rec[1]), str(rec[2]), float(rec[3]), images)


def read_samples(path: Path, limit: int = SAMPLE_LIMIT) -> list[Sample]:
    """The finished trainings in the bot's database at `path`; [] when there is none to read."""
    try:
        return [sample_of(rec) for rec in read_rows(path, SAMPLES_SQL, (limit,))]
    except (TypeError, ValueError):
        return []  # odd values


def read_rows(path: Path, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows of one query on the bot's database at `path`, read-only; [] on any trouble."""
    try:
        if not path.is_file():
            return []
    except OSError:
        return []
    import sqlite3  # here, not above: most CLI runs have no database and skip the import

    try:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_MS / 1000)
    except (OSError, sqlite3.Error, ValueError):
        return []
    try:
        return list(conn.execute(sql, params).fetchall())
    except (sqlite3.Error, TypeError, ValueError):
        return []  # locked, not a database, no ledger (an older schema), odd values
    finally:
        conn.close()
