"""The CLI's estimate learns from the bot's database like the bot's preview, read-only: a
seeded database gives the calibrated estimate and its basis; a missing, locked, old-schema or
garbage file gives the community figures; nothing is ever written to it."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.money.estimate import calibrate, estimate_training, format_estimate
from bot.core.settings import load_settings
from bot.core.store.db import Store
from bot.core.store.history import read_samples
from bot.core.store.ledger import LedgerEntry, month_of
from bot.core.store.migrations import MIGRATIONS
from bot.sim import ReplicateSimulator
from tests.cli_support import TRIGGER, invoke

ROOT = Path(__file__).resolve().parents[1]
PRICE = 0.001525
STEPS, BATCH, RESOLUTION = 1000, 4, "512,768"  # the fast preset the CLI run below uses
RUNS = [(1000 + 150 * i, 1 + i % 2, "1024" if i % 2 else "512,768", 10 + 40 * i) for i in range(5)]


def seed(path: Path, *, images: bool = True) -> None:
    """The bot's own store files five succeeded runs (a team GPU faster than the community's),
    one failed and one running; then the bot is closed as after a shutdown."""

    async def fill() -> None:
        async with await Store.open(path) as store:
            ledger = store.ledger
            month = month_of(datetime.now(UTC))
            for i, (steps, batch, res, count) in enumerate([*RUNS, RUNS[0], RUNS[1]]):
                await ledger.record(
                    LedgerEntry(
                        f"t{i}", 7, None, month, 100, 300, steps=steps, batch_size=batch,
                        resolution=res, images=count if images else None,
                    )
                )  # fmt: skip
                if i < len(RUNS):
                    await ledger.settle(f"t{i}", "succeeded", 90.0 + 0.6 * steps + count, 1)
            await ledger.settle("t5", "failed", 30.0, 1)

    asyncio.run(fill())


def usable_images(output: str) -> int:
    """The usable images the CLI's own dataset check reported in `output`."""
    found = re.search(r"usable images: (\d+)", output)
    assert found is not None, output
    return int(found.group(1))


def expected(path: Path, images: int) -> str:
    """The estimate the bot's preview shows for this dataset's image count."""
    samples = read_samples(path)
    assert len(samples) == len(RUNS)
    cal = calibrate(samples)
    assert cal is not None
    e = estimate_training(
        steps=STEPS,
        batch_size=BATCH,
        resolution=RESOLUTION,
        gpu_price=PRICE,
        calibration=cal,
        images=images,
    )
    return f"Estimate: {format_estimate(e)} (from {len(RUNS)} of the team's trainings)"


COMMUNITY = "(community figures)"


def dry_run(url: str) -> str:
    args = [
        "train", "--dataset-url", url, "--destination", "alice/lora", "--trigger-word", TRIGGER,
        "--preset", "fast", "--dry-run",
    ]  # fmt: skip
    result = invoke(args)
    assert result.exit_code == 0, result.output
    return result.output


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_cli_estimate_learns_from_the_bots_database_read_only(
    cli_env: ReplicateSimulator,
    dataset_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "botdata"
    folder.mkdir()
    db = folder / "sd35l.db"
    seed(db)
    monkeypatch.setenv("SD35L_DATABASE", str(db))
    before = db.read_bytes()
    out = dry_run(dataset_url)
    assert expected(db, usable_images(out)) in out  # the count of the dataset checked
    # Not a byte of the database written and no rollback journal; SQLite's WAL readers share
    # the -shm index (the bot's own connection makes it too), and no WAL content is added.
    assert db.read_bytes() == before
    assert set(files_of(folder)) <= {"sd35l.db", "sd35l.db-shm", "sd35l.db-wal"}
    assert files_of(folder).get("sd35l.db-wal", b"") == b""

    # The default path (./data/sd35l.db) has no file here: the community figures.
    monkeypatch.delenv("SD35L_DATABASE")
    out = dry_run(dataset_url)
    assert "Estimate: " in out and COMMUNITY in out


def test_a_locked_old_or_broken_database_means_community_figures(
    cli_env: ReplicateSimulator,
    dataset_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    seed(db)
    monkeypatch.setenv("SD35L_DATABASE", str(db))
    holder = sqlite3.connect(db)  # the bot in the middle of an exclusive write
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = dry_run(dataset_url)
    finally:
        holder.rollback()
        holder.close()
    assert COMMUNITY in out and "team's trainings" not in out

    old = tmp_path / "old.db"  # a bot from before the ledger (schema v2)
    with sqlite3.connect(old) as conn:
        for script in MIGRATIONS[:2]:
            conn.executescript(script)
    monkeypatch.setenv("SD35L_DATABASE", str(old))
    assert COMMUNITY in dry_run(dataset_url)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    monkeypatch.setenv("SD35L_DATABASE", str(garbage))
    assert COMMUNITY in dry_run(dataset_url)
    assert garbage.read_bytes() == b"not a database at all" * 100

    monkeypatch.setenv("SD35L_DATABASE", str(tmp_path))  # a folder, not a file
    assert COMMUNITY in dry_run(dataset_url)


def test_rows_without_image_counts_still_calibrate(tmp_path: Path) -> None:
    """A ledger filed before image counts were kept: the runs still teach the estimate."""
    db = tmp_path / "older.db"
    seed(db, images=False)
    samples = read_samples(db)
    assert len(samples) == len(RUNS) and {s.images for s in samples} == {None}
    cal = calibrate(samples)
    assert cal is not None and cal.count == len(RUNS) and not cal.images_fitted


@pytest.mark.slow
def test_reading_history_imports_no_aiosqlite(tmp_path: Path) -> None:
    """The CLI's estimate path stays light: the history is read with the stdlib only."""
    db = tmp_path / "bot.db"
    seed(db)
    code = (
        "import sys\n"
        "from bot.core.config.model import resolve_config\n"
        "from bot.core.jobs.preflight import estimate_text\n"
        "from bot.core.settings import load_settings\n"
        "settings = load_settings()\n"
        "config = resolve_config(cli={'dataset_url': 'https://example.com/d.zip', "
        "'destination': 'a/b', 'trigger_word': 'ZXQTOK', 'preset': 'fast'}, settings=settings)\n"
        "print(estimate_text(config.config, settings))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiosqlite', 'discord')))\n"
    )
    env = {**os.environ, "SD35L_DATABASE": str(db)}
    env.pop("REPLICATE_API_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    lines = proc.stdout.strip().splitlines()
    assert lines[-2].endswith(f"(from {len(RUNS)} of the team's trainings)")
    assert lines[-1] == "[]"
    assert load_settings(SD35L_DATABASE=str(db)).database == db
