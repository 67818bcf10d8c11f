"""Simulated trainer logs, in the exact shape the real trainer prints them.

The progress parser (bot/core/trainer_log/progress.py) is tested against these lines, so they
copy tqdm's layout byte for byte:
`desc:  12%|█▏        | 84/700 [01:23<10:12,  1.01s/it, postfix]`. Lines are generated lazily
and cached, from a per-training seeded random source, so what a client sees never depends on
how often it polls.
"""

from __future__ import annotations

import random

JOB_NAME = "sd3.5_train_replicate"
BAR_CHARSET = " ▏▎▍▌▋▊▉█"
BAR_WIDTH = 10
SAVED_LINE = f"Saved to output/{JOB_NAME}/lora.safetensors"
FAILED_ERROR = (
    "CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of "
    "79.11 GiB of which 1.02 GiB is free."
)
TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/root/.pyenv/versions/3.11.10/lib/python3.11/site-packages/cog/server/worker.py",'
    " line 352, in _predict",
    "    result = predict(**payload)",
    '  File "/src/train.py", line 236, in train',
    "    job.run()",
    '  File "/src/ai-toolkit/jobs/process/BaseSDTrainProcess.py", line 1781, in run',
    "    loss_dict = self.hook_train_loop(batch)",
    f"torch.OutOfMemoryError: {FAILED_ERROR}",
)


def format_interval(seconds: float) -> str:
    """tqdm's `format_interval`: MM:SS below an hour, H:MM:SS from there."""
    mins, secs = divmod(int(seconds), 60)
    hours, mins = divmod(mins, 60)
    return f"{hours:d}:{mins:02d}:{secs:02d}" if hours else f"{mins:02d}:{secs:02d}"


def format_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """tqdm's unicode bar: full blocks, one partial block, then spaces."""
    fraction = min(max(fraction, 0.0), 1.0)
    nsyms = len(BAR_CHARSET) - 1
    full, partial = divmod(int(fraction * width * nsyms), nsyms)
    bar = BAR_CHARSET[-1] * full
    if full < width:
        bar += BAR_CHARSET[partial] + BAR_CHARSET[0] * (width - full - 1)
    return bar


def format_rate(seconds_per_it: float | None) -> str:
    """`1.01s/it` when slower than one step a second, else `3.20it/s`, as tqdm does."""
    if seconds_per_it is None or seconds_per_it <= 0:
        return "?it/s"
    if seconds_per_it >= 1:
        return f"{seconds_per_it:5.2f}s/it"
    return f"{1 / seconds_per_it:5.2f}it/s"


def tqdm_line(
    desc: str | None,
    n: int,
    total: int,
    elapsed: float,
    seconds_per_it: float | None,
    postfix: str | None = None,
) -> str:
    """One tqdm refresh; remaining is `?` until a rate is known (the first line)."""
    pct = 100.0 * n / total if total else 100.0
    remaining = "?" if seconds_per_it is None else format_interval((total - n) * seconds_per_it)
    head = f"{desc}: " if desc else ""
    tail = f", {postfix}" if postfix else ""
    return (
        f"{head}{pct:3.0f}%|{format_bar(n / total if total else 1.0)}| {n}/{total} "
        f"[{format_interval(elapsed)}<{remaining}, {format_rate(seconds_per_it)}{tail}]"
    )


class TrainingLog:
    """The log of one training: stage lines, one tqdm line per step, an ending."""

    def __init__(self, seed: str, steps: int, learning_rate: float, batch_size: int) -> None:
        self._rng = random.Random(seed)
        self.steps = steps
        self.learning_rate = learning_rate
        self.images = self._rng.randint(8, 24)
        self.base_seconds_per_it = round(self._rng.uniform(0.95, 1.25) * max(1, batch_size), 3)
        self.setup_seconds = round(self._rng.uniform(35.0, 60.0), 2)
        self._loss = self._rng.uniform(0.35, 0.6)
        self._elapsed = 0.0
        self._step_lines: list[str] = []
        self.stage_lines = self._stage_lines()

    def _stage_lines(self) -> list[str]:
        n = self.images
        download = self.setup_seconds - 8.0
        return [
            f"Extracted {2 * n} files from zip",
            f"Downloaded base weights in {download:.2f} seconds",
            "Loading SD3.5 model",
            tqdm_line("Caching latents", n, n, n / 3.5, 1 / 3.5),
            tqdm_line(None, n, n, 0.0, 1 / 1234.56),
            "Starting train job",
        ]

    def step_line(self, n: int) -> str:
        """The tqdm line showing `n` finished steps (n = 0 .. steps-1)."""
        while len(self._step_lines) <= n:
            i = len(self._step_lines)
            if i == 0:
                self._step_lines.append(tqdm_line(JOB_NAME, 0, self.steps, 0.0, None))
                continue
            spi = self.base_seconds_per_it * self._rng.uniform(0.97, 1.03)
            self._elapsed += spi
            self._loss = max(0.01, self._loss * self._rng.uniform(0.985, 1.012))
            postfix = f"lr: {self.learning_rate:.1e} loss: {self._loss:.3e}"
            rate = self._elapsed / i
            self._step_lines.append(
                tqdm_line(JOB_NAME, i, self.steps, self._elapsed, rate, postfix)
            )
        return self._step_lines[n]

    def text(self, shown_steps: int, ending: str | None = None) -> str:
        """Logs with the first `shown_steps` step lines, plus the lines of an ending."""
        lines = list(self.stage_lines)
        lines.extend(self.step_line(i) for i in range(min(shown_steps, self.steps)))
        if ending == "succeeded":
            lines.append(SAVED_LINE)
        elif ending == "failed":
            lines.extend(TRACEBACK)
        return "\n".join(lines) + "\n"

    def predict_time(self, steps_done: int, *, saved: bool = False) -> float:
        """Simulated billed seconds for a run that got through `steps_done` steps."""
        seconds = self.setup_seconds + steps_done * self.base_seconds_per_it
        return round(seconds + (4.0 if saved else 0.0), 3)
