"""The first five minutes of a newcomer: the README's first command without a Discord token
stops with a message that leads somewhere real, and the 60-second rehearsal it points to runs
and ends with the weights file. CI runs both from a clean checkout (scripts/first_five_minutes);
these tests keep the pieces honest in the ordinary test run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _headings() -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", README, flags=re.M)}


def _clean_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SD35L_CONFIG_DIR": str(tmp_path / "config"),
        "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", str(tmp_path)),
    }


def test_the_readme_starts_with_the_bot_and_the_test_commands() -> None:
    commands = [line[4:] for line in README.splitlines() if line.startswith("    ")][:2]
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/sd35l-trainer bot",
        "./scripts/test",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in ci and "./scripts/first_five_minutes" in ci
    first = (ROOT / "scripts" / "first_five_minutes").read_text()
    assert "README.md" in first and "./scripts/rehearse" in first  # the README's own command
    assert "./scripts/rehearse" in README.split("---", 1)[0]


@pytest.mark.slow
def test_the_bot_without_a_token_points_to_the_discord_steps_and_the_rehearsal(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "bot"],
        env=_clean_env(tmp_path),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    message = done.stderr
    assert message.startswith("Error: DISCORD_TOKEN is not set") and "Traceback" not in message
    named = re.findall(r'"([^"]+)"', message)
    assert "Create the Discord application" in named and "The first five minutes" in named
    assert set(named) <= _headings()  # every section the message names is in the README
    assert "./scripts/rehearse" in message
    assert os.access(ROOT / "scripts" / "rehearse", os.X_OK)


@pytest.mark.slow
def test_the_rehearsal_ends_with_the_weights_in_hand(tmp_path: Path) -> None:
    binary = Path(sys.executable).parent / "sd35l-trainer"
    env = {**_clean_env(tmp_path), "SD35L_BIN": str(binary), "REHEARSAL_DIR": str(tmp_path)}
    done = subprocess.run(
        [str(ROOT / "scripts" / "rehearse")],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out and "[redacted]" not in out
    for step in ("== 1.", "== 2.", "== 3.", "== 4."):
        assert step in out
    assert "Contact sheet written to" in out and "Dry run: every check ran" in out
    weights = tmp_path / "alice_lora_ZXQTOK.safetensors"
    assert weights.stat().st_size > 0 and f"Saved {weights}" in out
    assert (tmp_path / "sheet.png").read_bytes().startswith(b"\x89PNG")
    assert len(list((tmp_path / "photos").glob("*.jpg"))) == 12
