"""The checks that need no network: the database file, the data folder, the clock.

The database is opened read-only (stdlib `sqlite3`, `mode=ro`): `doctor` may run beside the
running bot and must not migrate or lock its file. The data folder is proven writable by
writing to it, not by reading mode bits: root ignores those, and a volume mounted read-only
or a path under a file fails only when written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from bot.core.doctor.report import ChecklistLine, bad, good
from bot.core.store.migrations import LATEST_VERSION

AREA = "Local"
MIN_FREE_BYTES = 200 * 1024 * 1024  # the database, its WAL and datasets staged for upload
CLOCK_TOLERANCE = 5.0  # seconds; `Date` has whole seconds, so this allows ~4 s of real skew
BACKUP_HINT = "back the file up first (docs/deploy.md, Backing up)"
FOLDER_FIX = (
    "set SD35L_DATABASE to a file in a folder this user can write (with Docker, keep the "
    "volume mounted at /app/data and owned by uid 10001: docs/deploy.md)"
)


def _gb(count: int) -> str:
    return f"{count / 1024**3:.1f} GB"


def check_data_folder(database: Path) -> ChecklistLine:
    """Create the folder if needed, write and delete a file in it, and look at free space."""
    folder = database.expanduser().absolute().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".sd35l-doctor-") as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return bad(AREA, f"the data folder {folder} is not writable ({reason}).", FOLDER_FIX)
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        return bad(
            AREA,
            f"the data folder {folder} has only {free // 1024**2} MB free.",
            f"free at least {MIN_FREE_BYTES // 1024**2} MB on that disk, or move SD35L_DATABASE "
            "to a larger one (copy the database with a backup first: docs/deploy.md).",
        )
    return good(AREA, f"the data folder {folder} is writable ({_gb(free)} free).")


def check_database(database: Path) -> ChecklistLine:
    """Opens, is intact, and has the schema this release writes (no pending migrations)."""
    path = database.expanduser().absolute()
    if not path.exists():
        return good(
            AREA,
            f"the database {path} does not exist yet; the bot creates it at its first start.",
        )
    import sqlite3

    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=2.0)
    except (sqlite3.Error, OSError) as exc:
        return bad(AREA, f"the database {path} does not open ({exc}).", FOLDER_FIX)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = 0
        if "schema_version" in tables:
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = int(row[0]) if row and row[0] is not None else 0
        check = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        return bad(
            AREA,
            f"the database {path} cannot be read ({exc}).",
            "restore it from a backup (docs/deploy.md, Restoring), or point SD35L_DATABASE at "
            "the right file.",
        )
    finally:
        conn.close()
    if check is None or check[0] != "ok":
        return bad(
            AREA,
            f"the database {path} is damaged (integrity check: {check[0] if check else '?'}).",
            "stop the bot and restore the newest backup (docs/deploy.md, Restoring).",
        )
    if version > LATEST_VERSION:
        return bad(
            AREA,
            f"the database {path} has schema version {version}, newer than this "
            f"sd35l-trainer knows ({LATEST_VERSION}).",
            "upgrade sd35l-trainer to the release that wrote it (docs/deploy.md, Upgrading).",
        )
    if version < LATEST_VERSION:
        return bad(
            AREA,
            f"the database {path} has schema version {version}; this sd35l-trainer needs "
            f"{LATEST_VERSION} (migrations pending).",
            f"{BACKUP_HINT}, then restart the bot: it migrates the file at start.",
        )
    return good(AREA, f"the database {path} opens, is intact and is at schema version {version}.")


def clock_skew(date_header: str, received: datetime) -> float | None:
    """Seconds the service's clock is ahead of ours (negative: behind); None if unreadable.

    `Date` is truncated to the second, so the service's time lies in [Date, Date + 1 s): the
    middle of that second is the best estimate."""
    try:
        said = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if said.tzinfo is None:
        return None
    return (said - received).total_seconds() + 0.5


def check_clock(service: str, date_header: str | None, received: datetime) -> ChecklistLine | None:
    """The local clock against one service's `Date`; None when it sent no usable date."""
    if not date_header:
        return None
    skew = clock_skew(date_header, received)
    if skew is None:
        return None
    if abs(skew) <= CLOCK_TOLERANCE:
        return good(AREA, f"the clock agrees with {service}'s (within {CLOCK_TOLERANCE:.0f} s).")
    side = "behind" if skew > 0 else "ahead of"
    return bad(
        AREA,
        f"the clock is {abs(skew):.0f} s {side} {service}'s; the exactly-once timings "
        "(Discord's repeat window, Replicate's lookup of a lost create) depend on it.",
        "synchronise the host's clock (turn on NTP: `timedatectl set-ntp true`; a container "
        "uses its host's clock).",
    )
