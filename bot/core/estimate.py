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
saving): about 3-6 minutes. Re-calibrate from finished trainings with `calibrate()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.errors import InputError

S_PER_STEP_LOW = 1.0  # seconds per step, batch 1 @ 1024x1024, optimistic end (H100)
S_PER_STEP_HIGH = 1.6  # seconds per step, batch 1 @ 1024x1024, pessimistic end (H100)
REFERENCE_PIXELS = 1024 * 1024
FIXED_SHARE = 0.15  # part of a step that does not grow with batch x pixels
OVERHEAD_LOW = 180.0  # seconds: base weights download + unzip + latents + save, best case
OVERHEAD_HIGH = 360.0  # seconds: the same, worst case seen


@dataclass(frozen=True)
class Estimate:
    """A range of billed seconds and of dollars for one training."""

    seconds_low: float
    seconds_high: float
    cost_low: float
    cost_high: float


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
    *, steps: int, batch_size: int, resolution: str, gpu_price: float
) -> Estimate:
    """The range of billed time and cost for a run, before it is submitted."""
    low, high = seconds_per_step(batch_size, resolution)
    steps = max(0, steps)
    seconds_low = OVERHEAD_LOW + steps * low
    seconds_high = OVERHEAD_HIGH + steps * high
    return Estimate(
        seconds_low=seconds_low,
        seconds_high=seconds_high,
        cost_low=seconds_low * gpu_price,
        cost_high=seconds_high * gpu_price,
    )


def actual_cost(predict_time: float | None, gpu_price: float) -> float | None:
    """What a finished run cost: billed seconds x price; None when Replicate did not say."""
    if predict_time is None or predict_time < 0:
        return None
    return predict_time * gpu_price


def calibrate(samples: Iterable[tuple[int, int, str, float]]) -> tuple[float, float] | None:
    """Observed (min, max) seconds per step at batch 1 @ 1024 px from finished runs.

    Each sample is (steps, batch_size, resolution, predict_time). The mid overhead is taken off
    first; runs too short to say anything (under 50 steps) are ignored. Compare the result with
    `S_PER_STEP_LOW`/`S_PER_STEP_HIGH` to re-tune them.
    """
    rates: list[float] = []
    overhead = (OVERHEAD_LOW + OVERHEAD_HIGH) / 2
    for steps, batch_size, resolution, predict_time in samples:
        if steps < 50 or predict_time <= overhead:
            continue
        rates.append((predict_time - overhead) / steps / step_scale(batch_size, resolution))
    return (min(rates), max(rates)) if rates else None


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
