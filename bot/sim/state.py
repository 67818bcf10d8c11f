"""The simulator's state: faults, recorded requests, and trainings that progress with time.

A training stores only when it was created, how it will end and any forced ending; its status,
logs and metrics are computed from the clock on every read, so no background task per training
is needed and a paused test sees a consistent object.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sim.logs import FAILED_ERROR, TrainingLog

OUTCOMES = ("succeeded", "failed", "aborted", "canceled")
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


@dataclass
class Faults:
    """Faults to inject; mutable while the simulator runs (`sim.faults.slow_seconds = 1`)."""

    read_failure_rate: float = 0.0  # share of GET /v1 requests answered 429 or 500/503
    read_statuses: list[int] = field(default_factory=list)  # the next GETs answer these, in turn
    retry_after: float = 0.01  # seconds sent in Retry-After with a 429
    slow_seconds: float = 0.0  # every /v1 reply delayed by this
    create_timeouts: int = 0  # next N creates make the training, then never answer in time
    create_timeout_mode: str = "hang"  # "hang" (sleep until stop) or "close" the connection
    create_status: int | None = None  # the next create answers this error instead
    outcome: str = "succeeded"  # how new trainings end: succeeded|failed|aborted|canceled
    weights_cut_after: int | None = None  # the next weights download is cut after N bytes
    upload_status: int | None = None  # the next file upload answers this error instead
    upload_hang: float = 0.0  # every file upload waits this long before reading the body
    withhold_metrics: bool = False  # trainings answer without metrics.predict_time (not yet known)
    # The next create reaches Replicate this many seconds late: its request stays open, and the
    # training exists only then (`commit_late_creates()` brings that moment forward).
    create_commit_delay: float = 0.0
    prediction_statuses: list[int] = field(default_factory=list)  # next prediction creates fail so
    caption_fail_widths: set[int] = field(default_factory=set)  # images this wide end "failed"
    clock_skew: float = 0.0  # seconds added to every answer's `Date` (a host clock that is off)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator saw it; headers (and so tokens) are never kept."""

    method: str
    path: str
    query: dict[str, str]
    json: Any = None

    @property
    def endpoint(self) -> str:
        """`GET /v1/trainings/{id}`: ids folded away so requests group by endpoint."""
        parts = self.path.split("/")
        if (
            len(parts) >= 4
            and parts[1] == "v1"
            and parts[2] in ("trainings", "files", "predictions")
        ):
            parts[3] = "{id}"
        if len(parts) >= 4 and parts[1] == "_sim" and parts[2] == "weights":
            parts[3] = "{id}.tar"
        if len(parts) >= 7 and parts[1] == "v1" and parts[2] == "models" and parts[5] == "versions":
            parts[6] = "{version}"
        return f"{self.method} {'/'.join(parts)}"


def random_id(rng: random.Random, length: int = 26) -> str:
    """An id shaped like Replicate's: lowercase base32 letters and digits."""
    return "".join(rng.choice(ID_ALPHABET) for _ in range(length))


def iso(ts: float) -> str:
    """Replicate's timestamp format: ISO 8601, microseconds, `Z`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SimTraining:
    """One training's fixed facts; `render` turns them into the API object at a moment."""

    id: str
    seq: int
    model: str
    version: str
    destination: str
    input: dict[str, Any]  # already redacted
    steps: int
    outcome: str
    created_wall: float
    created_mono: float
    start_delay: float
    step_seconds: float
    new_version: str
    log: TrainingLog
    forced: tuple[str, float] | None = None  # (status, monotonic time) set by cancel/finish
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why a failed training failed (default: an out-of-memory crash)

    @property
    def end_steps(self) -> int:
        """Steps run before the natural ending (failures and deadlines strike half-way)."""
        if self.error:  # a ZIP the trainer cannot use fails while latents are cached
            return 1
        return self.steps if self.outcome == "succeeded" else max(1, self.steps // 2)

    def natural_end(self) -> float:
        """Seconds after creation at which the training ends on its own."""
        if self.outcome == "aborted":
            return self.start_delay
        return self.start_delay + self.end_steps * self.step_seconds

    def ending(self) -> tuple[str, float]:
        """(terminal status, seconds after creation) the training ends with."""
        natural = self.natural_end()
        if self.forced is not None:
            status, at_mono = self.forced
            at = at_mono - self.created_mono
            if at < natural:
                return status, max(at, 0.0)
        return self.outcome, natural

    def finished_at(self, now_mono: float) -> bool:
        return now_mono - self.created_mono >= self.ending()[1]

    def _shown_steps(self, elapsed: float) -> int:
        if elapsed < self.start_delay:
            return 0
        done = int((elapsed - self.start_delay) / self.step_seconds) + 1
        return min(self.end_steps, done)

    def render(self, base_url: str, now_mono: float, *, with_logs: bool = True) -> dict[str, Any]:
        """The training object as GET /v1/trainings/{id} returns it at `now_mono`."""
        elapsed = now_mono - self.created_mono
        status, end_at = self.ending()
        terminal = elapsed >= end_at
        at = min(elapsed, end_at)
        started: float | None = self.start_delay if at >= self.start_delay else None
        shown = self._shown_steps(at)
        if terminal and status == "succeeded":
            shown = self.steps
            started = min(self.start_delay, end_at)
        elif terminal and status == "failed" and started is None:
            started = end_at
        elif terminal and status == "aborted":
            started, shown = None, 0
        if not terminal:
            status = "processing" if started is not None else "starting"
        logs = ""
        if started is not None:
            logs = self.log.text(shown, status if terminal else None)
        metrics: dict[str, Any] = {}
        if terminal:
            if started is not None:
                predict = self.log.predict_time(shown, saved=status == "succeeded")
                metrics = {"predict_time": predict, "total_time": round(started + predict, 3)}
            else:  # never ran, so nothing was billed
                metrics = {"total_time": round(end_at, 3)}
        obj: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "destination": self.destination,
            "source": "api",
            "status": status,
            "input": dict(self.input),
            "output": None,
            "logs": logs,
            "error": (self.error or FAILED_ERROR) if terminal and status == "failed" else None,
            "metrics": metrics,
            "created_at": iso(self.created_wall),
            "started_at": None if started is None else iso(self.created_wall + started),
            "completed_at": iso(self.created_wall + end_at) if terminal else None,
            "urls": {
                "get": f"{base_url}/v1/trainings/{self.id}",
                "cancel": f"{base_url}/v1/trainings/{self.id}/cancel",
                "web": f"https://replicate.com/p/{self.id}",
            },
            **self.extra,
        }
        if terminal and status == "succeeded":
            obj["output"] = {
                "version": f"{self.destination}:{self.new_version}",
                "weights": f"{base_url}/_sim/weights/{self.id}.tar",
            }
        if not with_logs:
            del obj["logs"]
        return obj
