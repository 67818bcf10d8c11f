"""`Retry-After`, parsed once for every HTTP client here (the Replicate gateway and the
weights download): a number of seconds or an HTTP date (RFC 9110, section 10.2.3)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after(raw: str | None) -> float | None:
    """Seconds the server asked us to wait; None when absent or unusable; never negative."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        value = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(value) or math.isinf(value):
        return None
    return max(0.0, value)
