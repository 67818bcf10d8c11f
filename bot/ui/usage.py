"""The /usage answer: the month's spend per user and for the team against the budgets, the
estimates' accuracy, and the chart. Pure: built from a `UsageReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import discord

from bot.core.money.cents import format_cents
from bot.core.money.usage import Spend, UsageReport
from bot.ui.format import BLUE, DESCRIPTION, FIELD_VALUE, clip, mention, relative


def _budget_part(spent: int, budget: int | None, waiting: int = 0) -> str:
    if budget is None:
        return f"{format_cents(spent)} (no cap)"
    left = max(0, budget - spent - waiting)
    return f"{format_cents(spent)} of {format_cents(budget)}, {format_cents(left)} left"


def spend_line(spend: Spend, budget: int | None, waiting: tuple[int, int] = (0, 0)) -> str:
    """`$4.20 of $20.00, $15.80 left · 3 trainings, 1 failed ($0.40 lost) · 1 running ·
    $3.66 awaiting approval (1 request)`; what awaits approval is held back from what is left."""
    parts = [_budget_part(spend.total, budget, waiting[1]), f"{spend.trainings} training(s)"]
    if spend.failed:
        parts[-1] += f", {spend.failed} failed ({format_cents(spend.lost)} lost)"
    if spend.running:
        parts.append(f"{spend.running} running (counted at their high estimate)")
    if spend.unknown:
        parts.append(
            f"{spend.unknown} ended with cost unknown (Replicate has not reported it yet; "
            "counted at their high estimate)"
        )
    if waiting[0]:
        parts.append(
            f"{format_cents(waiting[1])} awaiting approval ({waiting[0]} request(s), "
            "at their high estimate)"
        )
    return " · ".join(parts)


def accuracy_line(report: UsageReport) -> str:
    acc = report.accuracy
    if acc is None:
        return "No ended training this month to compare estimates with."
    return (
        f"Over {acc.count} ended training(s) the middle of the estimate was off by "
        f"{acc.mean_error:.0%} on average; {acc.within} of {acc.count} cost within the range."
    )


def usage_embed(
    report: UsageReport, user_ids: Iterable[int], *, chart: str | None
) -> discord.Embed:
    """Team totals, then one line per user shown (the caller decides who may be seen)."""
    embed = discord.Embed(
        title=f"Spend in {report.month} (UTC)",
        colour=BLUE,
        description=clip(
            "Actual cost of ended trainings plus the high estimate of running ones (and of "
            "ended ones whose cost is not known yet). Budgets "
            f"reset {relative(report.resets_at)}.",
            DESCRIPTION,
        ),
    )
    embed.add_field(
        name="Team",
        value=clip(spend_line(report.team, report.team_budget, report.waiting()), FIELD_VALUE),
        inline=False,
    )
    lines = [
        f"{mention(uid)}: "
        + spend_line(report.users.get(uid, Spend()), report.user_budget, report.waiting(uid))
        for uid in user_ids
    ]
    if lines:
        embed.add_field(name="Per user", value=clip("\n".join(lines), FIELD_VALUE), inline=False)
    embed.add_field(name="Estimates", value=clip(accuracy_line(report), FIELD_VALUE), inline=False)
    if chart:
        embed.set_image(url=f"attachment://{chart}")
    return embed


def chart_data(
    report: UsageReport, user_ids: Iterable[int], name_of: Callable[[int], str]
) -> dict[str, dict[str, int]]:
    """Cents by outcome per shown user, keyed by a readable name (unique)."""
    data: dict[str, dict[str, int]] = {}
    for uid in user_ids:
        name = name_of(uid)
        if name in data:
            name = f"{name} ({uid})"
        data[name] = dict(report.users.get(uid, Spend()).by_outcome)
    return data
