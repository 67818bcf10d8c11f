"""`sd35l-trainer doctor` against the fake Discord and the Replicate simulator: each way a
deployment goes wrong is one ✘ line with its fix, and only an all-green run exits 0."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import Result

from bot.core.doctor import permissions as perm
from bot.core.store.migrations import LATEST_VERSION
from tests.cli_support import invoke
from tests.doctor_support import Deployment
from tests.fakediscord.doctor_routes import add_thread, overwrite

INVITE_PERMISSIONS = 274878024704  # View, Send, Embed, Attach, History, Send in Threads


def lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line[:1] in "✔✘"]


def failures(result: Result) -> list[str]:
    return [line for line in lines(result) if line.startswith("✘")]


def doctor(*args: str, fd_token: str | None = None) -> Result:
    result = invoke(["doctor", *args])
    if fd_token is not None:
        assert fd_token not in result.output
    return result


def test_a_right_deployment_is_all_green_and_exits_0(deployment: Deployment) -> None:
    result = doctor(fd_token=deployment.fd.token)
    assert result.exit_code == 0, result.output
    assert failures(result) == []
    text = result.output
    assert "DISCORD_TOKEN works: bot sd35l-bot" in text
    assert "server team: the bot has View Channel, Send Messages, Embed Links" in text
    assert "2 text channel(s)" in text
    assert "commands are synced globally" in text
    assert f"permissions={INVITE_PERMISSIONS}" in text
    assert "scope=bot+applications.commands" in text
    assert "account alice" in text and "alice/lora exists and belongs to alice" in text
    assert "takes every input sent" in text and "beginner, experienced, fast" in text
    assert "is writable" in text and "clock agrees with Discord's" in text
    assert "clock agrees with Replicate's" in text
    assert f"All {len(lines(result))} checks passed." in text


def test_the_invite_permission_integer_is_exactly_what_the_bot_needs() -> None:
    assert perm.NEEDED_PERMISSIONS == INVITE_PERMISSIONS
    assert perm.invite_url(42) == (
        "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands"
        f"&permissions={INVITE_PERMISSIONS}"
    )


def test_a_missing_permission_names_it_the_channel_and_the_fix(deployment: Deployment) -> None:
    overwrite(deployment.channel, deployment.bot_role.id, deny=perm.READ_MESSAGE_HISTORY)
    result = doctor()
    assert result.exit_code == 1
    [line] = failures(result)
    assert "server team, #general: the bot lacks Read Message History" in line
    assert "a notice can be sent twice" in line
    assert "Fix: allow Read Message History for the bot's role in #general" in line


def test_everyone_overwrite_and_implicit_denials_count_like_discord(
    deployment: Deployment,
) -> None:
    """@everyone's overwrite takes Send Messages away; the role's allow gives View back only;
    without Send Messages, Embed Links and Attach Files are gone too."""
    loras = next(c for c in deployment.guild.channels.values() if c.name == "loras")
    overwrite(loras, deployment.guild.id, deny=perm.SEND_MESSAGES | perm.VIEW_CHANNEL)
    overwrite(loras, deployment.bot_role.id, allow=perm.VIEW_CHANNEL)
    [line] = failures(doctor())
    assert "#loras: the bot lacks Send Messages, Embed Links, Attach Files." in line


def test_a_channel_hidden_from_the_bot_is_named_not_failed(deployment: Deployment) -> None:
    hidden = deployment.fd.add_channel(deployment.guild, "mods")
    overwrite(hidden, deployment.guild.id, deny=perm.VIEW_CHANNEL)
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "hidden from it: #mods" in result.output


def test_a_thread_trainings_use_needs_send_messages_in_threads(deployment: Deployment) -> None:
    thread = add_thread(deployment.fd, deployment.guild, deployment.channel, "runs")
    deployment.database.parent.mkdir(parents=True)
    with sqlite3.connect(deployment.database) as conn:
        conn.execute("CREATE TABLE trainings (guild_id, channel_id, created_at)")
        conn.execute(
            "INSERT INTO trainings VALUES (?, ?, '2026-01-01')", (deployment.guild.id, thread.id)
        )
    deployment.bot_role.permissions = perm.NEEDED_PERMISSIONS & ~perm.SEND_MESSAGES_IN_THREADS
    result = doctor()
    problems = " ".join(failures(result))
    assert "thread runs in #general: the bot lacks Send Messages in Threads" in problems


def test_a_wrong_destination_owner_is_named_with_the_fix(deployment: Deployment) -> None:
    result = doctor("--destination", "bob/lora")
    assert result.exit_code == 1
    [line] = failures(result)
    assert "the destination bob/lora belongs to bob, not to alice" in line
    assert "Fix: use a destination under alice/ (e.g. SD35L_DEFAULT_DESTINATION=alice/lora)" in line


def test_a_missing_destination_says_how_to_create_it(deployment: Deployment) -> None:
    [line] = failures(doctor("--destination", "alice/nothing-here"))
    assert "alice/nothing-here does not exist" in line and "--create-destination" in line


def test_missing_tokens_say_what_is_missing_and_where_to_get_it(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN")
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    result = doctor()
    assert result.exit_code == 1
    discord, replicate = failures(result)
    assert "DISCORD_TOKEN is not set" in discord and "Developer Portal" in discord
    assert "https://discord.com/developers/applications" in discord
    assert "REPLICATE_API_TOKEN is not set" in replicate
    assert "https://replicate.com/account/api-tokens" in replicate
    assert "✔ Local: the data folder" in result.output  # the rest is still checked
    assert not deployment.fd.requests and not deployment.sim.requests


def test_refused_tokens_are_reported_and_never_printed(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_discord, wrong_replicate = "Bot.wrong." + "x" * 30, "r8_" + "wrong" * 6
    monkeypatch.setenv("DISCORD_TOKEN", wrong_discord)
    monkeypatch.setenv("REPLICATE_API_TOKEN", wrong_replicate)
    result = doctor()
    discord, replicate = failures(result)
    assert "Discord refused DISCORD_TOKEN (401)" in discord and "Reset Token" in discord
    assert "Replicate refused REPLICATE_API_TOKEN (401)" in replicate
    assert wrong_discord not in result.output and wrong_replicate not in result.output


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_a_read_only_data_folder_is_reported_with_its_fix(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    """Tests run as root, which ignores mode bits: these paths fail for root too."""
    if where == "proc":
        database = Path("/proc/sd35l-doctor/sd35l.db")
    else:
        (tmp_path / "a-file").write_text("not a folder")
        database = tmp_path / "a-file" / "sd35l.db"
    monkeypatch.setenv("SD35L_DATABASE", str(database))
    result = doctor()
    assert result.exit_code == 1
    [line] = failures(result)
    assert f"the data folder {database.parent} is not writable" in line
    assert "Fix: set SD35L_DATABASE to a file in a folder this user can write" in line


def test_a_skewed_clock_is_reported_against_both_services(deployment: Deployment) -> None:
    deployment.fd.clock_skew = 90.0  # type: ignore[attr-defined]
    deployment.sim.faults.clock_skew = -120.0
    result = doctor()
    assert result.exit_code == 1
    discord, replicate = failures(result)
    assert "the clock is 9" in discord and "s behind Discord's" in discord
    assert "the clock is 12" in replicate and "s ahead of Replicate's" in replicate
    assert "Fix: synchronise the host's clock" in discord


def test_unsynced_commands_are_named(deployment: Deployment) -> None:
    deployment.fd.state.global_commands = [
        c for c in deployment.fd.state.global_commands if c["name"] != "usage"
    ]
    [line] = failures(doctor())
    assert "differ from this version's (missing: usage)" in line
    assert "restart the bot" in line and ".commands.json" in line


def test_a_database_from_an_older_release_needs_its_migrations(deployment: Deployment) -> None:
    deployment.database.parent.mkdir(parents=True)
    with sqlite3.connect(deployment.database) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER)")
        conn.execute("INSERT INTO schema_version VALUES (?)", (LATEST_VERSION - 1,))
    [line] = failures(doctor())
    assert f"schema version {LATEST_VERSION - 1}" in line and "migrations pending" in line
    assert "back the file up first" in line


def test_a_file_that_is_not_a_database_is_reported(deployment: Deployment) -> None:
    deployment.database.parent.mkdir(parents=True)
    deployment.database.write_bytes(b"this is not sqlite" * 100)
    [line] = failures(doctor())
    assert "cannot be read" in line and "restore it from a backup" in line


def test_the_bot_in_no_server_gets_the_invite_link(deployment: Deployment) -> None:
    del deployment.guild.members[deployment.fd.app_id]
    result = doctor()
    [line] = failures(result)
    assert "the bot is in no server" in line and f"permissions={INVITE_PERMISSIONS}" in line


def test_a_public_application_is_flagged(deployment: Deployment) -> None:
    deployment.fd.bot_public = True  # type: ignore[attr-defined]
    [line] = failures(doctor())
    assert "is public: anyone with its invite link can add the bot" in line
    assert "turn off Public Bot" in line


def test_help_states_the_exit_rule() -> None:
    result = invoke(["doctor", "-h"])
    assert "exits 0 only when nothing failed" in " ".join(result.output.split())
