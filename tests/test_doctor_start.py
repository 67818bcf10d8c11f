"""The bot runs the doctor's checks at start and logs each failure with its fix; a wrong or
refused token makes it wait longer before each exit in a row instead of restarting every few
seconds under `restart: unless-stopped`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot import app as app_module
from bot.core.doctor import backoff
from bot.core.doctor import permissions as perm
from bot.core.doctor.backoff import DELAYS, FORGET_AFTER, Refusals, delay_for, refusals_path
from bot.sim import ReplicateSimulator, SimulatorThread
from tests.bot_support import World, make_bot
from tests.cli_support import TOKEN

# -- start-up checks ------------------------------------------------------------------------


async def wait_for_log(caplog: pytest.LogCaptureFixture, text: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15.0
    while text not in caplog.text:
        assert loop.time() < deadline, f"{text!r} never logged:\n{caplog.text}"
        await asyncio.sleep(0.05)


async def test_start_logs_each_failed_check_with_its_fix(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The fake guild's @everyone grants only View Channel and Send Messages."""
    bot = make_bot(world)
    bot.startup_checks = True
    with caplog.at_level(logging.INFO):
        async with world.fd.running(bot):
            await wait_for_log(caplog, "start-up checks:")
    failed = [r.getMessage() for r in caplog.records if "start-up check failed" in r.getMessage()]
    assert len(failed) == 1, failed
    assert "#general: the bot lacks Embed Links, Attach Files, Read Message History" in failed[0]
    assert "Fix: allow Embed Links" in failed[0]
    assert "start-up checks: " in caplog.text and ", 1 failed" in caplog.text
    assert world.fd.token not in caplog.text and TOKEN not in caplog.text
    assert not world.fd.unknown_requests


async def test_a_right_deployment_starts_with_no_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    guild = world.fd.first_guild()
    role = world.fd.add_role(guild, "sd35l-bot", permissions=perm.NEEDED_PERMISSIONS)
    world.fd.add_member(guild, world.fd.app_id, roles=[role])
    bot = make_bot(world)
    bot.startup_checks = True
    with caplog.at_level(logging.INFO):
        async with world.fd.running(bot):
            await wait_for_log(caplog, "start-up checks:")
    assert "0 failed (deployment OK)" in caplog.text, caplog.text
    assert "commands are synced in server" not in caplog.text  # ✔ lines are not logged
    assert "start-up check failed" not in caplog.text


async def test_a_good_login_forgets_earlier_refusals(world: World) -> None:
    bot = make_bot(world)
    marker = refusals_path(bot.settings.database)
    Refusals(marker).record()
    assert marker.exists()
    async with world.fd.running(bot):
        await world.fd.wait_until(lambda: not marker.exists())


# -- back-off on refusal ---------------------------------------------------------------------


@pytest.fixture
def strict_sim() -> Iterator[ReplicateSimulator]:
    with SimulatorThread(token=TOKEN) as sim:
        yield sim


@pytest.fixture
def container(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, strict_sim: ReplicateSimulator
) -> list[float]:
    """`sd35l-trainer bot` as a container runs it (no terminal); returns the waits it made."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "fake.bot.token")
    monkeypatch.setenv("REPLICATE_BASE_URL", strict_sim.base_url)
    monkeypatch.setenv("SD35L_DATABASE", str(tmp_path / "data" / "sd35l.db"))
    monkeypatch.setattr(backoff, "_interactive", lambda: False)
    waits: list[float] = []
    monkeypatch.setattr(backoff, "_sleep", waits.append)
    return waits


def start(capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str]:
    with pytest.raises(SystemExit) as info:
        app_module.run_bot()
    return info.value.code, capsys.readouterr().err


def test_a_refused_token_waits_longer_before_each_exit_in_a_row(
    container: list[float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "r8_" + "nope" * 8
    monkeypatch.setenv("REPLICATE_API_TOKEN", wrong)
    code, err = start(capsys)
    assert code == 2 and container == [] and "REPLICATE_API_TOKEN" in err  # the first: at once
    code, err = start(capsys)
    assert code == 2 and container == [DELAYS[1]]
    assert f"refused 2 times in a row: waiting {DELAYS[1]:.0f} s before exiting" in err
    assert "sd35l-trainer doctor" in err and wrong not in err
    for _ in range(len(DELAYS) + 2):
        start(capsys)
    assert container[-1] == DELAYS[-1] == 3600.0  # capped at an hour


def test_a_token_discord_refuses_backs_off_too(
    container: list[float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)

    def refused(self: Any, token: str, **kw: Any) -> None:
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(app_module.TrainerBot, "run", refused)
    assert start(capsys)[0] == 2
    code, err = start(capsys)
    assert code == 2 and "Discord refused DISCORD_TOKEN" in err and "Reset Token" in err
    assert container == [DELAYS[1]]


def test_a_missing_discord_token_backs_off(
    container: list[float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN")
    start(capsys)
    code, err = start(capsys)
    assert code == 2 and "DISCORD_TOKEN is not set" in err and container == [DELAYS[1]]


def test_bad_settings_back_off_beside_the_configured_database(
    container: list[float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SD35L_POLL_INTERVAL", "soon")
    start(capsys)
    code, err = start(capsys)
    assert code == 2 and "SD35L_POLL_INTERVAL" in err and container == [DELAYS[1]]


def test_at_a_terminal_it_exits_at_once(
    container: list[float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(backoff, "_interactive", lambda: True)
    monkeypatch.delenv("DISCORD_TOKEN")
    for _ in range(3):
        assert start(capsys)[0] == 2
    assert container == []


def test_refusals_are_forgotten_after_a_quiet_spell(tmp_path: Path) -> None:
    refusals = Refusals(tmp_path / "x.refused")
    assert [refusals.record(now=t) for t in (0.0, 10.0, 20.0)] == [1, 2, 3]
    assert refusals.record(now=20.0 + FORGET_AFTER + 1) == 1
    refusals.clear()
    assert refusals.record(now=1e9) == 1
    assert delay_for(1) == 0.0 and delay_for(99) == DELAYS[-1]
    (tmp_path / "x.refused").write_text("{not json")
    assert refusals.record(now=5.0) == 1  # an unreadable record counts as none


def test_an_unwritable_record_still_exits(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    refusals = Refusals(tmp_path / "file" / "sd35l.db.refused")
    assert refusals.record() == 1 and refusals.record() == 1
    refusals.clear()


def test_the_healthcheck_says_the_starts_were_refused(
    container: list[float], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import health

    monkeypatch.delenv("DISCORD_TOKEN")
    assert health.main() == 1
    assert "refused" not in capsys.readouterr().out
    start(capsys)
    start(capsys)
    assert health.main() == 1
    out = capsys.readouterr().out
    assert "no heartbeat" in out and "its last 2 start(s) were refused" in out
    assert "sd35l-trainer doctor" in out
