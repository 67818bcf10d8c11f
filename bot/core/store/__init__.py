"""The bot's SQLite memory: the store, its migrations, the notice outbox, pending
submissions, saved previews, and the plain records it hands out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "ProgressLike": "rows",
    "Store": "db",
    "TrainingRow": "rows",
    "Notice": "rows",
    "PendingSubmission": "rows",
    "utcnow": "rows",
    "config_dict": "rows",
    "Preview": "previews",
    "PreviewStore": "previews",
}
__all__ = [
    "Notice",
    "PendingSubmission",
    "Preview",
    "PreviewStore",
    "ProgressLike",
    "Store",
    "TrainingRow",
    "config_dict",
    "utcnow",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.store.db import Store
    from bot.core.store.previews import Preview, PreviewStore
    from bot.core.store.rows import (
        Notice,
        PendingSubmission,
        ProgressLike,
        TrainingRow,
        config_dict,
        utcnow,
    )
