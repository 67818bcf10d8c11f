"""Giving freed memory back to the system after a burst of heavy work.

Why: a dataset check allocates and frees tens of MB (its sample, decoded images) from several
worker threads. glibc's malloc keeps what was freed in per-thread arenas, and raises its mmap
threshold after large frees, so after forty checks the process stayed hundreds of MB above idle
although nothing was in use. `steady_heap` pins that threshold, so large buffers (samples,
directories, pickles) live in their own mappings and go back the moment they are freed;
`malloc_trim(0)` hands back the rest. Elsewhere (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 1024 * 1024  # blocks this large are mapped on their own, never kept in a heap


def steady_heap() -> bool:
    """Keep large blocks out of the heaps for good (setting the threshold stops glibc raising
    it after each large free); True when glibc took it. Called once at start-up, and in each
    dataset worker process."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def give_back() -> bool:
    """Return free heap pages to the system; True when glibc did (blocking: call it from a
    worker thread)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))


def freeze_survivors() -> None:
    """Leave everything alive now out of every later garbage collection.

    Why: once the bot is connected, its modules, classes, commands, settings and caches live
    to the end: hundreds of thousands of objects that every full collection would walk again.
    During a burst, full collections came every few seconds and took 50-60 ms each, stalling
    the event loop inside whatever callback happened to allocate. Frozen, they are skipped;
    collections walk only what was made since. `gc.freeze()` moves lists, so it costs nothing
    on the loop. Once per process: a second bot in the same process (tests) would otherwise
    freeze the first one's leftovers for good.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


_frozen = False
