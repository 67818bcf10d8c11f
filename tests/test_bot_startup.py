"""`sd35l-trainer bot` checks the Replicate token at start (against the simulator)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import app as app_module
from bot.sim import ReplicateSimulator, SimulatorThread
from tests.cli_support import TOKEN


@pytest.fixture
def strict_sim() -> Iterator[ReplicateSimulator]:
    with SimulatorThread(token=TOKEN) as sim:
        yield sim


@pytest.fixture
def bot_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, strict_sim: ReplicateSimulator
) -> list[str]:
    """A bot whose Discord login is replaced; returns the tokens `run` was called with."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "fake.bot.token")
    monkeypatch.setenv("REPLICATE_BASE_URL", strict_sim.base_url)
    started: list[str] = []

    def fake_run(self: Any, token: str, **kw: Any) -> None:
        started.append(token)

    monkeypatch.setattr(app_module.TrainerBot, "run", fake_run)
    return started


def test_a_refused_token_stops_the_bot_with_exit_2(
    bot_env: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "r8_" + "nope" * 8
    monkeypatch.setenv("REPLICATE_API_TOKEN", wrong)
    with pytest.raises(SystemExit) as info:
        app_module.run_bot()
    err = capsys.readouterr().err
    assert info.value.code == 2 and "REPLICATE_API_TOKEN" in err and "rejected" in err
    assert wrong not in err and bot_env == []


def test_a_good_token_logs_the_account(
    bot_env: list[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN + "\n")  # pasted with its newline
    with caplog.at_level(logging.INFO):
        app_module.run_bot()
    assert "Replicate token OK (account alice)" in caplog.text
    assert bot_env == ["fake.bot.token"]
    assert TOKEN not in caplog.text


def test_a_missing_token_is_a_warning(
    bot_env: list[str], caplog: pytest.LogCaptureFixture, strict_sim: ReplicateSimulator
) -> None:
    with caplog.at_level(logging.WARNING):
        app_module.run_bot()
    assert "REPLICATE_API_TOKEN is not set" in caplog.text
    assert bot_env == ["fake.bot.token"]
    assert not strict_sim.requests  # nothing to check without a token
