"""Renderings of core objects: resolved config with origins, dataset report, estimate, training
status and the trainings table. Pure functions of their inputs (easy to test).

What every `train` prints before anything is submitted (the config listing, the dataset report)
is styled text (`_common.paint`, printed with `_common.echo`): rich costs a dry run a tenth of its
time to import and lay out. The tables of `list` and `status`, which rich folds to fit any
terminal, are rich renderables printed with `_common.show`; both print through the redactor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.cli._common import echo, paint, warn
from bot.core.secrets import looks_like_secret_key, redact_obj

if TYPE_CHECKING:
    from rich.table import Table

    from bot.core.dataset.report import DatasetReport
    from bot.core.replicate.training import Training
    from bot.core.trainer_log.progress import Progress

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "aborted": "red",
    "canceled": "yellow",
    "processing": "cyan",
    "starting": "cyan",
}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"training": {"steps": 1}}` -> `{"training.steps": 1}` (the origins' dotted paths)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _key_value_table(title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    return table


def config_listing(config_data: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """Every resolved value with where it came from (cli, file, preset, env, defaults.yaml,
    default), in aligned columns. The value comes last, so a long signed URL runs on without
    pushing the other columns out of line."""
    rows = []
    for path, value in flatten(config_data).items():
        origin = origins.get(path, "default")
        rows.append((path, "defaults.yaml" if origin == "user" else origin, value))
    width = max(len("setting"), *(len(path) for path, _o, _v in rows))
    origin_width = max(len("from"), *(len(origin) for _p, origin, _v in rows))
    lines = [
        paint("Training configuration", bold=True),
        paint(f"  {'setting':<{width}}  {'from':<{origin_width}}  value", bold=True),
    ]
    for path, origin, value in rows:
        shown = "" if value is None else str(value)
        column = paint(f"{origin:<{origin_width}}", dim=origin == "default")
        lines.append(f"  {path:<{width}}  {column}  {shown}".rstrip())
    return "\n".join(lines)


_FINDING_STYLE = {"error": "red", "warning": "yellow"}


def dataset_report(report: DatasetReport) -> str:
    """The dataset check: counts (those above zero), then errors, warnings and notes, each with
    a few paths."""
    ok = bool(getattr(report, "ok", False))
    head = paint("Dataset check: ", bold=True) + paint(
        "OK" if ok else "problems found", fg="green" if ok else "red"
    )
    shown = [(label, n) for label, n in report.shown_counts() if n]
    if shown:
        head += "  " + ", ".join(f"{k}: {v}" for k, v in shown)
    lines = [head]
    for label, attr in (("error", "errors"), ("warning", "warnings"), ("note", "notes")):
        for finding in getattr(report, attr, []) or []:
            colour = _FINDING_STYLE.get(label)
            line = paint(f"  {label}: ", fg=colour, dim=colour is None)
            line += str(getattr(finding, "message", finding))
            paths = list(getattr(finding, "paths", []) or [])
            if paths:
                more = f" (+{len(paths) - 5} more)" if len(paths) > 5 else ""
                line += paint(f"  [{', '.join(paths[:5])}{more}]", dim=True)
            lines.append(line)
    skipped = getattr(report, "skipped_checks", None)
    if skipped:
        lines.append(paint(f"  skipped checks: {', '.join(skipped)}", dim=True))
    return "\n".join(lines)


def format_when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def duration_seconds(training: Training) -> float | None:
    """Billed time when known, else wall time between start and end (or now while running)."""
    total = training.metrics.get("total_time")
    if training.predict_time is not None:
        return training.predict_time
    if isinstance(total, int | float):
        return float(total)
    start = training.started_at or training.created_at
    if start is None:
        return None
    end = training.completed_at or (None if training.is_terminal else datetime.now(UTC))
    return (end - start).total_seconds() if end else None


def _money(cents: int | None) -> str:
    if cents is None:
        return ""
    from bot.core.money.cents import format_cents

    return format_cents(cents)


def _duration(value: float | None) -> str:
    if value is None:
        return ""
    from bot.core.money.estimate import format_duration

    return format_duration(value)


def cost_of(training: Training, gpu_price: float) -> int | None:
    """The bill in whole cents; None while running or when Replicate did not say."""
    from bot.core.money.cents import bill_cents

    return bill_cents(training, gpu_price)


def cost_text(training: Training, gpu_price: float) -> str:
    """`$1.53`; `unknown` for an ended training whose billed time Replicate has not reported
    (never `$0.00`); empty while it runs."""
    cents = cost_of(training, gpu_price)
    if cents is None:
        return "unknown" if training.is_terminal else ""
    return _money(cents)


def destination_of(training: Training) -> str:
    """The destination model (`owner/name`): the field, else the made version's prefix."""
    if training.destination:
        return training.destination
    made = training.new_version
    return made.split(":", 1)[0] if made else ""


def trainings_table(trainings: Iterable[Training], gpu_price: float) -> Table:
    """Ids are copied into other commands: their column never wraps or shortens; the others
    fold instead, however narrow the terminal."""
    from rich.table import Table
    from rich.text import Text

    rows = list(trainings)
    table = Table(title=None, show_header=True)
    width = max((len(t.id) for t in rows), default=2)
    table.add_column("id", no_wrap=True, min_width=width)
    for column in ("status", "destination", "created", "duration", "cost"):
        table.add_column(column, overflow="fold")
    for t in rows:
        table.add_row(
            t.id,
            Text(t.status, style=STATUS_STYLE.get(t.status, "")),
            destination_of(t),
            format_when(t.created_at),
            _duration(duration_seconds(t)),
            cost_text(t, gpu_price),
        )
    return table


def shown_progress(progress: Progress, status: str) -> Progress:
    """The one progress every view shows (table, --json, the bar): a succeeded training is at
    its last step (100%) even when the trainer's last logged bar line stopped one short."""

    if status != "succeeded" or not progress.total:
        return progress
    return replace(progress, step=progress.total, percent=100.0, remaining_s=0.0)


def progress_text(progress: Progress, status: str) -> str:
    """`step 84/700 (12%), ETA 10m 12s, loss 0.41` from a `Progress`; empty when unknown."""
    from bot.core.trainer_log.progress import eta_text, step_text

    found = (step_text(progress, status, percent=True), eta_text(progress, status))
    bits = [bit for bit in found if bit]
    loss = getattr(progress, "loss", None)
    if loss is not None:
        bits.append(f"loss {loss:.4g}")
    stage = getattr(progress, "stage", None)
    if not bits and stage:
        bits.append(str(stage))
    return ", ".join(bits)


def status_table(training: Training, progress: Any, gpu_price: float) -> Table:
    from rich.text import Text

    table = _key_value_table(f"Training {training.id}")
    table.add_row("status", Text(training.status, style=STATUS_STYLE.get(training.status, "")))
    rows = [
        ("destination", destination_of(training)),
        ("trigger word", training.trigger_word or ""),
        ("progress", progress_text(progress, training.status)),
        ("created", format_when(training.created_at)),
        ("started", format_when(training.started_at)),
        ("completed", format_when(training.completed_at)),
        ("duration", _duration(duration_seconds(training))),
        ("cost", cost_text(training, gpu_price)),
        ("error", training.error or ""),
    ]
    for name, value in rows:
        if value:
            table.add_row(name, value)
    return table


def status_links(training: Training) -> list[str]:
    """What users copy from `status` (version, weights URL, web page), printed below the table
    as whole lines so that no terminal width can shorten or split them."""
    rows = (
        ("new version", training.new_version),
        ("weights", training.weights_url),
        ("web", training.web_url),
    )
    return [f"{name}: {value}" for name, value in rows if value]


def training_json(training: Training, gpu_price: float, progress: Any = None) -> dict[str, Any]:
    """The `--json` object: stable keys first, then the (redacted) input and output."""

    inputs = {k: v for k, v in training.input.items() if not looks_like_secret_key(k)}
    out: dict[str, Any] = {
        "id": training.id,
        "status": training.status,
        "destination": destination_of(training) or None,
        "model": training.model,
        "version": training.version,
        "created_at": training.raw.get("created_at"),
        "started_at": training.raw.get("started_at"),
        "completed_at": training.raw.get("completed_at"),
        "predict_time": training.predict_time,
        "cost_cents": cost_of(training, gpu_price),
        "error": training.error,
        "output": training.output,
        "weights_url": training.weights_url,
        "web_url": training.web_url,
        "input": inputs,
    }
    if progress is not None:
        progress = shown_progress(progress, training.status)
        out["progress"] = (
            asdict(progress)
            if is_dataclass(progress) and not isinstance(progress, type)
            else progress
        )
    result = redact_obj(out)
    assert isinstance(result, dict)
    return result


def dry_run_summary(*, dataset_checked: bool, account: bool) -> str:
    """What a dry run checked and what it did not: "every check ran" only when it is true
    (`account`: the token, destination and trainer-input checks ran, which needs a token)."""
    ran = ["the config"] + (["the dataset"] if dataset_checked else [])
    missed = [] if dataset_checked else ["the dataset (--skip-dataset-check)"]
    if account:
        ran += ["the token", "the destination model", "the trainer's inputs"]
    else:
        missed += [
            "the token, the destination model and the trainer's inputs (they need "
            "REPLICATE_API_TOKEN)"
        ]
    if not missed:
        return f"Dry run: every check ran ({_and(ran)}); nothing was submitted."
    return f"Dry run: checked {_and(ran)}. Not checked: {'; '.join(missed)}. Nothing was submitted."


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def would_create(destination: str, username: str) -> None:
    """The dry run of --create-destination: compare the owner with the token's account, since
    Replicate refuses (403) a model under an account the token does not belong to."""
    owner = destination.split("/", 1)[0]
    if username and owner.lower() == username.lower():
        echo(f"Destination model {destination} does not exist; it would be created (private).")
        return
    warn(
        f"the destination model {destination} does not exist, and the token belongs to "
        f"account {username or 'unknown'}, not {owner}: it can be created only if {owner} is "
        "an organization that account belongs to; otherwise Replicate refuses (403) before "
        f"anything is submitted. Use {username or 'your-account'}/{destination.split('/', 1)[1]} "
        "to train into your own account."
    )
