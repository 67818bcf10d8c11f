"""Bills Replicate had not reported when a training ended, asked for again until they are known.

An ending without `metrics.predict_time` is filed with its cost unknown (it counts at its high
estimate, see `bot.core.money.budget.Budget.settle`). The tracker's rounds and the start-up
reconcile ask Replicate again, at most every COST_REREAD_S per training, for as long as
`Budget.unknown_costs` lists it; the first answer that reports the billed time fills in the
ledger and the training's row (through `JobService.apply`, like any answer).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from bot.core.errors import SD35LError
from bot.core.log import get_logger
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.training import Training
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow

if TYPE_CHECKING:
    from bot.core.money.budget import Budget

log = get_logger(__name__)

COST_REREAD_S = 300.0  # an unknown bill is asked for again at most this often
_LOGS_CHARS = 64 * 1024  # as much of the log as an ending's read takes (its tail and curve)


class BillingService(Protocol):
    """What re-reading needs of `JobService` (which calls in here; no import back)."""

    store: Store
    gateway: ReplicateGateway
    budget: Budget | None

    async def apply(self, row: TrainingRow, training: Training) -> TrainingRow: ...


class UnknownBills:
    """When each unknown bill was last asked for, in this process."""

    def __init__(self) -> None:
        self._asked: dict[str, float] = {}

    async def read(self, jobs: BillingService) -> int:
        """Ask again for the bills not asked for lately; returns how many are known now."""
        if jobs.budget is None:
            return 0
        filled = 0
        for training_id in await jobs.budget.unknown_costs():
            now = time.monotonic()
            if now - self._asked.get(training_id, -COST_REREAD_S) < COST_REREAD_S:
                continue
            self._asked[training_id] = now
            row = await jobs.store.trainings.get(training_id)
            if row is None:
                continue
            try:
                training = await jobs.gateway.get_training(training_id, logs_chars=_LOGS_CHARS)
            except SD35LError as exc:
                log.warning("cost of training %s not read: %s", training_id, exc)
                continue
            await jobs.apply(row, training)
            entry = await jobs.budget.ledger.get(training_id)
            if entry is not None and not entry.cost_unknown:
                self._asked.pop(training_id, None)
                filled += 1
        return filled
