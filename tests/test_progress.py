"""Progress parsing from the trainer's tqdm logs, and the cleaned log tail."""

from __future__ import annotations

from typing import Any, SupportsIndex
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.trainer_log import progress
from bot.core.trainer_log.progress import MAX_LINE_CHARS, Progress, log_tail, parse_progress
from bot.sim.logs import TrainingLog

BAR = (
    "sd3.5_train_replicate:  12%|█▏        | 84/700 "
    "[01:23<10:12,  1.01s/it, lr: 4.0e-04 loss: 4.123e-01]"
)
STAGES = [
    "Extracted 24 files from zip",
    "Downloaded base weights in 52.31 seconds",
    "Loading SD3.5 model",
    "Caching latents: 100%|██████████| 12/12 [00:03<00:00,  3.50it/s]",
    "100%|██████████| 12/12 [00:00<00:00, 1234.56it/s]",
    "Starting train job",
]


def test_empty_and_none() -> None:
    assert parse_progress(None) == Progress()
    assert parse_progress("") == Progress()
    assert log_tail(None) == "" and log_tail("a", 0) == ""


def test_documented_line() -> None:
    p = parse_progress("\n".join([*STAGES, BAR]))
    assert (p.step, p.total) == (84, 700)
    assert p.percent is not None and abs(p.percent - 12.0) < 0.01
    assert p.elapsed_s == 83 and p.remaining_s == 612
    assert p.s_per_it == 1.01 and p.lr == 4e-4 and p.loss == 0.4123
    assert p.stage == "Training"


def test_takes_last_bar_and_ignores_other_bars() -> None:
    lines = [
        *STAGES[:3],
        "sd3.5_train_replicate:   0%|          | 0/700 [00:00<?, ?it/s]",
        "sd3.5_train_replicate:   1%|          | 5/700 "
        "[00:05<11:34,  1.00s/it, lr: 4.0e-04 loss: 5.0e-01]",
        "Caching latents:  50%|█████     | 6/12 [00:01<00:01,  3.50it/s]",
        "100%|██████████| 12/12 [00:00<00:00, 1234.56it/s]",
    ]
    p = parse_progress("\n".join(lines))
    assert (p.step, p.total, p.loss) == (5, 700, 0.5)
    assert p.stage == "Caching latents (6/12)"  # the latest stage line wins
    p2 = parse_progress("\n".join([*lines, "Starting train job"]))
    assert p2.stage == "Training" and p2.step == 5


def test_first_line_remaining_unknown_and_it_per_s() -> None:
    p = parse_progress("sd3.5_train_replicate:   0%|          | 0/700 [00:00<?, ?it/s]")
    assert (p.step, p.total, p.remaining_s, p.s_per_it, p.loss) == (0, 700, None, None, None)
    fast = parse_progress("sd3.5_train_replicate:  50%|█████     | 5/10 [00:01<00:01,  4.00it/s]")
    assert fast.s_per_it == 0.25


def test_hours_elapsed() -> None:
    p = parse_progress(
        "sd3.5_train_replicate:  90%|█████████ | 3600/4000 [1:02:03<6:40,  1.00s/it, loss: 1e-2]"
    )
    assert p.elapsed_s == 3723 and p.remaining_s == 400 and p.loss == 0.01 and p.lr is None


def test_stages() -> None:
    assert parse_progress(STAGES[0]).stage == "Dataset unpacked (24 files)"
    assert parse_progress("\n".join(STAGES[:2])).stage == "Base model downloaded"
    assert parse_progress("\n".join(STAGES[:3])).stage == "Loading the model"
    assert parse_progress("\n".join(STAGES[:4])).stage == "Caching latents (12/12)"
    assert parse_progress("\n".join(STAGES)).stage == "Training"
    saved = "\n".join([*STAGES, BAR, "Saved to output/sd3.5_train_replicate/lora.safetensors"])
    assert parse_progress(saved).stage == "LoRA saved"
    assert parse_progress(saved).step == 84
    assert parse_progress("Caching latents starting").stage == "Caching latents"
    # A false hit of a marker falls back to the previous real stage.
    assert parse_progress("Downloaded base weights in 1 seconds\nExtracted nothing").stage == (
        "Base model downloaded"
    )
    assert parse_progress("hello world").stage is None


def test_truncated_last_line_falls_back_to_previous() -> None:
    logs = BAR + "\nsd3.5_train_replicate:  12%|█▏        | 85/7"
    assert parse_progress(logs).step == 84
    bogus = BAR + "\nsd3.5_train_replicate:  99%|█| 900/700 [00:01<00:01,  1.00s/it]"
    assert parse_progress(bogus).step == 84  # step > total is not a real bar


def test_carriage_returns() -> None:
    logs = "Starting train job\r\n" + BAR.replace("84/700", "83/700") + "\r" + BAR + "\r\n"
    assert parse_progress(logs).step == 84
    tail = log_tail("a\rb\rc\r\nnext\n")
    assert tail == "c\nnext"


def test_simulator_logs_parse() -> None:
    log = TrainingLog("seed", 4000, 4e-4, 1)
    text = log.text(3999, "succeeded")
    assert len(text) > 300_000
    p = parse_progress(text)
    assert (p.step, p.total, p.stage) == (3998, 4000, "LoRA saved")
    assert p.s_per_it is not None and 0.9 < p.s_per_it < 1.4
    assert p.loss is not None and p.lr == 4e-4


class _Spy(str):
    """A log that records where each backward search of it starts (None: at the beginning)."""

    starts: list[int | None]

    def rfind(self, sub: str, start: SupportsIndex | None = None, end: Any = None) -> int:
        self.starts.append(None if start is None else int(start))
        return super().rfind(sub, start, end)


def test_parse_reads_only_the_end_of_a_long_log() -> None:
    text = TrainingLog("seed", 6000, 4e-4, 1).text(4000)
    assert len(text) > 400_000
    spy = _Spy(text)
    spy.starts = []
    p = parse_progress(spy)
    assert (p.step, p.total, p.stage) == (3999, 6000, "Training")
    assert spy.starts and all(s is not None and s >= len(text) - 64 * 1024 for s in spy.starts)


def test_log_tail_collapses_bar_refreshes_and_keeps_traceback() -> None:
    log = TrainingLog("seed", 50, 4e-4, 1)
    tail = log_tail(log.text(30, "failed"), 30).splitlines()
    assert tail[0] == "Extracted" + log.stage_lines[0].removeprefix("Extracted")
    assert sum(line.startswith("sd3.5_train_replicate:") for line in tail) == 1
    assert tail[-1].startswith("torch.OutOfMemoryError")
    short = log_tail(log.text(30, "failed"), 3).splitlines()
    assert len(short) == 3 and short[-1].startswith("torch.OutOfMemoryError")


def test_log_tail_trims_cleans_and_redacts() -> None:
    token = "r8_" + "sim" * 10
    logs = "\x1b[31mred\x1b[0m\n" + "x" * 5000 + "\nkey " + token + "\n\n\tbell\x07\n"
    tail = log_tail(logs).splitlines()
    assert tail[0] == "red"
    assert len(tail[1]) == MAX_LINE_CHARS and tail[1].endswith("…")
    assert token not in "\n".join(tail) and "[redacted]" in tail[2]
    assert tail[3] == "\tbell"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_never_raises_on_garbage(text: str) -> None:
    p = parse_progress(text)
    if p.step is not None and p.total is not None:
        assert 0 <= p.step <= p.total
    log_tail(text, 5)


bar_piece = st.sampled_from(
    [
        "sd3.5_train_replicate:",
        " 12%|",
        "█▏  ",
        "| ",
        "84/700",
        "9999999999999/3",
        " [",
        "01:23",
        "<",
        "?",
        "1:10:12",
        ", ",
        "1.01",
        "s/it",
        "it/s",
        "nan",
        "1e999",
        ", lr: ",
        "loss: ",
        "]",
        "\n",
        "\r",
        "Caching latents:",
        "Extracted ",
        " files from zip",
        "Saved to output/",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(bar_piece, max_size=60).map("".join))
def test_never_raises_on_bar_like_garbage(text: str) -> None:
    p = parse_progress(text)
    if p.step is not None and p.total is not None:
        assert p.step <= p.total
    for value in (p.s_per_it, p.loss, p.lr, p.elapsed_s, p.remaining_s, p.percent):
        assert value is None or value == value  # never NaN


def test_step_and_eta_text_is_the_same_in_status_and_follow() -> None:
    """`sd35l-trainer status` and the `--wait` line show the step and ETA from one place."""
    from bot.cli.render import progress_text
    from bot.cli.wait import StatusLine
    from bot.core.replicate.training import Training
    from bot.core.trainer_log.progress import Progress, eta_text, step_text

    running = Progress(step=84, total=700, remaining_s=612.0)
    assert step_text(running, "processing") == "step 84/700"
    assert step_text(running, "processing", percent=True) == "step 84/700 (12%)"
    assert step_text(running, "succeeded") == "step 700/700"  # the last line says 699/700
    assert eta_text(running, "processing") == "ETA 10 min"
    assert eta_text(running, "failed") is None and step_text(Progress(), "processing") is None
    assert progress_text(running, "processing") == "step 84/700 (12%), ETA 10 min"
    line = StatusLine(Training(id="t1", status="processing"))
    line.progress = running
    assert " | step 84/700 | ETA 10 min | elapsed " in line.text()


# -- the bounded readers give what a full read of the log gives -------------------------------
# Reference versions read the whole log, as the parser did before it learned to stop early.


def _reference_stage(logs: str) -> str | None:
    found = sorted(((logs.rfind(m), m) for m in progress._STAGE_MARKERS), reverse=True)
    for pos, marker in found:
        if pos < 0:
            break
        label = progress._label(marker, progress._line_at(logs, pos))
        if label is not None:
            return label
    return None


def _reference_parse(logs: str) -> Progress:
    if not logs:
        return Progress()
    stage = _reference_stage(logs)
    end = len(logs)
    for _ in range(progress._MAX_BAR_TRIES):
        pos = logs.rfind(progress.JOB_PREFIX, 0, end)
        if pos == -1:
            break
        parsed = progress._parse_bar(progress._line_at(logs, pos + len(progress.JOB_PREFIX)))
        if parsed is not None:
            return Progress(**{**parsed.__dict__, "stage": stage})
        end = pos
    return Progress(stage=stage)


def _reference_tail(logs: str, lines: int) -> str:
    out: list[str] = []
    last_key: str | None = None
    end, scanned = len(logs), 0
    while end > 0 and len(out) < lines and scanned < progress._MAX_TAIL_SCAN:
        start = logs.rfind("\n", 0, end) + 1
        line_end, end = end, start - 1
        scanned += 1
        line = progress._clean_line(logs[start:line_end])
        if not line.strip():
            last_key = None
            continue
        key = progress._bar_key(line)
        if key is not None and key == last_key:
            continue
        last_key = key
        out.append(line)
    out.reverse()
    return "\n".join(out)


_JOB = "sd3.5_train_replicate:"
log_line = st.sampled_from(
    [
        BAR,
        BAR.replace("84/700", "85/700"),
        f"{_JOB}   0%|          | 0/700 [00:00<?, ?it/s]",
        f"{_JOB}  12%|█▏        | 85/7",  # cut mid-line
        f"{_JOB}       12%|█▏        | 84/700 [01:23<10:12,  1.01s/it]",  # far-off percentage
        BAR + "\r" + BAR.replace("84/700", "86/700"),  # carriage-return refreshes on one line
        f"{_JOB} no bar here",
        "Caching latents:  50%|█████     | 6/12 [00:01<00:01,  3.50it/s]",
        "100%|██████████| 12/12 [00:00<00:00, 1234.56it/s]",
        *STAGES,
        "Extracted nothing",
        "Saved to output/sd3.5_train_replicate/lora.safetensors",
        "Traceback (most recent call last):",
        "torch.OutOfMemoryError: CUDA out of memory.",
        "\x1b[31mred\x1b[0m",
        "",
        "   ",
    ]
)
runs = st.lists(
    st.tuples(log_line, st.integers(1, 120), st.sampled_from(["\n", "\r\n"])), max_size=12
)


@settings(max_examples=200, deadline=None)
@given(runs, st.booleans(), st.sampled_from([16, 200, 8192]), st.sampled_from([40, 20000]))
def test_bounded_reads_match_a_full_read(
    parts: list[tuple[str, int, str]], trailing: bool, window: int, budget: int
) -> None:
    text = "".join((line + sep) * count for line, count, sep in parts)
    if not trailing:
        text = text.rstrip("\n")
    with (
        patch.object(progress, "_WINDOW", window),
        patch.object(progress, "_MAX_TAIL_SCAN", budget),
    ):
        assert parse_progress(text) == _reference_parse(text)
        for lines in (1, 3, 30):
            assert log_tail(text, lines) == _reference_tail(text, lines)
