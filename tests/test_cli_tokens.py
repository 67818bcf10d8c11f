"""Tokens and destinations as users paste them: whitespace, a refused token, another owner."""

from __future__ import annotations

import pytest

from bot.sim import ReplicateSimulator
from tests.cli_support import TOKEN, TRIGGER, invoke


def test_a_token_with_a_trailing_newline_works(
    cli_env: ReplicateSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.token = TOKEN  # the simulator now checks the exact token
    monkeypatch.setenv("REPLICATE_API_TOKEN", f"  {TOKEN}\n")
    result = invoke(["list"])
    assert result.exit_code == 0, result.output
    assert "No trainings found" in result.output


def test_a_token_with_inner_space_is_named_not_a_network_error(
    cli_env: ReplicateSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", f"{TOKEN} {TOKEN}")
    result = invoke(["list"])
    assert result.exit_code == 2, result.output
    assert "REPLICATE_API_TOKEN" in result.output and "token" in result.output
    assert "network" not in result.output


def test_a_refused_token_exits_2(cli_env: ReplicateSimulator, dataset_url: str) -> None:
    cli_env.token = "r8_" + "other" * 6
    result = invoke(["list"])
    assert result.exit_code == 2 and "rejected the API token (401)" in result.output
    args = ["train", "--dataset-url", dataset_url, "--destination", "alice/lora",
            "--trigger-word", TRIGGER, "--dry-run"]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 2 and "REPLICATE_API_TOKEN" in result.output


@pytest.mark.parametrize(
    ("destination", "said"),
    [
        ("alice/brand-new", "does not exist; it would be created (private)"),
        ("bob/brand-new", "the token belongs to account alice, not bob"),
    ],
)
def test_create_destination_dry_run_checks_the_owner(
    cli_env: ReplicateSimulator, dataset_url: str, destination: str, said: str
) -> None:
    args = ["train", "--dataset-url", dataset_url, "--destination", destination,
            "--trigger-word", TRIGGER, "--create-destination", "--dry-run"]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 0, result.output
    assert said in " ".join(result.output.split())
    assert destination not in cli_env.models  # a dry run creates nothing
