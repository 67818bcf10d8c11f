"""Money as whole cents: every amount the project stores, sums or shows is an `int` of cents.

Dollars enter in two places only, and are turned into cents there, once, in decimal arithmetic
(no float error reaches a sum): a price per GPU second times billed seconds (`seconds_cents`,
for an estimate and for an actual bill) and a budget set in the environment (`to_cents`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

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


def format_cents(cents: int) -> str:
    """`$12.34` from whole cents (negative amounts show as $0.00)."""
    cents = max(0, cents)
    return f"${cents // 100:,}.{cents % 100:02d}"
