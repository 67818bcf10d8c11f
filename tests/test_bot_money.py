"""Team money through the real discord.py client, the fake Discord and the simulator: budgets
refuse with the right figures, approvals submit exactly once for the requester and only for
managers (also after a restart), requests expire, /usage adds up to the cent, and the chart and
the loss curve are real PNGs."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from PIL import Image

from bot.core.config.model import resolve_config
from bot.core.errors import InputError
from bot.core.money.approvals import REASON_MAX
from bot.core.money.cents import format_cents
from bot.core.money.estimate import estimate_training
from bot.core.store.ledger import month_of
from bot.core.store.rows import utcnow
from tests.bot_support import TRIGGER, World, has_button, make_bot, train_options
from tests.cli_support import dataset_zip
from tests.fakediscord import FakeUser, StoredMessage
from tests.local_images import dataset_files, zip_of

PRICE = 0.001525
with zipfile.ZipFile(io.BytesIO(dataset_zip())) as _zip:  # the world's good.zip
    GOOD_IMAGES = sum(name.endswith(".png") for name in _zip.namelist())


def high_cents(world: World, images: int | None = GOOD_IMAGES, **options: Any) -> int:
    """The high estimate of a /train of the world's dataset, computed here from the resolved
    config and the dataset's image count (no team history)."""
    config = resolve_config(cli=train_options(world, **options), settings=world.settings()).config
    t = config.training
    e = estimate_training(
        steps=t.steps,
        batch_size=t.batch_size,
        resolution=t.resolution,
        gpu_price=PRICE,
        images=images,
    )
    return e.high_cents


def cents_of(predict_time: float) -> int:
    amount = Decimal(str(predict_time)) * Decimal(str(PRICE))
    return int(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def attachment_bytes(world: World, message: StoredMessage, suffix: str) -> bytes:
    found = [a for a in message.attachments if a["filename"].endswith(suffix)]
    assert found, message.attachments
    return world.fd.state.attachments[int(found[0]["id"])].content


async def preview(world: World, user: FakeUser, **options: Any) -> StoredMessage:
    res = await world.fd.slash("train", train_options(world, **options), user=user)
    return await res.wait_original(lambda m: "Estimate" in m.text(), timeout=10)


async def start(world: World, user: FakeUser, **options: Any) -> str:
    """Preview and Start; the new training's id."""
    shown = await preview(world, user, **options)
    click = await world.fd.click(shown, label="Start", user=user)
    done = await click.wait_original(lambda m: "Started training" in m.content, timeout=10)
    return done.content.split("`")[1]


async def wait_ended(world: World, bot: Any, tid: str) -> None:
    async def ended() -> bool:
        entry = await bot.budget.ledger.get(tid)
        return entry is not None and entry.settled

    for _ in range(400):
        if await ended():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"training {tid} never settled")


async def test_budgets_refuse_with_figures_at_preview_and_at_start(world: World) -> None:
    fd = world.fd
    high = high_cents(world)
    # The user budget lets one training through; the month is today's (UTC).
    async with fd.running(make_bot(world, SD35L_BUDGET_USER_MONTHLY=f"{(high + 1) / 100}")) as bot:
        tid = await start(world, world.alice)
        entry = await bot.budget.ledger.get(tid)
        assert entry is not None and entry.estimate_high_cents == high
        assert entry.images == GOOD_IMAGES  # the count the preview's dataset check made
        await wait_ended(world, bot, tid)
        row = await bot.store.trainings.get(tid)
        assert row is not None and row.predict_time is not None
        spent = cents_of(row.predict_time)
        assert (await bot.budget.ledger.get(tid)).actual_cents == spent  # type: ignore[union-attr]

        refused = await preview(world, world.alice)
        text = refused.text()
        month = month_of(utcnow())
        assert "SD35L_BUDGET_USER_MONTHLY" in text and not has_button("Start")(refused)
        assert f"already spent {format_cents(spent)} in {month}" in text
        assert f"so {format_cents(high + 1 - spent)} is left" in text
        assert f"up to {format_cents(high)}" in text and "00:00 UTC" in text
        # Bob has his own budget: his preview offers Start.
        assert has_button("Start")(await preview(world, world.bob))

    # A team budget: Alice's preview passes, then Bob's Start takes the room; at Alice's Start
    # the rule is applied again and nothing is created for her.
    long_high = high_cents(world, steps=LONG)
    team = spent + long_high + long_high // 2
    async with fd.running(make_bot(world, SD35L_BUDGET_TEAM_MONTHLY=f"{team / 100}")) as bot:
        alices = await preview(world, world.alice, steps=LONG)
        assert has_button("Start")(alices)
        await start(world, world.bob, steps=LONG)
        before = len(world.sim.trainings)
        click = await fd.click(alices, label="Start", user=world.alice)
        answer = await click.wait_text("SD35L_BUDGET_TEAM_MONTHLY", timeout=10)
        assert "the team already spent" in answer.text() and "Traceback" not in answer.text()
        assert len(world.sim.trainings) == before
    world.assert_clean()


LONG = 6000


async def request_for(world: World, user: FakeUser) -> StoredMessage:
    """Start on a training above the threshold: the channel gets an approval request."""
    shown = await preview(world, user)
    assert "asks a manager to approve it" in shown.text()
    click = await world.fd.click(shown, label="Start", user=user)
    await click.wait_original(lambda m: "Asked the managers" in m.content, timeout=10)
    requests = [m for m in world.fd.messages(world.channel()) if has_button("Approve")(m)]
    return requests[-1]


async def test_approval_by_a_manager_submits_once_for_the_requester(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world, SD35L_APPROVAL_ABOVE="0.01")):
        request = await request_for(world, world.alice)
        text = request.text()
        assert f"<@{world.alice.id}>" in text and "alice/lora" in text
        assert "usable images" in text and "$" in text and has_button("Reject")(request)
        assert len(world.sim.trainings) == 0 and world.cards() == []

        stranger = await fd.click(request, label="Approve", user=world.bob)
        await stranger.wait_text("manager role")
        assert len(world.sim.trainings) == 0

    async with fd.running(make_bot(world, SD35L_APPROVAL_ABOVE="0.01")) as bot:  # a restart
        # A double click (both fired before the first is answered) starts one training.
        clicks = await asyncio.gather(
            *(fd.click(fd.message(request.id), label="Approve", user=world.mia) for _ in "ab")
        )
        for c in clicks:
            await fd.wait_until(lambda c=c: any(not m.loading for m in c.messages()), timeout=10)
        answers = sorted(
            (c.messages()[-1].content for c in clicks), key=lambda a: "started" not in a
        )
        assert "started" in answers[0] and "already decided" in answers[1], answers
        assert len(world.sim.trainings) == 1
        (tid,) = list(world.sim.trainings)
        row = await bot.store.trainings.get(tid)
        assert row is not None and row.owner_id == world.alice.id
        assert len(world.cards()) == 1 and f"<@{world.alice.id}>" in world.cards()[0].text()
        await fd.wait_until(lambda: not fd.message(request.id).buttons(), timeout=5)
        assert "Approved by" in fd.message(request.id).text()
        assert len(world.sim.trainings) == 1
    world.assert_clean()


async def test_reject_asks_why_and_tells_the_owner_then_expiry(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world, SD35L_APPROVAL_ABOVE="0.01")):
        request = await request_for(world, world.alice)
        stranger = await fd.click(request, label="Reject", user=world.bob)
        await stranger.wait_text("manager role")  # a member who is no manager gets no form
        click = await fd.click(request, label="Reject", user=world.mia)
        form = await click.wait_response()
        assert form["type"] == 9  # the reason form, as the first answer
        (field,) = [c for row in form["data"]["components"] for c in row["components"]]
        assert field["required"] is False and field["max_length"] == REASON_MAX
        assert f"Up to {REASON_MAX} characters" in field["placeholder"]
        assert fd.message(request.id).buttons()  # nothing is decided before the form is sent
        with pytest.raises(ValueError, match="over 300 chars"):  # the client enforces the limit
            await fd.submit_modal(click, {"Reason": "x" * (REASON_MAX + 1)})

        reason = "over this month's plan; 1500 steps should do"
        sent = await fd.submit_modal(click, {"Reason": reason})
        await sent.wait_text("Rejected; the owner was told why")

        def told() -> list[StoredMessage]:
            return [m for m in fd.messages(world.channel()) if "was rejected" in m.content]

        await fd.wait_until(lambda: bool(told()) and bool(fd.dms(world.alice)), timeout=5)
        (line,) = told()
        assert f"<@{world.alice.id}>" in line.content and reason in line.content
        assert f"<@{world.mia.id}> rejected it" in line.content
        assert "SD35L_APPROVAL_ABOVE" in line.content and "nothing was submitted" in line.content
        (dm,) = fd.dms(world.alice)
        assert reason in dm.content and "was rejected" in dm.content
        assert not fd.message(request.id).buttons() and reason in fd.message(request.id).text()

    bot = make_bot(world, SD35L_APPROVAL_ABOVE="0.01")
    bot.approval_ttl, bot.approval_sweep = timedelta(seconds=0.3), 0.05
    async with fd.running(bot):
        request = await request_for(world, world.bob)
        await fd.wait_until(lambda: "Expired" in fd.message(request.id).text(), timeout=10)
        assert not fd.message(request.id).buttons()

        def expired() -> list[StoredMessage]:
            return [m for m in fd.messages(world.channel()) if "expired" in m.content]

        await fd.wait_until(lambda: bool(expired()), timeout=5)
        assert f"<@{world.bob.id}>" in expired()[0].content
        # A click that raced the expiry (the buttons were still shown) is told so.
        first = fd.message(request.id).history[0]
        key = first["components"][0]["components"][0]["custom_id"].split(":")[-1]
        with pytest.raises(InputError, match="already expired"):
            await bot.approvals.approve(key, world.mia.id, True)
    assert len(world.sim.trainings) == 0
    world.assert_clean()


async def test_a_reason_typed_while_another_manager_approved_changes_nothing(
    world: World,
) -> None:
    """Two managers: one opens the reject form, the other approves meanwhile; the form's submit
    is told the request was approved, and the training stands. An empty reason reads as such,
    and a form opened before a restart is still answered after it."""
    fd = world.fd
    async with fd.running(make_bot(world, SD35L_APPROVAL_ABOVE="0.01")):
        racing = await request_for(world, world.alice)
        form = await fd.click(racing, label="Reject", user=world.mia)
        await form.wait_response()
        approve = await fd.click(racing, label="Approve", user=world.mia)
        await approve.wait_text("started", timeout=20)
        late = await fd.submit_modal(form, {"Reason": "too expensive"})
        await late.wait_text("already approved")
        assert len(world.sim.trainings) == 1
        assert "Approved by" in fd.message(racing.id).text()
        assert not [m for m in fd.messages(world.channel()) if "was rejected" in m.content]

        quiet = await request_for(world, world.bob)
        form = await fd.click(quiet, label="Reject", user=world.mia)
        await form.wait_response()
    async with fd.running(make_bot(world, SD35L_APPROVAL_ABOVE="0.01")):  # a restart
        # The form's submitter is checked at submit: a member who is no manager changes nothing.
        sent = await fd.submit_modal(form, {}, user=world.bob)
        await sent.wait_text("manager role")
        assert quiet.id in {m.id for m in fd.messages(world.channel()) if m.buttons()}
        sent = await fd.submit_modal(form, {})
        await sent.wait_text("Rejected; the owner was told why")
        await fd.wait_until(
            lambda: any(
                "was rejected" in m.content and f"<@{world.bob.id}>" in m.content
                for m in fd.messages(world.channel())
            ),
            timeout=5,
        )
        line = [m for m in fd.messages(world.channel()) if "no reason given" in m.content]
        assert line and f"<@{world.bob.id}>" in line[0].content
    assert len(world.sim.trainings) == 1
    world.assert_clean()


async def test_usage_adds_up_to_the_cent_with_chart_and_loss_curve(world: World) -> None:
    fd = world.fd
    async with fd.running(make_bot(world, SD35L_BUDGET_USER_MONTHLY="25")) as bot:
        ids = [await start(world, world.alice, steps=60), await start(world, world.bob)]
        world.sim.faults.outcome = "failed"
        ids.append(await start(world, world.alice, steps=80))
        world.sim.faults.outcome = "succeeded"
        for tid in ids:
            await wait_ended(world, bot, tid)
        rows = {tid: await bot.store.trainings.get(tid) for tid in ids}
        cents = {tid: cents_of(r.predict_time) for tid, r in rows.items()}  # type: ignore[union-attr,arg-type]
        alice = cents[ids[0]] + cents[ids[2]]
        bob = cents[ids[1]]

        res = await fd.slash("usage", {}, user=world.mia)
        answer = await res.wait_original(lambda m: "Spend in" in m.text(), timeout=20)
        text = answer.text()
        assert answer.ephemeral
        assert f"{format_cents(alice + bob)} (no cap) · 3 training(s), 1 failed" in text
        assert f"({format_cents(cents[ids[2]])} lost)" in text
        assert f"<@{world.alice.id}>: {format_cents(alice)} of $25.00" in text
        assert f"<@{world.bob.id}>: {format_cents(bob)} of $25.00" in text
        assert f"{format_cents(2500 - alice)} left" in text
        assert "Over 2 ended training(s)" in text  # the failed run says nothing about estimates
        # Estimate vs actual of the two succeeded runs, from their ledger rows.
        ran = [(e.estimate_low_cents, e.estimate_high_cents, e.actual_cents or 0) for e in [
            await bot.budget.ledger.get(tid) for tid in ids[:2]] if e is not None]  # fmt: skip
        off = [abs((low + high) / 2 - actual) / actual for low, high, actual in ran]
        inside = sum(low <= actual <= high for low, high, actual in ran)
        assert f"off by {sum(off) / 2:.0%} on average; {inside} of 2 cost within the range" in text
        width, height = png_size(attachment_bytes(world, answer, ".png"))
        assert width > 300 and height > 200

        # A member sees the team and themselves only, and not others on request.
        own = await fd.slash("usage", {}, user=world.bob)
        mine = (await own.wait_original(lambda m: "Spend in" in m.text(), timeout=20)).text()
        assert f"<@{world.bob.id}>" in mine and f"<@{world.alice.id}>" not in mine
        nosy = await fd.slash("usage", {"user": world.alice}, user=world.bob)
        await nosy.wait_text("Only managers")
        bad = await fd.slash("usage", {"month": "2026-13"}, user=world.bob)
        await bad.wait_text("YYYY-MM")
        empty = await fd.slash("usage", {"month": "2020-01"}, user=world.mia)
        assert "$0.00" in (await empty.wait_original(lambda m: "Spend in" in m.text())).text()

        # The succeeded training's notice and card carry its loss curve.
        await fd.wait_until(lambda: any(m.attachments for m in fd.dms(world.alice)), timeout=10)
        dm = next(m for m in fd.dms(world.alice) if m.attachments)
        curve = attachment_bytes(world, dm, f"loss-curve-{ids[0]}.png")
        assert png_size(curve)[0] > 300
        assert dm.embeds[0]["image"]["url"].endswith(f"loss-curve-{ids[0]}.png")
        card = next(c for c in world.cards() if ids[0] in c.text())
        await fd.wait_until(lambda: bool(fd.message(card.id).attachments), timeout=10)
        assert png_size(attachment_bytes(world, fd.message(card.id), ".png"))[1] > 200
    world.assert_clean()


async def test_an_attached_dataset_waits_for_approval_and_uploads_once(world: World) -> None:
    """The pack of /train dataset: outlives the half-hour a preview keeps it while a manager
    has not decided; nothing is uploaded before Approve; a rejected request drops the pack."""
    fd = world.fd
    datasets = world.tmp / "data" / "datasets"
    options = {"destination": "alice/lora", "trigger_word": TRIGGER, "steps": 40}
    archive = ("shoot.zip", zip_of(dataset_files(2)))
    async with fd.running(make_bot(world, SD35L_APPROVAL_ABOVE="0.01")) as bot:
        for _ in "ab":
            res = await fd.slash("train", options, user=world.alice, attachments=[archive])
            shown = await res.wait_original(has_button("Start"), timeout=20)
            click = await fd.click(shown, label="Start", user=world.alice)
            await click.wait_original(lambda m: "Asked the managers" in m.content, timeout=10)
        first, second = [m for m in fd.messages(world.channel()) if has_button("Approve")(m)]
        assert "2 usable images" in first.text()
        assert bot.jobs.datasets.sweep(now=time.time() + 2 * 3600) == 0  # held, not swept
        assert len(list(datasets.glob("*.zip"))) == 2 and not world.sim.files

        reject = await fd.click(second, label="Reject", user=world.mia)
        await reject.wait_response()
        await (await fd.submit_modal(reject, {})).wait_text("Rejected")
        assert len(list(datasets.glob("*.zip"))) == 1  # the rejected request's pack is gone
        approve = await fd.click(first, label="Approve", user=world.mia)
        await approve.wait_text("started", timeout=20)
        (training,) = world.sim.trainings.values()
        assert training["input"]["input_images"].startswith(f"{world.sim.base_url}/v1/files/")
        entry = await bot.budget.ledger.get(training["id"])
        assert entry is not None and entry.images == 2  # carried by the request to the ledger
        assert list(datasets.glob("*.zip")) == []
    world.assert_clean()


async def test_usage_open_lets_every_member_see_everyone(world: World) -> None:
    """SD35L_USAGE_OPEN=1: the team allows more, so a member sees each member's spend."""
    fd = world.fd
    async with fd.running(make_bot(world, SD35L_USAGE_OPEN="1")) as bot:
        ids = [await start(world, world.alice), await start(world, world.bob)]
        for tid in ids:
            await wait_ended(world, bot, tid)
        res = await fd.slash("usage", {}, user=world.bob)
        text = (await res.wait_original(lambda m: "Spend in" in m.text(), timeout=20)).text()
        assert f"<@{world.bob.id}>" in text and f"<@{world.alice.id}>" in text
        other = await fd.slash("usage", {"user": world.alice}, user=world.bob)
        theirs = (await other.wait_original(lambda m: "Spend in" in m.text(), timeout=20)).text()
        assert f"<@{world.alice.id}>" in theirs and "Only managers" not in theirs
    world.assert_clean()


async def test_requests_awaiting_approval_hold_back_the_budget_until_decided(world: World) -> None:
    """A pending request counts at its high estimate against a NEW Start (preview, Start and
    /usage say "awaiting approval"), and is counted once, as its training, at Approve."""
    fd = world.fd
    high = high_cents(world)
    env = {"SD35L_APPROVAL_ABOVE": "0.01", "SD35L_BUDGET_USER_MONTHLY": f"{(high + 1) / 100}"}
    async with fd.running(make_bot(world, **env)) as bot:
        first = await request_for(world, world.alice)  # room for exactly this one
        second = await preview(world, world.alice)
        text = second.text()
        assert "SD35L_BUDGET_USER_MONTHLY" in text and not has_button("Start")(second)
        assert f"already spent $0.00 in {month_of(utcnow())} plus {format_cents(high)} " in text
        assert "awaiting approval, so $0.01 is left" in text
        assert "Nothing was submitted" in text
        # Bob's budget is his own: his request is not held back by Alice's.
        assert has_button("Start")(await preview(world, world.bob))

        res = await fd.slash("usage", {}, user=world.alice)
        mine = (await res.wait_original(lambda m: "Spend in" in m.text(), timeout=20)).text()
        assert f"{format_cents(high)} awaiting approval (1 request(s)" in mine
        assert "$0.01 left" in mine

        # Approve re-checks the budget without counting the request twice: it fits exactly.
        approve = await fd.click(first, label="Approve", user=world.mia)
        await approve.wait_text("started", timeout=20)
        (tid,) = list(world.sim.trainings)
        entry = await bot.budget.ledger.get(tid)
        assert entry is not None and entry.owner_id == world.alice.id
        assert entry.estimate_high_cents == high
        assert await bot.budget.ledger.awaiting_approval() == {}
        # Now it is a training (held at its high estimate, or its actual cost once it ended):
        # counted as spent, no more as awaiting approval.
        again = (await preview(world, world.alice)).text()
        assert "SD35L_BUDGET_USER_MONTHLY" in again and "awaiting approval" not in again
    world.assert_clean()


async def test_an_ending_without_billed_time_counts_as_unknown_until_a_later_read(
    world: World,
) -> None:
    """Replicate's answer for an ended training has no metrics.predict_time: the cost is unknown,
    not $0. It weighs its high estimate on the budget and /usage says it is unknown, until a
    later read (here the tracker of the restarted bot) reports the billed time."""
    fd = world.fd
    high = high_cents(world)
    month = month_of(utcnow())
    world.sim.faults.withhold_metrics = True
    async with fd.running(make_bot(world, SD35L_BUDGET_USER_MONTHLY="25")) as bot:
        tid = await start(world, world.alice)
        await wait_ended(world, bot, tid)
        entry = await bot.budget.ledger.get(tid)
        assert entry is not None and entry.status == "succeeded"
        assert entry.actual_cents is None and entry.cost_unknown and entry.counted_cents == high
        assert await bot.budget.ledger.spent_cents(month, world.alice.id) == high
        row = await bot.store.trainings.get(tid)
        assert row is not None and row.cost_cents is None and row.predict_time is None

        res = await fd.slash("usage", {}, user=world.mia)
        text = (await res.wait_original(lambda m: "Spend in" in m.text(), timeout=20)).text()
        assert f"<@{world.alice.id}>: {format_cents(high)} of $25.00" in text
        assert "1 ended with cost unknown" in text and "$0.00 of $25.00" not in text
        assert "Over 1 ended training" not in text  # an unknown cost says nothing of estimates

    world.sim.faults.withhold_metrics = False  # Replicate reports it now
    async with fd.running(make_bot(world, SD35L_BUDGET_USER_MONTHLY="25")) as bot:
        for _ in range(1200):
            entry = await bot.budget.ledger.get(tid)
            if entry is not None and not entry.cost_unknown:
                break
            await asyncio.sleep(0.025)
        row = await bot.store.trainings.get(tid)
        assert row is not None and row.predict_time is not None
        spent = cents_of(row.predict_time)
        assert entry is not None and entry.actual_cents == spent == row.cost_cents
        assert await bot.budget.ledger.spent_cents(month, world.alice.id) == spent
        res = await fd.slash("usage", {}, user=world.mia)
        text = (await res.wait_original(lambda m: "Spend in" in m.text(), timeout=20)).text()
        assert f"<@{world.alice.id}>: {format_cents(spent)} of $25.00" in text
        assert "cost unknown" not in text
    assert len([m for m in fd.dms(world.alice) if m.embeds]) == 1  # one notice, not two
    world.assert_clean()
