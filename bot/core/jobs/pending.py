"""Settling submissions whose create answer never arrived (a crash, a timeout, a lost reply).

Every Start is recorded before its create leaves (`JobService.claim_start`), so after any
crash each open record ends one of three ways, within one poll round:
- the training exists: it is adopted for the member who started it, gets its card and notice;
- it provably does not: the owner is told nothing was submitted or charged (`not_submitted`);
- it cannot be told apart from someone else's, or Replicate can't be asked for too long:
  nothing is adopted and the owner (and the managers, for `ambiguous`) are told what to check.

Identity is proved by the submission's marker, which Replicate echoes back in the training's
input. Only a trainer without the marker input falls back to comparing the whole input, and
then adopts only when exactly one training matches exactly one open submission.

A create still in flight when the bot died can land at Replicate after SETTLE, once its owner
was told nothing was submitted. So a settled submission's marker is kept looking for a day
(`KEEP_MARKERS`): a training that turns up carrying it is adopted for its owner like any other,
and the owner is told the correction, once (a `started_late` notice in the outbox).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from bot.core.errors import SD35LError
from bot.core.log import get_logger
from bot.core.replicate.gateway import MARKER_INPUT, ReplicateGateway
from bot.core.replicate.training import Training
from bot.core.store.db import Store
from bot.core.store.rows import PendingSubmission, TrainingRow, utcnow
from bot.core.store.trainings import OwnerConflictError


class SettlingService(Protocol):
    """What settling needs of `JobService` (which calls in here; no import back)."""

    store: Store
    gateway: ReplicateGateway

    async def apply(self, row: TrainingRow, training: Training) -> TrainingRow: ...

    async def record_adopted(
        self, row: TrainingRow, config: Any, preview_key: str | None = None
    ) -> None: ...


log = get_logger(__name__)

NOT_SUBMITTED = "not_submitted"  # the create never reached Replicate: nothing exists or costs
UNKNOWN = "unknown"  # Replicate could not be asked long enough to know
AMBIGUOUS = "ambiguous"  # trainings match but cannot be told apart: nobody gets them
ADOPTED_LATE = "adopted_late"  # settled as absent, then its training turned up and was adopted
NOTICE_LATE = "started_late"  # the owner's correction: the training exists after all
# A create sent just before a crash may still land this long after; only then is absence proof.
SETTLE = timedelta(seconds=10)
# A submission that could never be checked is given up (and its owner told) after this.
PENDING_GIVE_UP = timedelta(minutes=10)
_CLOCK_SKEW = timedelta(minutes=1)
# A settled submission's create may still land this long after it was sent.
KEEP_MARKERS = timedelta(days=1)
_LIST_LIMIT = 100


async def resolve_pending(jobs: SettlingService, inflight: set[int]) -> int:
    """Settle every open submission not being sent by this process; returns how many trainings
    were adopted."""
    store = jobs.store
    open_ = [p for p in await store.pending.unsettled() if p.id not in inflight]
    now = utcnow()
    # An unsent record this young may be a Start still on its way here; older, it was cut off.
    for item in [p for p in open_ if p.sent_at is None and now - p.created_at >= SETTLE]:
        await store.pending.settle(item.id, NOT_SUBMITTED)  # never left: nothing can exist
        log.warning("submission %d was never sent (interrupted); its owner is told", item.id)
    sent = [p for p in open_ if p.sent_at is not None]
    late = await store.pending.settled_sent_since((NOT_SUBMITTED, UNKNOWN), now - KEEP_MARKERS)
    if not sent and not late:
        return 0
    try:
        recent = await jobs.gateway.list_trainings(limit=_LIST_LIMIT)
    except SD35LError as exc:
        log.warning("cannot look for lost submissions now: %s", exc)
        for item in sent:
            if utcnow() - item.created_at > PENDING_GIVE_UP:
                await store.pending.settle(item.id, UNKNOWN)
        return 0
    adopted = 0
    for item in late:
        adopted += await _adopt_late(jobs, item, _matches(item, recent))
    # The list is newest first; when it is full, it says nothing about older trainings.
    oldest = recent[-1].created_at if len(recent) >= _LIST_LIMIT else None
    for item in sent:
        matches = _matches(item, recent)
        tracked = {t.id for t in matches if await store.trainings.get(t.id) is not None}
        if not item.marker:  # without proof, a tracked training is somebody else's
            matches = [t for t in matches if t.id not in tracked]
        if matches and (item.marker or len(matches) == 1) and not _rivals(item, sent):
            adopted += await _adopt(jobs, item, [t for t in matches if t.id not in tracked])
        elif matches:
            ids = [t.id for t in matches]
            await store.pending.settle(item.id, AMBIGUOUS, {"trainings": ids})
            log.error("submission %d matches %s ambiguously; nothing adopted", item.id, ids)
        elif _absence_proved(item, oldest):
            await store.pending.settle(item.id, NOT_SUBMITTED)
            log.warning("submission %d never reached Replicate; its owner is told", item.id)
        elif utcnow() - item.created_at > PENDING_GIVE_UP:
            await store.pending.settle(item.id, UNKNOWN)
    return adopted


def _matches(item: PendingSubmission, recent: list[Training]) -> list[Training]:
    """Trainings that are this submission's: by marker, or (no marker) by the whole input."""
    if item.marker:
        return [t for t in recent if t.input.get(MARKER_INPUT) == item.marker]
    since = (item.sent_at or item.created_at) - _CLOCK_SKEW
    return [
        t
        for t in recent
        if t.created_at is not None
        and t.created_at >= since
        and t.destination in (None, item.destination)
        and _same_input(item.inputs, t.input)
    ]


def _rivals(item: PendingSubmission, sent: list[PendingSubmission]) -> bool:
    """Another open submission without a marker that would match the same trainings."""
    if item.marker:
        return False
    return any(
        other.id != item.id
        and not other.marker
        and other.destination == item.destination
        and other.inputs == item.inputs
        for other in sent
    )


def _same_input(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    return all(theirs.get(key) == value for key, value in ours.items())


def _absence_proved(item: PendingSubmission, oldest: Any) -> bool:
    """Not in a list that reaches back before the send, and the send is old enough to show."""
    assert item.sent_at is not None
    if utcnow() - item.sent_at < SETTLE:
        return False
    return oldest is None or oldest < item.sent_at - _CLOCK_SKEW


async def _adopt(jobs: SettlingService, item: PendingSubmission, found: list[Training]) -> int:
    """Store each training of this submission for its owner; the record goes with the first."""
    adopted = 0
    for training in found:
        try:
            row = await jobs.store.trainings.add(new_row(training, item))
        except OwnerConflictError as exc:
            log.error("training %s is tracked for another owner: %s", training.id, exc)
            await jobs.store.pending.settle(item.id, AMBIGUOUS, {"trainings": [training.id]})
            return adopted
        await jobs.record_adopted(row, item.config, item.preview_key)
        await jobs.apply(row, training)
        log.warning("adopted training %s for %s (create answer lost)", training.id, item.owner_id)
        adopted += 1
    await jobs.store.pending.drop(item.id)
    return adopted


async def _adopt_late(jobs: SettlingService, item: PendingSubmission, found: list[Training]) -> int:
    """Adopt the trainings that turned up for a submission already settled without one, and
    owe its owner the correction. Each step is idempotent, so a crash anywhere is redone by the
    next round: the notice is keyed by training (exactly once), the record changes last."""
    adopted = []
    for training in found:
        row = await jobs.store.trainings.get(training.id)
        if row is None:
            try:
                row = await jobs.store.trainings.add(new_row(training, item))
            except OwnerConflictError as exc:
                log.error("training %s is tracked for another owner: %s", training.id, exc)
                continue
            await jobs.record_adopted(row, item.config, item.preview_key)
            row = await jobs.apply(row, training)
        if row.owner_id != item.owner_id:
            continue
        await jobs.store.outbox.enqueue(training.id, NOTICE_LATE, late_payload(item, training))
        log.warning(
            "training %s landed after submission %d was settled %s: adopted for %s",
            training.id,
            item.id,
            item.outcome,
            item.owner_id,
        )
        adopted.append(training.id)
    if adopted:
        await jobs.store.pending.reopen_as(item.id, ADOPTED_LATE, {"trainings": adopted})
    return len(adopted)


def late_payload(item: PendingSubmission, training: Training) -> dict[str, Any]:
    """What the correction says: which training, and whether the owner heard otherwise."""
    return {
        "training_id": training.id,
        "owner_id": item.owner_id,
        "told": item.told_at is not None or item.tell_attempted_at is not None,
        "earlier": item.outcome,
        "web_url": training.web_url,
    }


def new_row(training: Training, pending: PendingSubmission) -> TrainingRow:
    """The row of a training made for `pending`: its owner, channel and config."""
    now = utcnow()
    return TrainingRow(
        id=training.id,
        owner_id=pending.owner_id,
        guild_id=pending.guild_id,
        channel_id=pending.channel_id,
        destination=pending.destination,
        trigger_word=pending.trigger_word or training.trigger_word,
        config=dict(pending.config),
        status="starting" if training.is_terminal else training.status,  # apply() ends it
        created_at=training.created_at or now,
        updated_at=now,
        started_at=training.started_at,
    )
