"""The bounded line of dataset checks and captioning runs, on its own (the Discord messages are
tested through the bot in test_bot_burst.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.line import Line, Place
from bot.core.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_at_most_size_run_and_the_rest_are_told_their_place() -> None:
    clock = Clock()
    line = Line(2, clock=clock, turn_seconds=30.0)
    release = {i: asyncio.Event() for i in range(5)}
    told: dict[int, list[Place]] = {i: [] for i in range(5)}
    order: list[int] = []

    async def member(i: int) -> None:
        async def tell(place: Place) -> None:
            told[i].append(place)

        async with line.turn(tell):
            order.append(i)
            await release[i].wait()

    tasks = [asyncio.create_task(member(i)) for i in range(5)]
    await settle()
    assert order == [0, 1] and line.running == 2 and line.waiting == 3
    assert told[0] == told[1] == []  # never waited, never told
    # Two running for 30 s each: the 1st waiter starts when one ends, the 3rd after two rounds.
    assert [p.position for i in (2, 3, 4) for p in told[i]] == [1, 2, 3]
    assert [told[i][-1].starts_in for i in (2, 3, 4)] == [30.0, 30.0, 60.0]

    clock.now += 10.0  # the first check took 10 s: the usual turn is now 10 s
    release[0].set()
    await settle()
    assert order == [0, 1, 2]
    assert [p.position for p in told[3]] == [2, 1] and [p.position for p in told[4]] == [3, 2]
    assert line.turn_seconds() == 10.0
    assert told[3][-1].starts_in == 0.0  # turn 1 began 10 s ago and usually takes 10 s

    for i in (1, 2, 3, 4):
        release[i].set()
    await asyncio.gather(*tasks)
    assert sorted(order) == [0, 1, 2, 3, 4] and line.running == 0 and line.waiting == 0


async def test_a_waiter_that_gives_up_leaves_the_line_and_others_move_up() -> None:
    line = Line(1)
    hold = asyncio.Event()
    told: list[int] = []

    async def first() -> None:
        async with line.turn():
            await hold.wait()

    async def quitter() -> None:
        async with line.turn():
            raise AssertionError("never its turn")  # pragma: no cover

    async def third() -> None:
        async def tell(place: Place) -> None:
            told.append(place.position)

        async with line.turn(tell):
            pass

    running = asyncio.create_task(first())
    await settle()
    gone = asyncio.create_task(quitter())
    await settle()
    last = asyncio.create_task(third())
    await settle()
    assert told == [2]
    gone.cancel()  # e.g. the interaction's handler was cancelled at shutdown
    await settle()
    assert told == [2, 1] and line.waiting == 1
    hold.set()
    await asyncio.gather(running, last)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert line.running == 0 and line.waiting == 0


async def test_a_failing_teller_does_not_lose_the_turn() -> None:
    line = Line(1)
    hold = asyncio.Event()

    async def tell(place: Place) -> None:
        raise RuntimeError("Discord is down")

    async def first() -> None:
        async with line.turn():
            await hold.wait()

    async def second() -> str:
        async with line.turn(tell):
            return "ran"

    a = asyncio.create_task(first())
    await settle()
    b = asyncio.create_task(second())
    await settle()
    hold.set()
    assert await b == "ran"
    await a


def test_the_size_comes_from_sd35l_max_checks_or_the_machine() -> None:
    assert load_settings(SD35L_MAX_CHECKS="3").check_slots == 3
    default = load_settings(SD35L_MAX_CHECKS="").check_slots
    assert 1 <= default <= 4
    with pytest.raises(Exception, match="SD35L_MAX_CHECKS"):
        load_settings(SD35L_MAX_CHECKS="0")
    with pytest.raises(ValueError):
        Line(0)
