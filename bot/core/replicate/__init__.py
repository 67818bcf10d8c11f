"""The only code that talks to Replicate: the gateway (official client, raw JSON), errors
mapped to actionable sentences, and the tolerant `Training` record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "ReplicateGateway": "gateway",
    "parse_time": "training",
    "Training": "training",
    "OutcomeUnknownError": "errors",
}
__all__ = ["OutcomeUnknownError", "ReplicateGateway", "Training", "parse_time"]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.replicate.errors import OutcomeUnknownError
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.replicate.training import Training, parse_time
