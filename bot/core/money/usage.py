"""Who spent what in a month: per user and for the team, by outcome, against the budgets, and
how good the estimates were. Pure sums over the ledger, in whole cents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.core.money.budget import Budget, next_month_start
from bot.core.store.ledger import RUNNING, LedgerEntry

OUTCOMES = ("succeeded", "failed", "canceled", "running")  # chart stacks, bottom to top
LOST = frozenset({"failed", "aborted"})  # money spent on runs that gave nothing


def outcome_of(entry: LedgerEntry) -> str:
    if not entry.settled:
        return RUNNING
    return "failed" if entry.status in LOST else entry.status


@dataclass
class Spend:
    """Cents by outcome and counts, for one user or the team."""

    by_outcome: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    trainings: int = 0
    failed: int = 0
    running: int = 0
    unknown: int = 0  # ended with their cost not reported: counted at their high estimate

    @property
    def total(self) -> int:
        return sum(self.by_outcome.values())

    @property
    def lost(self) -> int:
        return self.by_outcome["failed"]

    def add(self, entry: LedgerEntry) -> None:
        outcome = outcome_of(entry)
        self.by_outcome[outcome] = self.by_outcome.get(outcome, 0) + entry.counted_cents
        self.trainings += 1
        self.failed += outcome == "failed"
        self.running += outcome == RUNNING
        self.unknown += entry.cost_unknown


@dataclass(frozen=True)
class Accuracy:
    """Estimate vs actual over succeeded trainings (a failed or canceled one stopped early, so
    its estimate says nothing): mean absolute error of the middle of the range as a share of
    the actual cost, and how many actual costs fell inside the range."""

    count: int
    mean_error: float
    within: int


@dataclass
class UsageReport:
    month: str
    users: dict[int, Spend]
    team: Spend
    user_budget: int | None
    team_budget: int | None
    accuracy: Accuracy | None
    awaiting: dict[int, tuple[int, int]] = field(default_factory=dict)  # owner: (count, cents)

    def waiting(self, owner_id: int | None = None) -> tuple[int, int]:
        """(requests, cents) awaiting approval for one owner, or for the team with None."""
        if owner_id is not None:
            return self.awaiting.get(owner_id, (0, 0))
        return (
            sum(n for n, _ in self.awaiting.values()),
            sum(c for _, c in self.awaiting.values()),
        )

    @property
    def resets_at(self) -> datetime:
        return next_month_start(self.month)


def accuracy(entries: list[LedgerEntry]) -> Accuracy | None:
    ran = [
        e
        for e in entries
        if e.settled and e.status == "succeeded" and e.actual_cents and e.estimate_high_cents > 0
    ]
    if not ran:
        return None
    errors = [
        abs((e.estimate_low_cents + e.estimate_high_cents) / 2 - (e.actual_cents or 0))
        / (e.actual_cents or 1)
        for e in ran
    ]
    within = sum(
        e.estimate_low_cents <= (e.actual_cents or 0) <= e.estimate_high_cents for e in ran
    )
    return Accuracy(count=len(ran), mean_error=sum(errors) / len(ran), within=within)


async def usage_report(budget: Budget, month: str) -> UsageReport:
    """The month's ledger summed up; requests awaiting approval are shown with the current month
    (they are not spent, but the budgets already hold them back from new Starts)."""
    entries = await budget.ledger.entries(month)
    users: dict[int, Spend] = {}
    team = Spend()
    for entry in entries:
        users.setdefault(entry.owner_id, Spend()).add(entry)
        team.add(entry)
    standing = await budget.standing(0)
    return UsageReport(
        month=month,
        users=users,
        team=team,
        user_budget=standing.user_budget,
        team_budget=standing.team_budget,
        accuracy=accuracy(entries),
        awaiting=await budget.ledger.awaiting_approval() if month == standing.month else {},
    )
