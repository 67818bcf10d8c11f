"""Following a training until it ends (`train --wait`, `follow`): progress and tolerant polling.

On a terminal a `rich.progress` bar shows step x/N, the trainer's own ETA, the elapsed time and
the loss, with stage lines ("Loading the model", "Training", ...) printed above it as they
happen. Elsewhere (a pipe, a log file) plain lines are printed whenever the status or the stage
changes and at most every few seconds for steps, so logs of piped runs stay short and readable.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.cli._common import echo, stdout_is_tty
from bot.core.errors import ServiceError

if TYPE_CHECKING:
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.replicate.training import Training
    from bot.core.settings import Settings

MAX_WAIT_POLL = 5.0  # follow closely while someone is watching
PLAIN_EVERY = 2.0  # seconds between plain progress lines (non-terminal output)
TRANSIENT_FAILURES = 5  # consecutive failed polls (after the gateway's own retries) tolerated


async def sleep(seconds: float) -> None:
    """Waiting between polls (a seam for tests that simulate Ctrl-C)."""
    await asyncio.sleep(seconds)


class StatusLine:
    """What the display shows, computed from the latest training; `text()` is the plain line."""

    def __init__(self, training: Training) -> None:
        from bot.core.trainer_log.progress import Progress

        self.training = training
        self.progress = Progress()
        self._started = time.monotonic()

    def update(self, training: Training) -> None:
        from bot.cli.render import shown_progress
        from bot.core.trainer_log.progress import parse_progress

        self.training = training
        self.progress = shown_progress(parse_progress(training.logs), training.status)

    def elapsed(self) -> float:
        created = self.training.created_at
        if created is not None:
            return max(0.0, (datetime.now(UTC) - created).total_seconds())
        return time.monotonic() - self._started

    def step(self) -> tuple[int | None, int | None]:
        return self.progress.step, self.progress.total

    def eta(self) -> str:
        from bot.core.trainer_log.progress import eta_text

        return eta_text(self.progress, self.training.status) or ""

    def loss(self) -> str:
        loss = self.progress.loss
        return "" if loss is None else f"loss {loss:.4g}"

    def stage(self) -> str:
        return self.progress.stage or ""

    def text(self) -> str:
        from bot.core.money.estimate import format_duration
        from bot.core.trainer_log.progress import step_text

        status = self.training.status
        parts = [f"{self.training.id}: {status}"]
        found = (step_text(self.progress, status), self.eta(), self.loss())
        parts += [bit for bit in found if bit]
        parts.append(f"elapsed {format_duration(self.elapsed())}")
        return " | ".join(parts)

    def key(self) -> tuple[str, Any]:
        return self.training.status, self.progress.step


class Display:
    """Plain lines, or a rich progress bar with stage lines above it; `show` after each poll."""

    def __init__(self, line: StatusLine, *, tty: bool) -> None:
        self.line = line
        self.tty = tty
        self._stage = ""
        self._last_key: tuple[str, Any] | None = None
        self._last_plain = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Display:
        if self.tty:
            self._bar = _progress_bar(self.line)
            self._bar.start()
            self._task = self._bar.add_task(self.line.training.status, total=None)
        self.show()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self.show(final=True)
            self._bar.stop()

    def _stage_line(self) -> str | None:
        stage = self.line.stage()
        if not stage or stage == self._stage:
            return None
        self._stage = stage
        return f"{datetime.now().strftime('%H:%M:%S')}  {stage}"

    def show(self, *, final: bool = False) -> None:
        stage = self._stage_line()
        if self._bar is not None:
            if stage:
                self._bar.console.print(stage, highlight=False)
            step, total = self.line.step()
            self._bar.update(
                self._task,
                description=self.line.training.status,
                total=total or None,
                completed=step or 0,
            )
            self._bar.refresh()
            return
        if stage:
            echo(stage)
        now, key = time.monotonic(), self.line.key()
        status_changed = self._last_key is None or key[0] != self._last_key[0]
        step_due = key != self._last_key and now - self._last_plain >= PLAIN_EVERY
        if final or status_changed or step_due:
            echo(self.line.text())
            self._last_plain, self._last_key = now, key


def _progress_bar(line: StatusLine) -> Any:
    """The terminal display; columns read the live `StatusLine`, so elapsed time ticks between
    polls while the step, ETA and loss come from the trainer's own log. The bar takes what the
    texts leave, so an 80-column terminal still shows every figure on one line."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    from bot.core.money.estimate import format_duration

    class Column(ProgressColumn):
        def __init__(self, render: Any) -> None:
            super().__init__()
            self._render = render

        def render(self, task: Any) -> Text:
            return Text(self._render(), no_wrap=True, overflow="ellipsis")

    def steps() -> str:
        step, total = line.step()
        return f"step {step}/{total}" if step is not None and total else "step -"

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),
        Column(steps),
        Column(line.eta),
        Column(lambda: f"elapsed {format_duration(line.elapsed())}"),
        Column(line.loss),
        console=Console(highlight=False),
        refresh_per_second=2,
        transient=False,
    )


def _retryable(exc: Exception) -> bool:
    status = getattr(exc, "status", None)
    return status is None or status == 429 or status >= 500


async def poll_until_done(
    gw: ReplicateGateway,
    training: Training,
    settings: Settings,
    display: Display,
    seen: list[Training] | None = None,
) -> Training:
    """Poll until the training is terminal; a few failed polls in a row are tolerated.

    `seen[0]` is kept up to date with the latest answer, so a caller that loses Replicate can
    still say what state the training was last in."""

    interval = min(settings.poll_interval, MAX_WAIT_POLL)
    failures = 0
    while not training.is_terminal:
        await sleep(interval)
        try:
            training = await gw.get_training(training.id)
        except ServiceError as exc:
            failures += 1
            if failures >= TRANSIENT_FAILURES or not _retryable(exc):
                raise
            continue
        failures = 0
        if seen is not None:
            seen[0] = training
        display.line.update(training)
        display.show()
    return training


async def follow(
    gw: ReplicateGateway,
    training: Training,
    settings: Settings,
    *,
    seen: list[Training] | None = None,
) -> Training:
    """Follow with a bar on a terminal, plain lines elsewhere; returns the ended training."""
    line = StatusLine(training)
    line.update(training)
    with Display(line, tty=stdout_is_tty()) as display:
        return await poll_until_done(gw, training, settings, display, seen)
