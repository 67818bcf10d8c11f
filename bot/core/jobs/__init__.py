"""The training lifecycle: submit, refresh, cancel, reconcile (`JobService`), who may start or
cancel (`rights`), and the background `Tracker` that polls, edits cards and delivers notices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "NotAllowedError": "rights",
    "may_start": "rights",
    "require_start": "rights",
    "is_manager": "rights",
    "require_cancel": "rights",
    "not_tracked": "rights",
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
    "is_manager",
    "may_start",
    "not_tracked",
    "recent_tail",
    "require_cancel",
    "require_start",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.jobs.rights import (
        NotAllowedError,
        is_manager,
        may_start,
        not_tracked,
        require_cancel,
        require_start,
    )
    from bot.core.jobs.service import JobService, ended_payload, recent_tail
    from bot.core.jobs.tracker import CardResult, Notifier, RoundReport, Tracker
