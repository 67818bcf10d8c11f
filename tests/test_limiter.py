"""The one Replicate rate limiter: the real replicate client (and the tracker's aiohttp read)
against the simulator, with the limiter's clock and sleep under the test's control, so the pace
is checked in the limiter's own time rather than by the wall clock."""

from __future__ import annotations

import asyncio
import bisect

import pytest

from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.limiter import Kind, RateLimiter, kind_of, limiter_for
from bot.sim import ReplicateSimulator
from tests.replicate_support import DATASET, make_settings


class FakeTime:
    """A clock that moves only when the limiter sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.woke: dict[object, float] = {}  # task -> the moment its last sleep ended

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.woke[asyncio.current_task()] = self.now + seconds
        self.now = max(self.now, self.now + seconds)
        await asyncio.sleep(0)


class Recording(RateLimiter):
    """The limiter, noting on its clock when each request was let go."""

    def __init__(self, time: FakeTime, **kwargs: float) -> None:
        super().__init__(clock=time.clock, sleep=time.sleep, **kwargs)  # type: ignore[arg-type]
        self.time = time
        self.let_go: list[float] = []

    async def acquire(self, kind: Kind = "read") -> None:
        before = self.clock()
        await super().acquire(kind)
        self.let_go.append(round(self.time.woke.pop(asyncio.current_task(), before), 6))


def paced(time: FakeTime, **kwargs: float) -> Recording:
    return Recording(time, **kwargs)


def gateway(
    replicate_sim: ReplicateSimulator, limiter: RateLimiter, **kwargs: float
) -> ReplicateGateway:
    options = {"backoff_base": 0.001, "max_backoff": 2.0, **kwargs}
    return ReplicateGateway(make_settings(replicate_sim.base_url), limiter=limiter, **options)  # type: ignore[arg-type]


async def test_reads_are_paced_after_the_burst(replicate_sim: ReplicateSimulator) -> None:
    time = FakeTime()
    limiter = paced(time, reads_per_minute=600, read_burst=2)  # one read every 0.1 s
    training = replicate_sim.create_training(
        "alice/lora", {"input_images": DATASET, "trigger_word": "T"}
    )
    async with gateway(replicate_sim, limiter) as gw:
        await asyncio.gather(
            *(gw.check_token() for _ in range(3)),
            *(gw.get_training(training.id) for _ in range(3)),  # the tracker's aiohttp read
        )
    assert len([r for r in replicate_sim.requests if r.method == "GET"]) == 6
    # Two at once (the burst), then one every 0.1 s, whichever client sends it.
    assert sorted(limiter.let_go) == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3, 0.4])
    assert limiter.sent == {"read": 6, "create": 0}


async def test_creates_have_their_own_pace(replicate_sim: ReplicateSimulator) -> None:
    time = FakeTime()
    limiter = paced(time, reads_per_minute=6000, read_burst=100, creates_per_minute=60,
                    create_burst=1)  # fmt: skip
    async with gateway(replicate_sim, limiter) as gw:
        for trigger in ("A", "B"):
            await gw.create_training(
                "alice/lora", {"input_images": DATASET, "trigger_word": trigger}
            )
    assert limiter.sent["create"] == 2
    assert time.sleeps == [pytest.approx(1.0)]  # the second create waited its second


async def test_a_429s_retry_after_holds_every_request_of_the_process(
    replicate_sim: ReplicateSimulator,
) -> None:
    time = FakeTime()
    limiter = paced(time)  # the production pace: nothing waits for it here
    training = replicate_sim.create_training(
        "alice/lora", {"input_images": DATASET, "trigger_word": "T"}
    )
    replicate_sim.faults.retry_after = 0.3
    replicate_sim.faults.read_statuses = [429]
    async with (
        gateway(replicate_sim, limiter) as tracker_side,
        gateway(replicate_sim, limiter) as command_side,
    ):
        read = asyncio.create_task(tracker_side.get_training(training.id))  # answered 429
        while limiter.held_until < 0:  # noqa: ASYNC110  (until the 429 has been seen)
            await asyncio.sleep(0.005)
        assert limiter.held_until == pytest.approx(0.3)
        assert await command_side.check_token() == "alice"  # another client, same process
        assert time.sleeps == [pytest.approx(0.3)]  # it waited out the Retry-After
        assert (await read).id == training.id  # the retry: the hold had passed, no more wait
    assert time.sleeps == [pytest.approx(0.3)]
    paths = [r.path for r in replicate_sim.requests if r.method == "GET"]
    assert paths == [f"/v1/trainings/{training.id}", "/v1/account", f"/v1/trainings/{training.id}"]


async def test_a_429_from_the_official_client_holds_too(replicate_sim: ReplicateSimulator) -> None:
    time = FakeTime()
    limiter = paced(time)
    replicate_sim.faults.retry_after = 0.2
    replicate_sim.faults.read_statuses = [429]
    async with gateway(replicate_sim, limiter) as gw:
        assert await gw.check_token() == "alice"  # 429 first, then the answer
    assert limiter.held_until == pytest.approx(0.2)
    assert time.sleeps == [pytest.approx(0.2)]  # the retry itself waited in the limiter too


def test_one_limiter_per_api_root_and_kinds() -> None:
    assert limiter_for("https://api.replicate.com/") is limiter_for("https://api.replicate.com")
    assert limiter_for("http://127.0.0.1:1") is not limiter_for("http://127.0.0.1:2")
    assert kind_of("POST", "/v1/models/a/b/versions/v/trainings") == "create"
    assert kind_of("POST", "/v1/trainings/x/cancel") == "read"
    assert kind_of("GET", "/v1/trainings") == "read"


async def test_no_60_second_window_holds_more_than_the_limit() -> None:
    time = FakeTime()
    limiter = paced(time)  # 2,700 a minute after a burst of 100
    sent = []
    for _ in range(6000):
        await limiter.acquire("read")
        sent.append(time.now)
    busiest = max(bisect.bisect_left(sent, sent[i] + 60.0) - i for i in range(0, len(sent), 10))
    assert 2700 <= busiest < 3000
