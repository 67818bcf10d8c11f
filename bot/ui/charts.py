"""PNG charts: the loss curve of a succeeded training and the month's spend per user.

matplotlib is imported only when a chart is drawn (its import is slow, see benchmarks/README.md,
and the bot may never draw one), through its object API with the Agg canvas: no pyplot, no global
state, no display needed, safe to run in a worker thread (`asyncio.to_thread`), which callers do
because drawing is CPU work.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.money.cents import format_cents
from bot.core.money.usage import OUTCOMES
from bot.core.trainer_log.loss import smooth

_COLOURS = {
    "succeeded": "#57F287",
    "failed": "#ED4245",
    "canceled": "#99AAB5",
    "running": "#5865F2",
}


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def loss_curve_png(points: Sequence[tuple[int, float]], *, title: str) -> bytes:
    """Raw loss (faint) and its smoothed curve (bold) against the step."""
    figure = _figure(8, 4)
    axes = figure.add_subplot()
    steps = [s for s, _ in points]
    axes.plot(steps, [v for _, v in points], color="#5865F2", alpha=0.25, linewidth=0.8)
    axes.plot(
        steps, [v for _, v in smooth(list(points))], color="#5865F2", linewidth=2, label="smoothed"
    )
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    return _png(figure)


def usage_chart_png(
    spend: Mapping[str, Mapping[str, int]], *, budget_cents: int | None, title: str
) -> bytes:
    """Stacked bars of cents per user by outcome, with the per-user budget as a line.

    `spend` maps a user's display name to cents by outcome (`bot.core.money.usage.OUTCOMES`).
    """
    names = list(spend) or ["nobody"]
    figure = _figure(max(5.0, 1.2 * len(names) + 2), 4)
    axes = figure.add_subplot()
    bottom = [0.0] * len(names)
    for outcome in OUTCOMES:
        values = [spend.get(name, {}).get(outcome, 0) / 100 for name in names]
        axes.bar(names, values, bottom=bottom, label=outcome, color=_COLOURS[outcome])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if budget_cents is not None:
        axes.axhline(
            budget_cents / 100,
            color="#ED4245",
            linestyle="--",
            label=f"budget {format_cents(budget_cents)}",
        )
    axes.set_ylabel("USD")
    axes.set_title(title)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    axes.tick_params(axis="x", labelrotation=20)
    return _png(figure)
