"""The event-loop stall guard of the bot tests (the `loop_stalls` fixture in conftest.py):
asyncio's debug mode with a slow-callback threshold, failing a test whose bot blocked the loop.

Why: every acknowledgement waits behind whatever callback holds the loop, so a callback that
computes for 100 ms (planning a 5,000-image ZIP's sample, decoding an image, drawing a chart) is
a late answer for every member at that moment. asyncio's debug mode names each callback that
took longer than `loop.slow_callback_duration` (here `STALL_MS`); the guard collects those
warnings while the test runs.

Wall time alone would make the guard flaky: the project's CI box has 2 cores shared with other
jobs, and a callback preempted by another process for 30 ms did not block anything of its own.
So each slow callback's CPU time on the loop's thread is measured too (`time.thread_time`
around every callback), and only a callback that *computed* for `STALL_MS` or more is a stall.
Garbage collection is not counted either: a full collection walks every object of the whole
test session (100-200 ms of CPU late in a run), whichever callback happens to trigger it, and
the bot's own heap is a small part of that. Its time (`gc.callbacks`) is subtracted.

`STALL_PROFILE=1` prints a profile of each slow callback (run with `-s`).
A blocking sleep or a blocking read would not show as CPU; the product has none (the dataset
and weights downloads block only in worker threads).

The fake Discord, the Replicate simulator and the dataset servers share the test's loop; their
work is not the bot's (their JSON-schema checks of every request take 100 ms and more). A slow
callback is theirs when it steps a task whose coroutine was started by aiohttp's server (a
request being answered) or is defined under tests/; it is listed in `slow`, never a stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import os
import pstats
import sys
import threading
import time
import traceback
from asyncio import format_helpers
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

STALL_MS = 20.0  # the limit: no callback blocks the loop for more than 20 ms
# Under a tracer (coverage, as CI runs the suite) Python code runs about three times slower,
# so the same callbacks take three times the CPU; the limit scales with them. The planning
# stall this guard exists for (70-160 ms) is caught either way.
TRACED_FACTOR = 3.0


def stall_ms() -> float:
    """The CPU a callback may take here: `STALL_MS`, times `TRACED_FACTOR` under a tracer."""
    return STALL_MS * (TRACED_FACTOR if sys.gettrace() is not None else 1.0)


@dataclass
class Stall:
    callback: str
    wall_ms: float
    cpu_ms: float
    ours: bool = True  # the bot's work, not the loopback servers'


_NOT_THE_BOT = ("aiohttp/web_protocol.py", "aiohttp/web_", f"{os.sep}tests{os.sep}")


def _task_file(handle: Any) -> str:
    """The file of the coroutine a task-stepping callback runs ('' for other callbacks)."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    coro = task.get_coro() if isinstance(task, asyncio.Task) else None
    code = getattr(coro, "cr_code", None)
    return code.co_filename if code is not None else ""


@dataclass
class StallGuard(logging.Handler):
    """Collects the loop's slow callbacks; `stalls` are those that computed for STALL_MS."""

    loop: asyncio.AbstractEventLoop
    slow: list[Stall] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)  # with STALL_PROFILE=1
    _cpu_ms: float = 0.0
    _gc_ms: float = 0.0  # CPU spent collecting garbage during the current callback
    _gc_began: float = 0.0
    limit_ms: float = field(default_factory=stall_ms)
    _file: str = ""

    def __post_init__(self) -> None:
        logging.Handler.__init__(self, logging.WARNING)

    def __hash__(self) -> int:  # a logging handler is kept in sets
        return id(self)

    @property
    def stalls(self) -> list[Stall]:
        return [s for s in self.slow if s.ours and s.cpu_ms >= self.limit_ms]

    def emit(self, record: logging.LogRecord) -> None:
        # asyncio logs this right after the callback returned, on the loop's thread, so the
        # CPU time measured last is that callback's.
        if record.msg == "Executing %s took %.3f seconds" and record.args:
            handle, seconds = record.args  # type: ignore[misc]
            where = self._file
            ours = not any(part in where for part in _NOT_THE_BOT)
            self.slow.append(Stall(str(handle)[:300], seconds * 1000, self._cpu_ms, ours))

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # a worker thread's collection did not hold the loop
        if phase == "start":
            self._gc_began = time.thread_time()
        else:
            self._gc_ms += (time.thread_time() - self._gc_began) * 1000

    def timed_run(self, original: Any) -> Any:
        guard = self

        profile = os.environ.get("STALL_PROFILE") == "1"

        def run(handle: asyncio.Handle) -> None:
            profiler = cProfile.Profile() if profile else None
            guard._gc_ms = 0.0
            start = time.thread_time()
            if profiler is not None:
                profiler.enable()
            try:
                original(handle)
            finally:
                if profiler is not None:
                    profiler.disable()
                guard._cpu_ms = (time.thread_time() - start) * 1000 - guard._gc_ms
                if guard._cpu_ms >= guard.limit_ms:
                    guard._file = _task_file(handle)
                    if profiler is not None:
                        out = io.StringIO()
                        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
                        guard.profiles.append(out.getvalue())

        return run


@contextlib.contextmanager
def watching(loop: asyncio.AbstractEventLoop) -> Iterator[StallGuard]:
    """Debug mode with the `STALL_MS` threshold on `loop` while inside; restored after."""
    guard = StallGuard(loop)
    logger = logging.getLogger("asyncio")
    debug, threshold = loop.get_debug(), loop.slow_callback_duration
    original = asyncio.Handle._run
    asyncio.Handle._run = guard.timed_run(original)  # type: ignore[method-assign]
    # Debug mode also records where each task, future and handle was made: on Python 3.11 that
    # walk costs up to 30 ms of CPU a time on a deep stack, and it would count as the bot's.
    # The slow-callback timing needs none of it.
    stack = format_helpers.extract_stack
    format_helpers.extract_stack = lambda *_args, **_kw: traceback.StackSummary()
    gc.callbacks.append(guard.on_gc)
    logger.addHandler(guard)
    loop.set_debug(True)
    loop.slow_callback_duration = STALL_MS / 1000
    try:
        yield guard
    finally:
        loop.set_debug(debug)
        loop.slow_callback_duration = threshold
        logger.removeHandler(guard)
        asyncio.Handle._run = original  # type: ignore[method-assign]
        format_helpers.extract_stack = stack
        gc.callbacks.remove(guard.on_gc)


def assert_no_stalls(guard: StallGuard) -> None:
    """Fail when a callback of the bot computed for `STALL_MS` or more."""
    for text in guard.profiles:  # where the time went, when asked for
        print(text)
    stalls = guard.stalls
    limit = guard.limit_ms
    assert not stalls, f"the event loop was blocked (>= {limit:g} ms of CPU): " + "; ".join(
        f"{s.callback} ({s.cpu_ms:.0f} ms CPU, {s.wall_ms:.0f} ms)" for s in stalls
    )
