"""A bounded line for heavy work (dataset checks, captioning runs): a few at once, the rest wait
in order and are told their place and roughly when their turn comes.

Why: each dataset check holds its sample (~12 MB) and decodes images while it runs. When a team
starts forty at once, running them all together only makes memory grow and every member wait
as long as the slowest; run `size` at a time and the early ones finish early while the later
ones know where they stand. The line knows nothing of Discord: a waiter passes `on_wait`, which
is called with its `Place` when it joins behind others and each time it moves up (never twice
at once for one waiter; when it lags behind, only the newest place is told).

The wait estimate comes from how long recent turns took (an average of the last few), shared out
over the turns in progress: good enough for "about a minute", which is all it claims.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from bot.core.log import get_logger
from bot.core.memory import give_back

log = get_logger(__name__)

DEFAULT_TURN_SECONDS = 20.0  # a remote check's usual length before any turn was timed
_REMEMBERED = 20  # turns whose durations the estimate averages


@dataclass(frozen=True)
class Place:
    """Where a waiter stands: `position` 1 means next; `starts_in` seconds, roughly."""

    position: int
    starts_in: float


OnWait = Callable[[Place], Awaitable[None]]


class _Waiter:
    def __init__(self, turn_id: int) -> None:
        self.id = turn_id
        self.turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.moved = asyncio.Event()


class Line:
    """At most `size` turns at once; the others wait first come, first served."""

    def __init__(
        self,
        size: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        turn_seconds: float = DEFAULT_TURN_SECONDS,
    ) -> None:
        if size < 1:
            raise ValueError("a line needs at least one place at the front")
        self.size = size
        self.clock = clock
        self._default = turn_seconds
        self._running: dict[int, float] = {}  # turn id -> when it started
        self._waiting: deque[_Waiter] = deque()
        self._durations: deque[float] = deque(maxlen=_REMEMBERED)
        self._next_id = 0
        self._trim: asyncio.Future[bool] | None = None

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def turn_seconds(self) -> float:
        """How long a turn usually takes (the recent average, or the default before any)."""
        if not self._durations:
            return self._default
        return sum(self._durations) / len(self._durations)

    def estimate(self, position: int) -> float:
        """Seconds until the waiter at `position` (1 = next) starts: each running turn is
        expected to take the usual time from when it began, each waiting one the usual time."""
        usual = self.turn_seconds()
        now = self.clock()
        frees = [max(0.0, started + usual - now) for started in self._running.values()]
        frees += [0.0] * (self.size - len(frees))
        heapq.heapify(frees)
        start = 0.0
        for _ in range(position):
            start = heapq.heappop(frees)
            heapq.heappush(frees, start + usual)
        return start

    def place_of(self, waiter: _Waiter) -> Place:
        position = self._waiting.index(waiter) + 1
        return Place(position, self.estimate(position))

    @asynccontextmanager
    async def turn(self, on_wait: OnWait | None = None) -> AsyncIterator[None]:
        """Wait for a turn (telling `on_wait` the place while waiting), then hold it."""
        turn_id = await self._join(on_wait)
        try:
            yield
        finally:
            self._leave(turn_id)

    async def _join(self, on_wait: OnWait | None) -> int:
        turn_id, self._next_id = self._next_id, self._next_id + 1
        if len(self._running) < self.size and not self._waiting:
            self._running[turn_id] = self.clock()
            return turn_id
        waiter = _Waiter(turn_id)
        self._waiting.append(waiter)
        teller = asyncio.create_task(self._tell(waiter, on_wait)) if on_wait else None
        try:
            await waiter.turn
        except BaseException:
            if waiter.turn.done() and not waiter.turn.cancelled():
                self._leave(turn_id, timed=False)  # granted as it was cancelled: pass it on
            else:
                self._remove(waiter)
            raise
        finally:
            if teller is not None:
                teller.cancel()
                with suppress(asyncio.CancelledError):
                    await teller
        return turn_id

    async def _tell(self, waiter: _Waiter, on_wait: OnWait) -> None:
        """Tell the waiter its place now and after each move, newest place only."""
        told: int | None = None
        while not waiter.turn.done():
            waiter.moved.clear()
            if waiter in self._waiting:
                place = self.place_of(waiter)
                if place.position != told:
                    told = place.position
                    try:
                        await on_wait(place)
                    except Exception:
                        log.exception("telling a waiter its place in line failed")
            await waiter.moved.wait()

    def _remove(self, waiter: _Waiter) -> None:
        with suppress(ValueError):
            self._waiting.remove(waiter)
        self._moved()

    def _leave(self, turn_id: int, *, timed: bool = True) -> None:
        """End a turn and give the freed places to the first waiters."""
        started = self._running.pop(turn_id, None)
        if started is not None and timed:
            self._durations.append(self.clock() - started)
        if not self._running and not self._waiting:
            self._release_memory()
        while self._waiting and len(self._running) < self.size:
            waiter = self._waiting.popleft()
            if waiter.turn.done():  # cancelled, not yet removed by its task
                continue
            self._running[waiter.id] = self.clock()
            waiter.turn.set_result(None)
        self._moved()

    def _release_memory(self) -> None:
        """The line is empty: what its turns freed goes back to the system (in a worker
        thread; trimming a large heap takes a few ms)."""
        loop = asyncio.get_running_loop()
        self._trim = loop.run_in_executor(None, give_back)

    def _moved(self) -> None:
        for waiter in self._waiting:
            waiter.moved.set()
