"""Benchmark: Replicate requests spent on one training, from the /train preview to the download.

    python benchmarks/lifecycle_requests.py [--polls 10]

Two front ends, each against a fresh Replicate simulator (requests recorded by the simulator,
and by the gateway's `requests_made` counter where the gateway is ours to read):

1. The bot's path, with the core pieces the bot is built on (a real `ReplicateGateway`, `Store`,
   `JobService` and `Tracker` with a do-nothing notifier): the /train preview checks (token,
   destination model, trainer input schema - twice, since the schema is cached per process),
   the submit, tracker rounds until the training has been polled `--polls` times (it is ended
   with `sim.finish` just before the last poll, so the count is exact), three idle rounds after
   the end, then `sd35l-trainer download`'s work (`get_training` + `fetch_weights`).
   The same with the real bot (`bot.app.create_bot()`) on the fake Discord (tests/fakediscord):
   /train (dataset on a loopback host), Start, tracker rounds every 0.1 s until the owner's DM.
2. `sd35l-trainer train --wait --yes --skip-dataset-check` as a subprocess (the dataset host is
   not Replicate), ended the same way after `--polls` polls; it downloads the weights itself.

Printed: the machine, requests per phase and per endpoint, and the total as "fixed + polls",
with the share of Replicate's limits one training takes (600/min for creates, 3000/min for
everything else). The core path runs `--repeats` times (min / median / max of its total: counts
do not depend on the machine's speed, so they should agree). The weights
download goes to the file host (`replicate.delivery` in production), not to the API: it is
listed but not counted against the API limits. Nothing is asserted; exit 0 unless a run breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import measure  # noqa: E402
from measure import spread  # noqa: E402

from bot.sim import ReplicateSimulator, SimulatorThread  # noqa: E402

TOKEN = "r8_" + "sim" * 10
DESTINATION = "alice/lora"
DATASET = "https://example.com/data/my-dataset.zip"
PRODUCTION_INTERVAL = 30.0
RATE_LIMIT = 3000.0  # Replicate's limit per minute for everything but creates
CREATE_LIMIT = 600.0  # and for creates
TYPICAL_HOURS = 1.0  # a 1000-2000 step SD3.5-Large run takes about an hour (docs/trainer.md)


def is_api(name: str) -> bool:
    return " /v1/" in name


def is_poll(name: str) -> bool:
    return name == "GET /v1/trainings/{id}"


class Phases:
    """Slices of `sim.requests` (and of the gateway counter) per named phase."""

    def __init__(self, sim: ReplicateSimulator, gateway: Any = None) -> None:
        self.sim = sim
        self.gateway = gateway
        self.rows: list[tuple[str, Counter[str], int | None]] = []
        self._mark = (0, 0)

    def start(self) -> None:
        made = self.gateway.requests_made if self.gateway is not None else 0
        self._mark = (len(self.sim.requests), made)

    def end(self, name: str) -> None:
        first, made = self._mark
        seen = Counter(r.endpoint for r in self.sim.requests[first:])
        counted = None if self.gateway is None else self.gateway.requests_made - made
        self.rows.append((name, seen, counted))
        self.start()


async def wait_polls(sim: ReplicateSimulator, training_id: str, count: int) -> None:
    path = f"/v1/trainings/{training_id}"
    while sum(1 for r in sim.requests if r.method == "GET" and r.path == path) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.005)


# -- 1. the bot's path --------------------------------------------------------------------------


class QuietNotifier:
    """Discord stand-in: accepts every card edit and notice."""

    def __init__(self) -> None:
        self.notices = 0

    async def update_card(self, row: Any) -> Any:
        from bot.core.jobs.tracker import CardResult

        return CardResult.OK

    async def deliver_notice(self, row: Any, notice: Any) -> bool:
        self.notices += 1
        return True


async def bot_path(polls: int) -> tuple[list[tuple[str, Counter[str], int | None]], int]:
    from bot.cli.jobs import fetch_weights
    from bot.core.config.model import resolve_config, to_trainer_input
    from bot.core.jobs.service import JobService
    from bot.core.jobs.tracker import Tracker
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.settings import load_settings
    from bot.core.store.db import Store

    sim = ReplicateSimulator(
        token=TOKEN, step_seconds=0.05, start_delay=0.01, models=(DESTINATION,)
    )
    await sim.start()
    with tempfile.TemporaryDirectory(prefix="sd35l-bench-life-") as tmp:
        settings = load_settings(
            REPLICATE_API_TOKEN=TOKEN,
            REPLICATE_BASE_URL=sim.base_url,
            SD35L_DATABASE=str(Path(tmp) / "bot.sqlite"),
            SD35L_POLL_INTERVAL=PRODUCTION_INTERVAL,
        )
        store = await Store.open(settings.database)
        gateway = ReplicateGateway(settings)
        jobs = JobService(store, gateway, settings)
        notifier = QuietNotifier()
        tracker = Tracker(jobs, store, notifier, settings)
        resolved = resolve_config(
            cli={
                "dataset_url": DATASET,
                "destination": DESTINATION,
                "trigger_word": "ZXQTOK",
                "steps": 1500,
            },
            settings=settings,
        )
        phases = Phases(sim, gateway)
        try:
            for label in ("first /train in the process", "later /train"):
                phases.start()
                await gateway.check_token()
                await gateway.destination_exists(DESTINATION)
                await gateway.check_inputs(to_trainer_input(resolved.config))
                phases.end(f"preview ({label})")
            row = await jobs.submit(1, 2, 3, resolved)
            await store.cards.set(row.id, 3, 4)
            phases.end("submit (Submit button)")
            for _ in range(polls - 1):
                await tracker.run_once()
            await wait_polls(sim, row.id, polls - 1)
            sim.finish(row.id, "succeeded")
            await tracker.run_once()
            phases.end(f"tracker rounds ({polls} polls; the last sees the end)")
            for _ in range(3):
                await tracker.run_once()
            phases.end("3 tracker rounds after the end")
            training = await gateway.get_training(row.id)
            await fetch_weights(gateway, training, Path(tmp) / "out", force=False)
            phases.end("sd35l-trainer download")
        finally:
            await gateway.aclose()
            await store.close()
            await sim.stop()
    return phases.rows, notifier.notices


# -- 1b. the real bot on the fake Discord ------------------------------------------------------


async def real_bot_path(polls: int) -> tuple[list[tuple[str, Counter[str], int | None]], int]:
    """/train -> preview -> Start -> card -> tracker -> DM, with `bot.app.create_bot()`."""
    from bot.app import create_bot
    from bot.core.settings import load_settings
    from tests.cli_support import dataset_zip
    from tests.dataset_corpus import CorpusServer
    from tests.fakediscord import FakeDiscord

    sim = ReplicateSimulator(
        token=TOKEN, step_seconds=0.05, start_delay=0.01, models=(DESTINATION,)
    )
    await sim.start()
    data = CorpusServer(files={"good.zip": dataset_zip(trigger="ZXQTOK")})
    await data.start()
    try:
        with tempfile.TemporaryDirectory(prefix="sd35l-bench-life-") as tmp:
            async with FakeDiscord() as fd:
                guild = fd.add_guild("bench-guild")
                alice = fd.add_member(guild, name="alice")
                settings = load_settings(
                    REPLICATE_API_TOKEN=TOKEN,
                    REPLICATE_BASE_URL=sim.base_url,
                    DISCORD_TOKEN=fd.token,
                    SD35L_DATABASE=str(Path(tmp) / "data" / "bot.sqlite"),
                    SD35L_GUILD_IDS=str(guild.id),
                    SD35L_POLL_INTERVAL=0.1,
                    SD35L_ALLOW_PRIVATE_URLS=True,
                )
                bot = create_bot(settings)
                phases = Phases(sim)
                async with fd.running(bot):
                    phases.gateway = bot.gateway
                    await asyncio.sleep(0.5)  # start-up reconcile and the first rounds
                    phases.end("start-up (reconcile, idle tracker rounds)")
                    res = await fd.slash(
                        "train",
                        {
                            "dataset_url": data.url("/range/good.zip"),
                            "destination": DESTINATION,
                            "trigger_word": "ZXQTOK",
                            "steps": 1500,
                        },
                        user=alice,
                    )
                    preview = await res.wait_original(
                        lambda m: any("Start" in (b.get("label") or "") for b in m.buttons()),
                        timeout=30,
                    )
                    phases.end("/train preview (first in the process)")
                    click = await fd.click(preview, label="Start", user=alice)
                    started = await click.wait_original(
                        lambda m: "Started training" in m.content, timeout=30
                    )
                    training_id = started.content.split("`")[1]
                    await wait_polls(sim, training_id, polls - 1)
                    sim.finish(training_id, "succeeded")
                    await fd.wait_until(lambda: bool(fd.dms(alice)), timeout=30)
                    phases.end(f"Start + tracker until the DM ({polls} polls)")
                    await asyncio.sleep(0.5)
                    phases.end("idle tracker rounds after the end (0.5 s)")
                    dms = len(fd.dms(alice))
    finally:
        await data.stop()
        await sim.stop()
    return phases.rows, dms


# -- 2. the CLI's train --wait ------------------------------------------------------------------


def cli_path(polls: int) -> tuple[list[tuple[str, Counter[str], int | None]], float]:
    with (
        SimulatorThread(
            token=TOKEN, step_seconds=0.05, start_delay=0.01, models=(DESTINATION,)
        ) as sim,
        tempfile.TemporaryDirectory(prefix="sd35l-bench-life-") as tmp,
    ):
        env = {
            **os.environ,
            "REPLICATE_API_TOKEN": TOKEN,
            "REPLICATE_BASE_URL": sim.base_url,
            "SD35L_POLL_INTERVAL": "0.1",
            "SD35L_CONFIG_DIR": str(Path(tmp) / "config"),
            "PYTHONPATH": str(ROOT),
        }
        env.pop("WANDB_API_KEY", None)
        done = threading.Event()

        def finisher() -> None:
            """End the training just before its last poll, so it is polled exactly `polls` times."""
            while not done.is_set():
                ids = list(sim.records)
                if ids:
                    path = f"/v1/trainings/{ids[0]}"
                    seen = sum(
                        1 for r in list(sim.requests) if r.method == "GET" and r.path == path
                    )
                    if seen >= polls - 1:
                        sim.finish(ids[0], "succeeded")
                        return
                time.sleep(0.002)

        watcher = threading.Thread(target=finisher, daemon=True)
        watcher.start()
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from bot.cli import main; main()",
                "train",
                "--dataset-url",
                DATASET,
                "--destination",
                DESTINATION,
                "--trigger-word",
                "ZXQTOK",
                "--steps",
                "1500",
                "--wait",
                "--yes",
                "--skip-dataset-check",
                "--output-dir",
                str(Path(tmp) / "out"),
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
        if proc.returncode != 0:
            raise SystemExit(f"sd35l-trainer train failed ({proc.returncode}):\n{proc.stderr}")
        phases = Phases(sim)
        phases.end(f"sd35l-trainer train --wait ({polls} polls, then the download)")
        return phases.rows, seconds


# -- output -------------------------------------------------------------------------------------


def print_table(title: str, rows: list[tuple[str, Counter[str], int | None]]) -> int:
    """Print the phases; returns the API requests in all (without the weights download)."""
    print(f"\n{title}")
    total: Counter[str] = Counter()
    api_total = 0
    for name, seen, counted in rows:
        api = sum(n for e, n in seen.items() if is_api(e))
        api_total += api
        total.update(seen)
        gw = "" if counted is None else f"  (gateway counted {counted})"
        print(f"  {name:<60}{api:>4} API requests{gw}")
        for e, n in sorted(seen.items()):
            note = "" if is_api(e) else "   (file host, not the API)"
            print(f"      {e:<72}{n:>4}{note}")
    print(f"  {'total':<60}{api_total:>4} API requests")
    for e, n in sorted(total.items()):
        print(f"      {e:<72}{n:>4}")
    return api_total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=10, help="polls of the training (>= 2)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of the core bot path (counts must agree)"
    )
    args = parser.parse_args(argv)
    polls = max(2, args.polls)
    measure.print_machine()

    runs = [asyncio.run(bot_path(polls)) for _ in range(max(1, args.repeats))]
    rows, notices = runs[0]
    bot_total = print_table(f"Bot path, training polled {polls} times:", rows)
    totals = spread(
        float(sum(n for _, seen, _ in r for e, n in seen.items() if is_api(e))) for r, _ in runs
    )
    print(
        f"  core bot path over {len(runs)} runs: {totals.fmt('API requests', digits=0)} "
        f"(min / median / max; counts do not depend on the machine's speed)"
    )
    steady = sum(
        n
        for name, seen, _ in rows
        if not name.startswith("preview (first")
        for e, n in seen.items()
        if is_api(e)
    )
    print(f"  notices delivered: {notices} (target: exactly 1)")

    real_rows, dms = asyncio.run(real_bot_path(polls))
    real_total = print_table(
        f"The real bot (create_bot) on the fake Discord, training polled {polls} times:",
        real_rows,
    )
    print(f"  DMs to the owner: {dms} (target: exactly 1)")

    cli_rows, cli_seconds = cli_path(polls)
    cli_total = print_table(
        f"CLI `train --wait`, training polled {polls} times ({cli_seconds:.1f} s):", cli_rows
    )

    fixed_bot = steady - polls  # preview, create, the download's get_training
    fixed_cli = cli_total - polls
    hour_polls = int(TYPICAL_HOURS * 3600 / PRODUCTION_INTERVAL)
    cli_hour_polls = int(TYPICAL_HOURS * 3600 / min(PRODUCTION_INTERVAL, 5.0))
    print("\nSummary (API requests; the weights file host not counted)")

    def line(label: str, count: int, note: str) -> None:
        print(f"  {label:<46}{count:>5}  {note}")

    line(f"core bot path, {polls} polls", bot_total, f"({steady} with the schema cached)")
    line(
        "core bot path, per training",
        fixed_bot,
        "+ polls (preview 2, create 1, download's get 1; +1 schema per process)",
    )
    per_minute = (fixed_bot + hour_polls) / (TYPICAL_HOURS * 60)
    line(
        f"core bot path, {TYPICAL_HOURS:g} h training at {PRODUCTION_INTERVAL:g} s",
        fixed_bot + hour_polls,
        f"({per_minute:.1f}/min for that training = {per_minute / RATE_LIMIT:.5f}x the "
        f"{RATE_LIMIT:.0f}/min limit; creates {1 / (TYPICAL_HOURS * 60) / CREATE_LIMIT:.6f}x "
        f"the {CREATE_LIMIT:.0f}/min limit)",
    )
    line(
        f"trainings at once within {RATE_LIMIT:.0f}/min",
        int(RATE_LIMIT / per_minute),
        "(at the poll rate of one training)",
    )
    line(
        f"real bot /train + Start, {polls} polls",
        real_total,
        f"({real_total - polls} + polls: preview 3 incl. schema, create 1; no download)",
    )
    line(f"CLI train --wait, {polls} polls", cli_total, f"({fixed_cli} + polls)")
    cli_hour = fixed_cli + cli_hour_polls
    line(
        f"CLI train --wait, {TYPICAL_HOURS:g} h training (polls every 5 s)",
        cli_hour,
        f"({cli_hour / (TYPICAL_HOURS * 60):.1f}/min)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
