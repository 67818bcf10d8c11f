"""A newcomer's first hour, as they meet it: the CLI as a real process through a pipe (stdin not
a terminal), its exit status, and every line it prints. Each test is one stumble that must not
happen again: a message that hides what ran, names no field, contradicts itself or reads wrong."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from bot.core import secrets
from bot.core.dataset.judge import judge
from bot.core.dataset.local import prepare_path_sync
from bot.core.dataset.sheet import _cells
from bot.sim import SAMPLE_TOKEN, ReplicateSimulator, SimulatorThread
from tests.local_images import dataset_files, png, write_folder

TRIGGER = "ZXQTOK"
ENTRY = "from bot.cli import main; main()"


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[ReplicateSimulator]:
    """Trainings that run long enough (1000 steps x 50 ms) to be canceled while they run."""
    with SimulatorThread(step_seconds=0.05, start_delay=0.02, weights_size=4096) as sim:
        yield sim


@pytest.fixture
def env(tmp_path: Path, slow_sim: ReplicateSimulator) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SD35L_CONFIG_DIR": str(tmp_path / "config"),
        "REPLICATE_BASE_URL": slow_sim.base_url,
        "REPLICATE_API_TOKEN": SAMPLE_TOKEN,
        "SD35L_ALLOW_PRIVATE_URLS": "1",
        "SD35L_POLL_INTERVAL": "0.05",
        "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", str(tmp_path)),
    }


def cli(
    args: list[str], env: dict[str, str], cwd: Path, *, answers: str | None = None, **more_env: str
) -> Ran:
    """One CLI run through pipes, as a script or CI meets it (`answers`: typed lines)."""
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env={k: v for k, v in {**env, **more_env}.items() if v is not None},
        cwd=cwd,
        input=answers,
        stdin=subprocess.DEVNULL if answers is None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ran = Ran(done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in ran.both, ran.both
    assert "[redacted]" not in ran.both, ran.both  # the rehearsal token never blanks prose
    return ran


def folder(tmp_path: Path, count: int = 12, **extra: bytes) -> Path:
    return write_folder(tmp_path / "my-photos", {**dataset_files(count), **extra})


def train_args(dataset: Path | str, *more: str) -> list[str]:
    option = "--dataset-url" if str(dataset).startswith("http") else "--dataset"
    return [
        "train", option, str(dataset), "--destination", "alice/lora",
        "--trigger-word", TRIGGER, "--preset", "fast", *more,
    ]  # fmt: skip


def started_id(ran: Ran) -> str:
    line = next(x for x in ran.out.splitlines() if x.startswith("Started training "))
    return line.removeprefix("Started training ").strip()


# --- cancel, ids, and the end of a canceled training -------------------------------------


@pytest.mark.slow
def test_cancel_without_a_terminal_and_without_yes_refuses(
    env: dict[str, str], tmp_path: Path, slow_sim: ReplicateSimulator
) -> None:
    tid = started_id(cli(train_args(folder(tmp_path), "--yes"), env, tmp_path))
    refused = cli(["cancel", tid], env, tmp_path)
    assert refused.code == 2, refused.both
    assert "--yes" in refused.err and "Nothing was canceled" in refused.err
    assert slow_sim.trainings[tid]["status"] in ("starting", "processing")
    done = cli(["cancel", f"https://replicate.com/p/{tid}", "--yes"], env, tmp_path)
    assert done.code == 0, done.both
    assert slow_sim.trainings[tid]["status"] == "canceled"


@pytest.mark.slow
def test_the_web_url_the_cli_prints_is_taken_wherever_an_id_is(
    env: dict[str, str], tmp_path: Path
) -> None:
    started = cli(train_args(folder(tmp_path), "--yes"), env, tmp_path)
    tid = started_id(started)
    url = next(x for x in started.out.split() if x.startswith("https://replicate.com/p/"))
    assert url == f"https://replicate.com/p/{tid}"
    for args in (["status", url], ["status", url + "/", "--json"], ["follow", "no such id"]):
        ran = cli(args, env, tmp_path, SD35L_POLL_INTERVAL="0.05")
        if args[0] == "follow":
            assert ran.code in (1, 2) and "https://replicate.com/p/ID" in ran.err, ran.both
        else:
            assert ran.code == 0, ran.both
            assert tid in ran.out
    assert cli(["cancel", url, "--yes"], env, tmp_path).code == 0
    bad = cli(["status", "https://example.com/p/abc"], env, tmp_path)
    assert bad.code == 2 and "web URL" in bad.err


@pytest.mark.slow
def test_canceling_your_own_training_under_wait_ends_plainly_with_exit_0(
    env: dict[str, str], tmp_path: Path, slow_sim: ReplicateSimulator
) -> None:
    before = set(slow_sim.trainings)
    waiting = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *train_args(folder(tmp_path), "--yes", "--wait")],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (set(slow_sim.trainings) - before) and time.monotonic() < deadline:
            time.sleep(0.05)
        (tid,) = set(slow_sim.trainings) - before
        assert cli(["cancel", tid, "--yes"], env, tmp_path).code == 0
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    # Canceled under --wait: said plainly (no "Error"), exit 1 as for every --wait without weights.
    assert waiting.returncode == 1, out + err
    assert f"Training {tid} was canceled" in out and "nothing to download" in out
    assert "Error" not in out + err and "Traceback" not in out + err


# --- config problems, all at once, naming their file -------------------------------------


@pytest.mark.slow
def test_three_typos_are_reported_in_one_run(env: dict[str, str], tmp_path: Path) -> None:
    folder(tmp_path)
    (tmp_path / "typos.yaml").write_text(
        "dataset_path: my-photos\ndestination: alice/lora\ntrigger_wrod: ZXQTOK\n"
        "training: {step: 1000, learning_rat: 1.0}\n"
    )
    ran = cli(["train", "--config", "typos.yaml", "--dry-run"], env, tmp_path)
    assert ran.code == 2, ran.both
    assert ran.err.startswith("Error: The config has 4 problems:")  # the 3 typos + the missing
    assert "trigger_word is missing" in ran.err
    for typo, fix in (
        ("trigger_wrod", "trigger_word"),
        ("training.step", "steps"),
        ("training.learning_rat", "learning_rate"),
    ):
        assert f"Unknown setting {typo} in typos.yaml (did you mean {fix}?)" in ran.err


@pytest.mark.slow
def test_typos_and_bad_values_are_reported_together(env: dict[str, str], tmp_path: Path) -> None:
    folder(tmp_path)
    (tmp_path / "mixed.yaml").write_text(
        "dataset_path: my-photos\ndestination: Alice/Lora\ntrigger_word: ZXQTOK\n"
        "training: {step: 1000, batch_size: 99}\n"
    )
    ran = cli(["train", "--config", "mixed.yaml", "--dry-run"], env, tmp_path)
    assert ran.code == 2 and ran.err.startswith("Error: The config has 3 problems:"), ran.both
    assert "Unknown setting training.step in mixed.yaml (did you mean steps?)" in ran.err
    assert "destination: model names are lowercase; use 'alice/lora'" in ran.err
    assert "training.batch_size: 99 is not allowed" in ran.err


@pytest.mark.slow
def test_an_error_in_defaults_yaml_names_that_file(env: dict[str, str], tmp_path: Path) -> None:
    defaults = tmp_path / "config" / "defaults.yaml"
    defaults.parent.mkdir(parents=True)
    defaults.write_text("destinaton: alice/lora\n")
    ran = cli(train_args(folder(tmp_path), "--dry-run"), env, tmp_path)
    assert ran.code == 2, ran.both
    assert f"Unknown setting destinaton in {defaults}" in ran.err


@pytest.mark.slow
def test_an_empty_trigger_word_is_one_error(env: dict[str, str], tmp_path: Path) -> None:
    args = train_args(folder(tmp_path), "--dry-run")
    args[args.index(TRIGGER)] = ""
    ran = cli(args, env, tmp_path)
    assert ran.code == 2
    assert ran.err.strip() == "Error: trigger_word: is empty; use one made-up word such as ZXQTOK."


@pytest.mark.slow
def test_a_missing_dataset_folder_is_one_line_without_the_settings_table(
    env: dict[str, str], tmp_path: Path
) -> None:
    ran = cli(train_args("./my-fotos", "--dry-run"), env, tmp_path)
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err == (
        "Error: dataset_path: 'my-fotos' does not exist; give a folder of images or a .zip file.\n"
    )


@pytest.mark.slow
def test_a_reversed_policy_range_is_called_reversed(env: dict[str, str], tmp_path: Path) -> None:
    ran = cli(["list"], env, tmp_path, SD35L_POLICY_STEPS="2000-1000")
    assert ran.code == 2
    assert "SD35L_POLICY_STEPS 2000-1000 is reversed" in ran.err and "1000-2000" in ran.err
    ran = cli(["list"], env, tmp_path, SD35L_POLICY_BATCH_SIZE="4-1")
    assert ran.code == 2 and "SD35L_POLICY_BATCH_SIZE 4-1 is reversed" in ran.err


# --- what a dry run says, and the dataset link that does not answer ----------------------


@pytest.mark.slow
def test_a_dry_run_without_a_token_says_what_ran_and_what_did_not(
    env: dict[str, str], tmp_path: Path
) -> None:
    ran = cli(train_args(folder(tmp_path), "--dry-run"), env, tmp_path, REPLICATE_API_TOKEN="")
    assert ran.code == 0, ran.both
    assert "every check ran" not in ran.both
    assert ran.out.rstrip().endswith(
        "Dry run: checked the config and the dataset. Not checked: the token, the destination "
        "model and the trainer's inputs (they need REPLICATE_API_TOKEN). Nothing was submitted."
    )
    with_token = cli(train_args(folder(tmp_path), "--dry-run"), env, tmp_path)
    assert with_token.out.rstrip().endswith(
        "Dry run: every check ran (the config, the dataset, the token, the destination model "
        "and the trainer's inputs); nothing was submitted."
    )


@pytest.mark.slow
def test_a_dataset_link_that_nobody_answers_names_the_field_and_the_way_out(
    env: dict[str, str], tmp_path: Path
) -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    ran = cli(train_args(f"http://127.0.0.1:{port}/d.zip", "--dry-run"), env, tmp_path)
    assert ran.code == 1, ran.both
    assert "Error: dataset_url: could not fetch the dataset from 127.0.0.1" in ran.err
    assert "opens in a browser" in ran.err and "--dataset" in ran.err


# --- the dataset report and the contact sheet --------------------------------------------


@pytest.mark.slow
def test_a_self_looping_link_in_the_folder_is_skipped_with_a_warning(
    env: dict[str, str], tmp_path: Path
) -> None:
    root = folder(tmp_path)
    (root / "photos" / "loop.jpg").symlink_to("loop.jpg")
    ran = cli(train_args(root, "--dry-run"), env, tmp_path)
    assert ran.code == 0, ran.both
    assert (
        "warning: 1 file is left out because it cannot be read (photos/loop.jpg: a symbolic "
        "link that loops back on itself)"
    ) in ran.out
    assert "Uploaded at Start: 12 images and 12 captions" in ran.out


@pytest.mark.slow
def test_the_report_of_a_folder_reads_right(env: dict[str, str], tmp_path: Path) -> None:
    files = dataset_files(5)
    del files["photos/img04.txt"]
    root = write_folder(tmp_path / "my-photos", {**files, "._img00.jpg": b"\0\1"})
    ran = cli(train_args(root, "--dry-run", "--preset", "beginner"), env, tmp_path)
    assert ran.code == 0, ran.both
    assert "ZIP has" not in ran.out and "in the ZIP" not in ran.out
    assert "The dataset has only 5 usable images" in ran.out
    assert "1 of 5 images has no caption file next to it and trains on" in ran.out
    assert "1 entry starting with __MACOSX/ or ._ is never extracted" in ran.out
    # The advice agrees with the default preset the newcomer is about to train with.
    assert "training.steps                  preset   1500" in ran.out
    assert "For 5 images about 1500 steps is a good start." in ran.out


@pytest.mark.slow
def test_the_contact_sheet_crosses_out_a_refused_image_with_the_reason(
    env: dict[str, str], tmp_path: Path
) -> None:
    root = folder(tmp_path, **{"photos/a_small.png": png(64, 103)})
    ran = cli(train_args(root, "--dry-run", "--contact-sheet", "sheet.png"), env, tmp_path)
    assert ran.code == 2, ran.both  # the check refuses the 64x103 image ...
    assert "a_small.png" in ran.out
    assert "1 image is under 256 px on a side; the trainer never upscales it, so it trains" in (
        ran.out
    )
    assert "(photos/a_small.png: 64x103); remove it or use larger originals" in ran.out
    sheet = Image.open(io.BytesIO((tmp_path / "sheet.png").read_bytes())).convert("RGB")
    red, green, blue = sheet.getpixel((8 + 96, 8 + 96))  # ... and its cell is crossed out
    assert red > 150 and green < 80 and blue < 80
    red, green, blue = sheet.getpixel((208 + 8 + 96, 8 + 96))  # a good image is not
    assert not (red > 150 and green < 80)
    local = prepare_path_sync(root, trigger_word=TRIGGER, field="dataset_path", url_option="x")
    assert not local.ok
    from bot.core.dataset.collect import collect_path

    members, _ = collect_path(root, field="dataset_path", url_option="x")
    cells = _cells(judge(members, label="my-photos", trigger_word=TRIGGER))
    small = next(c for c in cells if c.name.endswith("a_small.png"))
    assert small.skipped and small.text == "refused: too small or narrow"
    assert not next(c for c in cells if c.name.endswith("img00.jpg")).skipped


# --- templates and the rehearsal token ---------------------------------------------------


@pytest.mark.slow
def test_init_config_shows_the_dataset_path_alternative(
    env: dict[str, str], tmp_path: Path
) -> None:
    ran = cli(["init-config"], env, tmp_path)
    assert ran.code == 0
    lines = ran.out.splitlines()
    at = lines.index('dataset_url: "https://example.com/CHANGE_ME.zip"')
    assert lines[at + 1].startswith("# Or, instead of dataset_url, a local folder of images")
    assert lines[at + 2] == '# dataset_path: "my-photos"'


def test_a_prose_like_token_is_redacted_as_a_token_not_inside_words() -> None:
    secrets.register_secret("anything")
    assert secrets.redact("Anything else? anythingelse, nothing-anything_x") == (
        "Anything else? anythingelse, nothing-anything_x"
    )
    assert secrets.redact("token=anything; Bearer anything") == (
        "token=[redacted]; Bearer [redacted]"
    )
    long_token = "r8_" + "Q" * 37
    secrets.register_secret(long_token)
    assert secrets.redact(f"x{long_token}y") == "x[redacted]y"  # a real token, even glued


# --- the guided setup takes a folder and shows train's own report ------------------------


def _report_block(text: str) -> list[str]:
    """The dataset report as printed: its "Dataset check:" line and the indented lines under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Dataset check:"))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("  ") or line.startswith("  Fix the dataset"):
            break
        block.append(line)
    return block


@pytest.mark.slow
def test_interactive_takes_a_folder_and_shows_the_full_report_train_shows(
    env: dict[str, str], tmp_path: Path
) -> None:
    root = folder(tmp_path, 5)
    answers = "\n".join(
        ["beginner", "alice/lora", TRIGGER, "./my-photos", "n", "setup/my.yaml", "n", ""]
    )
    ran = cli(["interactive"], env, tmp_path, answers=answers)
    assert ran.code == 0, ran.both
    assert "not a web link" not in ran.out
    shown = _report_block(ran.out)
    assert shown[0].startswith("Dataset check: OK")
    assert any("warning: The dataset has only 5 usable images" in line for line in shown)
    # The check step comes before the rest of the questions, and is train's report, line for line.
    assert ran.out.index("warning: The dataset has only 5") < ran.out.index("Change the preset")
    dry = cli(train_args(root, "--dry-run", "--preset", "beginner"), env, tmp_path)
    assert _report_block(dry.out) == shown
    # The saved file points at the folder from its own place, so it works from anywhere.
    saved = (tmp_path / "setup" / "my.yaml").read_text()
    assert 'dataset_path: "../my-photos"' in saved
    again = cli(["train", "--config", str(tmp_path / "setup" / "my.yaml"), "--dry-run"], env, root)
    assert again.code == 0 and _report_block(again.out) == shown


@pytest.mark.slow
def test_interactive_refuses_a_bad_folder_with_the_report_and_takes_a_local_zip(
    env: dict[str, str], tmp_path: Path
) -> None:
    import shutil

    bad = folder(tmp_path, **{"photos/a_small.png": png(64, 103)})
    good = write_folder(tmp_path / "good", dataset_files(12))
    shutil.make_archive(str(tmp_path / "good"), "zip", good)
    answers = "\n".join(
        ["fast", "alice/lora", TRIGGER, "./missing", str(bad), "good.zip", "n", "my.yaml", "n"]
    )
    ran = cli(["interactive"], env, tmp_path, answers=answers + "\n")
    assert ran.code == 0, ran.both
    assert "dataset_path: 'missing' does not exist" in ran.out
    assert "error: 1 image is so small or narrow" in ran.out  # the refusal shows the report
    assert ran.out.count("Fix the dataset, then give it again.") == 2
    assert 'dataset_path: "good.zip"' in (tmp_path / "my.yaml").read_text()


@pytest.mark.slow
def test_interactive_on_a_terminal_trains_a_folder(
    env: dict[str, str], tmp_path: Path, slow_sim: ReplicateSimulator
) -> None:
    from tests.test_cli_pty import Terminal

    folder(tmp_path)
    before = set(slow_sim.trainings)
    term = Terminal(["interactive"], {**env, "TERM": "xterm-256color"}, tmp_path)
    try:
        for prompt, answer in (
            ("Preset", "fast"),
            ("Destination model", "alice/lora"),
            ("Trigger word", TRIGGER),
            ("Dataset (a folder", "./my-photos"),
            ("Change the preset", "n"),
            ("Save the config as", "my.yaml"),
            ("Start this training now", "y"),
            ("Start this training on Replicate", "y"),
        ):
            term.expect(prompt)
            term.send(answer + "\r")
        term.expect("Started training")
        term.kill()
    finally:
        term.kill()
    (tid,) = set(slow_sim.trainings) - before
    import re

    seen = re.sub(r"\x1b\[[0-9;]*m", "", term.seen)
    assert "Dataset check: OK" in seen and "Uploaded at Start: 12 images" in seen
    assert seen.index("Uploaded at Start") < seen.index("Change the preset")
    assert "/v1/files/" in slow_sim.trainings[tid]["input"]["input_images"]
