"""The backup and restore commands docs/deploy.md gives for the container work on the bot's own
database: the backup is taken while the bot holds the file open in WAL mode, and the restore
brings the file back to it, intact and at the current schema."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
from pathlib import Path

from bot.core.doctor.local import check_database
from bot.core.store.db import Store

ROOT = Path(__file__).resolve().parents[1]


def documented(prefix: str) -> str:
    """The Python program of the first line of docs/deploy.md that starts with `prefix`."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip().startswith(prefix):
            found = re.search(r'python -c "(.*)"$', line)
            assert found is not None, line
            return found.group(1)
    raise AssertionError(f"docs/deploy.md has no line starting with {prefix!r}")


async def python(program: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", program)
    assert await asyncio.wait_for(proc.wait(), 60) == 0


async def test_the_documented_backup_and_restore_round_trip(tmp_path: Path) -> None:
    database = tmp_path / "data" / "sd35l.db"
    backup = tmp_path / "backup.db"
    store = await Store.open(database)
    try:
        async with store.db.transaction() as conn:
            await conn.execute("CREATE TABLE marks (note TEXT)")
            await conn.execute("INSERT INTO marks VALUES ('before the backup')")
        assert database.with_name("sd35l.db-wal").exists()  # the bot's file, live, in WAL mode
        program = documented("docker compose exec bot python -c")
        program = program.replace("/app/data/sd35l.db", str(database))
        program = program.replace("/app/data/backup.db", str(backup))
        await python(program)
        async with store.db.transaction() as conn:
            await conn.execute("INSERT INTO marks VALUES ('after the backup')")
    finally:
        await store.close()
    program = documented("docker compose run --rm -v")
    program = program.replace("/restore.db", str(backup))
    program = program.replace("/app/data/sd35l.db", str(database))
    await python(program)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT note FROM marks").fetchall() == [("before the backup",)]
    finding = check_database(database)
    assert finding.ok and "is intact" in finding.text, finding
