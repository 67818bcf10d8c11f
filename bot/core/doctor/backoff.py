"""Refusals in a row at start, remembered beside the database, so a container whose token is
wrong or refused does not restart every few seconds for ever.

`restart: unless-stopped` starts the bot again as soon as it exits. A wrong token stays wrong
until someone edits `.env` and recreates the container, and hammering Discord's login with it
can get the host's address blocked. So the bot waits before it exits, longer each time in a
row: the first refusal exits at once (a person at a terminal sees it immediately), then 30 s,
1 min, 2 min, … up to an hour. A good start forgets the count; so does a quiet day.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

DELAYS = (0.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
FORGET_AFTER = 6 * 3600.0  # a refusal this long after the previous one counts as the first


def refusals_path(database: Path) -> Path:
    database = database.expanduser()
    return database.with_name(database.name + ".refused")


@dataclass
class Refusals:
    """The count of refused starts in a row, kept in a small JSON file (no secret in it)."""

    path: Path

    def _read(self) -> tuple[int, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return int(data["count"]), float(data["last"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, 0.0

    def count(self) -> int:
        """Refused starts in a row so far (0: none, or a good start since)."""
        return self._read()[0]

    def record(self, now: float | None = None) -> int:
        """Count one more refusal; returns how many in a row (1 for the first)."""
        now = time.time() if now is None else now
        count, last = self._read()
        count = 1 if now - last > FORGET_AFTER else count + 1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"count": count, "last": now}), encoding="utf-8")
        except OSError:
            pass  # an unwritable folder: every start then counts as the first
        return count

    def clear(self) -> None:
        """A start got past the checks: the next refusal is a first one again."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass


def delay_for(count: int) -> float:
    """Seconds to wait before exiting after the `count`-th refusal in a row."""
    return DELAYS[min(max(count, 1), len(DELAYS)) - 1]


def _interactive() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


_sleep = time.sleep  # tests count the waits instead


def stop_refused(database: Path, message: str) -> NoReturn:
    """Exit 2 for a setting that is wrong or refused, after the wait this refusal in a row
    earns; at a terminal (a person, not a restart policy) at once."""
    print(f"Error: {message}", file=sys.stderr)
    count = Refusals(refusals_path(database)).record()
    delay = 0.0 if _interactive() else delay_for(count)
    if delay:
        print(
            f"This start was refused {count} times in a row: waiting {delay:.0f} s before "
            "exiting, so a restarting container does not hammer the service. Fix the setting, "
            "then restart (docker compose up -d). `sd35l-trainer doctor` checks everything.",
            file=sys.stderr,
        )
        _sleep(delay)
    raise SystemExit(2)
