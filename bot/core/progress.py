"""Progress of a running training, read from the trainer's `logs` (see TRAINER.md).

The trainer prints a tqdm bar named after its job, one line per refresh:

    sd3.5_train_replicate:  12%|█▏   | 84/700 [01:23<10:12,  1.01s/it, lr: 4.0e-04 loss: 4.1e-01]

Logs reach ~0.5 MB on long runs and are re-read on every poll, so the parser never runs a regex
over the whole text: it finds the last job-bar line with `rfind` and parses only that line (and a
few earlier ones if the last is truncated). Logs are untrusted text: nothing here raises on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.core.estimate import format_duration
from bot.core.replicate.training import ACTIVE_STATUSES
from bot.core.secrets import redact

JOB_PREFIX = "sd3.5_train_replicate:"
MAX_LINE_CHARS = 300
# How many earlier job-bar lines to try when the last ones do not parse (cut mid-line, garbage).
_MAX_BAR_TRIES = 20
# A job-bar line longer than this is not tqdm output.
_MAX_BAR_CHARS = 2000
# Lines examined by `log_tail` at most (collapsed progress bars can hide many lines).
_MAX_TAIL_SCAN = 20000

_NUM = r"[0-9]{1,12}"
_TIME = r"[0-9]{1,6}(?::[0-9]{1,2}){1,3}"
_FLOAT = r"[-+]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][-+]?[0-9]{1,4})?"
_BAR = re.compile(
    rf"\s*(?P<pct>{_NUM})%\|[^|\n]{{0,200}}\|\s*(?P<n>{_NUM})/(?P<total>{_NUM})"
    rf"\s*\[(?P<elapsed>{_TIME})<(?P<remaining>{_TIME}|\?)"
    rf",\s*(?P<rate>{_FLOAT}|\?)\s*(?P<unit>s/it|it/s)(?P<postfix>[^\]]*)\]?"
)
_LR = re.compile(rf"\blr:\s*(?P<v>{_FLOAT})")
_LOSS = re.compile(rf"\bloss:\s*(?P<v>{_FLOAT})")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# A tqdm line: optional `desc:` then `NN%|bar|`. Used to collapse runs of refreshes in the tail.
_TQDM_LINE = re.compile(r"^(?P<desc>[^|]{0,120}?):?\s*[0-9]{1,3}%\|")
_EXTRACTED = re.compile(r"Extracted\s+([0-9]{1,9})\s+files from zip")
_CACHING_BAR = re.compile(rf"Caching latents:\s*{_NUM}%\|[^|\n]{{0,200}}\|\s*({_NUM})/({_NUM})")

# Stage markers, in the order a run prints them; the one found LAST in the log wins.
_STAGE_MARKERS = (
    "Extracted ",
    "Downloaded base weights in",
    "Loading SD3.5 model",
    "Caching latents",
    "Starting train job",
    JOB_PREFIX,
    "Saved to output/",
)


@dataclass(frozen=True)
class Progress:
    """What the last job-bar line says; every field is None when the log does not say it."""

    step: int | None = None
    total: int | None = None
    percent: float | None = None
    elapsed_s: float | None = None
    remaining_s: float | None = None
    s_per_it: float | None = None
    loss: float | None = None
    lr: float | None = None
    stage: str | None = None


def _seconds(text: str) -> float | None:
    """tqdm's `MM:SS` / `H:MM:SS` (and a defensive `D:H:MM:SS`) as seconds."""
    if not text or text == "?":
        return None
    total = 0
    for part in text.split(":"):
        if not part.isdigit():
            return None
        total = total * 60 + int(part)
    return float(total)


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _line_at(logs: str, start: int) -> str:
    """The text from `start` to the end of its line (a `\\r` also ends a tqdm refresh)."""
    end = len(logs)
    for sep in ("\n", "\r"):
        pos = logs.find(sep, start, min(end, start + _MAX_BAR_CHARS))
        if pos != -1:
            end = pos
    return logs[start : min(end, start + _MAX_BAR_CHARS)]


def _parse_bar(text: str) -> Progress | None:
    """Parse what follows `JOB_PREFIX` on one line, or None when it is not a complete bar."""
    m = _BAR.match(text)
    if m is None:
        return None
    step, total = int(m["n"]), int(m["total"])
    if step > total:
        return None
    rate = _float(m["rate"]) if m["rate"] != "?" else None
    s_per_it: float | None = None
    if rate is not None and rate > 0:
        s_per_it = rate if m["unit"] == "s/it" else 1.0 / rate
    postfix = m["postfix"] or ""
    lr = _LR.search(postfix)
    loss = _LOSS.search(postfix)
    percent = 100.0 * step / total if total > 0 else _float(m["pct"])
    return Progress(
        step=step,
        total=total,
        percent=percent,
        elapsed_s=_seconds(m["elapsed"]),
        remaining_s=_seconds(m["remaining"]),
        s_per_it=s_per_it,
        loss=_float(loss["v"]) if loss else None,
        lr=_float(lr["v"]) if lr else None,
    )


def _label(marker: str, line: str) -> str | None:
    """The human label of one stage line, or None when the marker was a false hit."""
    if marker == "Extracted ":
        m = _EXTRACTED.match(line)
        return f"Dataset unpacked ({m[1]} files)" if m else None
    if marker == "Downloaded base weights in":
        return "Base model downloaded"
    if marker == "Loading SD3.5 model":
        return "Loading the model"
    if marker == "Caching latents":
        m = _CACHING_BAR.match(line)
        if m and int(m[1]) <= int(m[2]):
            return f"Caching latents ({m[1]}/{m[2]})"
        return "Caching latents"
    if marker in ("Starting train job", JOB_PREFIX):
        return "Training"
    return "LoRA saved"


def _stage(logs: str) -> str | None:
    """A short label for the latest stage marker in the log (each found with one `rfind`)."""
    found = sorted(((logs.rfind(m), m) for m in _STAGE_MARKERS), reverse=True)
    for pos, marker in found:
        if pos < 0:
            break
        label = _label(marker, _line_at(logs, pos))
        if label is not None:
            return label
    return None


def step_text(progress: Progress, status: str, *, percent: bool = False) -> str | None:
    """`step 84/700` (with `percent`: `step 84/700 (12%)`); a success shows the full count,
    since the last log line usually reads `(steps-1)/steps`. None before the first step."""
    if progress.step is None or not progress.total:
        return None
    shown = progress.total if status == "succeeded" else progress.step
    text = f"step {shown}/{progress.total}"
    return f"{text} ({100.0 * shown / progress.total:.0f}%)" if percent else text


def eta_text(progress: Progress, status: str) -> str | None:
    """`ETA 10 min` while the training runs and the log says how long is left, else None."""
    if progress.remaining_s is None or status not in ACTIVE_STATUSES:
        return None
    return f"ETA {format_duration(progress.remaining_s)}"


def parse_progress(logs: str | None) -> Progress:
    """The progress shown by the last `sd3.5_train_replicate:` bar, plus the current stage."""
    if not logs:
        return Progress()
    stage = _stage(logs)
    end = len(logs)
    for _ in range(_MAX_BAR_TRIES):
        pos = logs.rfind(JOB_PREFIX, 0, end)
        if pos == -1:
            break
        parsed = _parse_bar(_line_at(logs, pos + len(JOB_PREFIX)))
        if parsed is not None:
            return replace(parsed, stage=stage)
        end = pos
    return Progress(stage=stage)


def _clean_line(line: str) -> str:
    """The last visible refresh of a `\\r`-separated line, without ANSI codes, length-capped."""
    if "\r" in line:
        line = line.rstrip("\r\n\t ")
        line = line[line.rfind("\r") + 1 :]
    line = line[: MAX_LINE_CHARS * 8]
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    line = "".join(ch if ch.isprintable() or ch == "\t" else " " for ch in line).rstrip()
    if len(line) > MAX_LINE_CHARS:
        line = line[: MAX_LINE_CHARS - 1] + "…"
    return line


def _bar_key(line: str) -> str | None:
    """The bar's description when `line` is a tqdm refresh, so runs of refreshes collapse."""
    m = _TQDM_LINE.match(line)
    return m["desc"].strip() if m else None


def log_tail(logs: str | None, lines: int = 30) -> str:
    """The last `lines` lines of the log, cleaned for a message or a database column.

    Carriage-return refreshes keep only their last state, and a run of consecutive refreshes of
    the same progress bar keeps only its latest line, so a tail shows what happened (stages, a
    traceback) rather than thirty near-identical bar lines. Secrets are redacted.
    """
    if not logs or lines <= 0:
        return ""
    out: list[str] = []
    last_key: str | None = None
    fast_prefix = ""
    end = len(logs)
    scanned = 0
    while end > 0 and len(out) < lines and scanned < _MAX_TAIL_SCAN:
        start = logs.rfind("\n", 0, end) + 1
        line_end, end = end, start - 1
        scanned += 1
        if fast_prefix and logs.startswith(fast_prefix, start, line_end):
            pct_end = logs.find("%|", start + len(fast_prefix), start + len(fast_prefix) + 8)
            if pct_end != -1 and logs.find("\r", start, line_end) == -1:
                continue  # fast path: another refresh of the bar just shown
        line = _clean_line(logs[start:line_end])
        if not line.strip():
            last_key, fast_prefix = None, ""
            continue
        key = _bar_key(line)
        if key is not None and key == last_key:
            continue  # an older refresh of the bar already shown
        last_key = key
        fast_prefix = f"{key}:" if key else ""
        out.append(line)
    out.reverse()
    return redact("\n".join(out))
