"""Following a training until it ends (`train --wait`): one live status line, tolerant polling.

The line shows status, step x/N, ETA and elapsed time; on a terminal it is a rich Live display
refreshed about every 2 s, elsewhere a plain line printed whenever the status or step changes
(throttled), so logs of piped runs stay short.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.cli._common import echo, stdout_is_tty

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
    """What the live line shows; `__rich__` recomputes elapsed time at every refresh."""

    def __init__(self, training: Training) -> None:
        from bot.core.progress import Progress

        self.training = training
        self.progress = Progress()
        self._started = time.monotonic()

    def update(self, training: Training) -> None:
        from bot.core.progress import parse_progress

        self.training = training
        self.progress = parse_progress(training.logs)

    def elapsed(self) -> float:
        created = self.training.created_at
        if created is not None:
            return max(0.0, (datetime.now(UTC) - created).total_seconds())
        return time.monotonic() - self._started

    def text(self) -> str:
        from bot.core.estimate import format_duration
        from bot.core.progress import eta_text, step_text

        status = self.training.status
        parts = [f"{self.training.id}: {status}"]
        found = (step_text(self.progress, status), eta_text(self.progress, status))
        parts += [bit for bit in found if bit]
        parts.append(f"elapsed {format_duration(self.elapsed())}")
        return " | ".join(parts)

    def key(self) -> tuple[str, Any]:
        return self.training.status, self.progress.step

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(self.text())


def _retryable(exc: Exception) -> bool:
    status = getattr(exc, "status", None)
    return status is None or status == 429 or status >= 500


async def poll_until_done(
    gw: ReplicateGateway, training: Training, settings: Settings, line: StatusLine
) -> Training:
    """Poll until the training is terminal; a few failed polls in a row are tolerated."""
    from bot.core.errors import ServiceError

    interval = min(settings.poll_interval, MAX_WAIT_POLL)
    failures = 0
    last_plain = time.monotonic()
    last_key: tuple[str, Any] | None = line.key()
    tty = stdout_is_tty()
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
        line.update(training)
        if tty:
            continue
        now, key = time.monotonic(), line.key()
        status_changed = last_key is None or key[0] != last_key[0]
        if status_changed or (key != last_key and now - last_plain >= PLAIN_EVERY):
            echo(line.text())
            last_plain, last_key = now, key
    return training


async def follow(gw: ReplicateGateway, training: Training, settings: Settings) -> Training:
    """Follow with a live line on a terminal, plain lines elsewhere; returns the ended training."""
    line = StatusLine(training)
    line.update(training)
    if not stdout_is_tty():
        echo(line.text())
        return await poll_until_done(gw, training, settings, line)
    from rich.console import Console
    from rich.live import Live

    with Live(line, console=Console(), refresh_per_second=0.5, transient=False):
        return await poll_until_done(gw, training, settings, line)
