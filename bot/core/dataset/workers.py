"""The dataset worker processes: where a large ZIP's directory is parsed and its sample planned
and judged (the functions are in `sampler`). The bot only sends bytes and gets results.

Why processes: that work is pure Python over thousands of directory entries; in a thread it
held the GIL against the event loop (see `sampler`).

Why several single-process workers, and a check holding one: a check asks twice, for its plan
and then for its judgement, and the worker keeps the directory it parsed for the plan (~0.2 s
of work for 5,000 captioned images) for the judgement, so both must reach the same process. A
check takes the least busy worker; a new one starts only while every running one is busy, up to
one per core (`MOST`). In a burst, one worker was the bottleneck: forty previews took 35 s where
the link needed 20.

Why at a lower priority: the workers are CPU-bound, and on a small machine they would take the
core the event loop needs to acknowledge members within Discord's 3 s. Niced, they get what the
loop leaves; that is nearly everything.

Why without numpy: Pillow 10.4 imports it for a type alias (`bot.core.pillow`), ~12 MB in each
worker, which never makes an array. The worker's imports stay small otherwise too: `sampler`
needs neither the network nor the settings.

They start with "spawn" (no fork of a process with threads and an event loop), on first use,
and stop when no check has used them for `IDLE_SECONDS`: their memory goes back to the system.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from bot.core.memory import steady_heap
from bot.core.pillow import import_pillow

T = TypeVar("T")
IDLE_SECONDS = 15.0  # workers unused this long are stopped
MOST = max(1, min(4, os.cpu_count() or 1))  # workers at once: one per core, at most four
NICE = 10  # how much lower than the bot the workers run


def _start() -> None:
    """Each worker's first act (its `initializer`), before it imports any of the dataset code."""
    import_pillow()
    steady_heap()
    try:
        os.nice(NICE)
    except OSError:  # pragma: no cover - a system that refuses; the worker still works
        pass


class Worker:
    """One worker process; `users` checks hold it."""

    def __init__(self) -> None:
        self.users = 0
        self.executor: ProcessPoolExecutor | None = None
        self.stopped = False
        self._starting: asyncio.Future[None] | None = None

    async def ready(self) -> None:
        """Started (once, however many checks wait for it; again after a failed start)."""
        if self._starting is None or (self._starting.done() and self._starting.exception()):
            self._starting = asyncio.ensure_future(asyncio.to_thread(self._start))
        await asyncio.shield(self._starting)

    def _start(self) -> None:
        """Start the process and wait for it: tens of ms, so in a worker thread."""
        executor = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_start
        )
        executor.submit(int).result()
        self.executor = executor
        if self.stopped:  # stopped while it started
            self.stop()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in this worker."""
        assert self.executor is not None
        call = functools.partial(fn, *args, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, call)
        except BrokenProcessPool:  # the process died (killed, out of memory): not again
            self.stop()
            if self in _workers:
                _workers.remove(self)
            raise

    def pid(self) -> int | None:
        processes: dict[int, Any] = getattr(self.executor, "_processes", None) or {}
        return next(iter(processes), None)

    def stop(self) -> None:
        self.stopped = True
        if self.executor is not None:
            self.executor.shutdown(wait=False)
            self.executor = None


_workers: list[Worker] = []
_idle_timer: asyncio.TimerHandle | None = None


@asynccontextmanager
async def dataset_worker() -> AsyncIterator[Worker]:
    """A worker for one check, held until the check is done."""
    global _idle_timer
    if _idle_timer is not None:
        _idle_timer.cancel()
        _idle_timer = None
    worker = min(_workers, key=lambda w: w.users, default=None)
    if worker is None or (worker.users and len(_workers) < MOST):
        worker = Worker()
        _workers.append(worker)
    worker.users += 1
    try:
        await worker.ready()
        yield worker
    finally:
        worker.users -= 1
        if not any(w.users for w in _workers):
            _idle_timer = asyncio.get_running_loop().call_later(IDLE_SECONDS, _stop_if_idle)


def _stop_if_idle() -> None:
    if not any(w.users for w in _workers):
        for worker in _workers:
            worker.stop()
        _workers.clear()


def worker_pids() -> list[int]:
    """The workers' processes (benchmarks count their memory as the bot's)."""
    return [pid for w in _workers if (pid := w.pid()) is not None]
