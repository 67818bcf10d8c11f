"""Team money without Discord: the USD settings, the ledger and its migration, the budget rule
and its messages, approvals decided once, /usage sums, the loss series, and the chart PNGs."""

from __future__ import annotations

import io
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.core.errors import InputError
from bot.core.money.approvals import REASON_MAX, clean_reason
from bot.core.money.budget import (
    ApprovalRequiredError,
    Budget,
    BudgetExceededError,
    Standing,
    money_lines,
    next_month_start,
    parse_month,
    refusal,
    training_shape,
)
from bot.core.money.estimate import Sample
from bot.core.money.usage import usage_report
from bot.core.settings import load_settings
from bot.core.store.approvals import Approvals
from bot.core.store.db import Store
from bot.core.store.ledger import LedgerEntry, month_of
from bot.core.store.migrations import MIGRATIONS
from bot.core.trainer_log.loss import loss_series, smooth, thin
from bot.sim.logs import TrainingLog
from bot.ui.charts import loss_curve_png, usage_chart_png

CONFIG = {"training": {"steps": 1000, "batch_size": 1, "resolution": "1024"}}


def settings(**env: Any) -> Any:
    return load_settings(**env)


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    async with await Store.open(tmp_path / "bot.sqlite") as s:
        yield s


def test_usd_settings_accept_amounts_and_empty() -> None:
    s = settings(
        SD35L_BUDGET_USER_MONTHLY="$20",
        SD35L_BUDGET_TEAM_MONTHLY=" 150.50 ",
        SD35L_APPROVAL_ABOVE="",
    )
    assert s.budget_user_monthly == Decimal("20") and s.budget_team_monthly == Decimal("150.50")
    assert s.approval_above is None


@pytest.mark.parametrize("bad", ["twenty", "-5", "NaN", "1e999999"])
def test_usd_settings_name_the_variable(bad: str) -> None:
    with pytest.raises(InputError) as err:
        settings(SD35L_BUDGET_USER_MONTHLY=bad)
    assert err.value.field == "SD35L_BUDGET_USER_MONTHLY"
    assert "SD35L_BUDGET_USER_MONTHLY" in str(err.value)


def test_months() -> None:
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert parse_month(None, now) == "2026-12" == parse_month("  ", now) == month_of(now)
    assert parse_month("2027-01") == "2027-01"
    assert next_month_start("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month_start("2026-01") == datetime(2026, 2, 1, tzinfo=UTC)
    for bad in ("2026-13", "26-01", "2026/01", "1999-01", "x" * 50):
        with pytest.raises(InputError) as err:
            parse_month(bad)
        assert err.value.field == "month" and "YYYY-MM" in str(err.value)


def test_refusal_names_the_budget_spent_left_and_reset() -> None:
    standing = Standing(
        "2026-12", user_spent=1750, team_spent=9000, user_budget=2000, team_budget=None
    )
    assert refusal(standing, 250) is None  # exactly reaching the budget is allowed
    refused = refusal(standing, 251)
    assert isinstance(refused, BudgetExceededError)
    assert refused.field == "SD35L_BUDGET_USER_MONTHLY"
    text = str(refused)
    assert "$20.00 a month" in text and "up to $2.51" in text and "spent $17.50 in 2026-12" in text
    assert "$2.50 is left" in text and "resets on 2027-01-01 00:00 UTC" in text
    team = Standing("2026-12", 0, 9000, None, 9100)
    refused = refusal(team, 200)
    assert refused is not None and refused.field == "SD35L_BUDGET_TEAM_MONTHLY"
    assert "the team already spent $90.00" in str(refused) and team.team_left == 100
    assert Standing("2026-12", 50, 50, 40, None).user_left == 0


def test_training_shape_reads_models_and_stored_dicts() -> None:
    assert training_shape(CONFIG) == (1000, 1, "1024")
    assert training_shape({}) == (0, 1, "1024")


async def test_migration_files_existing_trainings_in_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # a database written before the ledger existed
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        for version, script in enumerate(MIGRATIONS[:2], start=1):
            db.executescript(script)
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        for tid, status, cost, done in (
            ("old1", "succeeded", 1.234, "2026-11-03T10:00:00.000000+00:00"),
            ("old2", "processing", None, None),
        ):
            db.execute(
                "INSERT INTO trainings (id, owner_id, destination, status, cost, created_at, "
                "updated_at, completed_at) VALUES (?, 7, 'a/b', ?, ?, ?, ?, ?)",
                (tid, status, cost, "2026-11-02T10:00:00.000000+00:00", "x", done),
            )
    async with await Store.open(path) as store:
        ledger = store.ledger
        old1, old2 = await ledger.get("old1"), await ledger.get("old2")
        assert old1 is not None and old1.settled and old1.actual_cents == 123
        assert old1.month == "2026-11" and old1.status == "succeeded"
        assert old2 is not None and not old2.settled
        assert await ledger.spent_cents("2026-11", 7) == 123
        preview = await store.previews.save(7, None, None, {}, "3 usable images")
        assert preview.dataset_summary == "3 usable images"


async def test_budget_check_record_settle_and_usage(store: Store) -> None:
    ledger = store.ledger
    budget = Budget(
        ledger,
        settings(SD35L_BUDGET_USER_MONTHLY="10", SD35L_APPROVAL_ABOVE="2"),
    )
    verdict = await budget.check(
        1, {"training": {"steps": 50, "batch_size": 1, "resolution": "512"}}
    )
    assert not verdict.needs_approval and verdict.standing.user_spent == 0
    with pytest.raises(ApprovalRequiredError) as needed:
        await budget.check(1, CONFIG)
    assert "SD35L_APPROVAL_ABOVE ($2.00)" in str(needed.value)
    approved = await budget.check(1, CONFIG, approved=True)
    assert approved.high_cents > 200
    lines = money_lines(await budget.verdict(1, CONFIG), budget.approval_cents)
    assert "community figures" in lines.estimate and not lines.problems
    assert any("asks a manager" in n for n in lines.notes)
    assert any("$0.00 of $10.00 spent, $10.00 left" in n for n in lines.notes)

    now = datetime.now(UTC)
    for i in range(4):
        await ledger.record(
            LedgerEntry(
                f"t{i}",
                1 + i % 2,
                None,
                month_of(now),
                100,
                300,
                steps=1000,
                batch_size=1,
                resolution="1024",
            )
        )
    assert await ledger.spent_cents(month_of(now)) == 1200  # running: at the high estimate
    assert await ledger.settle("t0", "succeeded", 1000.0, 153, [(1, 0.5), (2, 0.4)])
    assert not await ledger.settle("t0", "succeeded", 9999.0, 999)  # once only
    await ledger.settle("t1", "failed", 200.0, 31)
    await ledger.settle("t2", "canceled", None, 0)  # canceled while queued: nothing billed
    assert await ledger.loss_points("t0") == [(1, 0.5), (2, 0.4)]
    assert await ledger.loss_points("t1") == [] and await ledger.loss_points("nope") == []
    report = await usage_report(budget, month_of(now))
    assert report.team.total == 153 + 31 + 0 + 300
    assert report.users[2].lost == 31 and report.users[2].failed == 1
    assert report.users[1].by_outcome == {
        "succeeded": 153,
        "failed": 0,
        "canceled": 0,
        "running": 0,
    }
    assert report.users[2].running == 1 and report.user_budget == 1000
    # Only the succeeded run says how good the estimate was: middle 200 vs actual 153.
    assert report.accuracy is not None and report.accuracy.count == 1
    assert report.accuracy.within == 1
    assert report.accuracy.mean_error == pytest.approx(47 / 153)
    assert report.resets_at == next_month_start(month_of(now))


async def test_budget_learns_from_succeeded_runs(store: Store) -> None:
    ledger = store.ledger
    budget = Budget(ledger, settings())
    assert (await budget.estimate(CONFIG)).basis == "community figures"
    month = month_of(datetime.now(UTC))
    for i in range(5):
        steps = 1000 + 200 * i
        await ledger.record(
            LedgerEntry(f"r{i}", 1, None, month, 1, 2, steps=steps, batch_size=1, resolution="1024")
        )
        await ledger.settle(f"r{i}", "succeeded", 60.0 + steps * 0.8, 1)
    assert len(await ledger.samples()) == 5
    assert (await budget.estimate(CONFIG)).basis == "from 5 of the team's trainings"
    assert await ledger.samples() == [s for s in await ledger.samples() if isinstance(s, Sample)]


async def test_approvals_are_decided_once_and_expire(store: Store) -> None:
    approvals = Approvals(store.db, ttl=timedelta(hours=1))
    request = await approvals.create(
        owner_id=1, guild_id=2, channel_id=3, config=CONFIG, estimate_high_cents=500, summary="a/b"
    )
    assert request.pending and not request.expired()
    assert await approvals.decide(request.key, "approved", 9)
    assert not await approvals.decide(request.key, "rejected", 9)
    await approvals.reopen(request.key)
    assert (await approvals.get(request.key)).pending  # type: ignore[union-attr]
    assert [r.key for r in await approvals.pending()] == [request.key]
    short = Approvals(store.db, ttl=timedelta(seconds=-1))
    old = await short.create(
        owner_id=1, guild_id=2, channel_id=3, config={}, estimate_high_cents=1, summary="x"
    )
    assert not await short.decide(old.key, "approved", 9)  # past its time: nobody can decide
    assert [r.key for r in await short.expire_due()] == [old.key]
    assert await short.expire_due() == []  # each expiry is reported once
    assert (await approvals.get(old.key)).status == "expired"  # type: ignore[union-attr]


def test_loss_series_reads_every_step_and_survives_garbage() -> None:
    log = TrainingLog("seed", 300, 1e-4, 1)
    text = log.text(300, "succeeded")
    points = loss_series(text)
    assert [s for s, _ in points] == list(range(1, 300))
    assert all(0 < v < 1 for _, v in points)
    garbage = (
        "sd3.5_train_replicate:  1%|▏| 3/300 [00:03<05:00, 1.0s/it, lr: 1e-4 loss: nan]\n"
        "sd3.5_train_replicate: no bar here loss: 0.3\n"
        "other: 2%|▏| 6/300 [00:03<05:00, 1.0s/it, loss: 0.2]\n"
        "sd3.5_train_replicate:  1%|▏| 4/300 [00:04<05:00, 1.0s/it, loss: 1e9999]\r"
        "sd3.5_train_replicate:  1%|▏| 5/300 [00:05<05:00, 1.0s/it, loss: 0.25]"
    )
    assert loss_series(garbage) == [(5, 0.25)]
    assert loss_series(None) == [] and loss_series("") == []
    smoothed = smooth([(1, 1.0), (2, 0.0)], weight=0.5)
    assert smoothed[0] == (1, 1.0) and smoothed[1][1] == pytest.approx(1 / 3)
    thinned = thin(points, 10)
    assert len(thinned) == 10 and thinned[0] == points[0] and thinned[-1] == points[-1]
    assert thin(points[:5], 10) == points[:5]


def _png(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_charts_are_pngs() -> None:
    points = loss_series(TrainingLog("c", 200, 1e-4, 1).text(200, "succeeded"))
    assert _png(loss_curve_png(points, title="Training x: loss over 200 steps"))[0] > 300
    spend = {"alice": {"succeeded": 300, "running": 120}, "bob": {"failed": 50}}
    assert _png(usage_chart_png(spend, budget_cents=2000, title="t"))[1] > 200
    assert _png(usage_chart_png({}, budget_cents=None, title="empty"))[0] > 100


def test_a_rejection_reason_is_trimmed_optional_and_bounded() -> None:
    assert clean_reason(None) is None and clean_reason("  \n ") is None
    assert clean_reason("  over\n the plan ") == "over the plan"
    assert clean_reason("x" * REASON_MAX) == "x" * REASON_MAX
    with pytest.raises(InputError, match=f"at most {REASON_MAX}") as err:
        clean_reason("x" * (REASON_MAX + 1))
    assert err.value.field == "reason"


async def test_reject_keeps_the_reason_and_pending_requests_weigh_on_budgets(
    store: Store,
) -> None:
    ledger = store.ledger
    approvals = Approvals(store.db, ttl=timedelta(hours=1))
    budget = Budget(ledger, settings(SD35L_BUDGET_TEAM_MONTHLY="50"))
    made = [
        await approvals.create(
            owner_id=owner, guild_id=2, channel_id=3, config=CONFIG, estimate_high_cents=cents,
            summary="a/b", images=12,
        )
        for owner, cents in ((1, 400), (1, 100), (2, 250))
    ]  # fmt: skip
    assert made[0].images == 12
    assert await ledger.awaiting_approval() == {1: (2, 500), 2: (1, 250)}
    assert await ledger.awaiting_approval(2) == {2: (1, 250)}
    standing = await budget.standing(2)
    assert (standing.team_pending, standing.user_pending) == (750, 250)
    assert standing.team_left == 5000 - 750
    assert await approvals.decide(made[0].key, "rejected", 9, "too big")
    assert (await approvals.get(made[0].key)).reason == "too big"  # type: ignore[union-attr]
    assert await ledger.awaiting_approval() == {1: (1, 100), 2: (1, 250)}
    refused = refusal(replace(standing, team_pending=350), 4700)
    assert refused is not None and "plus $3.50 awaiting approval, so $46.50 is left" in str(refused)


async def test_v5_keeps_rows_filed_before_image_counts(tmp_path: Path) -> None:
    """A database at v4 (ledger rows without an image count, a pending request, a preview) is
    migrated in place: every row still reads, counts and teaches the estimate."""
    path = tmp_path / "v4.sqlite"
    now = datetime.now(UTC)
    iso = now.isoformat()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        for version, script in enumerate(MIGRATIONS[:4], start=1):
            db.executescript(script)
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        for i in range(3):
            db.execute(
                "INSERT INTO ledger (training_id, owner_id, month, estimate_low_cents, "
                "estimate_high_cents, steps, batch_size, resolution, status, predict_time, "
                "actual_cents, created_at, settled_at) "
                "VALUES (?, 7, ?, 100, 300, ?, 1, '1024', 'succeeded', ?, 150, ?, ?)",
                (f"old{i}", month_of(now), 1000 + 500 * i, 400.0 + 600 * i, iso, iso),
            )
        db.execute(
            "INSERT INTO approvals (key, owner_id, config_json, estimate_high_cents, created_at, "
            "expires_at) VALUES ('k', 7, '{}', 250, ?, ?)",
            (iso, (now + timedelta(hours=1)).isoformat()),
        )
    async with await Store.open(path) as store:
        ledger = store.ledger
        old = await ledger.get("old0")
        assert old is not None and old.images is None and old.actual_cents == 150
        assert await ledger.spent_cents(month_of(now), 7) == 450
        samples = await ledger.samples()
        assert len(samples) == 3 and {s.images for s in samples} == {None}
        budget = Budget(ledger, settings(SD35L_BUDGET_USER_MONTHLY="10"))
        assert (await budget.estimate(CONFIG, images=40)).basis == "from 3 of the team's trainings"
        assert (await budget.standing(7)).user_pending == 250
        request = await store.approvals.get("k")
        assert request is not None and request.images is None and request.reason is None


async def test_v6_keeps_every_bill_and_turns_dollars_into_cents(tmp_path: Path) -> None:
    """A v5 database with float dollars in trainings.cost and in an undelivered notice: after
    the migration each bill is whole cents (the ledger's figure where it settled one, so the
    card and the budget agree), nothing is lost, and a running training still has none."""
    path = tmp_path / "v5.sqlite"
    iso = "2026-11-02T10:00:00.000000+00:00"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        for version, script in enumerate(MIGRATIONS[:5], start=1):
            db.executescript(script)
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        for tid, status, cost in (
            ("ok", "succeeded", 1.525),  # 152.4999... cents as a float
            ("lost", "failed", 0.15),  # no ledger row: rounded from the dollars
            ("run", "processing", None),
        ):
            db.execute(
                "INSERT INTO trainings (id, owner_id, destination, status, cost, predict_time, "
                "created_at, updated_at) VALUES (?, 7, 'a/b', ?, ?, 1000.0, ?, ?)",
                (tid, status, cost, iso, iso),
            )
        db.execute(
            "INSERT INTO ledger (training_id, owner_id, month, estimate_low_cents, "
            "estimate_high_cents, status, predict_time, actual_cents, created_at, settled_at) "
            "VALUES ('ok', 7, '2026-11', 100, 300, 'succeeded', 1000.0, 153, ?, ?)",
            (iso, iso),
        )
        db.execute(
            "INSERT INTO outbox (training_id, kind, payload_json, created_at) "
            "VALUES ('lost', 'ended', '{\"cost\": 0.15, \"status\": \"failed\"}', ?)",
            (iso,),
        )
    async with await Store.open(path) as store:
        ok, lost, run = [await store.trainings.get(t) for t in ("ok", "lost", "run")]
        assert ok is not None and ok.cost_cents == 153 and ok.status == "succeeded"
        assert lost is not None and lost.cost_cents == 15
        assert run is not None and run.cost_cents is None and run.status == "processing"
        [notice] = await store.outbox.undelivered()
        assert notice.payload == {"cost_cents": 15, "status": "failed"}
        assert (await store.ledger.get("ok")).actual_cents == 153  # type: ignore[union-attr]
    with sqlite3.connect(path) as db:
        columns = {rec[1] for rec in db.execute("PRAGMA table_info(trainings)")}
    assert "cost_cents" in columns and "cost" not in columns


async def test_v7_turns_a_zero_filed_for_a_missing_bill_into_unknown(tmp_path: Path) -> None:
    """Before v7 an ending without Replicate's billed time was filed as $0; it becomes unknown
    (counted at its high estimate). A training that never started keeps its true $0."""
    path = tmp_path / "v6.sqlite"
    iso = "2026-11-02T10:00:00.000000+00:00"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        for version, script in enumerate(MIGRATIONS[:6], start=1):
            db.executescript(script)
            db.execute("INSERT INTO schema_version VALUES (?)", (version,))
        for tid, status, started, predict, cents in (
            ("ran", "succeeded", iso, None, 0),
            ("queued", "aborted", None, None, 0),
            ("billed", "succeeded", iso, 100.0, 15),
        ):
            db.execute(
                "INSERT INTO trainings (id, owner_id, destination, status, created_at, "
                "updated_at, started_at, completed_at) VALUES (?, 7, 'a/b', ?, ?, ?, ?, ?)",
                (tid, status, iso, iso, started, iso),
            )
            db.execute(
                "INSERT INTO ledger (training_id, owner_id, month, estimate_low_cents, "
                "estimate_high_cents, status, predict_time, actual_cents, created_at, "
                "settled_at) VALUES (?, 7, '2026-11', 100, 300, ?, ?, ?, ?, ?)",
                (tid, status, predict, cents, iso, iso),
            )
    async with await Store.open(path) as store:
        ledger = store.ledger
        ran, queued, billed = [await ledger.get(t) for t in ("ran", "queued", "billed")]
        assert ran is not None and ran.cost_unknown and ran.counted_cents == 300
        assert queued is not None and queued.actual_cents == 0 and not queued.cost_unknown
        assert billed is not None and billed.actual_cents == 15
        assert await ledger.spent_cents("2026-11", 7) == 300 + 0 + 15
