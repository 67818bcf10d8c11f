"""Crash tests: the bot runs as its own process, is SIGKILLed at a named point, and restarts on
the same database. One training per Start, the right owner, one notice per ending, one card per
training, and every interrupted Start settled and told."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.bot_support import LONG_STEPS, World, has_button, train_options
from tests.crash_support import BotProcess, kill_leftovers, poll
from tests.fakediscord import StoredMessage

pytestmark = pytest.mark.slow  # every test here spawns processes


@pytest.fixture(autouse=True)
def _no_leftover_bots() -> Iterator[None]:
    yield
    kill_leftovers()


def ended_dms(world: World, user: object) -> list[StoredMessage]:
    return [
        m for m in world.fd.dms(user) if m.embeds and m.embeds[0]["title"].startswith("Training ")
    ]


def cards_of(world: World) -> Counter[str]:
    """Cards per training id (a card's title ends with its training's id)."""
    return Counter(c.embeds[0]["title"].split()[-1] for c in world.cards())


def outbox(world: World) -> list[int]:
    """Per notice in the bot's database: 1 once marked delivered (read from another process)."""
    with contextlib.closing(sqlite3.connect(world.env["SD35L_DATABASE"])) as db:
        rows = db.execute("SELECT delivered_at IS NOT NULL FROM outbox ORDER BY id").fetchall()
    return [int(r[0]) for r in rows]


async def preview(world: World, user: object, **options: object) -> StoredMessage:
    res = await world.fd.slash("train", train_options(world, **options), user=user)
    return await res.wait_original(has_button("Start"), timeout=20)


async def test_interrupted_starts_are_told_or_adopted_for_their_own_starter(world: World) -> None:
    fd, sim = world.fd, world.sim
    # 1. Alice's Start is recorded, then the process dies before anything is sent.
    first = await BotProcess(world, "p1").start(crash_at="start-recorded")
    alice_preview = await preview(world, world.alice, steps=LONG_STEPS)
    bob_preview = await preview(world, world.bob, steps=LONG_STEPS)  # the very same config
    await fd.click(alice_preview, label="Start", user=world.alice)
    await first.killed()
    assert sim.trainings == {}

    # 2. After the restart Alice hears that nothing was submitted, with a Start button. Her
    #    click sends the create; the process dies after Replicate made it, before storing it.
    second = await BotProcess(world, "p2").start(crash_at="create-answered")
    await poll(lambda: bool(fd.dms(world.alice)), 15, "alice told")
    (told,) = fd.dms(world.alice)
    assert "nothing was submitted and nothing was charged" in told.text()
    assert has_button("Start")(told)
    await fd.click(told, label="Start", user=world.alice)
    await second.killed()
    (alices,) = sim.trainings

    # 3. Bob starts the identical config at once; the restarted bot adopts Alice's training
    #    for Alice (its marker proves it) and Bob gets his own.
    third = await BotProcess(world, "p3").start()
    click = await fd.click(bob_preview, label="Start", user=world.bob)
    await click.wait_original(lambda m: "Started training" in m.content, timeout=20)
    await poll(lambda: len(cards_of(world)) == 2, 20, "two cards")
    (bobs,) = set(sim.trainings) - {alices}
    for tid in (alices, bobs):
        sim.finish(tid, "succeeded")
    await poll(lambda: len(ended_dms(world, world.bob)) == 1, 20, "bob's notice")
    await poll(lambda: len(ended_dms(world, world.alice)) == 1, 20, "alice's notice")
    await third.stop()

    assert len(sim.trainings) == 2
    assert cards_of(world) == Counter({alices: 1, bobs: 1})
    owner = {c.embeds[0]["title"].split()[-1]: c.text() for c in world.cards()}
    assert f"<@{world.alice.id}>" in owner[alices] and f"<@{world.bob.id}>" in owner[bobs]
    assert alices in ended_dms(world, world.alice)[0].text()
    assert bobs in ended_dms(world, world.bob)[0].text()
    world.assert_clean()


async def test_a_notice_stored_by_discord_before_a_crash_is_not_sent_again(world: World) -> None:
    """Inside Discord's nonce window: the repeated send returns the earlier message."""
    fd, sim = world.fd, world.sim
    first = await BotProcess(world, "p1").start(crash_at="card-posted")
    start = await preview(world, world.alice, steps=LONG_STEPS)
    await fd.click(start, label="Start", user=world.alice)
    await first.killed()  # the card exists in Discord, the database does not know it
    (tid,) = sim.trainings
    assert cards_of(world) == Counter({tid: 1})

    sim.finish(tid, "failed")
    second = await BotProcess(world, "p2").start(crash_at="notice-sent")
    await second.killed()  # the DM exists in Discord, the outbox does not know it
    assert len(ended_dms(world, world.alice)) == 1

    third = await BotProcess(world, "p3").start()
    await poll(lambda: fd.nonce_hits >= 1, 20, "the notice sent again with its nonce")
    await poll(lambda: "failed" in world.cards()[0].text(), 20, "the card shows the ending")
    await poll(lambda: outbox(world) == [1], 20, "the notice marked delivered")
    await third.stop()
    assert len(ended_dms(world, world.alice)) == 1
    assert cards_of(world) == Counter({tid: 1})  # the earlier card was found, not doubled
    world.assert_clean()


async def test_outside_the_nonce_window_the_bot_looks_before_sending(world: World) -> None:
    """Discord forgot the nonce: the restarted bot reads the DM channel and finds its notice.
    The first crash hits a poll round right after the ending was stored."""
    fd, sim = world.fd, world.sim
    fd.nonce_window = 0.2
    first = await BotProcess(world, "p1").start(crash_at="ending-stored")
    start = await preview(world, world.alice, steps=LONG_STEPS)
    click = await fd.click(start, label="Start", user=world.alice)
    await click.wait_original(lambda m: "Started training" in m.content, timeout=20)
    (tid,) = sim.trainings
    sim.finish(tid, "succeeded")
    await first.killed()
    assert ended_dms(world, world.alice) == []

    second = await BotProcess(world, "p2").start(crash_at="notice-sent", nonce_trust=0.1)
    await second.killed()
    assert len(ended_dms(world, world.alice)) == 1

    third = await BotProcess(world, "p3").start(nonce_trust=0.1)
    await poll(lambda: "succeeded" in world.cards()[0].text(), 20, "the card shows the ending")
    dm_history = f"/channels/{fd.state.dm_channels[world.alice.id]}/messages"
    looked = lambda: any(r.method == "GET" and r.path == dm_history for r in fd.requests)  # noqa: E731
    await poll(looked, 20, "the DM channel read")
    await poll(lambda: outbox(world) == [1], 20, "the notice marked delivered")
    await third.stop()
    assert fd.nonce_hits == 0  # nothing was sent twice, not even for Discord to catch
    assert len(world.cards()) == 1
    assert len(ended_dms(world, world.alice)) == 1
    world.assert_clean()


async def test_a_create_that_lands_30_s_late_is_adopted_and_its_owner_corrected_once(
    world: World,
) -> None:
    """The bot dies while its create is still in flight; the restarted bot settles the Start as
    never submitted and says so. The create reaches Replicate 30 s late: the training carrying
    the Start's marker is adopted for its owner, who is told the correction exactly once,
    also across another restart, and it is in the ledger."""
    fd, sim = world.fd, world.sim
    sim.faults.create_commit_delay = 30.0
    first = await BotProcess(world, "p1").start()
    shown = await preview(world, world.alice)
    await fd.click(shown, label="Start", user=world.alice)
    await poll(lambda: sim.late_creates == 1, 20, "the create in flight")
    assert first.proc is not None
    first.proc.kill()  # the power goes while the request is out
    await first.killed()
    assert sim.trainings == {}

    second = await BotProcess(world, "p2").start()
    await poll(lambda: bool(fd.dms(world.alice)), 20, "alice told")
    assert "nothing was submitted and nothing was charged" in fd.dms(world.alice)[0].text()

    sim.commit_late_creates()  # ...and now, 30 s after it was sent, the create lands
    await poll(lambda: len(sim.trainings) == 1, 10, "the late training")
    (tid,) = sim.trainings

    def corrections() -> list[StoredMessage]:
        return [
            m
            for m in fd.dms(world.alice)
            if m.embeds and m.embeds[0]["title"].startswith("Correction")
        ]

    await poll(lambda: len(corrections()) == 1, 20, "the correction")
    text = corrections()[0].text()
    assert tid in text and "that was wrong" in text and "is billed" in text
    sim.finish(tid, "succeeded")
    await poll(lambda: len(ended_dms(world, world.alice)) == 1, 20, "alice's notice")
    await second.stop()
    third = await BotProcess(world, "p3").start()
    await poll(lambda: len(cards_of(world)) == 1, 20, "the adopted training's card")
    await asyncio.sleep(0.5)  # rounds of the restarted bot (SD35L_POLL_INTERVAL 0.05 s)
    await third.stop()

    assert len(corrections()) == 1 and len(ended_dms(world, world.alice)) == 1
    assert cards_of(world) == Counter({tid: 1})
    with contextlib.closing(sqlite3.connect(world.env["SD35L_DATABASE"])) as db:
        owner = db.execute("SELECT owner_id FROM trainings WHERE id = ?", (tid,)).fetchone()
        filed = db.execute("SELECT owner_id FROM ledger WHERE training_id = ?", (tid,)).fetchone()
        outcome = db.execute("SELECT outcome FROM pending_submissions").fetchone()
    assert owner == filed == (world.alice.id,) and outcome == ("adopted_late",)
    assert len(sim.trainings) == 1
    world.assert_clean()
