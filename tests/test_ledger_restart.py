"""The ledger after a crash: a training whose ledger row was never written (the bot died between
the training's row and its ledger row) is filed at the next start, so budgets still count it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.jobs.service import JobService
from bot.core.money.budget import Budget
from bot.core.settings import Settings
from bot.core.store.db import Store
from bot.core.store.ledger import month_of
from bot.sim import ReplicateSimulator
from tests.jobs_support import LONG, OWNER, config, make_gateway, make_settings


@pytest.fixture
def settings(jobs_sim: ReplicateSimulator, tmp_path: Path) -> Settings:
    return make_settings(jobs_sim, tmp_path, SD35L_BUDGET_USER_MONTHLY="100")


async def _service(settings: Settings) -> tuple[Store, JobService]:
    store = await Store.open(settings.database)
    budget = Budget(store.ledger, settings)
    return store, JobService(store, make_gateway(settings), settings, budget)


@pytest.fixture
async def first(settings: Settings) -> AsyncIterator[tuple[Store, JobService]]:
    store, jobs = await _service(settings)
    yield store, jobs
    await jobs.gateway.aclose()
    await store.close()


async def test_restart_files_a_running_training_missing_from_the_ledger(
    settings: Settings, first: tuple[Store, JobService]
) -> None:
    store, jobs = first
    row = await jobs.submit(OWNER, 5, 6, config(settings, steps=LONG))
    ledger = store.ledger
    filed = await ledger.get(row.id)
    assert filed is not None and filed.estimate_high_cents > 0
    month = month_of(row.created_at)
    assert await ledger.spent_cents(month, OWNER) == filed.estimate_high_cents
    # The crash between the two writes: the training is tracked, its ledger row is not.
    async with store.db.transaction() as db:
        await db.execute("DELETE FROM ledger WHERE training_id = ?", (row.id,))
    assert await ledger.spent_cents(month, OWNER) == 0

    store2, jobs2 = await _service(settings)
    try:
        await jobs2.reconcile()
        ledger2 = store2.ledger
        refiled = await ledger2.get(row.id)
        assert refiled is not None and refiled.owner_id == OWNER
        assert refiled.estimate_high_cents == filed.estimate_high_cents
        assert await ledger2.spent_cents(month, OWNER) == filed.estimate_high_cents
        await jobs2.reconcile()  # a second start files nothing twice
        assert await ledger2.spent_cents(month, OWNER) == filed.estimate_high_cents
    finally:
        await jobs2.gateway.aclose()
        await store2.close()
