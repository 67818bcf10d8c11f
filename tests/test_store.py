"""The store: migrations, WAL, terminal states that stay terminal, the idempotent outbox, and
no secret ever written to the database file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import SD35LError
from bot.core.replicate.training import Training
from bot.core.store.db import Store, TrainingRow, config_dict
from bot.core.store.migrations import LATEST_VERSION

WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"
FAKE_TOKEN = "r8_" + "sim" * 10


@dataclass(frozen=True)
class Prog:
    """The part of bot.core.trainer_log.progress.Progress the store reads."""

    step: int | None = None
    total: int | None = None
    remaining_s: float | None = None
    loss: float | None = None


def progress(step: int | None = None, total: int | None = None, **kw: Any) -> Prog:
    return Prog(step, total, kw.get("remaining_s"), kw.get("loss"))


def training(tid: str = "t1", status: str = "processing", **extra: Any) -> Training:
    return Training.from_json({"id": tid, "status": status, **extra})


def row(tid: str = "t1", owner: int = 1, **kw: Any) -> TrainingRow:
    values: dict[str, Any] = dict(
        id=tid, owner_id=owner, destination="alice/lora", trigger_word="TOK", guild_id=10
    )
    values.update(kw)
    return TrainingRow(**values)


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = await Store.open(tmp_path / "sub" / "db.sqlite")
    yield s
    await s.close()


async def test_open_creates_folder_wal_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db.sqlite"
    async with await Store.open(path) as s:
        assert path.exists()
        assert await s.journal_mode() == "wal"
        assert await s.schema_version() == LATEST_VERSION
    # Reopening applies nothing twice.
    async with await Store.open(path) as s:
        assert await s.schema_version() == LATEST_VERSION
    with sqlite3.connect(path) as db:
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, LATEST_VERSION + 1))


async def test_newer_database_is_refused_with_a_clear_sentence(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with await Store.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST_VERSION + 5,))
    with pytest.raises(SD35LError, match="newer sd35l-trainer") as info:
        await Store.open(path)
    assert "SD35L_DATABASE" in str(info.value)


async def test_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "dir.sqlite"
    folder.mkdir()
    with pytest.raises(SD35LError, match="Cannot open the database"):
        await Store.open(folder)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SD35LError, match="SD35L_DATABASE"):
        await Store.open(blocker / "sub" / "db.sqlite")


async def test_add_get_and_no_secret_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    config = {
        "destination": "alice/lora",
        "wandb": {"project": "p", "api_key": WANDB_KEY},
        "wandb_api_key": WANDB_KEY,
        "note": f"key {WANDB_KEY} and token {FAKE_TOKEN}",
        "hf_token": "hf_" + "x" * 30,
    }
    async with await Store.open(path) as s:
        await s.add_training(row(config=config, error=f"bad {FAKE_TOKEN}"))
        got = await s.get("t1")
        assert got is not None
        assert got.config["wandb"] == {"project": "p"}
        assert "wandb_api_key" not in got.config and "hf_token" not in got.config
        assert got.error is not None and FAKE_TOKEN not in got.error
        assert got.owner_id == 1 and got.guild_id == 10 and got.status == "starting"
        assert got.created_at.tzinfo is not None
        raw = await s.raw_config_json("t1")
        assert raw is not None and WANDB_KEY not in raw
        await s.add_training(row(config=config))  # a second insert is ignored
        assert await s.get("missing") is None
        assert await s.raw_config_json("missing") is None
        data = _all_bytes(tmp_path)  # the main file and the WAL while open
        assert WANDB_KEY.encode() not in data and b"alice/lora" in data
    data = _all_bytes(tmp_path)
    assert WANDB_KEY.encode() not in data and b"alice/lora" in data
    assert FAKE_TOKEN.encode() not in data


def test_config_dict_accepts_models_resolved_configs_and_mappings() -> None:
    class Model:
        def model_dump(self, mode: str) -> dict[str, Any]:
            return {"a": 1, "token": "x"}

    class Resolved:
        config = Model()

    assert config_dict(Resolved()) == {"a": 1}
    assert config_dict({"b": [1, {"secret": 2}]}) == {"b": [1, {}]}
    assert config_dict(42) == {}


async def test_update_progress_then_terminal_never_regresses(store: Store) -> None:
    await store.add_training(row())
    got = await store.update_from_training(
        training(started_at="2024-01-01T00:00:00Z"),
        progress(5, 100, remaining_s=60, loss=0.5),
        None,
        log_tail="step 5",
    )
    assert got is not None
    assert (got.status, got.step, got.total, got.loss) == ("processing", 5, 100, 0.5)
    assert got.eta_at is not None and got.eta_at > datetime.now(UTC)
    assert got.started_at == datetime(2024, 1, 1, tzinfo=UTC)
    done = training(
        status="succeeded",
        output={"weights": "https://x/w.tar", "version": "alice/lora:v1"},
        metrics={"predict_time": 100.0},
        completed_at="2024-01-01T00:10:00Z",
    )
    got = await store.update_from_training(
        done, progress(100, 100), 15, notice=("ended", {"status": "succeeded"})
    )
    assert got is not None and got.is_terminal
    assert got.step == 100 and got.eta_at is None and got.cost_cents == 15
    assert got.weights_url == "https://x/w.tar" and got.new_version == "alice/lora:v1"
    assert got.duration_s == 600.0 and got.percent == 100.0
    assert got.web_url == "https://replicate.com/p/t1"
    # A late, stale "processing" answer changes nothing visible.
    late = await store.update_from_training(training(), progress(7, 100), None)
    assert late is not None and late.status == "succeeded" and late.step == 100
    # Another terminal status does not overwrite the first either.
    late = await store.update_from_training(training(status="failed", error="x"), None, None)
    assert late is not None and late.status == "succeeded"
    assert await store.active_trainings() == []
    assert len(await store.notices_for("t1")) == 1


async def test_update_unknown_training_returns_none(store: Store) -> None:
    assert await store.update_from_training(training("nope"), None, None) is None


async def test_notice_enqueued_once_and_delivery_states(store: Store) -> None:
    await store.add_training(row())
    assert await store.enqueue_notice("t1", "ended", {"status": "failed", "k": WANDB_KEY})
    assert not await store.enqueue_notice("t1", "ended", {"status": "other"})
    pending = await store.pending_notices()
    assert len(pending) == 1
    notice = pending[0]
    assert notice.payload["status"] == "failed" and WANDB_KEY not in str(notice.payload)
    await store.mark_notice_failed(notice.id, f"Forbidden {FAKE_TOKEN}")
    again = (await store.pending_notices())[0]
    assert again.attempts == 1 and again.last_error is not None
    assert FAKE_TOKEN not in again.last_error
    await store.mark_notice_delivered(notice.id)
    assert await store.pending_notices() == []
    [done] = await store.notices_for("t1")
    assert done.delivered_at is not None and done.attempts == 2
    # Even after delivery, the same notice is never owed again.
    assert not await store.enqueue_notice("t1", "ended", {})


async def test_cards(store: Store) -> None:
    await store.add_training(row())
    await store.set_card("t1", 55, 66)
    got = await store.get("t1")
    assert got is not None and (got.channel_id, got.card_message_id) == (55, 66)
    await store.mark_card_edited("t1", status="processing")
    await store.update_from_training(training(status="canceled"), None, None)
    [needing] = await store.cards_needing_final_edit()
    assert needing.id == "t1"
    await store.mark_card_edited("t1", datetime.now(UTC), status="canceled")
    assert await store.cards_needing_final_edit() == []
    await store.mark_card_gone("t1")
    got = await store.get("t1")
    assert got is not None and got.card_gone and got.card_edited_at is not None


async def test_list_filters_query_and_counts(store: Store) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    await store.add_training(row("abc1", 1, created_at=base))
    await store.add_training(
        row(
            "abd2", 2, destination="bob/style_x", trigger_word="SKS", created_at=base + timedelta(1)
        )
    )
    await store.add_training(row("zz_3", 1, guild_id=11, created_at=base + timedelta(2)))
    await store.update_from_training(training("abc1", "failed"), None, None)
    assert [r.id for r in await store.list_trainings()] == ["zz_3", "abd2", "abc1"]
    assert [r.id for r in await store.list_trainings(guild_id=10)] == ["abd2", "abc1"]
    assert [r.id for r in await store.list_trainings(owner_id=1)] == ["zz_3", "abc1"]
    assert [r.id for r in await store.list_trainings(status="failed")] == ["abc1"]
    assert [r.id for r in await store.list_trainings(status="ended")] == ["abc1"]
    assert [r.id for r in await store.list_trainings(status="active")] == ["zz_3", "abd2"]
    assert [r.id for r in await store.list_trainings(query="ab")] == ["abd2", "abc1"]
    assert [r.id for r in await store.list_trainings(query="bob/")] == ["abd2"]
    assert [r.id for r in await store.list_trainings(query="style")] == ["abd2"]
    assert [r.id for r in await store.list_trainings(query="sk")] == ["abd2"]
    assert [r.id for r in await store.list_trainings(query="zz_")] == ["zz_3"]
    assert [r.id for r in await store.list_trainings(query="%")] == []
    assert len(await store.list_trainings(limit=1)) == 1
    assert [r.id for r in await store.active_trainings()] == ["abd2", "zz_3"]
    assert await store.count_active(1) == 1
    assert await store.count_active(2) == 1
    assert await store.count_active(3) == 0


async def test_pending_submissions(store: Store) -> None:
    pid = await store.add_pending_submission(
        owner_id=1,
        guild_id=None,
        channel_id=None,
        destination="alice/lora",
        trigger_word="TOK",
        config={"api_key": "x", "steps": 3},
        inputs={"input_images": "https://x/d.zip", "wandb_api_key": WANDB_KEY},
    )
    [p] = await store.pending_submissions()
    assert p.id == pid and p.config == {"steps": 3}
    assert p.inputs == {"input_images": "https://x/d.zip"}
    await store.add_training(row("t9"), pending_id=pid)
    assert await store.pending_submissions() == []
    pid = await store.add_pending_submission(
        owner_id=1,
        guild_id=1,
        channel_id=2,
        destination="alice/lora",
        trigger_word=None,
        config={},
        inputs={},
    )
    await store.drop_pending_submission(pid)
    assert await store.pending_submissions() == []


async def test_a_failed_transaction_rolls_back(store: Store) -> None:
    await store.add_training(row())
    with pytest.raises(sqlite3.IntegrityError):
        await store.enqueue_notice("no-such-training", "ended", {})
    assert await store.pending_notices() == []
    # The connection is still usable afterwards.
    assert await store.enqueue_notice("t1", "ended", {})


async def test_a_write_cancelled_mid_transaction_leaves_the_store_usable(tmp_path: Path) -> None:
    """The bot's shutdown cancels tasks at any await: no transaction may be left open."""
    async with await Store.open(tmp_path / "db.sqlite") as s:
        for _ in range(20):  # cancel at different points of BEGIN / body / COMMIT
            task = asyncio.create_task(s.add_training(row(config={"destination": "alice/lora"})))
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert not s.connection.in_transaction
        await s.add_training(row("t2", config={}))
        assert await s.get("t2") is not None


def test_a_failed_open_leaves_no_worker_thread_behind(tmp_path: Path) -> None:
    """aiosqlite stops its worker thread after a failed connect without waiting for it; if the
    event loop closes first, that thread dies on the closed loop (an unhandled thread error)."""
    folder = tmp_path / "dir.sqlite"
    folder.mkdir()
    before = set(threading.enumerate())

    async def attempt() -> None:
        with pytest.raises(SD35LError, match="Cannot open the database"):
            await Store.open(folder)

    for _ in range(5):
        asyncio.run(attempt())
        assert [t for t in threading.enumerate() if t not in before] == []
