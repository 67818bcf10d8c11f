"""Container healthcheck: the bot is healthy while its tracker keeps touching a heartbeat file.

`python -m bot.health` exits 0 when the heartbeat beside the database is fresh, 1 otherwise.
The file holds nothing but a timestamp, so the check needs neither Discord nor the network.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bot.core.errors import SD35LError
from bot.core.settings import Settings, load_settings


def heartbeat_path(settings: Settings) -> Path:
    """Where the running bot records that its background loop is alive."""
    return settings.database.with_name(settings.database.name + ".heartbeat")


def touch_heartbeat(settings: Settings) -> None:
    path = heartbeat_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{time.time():.0f}\n", encoding="utf-8")


def is_healthy(settings: Settings, *, now: float | None = None) -> tuple[bool, str]:
    """Fresh means younger than four poll intervals (at least three minutes)."""
    path = heartbeat_path(settings)
    try:
        age = (now if now is not None else time.time()) - path.stat().st_mtime
    except OSError:
        missing = f"no heartbeat at {path}: the bot has not started its tracker"
        return False, missing + _refused(settings)
    limit = max(180.0, 4 * settings.poll_interval)
    if age > limit:
        return False, f"heartbeat is {age:.0f} s old (limit {limit:.0f} s)" + _refused(settings)
    return True, f"heartbeat {age:.0f} s old"


def _refused(settings: Settings) -> str:
    """Why a bot that never got going is down, when its last starts were refused."""
    from bot.core.doctor.backoff import Refusals, refusals_path

    count = Refusals(refusals_path(settings.database)).count()
    if not count:
        return ""
    return (
        f"; its last {count} start(s) were refused (a wrong or missing token or setting: the "
        "bot's log says which; `sd35l-trainer doctor` checks everything)"
    )


def main() -> int:
    try:
        ok, why = is_healthy(load_settings())
    except SD35LError as exc:
        ok, why = False, str(exc)
    print(why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
