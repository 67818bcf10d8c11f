"""The training as Replicate reports it, parsed from raw JSON.

The official client's `Training` model rejects `status: "aborted"` and drops `metrics` and
`source`, so the product keeps its own tolerant record: unknown keys are ignored, and the raw
object is kept for `--json` output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
ACTIVE_STATUSES = frozenset({"starting", "processing"})
KNOWN_STATUSES = TERMINAL_STATUSES | ACTIVE_STATUSES
# The trainer input that carries a submission's marker: W&B's run name, used by the trainer only
# when a W&B key is given, echoed back by Replicate in the training's `input`.
MARKER_INPUT = "wandb_run"


def parse_time(value: Any) -> datetime | None:
    """Replicate's ISO-8601 timestamps (with `Z` or an offset) as aware datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Training:
    """One training; `raw` is the JSON object exactly as received."""

    id: str
    status: str
    model: str | None = None
    version: str | None = None
    destination: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    logs: str | None = None
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Training:
        """Build from an API object; tolerates missing and unknown keys."""
        metrics = data.get("metrics")
        inp = data.get("input")
        return cls(
            id=str(data.get("id", "")),
            status=str(data.get("status") or "starting"),
            model=data.get("model"),
            version=data.get("version") if isinstance(data.get("version"), str) else None,
            destination=data.get("destination"),
            input=inp if isinstance(inp, dict) else {},
            output=data.get("output"),
            logs=data.get("logs"),
            error=data.get("error") if data.get("error") is None else str(data.get("error")),
            metrics=metrics if isinstance(metrics, dict) else {},
            created_at=parse_time(data.get("created_at")),
            started_at=parse_time(data.get("started_at")),
            completed_at=parse_time(data.get("completed_at")),
            raw=data,
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def weights_url(self) -> str | None:
        """The URL of the weights tar (`output.weights`); tolerates a bare URL string too."""
        out = self.output
        if isinstance(out, dict):
            weights = out.get("weights")
            return weights if isinstance(weights, str) else None
        if isinstance(out, str) and out.startswith(("http://", "https://")):
            return out
        return None

    @property
    def new_version(self) -> str | None:
        """`owner/name:version` of the version the training made, when it succeeded."""
        out = self.output
        if isinstance(out, dict) and isinstance(out.get("version"), str):
            return str(out["version"])
        return None

    @property
    def predict_time(self) -> float | None:
        """Billed GPU seconds, present on terminal trainings."""
        value = self.metrics.get("predict_time")
        return float(value) if isinstance(value, int | float) else None

    @property
    def web_url(self) -> str:
        """Replicate's page for the training, built from the id (old `urls` are unreliable)."""
        return f"https://replicate.com/p/{self.id}"

    @property
    def trigger_word(self) -> str | None:
        value = self.input.get("trigger_word")
        return value if isinstance(value, str) else None


def is_lost_create(
    item: dict[str, Any],
    destination: str,
    inputs: dict[str, Any],
    since: datetime,
    trainer_model: str,
) -> bool:
    """Whether a listed training (raw JSON) is the one our unanswered create made: the same
    marker (or, without one, dataset and trigger word), the same destination and trainer when
    it says, created after `since`."""
    inp = item.get("input")
    if not isinstance(inp, dict):
        inp = {}
    # A per-submission marker (the bot's) proves identity; without one, the dataset and
    # trigger word are the best guess (the CLI: one person, one terminal).
    keys = (MARKER_INPUT,) if inputs.get(MARKER_INPUT) else ("input_images", "trigger_word")
    for key in keys:
        if inp.get(key) != inputs.get(key):
            return False
    dest = item.get("destination")
    if isinstance(dest, str) and dest != destination:
        return False
    output = item.get("output")
    made = output.get("version") if isinstance(output, dict) else None
    if isinstance(made, str) and not made.startswith(destination + ":"):
        return False
    model = item.get("model")
    if isinstance(model, str) and model != trainer_model:
        return False
    created = parse_time(item.get("created_at"))
    return created is not None and created >= since
