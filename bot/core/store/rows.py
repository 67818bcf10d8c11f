"""Plain records the tables hand out, and the conversions they need (UTC ISO text, no secrets).

Kept apart from the tables so front ends can import the records without the database code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.core.replicate.training import TERMINAL_STATUSES, Training
from bot.core.secrets import looks_like_secret_key, redact, redact_obj


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(value: datetime | None) -> str | None:
    """Always the same shape (UTC, microseconds) so that text order is time order."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def scrub(obj: Any) -> Any:
    """Drop keys that name credentials and redact token-shaped values, at any depth.

    The database must never hold a secret even if a caller passes one by mistake.
    """
    if isinstance(obj, Mapping):
        return {
            str(k): scrub(v)
            for k, v in obj.items()
            if not looks_like_secret_key(str(k)) and not str(k).startswith("wandb_api")
        }
    if isinstance(obj, list | tuple):
        return [scrub(v) for v in obj]
    return redact_obj(obj)


def dump_json(obj: Any) -> str:
    return json.dumps(scrub(obj), sort_keys=True, default=str)


@dataclass
class TrainingRow:
    """One tracked training: who started it, where its card is, what Replicate last said."""

    id: str
    owner_id: int
    destination: str
    status: str = "starting"
    guild_id: int | None = None
    channel_id: int | None = None
    card_message_id: int | None = None
    trigger_word: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    step: int | None = None
    total: int | None = None
    eta_at: datetime | None = None
    loss: float | None = None
    predict_time: float | None = None
    cost_cents: int | None = None  # the bill in whole cents; None while running or unknown
    weights_url: str | None = None
    new_version: str | None = None
    error: str | None = None
    log_tail: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    card_edited_at: datetime | None = None
    card_status: str | None = None
    card_gone: bool = False
    card_attempted_at: datetime | None = None  # a card post began; it may exist unrecorded

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def web_url(self) -> str:
        return f"https://replicate.com/p/{self.id}"

    @property
    def percent(self) -> float | None:
        if self.step is None or not self.total:
            return None
        return max(0.0, min(100.0, 100.0 * self.step / self.total))

    @property
    def duration_s(self) -> float | None:
        """Wall time from start (or creation) to completion; None while running."""
        if self.completed_at is None:
            return None
        begin = self.started_at or self.created_at
        return max(0.0, (self.completed_at - begin).total_seconds())


@dataclass
class Notice:
    """One outbox entry: a message owed to a training's owner, delivered at most once."""

    id: int
    training_id: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    attempted_at: datetime | None = None  # a send began; it may have reached Discord


@dataclass
class PendingSubmission:
    """A create sent to Replicate whose answer was not stored yet (crash or timeout)."""

    id: int
    owner_id: int
    guild_id: int | None
    channel_id: int | None
    destination: str
    trigger_word: str | None
    config: dict[str, Any]
    inputs: dict[str, Any]
    created_at: datetime
    preview_key: str | None = None
    marker: str | None = None
    sent_at: datetime | None = None
    outcome: str | None = None
    outcome_info: dict[str, Any] = field(default_factory=dict)
    told_at: datetime | None = None
    tell_attempted_at: datetime | None = None


# The `trainings` table's columns (its card columns included) and its SQL set of endings.
TRAINING_COLUMNS = (
    "id, owner_id, guild_id, channel_id, card_message_id, destination, trigger_word, "
    "config_json, status, step, total, eta_at, loss, predict_time, cost_cents, weights_url, "
    "new_version, error, log_tail, created_at, updated_at, started_at, completed_at, "
    "card_edited_at, card_status, card_gone, card_attempted_at"
)
TERMINAL_SQL = "(" + ",".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES)) + ")"

_DATETIME_COLUMNS = (
    "eta_at",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "card_edited_at",
    "card_attempted_at",
)


def row_from_db(rec: Any) -> TrainingRow:
    """`rec` is a sqlite3.Row (a mapping by column name)."""
    data = {key: rec[key] for key in rec.keys()}
    data["config"] = json.loads(data.pop("config_json") or "{}")
    data["card_gone"] = bool(data["card_gone"])
    for name in _DATETIME_COLUMNS:
        data[name] = from_iso(data[name])
    return TrainingRow(**data)


def notice_from_db(rec: Any) -> Notice:
    return Notice(
        id=rec["id"],
        training_id=rec["training_id"],
        kind=rec["kind"],
        payload=json.loads(rec["payload_json"]),
        created_at=from_iso(rec["created_at"]) or utcnow(),
        delivered_at=from_iso(rec["delivered_at"]),
        attempts=rec["attempts"],
        last_error=rec["last_error"],
        attempted_at=from_iso(rec["attempted_at"]),
    )


def pending_from_db(rec: Any) -> PendingSubmission:
    return PendingSubmission(
        id=rec["id"],
        owner_id=rec["owner_id"],
        guild_id=rec["guild_id"],
        channel_id=rec["channel_id"],
        destination=rec["destination"],
        trigger_word=rec["trigger_word"],
        config=json.loads(rec["config_json"]),
        inputs=json.loads(rec["inputs_json"]),
        created_at=from_iso(rec["created_at"]) or utcnow(),
        preview_key=rec["preview_key"],
        marker=rec["marker"],
        sent_at=from_iso(rec["sent_at"]),
        outcome=rec["outcome"],
        outcome_info=json.loads(rec["outcome_json"] or "{}"),
        told_at=from_iso(rec["told_at"]),
        tell_attempted_at=from_iso(rec["tell_attempted_at"]),
    )


def config_dict(config: Any) -> dict[str, Any]:
    """A config (pydantic model, ResolvedConfig, or mapping) as plain JSON-able data."""
    inner = getattr(config, "config", config)
    if hasattr(inner, "model_dump"):
        data = inner.model_dump(mode="json")
    elif isinstance(inner, Mapping):
        data = dict(inner)
    else:
        data = {}
    return dict(json.loads(dump_json(data)))


class ProgressLike(Protocol):
    """What the store needs from `bot.core.trainer_log.progress.Progress`."""

    @property
    def step(self) -> int | None: ...
    @property
    def total(self) -> int | None: ...
    @property
    def remaining_s(self) -> float | None: ...
    @property
    def loss(self) -> float | None: ...


def training_update(
    training: Training,
    progress: ProgressLike | None,
    cost_cents: int | None,
    log_tail: str | None,
) -> dict[str, Any]:
    """The columns a Replicate answer sets, redacted; a success counts every step, an ending
    has no ETA. The store decides which of them a finished row still takes."""
    now = utcnow()
    is_terminal = training.is_terminal
    eta = None
    if progress is not None and progress.remaining_s is not None and not is_terminal:
        eta = now + timedelta(seconds=max(0.0, progress.remaining_s))
    step = progress.step if progress is not None else None
    total = progress.total if progress is not None else None
    if is_terminal and training.status == "succeeded" and total is not None:
        step = total
    return {
        "id": training.id,
        "status": training.status,
        "step": step,
        "total": total,
        "eta_at": to_iso(eta),
        "loss": progress.loss if progress is not None else None,
        "predict_time": training.predict_time,
        "cost_cents": cost_cents,
        "weights_url": training.weights_url,
        "new_version": training.new_version,
        "error": redact(training.error) if training.error else None,
        "log_tail": redact(log_tail) if log_tail else None,
        "updated_at": to_iso(now),
        "started_at": to_iso(training.started_at),
        "completed_at": to_iso(training.completed_at or (now if is_terminal else None)),
        "terminal": int(is_terminal),
    }
