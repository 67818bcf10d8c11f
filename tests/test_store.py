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
from bot.core.store.db import Store
from bot.core.store.migrations import LATEST_VERSION
from bot.core.store.rows import TrainingRow, config_dict

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
        assert await s.db.journal_mode() == "wal"
        assert await s.db.schema_version() == LATEST_VERSION
    # Reopening applies nothing twice.
    async with await Store.open(path) as s:
        assert await s.db.schema_version() == LATEST_VERSION
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
        await s.trainings.add(row(config=config, error=f"bad {FAKE_TOKEN}"))
        got = await s.trainings.get("t1")
        assert got is not None
        assert got.config["wandb"] == {"project": "p"}
        assert "wandb_api_key" not in got.config and "hf_token" not in got.config
        assert got.error is not None and FAKE_TOKEN not in got.error
        assert got.owner_id == 1 and got.guild_id == 10 and got.status == "starting"
        assert got.created_at.tzinfo is not None
        raw = await s.trainings.raw_config_json("t1")
        assert raw is not None and WANDB_KEY not in raw
        await s.trainings.add(row(config=config))  # a second insert is ignored
        assert await s.trainings.get("missing") is None
        assert await s.trainings.raw_config_json("missing") is None
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
    await store.trainings.add(row())
    got = await store.trainings.update_from_training(
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
    got = await store.trainings.update_from_training(
        done, progress(100, 100), 15, notice=("ended", {"status": "succeeded"})
    )
    assert got is not None and got.is_terminal
    assert got.step == 100 and got.eta_at is None and got.cost_cents == 15
    assert got.weights_url == "https://x/w.tar" and got.new_version == "alice/lora:v1"
    assert got.duration_s == 600.0 and got.percent == 100.0
    assert got.web_url == "https://replicate.com/p/t1"
    # A late, stale "processing" answer changes nothing visible.
    late = await store.trainings.update_from_training(training(), progress(7, 100), None)
    assert late is not None and late.status == "succeeded" and late.step == 100
    # Another terminal status does not overwrite the first either.
    failed = training(status="failed", error="x")
    late = await store.trainings.update_from_training(failed, None, None)
    assert late is not None and late.status == "succeeded"
    assert await store.trainings.active() == []
    assert len(await store.outbox.for_training("t1")) == 1


async def test_update_unknown_training_returns_none(store: Store) -> None:
    assert await store.trainings.update_from_training(training("nope"), None, None) is None


async def test_notice_enqueued_once_and_delivery_states(store: Store) -> None:
    await store.trainings.add(row())
    assert await store.outbox.enqueue("t1", "ended", {"status": "failed", "k": WANDB_KEY})
    assert not await store.outbox.enqueue("t1", "ended", {"status": "other"})
    pending = await store.outbox.undelivered()
    assert len(pending) == 1
    notice = pending[0]
    assert notice.payload["status"] == "failed" and WANDB_KEY not in str(notice.payload)
    await store.outbox.mark_failed(notice.id, f"Forbidden {FAKE_TOKEN}")
    again = (await store.outbox.undelivered())[0]
    assert again.attempts == 1 and again.last_error is not None
    assert FAKE_TOKEN not in again.last_error
    await store.outbox.mark_delivered(notice.id)
    assert await store.outbox.undelivered() == []
    [done] = await store.outbox.for_training("t1")
    assert done.delivered_at is not None and done.attempts == 2
    # Even after delivery, the same notice is never owed again.
    assert not await store.outbox.enqueue("t1", "ended", {})


async def test_cards(store: Store) -> None:
    await store.trainings.add(row())
    await store.cards.set("t1", 55, 66)
    got = await store.trainings.get("t1")
    assert got is not None and (got.channel_id, got.card_message_id) == (55, 66)
    await store.cards.mark_edited("t1", status="processing")
    await store.trainings.update_from_training(training(status="canceled"), None, None)
    [needing] = await store.cards.needing_final_edit()
    assert needing.id == "t1"
    await store.cards.mark_edited("t1", datetime.now(UTC), status="canceled")
    assert await store.cards.needing_final_edit() == []
    await store.cards.mark_gone("t1")
    got = await store.trainings.get("t1")
    assert got is not None and got.card_gone and got.card_edited_at is not None


async def test_list_filters_query_and_counts(store: Store) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    await store.trainings.add(row("abc1", 1, created_at=base))
    await store.trainings.add(
        row(
            "abd2", 2, destination="bob/style_x", trigger_word="SKS", created_at=base + timedelta(1)
        )
    )
    await store.trainings.add(row("zz_3", 1, guild_id=11, created_at=base + timedelta(2)))
    await store.trainings.update_from_training(training("abc1", "failed"), None, None)
    assert [r.id for r in await store.trainings.find()] == ["zz_3", "abd2", "abc1"]
    assert [r.id for r in await store.trainings.find(guild_id=10)] == ["abd2", "abc1"]
    assert [r.id for r in await store.trainings.find(owner_id=1)] == ["zz_3", "abc1"]
    assert [r.id for r in await store.trainings.find(status="failed")] == ["abc1"]
    assert [r.id for r in await store.trainings.find(status="ended")] == ["abc1"]
    assert [r.id for r in await store.trainings.find(status="active")] == ["zz_3", "abd2"]
    assert [r.id for r in await store.trainings.find(query="ab")] == ["abd2", "abc1"]
    assert [r.id for r in await store.trainings.find(query="bob/")] == ["abd2"]
    assert [r.id for r in await store.trainings.find(query="style")] == ["abd2"]
    assert [r.id for r in await store.trainings.find(query="sk")] == ["abd2"]
    assert [r.id for r in await store.trainings.find(query="zz_")] == ["zz_3"]
    assert [r.id for r in await store.trainings.find(query="%")] == []
    assert len(await store.trainings.find(limit=1)) == 1
    assert [r.id for r in await store.trainings.active()] == ["abd2", "zz_3"]
    assert await store.trainings.count_active(1) == 1
    assert await store.trainings.count_active(2) == 1
    assert await store.trainings.count_active(3) == 0


async def test_pending_submissions(store: Store) -> None:
    pid = await store.pending.add(
        owner_id=1,
        guild_id=None,
        channel_id=None,
        destination="alice/lora",
        trigger_word="TOK",
        config={"api_key": "x", "steps": 3},
        inputs={"input_images": "https://x/d.zip", "wandb_api_key": WANDB_KEY},
    )
    [p] = await store.pending.unsettled()
    assert p.id == pid and p.config == {"steps": 3}
    assert p.inputs == {"input_images": "https://x/d.zip"}
    await store.trainings.add(row("t9"), pending_id=pid)
    assert await store.pending.unsettled() == []
    pid = await store.pending.add(
        owner_id=1,
        guild_id=1,
        channel_id=2,
        destination="alice/lora",
        trigger_word=None,
        config={},
        inputs={},
    )
    await store.pending.drop(pid)
    assert await store.pending.unsettled() == []


async def test_a_failed_transaction_rolls_back(store: Store) -> None:
    await store.trainings.add(row())
    with pytest.raises(sqlite3.IntegrityError):
        await store.outbox.enqueue("no-such-training", "ended", {})
    assert await store.outbox.undelivered() == []
    # The connection is still usable afterwards.
    assert await store.outbox.enqueue("t1", "ended", {})


async def test_a_write_cancelled_mid_transaction_leaves_the_store_usable(tmp_path: Path) -> None:
    """The bot's shutdown cancels tasks at any await: no transaction may be left open."""
    async with await Store.open(tmp_path / "db.sqlite") as s:
        for _ in range(20):  # cancel at different points of BEGIN / body / COMMIT
            task = asyncio.create_task(s.trainings.add(row(config={"destination": "alice/lora"})))
            await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert not s.db.connection.in_transaction
        await s.trainings.add(row("t2", config={}))
        assert await s.trainings.get("t2") is not None


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


def _file_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A database file as a release at schema `version` left it (migrations applied as
    `Database` applies them, one transaction each)."""
    from bot.core.store.migrations import MIGRATIONS

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_version (version INTEGER)")
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        db.executescript(
            f"BEGIN;\n{script}\nINSERT INTO schema_version (version) VALUES ({number});\nCOMMIT;"
        )
    return db


async def test_an_existing_file_with_rows_in_every_table_migrates_and_reads_back(
    tmp_path: Path,
) -> None:
    """A file at schema 5 (every table exists; the bill still in dollars) with a row in every
    table opens at the latest version, and every table reads its row back, values intact."""
    path = tmp_path / "old.sqlite"
    at = "2026-11-02T10:00:00.000000+00:00"
    later = "2099-01-01T00:00:00.000000+00:00"
    db = _file_at_version(path, 5)
    db.executescript(
        f"""
        INSERT INTO trainings (id, owner_id, guild_id, channel_id, card_message_id, destination,
            trigger_word, config_json, status, step, total, cost, created_at, updated_at,
            completed_at, card_status, card_attempted_at)
        VALUES ('t1', 7, 10, 20, 30, 'alice/lora', 'TOK', '{{"steps": 700}}', 'succeeded',
            700, 700, 1.525, '{at}', '{at}', '{at}', 'processing', '{at}');
        INSERT INTO outbox (training_id, kind, payload_json, created_at)
        VALUES ('t1', 'ended', '{{"status": "succeeded", "cost": 1.525}}', '{at}');
        INSERT INTO pending_submissions (owner_id, guild_id, channel_id, destination,
            trigger_word, config_json, inputs_json, created_at, marker, preview_key, sent_at)
        VALUES (8, 10, 20, 'bob/lora', 'BOB', '{{}}', '{{"steps": 5}}', '{at}', 'm1', 'p1',
            '{at}');
        INSERT INTO previews (key, owner_id, guild_id, channel_id, config_json, created_at,
            expires_at, used, dataset_summary, images)
        VALUES ('p1', 8, 10, 20, '{{"destination": "bob/lora"}}', '{at}', '{later}', 1,
            '3 usable images', 3);
        INSERT INTO ledger (training_id, owner_id, guild_id, month, estimate_low_cents,
            estimate_high_cents, status, predict_time, actual_cents, images, created_at,
            settled_at)
        VALUES ('t1', 7, 10, '2026-11', 100, 200, 'succeeded', 1000.0, 153, 3, '{at}', '{at}');
        INSERT INTO approvals (key, owner_id, guild_id, channel_id, message_id, config_json,
            estimate_high_cents, summary, status, created_at, expires_at, images, reason)
        VALUES ('a1', 9, 10, 20, 40, '{{}}', 900, 'carol/lora', 'rejected', '{at}', '{later}',
            4, 'too dear');
        """  # noqa: S608  (fixed test values)
    )
    db.close()

    async with await Store.open(path) as store:
        assert await store.db.schema_version() == LATEST_VERSION
        got = await store.trainings.get("t1")
        assert got is not None and got.owner_id == 7 and got.status == "succeeded"
        assert got.config == {"steps": 700} and got.card_message_id == 30
        assert got.cost_cents == 153  # the ledger's settled figure wins over the dollars
        assert await store.cards.needing_final_edit() == [got]  # shows processing, ended
        [notice] = await store.outbox.for_training("t1")
        assert notice.payload == {"status": "succeeded", "cost_cents": 153}
        [pending] = await store.pending.unsettled()
        assert (pending.owner_id, pending.marker, pending.preview_key) == (8, "m1", "p1")
        assert pending.inputs == {"steps": 5} and pending.sent_at is not None
        preview = await store.previews.get("p1")
        assert preview is not None and preview.used and preview.images == 3
        assert preview.dataset_summary == "3 usable images"
        entry = await store.ledger.get("t1")
        assert entry is not None and entry.actual_cents == 153 and entry.settled
        request = await store.approvals.get("a1")
        assert request is not None and request.status == "rejected"
        assert request.reason == "too dear" and request.images == 4
