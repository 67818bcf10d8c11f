"""Time and cost of a training, as a range before it is submitted and exactly after it ends.

Replicate bills active GPU seconds (`metrics.predict_time` x the GPU's price per second). Before a
run we only have the config, so the estimate is a RANGE built from an explicit per-step model:

    seconds = overhead + steps x seconds_per_step(batch_size, largest resolution bucket)
    seconds_per_step = S_PER_STEP x (FIXED_SHARE + (1 - FIXED_SHARE) x batch x pixels / 1024²)

Calibration (an estimate, not a measurement of this trainer): SD3.5 Large LoRA training with
ai-toolkit on one H100 runs at roughly 1.0-1.6 s/it at batch 1 with 1024 px images (community
reports and tqdm rates seen in runs of comparable trainers); the low and high ends of that span are
`S_PER_STEP_LOW` / `S_PER_STEP_HIGH`. Work per step grows with batch x pixels; a slice of each step
(optimizer update, LoRA bookkeeping, data loading) does not, which is `FIXED_SHARE`. The largest
bucket is used because ai-toolkit trains on every listed resolution and the largest dominates.
Setup is a fixed `OVERHEAD_*` (downloading the base weights, unpacking the zip, caching latents,
saving): about 3-6 minutes.

Those are someone else's runs. Once the team has a few finished trainings of its own,
`calibrate()` fits `seconds = overhead + rate x steps x step_scale` to them (least squares), and
`estimate_training` blends that fit with the community range, weighting the team's runs by how
many there are: three runs move the estimate a little, thirty decide it. Every estimate says what
it is based on, so a user knows how far to trust it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bot.core.errors import InputError

S_PER_STEP_LOW = 1.0  # seconds per step, batch 1 @ 1024x1024, optimistic end (H100)
S_PER_STEP_HIGH = 1.6  # seconds per step, batch 1 @ 1024x1024, pessimistic end (H100)
REFERENCE_PIXELS = 1024 * 1024
FIXED_SHARE = 0.15  # part of a step that does not grow with batch x pixels
OVERHEAD_LOW = 180.0  # seconds: base weights download + unzip + latents + save, best case
OVERHEAD_HIGH = 360.0  # seconds: the same, worst case seen
COMMUNITY = "community figures"
MIN_SAMPLES = 3  # fewer finished runs than this say too little to fit anything
MIN_SAMPLE_STEPS = 50  # shorter runs are mostly overhead
PRIOR_WEIGHT = 4.0  # in the blend, the community figures count as this many of the team's runs
MIN_SPREAD = 0.08  # a fitted range is never narrower than +-8 %: GPUs and datasets vary


@dataclass(frozen=True)
class Estimate:
    """A range of billed seconds and of dollars for one training, and what it is based on."""

    seconds_low: float
    seconds_high: float
    cost_low: float
    cost_high: float
    basis: str = COMMUNITY


@dataclass(frozen=True)
class Sample:
    """One finished training, as far as its duration goes."""

    steps: int
    batch_size: int
    resolution: str
    predict_time: float


@dataclass(frozen=True)
class Calibration:
    """`seconds = overhead + rate x steps x step_scale`, fitted on `count` finished runs;
    `spread` is the relative half-width that covers their scatter."""

    overhead: float
    rate: float
    spread: float
    count: int

    @property
    def basis(self) -> str:
        return f"from {self.count} of the team's trainings"

    def seconds(self, steps: int, batch_size: int, resolution: str) -> float:
        return self.overhead + max(0, steps) * self.rate * step_scale(batch_size, resolution)


def _digits(text: str) -> bool:
    """ASCII digits only, and few: `str.isdigit()` also accepts '²', which `int()` refuses."""
    return text.isascii() and text.isdigit() and len(text) <= 6


def largest_bucket(resolution: str | int) -> int:
    """The largest side in a trainer `resolution` ("512,768" -> 768); InputError if malformed."""
    parts = [p.strip() for p in str(resolution).split(",")]
    if not parts or not all(_digits(p) and 0 < int(p) <= 8192 for p in parts):
        raise InputError(
            f"resolution {resolution!r} must be comma-separated pixel sizes such as 512,768,1024.",
            field="training.resolution",
        )
    return max(int(p) for p in parts)


def step_scale(batch_size: int, resolution: str | int) -> float:
    """How much slower one step is than batch 1 @ 1024 px (1.0 = the calibration point)."""
    side = largest_bucket(resolution)
    work = max(1, batch_size) * side * side / REFERENCE_PIXELS
    return FIXED_SHARE + (1.0 - FIXED_SHARE) * work


def seconds_per_step(batch_size: int, resolution: str | int) -> tuple[float, float]:
    """The (low, high) seconds per step for this batch size and resolution."""
    scale = step_scale(batch_size, resolution)
    return S_PER_STEP_LOW * scale, S_PER_STEP_HIGH * scale


def estimate_training(
    *,
    steps: int,
    batch_size: int,
    resolution: str,
    gpu_price: float,
    calibration: Calibration | None = None,
) -> Estimate:
    """The range of billed time and cost for a run, before it is submitted: the community
    range, blended with the team's own fit when there is one."""
    low, high = seconds_per_step(batch_size, resolution)
    steps = max(0, steps)
    seconds_low = OVERHEAD_LOW + steps * low
    seconds_high = OVERHEAD_HIGH + steps * high
    basis = COMMUNITY
    if calibration is not None:
        mid = calibration.seconds(steps, batch_size, resolution)
        weight = calibration.count / (calibration.count + PRIOR_WEIGHT)
        seconds_low = weight * mid * (1 - calibration.spread) + (1 - weight) * seconds_low
        seconds_high = weight * mid * (1 + calibration.spread) + (1 - weight) * seconds_high
        basis = calibration.basis
    return Estimate(
        seconds_low=seconds_low,
        seconds_high=seconds_high,
        cost_low=seconds_low * gpu_price,
        cost_high=seconds_high * gpu_price,
        basis=basis,
    )


def actual_cost(predict_time: float | None, gpu_price: float) -> float | None:
    """What a finished run cost: billed seconds x price; None when Replicate did not say."""
    if predict_time is None or predict_time < 0:
        return None
    return predict_time * gpu_price


def calibrate(samples: Iterable[Sample]) -> Calibration | None:
    """Fit overhead and seconds per step to finished runs; None with fewer than MIN_SAMPLES.

    Least squares on (steps x step_scale, predict_time). When the runs are too alike to separate
    overhead from rate (same steps every time) or the fit is not physical (negative overhead or
    rate), the community overhead is kept and only the rate is fitted.
    """
    points: list[tuple[float, float]] = []
    for s in samples:
        if s.steps < MIN_SAMPLE_STEPS or not s.predict_time > 0:
            continue
        try:
            points.append((s.steps * step_scale(s.batch_size, s.resolution), s.predict_time))
        except InputError:
            continue
    if len(points) < MIN_SAMPLES:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    overhead, rate = -1.0, -1.0
    if sxx > (0.05 * mean_x) ** 2 * n:
        rate = sxy / sxx
        overhead = mean_y - rate * mean_x
    if rate <= 0 or overhead < 0:
        overhead = (OVERHEAD_LOW + OVERHEAD_HIGH) / 2
        rates = [(y - overhead) / x for x, y in points if x > 0]
        rate = max(sum(rates) / len(rates), 0.01) if rates else S_PER_STEP_LOW
    errors = [(y - overhead - rate * x) / y for x, y in points]
    spread = max(MIN_SPREAD, 2 * math.sqrt(sum(e * e for e in errors) / n))
    return Calibration(overhead=overhead, rate=rate, spread=min(spread, 0.9), count=n)


def to_cents(usd: float | Decimal) -> int:
    """Dollars as whole cents, rounded half up once (money is summed in cents, never floats)."""
    amount = Decimal(str(usd)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(amount * 100)


def actual_cents(predict_time: float | None, gpu_price: float) -> int | None:
    """`actual_cost` in whole cents, computed in decimal so no float error reaches a sum."""
    if predict_time is None or predict_time < 0:
        return None
    amount = Decimal(str(predict_time)) * Decimal(str(gpu_price))
    return int(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


def format_cents(cents: int) -> str:
    """`$12.34` from whole cents (negative amounts show as $0.00, like `format_money`)."""
    cents = max(0, cents)
    return f"${cents // 100:,}.{cents % 100:02d}"


def format_duration(seconds: float) -> str:
    """`45 s`, `42 min`, `1 h 05 min`: as precise as a person reading a chat message needs."""
    total = round(max(0.0, seconds)) if seconds == seconds else 0
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_money(usd: float) -> str:
    """`$2.31`; a non-zero amount under a cent reads `<$0.01` rather than a misleading `$0.00`."""
    if 0 < usd < 0.005:
        return "<$0.01"
    return f"${max(0.0, usd):,.2f}"


def format_estimate(estimate: Estimate) -> str:
    """`25–40 min, $2.29–$3.66` (the unit is written once when both ends share it)."""
    low = format_duration(estimate.seconds_low)
    high = format_duration(estimate.seconds_high)
    if low == high:
        span = low
    elif low.endswith(" min") and high.endswith(" min") and " h " not in low + high:
        span = f"{low.removesuffix(' min')}–{high}"
    else:
        span = f"{low}–{high}"
    cost_low, cost_high = format_money(estimate.cost_low), format_money(estimate.cost_high)
    money = cost_low if cost_low == cost_high else f"{cost_low}–{cost_high}"
    return f"{span}, {money}"
