"""Benchmark: the background tracker with 200 active trainings - Replicate requests per minute
and the delay from a training's end to its notice.

    python benchmarks/tracker_load.py [--trainings 200] [--interval 2] [--window 60]

The real `Tracker` (its own `run_forever` loop) runs with the real `ReplicateGateway`, `Store`
(SQLite file in a temp dir) and `JobService`, against the Replicate simulator, with a recording
fake `Notifier` in place of Discord. The simulator runs in a child process, so its CPU does not
compete with the bot's on the same core (on Replicate it is not our machine's work either).

The production poll interval (30 s) is too slow for a benchmark, so the tracker polls every
`--interval` seconds (default 2) for `--window` seconds. During the window `--endings` trainings
are ended at random moments with `sim.finish` (a mix of succeeded / failed / canceled) and each
is replaced by a new training, so 200 stay active all the time. The trainings start at random
ages, so their logs (one tqdm line per step, returned in full on every poll) have realistic and
varied sizes; `--api-latency` delays every simulator reply like a real round trip to Replicate.

Printed, with the targets next to them:
  * requests per minute measured at the benchmark interval, and extrapolated to the production
    interval of 30 s: requests per round x 60 / (30 s + round duration), because the loop sleeps
    the interval after each round (target < 3000/min, Replicate's limit for non-create calls);
  * the delay from each ending (the simulator's `completed_at`) to the notifier's delivery,
    p50 / p95 / max (target <= poll interval + 5 s), and the same extrapolated to 30 s.
No assertion is made on time; the exit status is 0 unless the run itself breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "r8_" + "sim" * 10
DESTINATION = "alice/lora"
PRODUCTION_INTERVAL = 30.0
RATE_TARGET = 3000.0  # per minute, Replicate's limit for endpoints other than creates
DELAY_SLACK = 5.0  # notice within poll interval + 5 s
ENDINGS = (("succeeded", 0.7), ("failed", 0.2), ("canceled", 0.1))


# -- the simulator, in a child process --------------------------------------------------------


def sim_child(conn: Connection, sim_kwargs: dict[str, Any]) -> None:
    """Serve the simulator and answer commands from the parent over `conn` until "stop"."""
    from bot.sim import Faults, SimulatorThread

    latency = sim_kwargs.pop("api_latency", 0.0)
    with SimulatorThread(faults=Faults(slow_seconds=latency), **sim_kwargs) as sim:
        conn.send(sim.base_url)
        rng = random.Random(7)
        while True:
            cmd, *args = conn.recv()
            if cmd == "stop":
                conn.send(time.process_time())
                return
            if cmd == "create":
                count, max_age, inputs = args
                ids = []
                for _ in range(count):
                    record = sim.create_training(DESTINATION, dict(inputs))
                    age = rng.uniform(0.0, max_age)
                    with sim.lock:  # start the training `age` seconds in the past
                        record.created_mono -= age
                        record.created_wall -= age
                    ids.append(record.id)
                conn.send(ids)
            elif cmd == "finish":
                training_id, status = args
                sim.finish(training_id, status)
                conn.send(sim.trainings[training_id]["completed_at"])
            elif cmd == "requests":
                counts = Counter(r.endpoint for r in list(sim.requests))
                conn.send(dict(counts))
            elif cmd == "statuses":
                conn.send(Counter(sim.trainings[t]["status"] for t in args[0]))
            else:  # pragma: no cover - programming error in the parent
                conn.send(ValueError(cmd))


class SimProcess:
    """The parent's handle on the child simulator; calls are quick, made from a worker thread."""

    def __init__(self, **sim_kwargs: Any) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=sim_child, args=(child, sim_kwargs), daemon=True)
        self._lock = asyncio.Lock()
        self.base_url = ""

    def start(self) -> str:
        self._proc.start()
        self.base_url = self._conn.recv()
        return self.base_url

    def call(self, *cmd: Any) -> Any:
        self._conn.send(cmd)
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def acall(self, *cmd: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(self.call, *cmd)

    def stop(self) -> float:
        """Stop the child; returns the CPU seconds it used."""
        try:
            return float(self.call("stop"))
        finally:
            self._proc.join(timeout=30)


# -- the recording notifier -------------------------------------------------------------------


@dataclass
class RecordingNotifier:
    """Discord stand-in: records card edits and notice deliveries (with the wall time)."""

    latency: float = 0.0
    edits_per_second: float = 0.0  # Discord's per-channel limit on edits (0 = none)
    edits: int = 0
    delivered: dict[str, float] = field(default_factory=dict)  # training id -> wall time
    statuses: Counter[str] = field(default_factory=Counter)
    _channel: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def update_card(self, row: Any) -> Any:
        from bot.core.jobs.tracker import CardResult

        if self.edits_per_second > 0:  # all cards in one channel: edits queue like discord.py's
            async with self._channel:
                await asyncio.sleep(1 / self.edits_per_second)
        if self.latency:
            await asyncio.sleep(self.latency)
        self.edits += 1
        return CardResult.OK

    async def deliver_notice(self, row: Any, notice: Any) -> bool:
        if self.latency:
            await asyncio.sleep(self.latency)
        self.delivered.setdefault(notice.training_id, time.time())
        self.statuses[str(notice.payload.get("status"))] += 1
        return True


@dataclass
class Round:
    started: float
    seconds: float
    requests: int
    active: int
    refreshed: int
    failed: int
    throttled: bool


# -- the run ----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


async def add_rows(store: Any, ids: list[str], first_owner: int) -> None:
    from bot.core.store.db import TrainingRow

    for i, training_id in enumerate(ids):
        await store.add_training(
            TrainingRow(
                id=training_id,
                owner_id=first_owner + i // 2,  # two trainings per user, the default limit
                destination=DESTINATION,
                guild_id=1,
                channel_id=77,
                card_message_id=10_000 + first_owner + i,
                trigger_word="ZXQTOK",
            )
        )


async def run(args: argparse.Namespace) -> int:
    from bot.core.jobs.service import JobService
    from bot.core.jobs.tracker import Tracker
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.settings import load_settings
    from bot.core.store.db import Store

    inputs = {
        "input_images": "https://example.com/data/set.zip",
        "trigger_word": "ZXQTOK",
        "steps": args.steps,
        "learning_rate": 1.0,
        "batch_size": 1,
    }
    sim = SimProcess(
        token=TOKEN,
        step_seconds=args.step_seconds,
        start_delay=0.05,
        models=(DESTINATION,),
        api_latency=args.api_latency,
    )
    base_url = await asyncio.to_thread(sim.start)
    tmp = tempfile.TemporaryDirectory(prefix="sd35l-bench-tracker-")
    try:
        settings = load_settings(
            REPLICATE_API_TOKEN=TOKEN,
            REPLICATE_BASE_URL=base_url,
            SD35L_DATABASE=str(Path(tmp.name) / "bot.sqlite"),
            SD35L_POLL_INTERVAL=args.interval,
        )
        store = await Store.open(settings.database)
        gateway = ReplicateGateway(settings)
        jobs = JobService(store, gateway, settings)
        notifier = RecordingNotifier(
            latency=args.discord_latency, edits_per_second=args.card_edits_per_second
        )
        extra = {} if args.concurrency is None else {"concurrency": args.concurrency}
        tracker = Tracker(jobs, store, notifier, settings, **extra)

        ids: list[str] = await sim.acall("create", args.trainings, args.max_age, inputs)
        await add_rows(store, ids, 1_000)
        all_ids = list(ids)

        rounds: list[Round] = []
        real_run_once: Callable[[], Any] = tracker.run_once

        async def timed_run_once() -> Any:
            before, start = gateway.requests_made, time.perf_counter()
            report = await real_run_once()
            rounds.append(
                Round(
                    start,
                    time.perf_counter() - start,
                    gateway.requests_made - before,
                    report.active,
                    report.refreshed,
                    report.failed,
                    report.throttled,
                )
            )
            return report

        tracker.run_once = timed_run_once  # type: ignore[method-assign]

        # Endings at random moments, leaving time for the last one to be noticed.
        rng = random.Random(11)
        last_end = max(1.0, args.window - args.interval - DELAY_SLACK)
        schedule = sorted(rng.uniform(1.0, last_end) for _ in range(args.endings))
        statuses = [s for s, w in ENDINGS for _ in range(round(w * 100))]
        ended: dict[str, float] = {}  # training id -> completed_at (sim), epoch seconds

        print(
            f"{args.trainings} active trainings, poll every {args.interval:g} s for "
            f"{args.window:g} s, {args.endings} endings, "
            f"API latency {args.api_latency * 1000:g} ms, "
            f"tracker concurrency {tracker.concurrency}",
            flush=True,
        )
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        req0 = gateway.requests_made
        task = tracker.start()

        async def end_trainings() -> None:
            live = list(ids)
            rng.shuffle(live)
            for i, at in enumerate(schedule):
                await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
                victim = live.pop()
                completed = await sim.acall("finish", victim, rng.choice(statuses))
                ended[victim] = parse_iso(completed)
                # The user starts another one: 200 stay active.
                [new] = await sim.acall("create", 1, 0.0, inputs)
                await add_rows(store, [new], 100_000 + i * 2)
                live.insert(0, new)
                all_ids.append(new)

        await end_trainings()
        await asyncio.sleep(max(0.0, args.window - (time.perf_counter() - t0)))
        window_requests = gateway.requests_made - req0
        window_seconds = time.perf_counter() - t0
        bot_cpu = time.process_time() - cpu0
        drain_until = time.perf_counter() + args.interval + 30.0
        while set(ended) - set(notifier.delivered) and time.perf_counter() < drain_until:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await tracker.stop()
        await asyncio.gather(task, return_exceptions=True)
        by_endpoint: dict[str, int] = await sim.acall("requests")
        await gateway.aclose()
        await store.close()
    finally:
        sim_cpu = await asyncio.to_thread(sim.stop)
        tmp.cleanup()

    report(args, rounds, window_requests, window_seconds, ended, notifier, by_endpoint)
    print(
        f"CPU: bot process {bot_cpu:.1f} s in the {window_seconds:.0f} s window "
        f"({bot_cpu / max(1, window_requests) * 1000:.1f} ms per refresh); simulator process "
        f"{sim_cpu:.1f} s in all"
    )
    return 0


def report(
    args: argparse.Namespace,
    rounds: list[Round],
    window_requests: int,
    window_seconds: float,
    ended: dict[str, float],
    notifier: RecordingNotifier,
    by_endpoint: dict[str, int],
) -> None:
    full = [r for r in rounds if r.active >= args.trainings]
    durations = [r.seconds for r in full] or [0.0]
    per_round = statistics.mean(r.requests for r in full) if full else 0.0
    measured_rpm = window_requests / window_seconds * 60
    mean_round = statistics.mean(durations)
    prod_rpm = per_round * 60 / (PRODUCTION_INTERVAL + mean_round)
    min_interval = per_round * 60 / RATE_TARGET - mean_round
    delays = [notifier.delivered[t] - at for t, at in ended.items() if t in notifier.delivered]
    missing = len(ended) - len(delays)
    over = [d - args.interval for d in delays]

    def line(label: str, value: str, target: str = "") -> None:
        print(f"{label:<44}{value:>16}   {target}".rstrip())

    print()
    line("tracker rounds (with all trainings active)", f"{len(full)} of {len(rounds)}")
    line(
        "round duration p50 / max",
        f"{statistics.median(durations):.2f} / {max(durations):.2f} s",
    )
    line("Replicate requests per round", f"{per_round:.1f}", "(one GET per active training)")
    line(
        "failed refreshes / throttled rounds",
        f"{sum(r.failed for r in rounds)} / {sum(r.throttled for r in rounds)}",
    )
    line(
        f"requests/min measured at {args.interval:g} s",
        f"{measured_rpm:.0f}/min",
        f"(benchmark interval; {window_requests} requests in {window_seconds:.1f} s)",
    )
    line(
        f"requests/min at {PRODUCTION_INTERVAL:g} s (extrapolated)",
        f"{prod_rpm:.0f}/min",
        f"target < {RATE_TARGET:.0f}/min",
    )
    line(
        f"shortest interval under {RATE_TARGET:.0f}/min",
        f"{max(0.0, min_interval):.1f} s",
        f"(for {args.trainings} trainings)",
    )
    if delays:
        line(
            "end -> notice delay p50 / p95 / max",
            f"{pct(delays, 50):.2f} / {pct(delays, 95):.2f} / {max(delays):.2f} s",
            f"target <= {args.interval + DELAY_SLACK:g} s (interval {args.interval:g} s + "
            f"{DELAY_SLACK:g} s)",
        )
        line(
            "delay beyond the interval p50 / max",
            f"{pct(over, 50):.2f} / {max(over):.2f} s",
            f"target <= {DELAY_SLACK:g} s",
        )
        line(
            f"max delay at {PRODUCTION_INTERVAL:g} s (extrapolated)",
            f"{PRODUCTION_INTERVAL + max(over):.2f} s",
            f"target <= {PRODUCTION_INTERVAL + DELAY_SLACK:g} s",
        )
    line(
        "notices delivered / endings",
        f"{len(delays)} / {len(ended)}",
        "(missing: " + str(missing) + ")",
    )
    line("notices by status", ", ".join(f"{k} {v}" for k, v in sorted(notifier.statuses.items())))
    line("card edits", str(notifier.edits), "(at most one per card every 15 s)")
    print("simulator requests by endpoint:")
    for name, count in sorted(by_endpoint.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<42}{count:>16}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=200, help="active trainings")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval (s)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of tracking")
    parser.add_argument("--endings", type=int, default=100, help="trainings ended in the window")
    parser.add_argument(
        "--api-latency", type=float, default=0.1, help="seconds the simulator takes per reply"
    )
    parser.add_argument(
        "--discord-latency", type=float, default=0.0, help="seconds per card edit / notice"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="Tracker concurrency (default: its own)"
    )
    parser.add_argument(
        "--card-edits-per-second",
        type=float,
        default=0.0,
        help="Discord's per-channel edit limit to model for the cards (0 = unlimited)",
    )
    parser.add_argument("--steps", type=int, default=6000, help="steps of each training")
    parser.add_argument(
        "--step-seconds", type=float, default=0.02, help="simulated seconds per step (log growth)"
    )
    parser.add_argument(
        "--max-age", type=float, default=30.0, help="the seeded trainings started up to this ago"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
