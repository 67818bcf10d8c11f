"""CLI `list`, `status`, `cancel`, `download` against the simulator (no Replicate, no mocks)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.sim import ReplicateSimulator
from tests.cli_support import TOKEN, TRIGGER, invoke

INPUTS = {"input_images": "https://example.com/d.zip", "trigger_word": TRIGGER, "steps": 20}


def _make(sim: ReplicateSimulator, steps: int = 20, outcome: str | None = None) -> str:
    if outcome:
        sim.faults.outcome = outcome
    record = sim.create_training("alice/lora", {**INPUTS, "steps": steps})
    sim.faults.outcome = "succeeded"
    return record.id


def _wait_ended(sim: ReplicateSimulator, tid: str) -> None:
    deadline = time.monotonic() + 10
    while sim.trainings[tid]["status"] not in ("succeeded", "failed", "canceled", "aborted"):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_list_table_and_json(cli_env: ReplicateSimulator) -> None:
    done = _make(cli_env)
    running = _make(cli_env, steps=100000)
    _wait_ended(cli_env, done)
    result = invoke(["list"])
    assert result.exit_code == 0, result.output
    assert done in result.output and running in result.output
    assert "alice/lora" in result.output
    result = invoke(["list-jobs", "--json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert {i["id"] for i in items} == {done, running}
    assert all("status" in i for i in items)
    result = invoke(["list", "--json", "--status", "succeeded"])
    assert [i["id"] for i in json.loads(result.output)] == [done]
    result = invoke(["list", "--status", "failed"])
    assert result.exit_code == 0 and "No failed trainings" in result.output


def test_list_empty_and_bad_status(cli_env: ReplicateSimulator) -> None:
    result = invoke(["list"])
    assert result.exit_code == 0 and "No trainings found" in result.output
    result = invoke(["list", "--status", "bogus"])
    assert result.exit_code == 2


def test_status_running_and_json(cli_env: ReplicateSimulator) -> None:
    tid = _make(cli_env, steps=100000)
    deadline = time.monotonic() + 10
    while "logs" not in cli_env.trainings[tid] or "/100000" not in (
        cli_env.trainings[tid].get("logs") or ""
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    result = invoke(["status", tid])
    assert result.exit_code == 0, result.output
    assert "processing" in result.output and "/100000" in result.output
    data = json.loads(invoke(["status", tid, "--json"]).output)
    assert data["id"] == tid and data["status"] == "processing"
    assert data["progress"]["total"] == 100000


def test_status_failed_shows_error_and_log(cli_env: ReplicateSimulator) -> None:
    tid = _make(cli_env, outcome="failed")
    _wait_ended(cli_env, tid)
    result = invoke(["status", tid])
    assert result.exit_code == 0
    assert "failed" in result.output and "Last log lines" in result.output


def test_status_aborted(cli_env: ReplicateSimulator) -> None:
    tid = _make(cli_env, outcome="aborted")
    _wait_ended(cli_env, tid)
    data = json.loads(invoke(["status", tid, "--json"]).output)
    assert data["status"] == "aborted"


def test_status_says_a_cost_not_reported_yet_is_unknown(cli_env: ReplicateSimulator) -> None:
    tid = _make(cli_env)
    _wait_ended(cli_env, tid)
    cli_env.faults.withhold_metrics = True  # ended, billed time not reported (yet)
    result = invoke(["status", tid])
    assert result.exit_code == 0, result.output
    assert "unknown" in result.output and "$0.00" not in result.output
    assert json.loads(invoke(["status", tid, "--json"]).output)["cost_cents"] is None
    listed = invoke(["list"]).output
    assert "unknown" in listed and "$0.00" not in listed
    cli_env.faults.withhold_metrics = False  # reported now
    data = json.loads(invoke(["status", tid, "--json"]).output)
    assert data["predict_time"] > 0 and data["cost_cents"] > 0
    aborted = _make(cli_env, outcome="aborted")  # ended before it started: nothing billed
    _wait_ended(cli_env, aborted)
    assert json.loads(invoke(["status", aborted, "--json"]).output)["cost_cents"] == 0


def test_status_unknown_training(cli_env: ReplicateSimulator) -> None:
    result = invoke(["status", "doesnotexist000"])
    assert result.exit_code in (1, 2)
    assert "doesnotexist000" in result.output


def test_cancel_running_then_again(cli_env: ReplicateSimulator) -> None:
    tid = _make(cli_env, steps=100000)
    result = invoke(["cancel", tid, "--yes"])
    assert result.exit_code == 0, result.output
    assert "canceled" in result.output
    assert cli_env.trainings[tid]["status"] == "canceled"
    again = invoke(["cancel", tid])
    assert again.exit_code == 0 and "already ended" in again.output
    assert "canceled" in invoke(["status", tid]).output


def test_download_writes_exactly_the_lora(cli_env: ReplicateSimulator, tmp_path: Path) -> None:
    tid = _make(cli_env)
    _wait_ended(cli_env, tid)
    out = tmp_path / "weights"
    result = invoke(["download", tid, "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    files = list(out.iterdir())
    assert [f.name for f in files] == [f"alice_lora_{TRIGGER}.safetensors"]
    assert files[0].read_bytes() == cli_env.lora_bytes
    again = invoke(["download", tid, "--output-dir", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    forced = invoke(["download", tid, "--output-dir", str(out), "--force"])
    assert forced.exit_code == 0, forced.output


def test_download_refuses_unfinished(cli_env: ReplicateSimulator, tmp_path: Path) -> None:
    tid = _make(cli_env, steps=100000)
    result = invoke(["download", tid, "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 1 and "processing" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args", [["list"], ["status", "abc"], ["cancel", "abc"], ["download", "abc"]]
)
def test_no_token(
    cli_env: ReplicateSimulator, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    result = invoke(args)
    assert result.exit_code == 2 and "REPLICATE_API_TOKEN" in result.output


def test_rejected_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.sim import SimulatorThread

    with SimulatorThread(token="r8_" + "other" * 6) as sim:
        monkeypatch.setenv("REPLICATE_BASE_URL", sim.base_url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        result = invoke(["list"])
    assert result.exit_code in (1, 2)
    assert "401" in result.output or "token" in result.output.lower()
