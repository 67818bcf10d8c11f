"""Caption runs in the team's money: checked against the budgets before, filed in the ledger after.

Why the ledger: a caption run is money spent from the same Replicate account, so it counts
against the monthly budgets and shows in /usage like a training. Each run is one settled row
(`status = "captioned"`, never a training's status, so the training estimate never learns from
it), whose amount is the price shown on the button times the predictions that ran: with every
image captioned, exactly the amount shown. Its images and billed seconds calibrate the next
caption price.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bot.core.captions.cost import (
    LEDGER_STATUS,
    SAMPLE_LIMIT,
    SAMPLES_SQL,
    CaptionSample,
    basis_of,
    samples_of,
)
from bot.core.captions.run import CaptionResult
from bot.core.errors import InputError
from bot.core.money.budget import TEAM_BUDGET, USER_BUDGET, Budget
from bot.core.money.cents import format_cents
from bot.core.store.ledger import Ledger, LedgerEntry, month_of
from bot.core.store.rows import utcnow

RUN_PREFIX = "captions-"


async def caption_samples(ledger: Ledger, model: str) -> list[CaptionSample]:
    """The newest finished caption runs of `model` (images and billed seconds)."""
    params = (LEDGER_STATUS, basis_of(model), SAMPLE_LIMIT)
    async with ledger.db.connection.execute(SAMPLES_SQL, params) as cur:
        return samples_of(list(await cur.fetchall()))


async def check_budget(budget: Budget, owner_id: int, cents: int) -> None:
    """Refuse a caption run that would take its owner or the team past a monthly budget."""
    standing = await budget.standing(owner_id)
    checks = (
        (USER_BUDGET, "you", standing.user_spent + standing.user_pending, standing.user_budget),
        (
            TEAM_BUDGET,
            "the team",
            standing.team_spent + standing.team_pending,
            standing.team_budget,
        ),
    )
    for name, who, spent, limit in checks:
        if limit is not None and spent + cents > limit:
            raise InputError(
                f"Refused by {name} ({format_cents(limit)} a month): these captions cost "
                f"{format_cents(cents)} and {who} already spent {format_cents(spent)} in "
                f"{standing.month}; nothing was captioned.",
                field=name,
            )


@dataclass(frozen=True)
class CaptionCharge:
    run_id: str
    cents: int


async def record_charge(
    ledger: Ledger, owner_id: int, guild_id: int | None, model: str, result: CaptionResult
) -> CaptionCharge | None:
    """File a run that made predictions (a run served from the cache costs nothing: no row)."""
    if result.requests == 0:
        return None
    now = utcnow()
    run_id = RUN_PREFIX + secrets.token_hex(8)
    await ledger.record(
        LedgerEntry(
            training_id=run_id,
            owner_id=owner_id,
            guild_id=guild_id,
            month=month_of(now),
            estimate_low_cents=result.charged_cents,
            estimate_high_cents=result.charged_cents,
            estimate_basis=basis_of(model),
            images=result.requests,
            status=LEDGER_STATUS,
            predict_time=result.predict_time,
            actual_cents=result.charged_cents,
            created_at=now,
            settled_at=now,
        )
    )
    return CaptionCharge(run_id, result.charged_cents)
