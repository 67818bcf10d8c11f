"""Time and cost of a training, as a range before it is submitted (the bill after it ends is
`bot.core.money.cents.actual_cents`).

Replicate bills active GPU seconds (`metrics.predict_time` x the GPU's price per second). Before a
run we only have the config and the dataset report, so the estimate is a RANGE built from an
explicit model:

    seconds = base + per_image x images + steps x seconds_per_step(batch_size, largest bucket)
    seconds_per_step = S_PER_STEP x (FIXED_SHARE + (1 - FIXED_SHARE) x batch x pixels / 1024²)

Calibration (an estimate, not a measurement of this trainer): SD3.5 Large LoRA training with
ai-toolkit on one H100 runs at roughly 1.0-1.6 s/it at batch 1 with 1024 px images (community
reports and tqdm rates seen in runs of comparable trainers); the low and high ends of that span are
`S_PER_STEP_LOW` / `S_PER_STEP_HIGH`. Work per step grows with batch x pixels; a slice of each step
(optimizer update, LoRA bookkeeping, data loading) does not, which is `FIXED_SHARE`. The largest
bucket is used because ai-toolkit trains on every listed resolution and the largest dominates.

The time before the first step is the overhead. Part of it is fixed, `BASE_*` (downloading the
base weights, loading the model, saving the LoRA); part grows with the dataset, `PER_IMAGE_*`:
ai-toolkit unpacks and encodes every image (latents, once per resolution bucket) and its caption
before training starts. The number of images does not change the time of a step: a step reads
`batch_size` images whatever the dataset's size. At a typical 20 images the overhead is 3-6
minutes. When a Start's image count is not known (a dataset that was not checked, a row filed
before the count was stored), `DEFAULT_IMAGES` stands in for it.

Those are someone else's runs. Once the team has a few finished trainings of its own,
`calibrate()` fits `seconds = base + per_image x images + rate x steps x step_scale` to them (least
squares). The per-image cost is fitted only when the history spans image counts enough to tell it
from the rest; otherwise the community per-image figure is kept and only base and rate are fitted.
`estimate_training` blends that fit with the community range, weighting the team's runs by how
many there are: three runs move the estimate a little, thirty decide it. Every estimate says what
it is based on, so a user knows how far to trust it. `docs/money.md` has the whole picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.errors import InputError
from bot.core.money.cents import format_cents, seconds_cents

S_PER_STEP_LOW = 1.0  # seconds per step, batch 1 @ 1024x1024, optimistic end (H100)
S_PER_STEP_HIGH = 1.6  # seconds per step, batch 1 @ 1024x1024, pessimistic end (H100)
REFERENCE_PIXELS = 1024 * 1024
FIXED_SHARE = 0.15  # part of a step that does not grow with batch x pixels
BASE_LOW = 174.0  # seconds: base weights download + model load + save, best case
BASE_HIGH = 330.0  # seconds: the same, worst case seen
PER_IMAGE_LOW = 0.3  # seconds per image: unpack, latents and caption embedding, one bucket
PER_IMAGE_HIGH = 1.5  # seconds per image: the same with three buckets and a slow disk
DEFAULT_IMAGES = 20  # stands in for an unknown image count (a typical LoRA dataset)
OVERHEAD_LOW = BASE_LOW + PER_IMAGE_LOW * DEFAULT_IMAGES  # 180 s before the first step
OVERHEAD_HIGH = BASE_HIGH + PER_IMAGE_HIGH * DEFAULT_IMAGES  # 360 s
COMMUNITY = "community figures"
MIN_SAMPLES = 3  # fewer finished runs than this say too little to fit anything
MIN_SAMPLE_STEPS = 50  # shorter runs are mostly overhead
MIN_IMAGE_SPAN = 20  # fewer images between the smallest and largest dataset: no per-image fit
MIN_IMAGE_SAMPLES = 5  # three parameters from fewer runs with a count chase their noise
PRIOR_WEIGHT = 4.0  # in the blend, the community figures count as this many of the team's runs
MIN_SPREAD = 0.08  # a fitted range is never narrower than +-8 %: GPUs and datasets vary


@dataclass(frozen=True)
class Estimate:
    """A range of billed seconds and of cents for one training, and what it is based on."""

    seconds_low: float
    seconds_high: float
    low_cents: int
    high_cents: int
    basis: str = COMMUNITY


@dataclass(frozen=True)
class Sample:
    """One finished training, as far as its duration goes (`images` None: not recorded)."""

    steps: int
    batch_size: int
    resolution: str
    predict_time: float
    images: int | None = None


@dataclass(frozen=True)
class Calibration:
    """`seconds = overhead + per_image x images + rate x steps x step_scale`, fitted on `count`
    finished runs; `spread` is the relative half-width that covers their scatter.
    `images_fitted`: per_image was learnt from the runs, not taken from the community figures."""

    overhead: float
    rate: float
    spread: float
    count: int
    per_image: float = (PER_IMAGE_LOW + PER_IMAGE_HIGH) / 2
    images_fitted: bool = False

    @property
    def basis(self) -> str:
        return f"from {self.count} of the team's trainings"

    def seconds(
        self, steps: int, batch_size: int, resolution: str, images: int | None = None
    ) -> float:
        count = DEFAULT_IMAGES if images is None else max(0, images)
        work = max(0, steps) * self.rate * step_scale(batch_size, resolution)
        return self.overhead + self.per_image * count + work


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
    images: int | None = None,
) -> Estimate:
    """The range of billed time and cost for a run, before it is submitted: the community
    range, blended with the team's own fit when there is one. `images`: the dataset's usable
    images (None when unknown: `DEFAULT_IMAGES`)."""
    low, high = seconds_per_step(batch_size, resolution)
    steps = max(0, steps)
    count = DEFAULT_IMAGES if images is None else max(0, images)
    seconds_low = BASE_LOW + PER_IMAGE_LOW * count + steps * low
    seconds_high = BASE_HIGH + PER_IMAGE_HIGH * count + steps * high
    basis = COMMUNITY
    if calibration is not None:
        mid = calibration.seconds(steps, batch_size, resolution, images)
        weight = calibration.count / (calibration.count + PRIOR_WEIGHT)
        seconds_low = weight * mid * (1 - calibration.spread) + (1 - weight) * seconds_low
        seconds_high = weight * mid * (1 + calibration.spread) + (1 - weight) * seconds_high
        basis = calibration.basis
    return Estimate(
        seconds_low=seconds_low,
        seconds_high=seconds_high,
        low_cents=seconds_cents(seconds_low, gpu_price),
        high_cents=seconds_cents(seconds_high, gpu_price),
        basis=basis,
    )


_Point = tuple[float, float, float]  # (steps x step_scale, images, predict_time)


def _points(samples: Iterable[Sample]) -> tuple[list[_Point], int]:
    """Usable runs as points, and how many of them had their image count recorded. A run
    without one gets the mean count of those that have one (DEFAULT_IMAGES if none has): it
    still tells base and rate, and adds nothing to the per-image slope."""
    raw: list[tuple[float, int | None, float]] = []
    for s in samples:
        if s.steps < MIN_SAMPLE_STEPS or not s.predict_time > 0:
            continue
        try:
            raw.append((s.steps * step_scale(s.batch_size, s.resolution), s.images, s.predict_time))
        except InputError:
            continue
    known = [n for _, n, _ in raw if n is not None and n >= 0]
    fill = sum(known) / len(known) if known else float(DEFAULT_IMAGES)
    points = [(x, float(n) if n is not None and n >= 0 else fill, y) for x, n, y in raw]
    return points, len(known)


def _fit_with_images(points: list[_Point]) -> tuple[float, float, float] | None:
    """(base, per_image, rate) by least squares, or None when steps and image counts do not
    vary independently enough to tell them apart, or the fit is not physical."""
    n = len(points)
    mx, mn, my = (sum(p[i] for p in points) / n for i in range(3))
    sxx = sum((x - mx) ** 2 for x, _, _ in points)
    snn = sum((c - mn) ** 2 for _, c, _ in points)
    sxn = sum((x - mx) * (c - mn) for x, c, _ in points)
    sxy = sum((x - mx) * (y - my) for x, _, y in points)
    sny = sum((c - mn) * (y - my) for _, c, y in points)
    det = sxx * snn - sxn * sxn
    if sxx <= (0.05 * mx) ** 2 * n or det <= 0.05 * sxx * snn:
        return None
    rate = (sxy * snn - sny * sxn) / det
    per_image = (sny * sxx - sxy * sxn) / det
    base = my - rate * mx - per_image * mn
    if base < 0:  # the best physical fit has no fixed part: refit through the origin
        sxx, snn, sxn = (sum(p[i] * p[j] for p in points) for i, j in ((0, 0), (1, 1), (0, 1)))
        sxy, sny = (sum(p[i] * p[2] for p in points) for i in (0, 1))
        det = sxx * snn - sxn * sxn
        if det <= 0.05 * sxx * snn:
            return None
        base, rate = 0.0, (sxy * snn - sny * sxn) / det
        per_image = (sny * sxx - sxy * sxn) / det
    if rate <= 0 or per_image < 0:
        return None
    return base, per_image, rate


def _fit_without_images(points: list[_Point], per_image: float) -> tuple[float, float]:
    """(base, rate) with the community per-image cost taken off each run first. A negative base
    becomes 0 (the best fit that is physical). When the runs are too alike to separate base from
    rate (same steps every time) or the rate is not positive, the community base is kept and
    only the rate is fitted."""
    pts = [(x, y - per_image * c) for x, c, y in points]
    n = len(pts)
    mean_x = sum(x for x, _ in pts) / n
    mean_y = sum(y for _, y in pts) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in pts)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in pts)
    base, rate = -1.0, -1.0
    if sxx > (0.05 * mean_x) ** 2 * n:
        rate = sxy / sxx
        base = mean_y - rate * mean_x
        if rate > 0 and base < 0:  # the best physical fit has no fixed part
            base, rate = 0.0, sum(x * y for x, y in pts) / sum(x * x for x, _ in pts)
    if rate <= 0 or base < 0:
        base = (BASE_LOW + BASE_HIGH) / 2
        rates = [(y - base) / x for x, y in pts if x > 0]
        rate = max(sum(rates) / len(rates), 0.01) if rates else S_PER_STEP_LOW
    return base, rate


def calibrate(samples: Iterable[Sample]) -> Calibration | None:
    """Fit the overhead, the per-image cost and the seconds per step to finished runs; None with
    fewer than MIN_SAMPLES usable runs.

    The per-image cost is fitted when at least MIN_IMAGE_SAMPLES runs recorded their count and
    those counts span MIN_IMAGE_SPAN images or more; otherwise it is the community figure.
    """
    points, known = _points(samples)
    if len(points) < MIN_SAMPLES:
        return None
    per_image = (PER_IMAGE_LOW + PER_IMAGE_HIGH) / 2
    counts = [c for _, c, _ in points]
    fitted = None
    if known >= MIN_IMAGE_SAMPLES and max(counts) - min(counts) >= MIN_IMAGE_SPAN:
        fitted = _fit_with_images(points)
    if fitted is not None:
        base, per_image, rate = fitted
    else:
        base, rate = _fit_without_images(points, per_image)
    errors = [(y - base - per_image * c - rate * x) / y for x, c, y in points]
    spread = max(MIN_SPREAD, 2 * math.sqrt(sum(e * e for e in errors) / len(points)))
    return Calibration(
        overhead=base,
        rate=rate,
        spread=min(spread, 0.9),
        count=len(points),
        per_image=per_image,
        images_fitted=fitted is not None,
    )


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
    cost_low, cost_high = format_cents(estimate.low_cents), format_cents(estimate.high_cents)
    money = cost_low if cost_low == cost_high else f"{cost_low}–{cost_high}"
    return f"{span}, {money}"
