"""The background tracker against the real gateway and the simulator, with a fake Notifier:
exactly one notice per training across restarts and failed deliveries, throttled card edits,
deleted cards left alone, one broken training never stopping the others, 429 back-off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.errors import ServiceError
from bot.core.jobs.service import JobService
from bot.core.jobs.tracker import CardResult, Tracker
from bot.core.settings import Settings
from bot.core.store.rows import Notice, TrainingRow
from bot.sim import ReplicateSimulator
from tests.jobs_support import LONG, OWNER, Process, config, make_settings, start_process

# The bot is built for 200 active trainings; 100 prove "one request per training and round"
# at half the test time (the simulator answers ~20 ms a request on a loaded CI machine).
N_MANY = 100


class FakeNotifier:
    """Records every call; results can be scripted per training."""

    def __init__(self) -> None:
        self.edits: list[tuple[str, str, int | None]] = []
        self.attempts: list[tuple[str, int]] = []
        self.delivered: list[tuple[str, str]] = []
        self.card_results: dict[str, list[CardResult]] = {}
        self.refuse: dict[str, int] = {}  # training id -> how many deliveries to refuse
        self.raise_on_card: set[str] = set()
        self.delivered_event = asyncio.Event()

    async def update_card(self, row: TrainingRow) -> CardResult:
        if row.id in self.raise_on_card:
            raise RuntimeError("discord exploded")
        self.edits.append((row.id, row.status, row.step))
        script = self.card_results.get(row.id)
        return script.pop(0) if script else CardResult.OK

    async def deliver_notice(self, row: TrainingRow, notice: Notice) -> bool:
        self.attempts.append((row.id, notice.id))
        if self.refuse.get(row.id, 0) > 0:
            self.refuse[row.id] -= 1
            if self.refuse[row.id] % 2:
                raise RuntimeError("gateway down")
            return False
        self.delivered.append((row.id, str(notice.payload["status"])))
        self.delivered_event.set()
        return True


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def proc(settings: Settings) -> AsyncIterator[Process]:
    process = await start_process(settings)
    yield process
    await process.close()


def make_tracker(
    proc: Process, notifier: FakeNotifier, settings: Settings, **kw: object
) -> Tracker:
    kw.setdefault("card_edit_interval", 0.0)
    return Tracker(proc.jobs, proc.store, notifier, settings, **kw)  # type: ignore[arg-type]


async def rounds_until_delivered(tracker: Tracker, notifier: FakeNotifier, n: int = 1) -> None:
    for _ in range(2000):
        await tracker.run_once()
        if len(notifier.delivered) >= n:
            return
        await asyncio.sleep(0.002)
    raise AssertionError("notice never delivered")


async def submit_with_card(
    proc: Process, settings: Settings, steps: int = 40, owner: int = OWNER
) -> TrainingRow:
    row = await proc.jobs.submit(owner, 1, 77, config(settings, steps=steps))
    await proc.store.cards.set(row.id, 77, 9000 + len(row.id))
    return row


async def test_submit_to_success_one_notice_and_final_card(
    settings: Settings, proc: Process
) -> None:
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)
    row = await submit_with_card(proc, settings)
    await rounds_until_delivered(tracker, notifier)
    assert notifier.delivered == [(row.id, "succeeded")]
    assert notifier.edits[-1][1] == "succeeded"
    for _ in range(3):
        report = await tracker.run_once()
        assert report.active == 0 and report.notices_delivered == 0
    assert notifier.delivered == [(row.id, "succeeded")]
    assert [e for e in notifier.edits if e[1] == "succeeded"] == [notifier.edits[-1]]
    stored = await proc.store.trainings.get(row.id)
    assert stored is not None and stored.card_status == "succeeded"


async def test_restart_one_notice_across_two_processes(
    jobs_sim: ReplicateSimulator, settings: Settings
) -> None:
    notifier = FakeNotifier()
    first = await start_process(settings)
    row = await submit_with_card(first, settings, steps=LONG)
    await make_tracker(first, notifier, settings).run_once()
    await first.close()
    jobs_sim.finish(row.id, "failed")
    second = await start_process(settings)
    try:
        await second.jobs.reconcile()
        tracker = make_tracker(second, notifier, settings)
        await tracker.run_once()
        await tracker.run_once()
    finally:
        await second.close()
    assert notifier.delivered == [(row.id, "failed")]
    assert notifier.edits[-1][:2] == (row.id, "failed")


@pytest.mark.parametrize("refused_once", [False, True])
async def test_crash_after_enqueue_before_delivery(
    jobs_sim: ReplicateSimulator, settings: Settings, refused_once: bool
) -> None:
    notifier = FakeNotifier()
    first = await start_process(settings)
    row = await submit_with_card(first, settings, steps=LONG)
    jobs_sim.finish(row.id, "canceled")
    await first.jobs.refresh(row.id)  # the ending is seen and its notice enqueued...
    if refused_once:  # ...Discord refused the notice once (deliver_notice returned False)...
        notifier.refuse[row.id] = 1
        notifier.raise_on_card.add(row.id)
        await make_tracker(first, notifier, settings).run_once()
        notifier.refuse[row.id] = 0
        notifier.raise_on_card.clear()
        [pending] = await first.store.outbox.undelivered()
        assert pending.attempts == 1
    await first.close()  # ...and the process dies before the tracker delivers it
    assert notifier.delivered == []
    second = await start_process(settings)
    try:
        await second.jobs.reconcile()
        tracker = make_tracker(second, notifier, settings)
        report = await tracker.run_once()
        assert report.notices_delivered == 1 and report.cards_edited == 1
        await tracker.run_once()
    finally:
        await second.close()
    assert notifier.delivered == [(row.id, "canceled")]
    assert notifier.edits == [(row.id, "canceled", notifier.edits[0][2])]


async def test_refused_delivery_is_retried_until_accepted(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)
    row = await submit_with_card(proc, settings, steps=LONG)
    notifier.refuse[row.id] = 2  # one raise, one False
    jobs_sim.finish(row.id, "succeeded")
    first = await tracker.run_once()
    assert first.notices_failed == 1 and notifier.delivered == []
    second = await tracker.run_once()
    assert second.notices_failed == 1
    [notice] = await proc.store.outbox.undelivered()
    assert notice.attempts == 2 and notice.last_error
    third = await tracker.run_once()
    assert third.notices_delivered == 1
    await tracker.run_once()
    assert notifier.delivered == [(row.id, "succeeded")]
    assert len(notifier.attempts) == 3


async def test_deleted_card_is_never_edited_again(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)
    row = await submit_with_card(proc, settings, steps=LONG)
    notifier.card_results[row.id] = [CardResult.GONE]
    await tracker.run_once()
    assert len(notifier.edits) == 1
    stored = await proc.store.trainings.get(row.id)
    assert stored is not None and stored.card_gone
    await tracker.run_once()
    jobs_sim.finish(row.id, "succeeded")
    await rounds_until_delivered(tracker, notifier)
    assert len(notifier.edits) == 1  # not even the final one
    assert notifier.delivered == [(row.id, "succeeded")]  # the owner is still told


async def test_card_edits_are_throttled_but_the_ending_is_immediate(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    clock = FrozenClock()
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings, clock=clock, card_edit_interval=15.0)
    row = await submit_with_card(proc, settings, steps=LONG)
    await tracker.run_once()
    assert len(notifier.edits) == 1
    for _ in range(5):
        await asyncio.sleep(0.01)  # progress moves on in the simulator
        await tracker.run_once()
    assert len(notifier.edits) == 1  # the clock did not move: no edit within 15 s
    clock.now += 15.0
    for _ in range(50):
        await asyncio.sleep(0.01)
        await tracker.run_once()
        if len(notifier.edits) == 2:
            break
    assert len(notifier.edits) == 2 and notifier.edits[1][1] == "processing"
    jobs_sim.finish(row.id, "succeeded")
    await tracker.run_once()  # the ending: edited at once despite the throttle
    assert len(notifier.edits) == 3 and notifier.edits[2][1] == "succeeded"


async def test_retry_card_result_finishes_next_round(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)
    row = await submit_with_card(proc, settings, steps=LONG)
    jobs_sim.finish(row.id, "aborted")
    notifier.card_results[row.id] = [CardResult.RETRY]
    await tracker.run_once()
    stored = await proc.store.trainings.get(row.id)
    assert stored is not None and stored.card_status != "aborted"
    await tracker.run_once()  # the final edit is retried from the database
    stored = await proc.store.trainings.get(row.id)
    assert stored is not None and stored.card_status == "aborted"
    await tracker.run_once()
    assert [e[1] for e in notifier.edits] == ["aborted", "aborted"]


async def test_one_bad_training_does_not_stop_the_others(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)
    await proc.store.trainings.add(TrainingRow(id="unknown404", owner_id=1, destination="a/b"))
    exploding = await submit_with_card(proc, settings, steps=LONG)
    good = await submit_with_card(proc, settings, steps=LONG)
    notifier.raise_on_card.add(exploding.id)
    jobs_sim.finish(good.id, "succeeded")
    jobs_sim.finish(exploding.id, "succeeded")

    original = proc.jobs.refresh

    async def refresh(training_id: str, row: TrainingRow | None = None) -> TrainingRow:
        if training_id == "boom":
            raise RuntimeError("unexpected")
        return await original(training_id, row)

    proc.jobs.refresh = refresh  # type: ignore[method-assign]
    await proc.store.trainings.add(TrainingRow(id="boom", owner_id=1, destination="a/b"))
    report = await tracker.run_once()
    assert report.failed == 2 and report.refreshed == 2
    assert sorted(notifier.delivered) == sorted(
        [(good.id, "succeeded"), (exploding.id, "succeeded")]
    )


class ThrottledJobs(JobService):
    """Replicate answering 429 (after the gateway's own retries) for the first N refreshes."""

    def __init__(self, base: JobService, throttled: int) -> None:
        super().__init__(base.store, base.gateway, base.settings)
        self.throttled = throttled
        self.calls = 0

    async def refresh(self, training_id: str, row: TrainingRow | None = None) -> TrainingRow:
        self.calls += 1
        if self.throttled > 0:
            self.throttled -= 1
            raise ServiceError("Replicate kept throttling requests (429).", status=429)
        return await super().refresh(training_id, row)


async def test_429_skips_the_round_and_backs_off(settings: Settings, proc: Process) -> None:
    for owner in range(3):
        await submit_with_card(proc, settings, steps=LONG, owner=owner)
    jobs = ThrottledJobs(proc.jobs, throttled=2)
    notifier = FakeNotifier()
    tracker = Tracker(
        jobs,
        proc.store,
        notifier,
        settings,
        concurrency=1,
        max_interval=0.03,
        reads_per_minute=float("inf"),  # only the 429 stretches the period here
    )
    report = await tracker.run_once()
    assert report.throttled and report.refreshed == 0 and report.skipped == 3
    assert jobs.calls == 1 and tracker.interval == pytest.approx(0.02)
    await tracker.run_once()
    assert tracker.interval == pytest.approx(0.03)  # doubled, capped
    report = await tracker.run_once()
    assert not report.throttled and report.refreshed == 3
    assert tracker.interval == settings.poll_interval


async def test_service_errors_other_than_429_do_not_back_off(
    settings: Settings, proc: Process
) -> None:
    await submit_with_card(proc, settings, steps=LONG)

    class Broken(JobService):
        async def refresh(self, training_id: str, row: TrainingRow | None = None) -> TrainingRow:
            raise ServiceError("Replicate had a server error (HTTP 500).", status=500)

    tracker = Tracker(
        Broken(proc.store, proc.gateway, settings), proc.store, FakeNotifier(), settings
    )
    report = await tracker.run_once()
    assert report.failed == 1 and not report.throttled
    assert tracker.interval == tracker.period.paced(1)  # not doubled


async def test_store_failure_is_logged_and_the_round_goes_on(
    settings: Settings, proc: Process
) -> None:
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)

    async def broken() -> list[TrainingRow]:
        raise RuntimeError("database is locked")

    proc.store.trainings.active = broken  # type: ignore[method-assign]
    report = await tracker.run_once()
    assert report.active == 0


async def test_run_forever_start_stop_and_wake(
    jobs_sim: ReplicateSimulator, tmp_path: Path
) -> None:
    slow = make_settings(jobs_sim, tmp_path, SD35L_POLL_INTERVAL=30)
    proc = await start_process(slow)
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, slow)
    try:
        task = tracker.start()
        assert tracker.start() is task  # idempotent
        row = await submit_with_card(proc, slow, steps=LONG)
        jobs_sim.finish(row.id, "succeeded")
        tracker.wake()  # no 30 s wait: the cog wakes it after a submit or a cancel
        await asyncio.wait_for(notifier.delivered_event.wait(), 10)
        assert notifier.delivered == [(row.id, "succeeded")]
        await tracker.stop()
        assert task.done()
        await tracker.stop()  # stopping twice is harmless
    finally:
        await proc.close()


async def test_run_forever_with_external_stop_event(settings: Settings, proc: Process) -> None:
    tracker = make_tracker(proc, FakeNotifier(), settings)
    stop = asyncio.Event()
    task = asyncio.create_task(tracker.run_forever(stop))
    for _ in range(1000):
        if tracker.rounds >= 3:
            break
        await asyncio.sleep(0.005)
    assert tracker.rounds >= 3
    stop.set()
    await asyncio.wait_for(task, 5)


class StuckCards(FakeNotifier):
    """A card edit that never returns (Discord's per-channel rate limit, a hung request)."""

    def __init__(self) -> None:
        super().__init__()
        self.card_calls = 0

    async def update_card(self, row: TrainingRow) -> CardResult:
        self.card_calls += 1
        await asyncio.sleep(3600)
        return CardResult.OK


async def test_a_stuck_card_edit_does_not_hold_back_the_notice(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    notifier = StuckCards()
    tracker = make_tracker(proc, notifier, settings, card_wait=0.01)
    row = await submit_with_card(proc, settings, steps=LONG)
    jobs_sim.finish(row.id, "succeeded")
    report = await tracker.run_once()
    assert report.notices_delivered == 1 and notifier.delivered == [(row.id, "succeeded")]
    await tracker.run_once()
    assert notifier.card_calls == 1  # never two edits of one card in flight
    await tracker.stop()  # cancels the hung edit


async def test_stop_cancels_a_stuck_round(settings: Settings, proc: Process) -> None:
    class StuckDelivery(FakeNotifier):
        def __init__(self) -> None:
            super().__init__()
            self.stuck = asyncio.Event()

        async def deliver_notice(self, row: TrainingRow, notice: Notice) -> bool:
            self.stuck.set()
            await asyncio.sleep(3600)
            return True

    row = await submit_with_card(proc, settings, steps=LONG)
    await proc.jobs.cancel(row.id, OWNER, is_manager=False)
    notifier = StuckDelivery()
    tracker = make_tracker(proc, notifier, settings)
    task = tracker.start()
    await asyncio.wait_for(notifier.stuck.wait(), timeout=30)  # the round is stuck now
    await tracker.stop(grace=0.05)
    assert task.done()


async def test_many_active_trainings_one_request_each(
    jobs_sim: ReplicateSimulator, tmp_path: Path
) -> None:
    many = make_settings(jobs_sim, tmp_path, SD35L_MAX_ACTIVE_PER_USER=1000)
    proc = await start_process(many)
    try:
        for i in range(N_MANY):
            made = jobs_sim.create_training("alice/lora", {"steps": 20, "trigger_word": f"T{i}"})
            await proc.store.trainings.add(
                TrainingRow(id=made.id, owner_id=i, destination="alice/lora")
            )
        tracker = make_tracker(proc, FakeNotifier(), many)
        before = proc.gateway.requests_made
        report = await tracker.run_once()
        assert report.refreshed == N_MANY and report.failed == 0
        assert proc.gateway.requests_made - before == N_MANY
    finally:
        await proc.close()


async def test_an_ending_is_told_without_waiting_for_the_rest_of_the_round(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With hundreds of trainings a round takes seconds: the owner of one that ended is told
    as soon as it is seen, while other refreshes of the same round are still waiting."""
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)
    ended = await submit_with_card(proc, settings, steps=LONG)
    slow = await submit_with_card(proc, settings, steps=LONG)
    jobs_sim.finish(ended.id, "succeeded")
    release = asyncio.Event()
    refresh = proc.jobs.refresh

    async def held_refresh(training_id: str, row: TrainingRow | None = None) -> TrainingRow:
        if training_id == slow.id:
            await release.wait()
        return await refresh(training_id, row)

    monkeypatch.setattr(proc.jobs, "refresh", held_refresh)
    round_task = asyncio.create_task(tracker.run_once())
    for _ in range(500):
        if notifier.delivered:
            break
        await asyncio.sleep(0.01)
    assert notifier.delivered == [(ended.id, "succeeded")]
    assert not round_task.done()  # the slow training's refresh is still in flight
    release.set()
    report = await round_task
    assert report.notices_delivered == 1 and report.refreshed == 2
    assert notifier.delivered == [(ended.id, "succeeded")]  # not delivered a second time


async def test_a_training_that_disappears_from_replicate_is_kept_and_the_round_goes_on(
    jobs_sim: ReplicateSimulator, settings: Settings, proc: Process
) -> None:
    """Replicate answering 404 for a training it showed before (deleted there): the row stays
    as last seen, the round refreshes the others, and the next round asks again."""
    notifier = FakeNotifier()
    tracker = make_tracker(proc, notifier, settings)
    gone = await submit_with_card(proc, settings, steps=LONG)
    other = await submit_with_card(proc, settings, steps=LONG, owner=OWNER + 1)
    report = await tracker.run_once()
    assert report.refreshed == 2 and report.failed == 0
    with jobs_sim.lock:
        del jobs_sim.records[gone.id]
    jobs_sim.finish(other.id, "succeeded")
    before = proc.gateway.requests_made
    report = await tracker.run_once()
    assert report.failed == 1 and report.refreshed == 1
    assert proc.gateway.requests_made - before == 2  # a 404 is not retried
    assert notifier.delivered == [(other.id, "succeeded")]
    kept = await proc.store.trainings.get(gone.id)
    assert kept is not None and not kept.is_terminal
    report = await tracker.run_once()
    assert report.active == 1 and report.failed == 1
