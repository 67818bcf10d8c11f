"""End to end: the dataset check is what stands between a bad ZIP and a wasted, billed run.

The simulator fetches a loopback `input_images` and fails the training the way the trainer would
(after a short billed run), so skipping the check shows the money it saves.
"""

from __future__ import annotations

from pathlib import Path

from bot.sim import ReplicateSimulator
from tests.cli_support import TRIGGER, DatasetServer, invoke
from tests.dataset_corpus import make_zip, png_bytes


def _args(url: str, *extra: str) -> list[str]:
    return [
        "train", "--dataset-url", url, "--destination", "alice/lora",
        "--trigger-word", TRIGGER, "--preset", "fast", *extra,
    ]  # fmt: skip


def _narrow_zip(root: Path) -> str:
    members = [(f"img{i}.png", png_bytes(512, 512)) for i in range(10)]
    (root / "narrow.zip").write_bytes(make_zip([*members, ("strip.png", png_bytes(2000, 80))]))
    return "narrow.zip"


def test_skipping_the_check_wastes_a_billed_run(
    cli_env: ReplicateSimulator, dataset_server: DatasetServer, tmp_path: Path
) -> None:
    url = f"{dataset_server.base_url}/{_narrow_zip(dataset_server.root)}"
    result = invoke(
        _args(url, "--yes", "--wait", "--skip-dataset-check", "--output-dir", str(tmp_path))
    )
    assert result.exit_code == 1, result.output
    assert "ended failed" in result.output
    (training,) = list(cli_env.trainings.values())
    assert training["status"] == "failed" and "zero bucket" in training["error"]
    assert training["metrics"]["predict_time"] > 0  # the GPU was billed


def test_the_check_refuses_the_same_zip_before_paying(
    cli_env: ReplicateSimulator, dataset_server: DatasetServer
) -> None:
    url = f"{dataset_server.base_url}/{_narrow_zip(dataset_server.root)}"
    result = invoke(_args(url, "--yes"))
    assert result.exit_code == 2, result.output
    assert "strip.png" in result.output and "0 px side" in result.output
    assert len(cli_env.trainings) == 0


def test_a_good_zip_still_trains_in_the_simulator(
    cli_env: ReplicateSimulator, dataset_url: str, tmp_path: Path
) -> None:
    result = invoke(_args(dataset_url, "--yes", "--wait", "--output-dir", str(tmp_path)))
    assert result.exit_code == 0, result.output
