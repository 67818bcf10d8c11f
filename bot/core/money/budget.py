"""The team's money rule: monthly budgets per user and for the team, and a manager's approval
above a threshold. One rule for every way to start a training; the job service applies it at
submit (under its lock, so two quick Starts cannot both slip under a budget) and the preview
shows the same verdict before Start.

Money is counted in whole cents. A month is a UTC calendar month; a training belongs to the month
of its Start. Spent = actual cost of ended trainings + high estimate of running ones. Approval
requests still waiting for a manager count too, at their high estimate, when a NEW Start is
checked: otherwise one member could queue requests worth many budgets and have them approved one
by one. At Approve the request is decided before the check, so it is counted once, as the
training it becomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.core.errors import InputError, SD35LError
from bot.core.log import get_logger
from bot.core.money.cents import bill_cents, format_cents, to_cents
from bot.core.money.estimate import (
    Calibration,
    Estimate,
    calibrate,
    estimate_training,
    format_estimate,
)
from bot.core.replicate.training import Training
from bot.core.settings import Settings
from bot.core.store.ledger import Ledger, LedgerEntry, month_of
from bot.core.store.rows import TrainingRow, utcnow
from bot.core.trainer_log.loss import loss_curve

log = get_logger(__name__)

USER_BUDGET = "SD35L_BUDGET_USER_MONTHLY"
TEAM_BUDGET = "SD35L_BUDGET_TEAM_MONTHLY"
APPROVAL_ABOVE = "SD35L_APPROVAL_ABOVE"
# An ended training whose cost is unknown is read again for this long; after that it stays
# unknown and keeps counting at its high estimate (a budget is never undercounted).
COST_ASK_FOR = timedelta(days=7)


class BudgetExceededError(InputError):
    """A Start that would take its owner or the team past a monthly budget."""


class ApprovalRequiredError(SD35LError):
    """The training's high estimate is above SD35L_APPROVAL_ABOVE: a manager must approve it."""

    def __init__(self, verdict: Verdict, threshold_cents: int) -> None:
        super().__init__(
            f"This training may cost up to {format_cents(verdict.high_cents)}, above "
            f"{APPROVAL_ABOVE} ({format_cents(threshold_cents)}); a manager has to approve it."
        )
        self.verdict = verdict
        self.threshold_cents = threshold_cents


def next_month_start(month: str) -> datetime:
    year, mon = int(month[:4]), int(month[5:7])
    return datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)


def parse_month(text: str | None, now: datetime | None = None) -> str:
    """`YYYY-MM` as given, or the current UTC month; InputError naming `month` otherwise."""
    if text is None or not text.strip():
        return month_of(now or utcnow())
    text = text.strip()
    if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit():
        if 1 <= int(text[5:]) <= 12 and int(text[:4]) >= 2000:
            return text
    raise InputError(
        f"month {text[:20]!r} must be a month such as 2026-12 (YYYY-MM).", field="month"
    )


def _cents(amount: Decimal | None) -> int | None:
    return None if amount is None else to_cents(amount)


def training_shape(config: Any) -> tuple[int, int, str]:
    """(steps, batch size, resolution) of a TrainingConfig, a ResolvedConfig or a stored dict."""
    inner = getattr(config, "config", config)
    training = getattr(inner, "training", None)
    if training is not None:
        return int(training.steps), int(training.batch_size), str(training.resolution)
    section = inner.get("training", {}) if isinstance(inner, dict) else {}
    return (
        int(section.get("steps") or 0),
        int(section.get("batch_size") or 1),
        str(section.get("resolution") or "1024"),
    )


@dataclass(frozen=True)
class Standing:
    """Where an owner and the team stand in a month (cents; a budget of None means no cap)."""

    month: str
    user_spent: int
    team_spent: int
    user_budget: int | None
    team_budget: int | None
    user_pending: int = 0  # high estimates of the owner's requests awaiting approval
    team_pending: int = 0  # the same for everyone

    @property
    def resets_at(self) -> datetime:
        return next_month_start(self.month)

    @property
    def user_left(self) -> int | None:
        if self.user_budget is None:
            return None
        return max(0, self.user_budget - self.user_spent - self.user_pending)

    @property
    def team_left(self) -> int | None:
        if self.team_budget is None:
            return None
        return max(0, self.team_budget - self.team_spent - self.team_pending)


@dataclass(frozen=True)
class Verdict:
    """The rule's answer for one Start: its estimate, the standing, whether approval is due."""

    estimate: Estimate
    low_cents: int
    high_cents: int
    standing: Standing
    needs_approval: bool


def refusal(standing: Standing, high_cents: int) -> BudgetExceededError | None:
    """The budget this Start would break (the owner's first), with spent, left and reset date."""
    checks = (
        (USER_BUDGET, "you", standing.user_spent, standing.user_pending, standing.user_budget),
        (TEAM_BUDGET, "the team", standing.team_spent, standing.team_pending, standing.team_budget),
    )
    for name, who, spent, pending, budget in checks:
        if budget is None or spent + pending + high_cents <= budget:
            continue
        left = max(0, budget - spent - pending)
        waiting = f" plus {format_cents(pending)} awaiting approval" if pending else ""
        return BudgetExceededError(
            f"Refused by {name} ({format_cents(budget)} a month): this training may cost up to "
            f"{format_cents(high_cents)}, and {who} already spent {format_cents(spent)} in "
            f"{standing.month}{waiting}, so {format_cents(left)} is left; it resets on "
            f"{standing.resets_at:%Y-%m-%d} 00:00 UTC. Nothing was submitted.",
            field=name,
        )
    return None


class Budget:
    """Estimates from the team's history, the budget and approval rule, and the ledger."""

    def __init__(self, ledger: Ledger, settings: Settings) -> None:
        self.ledger = ledger
        self.settings = settings

    @property
    def approval_cents(self) -> int | None:
        return _cents(self.settings.approval_above)

    async def calibration(self) -> Calibration | None:
        return calibrate(await self.ledger.samples())

    async def estimate(self, config: Any, images: int | None = None) -> Estimate:
        """The estimate every front end shows for this config and dataset size, learnt from the
        team's runs."""
        steps, batch_size, resolution = training_shape(config)
        return estimate_training(
            steps=steps,
            batch_size=batch_size,
            resolution=resolution,
            gpu_price=self.settings.gpu_price,
            calibration=await self.calibration(),
            images=images,
        )

    async def standing(self, owner_id: int, now: datetime | None = None) -> Standing:
        """Spent this month and awaiting approval, against each budget; a budget that is not
        set costs no query."""
        month = month_of(now or utcnow())
        user_budget = _cents(self.settings.budget_user_monthly)
        team_budget = _cents(self.settings.budget_team_monthly)
        waiting: dict[int, tuple[int, int]] = {}
        if user_budget is not None or team_budget is not None:
            waiting = await self.ledger.awaiting_approval()
        return Standing(
            month=month,
            user_spent=0 if user_budget is None else await self.ledger.spent_cents(month, owner_id),
            team_spent=0 if team_budget is None else await self.ledger.spent_cents(month),
            user_budget=user_budget,
            team_budget=team_budget,
            user_pending=waiting.get(owner_id, (0, 0))[1],
            team_pending=sum(cents for _, cents in waiting.values()),
        )

    async def verdict(
        self, owner_id: int, config: Any, *, approved: bool = False, images: int | None = None
    ) -> Verdict:
        """The rule, without raising: estimate, standing, and whether approval is due."""
        estimate = await self.estimate(config, images)
        high = estimate.high_cents
        threshold = self.approval_cents
        return Verdict(
            estimate=estimate,
            low_cents=estimate.low_cents,
            high_cents=high,
            standing=await self.standing(owner_id),
            needs_approval=threshold is not None and high > threshold and not approved,
        )

    async def check(
        self, owner_id: int, config: Any, *, approved: bool = False, images: int | None = None
    ) -> Verdict:
        """Raise BudgetExceededError or ApprovalRequiredError; else the verdict to record."""
        verdict = await self.verdict(owner_id, config, approved=approved, images=images)
        refused = refusal(verdict.standing, verdict.high_cents)
        if refused is not None:
            raise refused
        if verdict.needs_approval:
            raise ApprovalRequiredError(verdict, self.approval_cents or 0)
        return verdict

    async def record(
        self,
        row: TrainingRow,
        config: Any,
        verdict: Verdict | None = None,
        images: int | None = None,
    ) -> None:
        """File a started training with its dataset's image count (an adopted one, which has no
        verdict from its Start, gets its estimate computed now)."""
        if verdict is None:
            verdict = await self.verdict(row.owner_id, config, approved=True, images=images)
        steps, batch_size, resolution = training_shape(config)
        await self.ledger.record(
            LedgerEntry(
                training_id=row.id,
                owner_id=row.owner_id,
                guild_id=row.guild_id,
                month=month_of(row.created_at),
                estimate_low_cents=verdict.low_cents,
                estimate_high_cents=verdict.high_cents,
                estimate_basis=verdict.estimate.basis,
                steps=steps,
                batch_size=batch_size,
                resolution=resolution,
                images=images,
                created_at=row.created_at,
            )
        )

    async def settle(self, training: Training) -> bool:
        """Record an ended training's cost (and its loss curve, from the log parser) once; the
        log is read only for a training still unsettled, not on every later poll. A cost left
        unknown at the ending is filled in by the first later read that reports it."""
        entry = await self.ledger.get(training.id)
        if entry is None:
            return False
        cents = bill_cents(training, self.settings.gpu_price)
        if entry.settled:
            if entry.cost_unknown and cents is not None:
                log.info("training %s: its cost is known now (%s)", training.id, cents)
                return await self.ledger.fill_cost(training.id, training.predict_time, cents)
            return False
        points = loss_curve(training.logs) if training.status == "succeeded" else None
        return await self.ledger.settle(
            training.id, training.status, training.predict_time, cents, points
        )

    async def unknown_costs(self) -> list[str]:
        """Ended trainings whose bill Replicate has not reported, young enough to ask again."""
        return await self.ledger.unknown_costs(utcnow() - COST_ASK_FOR)


@dataclass(frozen=True)
class MoneyLines:
    """What a preview says about money: the estimate (with its basis), blocking refusals, notes."""

    estimate: str
    problems: list[str]
    notes: list[str]
    verdict: Verdict


def _waiting(cents: int) -> str:
    return f" and {format_cents(cents)} awaiting approval" if cents else ""


def money_lines(verdict: Verdict, approval_cents: int | None) -> MoneyLines:
    """The preview's view of the rule, so the user learns before Start what Start will do."""
    estimate = f"{format_estimate(verdict.estimate)} ({verdict.estimate.basis})"
    refused = refusal(verdict.standing, verdict.high_cents)
    problems = [str(refused)] if refused is not None else []
    notes: list[str] = []
    st = verdict.standing
    if st.user_budget is not None:
        notes.append(
            f"Your {st.month}: {format_cents(st.user_spent)} of {format_cents(st.user_budget)} "
            f"spent{_waiting(st.user_pending)}, {format_cents(st.user_left or 0)} left."
        )
    if st.team_budget is not None:
        notes.append(
            f"Team {st.month}: {format_cents(st.team_spent)} of {format_cents(st.team_budget)} "
            f"spent{_waiting(st.team_pending)}, {format_cents(st.team_left or 0)} left."
        )
    if verdict.needs_approval and approval_cents is not None:
        notes.append(
            f"Up to {format_cents(verdict.high_cents)} is above {APPROVAL_ABOVE} "
            f"({format_cents(approval_cents)}): Start asks a manager to approve it first."
        )
    return MoneyLines(estimate=estimate, problems=problems, notes=notes, verdict=verdict)
