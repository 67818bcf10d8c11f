"""The doctor's rarer findings: unreachable services, wrong settings, a user token, servers
missing from SD35L_GUILD_IDS, deleted or hidden channels trainings used, a full disk, a newer
database, a trainer whose schema lacks an input, and Discord's permission rule in detail."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.cli import _common
from bot.cli import doctor as doctor_cli
from bot.core.doctor import local
from bot.core.doctor import permissions as perm
from bot.core.doctor.discord_checks import _timed_out, known_channels
from bot.core.doctor.discord_rest import DiscordError, DiscordRest
from bot.core.store.migrations import LATEST_VERSION
from bot.sim import api as sim_api
from bot.sim.schema import trainer_openapi_schema
from tests.doctor_support import Deployment
from tests.fakediscord.doctor_routes import overwrite
from tests.test_doctor import doctor, failures

CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens on loopback


def test_bad_settings_are_one_failed_line(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD35L_POLL_INTERVAL", "soon")
    result = doctor()
    assert result.exit_code == 1
    [line] = failures(result)
    assert line.startswith("✘ Settings:") and "SD35L_POLL_INTERVAL" in line


def test_unreachable_services_say_check_the_network(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor_cli, "DISCORD_API", CLOSED + "/api/v10")
    monkeypatch.setenv("REPLICATE_BASE_URL", CLOSED)
    monkeypatch.setattr(_common, "GATEWAY_KWARGS", {"read_attempts": 1, "timeout": 2.0})
    discord, replicate = failures(doctor())
    assert "Discord did not answer" in discord and "Fix: check the network" in discord
    assert "REPLICATE_BASE_URL" in replicate


def test_a_wrong_discord_api_root_reports_the_answer(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor_cli, "DISCORD_API", deployment.sim.base_url + "/api/v10")
    [discord] = failures(doctor())
    assert "Discord answered 404" in discord and "discordstatus.com" in discord


def test_a_user_token_is_not_a_bot_token(deployment: Deployment) -> None:
    deployment.fd.bot_user.bot = False
    [line] = failures(doctor())
    assert "DISCORD_TOKEN belongs to a user account, not to a bot" in line


def test_guild_ids_the_bot_is_not_in_are_named(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD35L_GUILD_IDS", f"{deployment.guild.id},123456789012345678")
    deployment.sync_commands()
    del deployment.fd.state.guild_commands[123456789012345678]  # Discord refuses that sync
    problems = failures(doctor())
    assert any("SD35L_GUILD_IDS names server 123456789012345678" in p for p in problems)
    assert any("in server 123456789012345678 differ" in p and "missing: " in p for p in problems)
    assert len(problems) == 2, problems  # the real server's commands are synced


def test_channels_trainings_used_are_checked_even_when_hidden(deployment: Deployment) -> None:
    hidden = deployment.fd.add_channel(deployment.guild, "private-runs")
    overwrite(hidden, deployment.guild.id, deny=perm.VIEW_CHANNEL)
    deployment.database.parent.mkdir(parents=True)
    with sqlite3.connect(deployment.database) as conn:
        conn.execute("CREATE TABLE trainings (guild_id, channel_id, created_at)")
        for channel_id in (hidden.id, 999):  # 999: a channel deleted since
            conn.execute(
                "INSERT INTO trainings VALUES (?, ?, '2026-01-01')",
                (deployment.guild.id, channel_id),
            )
    assert known_channels(deployment.database) == {deployment.guild.id: {hidden.id, 999}}
    problems = [p for p in failures(doctor()) if "Discord" in p]
    assert len(problems) == 1, problems
    assert "#private-runs: the bot lacks View Channel, Send Messages" in problems[0]


def test_unreadable_channel_records_mean_none(tmp_path: Path) -> None:
    assert known_channels(tmp_path / "missing.db") == {}
    (tmp_path / "other.db").write_bytes(b"")
    assert known_channels(tmp_path / "other.db") == {}  # no trainings table


def test_a_full_disk_is_reported(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "MIN_FREE_BYTES", 1 << 62)  # more than any disk here has
    [line] = failures(doctor())
    assert "MB free" in line and "Fix: free at least" in line


def test_a_database_from_a_newer_release_says_upgrade(deployment: Deployment) -> None:
    deployment.database.parent.mkdir(parents=True)
    with sqlite3.connect(deployment.database) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER)")
        conn.execute("INSERT INTO schema_version VALUES (?)", (LATEST_VERSION + 1,))
    [line] = failures(doctor())
    assert "newer than this sd35l-trainer knows" in line and "Upgrading" in line


def test_a_current_database_is_green(deployment: Deployment) -> None:
    deployment.database.parent.mkdir(parents=True)
    with sqlite3.connect(deployment.database) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER)")
        conn.execute("INSERT INTO schema_version VALUES (?)", (LATEST_VERSION,))
    result = doctor()
    assert result.exit_code == 0, result.output
    assert f"is intact and is at schema version {LATEST_VERSION}" in result.output


def test_a_malformed_destination_names_the_variable(deployment: Deployment) -> None:
    [line] = failures(doctor("--destination", "no-slash"))
    assert "must look like owner/model-name" in line and "SD35L_DEFAULT_DESTINATION" in line


def test_no_default_destination_is_not_a_failure(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SD35L_DEFAULT_DESTINATION")
    result = doctor()
    assert result.exit_code == 0 and "no default destination" in result.output


def test_an_unknown_trainer_version_names_sd35l_trainer(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SD35L_TRAINER", "lucataco/sd3.5-large-fine-tuner:" + "0" * 64)
    [line] = failures(doctor())
    assert "Fix: set SD35L_TRAINER" in line


def test_a_trainer_without_an_input_we_send_is_named(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trainer version whose TrainingInput has no `lora_rank` (the simulator serves it)."""

    def without_rank() -> dict[str, Any]:
        schema = trainer_openapi_schema()
        training = dict(schema["components"]["schemas"]["TrainingInput"])
        training["properties"] = {
            k: v for k, v in training["properties"].items() if k != "lora_rank"
        }
        schema["components"]["schemas"]["TrainingInput"] = training
        return schema

    monkeypatch.setattr(sim_api, "trainer_openapi_schema", without_rank)
    [line] = failures(doctor())
    assert "does not take what sd35l-trainer sends" in line
    assert "lora_rank is not an input of lucataco/sd3.5-large-fine-tuner" in line


# -- the pieces, directly ---------------------------------------------------------------------


def test_owner_and_administrator_have_everything() -> None:
    roles = {1: perm.VIEW_CHANNEL, 2: perm.ADMINISTRATOR}
    owner = perm.base_permissions(guild_id=1, owner_id=7, user_id=7, roles=roles, member_roles=[])
    admin = perm.base_permissions(guild_id=1, owner_id=8, user_id=7, roles=roles, member_roles=[2])
    assert owner == admin == perm.ALL
    denied = [{"id": "1", "type": 0, "allow": "0", "deny": str(perm.ALL)}]
    kwargs: dict[str, Any] = {"guild_id": 1, "user_id": 7, "member_roles": [2]}
    assert perm.channel_permissions(admin, overwrites=denied, **kwargs) == perm.ALL
    assert perm.missing(perm.ALL) == [] and perm.missing(0, thread=True)[1] == (
        "Send Messages in Threads"
    )


def test_a_member_overwrite_wins_over_roles_and_timeout_leaves_reading() -> None:
    base = perm.VIEW_CHANNEL | perm.SEND_MESSAGES
    overwrites = [
        {"id": "5", "type": 0, "allow": "0", "deny": str(perm.SEND_MESSAGES)},
        {"id": "7", "type": 1, "allow": str(perm.SEND_MESSAGES | perm.EMBED_LINKS), "deny": "0"},
    ]
    kwargs: dict[str, Any] = {"guild_id": 1, "user_id": 7, "member_roles": [5]}
    got = perm.channel_permissions(base, overwrites=overwrites, **kwargs)
    assert got == perm.VIEW_CHANNEL | perm.SEND_MESSAGES | perm.EMBED_LINKS
    muted = perm.channel_permissions(base, overwrites=overwrites, timed_out=True, **kwargs)
    assert muted == perm.VIEW_CHANNEL
    assert perm.as_int("not a number") == 0


def test_timeouts_are_read_from_discord_timestamps() -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert _timed_out(later) and not _timed_out(earlier)
    assert not _timed_out(None) and not _timed_out("yesterday")


def test_unusable_dates_are_not_a_clock_check() -> None:
    now = datetime.now(UTC)
    assert local.check_clock("X", None, now) is None
    assert local.check_clock("X", "garbage", now) is None
    assert local.check_clock("X", "Mon, 07 Dec 2026 13:00:00", now) is None  # no zone


async def test_a_rate_limited_read_waits_and_asks_again() -> None:
    calls: list[str] = []

    async def limited(request: web.Request) -> web.Response:
        calls.append(request.path)
        if len(calls) == 1:
            return web.json_response({"retry_after": 0.01, "global": False}, status=429)
        if len(calls) == 2:
            return web.Response(status=503, text="<html>busy</html>")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/api/{tail:.*}", limited)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/api"
    try:
        async with DiscordRest("t0ken-for-the-test", base) as rest:
            with pytest.raises(DiscordError) as info:
                await rest.get("/users/@me")  # 429, then a 503 that is not JSON
            assert info.value.status == 503 and info.value.message == "HTTP 503"
            assert await rest.get("/users/@me") == {"ok": True}
    finally:
        await runner.cleanup()
    assert len(calls) == 3


def test_with_a_wandb_key_its_inputs_are_checked_too(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With WANDB_API_KEY the bot also sends `wandb_api_key` and `wandb_sample_prompts`."""
    plain = doctor().output
    key = "wandb-" + "k3y" * 12
    monkeypatch.setenv("WANDB_API_KEY", key)
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "(13 inputs" in plain and "(15 inputs" in result.output
    assert key not in result.output
