"""How far off the estimate is before and after calibrating on the team's own runs.

A simulated team history: trainings with the presets' shapes (steps 1000-2000, batch 1 or 4,
768/1024 px or the fast preset's 512/768), each billed as the Replicate simulator bills it
(`bot.sim.logs.TrainingLog.predict_time`: its own setup time and per-step rate per run). The
first N runs are the history `calibrate()` learns from; the next runs are held out and
estimated (a) from the community figures alone and (b) blended with the fit, as the bot's
preview does. Prints the mean absolute error of the middle of the range, the share of actual
costs inside the range, and the range's width, for several history sizes.

    .venv/bin/python benchmarks/estimate_calibration.py [--held-out 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics

from bot.core.estimate import Calibration, Sample, calibrate, estimate_training
from bot.sim.logs import TrainingLog

PRICE = 0.001525
SHAPES = (  # (steps range, batch, resolution) like the presets and what users change
    ((1000, 2000), 1, "768,1024"),
    ((1000, 2000), 4, "768,1024"),
    ((600, 1200), 1, "512,768"),
    ((1000, 1500), 2, "1024"),
)


def history(n: int, rng: random.Random) -> list[Sample]:
    out = []
    for i in range(n):
        (lo, hi), batch, resolution = rng.choice(SHAPES)
        steps = rng.randint(lo, hi)
        log = TrainingLog(f"run-{rng.random()}-{i}", steps, 1.0, batch)
        out.append(Sample(steps, batch, resolution, log.predict_time(steps, saved=True)))
    return out


def errors(samples: list[Sample], calibration: Calibration | None) -> tuple[float, float, float]:
    """(mean |mid - actual| / actual, share inside the range, mean width / actual)."""
    errs, inside, widths = [], 0, []
    for s in samples:
        e = estimate_training(
            steps=s.steps,
            batch_size=s.batch_size,
            resolution=s.resolution,
            gpu_price=PRICE,
            calibration=calibration,
        )
        mid = (e.seconds_low + e.seconds_high) / 2
        errs.append(abs(mid - s.predict_time) / s.predict_time)
        inside += e.seconds_low <= s.predict_time <= e.seconds_high
        widths.append((e.seconds_high - e.seconds_low) / s.predict_time)
    return statistics.mean(errs), inside / len(samples), statistics.mean(widths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    held_out = history(args.held_out, rng)
    before = errors(held_out, None)
    print(f"held-out trainings: {args.held_out} (simulated billing, seed {args.seed})")
    print(f"{'estimate':<34} {'mean error':>10} {'in range':>9} {'width':>7}")
    print(
        f"{'community figures (before)':<34} {before[0]:>10.1%} {before[1]:>9.0%} {before[2]:>7.0%}"
    )
    for n in (3, 7, 15, 30, 60):
        cal = calibrate(history(n, rng))
        after = errors(held_out, cal)
        label = f"after {n} of the team's trainings"
        print(f"{label:<34} {after[0]:>10.1%} {after[1]:>9.0%} {after[2]:>7.0%}")


if __name__ == "__main__":
    main()
