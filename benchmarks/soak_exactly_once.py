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

from measure import print_machine  # noqa: E402

from bot.sim import ReplicateSimulator  # noqa: E402
from tests.cli_support import TOKEN, dataset_zip  # noqa: E402
from tests.crash_support import BotProcess, kill_leftovers, poll  # noqa: E402
from tests.dataset_corpus import CorpusServer  # noqa: E402
from tests.fakediscord import FakeDiscord, StoredMessage  # noqa: E402

POINTS = ("start-recorded", "create-answered", "card-posted", "ending-stored", "notice-sent")


def trigger_of(user: int, index: int) -> str:
    letters = "ABCDEFGHJK"
    return f"ZXQ{letters[user]}{index:02d}T"


async def start_one(world: Any, fd: FakeDiscord, user: Any, trigger: str) -> bool:
    """/train then Start; False when the bot died before the click was acknowledged."""
    options = {
        "dataset_url": world.data.url("/range/good.zip"),
        "destination": "alice/lora",  # a model the simulator has
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
    click = await fd.click(preview, label="Start", user=user)
    try:
        await click.wait_response(timeout=5)  # acknowledged: the member saw it accepted
    except TimeoutError:
        return False  # never reached a live bot; Discord shows "interaction failed"
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


class Soak:
    """The world (fake Discord, simulator, dataset host), the bot processes and the record."""

    def __init__(self, args: argparse.Namespace, fd: FakeDiscord) -> None:
        self.args = args
        self.fd = fd
        self.rng = random.Random(args.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="sd35l-soak-"))
        fd.nonce_window = 1.0  # Discord forgets a nonce after "a few minutes": here, 1 s
        self.guild = fd.add_guild("soak")
        self.users = [  # the last member has DMs closed: notices go to the channel
            fd.add_member(self.guild, name=f"user{i}", dms_closed=(i == args.users - 1))
            for i in range(args.users)
        ]
        self.sim = ReplicateSimulator(token=TOKEN, step_seconds=0.01, start_delay=0.05)
        self.data = CorpusServer(files={"good.zip": dataset_zip()})
        self.kills: Counter[str] = Counter()
        self.clicked: dict[str, int] = {}  # trigger word -> the member who clicked its Start
        self.runs = 0

    async def setup(self) -> Any:
        await self.sim.start()
        await self.data.start()
        env = {
            "REPLICATE_API_TOKEN": TOKEN,
            "REPLICATE_BASE_URL": self.sim.base_url,
            "DISCORD_TOKEN": self.fd.token,
            "SD35L_DATABASE": str(self.tmp / "bot.sqlite"),
            "SD35L_GUILD_IDS": str(self.guild.id),
            "SD35L_POLL_INTERVAL": 0.2,
            "SD35L_ALLOW_PRIVATE_URLS": True,
            "SD35L_POLICY_STEPS": "3-6000",
            "SD35L_MAX_ACTIVE_PER_USER": 100,
        }
        return SimpleNamespace(fd=self.fd, env=env, tmp=self.tmp, data=self.data)

    async def teardown(self) -> None:
        await self.data.stop()
        await self.sim.stop()

    async def one_run(self, world: Any, point: str) -> None:
        """Start a bot that dies at `point`, click a few Starts, wait for the death."""
        self.runs += 1
        bot = await BotProcess(world, f"run{self.runs}").start(
            crash_at=point, crash_after=self.rng.randint(0, 2), nonce_trust=1.0
        )
        sim, faults = self.sim, self.args.faults
        for _ in range(self.rng.randint(3, 5)):
            if len(self.clicked) >= self.args.trainings or bot.exited:
                break
            who = self.rng.randrange(self.args.users)
            trigger = trigger_of(who, len(self.clicked))
            if len(self.clicked) % 5 == 4:  # Replicate makes it but the answer is lost
                sim.faults.create_timeouts = 1
                sim.faults.create_timeout_mode = "close"
            sim.faults.read_failure_rate = 0.0  # the previews' dataset checks are not the point
            if await start_one(world, self.fd, self.users[who], trigger):
                self.clicked[trigger] = self.users[who].id
            sim.faults.read_failure_rate = faults
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        sim.faults.read_failure_rate = faults
        with contextlib.suppress(TimeoutError):
            await bot.killed(timeout=8)
        if bot.exited:
            self.kills[point] += 1
        else:
            assert bot.proc is not None
            bot.proc.kill()
            await bot.proc.wait()
            self.kills["blind"] += 1
        if self.rng.random() < 0.5:
            await asyncio.sleep(1.5)  # this restart comes after Discord forgot the nonces

    def db_rows(self, sql: str) -> list[Any]:
        with contextlib.closing(sqlite3.connect(self.tmp / "bot.sqlite")) as db:
            return db.execute(sql).fetchall()

    def settled(self) -> bool:
        """No open Start, nobody untold, nothing running, no notice owed."""
        checks = (
            "SELECT COUNT(*) FROM pending_submissions WHERE outcome IS NULL",
            "SELECT COUNT(*) FROM pending_submissions WHERE outcome IS NOT NULL "
            "AND told_at IS NULL",
            "SELECT COUNT(*) FROM trainings "
            "WHERE status NOT IN ('succeeded','failed','canceled','aborted')",
            "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL",
        )
        return sum(self.db_rows(sql)[0][0] for sql in checks) == 0

    def report(self, elapsed: float) -> None:
        rows = {
            r[0]: (r[1], r[2])
            for r in self.db_rows("SELECT id, owner_id, trigger_word FROM trainings")
        }
        made = {tid: t["input"].get("trigger_word") for tid, t in self.sim.trainings.items()}
        per_start = Counter(made.values())
        lost = [tid for tid in made if tid not in rows]
        duplicated = [t for t, n in per_start.items() if n > 1]
        wrong = [tid for tid, (owner, trig) in rows.items() if self.clicked.get(trig) != owner]
        channel = self.fd.messages(self.fd.default_channel())
        cards = Counter(
            m.embeds[0]["title"].split()[-1]
            for m in channel
            if m.embeds and m.embeds[0].get("title", "").startswith("LoRA training")
        )
        notices = notices_by_training(self.fd, self.users)
        interrupted = [t for t in self.clicked if t not in per_start]
        told = told_starts(self.fd, self.users)
        creates = sum(
            1 for r in self.sim.requests if r.method == "POST" and r.path.endswith("/trainings")
        )
        told_once = sum(1 for t in interrupted if told.get(t) == 1)
        told_twice = sum(1 for t in interrupted if told.get(t, 0) > 1)
        by_point = ", ".join(f"{k} {v}" for k, v in sorted(self.kills.items()))
        a = self.args
        print(
            f"soak: {len(self.clicked)} Starts by {a.users} members, {a.faults:.0%} read "
            f"faults, seed {a.seed}, {elapsed:.0f} s"
        )
        print(f"bot processes: {self.runs + 1}; SIGKILLs: {sum(self.kills.values())} ({by_point})")
        print(f"Replicate requests: {len(self.sim.requests)}; creates sent: {creates}")
        print(f"trainings made on Replicate: {len(made)}; tracked by the bot: {len(rows)}")
        print(f"lost (made, not tracked): {len(lost)}")
        print(f"duplicated (more than one training for one Start): {len(duplicated)}")
        print(f"wrong owner: {len(wrong)}")
        print(f"cards per training: {dist(cards, list(rows))} (target: 1 for all)")
        print(f"notices per ended training: {dist(notices, list(rows))} (target: 1 for all)")
        print(
            f"Starts interrupted before a training existed: {len(interrupted)}; told once: "
            f"{told_once}; twice: {told_twice}; "
            f"not told: {len(interrupted) - told_once - told_twice}"
        )
        print(f"Discord nonce repeats answered with the earlier message: {self.fd.nonce_hits}")
        print(f"logs: {self.tmp}")


def dist(counter: Counter[str], ids: list[str]) -> str:
    shape = Counter(counter.get(i, 0) for i in ids)
    return ", ".join(f"{n} trainings with {k}" for k, n in sorted(shape.items())) or "none"


async def run(args: argparse.Namespace) -> None:
    print_machine()
    async with FakeDiscord() as fd:
        soak = Soak(args, fd)
        world = await soak.setup()
        began = time.monotonic()
        points = list(POINTS)
        while len(soak.clicked) < args.trainings:
            await soak.one_run(world, points[soak.runs % len(points)])
        last = await BotProcess(world, "final").start(nonce_trust=1.0)
        await poll(soak.settled, 300, "everything settled")
        await asyncio.sleep(1.5)  # a last round: anything sent twice would show now
        await last.stop()
        soak.report(time.monotonic() - began)
        await soak.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=30)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--faults", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    try:
        asyncio.run(run(parser.parse_args()))
    finally:
        kill_leftovers()


if __name__ == "__main__":
    main()
