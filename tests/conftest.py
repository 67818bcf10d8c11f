"""Shared test setup: every test starts with no product environment variables set.

A developer's shell (or a `.env`) must never leak a real token or setting into a test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.sim import ReplicateSimulator
from tests.fakediscord.fixtures import fake_discord  # noqa: F401  (shared fixture)

_PREFIXES = ("SD35L_", "REPLICATE_", "DISCORD_", "WANDB_")


@pytest.fixture(scope="session")
def _matplotlib_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One matplotlib config/cache folder for the session, its font cache built here once (a
    few seconds) rather than inside whichever test first draws a chart against a timeout."""
    path = str(tmp_path_factory.mktemp("matplotlib"))
    os.environ["MPLCONFIGDIR"] = path
    import matplotlib.font_manager  # noqa: F401  (builds the cache in MPLCONFIGDIR)

    return path


@pytest.fixture(autouse=True)
def _clean_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, _matplotlib_dir: str
) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SD35L_CONFIG_DIR", str(home / ".config" / "sd35l-trainer"))
    monkeypatch.setenv("MPLCONFIGDIR", _matplotlib_dir)
    yield


@pytest.fixture(autouse=True)
def _simulator_answers_follow_the_spec(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every simulator of every test checks its JSON answers against Replicate's published
    response schemas; a test fails if one strayed."""
    strayed: list[str] = []
    monkeypatch.setattr(ReplicateSimulator, "check_responses", True)
    monkeypatch.setattr(ReplicateSimulator, "strayed", strayed)
    yield
    assert strayed == [], "the simulator answered outside Replicate's spec"
