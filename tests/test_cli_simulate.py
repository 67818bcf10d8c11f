"""`sd35l-trainer simulate` options rehearse the failure paths: outcome, speed, a required token."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_support import TOKEN, TRIGGER, invoke

ENTRY = "from bot.cli import main; main()"


@pytest.mark.slow
def test_simulate_with_failing_outcome_and_required_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dataset_url: str
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "REPLICATE_API_TOKEN": TOKEN}
    args = ["simulate", "--port", "0", "--outcome", "failed", "--require-token"]
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args, "--step-seconds", "0.001"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert found, first
        assert "0.001 s per step and end failed" in proc.stdout.readline()
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("REPLICATE_BASE_URL", found.group(1))
        monkeypatch.setenv("SD35L_ALLOW_PRIVATE_URLS", "1")
        monkeypatch.setenv("SD35L_POLL_INTERVAL", "0.05")
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_" + "wrong" * 6)
        refused = invoke(["list"])
        assert refused.exit_code == 2 and "rejected the API token" in refused.output
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        train = [
            "train", "--dataset-url", dataset_url, "--destination", "alice/lora",
            "--trigger-word", TRIGGER, "--steps", "1000", "--wait", "--yes",
        ]  # fmt: skip
        failed = invoke(train)
        assert failed.exit_code == 1, failed.output
        assert "ended failed" in failed.output and "Last log lines:" in failed.output
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Simulator stopped." in rest
    assert "Traceback" not in rest and TOKEN not in rest


def test_require_token_without_one_is_refused() -> None:
    result = invoke(["simulate", "--require-token"])
    assert result.exit_code == 2 and "REPLICATE_API_TOKEN" in result.output
