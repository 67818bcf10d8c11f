"""Money as whole cents: every amount the project stores, sums or shows is an `int` of cents.

Dollars enter in two places only, and are turned into cents there, once, in decimal arithmetic
(no float error reaches a sum): a price per GPU second times billed seconds (`seconds_cents`,
for an estimate and for an actual bill) and a budget set in the environment (`to_cents`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.replicate.training import Training

_CENT = Decimal("0.01")


def to_cents(usd: float | Decimal) -> int:
    """Dollars as whole cents, rounded half up once."""
    amount = Decimal(str(usd)).quantize(_CENT, rounding=ROUND_HALF_UP)
    return int(amount * 100)


def seconds_cents(seconds: float, gpu_price: float | Decimal) -> int:
    """What `seconds` of GPU time cost at `gpu_price` dollars a second, in whole cents."""
    return to_cents(Decimal(str(max(0.0, seconds))) * Decimal(str(gpu_price)))


def actual_cents(predict_time: float | None, gpu_price: float | Decimal) -> int | None:
    """What a finished run cost (Replicate's billed seconds x price); None when Replicate did
    not say, which is an unknown cost, never $0."""
    if predict_time is None or predict_time < 0:
        return None
    return seconds_cents(predict_time, gpu_price)


def bill_cents(training: Training, gpu_price: float | Decimal) -> int | None:
    """What an ended training cost; None while it runs, and None (unknown, not $0) when it ran
    but Replicate's answer has no `metrics.predict_time` yet. A training that ended before it
    ever started (aborted while queued) ran no GPU second: $0."""
    cents = actual_cents(training.predict_time, gpu_price)
    if cents is None and training.is_terminal and training.started_at is None:
        return 0
    return cents


def format_cents(cents: int) -> str:
    """`$12.34` from whole cents (negative amounts show as $0.00)."""
    cents = max(0, cents)
    return f"${cents // 100:,}.{cents % 100:02d}"
