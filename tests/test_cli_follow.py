"""CLI `follow`, `cancel`'s question, and output users copy, against the simulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli import _common, wait
from bot.sim import ReplicateSimulator
from tests.cli_support import TRIGGER, invoke
from tests.test_cli_jobs import _make, _wait_ended

WEIGHTS = f"alice_lora_{TRIGGER}.safetensors"


def test_follow_a_running_training_to_its_weights(
    cli_env: ReplicateSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = _make(cli_env, steps=100000)
    polls = {"n": 0}

    async def poll_then_finish(seconds: float) -> None:
        polls["n"] += 1
        if polls["n"] == 3:
            cli_env.finish(tid)
        await asyncio.sleep(seconds)

    monkeypatch.setattr(wait, "sleep", poll_then_finish)
    result = invoke(["follow", tid, "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"Following training {tid}" in result.output
    assert f"{tid}: processing | step " in result.output
    assert f"{tid}: succeeded | step 100000/100000" in result.output
    assert (tmp_path / "out" / WEIGHTS).read_bytes() == cli_env.lora_bytes
    assert "Cost: $" in result.output


def test_follow_a_failed_training_exits_1_with_its_log(cli_env: ReplicateSimulator) -> None:
    tid = _make(cli_env, outcome="failed")
    result = invoke(["follow", tid])
    assert result.exit_code == 1, result.output
    assert f"Training {tid} ended failed" in result.output
    assert "Last log lines:" in result.output
    assert not list(Path(".").glob("*.safetensors"))


def test_follow_twice_keeps_the_first_file_and_force_overwrites(
    cli_env: ReplicateSimulator, tmp_path: Path
) -> None:
    tid = _make(cli_env)
    _wait_ended(cli_env, tid)
    (tmp_path / WEIGHTS).write_bytes(b"mine")
    result = invoke(["follow", tid, "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    other = tmp_path / f"alice_lora_{TRIGGER}_{tid}.safetensors"
    assert f"saved as {other.name}" in result.output
    assert (tmp_path / WEIGHTS).read_bytes() == b"mine"
    assert other.read_bytes() == cli_env.lora_bytes
    result = invoke(["follow", tid, "--output-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--force" in result.output
    result = invoke(["follow", tid, "--output-dir", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / WEIGHTS).read_bytes() == cli_env.lora_bytes


def test_follow_unknown_id_is_input_error(cli_env: ReplicateSimulator) -> None:
    result = invoke(["follow", "doesnotexist"])
    assert result.exit_code == 2 and "was not found" in result.output


def test_losing_replicate_while_following_says_it_still_runs(
    cli_env: ReplicateSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never "try again" (a second paid submission): the id and how to re-attach."""
    from bot.core.replicate.gateway import ReplicateGateway

    tid = _make(cli_env, steps=100000)
    real = ReplicateGateway.get_training
    calls = {"n": 0}

    async def drop(self: ReplicateGateway, training_id: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return await real(self, training_id)
        self.base_url = "http://127.0.0.1:9"  # nothing listens on the discard port
        self._http.base_url = self.base_url
        return await real(self, training_id)

    monkeypatch.setattr(ReplicateGateway, "get_training", drop)
    result = invoke(["follow", tid])
    assert result.exit_code == 1, result.output
    assert f"Lost contact with Replicate while following training {tid}" in result.output
    assert f"sd35l-trainer follow {tid}" in result.output
    assert "try again" not in result.output.lower()
    assert cli_env.trainings[tid]["status"] in ("starting", "processing")


@pytest.mark.parametrize(("answer", "canceled"), [("n\n", False), ("y\n", True)])
def test_cancel_asks_on_a_terminal(
    cli_env: ReplicateSimulator, monkeypatch: pytest.MonkeyPatch, answer: str, canceled: bool
) -> None:
    tid = _make(cli_env, steps=100000)
    monkeypatch.setattr(_common, "stdin_is_tty", lambda: True)
    result = invoke(["cancel", tid], input=answer)
    assert result.exit_code == 0, result.output
    assert f"Cancel training {tid}" in result.output and "cannot be undone" in result.output
    status = cli_env.trainings[tid]["status"]
    if canceled:
        assert status == "canceled" and "now canceled" in result.output
    else:
        assert status in ("starting", "processing") and "Nothing was canceled" in result.output


def test_cancel_yes_skips_the_question(
    cli_env: ReplicateSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = _make(cli_env, steps=100000)
    monkeypatch.setattr(_common, "stdin_is_tty", lambda: True)
    result = invoke(["cancel", tid, "--yes"])
    assert result.exit_code == 0, result.output
    assert "Cancel training" not in result.output
    assert cli_env.trainings[tid]["status"] == "canceled"


def test_status_and_json_agree_on_the_last_step(cli_env: ReplicateSimulator) -> None:
    """The trainer's last bar line says 199/200 for a finished run; both views say 200/200."""
    tid = _make(cli_env, steps=200)
    _wait_ended(cli_env, tid)
    table = invoke(["status", tid])
    data = json.loads(invoke(["status", tid, "--json"]).output)
    assert "step 200/200 (100%)" in table.output
    assert data["progress"]["step"] == 200 and data["progress"]["percent"] == 100.0


def test_ids_and_urls_are_whole_in_80_columns(
    cli_env: ReplicateSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common, "stdout_is_tty", lambda: True)
    monkeypatch.setenv("COLUMNS", "80")
    tids = [_make(cli_env, steps=20) for _ in range(3)]
    for tid in tids:
        _wait_ended(cli_env, tid)
    listed = invoke(["list"]).output
    assert all(tid in listed for tid in tids), listed
    assert max(len(line) for line in listed.splitlines()) <= 80
    shown = invoke(["status", tids[0]]).output
    weights = cli_env.trainings[tids[0]]["output"]["weights"]
    assert f"weights: {weights}" in shown.splitlines()
    assert f"web: https://replicate.com/p/{tids[0]}" in shown.splitlines()
