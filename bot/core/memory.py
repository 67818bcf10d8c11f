"""Giving freed memory back to the system after a burst of heavy work.

Why: a dataset check allocates and frees tens of MB (its sample, decoded images) from several
worker threads. glibc's malloc keeps what was freed in per-thread arenas, and raises its mmap
threshold after large frees, so after forty checks the process stayed hundreds of MB above idle
although nothing was in use. `malloc_trim(0)` hands the free pages back; elsewhere (musl,
macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any

from bot.core.log import get_logger

log = get_logger(__name__)


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def give_back() -> bool:
    """Return free heap pages to the system; True when glibc did (blocking: call it from a
    worker thread)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
