"""The background loop: poll active trainings, keep their cards current, deliver notices.

Driven from the database, never from memory, so a restart resumes where it stopped. Nothing
here may kill the loop: each training, each card and each notice is handled in its own
try/except (discord.py's `tasks.loop` would die on an HTTPException or a sqlite error).
The Discord side is a `Notifier` the bot implements; this module never imports discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bot.core.errors import SD35LError, ServiceError
from bot.core.jobs.crash import crash_point
from bot.core.jobs.pace import Pace, PollPeriod
from bot.core.jobs.service import JobService
from bot.core.log import get_logger
from bot.core.settings import Settings
from bot.core.store.db import Store
from bot.core.store.rows import Notice, PendingSubmission, TrainingRow, utcnow

log = get_logger(__name__)

T = TypeVar("T")


class CardResult(enum.Enum):
    """What became of a card edit."""

    OK = "ok"  # edited
    GONE = "gone"  # the message was deleted (Discord 10008): never edit it again
    RETRY = "retry"  # failed for now (rate limit, outage): try again later


class Notifier(Protocol):
    """The front end's half: how a card is redrawn and a notice is sent (DMs, fallbacks)."""

    async def update_card(self, row: TrainingRow) -> CardResult: ...

    async def deliver_notice(self, row: TrainingRow, notice: Notice) -> bool:
        """True only when Discord accepted the message (DM, or the channel fallback)."""
        ...

    async def tell_submission(self, pending: PendingSubmission) -> bool:
        """Tell the owner (and managers when it is ambiguous) how an interrupted Start ended
        without a training; True once Discord accepted it."""
        ...


@dataclass
class RoundReport:
    """What one round did (logs, tests, benchmarks)."""

    active: int = 0
    refreshed: int = 0
    failed: int = 0
    skipped: int = 0
    throttled: bool = False
    cards_edited: int = 0
    notices_delivered: int = 0
    notices_failed: int = 0
    starts_told: int = 0


def _shown(row: TrainingRow) -> tuple[str, int | None, int | None]:
    return (row.status, row.step, row.total)


class Tracker:
    """Polls every active training each `settings.poll_interval` seconds, or as often as its
    `read_share` of the gateway's rate limit allows (`PollPeriod`), doubling on 429."""

    def __init__(
        self,
        job_service: JobService,
        store: Store,
        notifier: Notifier,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        card_edit_interval: float = 15.0,
        card_wait: float = 3.0,
        notice_batch: int = 1000,
        concurrency: int = 16,
        max_interval: float | None = None,
        read_share: float = 0.8,
        reads_per_minute: float | None = None,
    ) -> None:
        self.jobs = job_service
        self.store = store
        self.notifier = notifier
        self.settings = settings
        self.clock = clock
        self.card_edit_interval = card_edit_interval
        self.card_wait = card_wait
        self.notice_batch = notice_batch
        self.concurrency = max(1, concurrency)
        if reads_per_minute is None:  # the rest of the limit is for Starts, /status and lists
            reads_per_minute = job_service.gateway.limiter.reads_per_minute * read_share
        base = settings.poll_interval
        self.period = PollPeriod(base, max_interval or max(base, 300.0), reads_per_minute)
        self.rounds = 0
        self._last_edit: dict[str, float] = {}
        self._last_shown: dict[str, tuple[str, int | None, int | None]] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._card_tasks: dict[str, asyncio.Task[None]] = {}
        self._round_edits: list[asyncio.Task[None]] = []
        self._tried: set[int] = set()
        self._reading: set[str] = set()  # trainings being read now (a round, or a Start's read)
        self._single: set[asyncio.Task[RoundReport]] = set()

    # -- one round ---------------------------------------------------------------------------

    async def run_once(self) -> RoundReport:
        """Refresh all active trainings, redraw cards, deliver owed notices. Never raises."""
        report = RoundReport()
        self.rounds += 1
        self._tried.clear()
        await self._guard("resolving lost submissions", self.jobs.resolve_pending_submissions())
        await self._guard("telling interrupted starts", self._tell_submissions(report))
        await self._guard("finishing cards", self._final_edits(report))
        await self._guard("reading unknown costs", self.jobs.read_unknown_costs())
        rows = await self._guard("listing active trainings", self.store.trainings.active())
        if rows:
            report.active = len(rows)
            self.period.before_round(report.active)
            await self._refresh_all(rows, report)
        self.period.after_round(report.active, throttled=report.throttled)
        await self._wait_for_edits()
        await self._guard("delivering notices", self._deliver_notices(report))
        return report

    async def _guard(self, what: str, coro: Awaitable[T]) -> T | None:
        """Run one stage of a round; any failure is logged and the round goes on."""
        try:
            return await coro
        except Exception:
            log.exception("tracker: error while %s; continuing", what)
            return None

    @property
    def interval(self) -> float:
        """Seconds between rounds now."""
        return self.period.seconds

    def pace(self) -> Pace:
        """How often trainings are read now, for the cards."""
        return self.period.pace()

    async def _refresh_all(self, rows: list[TrainingRow], report: RoundReport) -> None:
        sem = asyncio.Semaphore(self.concurrency)

        async def one(old: TrainingRow) -> None:
            async with sem:
                if report.throttled:
                    report.skipped += 1
                    return
                new = await self._read(old, report)
            if new is not None:
                await self._after_read(old, new, report)

        await asyncio.gather(*(one(row) for row in rows))

    async def _read(self, old: TrainingRow, report: RoundReport) -> TrainingRow | None:
        """One training read from Replicate and stored; None when it was not (counted)."""
        if old.id in self._reading:  # a Start's own read is under way: this round skips it
            report.skipped += 1
            return None
        self._reading.add(old.id)
        try:
            new = await self.jobs.refresh(old.id, old)
        except SD35LError as exc:
            if isinstance(exc, ServiceError) and exc.status == 429:
                report.throttled = True
                report.skipped += 1
                return None
            report.failed += 1
            log.warning("training %s not refreshed: %s", old.id, exc)
            return None
        except Exception:
            report.failed += 1
            log.exception("training %s not refreshed (unexpected error)", old.id)
            return None
        finally:
            self._reading.discard(old.id)
        report.refreshed += 1
        return new

    async def _after_read(self, old: TrainingRow, new: TrainingRow, report: RoundReport) -> None:
        if new.is_terminal and not old.is_terminal:
            crash_point("ending-stored")  # stored with its notice; nothing told yet
        await self._maybe_edit(old, new, report)
        if new.is_terminal and not old.is_terminal:
            await self._deliver_now(new, report)

    def refresh_soon(self, training_id: str) -> None:
        """Read one training now (its Start), not a whole round: N Starts cost N reads."""
        task = asyncio.create_task(self.refresh_one(training_id), name=f"sd35l-read-{training_id}")
        self._single.add(task)
        task.add_done_callback(self._single.discard)

    async def refresh_one(self, training_id: str) -> RoundReport:
        """Read one active training, redraw its card and tell its ending. Never raises."""
        report = RoundReport()
        try:
            old = await self.store.trainings.get(training_id)
            if old is None or old.is_terminal:
                return report
            new = await self._read(old, report)
            if new is not None:
                await self._after_read(old, new, report)
        except Exception:
            log.exception("training %s not read after its start", training_id)
        return report

    # -- cards -------------------------------------------------------------------------------

    async def _maybe_edit(self, old: TrainingRow, new: TrainingRow, report: RoundReport) -> None:
        """Edit at most every `card_edit_interval` per card, at once on an ending, never a
        deleted card, and not at all when nothing visible changed."""
        if new.channel_id is None or new.card_gone:
            return  # no channel to show it in (a card still to be posted is the notifier's)
        ended_now = new.is_terminal and not old.is_terminal
        if not ended_now:
            if new.is_terminal and new.card_status == new.status:
                return
            if self._last_shown.get(new.id) == _shown(new):
                return
            last = self._last_edit.get(new.id)
            if last is not None and self.clock() - last < self.card_edit_interval:
                return
        self._spawn_edit(new, report)

    def _spawn_edit(self, row: TrainingRow, report: RoundReport) -> None:
        """Edit in the background: a card stuck behind Discord's per-channel rate limit must
        not hold back the notices of this round. One edit in flight per card at most."""
        running = self._card_tasks.get(row.id)
        if running is not None and not running.done():
            return
        task = asyncio.create_task(self._edit(row, report), name=f"sd35l-card-{row.id}")
        self._card_tasks[row.id] = task
        self._round_edits.append(task)
        task.add_done_callback(lambda done: self._forget(row.id, done))

    def _forget(self, training_id: str, task: asyncio.Task[None]) -> None:
        if self._card_tasks.get(training_id) is task:
            del self._card_tasks[training_id]

    async def _wait_for_edits(self) -> None:
        """Give this round's edits up to `card_wait` s (an ending's card before its notice)."""
        tasks, self._round_edits = self._round_edits, []
        if tasks:
            await asyncio.wait(tasks, timeout=self.card_wait)

    async def _edit(self, row: TrainingRow, report: RoundReport) -> None:
        try:
            result = await self.notifier.update_card(row)
        except Exception:
            log.exception("card of training %s not updated", row.id)
            result = CardResult.RETRY
        self._last_edit[row.id] = self.clock()
        try:
            if result is CardResult.OK:
                report.cards_edited += 1
                self._last_shown[row.id] = _shown(row)
                # Only the status a card shows is read back (is its ending shown?), so an edit
                # that changed only the step is not written: one transaction less a refresh.
                if row.card_status != row.status:
                    await self.store.cards.mark_edited(row.id, utcnow(), status=row.status)
            elif result is CardResult.GONE:
                log.info("card of training %s was deleted; no more edits", row.id)
                await self.store.cards.mark_gone(row.id)
        except Exception:
            log.exception("card state of training %s not stored", row.id)
        if row.is_terminal and result is not CardResult.RETRY:
            self._last_edit.pop(row.id, None)
            self._last_shown.pop(row.id, None)

    async def _final_edits(self, report: RoundReport) -> None:
        """Ended trainings whose card still shows them running (edit failed, or a restart)."""
        for row in await self.store.cards.needing_final_edit():
            self._spawn_edit(row, report)

    # -- notices -----------------------------------------------------------------------------

    async def _deliver_now(self, row: TrainingRow, report: RoundReport) -> None:
        """An ending seen in this round is told at once (after its card shows it), not after
        every other training of a long round: the delay stays within one poll interval."""
        edit = self._card_tasks.get(row.id)
        if edit is not None:
            await asyncio.wait([edit], timeout=self.card_wait)
        try:
            notices = await self.store.outbox.undelivered(training_id=row.id)
        except Exception:
            log.exception("notices of training %s not read; the round's end retries", row.id)
            return
        for notice in notices:
            await self._deliver(notice, report)

    async def _deliver_notices(self, report: RoundReport) -> None:
        """Marked delivered only once the notifier says Discord accepted it; else retried."""
        for notice in await self.store.outbox.undelivered(limit=self.notice_batch):
            if notice.id not in self._tried:  # one attempt per notice and round
                await self._deliver(notice, report)

    async def _deliver(self, notice: Notice, report: RoundReport) -> None:
        """One notice: marked delivered only once Discord accepted it; else retried."""
        self._tried.add(notice.id)
        try:
            row = await self.store.trainings.get(notice.training_id)
            if row is None:  # pragma: no cover - rows are never deleted (FK cascade)
                return
            await self.store.outbox.mark_attempt(notice.id)
            ok = await self.notifier.deliver_notice(row, notice)
            error = "" if ok else "the notifier did not deliver it"
            if ok:
                crash_point("notice-sent")  # Discord has it; the outbox does not know yet
        except Exception as exc:
            log.exception("notice %d for training %s failed", notice.id, notice.training_id)
            ok, error = False, f"{type(exc).__name__}: {exc}"
        try:
            if ok:
                await self.store.outbox.mark_delivered(notice.id)
                report.notices_delivered += 1
            else:
                await self.store.outbox.mark_failed(notice.id, error)
                report.notices_failed += 1
        except Exception:
            log.exception("notice %d state not stored", notice.id)

    async def _tell_submissions(self, report: RoundReport) -> None:
        """Interrupted Starts settled without a training: each owner hears once."""
        for pending in await self.store.pending.untold():
            try:
                await self.store.pending.mark_tell_attempt(pending.id)
                if await self.notifier.tell_submission(pending):
                    await self.store.pending.mark_told(pending.id)
                    report.starts_told += 1
            except Exception:
                log.exception("owner of interrupted submission %d not told; retried", pending.id)

    # -- the loop ----------------------------------------------------------------------------

    def wake(self) -> None:
        """Poll now instead of at the end of the interval (after a submit or a cancel)."""
        self._wake.set()

    async def run_forever(self, stop_event: asyncio.Event | None = None) -> None:
        """Round after round until `stop_event` (or `stop()`); survives every exception."""
        stop = stop_event or self._stop
        while not (stop.is_set() or self._stop.is_set()):
            began = time.monotonic()
            try:
                await self.run_once()
            except Exception:  # pragma: no cover - run_once already guards each stage
                log.exception("tracker round failed; continuing")
            # Rounds start every `interval` seconds: a long round does not stretch the period.
            await self._sleep(stop, max(0.0, self.interval - (time.monotonic() - began)))

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(event.wait()) for event in {stop, self._stop, self._wake}]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()

    def start(self) -> asyncio.Task[None]:
        """Start the loop as a task (idempotent); call from a running event loop."""
        if self._task is None or self._task.done():
            self._stop.clear()
            self._task = asyncio.create_task(self.run_forever(), name="sd35l-tracker")
        return self._task

    async def stop(self, grace: float = 10.0) -> None:
        """Ask the loop to end after its current round; cancel it if that takes too long."""
        self._stop.set()
        task, self._task = self._task, None
        edits: list[asyncio.Task[Any]] = [*self._card_tasks.values(), *self._single]
        for edit in edits:
            edit.cancel()
        await asyncio.gather(*edits, return_exceptions=True)
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
