"""CLI `train` end to end against the simulator and a loopback dataset server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.cli import _common, wait
from bot.sim import ReplicateSimulator
from bot.sim.schema import trainer_openapi_schema
from tests.cli_support import TOKEN, TRIGGER, DatasetServer, invoke


def _args(url: str, *extra: str) -> list[str]:
    return [
        "train", "--dataset-url", url, "--destination", "alice/lora",
        "--trigger-word", TRIGGER, "--preset", "fast", *extra,
    ]  # fmt: skip


def _creates(sim: ReplicateSimulator) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/trainings")]


def test_acceptance_wait_downloads_exact_file(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = invoke(_args(dataset_url, "--wait", "--yes", "--output-dir", str(out)))
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == [f"alice_lora_{TRIGGER}.safetensors"]
    assert (out / f"alice_lora_{TRIGGER}.safetensors").read_bytes() == cli_env.lora_bytes
    assert "succeeded" in result.output and "Cost: $" in result.output
    (create,) = _creates(cli_env)
    body = create.json
    assert body["destination"] == "alice/lora"
    inputs = body["input"]
    assert "destination" not in inputs
    assert inputs["input_images"] == dataset_url
    assert inputs["optimizer"] == "adamw8bit"
    assert inputs["learning_rate"] == pytest.approx(0.0004)
    assert inputs["steps"] == 1000 and inputs["batch_size"] == 4
    assert inputs["resolution"] == "512,768"
    assert inputs["trigger_word"] == TRIGGER
    known = trainer_openapi_schema()["components"]["schemas"]["TrainingInput"]["properties"]
    assert set(inputs) <= set(known)


def test_submit_without_wait_prints_id_and_url(
    cli_env: ReplicateSimulator, dataset_url: str
) -> None:
    result = invoke(_args(dataset_url, "--yes"))
    assert result.exit_code == 0, result.output
    (tid,) = list(cli_env.trainings)
    assert f"https://replicate.com/p/{tid}" in result.output
    assert "Estimate:" in result.output


def test_dry_run_shows_everything_and_submits_nothing(
    cli_env: ReplicateSimulator, dataset_url: str
) -> None:
    result = invoke(_args(dataset_url, "--steps", "1200", "--dry-run"))
    assert result.exit_code == 0, result.output
    out = result.output
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:3] == "  t"}
    assert rows["training.steps"] == ["cli", "1200"]  # setting, where it came from, value
    assert rows["training.optimizer"][0] == "preset" and rows["trigger_word"] == ["cli", TRIGGER]
    assert rows["training.lora_rank"][0] == "default"
    assert "Dataset check" in out and "Estimate:" in out
    assert "Replicate token OK" in out and "exists" in out
    assert "nothing was submitted" in out
    assert _creates(cli_env) == [] and len(cli_env.trainings) == 0


def test_user_defaults_fill_what_was_not_given(
    cli_env: ReplicateSimulator, dataset_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SD35L_CONFIG_DIR/defaults.yaml saves retyping the destination; the table says so."""
    monkeypatch.setenv("SD35L_CONFIG_DIR", str(tmp_path))
    (tmp_path / "defaults.yaml").write_text("destination: alice/lora\n", encoding="utf-8")
    args = ["train", "--dataset-url", dataset_url, "--trigger-word", TRIGGER, "--dry-run"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert "defaults.yaml" in result.output and "alice/lora" in result.output


def test_dry_run_without_token_skips_account_checks(
    cli_env: ReplicateSimulator, dataset_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    result = invoke(_args(dataset_url, "--dry-run"))
    assert result.exit_code == 0, result.output
    assert (
        "Dry run: checked the config and the dataset. Not checked: the token, the destination "
        "model and the trainer's inputs (they need REPLICATE_API_TOKEN). Nothing was submitted."
    ) in result.output
    assert "every check ran" not in result.output


def test_no_token_on_submit(
    cli_env: ReplicateSimulator, dataset_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    result = invoke(_args(dataset_url, "--yes"))
    assert result.exit_code == 2 and "REPLICATE_API_TOKEN" in result.output
    assert len(cli_env.trainings) == 0


@pytest.mark.parametrize(
    ("extra", "word"),
    [(["--steps", "99999"], "steps"), (["--destination", "nope"], "destination")],
)
def test_bad_values_exit_2(
    cli_env: ReplicateSimulator, dataset_url: str, extra: list[str], word: str
) -> None:
    result = invoke([*_args(dataset_url), *extra])
    assert result.exit_code == 2, result.output
    assert word in result.output
    assert len(cli_env.trainings) == 0


def test_config_file_unknown_key_and_secret(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f'dataset_url: "{dataset_url}"\ntraining:\n  stepz: 1000\n')
    result = invoke(["train", "--config", str(bad), "--dry-run"])
    assert result.exit_code == 2 and "stepz" in result.output
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(f'dataset_url: "{dataset_url}"\nreplicate_api_token: "{TOKEN}"\n')
    result = invoke(["train", "--config", str(leaky), "--dry-run"])
    assert result.exit_code == 2, result.output
    missing = invoke(["train", "--config", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_config_file_values_and_cli_override(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f'dataset_url: "{dataset_url}"\ndestination: alice/lora\ntrigger_word: {TRIGGER}\n'
        "preset: fast\ntraining:\n  steps: 1500\n  lora_rank: 8\n"
    )
    result = invoke(["train", "--config", str(cfg), "--lora-rank", "32", "--yes"])
    assert result.exit_code == 0, result.output
    (create,) = _creates(cli_env)
    assert create.json["input"]["steps"] == 1500
    assert create.json["input"]["lora_rank"] == 32
    assert create.json["input"]["optimizer"] == "adamw8bit"


def test_rejected_token(dataset_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.sim import SimulatorThread

    with SimulatorThread(token="r8_" + "other" * 6) as sim:
        monkeypatch.setenv("REPLICATE_BASE_URL", sim.base_url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        monkeypatch.setenv("SD35L_ALLOW_PRIVATE_URLS", "1")
        result = invoke(_args(dataset_url, "--yes"))
        assert len(sim.trainings) == 0
    assert result.exit_code in (1, 2) and "token" in result.output.lower()


def test_missing_destination(cli_env: ReplicateSimulator, dataset_url: str) -> None:
    args = ["train", "--dataset-url", dataset_url, "--destination", "alice/newmodel",
            "--trigger-word", TRIGGER, "--preset", "fast", "--yes"]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 2 and "--create-destination" in result.output
    assert len(cli_env.trainings) == 0
    dry = invoke([*args, "--create-destination", "--dry-run"])
    assert dry.exit_code == 0 and "would be created" in dry.output
    assert "alice/newmodel" not in cli_env.models
    made = invoke([*args, "--create-destination"])
    assert made.exit_code == 0, made.output
    assert "alice/newmodel" in cli_env.models and len(cli_env.trainings) == 1


def test_missing_destination_prompt_on_terminal(
    cli_env: ReplicateSimulator, dataset_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common, "stdin_is_tty", lambda: True)
    args = ["train", "--dataset-url", dataset_url, "--destination", "alice/other",
            "--trigger-word", TRIGGER, "--preset", "fast"]  # fmt: skip
    result = invoke(args, input="y\nn\n")
    assert result.exit_code == 0, result.output
    assert "alice/other" in cli_env.models
    assert "Nothing was submitted" in result.output and len(cli_env.trainings) == 0


@pytest.mark.parametrize("outcome", ["failed", "aborted"])
def test_wait_on_bad_ending_exits_1(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path, outcome: str
) -> None:
    cli_env.faults.outcome = outcome
    result = invoke(_args(dataset_url, "--wait", "--yes", "--output-dir", str(tmp_path / "o")))
    assert result.exit_code == 1, result.output
    assert f"ended {outcome}" in result.output
    assert not (tmp_path / "o").exists()
    if outcome == "failed":
        assert "Last log lines" in result.output


def test_wait_survives_read_failures(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    cli_env.faults.read_failure_rate = 0.3
    result = invoke(_args(dataset_url, "--wait", "--yes", "--output-dir", str(tmp_path)))
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"alice_lora_{TRIGGER}.safetensors").read_bytes() == cli_env.lora_bytes


def test_create_timeout_makes_exactly_one(cli_env: ReplicateSimulator, dataset_url: str) -> None:
    cli_env.faults.create_timeouts = 1
    cli_env.faults.create_timeout_mode = "close"
    result = invoke(_args(dataset_url, "--yes"))
    assert result.exit_code == 0, result.output
    assert len(cli_env.trainings) == 1
    (tid,) = list(cli_env.trainings)
    assert tid in result.output


def test_bad_dataset_refuses_to_submit(
    cli_env: ReplicateSimulator, dataset_server: DatasetServer
) -> None:
    result = invoke(_args(f"{dataset_server.base_url}/share.html", "--yes"))
    assert result.exit_code == 2, result.output
    assert "dataset_url" in result.output
    assert len(cli_env.trainings) == 0


def test_skip_dataset_check_warns(
    cli_env: ReplicateSimulator, dataset_server: DatasetServer
) -> None:
    result = invoke(_args(f"{dataset_server.base_url}/notes.zip", "--yes", "--skip-dataset-check"))
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and len(cli_env.trainings) == 1


def test_ctrl_c_while_waiting_leaves_training_running(
    cli_env: ReplicateSimulator, dataset_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(wait, "sleep", interrupt)
    result = invoke(_args(dataset_url, "--steps", "2000", "--wait", "--yes"))
    assert result.exit_code == 130, result.output
    (tid,) = list(cli_env.trainings)
    assert f"training {tid} keeps running" in result.output
    assert f"sd35l-trainer follow {tid}" in result.output
    assert cli_env.trainings[tid]["status"] in ("starting", "processing")


def test_wait_keeps_an_existing_file_and_names_the_new_one_with_the_id(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    mine = tmp_path / f"alice_lora_{TRIGGER}.safetensors"
    mine.write_bytes(b"mine")
    result = invoke(_args(dataset_url, "--wait", "--yes", "--output-dir", str(tmp_path)))
    assert result.exit_code == 0, result.output
    (tid,) = list(cli_env.trainings)
    saved = tmp_path / f"alice_lora_{TRIGGER}_{tid}.safetensors"
    assert mine.read_bytes() == b"mine"
    assert saved.read_bytes() == cli_env.lora_bytes
    assert "already exists" in result.output and f"saved as {saved.name}" in result.output


def test_without_a_terminal_and_without_yes_nothing_is_submitted(
    cli_env: ReplicateSimulator, dataset_url: str
) -> None:
    result = invoke(_args(dataset_url, "--wait"))
    assert result.exit_code == 2, result.output
    assert "--yes" in result.output and "Nothing was submitted" in result.output
    assert _creates(cli_env) == [] and len(cli_env.trainings) == 0


def test_dry_run_needs_no_yes(cli_env: ReplicateSimulator, dataset_url: str) -> None:
    result = invoke(_args(dataset_url, "--dry-run"))
    assert result.exit_code == 0, result.output
    assert "--yes" not in result.output


def test_unexpected_error_is_one_redacted_line(
    cli_env: ReplicateSimulator, dataset_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom() -> None:
        raise RuntimeError(f"kaput with {TOKEN}\nsecond line")

    monkeypatch.setattr(_common, "settings", boom)
    result = invoke(_args(dataset_url, "--yes"))
    assert result.exit_code == 1
    assert "Unexpected error: RuntimeError: kaput with [redacted] second line" in result.output


def test_wait_on_a_terminal_uses_the_progress_bar(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common, "stdout_is_tty", lambda: True)
    monkeypatch.setattr(wait, "stdout_is_tty", lambda: True)
    result = invoke(_args(dataset_url, "--wait", "--yes", "--output-dir", str(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "step 1000/1000" in result.output and "━" in result.output
    assert "Training\n" in result.output  # a stage line above the bar
    assert (tmp_path / f"alice_lora_{TRIGGER}.safetensors").is_file()


def test_wait_tolerates_a_few_failed_polls(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.core.errors import ServiceError
    from bot.core.replicate.gateway import ReplicateGateway

    real = ReplicateGateway.get_training
    calls = {"n": 0}

    async def flaky(self: ReplicateGateway, training_id: str) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ServiceError("Replicate is busy (503).", status=503)
        return await real(self, training_id)

    monkeypatch.setattr(ReplicateGateway, "get_training", flaky)
    result = invoke(_args(dataset_url, "--wait", "--yes", "--output-dir", str(tmp_path)))
    assert result.exit_code == 0, result.output
    assert calls["n"] > 2
