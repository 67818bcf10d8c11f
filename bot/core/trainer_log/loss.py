"""The whole loss series of a training, for the loss curve sent when it succeeds.

`progress` reads only the LAST bar line on every poll (it must stay cheap); this module reads
every job-bar line once, when a training has ended. Each tqdm refresh prints the step and,
in its postfix, the loss: `sd3.5_train_replicate: 12%|█▏ | 84/700 [..., lr: 4.0e-04 loss: 4.1e-01]`.
Logs are untrusted text: malformed lines are skipped, nothing raises.
"""

from __future__ import annotations

import math
import re

from bot.core.trainer_log.progress import JOB_PREFIX

MAX_POINTS = 400  # what a chart a few hundred pixels wide can show; also bounds the stored JSON
_FLOAT = r"[-+]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][-+]?[0-9]{1,4})?"
_STEP = re.compile(r"\|\s*([0-9]{1,9})/[0-9]{1,9}\s*\[")
_LOSS = re.compile(rf"\bloss:\s*({_FLOAT})")
_MAX_LINE = 2000


def loss_series(logs: str | None) -> list[tuple[int, float]]:
    """(step, loss) for every step the log shows a loss for, in step order, last one wins."""
    if not logs:
        return []
    by_step: dict[int, float] = {}
    for line in logs.replace("\r", "\n").split("\n"):
        if not line.startswith(JOB_PREFIX) or "loss:" not in line or len(line) > _MAX_LINE:
            continue
        step, loss = _STEP.search(line), _LOSS.search(line)
        if step is None or loss is None:
            continue
        try:
            value = float(loss[1])
        except ValueError:
            continue
        if math.isfinite(value):
            by_step[int(step[1])] = value
    return sorted(by_step.items())


def smooth(points: list[tuple[int, float]], weight: float = 0.9) -> list[tuple[int, float]]:
    """Exponential moving average with bias correction (TensorBoard's smoothing)."""
    out: list[tuple[int, float]] = []
    last = 0.0
    for i, (step, value) in enumerate(points, start=1):
        last = last * weight + (1 - weight) * value
        out.append((step, last / (1 - weight**i)))
    return out


def thin(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most `limit` evenly spread points, always keeping the first and the last."""
    if len(points) <= limit or limit < 2:
        return list(points)
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


def loss_curve(logs: str | None) -> list[tuple[int, float]]:
    """The curve kept for an ended training: its loss series, thinned to what a chart shows."""
    return thin(loss_series(logs))
