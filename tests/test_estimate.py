"""Time and cost estimates (ranges), actual cost, and their formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core import estimate as est
from bot.core.errors import InputError
from bot.core.estimate import (
    Estimate,
    Sample,
    actual_cents,
    actual_cost,
    calibrate,
    estimate_training,
    format_cents,
    format_duration,
    format_estimate,
    format_money,
    to_cents,
)

H100 = 0.001525


def test_calibration_point_is_the_documented_range() -> None:
    e = estimate_training(steps=1000, batch_size=1, resolution="1024", gpu_price=H100)
    assert e.seconds_low == pytest.approx(est.OVERHEAD_LOW + 1000 * est.S_PER_STEP_LOW)
    assert e.seconds_high == pytest.approx(est.OVERHEAD_HIGH + 1000 * est.S_PER_STEP_HIGH)
    assert e.cost_low == pytest.approx(e.seconds_low * H100)
    assert e.cost_high == pytest.approx(e.seconds_high * H100)
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


def test_price_is_a_parameter() -> None:
    a = estimate_training(steps=700, batch_size=1, resolution="1024", gpu_price=H100)
    b = estimate_training(steps=700, batch_size=1, resolution="1024", gpu_price=2 * H100)
    assert b.cost_high == pytest.approx(2 * a.cost_high) and b.seconds_high == a.seconds_high


@pytest.mark.parametrize("bad", ["", "abc", "512,,768", "0", "-512", "99999", "512;768"])
def test_bad_resolution(bad: str) -> None:
    with pytest.raises(InputError) as err:
        estimate_training(steps=10, batch_size=1, resolution=bad, gpu_price=H100)
    assert err.value.field == "training.resolution"


def test_actual_cost() -> None:
    assert actual_cost(None, H100) is None
    assert actual_cost(-1, H100) is None
    assert actual_cost(1000.0, H100) == pytest.approx(1.525)


def _runs(rate: float, overhead: float, shapes: list[tuple[int, int, str]]) -> list[Sample]:
    return [
        Sample(steps, batch, res, overhead + steps * rate * est.step_scale(batch, res))
        for steps, batch, res in shapes
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


def test_calibrate_recovers_overhead_and_rate() -> None:
    shapes = [(1000, 1, "1024"), (1500, 2, "768"), (2000, 1, "512,1024"), (1200, 4, "512")]
    cal = calibrate(_runs(0.9, 75.0, shapes))
    assert cal is not None and cal.count == 4
    assert cal.rate == pytest.approx(0.9) and cal.overhead == pytest.approx(75.0)
    assert cal.spread == est.MIN_SPREAD and cal.basis == "from 4 of the team's trainings"


def test_calibrate_keeps_prior_overhead_when_runs_are_alike() -> None:
    cal = calibrate(_runs(1.1, 100.0, [(1000, 1, "1024")] * 3))
    assert cal is not None
    assert cal.overhead == (est.OVERHEAD_LOW + est.OVERHEAD_HIGH) / 2
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


def test_format_money() -> None:
    assert format_money(2.3125) == "$2.31"
    assert format_money(0) == "$0.00"
    assert format_money(0.001) == "<$0.01"
    assert format_money(1234.5) == "$1,234.50"
    assert format_money(-1) == "$0.00"


def test_format_estimate() -> None:
    assert format_estimate(Estimate(1500, 2400, 1500 * H100, 2400 * H100)) == (
        "25–40 min, $2.29–$3.66"
    )
    assert format_estimate(Estimate(50 * 60, 70 * 60, 1.0, 1.0)) == "50 min–1 h 10 min, $1.00"
    assert format_estimate(Estimate(30, 30, 0.0, 0.0)) == "30 s, $0.00"
    real = estimate_training(steps=1000, batch_size=1, resolution="512,768", gpu_price=H100)
    assert "min" in format_estimate(real) and "$" in format_estimate(real)
