"""Time and cost estimates (ranges), actual cost, and their formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.errors import InputError
from bot.core.money import estimate as est
from bot.core.money.cents import actual_cents, format_cents, seconds_cents, to_cents
from bot.core.money.estimate import (
    Estimate,
    Sample,
    calibrate,
    estimate_training,
    format_duration,
    format_estimate,
)

H100 = 0.001525


def test_calibration_point_is_the_documented_range() -> None:
    e = estimate_training(steps=1000, batch_size=1, resolution="1024", gpu_price=H100)
    assert e.seconds_low == pytest.approx(est.OVERHEAD_LOW + 1000 * est.S_PER_STEP_LOW)
    assert e.seconds_high == pytest.approx(est.OVERHEAD_HIGH + 1000 * est.S_PER_STEP_HIGH)
    assert e.low_cents == to_cents(Decimal(str(e.seconds_low)) * Decimal(str(H100)))
    assert e.high_cents == to_cents(Decimal(str(e.seconds_high)) * Decimal(str(H100)))
    assert e.seconds_low < e.seconds_high


def test_largest_bucket_batch_and_steps_drive_the_cost() -> None:
    def high(**kw: object) -> float:
        args: dict[str, object] = {"steps": 1000, "batch_size": 1, "resolution": "512,768"}
        args.update(kw)
        return estimate_training(gpu_price=H100, **args).seconds_high  # type: ignore[arg-type]

    assert high(resolution="512,768") == high(resolution="768")
    assert high(resolution="512,768,1024") > high(resolution="512,768") > high(resolution="512")
    assert high(batch_size=4) > high(batch_size=2) > high(batch_size=1)
    assert high(steps=2000) > high(steps=1000)
    assert estimate_training(
        steps=0, batch_size=1, resolution="512", gpu_price=H100
    ).seconds_low == (est.OVERHEAD_LOW)


def test_image_count_grows_the_overhead_not_the_steps() -> None:
    def at(images: int | None, steps: int = 1000) -> est.Estimate:
        return estimate_training(
            steps=steps, batch_size=1, resolution="1024", gpu_price=H100, images=images
        )

    # An unknown count is the typical dataset; every image adds its latents to the setup.
    assert at(None) == at(est.DEFAULT_IMAGES)
    assert at(220).seconds_low - at(20).seconds_low == pytest.approx(200 * est.PER_IMAGE_LOW)
    assert at(220).seconds_high - at(20).seconds_high == pytest.approx(200 * est.PER_IMAGE_HIGH)
    # ...and nothing to each step: the step-driven part is the same at 10 and 1000 images.
    for n in (10, 1000):
        assert at(n, 2000).seconds_high - at(n, 1000).seconds_high == pytest.approx(
            1000 * est.S_PER_STEP_HIGH
        )


def test_price_is_a_parameter() -> None:
    a = estimate_training(steps=700, batch_size=1, resolution="1024", gpu_price=H100)
    b = estimate_training(steps=700, batch_size=1, resolution="1024", gpu_price=2 * H100)
    assert abs(b.high_cents - 2 * a.high_cents) <= 1 and b.seconds_high == a.seconds_high


@pytest.mark.parametrize("bad", ["", "abc", "512,,768", "0", "-512", "99999", "512;768"])
def test_bad_resolution(bad: str) -> None:
    with pytest.raises(InputError) as err:
        estimate_training(steps=10, batch_size=1, resolution=bad, gpu_price=H100)
    assert err.value.field == "training.resolution"


def test_actual_cost() -> None:
    assert actual_cents(None, H100) is None
    assert actual_cents(-1, H100) is None
    assert actual_cents(1000.0, H100) == 153
    assert seconds_cents(1000.0, H100) == 153 and seconds_cents(-3, H100) == 0


def _runs(rate: float, overhead: float, shapes: list[tuple[int, int, str]]) -> list[Sample]:
    """Runs without an image count (rows filed before it was recorded)."""
    return [
        Sample(steps, batch, res, overhead + steps * rate * est.step_scale(batch, res))
        for steps, batch, res in shapes
    ]


def _runs_with_images(
    rate: float, base: float, per_image: float, shapes: list[tuple[int, int, str, int]]
) -> list[Sample]:
    return [
        Sample(
            steps, batch, res, base + per_image * n + steps * rate * est.step_scale(batch, res), n
        )
        for steps, batch, res, n in shapes
    ]


def test_calibrate_needs_a_few_real_runs() -> None:
    assert calibrate([]) is None
    too_short = Sample(10, 1, "1024", 9999.0)
    no_time = Sample(1000, 1, "1024", 0.0)
    bad_resolution = Sample(1000, 1, "abc", 1000.0)
    assert (
        calibrate([too_short, no_time, bad_resolution, *_runs(1.0, 60, [(1000, 1, "1024")])])
        is None
    )


def test_calibrate_recovers_overhead_and_rate_without_image_counts() -> None:
    """Older rows have no image count: the community per-image figure at the typical dataset
    size is taken off, and the fit still predicts those runs exactly."""
    shapes = [(1000, 1, "1024"), (1500, 2, "768"), (2000, 1, "512,1024"), (1200, 4, "512")]
    cal = calibrate(_runs(0.9, 75.0, shapes))
    assert cal is not None and cal.count == 4 and not cal.images_fitted
    per_image = (est.PER_IMAGE_LOW + est.PER_IMAGE_HIGH) / 2
    assert cal.per_image == per_image
    assert cal.rate == pytest.approx(0.9)
    assert cal.overhead == pytest.approx(75.0 - per_image * est.DEFAULT_IMAGES)
    assert cal.seconds(1500, 2, "768") == pytest.approx(
        75.0 + 1500 * 0.9 * est.step_scale(2, "768")
    )
    assert cal.spread == est.MIN_SPREAD and cal.basis == "from 4 of the team's trainings"


def test_calibrate_learns_the_per_image_cost_when_the_history_spans_image_counts() -> None:
    shapes = [
        (1000, 1, "1024", 12),
        (1500, 2, "768", 150),
        (2000, 1, "512,1024", 40),
        (1200, 4, "512", 300),
        (1800, 1, "1024", 25),
    ]
    cal = calibrate(_runs_with_images(0.9, 120.0, 2.5, shapes))
    assert cal is not None and cal.images_fitted and cal.count == 5
    assert cal.rate == pytest.approx(0.9)
    assert cal.per_image == pytest.approx(2.5) and cal.overhead == pytest.approx(120.0)
    assert cal.seconds(1000, 1, "1024", 500) == pytest.approx(120.0 + 2.5 * 500 + 900.0)
    # Old rows without a count stay usable beside them and do not bend the per-image slope.
    old = _runs(0.9, 120.0 + 2.5 * 105.4, [(1000, 1, "1024")])  # at the mean count, 105.4
    mixed = calibrate([*_runs_with_images(0.9, 120.0, 2.5, shapes), *old])
    assert mixed is not None and mixed.count == 6 and mixed.images_fitted
    assert mixed.per_image == pytest.approx(2.5, rel=0.05)


def test_calibrate_keeps_the_prior_per_image_cost_when_counts_are_alike() -> None:
    """Every dataset of about the same size: the per-image cost cannot be told from the base."""
    shapes = [(1000 + 200 * i, 1, "1024", 20 + i % 3) for i in range(6)]
    cal = calibrate(_runs_with_images(0.8, 100.0, 3.0, shapes))
    assert cal is not None and not cal.images_fitted
    assert cal.per_image == (est.PER_IMAGE_LOW + est.PER_IMAGE_HIGH) / 2
    assert cal.seconds(1400, 1, "1024", 21) == pytest.approx(100.0 + 63.0 + 1400 * 0.8, rel=0.01)


def test_calibrate_falls_back_when_images_and_steps_move_together() -> None:
    """Bigger datasets always trained longer: the two cannot be separated, so per-image stays
    the prior, and the range's spread still covers every run of the history."""
    shapes = [(1000 + 10 * n, 1, "1024", n) for n in (10, 50, 100, 200)]
    runs = _runs_with_images(0.8, 100.0, 3.0, shapes)
    cal = calibrate(runs)
    assert cal is not None and not cal.images_fitted
    for run in runs:
        guess = cal.seconds(run.steps, run.batch_size, run.resolution, run.images)
        assert abs(guess - run.predict_time) / run.predict_time <= cal.spread


def test_calibrate_keeps_prior_overhead_when_runs_are_alike() -> None:
    cal = calibrate(_runs(1.1, 100.0, [(1000, 1, "1024")] * 3))
    assert cal is not None
    assert cal.overhead == (est.BASE_LOW + est.BASE_HIGH) / 2
    assert cal.seconds(1000, 1, "1024") == pytest.approx(1100.0 + 100.0)


def test_learned_estimate_blends_with_the_prior_by_count() -> None:
    prior = estimate_training(steps=1500, batch_size=1, resolution="1024", gpu_price=H100)
    assert prior.basis == est.COMMUNITY
    shapes = [(1000 + 100 * i, 1, "1024") for i in range(30)]
    truth = 75.0 + 1500 * 0.7
    few = estimate_training(
        steps=1500, batch_size=1, resolution="1024", gpu_price=H100,
        calibration=calibrate(_runs(0.7, 75.0, shapes[:3])),
    )  # fmt: skip
    many = estimate_training(
        steps=1500, batch_size=1, resolution="1024", gpu_price=H100,
        calibration=calibrate(_runs(0.7, 75.0, shapes)),
    )  # fmt: skip
    assert few.basis == "from 3 of the team's trainings"
    assert many.basis == "from 30 of the team's trainings"
    mid = lambda e: (e.seconds_low + e.seconds_high) / 2  # noqa: E731
    # The team's runs are faster than the community figures: more runs, closer to the truth.
    assert abs(mid(many) - truth) < abs(mid(few) - truth) < abs(mid(prior) - truth)
    assert many.seconds_low < truth < many.seconds_high


def test_money_in_cents() -> None:
    assert to_cents(2.345) == 235 and to_cents(Decimal("0.005")) == 1 and to_cents(20) == 2000
    assert actual_cents(None, H100) is None and actual_cents(-1, H100) is None
    assert actual_cents(1000.0, H100) == 153  # 1.525 rounds half up
    assert actual_cents(0.1 + 0.2, 1.0) == 30  # no float error reaches the cents
    assert format_cents(0) == "$0.00" and format_cents(123456) == "$1,234.56"
    assert format_cents(-5) == "$0.00"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (-5, "0 s"),
        (float("nan"), "0 s"),
        (45, "45 s"),
        (59.4, "59 s"),
        (60, "1 min"),
        (42 * 60 + 10, "42 min"),
        (3599, "1 h 00 min"),
        (3600 + 5 * 60, "1 h 05 min"),
        (10 * 3600 + 59 * 60 + 40, "11 h 00 min"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_cents() -> None:
    assert format_cents(231) == "$2.31"
    assert format_cents(0) == "$0.00"
    assert format_cents(123450) == "$1,234.50"
    assert format_cents(-100) == "$0.00"


def test_format_estimate() -> None:
    low, high = seconds_cents(1500, H100), seconds_cents(2400, H100)
    assert format_estimate(Estimate(1500, 2400, low, high)) == "25–40 min, $2.29–$3.66"
    assert format_estimate(Estimate(50 * 60, 70 * 60, 100, 100)) == "50 min–1 h 10 min, $1.00"
    assert format_estimate(Estimate(30, 30, 0, 0)) == "30 s, $0.00"
    real = estimate_training(steps=1000, batch_size=1, resolution="512,768", gpu_price=H100)
    assert "min" in format_estimate(real) and "$" in format_estimate(real)
