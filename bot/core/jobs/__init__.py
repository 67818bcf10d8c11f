"""The training lifecycle: submit, refresh, cancel, reconcile (`JobService`), and the
background `Tracker` that polls, edits cards and delivers notices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "NotAllowedError": "service",
    "recent_tail": "service",
    "ended_payload": "service",
    "JobService": "service",
    "CardResult": "tracker",
    "Notifier": "tracker",
    "RoundReport": "tracker",
    "Tracker": "tracker",
}
__all__ = [
    "CardResult",
    "JobService",
    "NotAllowedError",
    "Notifier",
    "RoundReport",
    "Tracker",
    "ended_payload",
    "recent_tail",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.jobs.service import JobService, NotAllowedError, ended_payload, recent_tail
    from bot.core.jobs.tracker import CardResult, Notifier, RoundReport, Tracker
