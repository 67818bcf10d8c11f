"""Soak: exactly once while the bot process is killed at the worst moments.

    python benchmarks/soak_exactly_once.py [--trainings 30] [--users 5] [--faults 0.3] [--seed 7]

The real bot runs as its own process (tests/crashbot.py) against the fake Discord and the
Replicate simulator on loopback in this process. `--users` members start `--trainings`
trainings through /train -> Start, each with its own trigger word (so every training can be
traced to the member who clicked). Replicate answers `--faults` of all reads with 429/5xx, and
every fifth create makes the training but never answers. The bot process is SIGKILLed at each
named crash point in turn (a Start recorded but not sent, a create answered but not stored, a
card posted but not recorded, an ending stored but not told, a notice stored by Discord but not
marked), plus a blind kill when a point is not reached; then restarted on the same database.
At the end a last, uncrashed process settles everything.

Printed: kills by point, trainings made on Replicate, tracked, lost (made, not tracked),
duplicated (two trainings for one Start), wrong owner, cards and notices per training, and
Starts interrupted before a training existed with how many were told. No assertions; the
target is 0 lost, 0 duplicated, 0 wrong owner, exactly one card and one notice per ending,
every interrupted Start told.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.sim import ReplicateSimulator  # noqa: E402
from tests.cli_fixtures import TOKEN, dataset_zip  # noqa: E402
from tests.crash_fixtures import BotProcess, poll  # noqa: E402
from tests.dataset_corpus import CorpusServer  # noqa: E402
from tests.fakediscord import FakeDiscord, StoredMessage  # noqa: E402

POINTS = ("start-recorded", "create-answered", "card-posted", "ending-stored", "notice-sent")


def trigger_of(user: int, index: int) -> str:
    letters = "ABCDEFGHJK"
    return f"ZXQ{letters[user]}{index:02d}T"


async def start_one(world: Any, fd: FakeDiscord, user: Any, trigger: str) -> bool:
    """/train then Start; False when the bot died before the preview came back."""
    options = {
        "dataset_url": world.data.url("/range/good.zip"),
        "destination": "team/lora",
        "trigger_word": trigger,
        "steps": 60,
    }
    res = await fd.slash("train", options, user=user)
    try:
        preview = await res.wait_original(
            lambda m: any("Start" in (b.get("label") or "") for b in m.buttons()), timeout=20
        )
    except TimeoutError:
        return False
    await fd.click(preview, label="Start", user=user)
    return True


def told_messages(fd: FakeDiscord, users: list[Any]) -> list[StoredMessage]:
    """What members were told: DMs, and channel mentions when DMs are closed."""
    seen: list[StoredMessage] = []
    for user in users:
        seen += fd.dms(user)
    return seen + [m for m in fd.messages(fd.default_channel()) if m.content.startswith("<@")]


def notices_by_training(fd: FakeDiscord, users: list[Any]) -> Counter[str]:
    """'Training <id> <status>' messages per training id."""
    found: Counter[str] = Counter()
    for m in told_messages(fd, users):
        title = m.embeds[0].get("title", "") if m.embeds else ""
        if title.startswith("Training "):
            found[title.split()[1]] += 1
    return found


def told_starts(fd: FakeDiscord, users: list[Any]) -> Counter[str]:
    """Interrupted-start messages per trigger word (field 'Trigger word')."""
    found: Counter[str] = Counter()
    for m in told_messages(fd, users):
        title = m.embeds[0].get("title", "") if m.embeds else ""
        if title.startswith("Your training"):
            for f in m.embeds[0].get("fields", []):
                if f["name"] == "Trigger word":
                    found[f["value"].strip("`")] += 1
    return found


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="sd35l-soak-"))
    async with FakeDiscord() as fd:
        fd.nonce_window = 1.0  # Discord forgets a nonce after "a few minutes": here, 1 s
        guild = fd.add_guild("soak")
        users = [
            fd.add_member(guild, name=f"user{i}", dms_closed=(i == 4)) for i in range(args.users)
        ]
        sim = ReplicateSimulator(token=TOKEN, step_seconds=0.01, start_delay=0.05)
        await sim.start()
        data = CorpusServer(files={"good.zip": dataset_zip()})
        await data.start()
        env = {
            "REPLICATE_API_TOKEN": TOKEN,
            "REPLICATE_BASE_URL": sim.base_url,
            "DISCORD_TOKEN": fd.token,
            "SD35L_DATABASE": str(tmp / "bot.sqlite"),
            "SD35L_GUILD_IDS": str(guild.id),
            "SD35L_POLL_INTERVAL": 0.2,
            "SD35L_ALLOW_PRIVATE_URLS": True,
            "SD35L_POLICY_STEPS": "3-6000",
            "SD35L_MAX_ACTIVE_PER_USER": 100,
        }
        world = SimpleNamespace(fd=fd, env=env, tmp=tmp, data=data)
        began = time.monotonic()
        kills: Counter[str] = Counter()
        clicked: dict[str, int] = {}
        index, run_no = 0, 0
        point_cycle = list(POINTS) * 2
        while index < args.trainings:
            point = point_cycle[run_no % len(point_cycle)]
            run_no += 1
            bot = await BotProcess(world, f"run{run_no}").start(  # type: ignore[arg-type]
                crash_at=point, crash_after=rng.randint(0, 2), nonce_trust=1.0
            )
            sim.faults.read_failure_rate = 0.0  # the previews' checks are not the point
            for _ in range(rng.randint(3, 5)):
                if index >= args.trainings or bot.exited:
                    break
                who = rng.randrange(args.users)
                trigger = trigger_of(who, index)
                if index % 5 == 4:
                    sim.faults.create_timeouts = 1
                    sim.faults.create_timeout_mode = "close"
                if await start_one(world, fd, users[who], trigger):
                    clicked[trigger] = users[who].id
                    index += 1
                sim.faults.read_failure_rate = args.faults
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                sim.faults.read_failure_rate = 0.0
            sim.faults.read_failure_rate = args.faults
            with contextlib.suppress(TimeoutError):
                await bot.killed(timeout=8)
            if not bot.exited:
                assert bot.proc is not None
                bot.proc.kill()
                await bot.proc.wait()
                kills["(blind kill)"] += 1
            else:
                kills[point] += 1
            if rng.random() < 0.5:
                await asyncio.sleep(1.5)  # some restarts come after Discord forgot the nonce
        sim.faults.read_failure_rate = args.faults
        last = await BotProcess(world, "final").start(nonce_trust=1.0)

        def db_rows(sql: str) -> list[Any]:
            with contextlib.closing(sqlite3.connect(env["SD35L_DATABASE"])) as db:
                return db.execute(sql).fetchall()

        def settled() -> bool:
            """No open Start, nobody untold, nothing running, no notice owed."""
            checks = (
                "SELECT COUNT(*) FROM pending_submissions WHERE outcome IS NULL",
                "SELECT COUNT(*) FROM pending_submissions WHERE outcome IS NOT NULL "
                "AND told_at IS NULL",
                "SELECT COUNT(*) FROM trainings "
                "WHERE status NOT IN ('succeeded','failed','canceled','aborted')",
                "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL",
            )
            return sum(db_rows(sql)[0][0] for sql in checks) == 0

        await poll(settled, 180, "everything settled")
        await asyncio.sleep(2 * 0.2 + 1)
        await last.stop()
        elapsed = time.monotonic() - began

        rows = {
            r[0]: (r[1], r[2]) for r in db_rows("SELECT id, owner_id, trigger_word FROM trainings")
        }
        made = {tid: t["input"].get("trigger_word") for tid, t in sim.trainings.items()}
        per_trigger = Counter(made.values())
        lost = [tid for tid in made if tid not in rows]
        duplicated = [t for t, n in per_trigger.items() if n > 1]
        wrong = [tid for tid, (owner, trig) in rows.items() if clicked.get(trig) != owner]
        cards = Counter(
            m.embeds[0]["title"].split()[-1]
            for m in fd.messages(fd.default_channel())
            if m.embeds and m.embeds[0].get("title", "").startswith("LoRA training")
        )
        notices = notices_by_training(fd, users)
        interrupted = [t for t in clicked if t not in per_trigger]
        told = told_starts(fd, users)
        await data.stop()
        await sim.stop()

    def dist(counter: Counter[str], ids: list[str]) -> str:
        shape = Counter(counter.get(i, 0) for i in ids)
        return ", ".join(f"{n} for {k}" for k, n in sorted(shape.items()))

    ended = list(rows)
    creates = sum(1 for r in sim.requests if r.method == "POST" and r.path.endswith("/trainings"))
    by_point = ", ".join(f"{k} {v}" for k, v in sorted(kills.items()))
    told_once = sum(1 for t in interrupted if told.get(t) == 1)
    told_twice = sum(1 for t in interrupted if told.get(t, 0) > 1)
    untold = len(interrupted) - told_once - told_twice
    print(
        f"soak: {args.trainings} Starts by {args.users} members, {args.faults:.0%} read faults, "
        f"seed {args.seed}, {elapsed:.0f} s"
    )
    print(f"bot processes: {run_no + 1}; SIGKILLs: {sum(kills.values())} ({by_point})")
    print(f"Replicate requests: {len(sim.requests)}; creates sent: {creates}")
    print(f"trainings made on Replicate: {len(made)}; tracked by the bot: {len(rows)}")
    print(f"lost (made, not tracked): {len(lost)}")
    print(f"duplicated (more than one training for one Start): {len(duplicated)}")
    print(f"wrong owner: {len(wrong)}")
    print(f"cards per training: {dist(cards, ended)} (target: 1 for all)")
    print(f"notices per ended training: {dist(notices, ended)} (target: 1 for all)")
    print(
        f"Starts interrupted before a training existed: {len(interrupted)}; told once: "
        f"{told_once}; told twice: {told_twice}; not told: {untold}"
    )
    print(f"Discord nonce repeats answered with the earlier message: {fd.nonce_hits}")
    print(f"logs: {tmp}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=30)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--faults", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
