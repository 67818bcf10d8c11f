"""One pace for all of this process's Replicate traffic: below the published rate limits, and
silent for as long as a 429's `Retry-After` asks.

Why: Replicate allows 3,000 requests a minute for reads (and other endpoints) and 600 a minute
for creates (its documentation), per account. The tracker, the Starts, /status and the
CLI each asked as fast as they liked, so a burst of Starts (each waking a round of every active
training) passed the limit and earned 429s for everyone. Every request to one API root now
takes a slot from the same `RateLimiter` first (`limiter_for`), whichever client sends it (the
official client's httpx hooks, the tracker's aiohttp read).

The pace is GCRA (a leaky bucket kept as one timestamp): slots are handed out in arrival order,
`burst` at once and then one every `60 / per_minute` seconds, so any 60-second window holds at
most `burst + per_minute` requests; the defaults keep that below the limits with room to spare
for clock differences. A 429 holds every slot until its `Retry-After` has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.http.retry import retry_after
from bot.core.log import get_logger

log = get_logger(__name__)

Kind = Literal["read", "create"]

READS_PER_MINUTE = 2700.0  # Replicate: 3,000 a minute for everything but creates
READ_BURST = 100
CREATES_PER_MINUTE = 500.0  # Replicate: 600 a minute for creates
CREATE_BURST = 20
MAX_HOLD = 300.0  # a Retry-After beyond this is not believed (a misconfigured proxy)


@dataclass
class _Pace:
    per_minute: float
    burst: int
    next_free: float = field(default=float("-inf"))  # GCRA's theoretical arrival time

    @property
    def step(self) -> float:
        return 60.0 / self.per_minute

    def reserve(self, now: float) -> float:
        """The moment the next request may go (now or later); books that slot."""
        tat = max(self.next_free, now)
        slot = max(tat - self.step * (self.burst - 1), now)
        self.next_free = tat + self.step
        return slot


class RateLimiter:
    """Slots for Replicate requests: `await acquire(kind)` before sending one."""

    def __init__(
        self,
        *,
        reads_per_minute: float = READS_PER_MINUTE,
        read_burst: int = READ_BURST,
        creates_per_minute: float = CREATES_PER_MINUTE,
        create_burst: int = CREATE_BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._paces: dict[Kind, _Pace] = {
            "read": _Pace(reads_per_minute, max(1, read_burst)),
            "create": _Pace(creates_per_minute, max(1, create_burst)),
        }
        self.clock = clock
        self.sleep = sleep
        self.held_until = float("-inf")
        self.waited = 0.0  # seconds callers spent waiting for a slot (benchmarks, logs)
        self.sent: dict[Kind, int] = {"read": 0, "create": 0}

    @property
    def reads_per_minute(self) -> float:
        return self._paces["read"].per_minute

    async def acquire(self, kind: Kind = "read") -> None:
        """Wait for this request's slot: its turn in the pace, and past any Retry-After."""
        now = self.clock()
        slot = max(self._paces[kind].reserve(now), self.held_until)
        self.sent[kind] += 1
        if slot > now:
            self.waited += slot - now
            await self.sleep(slot - now)
        while self.held_until > self.clock():  # a 429 arrived while this one waited
            await self.sleep(self.held_until - self.clock())

    def hold(self, seconds: float) -> None:
        """Replicate answered 429: no request goes before `seconds` (its Retry-After) pass."""
        wait = min(max(seconds, 0.0), MAX_HOLD)
        until = self.clock() + wait
        if until > self.held_until:
            log.warning("Replicate throttles (429): every request waits %.1fs", wait)
            self.held_until = until

    def throttled(self, retry_after: float | None, cap: float) -> None:
        """A 429: every request of the process waits out its `Retry-After` (up to `cap`, the
        longest the retries wait), not only the one that got it."""
        if retry_after is not None:
            self.hold(min(retry_after, cap))

    def httpx_hooks(self, cap: float) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
        """Event hooks that pace an httpx client's requests and note its 429s."""

        async def pace(request: Any) -> None:
            await self.acquire(kind_of(request.method, request.url.path))

        async def note(response: Any) -> None:
            if response.status_code == 429:
                self.throttled(retry_after(response.headers.get("Retry-After")), cap)

        return {"request": [pace], "response": [note]}


def kind_of(method: str, path: str) -> Kind:
    """Creating a training is a create; everything else counts as a read."""
    path = path.rstrip("/")
    if method.upper() == "POST" and path.endswith("/trainings"):
        return "create"
    return "read"


_SHARED: dict[str, RateLimiter] = {}


def limiter_for(base_url: str) -> RateLimiter:
    """The process's one limiter for the API root `base_url` (an account's limit is shared by
    every client of it; a second root, as in tests, is another service)."""
    key = base_url.rstrip("/")
    limiter = _SHARED.get(key)
    if limiter is None:
        limiter = _SHARED[key] = RateLimiter()
    return limiter
