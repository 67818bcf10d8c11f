"""Progress of a running training, read from the trainer's `logs` (see docs/trainer.md).

The trainer prints a tqdm bar named after its job, one line per refresh:

    sd3.5_train_replicate:  12%|█▏   | 84/700 [01:23<10:12,  1.01s/it, lr: 4.0e-04 loss: 4.1e-01]

Logs reach ~0.5 MB on long runs and Replicate returns them whole on every poll, so nothing here
reads more of them than the answer needs: the last job-bar line and the latest stage marker are
looked for in the last few KB first (further back only when that part holds none), and the tail
skips a run of progress-bar refreshes with a regex search in C instead of a Python step per line.
Parsing a refresh thus costs about as much at 4,000 steps as at 100. Logs are untrusted text:
nothing here raises on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from bot.core.money.estimate import format_duration
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
# How much of the end of the log is searched first for the last bar and the latest stage; each
# further look goes this many times further back (a job-bar line is ~110 characters).
_WINDOW = 8192
_WIDEN = 8

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
        if not (part.isascii() and part.isdigit()):  # '²' passes isdigit(), not int()
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
    """A short label for the latest stage marker in the log.

    Only the last occurrence of each marker matters, latest first, so the markers are looked
    for in the end of the log and further back only when none found there gives a label: while
    a run trains, every line carries the job bar, and the start of the log is never read again.
    """
    size = len(logs)
    window = _WINDOW
    while True:
        lo = max(0, size - window)
        found = sorted(((logs.rfind(m, lo), m) for m in _STAGE_MARKERS), reverse=True)
        for pos, marker in found:
            if pos < 0:
                break
            label = _label(marker, _line_at(logs, pos))
            if label is not None:
                return label
        if lo == 0:
            return None
        window *= _WIDEN


def _rfind_back(logs: str, sub: str, end: int) -> int:
    """`logs.rfind(sub, 0, end)`, reading back from `end` in widening windows: a hit near the
    end (the usual case) costs a few KB, not the whole log."""
    window = _WINDOW
    while True:
        lo = max(0, end - window)
        pos = logs.rfind(sub, lo, end)
        if pos != -1 or lo == 0:
            return pos
        window *= _WIDEN


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
        pos = _rfind_back(logs, JOB_PREFIX, end)
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
    if not line.isprintable():  # one C pass for the usual line; a step per character if not
        line = "".join(ch if ch.isprintable() or ch == "\t" else " " for ch in line)
    line = line.rstrip()
    if len(line) > MAX_LINE_CHARS:
        line = line[: MAX_LINE_CHARS - 1] + "…"
    return line


def _bar_key(line: str) -> str | None:
    """The bar's description when `line` is a tqdm refresh, so runs of refreshes collapse."""
    m = _TQDM_LINE.match(line)
    return m["desc"].strip() if m else None


@lru_cache(maxsize=16)
def _refresh_patterns(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(the start of a plain refresh of the bar named `prefix`: the prefix, then its percentage
    within a few characters; a newline NOT followed by one)."""
    head = re.escape(prefix) + r"[^\n\r]{0,6}%\|"
    return re.compile(head), re.compile(rf"\n(?!{head})")


def _is_refresh(logs: str, start: int, end: int, head: re.Pattern[str]) -> bool:
    """Whether the line starting at `start` (cut at `end`) is a plain refresh: the bar's head
    and no carriage return, which would make it several refreshes to clean up."""
    line_end = logs.find("\n", start, end)
    line_end = end if line_end == -1 else line_end
    return head.match(logs, start, line_end) is not None and logs.find("\r", start, line_end) < 0


def _run_start(logs: str, end: int, prefix: str) -> int:
    """Where the unbroken run of plain refreshes of the bar `prefix` that ends at `end` starts
    (`end` itself when the line ending there is not one).

    A run can span thousands of lines, so the latest line that breaks it is found in C (a regex
    for lines without the bar's head, `rfind` for carriage returns) in the end of the log,
    widening until one is in view, rather than with a step per line.
    """
    head, other = _refresh_patterns(prefix)
    if not _is_refresh(logs, logs.rfind("\n", 0, end) + 1, end, head):
        return end
    window = _WINDOW
    while True:
        lo = max(0, end - window)
        brk = -1  # the start of the latest line in view that is not a plain refresh
        for match in other.finditer(logs, lo, end):
            brk = match.end()
        cr = logs.rfind("\r", lo, end)
        if cr >= 0:
            brk = max(brk, logs.rfind("\n", 0, cr) + 1)
        if brk < 0 and lo == 0 and not _is_refresh(logs, 0, end, head):
            brk = 0
        if brk >= 0:
            return logs.find("\n", brk, end) + 1
        if lo == 0:
            return 0
        window *= _WIDEN


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
        if fast_prefix:  # older refreshes of the bar just shown: skip them all at once
            start = _run_start(logs, end, fast_prefix)
            if start < end:
                scanned += logs.count("\n", start, end) + 1
                end = start - 1
                continue
        start = logs.rfind("\n", 0, end) + 1
        line_end, end = end, start - 1
        scanned += 1
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
