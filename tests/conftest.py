"""Shared test setup: every test starts with no product environment variables set, and the
fixtures several test modules use live here (pytest finds them without imports).

A developer's shell (or a `.env`) must never leak a real token or setting into a test. The
fixtures: `sim` (the Replicate simulator in a thread), `dataset_server`/`dataset_url` (a ZIP on
loopback), `cli_env` (a user's environment pointed at both), `fake_discord` (the fake Discord,
checking every request), `world` (a guild with members, the simulator and a dataset server, for
the bot tests, whose loop `loop_stalls` watches for callbacks that block it) and `deployment` (a
server and an account for `doctor` to check). What they share besides fixtures is in the
`*_support.py` modules.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.cli import _common
from bot.core.replicate.gateway import _SCHEMA_CACHE, ReplicateGateway
from bot.core.settings import Settings
from bot.sim import ReplicateSimulator, SimulatorThread
from tests import jobs_support, replicate_support
from tests.bot_support import World
from tests.cli_support import TOKEN, DatasetServer, dataset_zip
from tests.dataset_corpus import CorpusServer
from tests.doctor_support import BOT_PERMISSIONS, Deployment, DiscordThread
from tests.fakediscord import FakeDiscord
from tests.stall_support import StallGuard, assert_no_stalls, watching

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


@pytest.fixture(scope="module")
def dataset_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetServer]:
    root = tmp_path_factory.mktemp("datasets")
    (root / "good.zip").write_bytes(dataset_zip())
    (root / "share.html").write_text("<!doctype html><html><body>Sign in</body></html>")
    (root / "notes.zip").write_bytes(b"this is not a zip file at all" * 10)
    with DatasetServer(root) as server:
        yield server


@pytest.fixture
def dataset_url(dataset_server: DatasetServer) -> str:
    return f"{dataset_server.base_url}/good.zip"


@pytest.fixture
def sim() -> Iterator[ReplicateSimulator]:
    with SimulatorThread(step_seconds=0.0005, start_delay=0.02, weights_size=8 * 1024) as s:
        yield s


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, sim: ReplicateSimulator, tmp_path: Path
) -> ReplicateSimulator:
    """The environment of a user pointed at the simulator, with a fake token."""
    monkeypatch.setenv("REPLICATE_BASE_URL", sim.base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("SD35L_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("SD35L_POLL_INTERVAL", "0.05")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        _common,
        "GATEWAY_KWARGS",
        {"backoff_base": 0.01, "max_backoff": 0.05, "lookup_interval": 0.05, "timeout": 5.0},
    )
    return sim


@pytest_asyncio.fixture
async def loop_stalls() -> AsyncIterator[StallGuard]:
    """The test's loop in asyncio's debug mode; the test fails if a callback of the bot
    computed for 20 ms or more (tests/stall_support.py)."""
    with watching(asyncio.get_running_loop()) as guard:
        yield guard
    assert_no_stalls(guard)


@pytest.fixture
async def world(
    fake_discord: FakeDiscord, tmp_path: Path, loop_stalls: StallGuard
) -> AsyncIterator[World]:
    """Everything on loopback, in one event loop that the stall guard watches."""
    fd = fake_discord
    guild = fd.first_guild()
    role = fd.add_role(guild, "lora-managers")
    alice = fd.add_member(guild, name="alice")
    bob = fd.add_member(guild, name="bob")
    mia = fd.add_member(guild, name="mia", roles=[role])
    sim = ReplicateSimulator(token=TOKEN, step_seconds=0.0005, start_delay=0.02)
    await sim.start()
    data = CorpusServer(files={"good.zip": dataset_zip(), "bad.zip": b"not a zip" * 50})
    await data.start()
    env: dict[str, Any] = {
        "REPLICATE_API_TOKEN": TOKEN,
        "REPLICATE_BASE_URL": sim.base_url,
        "DISCORD_TOKEN": fd.token,
        "SD35L_DATABASE": str(tmp_path / "data" / "bot.sqlite"),
        "SD35L_GUILD_IDS": str(guild.id),
        "SD35L_POLL_INTERVAL": 0.05,
        "SD35L_ALLOW_PRIVATE_URLS": True,
        "SD35L_POLICY_STEPS": "3-6000",
        "SD35L_MANAGER_ROLES": "lora-managers",
    }
    yield World(fd, sim, data, tmp_path, alice, bob, mia, role.id, env)
    await data.stop()
    await sim.stop()


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fd:
        fd.add_guild("test-guild")
        yield fd
        unknown = [f"{r.method} {r.path}" for r in fd.unknown_requests]
        assert not unknown, f"bot called routes the fake does not model: {unknown}"
        assert not fd.token_leaks, "the bot token appeared in a request body"
        assert not fd.limit_problems(), f"Discord would refuse: {fd.limit_problems()}"


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Deployment]:
    """All green: the bot in one server with the invite's permissions, commands synced, the
    destination alice/lora owned by the token's account, a fresh data folder."""
    models = ("alice/lora", "bob/lora")
    with DiscordThread() as fd, SimulatorThread(token=TOKEN, models=models) as sim:
        guild = fd.add_guild("team", channels=("general", "loras"))
        role = fd.add_role(guild, "sd35l-bot", permissions=BOT_PERMISSIONS)
        fd.add_member(guild, fd.app_id, roles=[role])
        database = tmp_path / "data" / "sd35l.db"
        env: dict[str, Any] = {
            "DISCORD_TOKEN": fd.token,
            "REPLICATE_API_TOKEN": TOKEN,
            "REPLICATE_BASE_URL": sim.base_url,
            "SD35L_DATABASE": str(database),
            "SD35L_DEFAULT_DESTINATION": "alice/lora",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr("bot.cli.doctor.DISCORD_API", fd.api_base)
        world = Deployment(fd, sim, guild, fd.default_channel(guild), role, database)
        world.sync_commands()
        yield world
        assert not fd.unknown_requests, [f"{r.method} {r.path}" for r in fd.unknown_requests]


# -- the core tests' simulators: one per family, each as its tests were written --------------


@pytest.fixture
async def jobs_sim() -> AsyncIterator[ReplicateSimulator]:
    simulator = ReplicateSimulator(token=jobs_support.TOKEN, step_seconds=0.0005, start_delay=0.01)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def settings(jobs_sim: ReplicateSimulator, tmp_path: Path) -> Settings:
    return jobs_support.make_settings(jobs_sim, tmp_path)


@pytest.fixture
async def proc(settings: Settings) -> AsyncIterator[jobs_support.Process]:
    process = await jobs_support.start_process(settings)
    yield process
    await process.close()


@pytest.fixture
async def replicate_sim() -> AsyncIterator[ReplicateSimulator]:
    simulator = ReplicateSimulator(
        token=replicate_support.TOKEN, step_seconds=0.001, start_delay=0.02
    )
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def gateways(
    replicate_sim: ReplicateSimulator,
) -> AsyncIterator[replicate_support.GatewayFactory]:
    """Gateways bound to the simulator, closed afterwards; schema cache cleared per test."""
    made: list[ReplicateGateway] = []
    _SCHEMA_CACHE.clear()

    def factory(token: str | None = replicate_support.TOKEN, **kwargs: Any) -> ReplicateGateway:
        kwargs.setdefault("backoff_base", 0.001)
        kwargs.setdefault("lookup_interval", 0.01)
        gw = ReplicateGateway(
            replicate_support.make_settings(replicate_sim.base_url, token), **kwargs
        )
        made.append(gw)
        return gw

    yield factory
    for gw in made:
        await gw.aclose()


@pytest.fixture
async def tokenless_sim() -> AsyncIterator[ReplicateSimulator]:
    """A simulator that takes any token (the simulator's own tests)."""
    simulator = ReplicateSimulator(step_seconds=0.0005, start_delay=0.01)
    await simulator.start()
    yield simulator
    await simulator.stop()
