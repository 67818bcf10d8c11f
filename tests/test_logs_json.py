"""Decoding a training with only the end of its logs: everything else as `json.loads` gives it,
and the end of the log exactly; the tracker's refresh stores what a full decode would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.jobs.service import JobService, recent_tail
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.training import Training
from bot.core.settings import load_settings
from bot.core.store.db import Store
from bot.core.store.rows import TrainingRow
from bot.core.trainer_log.logs_json import loads_with_logs_end
from bot.core.trainer_log.progress import parse_progress
from bot.sim import ReplicateSimulator

TOKEN = "r8_" + "sim" * 10

# Pieces that stress the cut: quotes and backslashes (escaped in JSON), newlines (`\n` in
# JSON), a literal backslash before an `n` (`\\n`), bar blocks (`\u2588` when ASCII-escaped).
log_text = st.lists(
    st.sampled_from(['"', "\\", "\\n", "\\\\n", "\n", "\r", "n", "█", "\x00", "ab "]),
    max_size=200,
).map("".join)


def _encode(obj: dict[str, Any], ascii_only: bool, compact: bool) -> bytes:
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(obj, ensure_ascii=ascii_only, separators=separators).encode()


@settings(max_examples=400, deadline=None)
@given(
    logs=log_text,
    nested=st.one_of(st.none(), log_text),
    other=log_text,
    chars=st.integers(1, 120),
    ascii_only=st.booleans(),
    compact=st.booleans(),
    nested_first=st.booleans(),
)
def test_only_the_logs_are_cut_and_their_end_is_exact(
    logs: str,
    nested: str | None,
    other: str,
    chars: int,
    ascii_only: bool,
    compact: bool,
    nested_first: bool,
) -> None:
    inp: dict[str, Any] = {"trigger_word": other}
    if nested is not None:
        inp["logs"] = nested  # a nested `logs` key must never be the one cut
    parts: list[tuple[str, Any]] = [("id", "t1"), ("status", "processing"), ("logs", logs)]
    parts.insert(0 if nested_first else 3, ("input", inp))
    body = _encode(dict(parts), ascii_only, compact)

    full = json.loads(body)
    got = loads_with_logs_end(body, chars)
    assert {k: v for k, v in got.items() if k != "logs"} == {
        k: v for k, v in full.items() if k != "logs"
    }
    if got["logs"] != full["logs"]:
        assert full["logs"].endswith(got["logs"])
        assert got["logs"].startswith("\n") and len(got["logs"]) > chars


def test_escapes_at_the_cut_are_read_as_json_reads_them() -> None:
    logs = ('say "hi"\\n\\' + "\n" + "█ \\\\n" + "\n") * 300
    for ascii_only in (True, False):
        body = _encode({"id": "t1", "logs": logs}, ascii_only, compact=False)
        got = loads_with_logs_end(body, 100)["logs"]
        assert len(got) < len(logs) and logs.endswith(got)
        assert got.startswith("\n") and len(got) > 100


def test_bad_json_fails_like_json_loads() -> None:
    body = b'{"id": "t1", "logs": "' + b"line\\n" * 100 + b'\x01"}'  # raw control character
    with pytest.raises(ValueError):
        json.loads(body)
    with pytest.raises(ValueError):
        loads_with_logs_end(body, 10)
    assert loads_with_logs_end(b"[1, 2]", 1) == [1, 2]


def _long_answer(steps: int) -> tuple[dict[str, Any], bytes]:
    sim = ReplicateSimulator(step_seconds=1.0)
    record = sim.create_training(
        "alice/lora",
        {"input_images": "https://e.com/x.zip", "trigger_word": "Z", "steps": 6000},
    )
    record.created_mono -= steps
    obj = sim.render(record)
    return obj, json.dumps(obj).encode()


def test_a_long_log_parses_the_same_from_its_end() -> None:
    obj, body = _long_answer(4000)
    cut = Training.from_json(loads_with_logs_end(body, 64 * 1024))
    assert cut.logs is not None and len(cut.logs) < len(obj["logs"])
    assert parse_progress(cut.logs) == parse_progress(obj["logs"])
    assert recent_tail(cut.logs) == recent_tail(obj["logs"])


async def test_refresh_of_a_long_log_stores_what_a_full_decode_stores(tmp_path: Path) -> None:
    sim = ReplicateSimulator(token=TOKEN, step_seconds=1.0, start_delay=0.01)
    await sim.start()
    try:
        settings = load_settings(
            REPLICATE_API_TOKEN=TOKEN,
            REPLICATE_BASE_URL=sim.base_url,
            SD35L_DATABASE=str(tmp_path / "bot.sqlite"),
        )
        record = sim.create_training("alice/lora", {"trigger_word": "Z", "steps": 6000})
        with sim.lock:
            record.created_mono -= 2900  # 2,900 steps of logs, ~0.4 MB
        sim.finish(record.id, "failed")  # the log stops growing, and ends with a traceback
        store = await Store.open(settings.database)
        gateway = ReplicateGateway(settings)
        try:
            jobs = JobService(store, gateway, settings)
            await store.trainings.add(
                TrainingRow(id=record.id, owner_id=1, destination="alice/lora")
            )
            refreshed = await jobs.refresh(record.id)
            full = await gateway.get_training(record.id)
            assert full.logs is not None and len(full.logs) > 300_000
            expected = parse_progress(full.logs)
            assert (refreshed.step, refreshed.total) == (expected.step, expected.total)
            assert refreshed.status == "failed" and refreshed.step is not None
            assert refreshed.step > 2800
            assert refreshed.loss == expected.loss
            assert refreshed.log_tail == recent_tail(full.logs)
        finally:
            await gateway.aclose()
            await store.close()
    finally:
        await sim.stop()
