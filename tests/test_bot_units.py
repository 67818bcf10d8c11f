"""The bot's pieces without a gateway: error answers, embeds at Discord's limits, the notifier's
answers to Discord errors, command-sync bookkeeping, run_bot's configuration errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot import app as app_module
from bot.core.config.model import resolve_config
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.rules import Finding
from bot.core.errors import InputError
from bot.core.jobs.tracker import CardResult
from bot.core.store.db import Store
from bot.core.store.previews import Previews
from bot.core.store.rows import Notice, TrainingRow, utcnow
from bot.notifier import DiscordNotifier
from bot.tree import GENERIC, error_message, send_ephemeral
from bot.ui import card, format, presets, status, train_preview
from bot.ui.train import card_message, card_view
from cogs import _common
from tests.fakediscord import check_discord_limits


class _Resp:
    def __init__(self, status: int = 400, reason: str = "x") -> None:
        self.status, self.reason = status, reason


def http_error(cls: type[discord.HTTPException], code: int, status: int = 400) -> Any:
    return cls(_Resp(status), {"code": code, "message": "m"})  # type: ignore[arg-type]


def check(embeds: list[discord.Embed], content: str | None = None) -> None:
    payload: dict[str, Any] = {"embeds": [e.to_dict() for e in embeds]}
    if content is not None:
        payload["content"] = content
    assert check_discord_limits(payload) == []


def test_error_messages_are_one_sentence() -> None:
    assert error_message(InputError("bad steps", hint="use 1000")) == "bad steps use 1000"
    cmd = SimpleNamespace(name="x", qualified_name="x")
    wrapped = app_commands.CommandInvokeError(cmd, InputError("inner"))  # type: ignore[arg-type]
    assert error_message(wrapped) == "inner"
    assert "server channel" in error_message(app_commands.NoPrivateMessage())
    cooldown = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 10), 9.6)
    assert "10 s" in error_message(cooldown)
    assert error_message(app_commands.CheckFailure("nope")) == "nope"
    assert "not known" in error_message(app_commands.CommandNotFound("x", []))
    assert "permission" in error_message(http_error(discord.Forbidden, 50013, 403))
    assert error_message(RuntimeError("boom r8_" + "x" * 30)) == GENERIC
    display = SimpleNamespace(_error_display_name="int")
    bad = app_commands.TransformerError("abc", discord.AppCommandOptionType.integer, display)  # type: ignore[arg-type]
    assert "not valid" in error_message(bad)


class _FakeInteraction:
    """Records answers; scripted failures of the response and the followup."""

    def __init__(self, done: bool, fail: list[Exception]) -> None:
        self.sent: list[str] = []
        self._fail = fail
        outer = self

        class Response:
            def is_done(self) -> bool:
                return done

            async def send_message(self, text: str, **kw: Any) -> None:
                outer._maybe_fail()
                outer.sent.append("response:" + text)

        class Followup:
            async def send(self, text: str, **kw: Any) -> None:
                outer._maybe_fail()
                outer.sent.append("followup:" + text)

        self.response, self.followup = Response(), Followup()

    def _maybe_fail(self) -> None:
        if self._fail:
            raise self._fail.pop(0)


async def test_send_ephemeral_handles_acknowledged_and_expired() -> None:
    ok = _FakeInteraction(False, [])
    assert await send_ephemeral(ok, "hi")  # type: ignore[arg-type]
    assert ok.sent == ["response:hi"]
    acked = _FakeInteraction(False, [http_error(discord.HTTPException, 40060)])
    assert await send_ephemeral(acked, "hi")  # type: ignore[arg-type]
    assert acked.sent == ["followup:hi"]
    expired = _FakeInteraction(True, [http_error(discord.NotFound, 10062, 404)])
    assert not await send_ephemeral(expired, "hi")  # type: ignore[arg-type]
    other = _FakeInteraction(True, [http_error(discord.HTTPException, 50035)])
    assert not await send_ephemeral(other, "hi")  # type: ignore[arg-type]


def _row(**kw: Any) -> TrainingRow:
    base: dict[str, Any] = {
        "id": "abc123",
        "owner_id": 42,
        "destination": "alice/lora",
        "trigger_word": "ZXQTOK",
        "channel_id": 7,
        "card_message_id": 8,
    }
    base.update(kw)
    return TrainingRow(**base)


def test_card_buttons_follow_the_status() -> None:
    """Cancel while running, Train again after failed/canceled/aborted, nothing after success."""

    def ids(status: str) -> list[str]:
        view = card_view(_row(status=status))
        return [] if view is None else [str(getattr(i, "custom_id", "")) for i in view.children]

    assert ids("processing") == ["sd35l:cancel:abc123"]
    for ended in ("failed", "canceled", "aborted"):
        assert ids(ended) == ["sd35l:again:abc123"]
    assert ids("succeeded") == []
    assert card_message(_row(status="succeeded"))["view"].children == []


def test_card_and_notice_stay_within_limits_with_huge_text() -> None:
    huge = "E" * 10_000
    now = utcnow()
    running = _row(status="processing", step=5, total=10, eta_at=now, loss=0.1)
    assert "step 5/10" in card.card_embed(running).to_dict()["fields"][1]["value"]
    failed = _row(
        status="failed", error=huge, log_tail=huge, completed_at=now, cost_cents=150,
        started_at=now - timedelta(minutes=5), weights_url="https://x/w.tar",
    )  # fmt: skip
    check([card.card_embed(failed)])
    payload = {
        "status": "failed",
        "error": huge,
        "log_tail": huge,
        "duration_s": 70,
        "cost_cents": 200,
    }
    check([card.notice_embed(failed, payload)])
    assert card.log_file(failed, payload) is not None
    assert card.log_file(failed, {"status": "failed", "log_tail": " "}) is None
    ok = {"status": "succeeded", "weights_url": "https://w", "training_id": "abc123"}
    assert card.log_file(failed, ok) is None
    assert "sd35l-trainer download abc123" in str(card.notice_embed(failed, ok).to_dict())
    assert format.progress_bar(None, None).startswith("waiting")
    assert format.clip("", 5) == "—" and format.clip("abcdefgh", 4) == "abc…"
    assert format.code_block("x" * 5000, 100).startswith("```\n…")


def test_lists_and_presets_embeds() -> None:
    rows = [
        _row(id=f"t{i}", status="succeeded", total=10, step=10, cost_cents=50) for i in range(40)
    ]
    check([status.jobs_embed(rows, "T" * 300, "none")])
    from bot.core.config.model import describe_parameters, load_presets

    all_presets = load_presets()
    check([presets.presets_embed(all_presets)])
    check([presets.preset_embed(all_presets["beginner"], describe_parameters())])


def test_preview_embeds_fit_even_with_huge_reports(tmp_path: Path) -> None:
    from bot.core.settings import load_settings

    settings = load_settings(SD35L_DATABASE=str(tmp_path / "db"))
    resolved = resolve_config(
        cli={
            "dataset_url": "https://example.org/a.zip",
            "destination": "a/b",
            "trigger_word": "QQ",
        },
        settings=settings,
    )
    resolved.warnings = ["w" * 900] * 3
    finding = Finding("x", "m" * 900, ["p" * 300] * 3)
    report = DatasetReport(
        url="u", errors=[finding] * 5, warnings=[finding] * 5, notes=[finding] * 5,
        counts={"images": 3}, skipped_checks=["captions"], recommended_steps=1500,
    )  # fmt: skip
    checks = train_preview.PreviewChecks(
        dataset=report, destination_ok=None, problems=["p" * 2000], notes=["n" * 900]
    )
    embeds = train_preview.preview_embeds(resolved, checks, dry_run=False, source="f.yaml")
    check(embeds)
    assert not checks.ok
    skipped = train_preview.dataset_embed(None, "skipped because")
    assert "skipped" in str(skipped.to_dict())
    good = train_preview.PreviewChecks(destination_ok=False, estimate="1 min")
    assert "does not exist" in str(train_preview.checks_embed(good, dry_run=True).to_dict())
    assert train_preview.origin_label("preset", None) == "preset"
    assert "a/b" in train_preview.summary({"destination": "a/b", "trigger_word": "QQ"})


class _Channel:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get_partial_message(self, mid: int) -> Any:
        channel = self

        class Msg:
            async def edit(self, **kw: Any) -> None:
                if channel.error:
                    raise channel.error

            def to_reference(self, **kw: Any) -> None:
                return None

        return Msg()

    async def send(self, *a: Any, **kw: Any) -> Any:
        if self.error:
            raise self.error
        return SimpleNamespace(id=99, channel=SimpleNamespace(id=7))


class _Client:
    def __init__(self, channel_error: Exception | None, dm_error: Exception | None) -> None:
        self.channel = _Channel(channel_error)
        self.dm_error = dm_error

    def get_partial_messageable(self, cid: int) -> _Channel:
        return self.channel

    async def create_dm(self, user: Any) -> _Channel:
        if self.dm_error:
            raise self.dm_error
        return _Channel(None)


async def test_notifier_answers_to_discord_errors(tmp_path: Path) -> None:
    from bot.core.settings import load_settings

    settings = load_settings(SD35L_DATABASE=str(tmp_path / "n.db"))
    store = await Store.open(settings.database)

    def notifier(ch: Exception | None = None, dm: Exception | None = None) -> DiscordNotifier:
        return DiscordNotifier(_Client(ch, dm), store, settings)  # type: ignore[arg-type]

    assert await notifier().update_card(_row()) is CardResult.OK
    gone = notifier(http_error(discord.NotFound, 10008, 404))
    assert await gone.update_card(_row()) is CardResult.GONE
    # /train is still posting the card of a fresh training: wait for it, don't give up on it.
    assert await notifier().update_card(_row(card_message_id=None)) is CardResult.RETRY
    busy = notifier(http_error(discord.HTTPException, 0, 500))
    assert await busy.update_card(_row()) is CardResult.RETRY
    # A training adopted after a lost create has no card yet: it gets one (or stops trying).
    adopted = _row(card_message_id=None, created_at=utcnow() - timedelta(minutes=5))
    assert await notifier().update_card(adopted) is CardResult.OK
    assert await busy.update_card(adopted) is CardResult.RETRY
    shut = notifier(http_error(discord.Forbidden, 50013, 403))
    assert await shut.update_card(adopted) is CardResult.GONE
    assert await notifier().update_card(_row(channel_id=None)) is CardResult.GONE

    notice = Notice(1, "abc123", "ended", {"status": "succeeded"}, utcnow())
    assert await notifier().deliver_notice(_row(), notice)
    closed = http_error(discord.Forbidden, 50007, 403)
    assert await notifier(dm=closed).deliver_notice(_row(), notice)
    assert not await notifier(dm=closed).deliver_notice(_row(channel_id=None), notice)
    both = notifier(ch=http_error(discord.Forbidden, 50013, 403), dm=closed)
    assert not await both.deliver_notice(_row(), notice)
    other = http_error(discord.Forbidden, 50001, 403)
    assert await notifier(dm=other).deliver_notice(_row(), notice)  # channel fallback
    down = http_error(discord.HTTPException, 0, 503)
    assert not await notifier(dm=down).deliver_notice(_row(), notice)
    await store.close()


async def test_previews_claim_once_and_expire(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "p.db") as store:
        previews = store.previews
        p = await previews.save(1, 2, 3, {"destination": "a/b", "api_token": "r8_" + "z" * 30})
        got = await previews.get(p.key)
        assert got is not None and "api_token" not in got.config and not got.expired()
        assert await previews.claim(p.key) and not await previews.claim(p.key)
        await previews.release(p.key)
        assert await previews.claim(p.key)
        await previews.discard(p.key)
        assert await previews.get(p.key) is None
        old = await Previews(store.db, ttl=timedelta(seconds=-1)).save(1, None, None, {})
        assert not await previews.claim(old.key)


def test_guards_roles_by_id_or_name() -> None:
    role = SimpleNamespace(id=5, name="Trainers")
    fake_member = type("M", (discord.Member,), {"__init__": lambda s: None, "roles": [role]})
    member = fake_member()
    assert _common.may_start(member, []) and _common.may_start(member, ["trainers"])  # type: ignore[arg-type]
    assert _common.may_start(member, ["5"]) and not _common.may_start(member, ["6"])  # type: ignore[arg-type]
    user = SimpleNamespace(id=1)
    assert not _common.is_manager(user, ["5"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="SD35L_ALLOWED_ROLES"):
        _common.require_start(user, ["x"])  # type: ignore[arg-type]


def test_run_bot_needs_a_discord_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        app_module.run_bot()
    assert info.value.code == 2 and "DISCORD_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("SD35L_POLL_INTERVAL", "-1")
    with pytest.raises(SystemExit) as info:
        app_module.run_bot()
    assert info.value.code == 2 and "SD35L_POLL_INTERVAL" in capsys.readouterr().err


def test_run_bot_reports_a_refused_login(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "fake")
    calls: list[Exception] = [discord.LoginFailure("bad"), InputError("db broken")]

    def fake_run(self: Any, token: str, **kw: Any) -> None:
        raise calls.pop(0)

    monkeypatch.setattr(app_module.TrainerBot, "run", fake_run)
    with pytest.raises(SystemExit) as info:
        app_module.run_bot()
    assert info.value.code == 2 and "refused" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        app_module.run_bot()
    assert info.value.code == 2 and "db broken" in capsys.readouterr().err


class _Attachment:
    def __init__(self, name: str, data: bytes, size: int | None = None, fail: bool = False) -> None:
        self.filename, self.data, self.fail = name, data, fail
        self.size = len(data) if size is None else size

    async def read(self) -> bytes:
        if self.fail:
            raise http_error(discord.HTTPException, 0, 500)
        return self.data


async def test_read_config_refuses_before_and_after_download() -> None:
    from bot.core.errors import ServiceError

    with pytest.raises(ServiceError, match="Could not download"):
        await _common.read_config(_Attachment("a.yaml", b"", fail=True))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="larger than 64 KB"):
        await _common.read_config(_Attachment("a.yaml", b"#" * 70_000, size=10))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not UTF-8"):
        await _common.read_config(_Attachment("a.json", b"\xff\xfe\x00"))  # type: ignore[arg-type]
    parsed = await _common.read_config(_Attachment("a.yml", b"trigger_word: QQ\n"))  # type: ignore[arg-type]
    assert parsed["trigger_word"] == "QQ"


async def test_autocomplete_never_raises() -> None:
    from bot.ui.services import ServicedBot

    class Broken:
        async def find(self, **kw: Any) -> list[TrainingRow]:
            raise RuntimeError("db gone")

    client = ServicedBot(command_prefix="!", intents=discord.Intents.none())
    client.store = SimpleNamespace(trainings=Broken())  # type: ignore[assignment]
    interaction = SimpleNamespace(client=client, guild_id=1, user=SimpleNamespace(id=2))
    assert await _common.training_choices(interaction, "x", active_only=True) == []  # type: ignore[arg-type]


def test_run_bot_without_a_reachable_discord_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "fake.bot.token")
    with pytest.raises(SystemExit) as info:
        app_module.run_bot()
    err = capsys.readouterr().err
    assert info.value.code == 1 and "could not reach Discord" in err
    assert "Traceback" not in err and "fake.bot.token" not in err
