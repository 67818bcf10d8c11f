"""The bot's kept packs: only its own folder is ever read, old packs are swept, and only our
own Files API URLs are ever deleted."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.core.dataset.pack import Packed
from bot.core.errors import InputError
from bot.core.jobs.uploads import KEEP_SECONDS, LocalDatasets
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.settings import load_settings


@pytest.fixture
async def datasets(tmp_path: Path) -> LocalDatasets:
    settings = load_settings(
        SD35L_DATABASE=str(tmp_path / "data" / "bot.sqlite"),
        REPLICATE_BASE_URL="https://api.replicate.com",
    )
    return LocalDatasets(settings, ReplicateGateway(settings))


def test_only_packs_in_the_bots_own_folder_are_read(
    datasets: LocalDatasets, tmp_path: Path
) -> None:
    kept = datasets.keep(Packed(data=b"PK\5\6" + b"\0" * 18, sha256="ab" * 32))
    assert kept.parent == datasets.root and datasets.pack_at(str(kept)) == kept
    secret = tmp_path / "data" / "bot.sqlite"
    secret.write_bytes(b"SQLite format 3")
    for outside in (str(secret), "/etc/passwd", str(datasets.root / ".." / "bot.sqlite")):
        with pytest.raises(InputError, match="command-line setting") as caught:
            datasets.pack_at(outside)
        assert caught.value.field == "dataset"
    kept.unlink()
    with pytest.raises(InputError, match="no longer kept"):
        datasets.pack_at(str(kept))


def test_sweep_removes_only_packs_older_than_a_preview_can_live(datasets: LocalDatasets) -> None:
    old = datasets.keep(Packed(data=b"old", sha256="01" * 32))
    fresh = datasets.keep(Packed(data=b"new", sha256="02" * 32))
    past = time.time() - KEEP_SECONDS - 5
    os.utime(old, (past, past))
    assert datasets.sweep() == 1
    assert not old.exists() and fresh.exists()


def test_only_our_own_files_api_urls_are_deleted(datasets: LocalDatasets) -> None:
    assert datasets.file_id("https://api.replicate.com/v1/files/abc123") == "abc123"
    for other in (
        "https://example.com/v1/files/abc123",
        "https://api.replicate.com/v1/files/abc/download",
        "https://api.replicate.com/v1/trainings/abc",
        None,
    ):
        assert datasets.file_id(other) is None
