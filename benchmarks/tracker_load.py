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

Rounds start on a fixed beat: the loop starts a round every interval (or at once when the last
one took longer), so the figures carry over to the production interval P = 30 s as follows.
Printed, with the targets next to them (the machine first; each figure as min / median / max over
the rounds or the endings of the run):
  * Replicate requests per round, and per minute at P: requests per round x 60 / max(P, round
    duration) (target < 3000/min, Replicate's limit for non-create calls);
  * round duration, paired with a baseline measured in the same run: rounds of the same GETs
    by a bare client of the kind the tracker reads with (one aiohttp session) at the tracker's
    concurrency, before and after the window, so the target is a ratio (tracker round <=
    ROUND_RATIO_TARGET x the bare round);
  * the delay from each ending to its notice at P. A training is refreshed at about the same
    point of every round (rounds list the trainings oldest first), so an ending waits at most
    from one refresh of its training to the next - one round period - then that refresh and
    the delivery. Measured per ending: from the start of the refresh before the one that saw
    the ending to the delivery, with the benchmark's round period (max(interval, round)) put
    back to P: the delay had the ending come right after that earlier refresh (target <= P +
    5 s). Also printed: the looser bound P + in-round latency (from the start of the round that
    delivered the notice to the delivery), which assumes a training's place in the round can
    move by a whole round, and the delays measured at the benchmark interval.
The bot process's CPU time per refresh is printed for reading (`refresh_cpu.py` measures it).
No assertion is made on time; the exit status is 0 unless the run itself breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import measure
from measure import DESTINATION, TOKEN, SimProcess, pct, row, spread

PRODUCTION_INTERVAL = 30.0
RATE_TARGET = 3000.0  # per minute, Replicate's limit for endpoints other than creates
DELAY_SLACK = 5.0  # notice within poll interval + 5 s
ROUND_RATIO_TARGET = 1.5  # a tracker round takes at most 1.5x the same GETs made bare
BASELINE_ROUNDS = 3  # bare rounds before the window, and as many after it
ENDINGS = (("succeeded", 0.7), ("failed", 0.2), ("canceled", 0.1))


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
    started: float  # wall clock (epoch seconds), comparable with endings and deliveries
    seconds: float
    requests: int
    active: int
    refreshed: int
    failed: int
    throttled: bool


# -- the run ----------------------------------------------------------------------------------


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


async def add_rows(store: Any, ids: list[str], first_owner: int) -> None:
    from bot.core.store.rows import TrainingRow

    for i, training_id in enumerate(ids):
        await store.trainings.add(
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


async def bare_round(base_url: str, ids: list[str], concurrency: int) -> float:
    """Seconds to GET every training with a bare aiohttp session (the kind of client the
    tracker reads trainings with), `concurrency` at a time: the floor of a tracker round on
    this machine right now."""
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {TOKEN}"}, raise_for_status=True
    ) as client:

        async def get(training_id: str) -> None:
            async with sem:
                async with client.get(f"{base_url}/v1/trainings/{training_id}") as resp:
                    await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(get(t) for t in ids))
        return time.perf_counter() - start


def delay_at(
    interval: float, refreshes: list[float], rounds: list[Round], delivered: float
) -> float | None:
    """The end -> notice delay at `interval` had the ending come right after the refresh before
    the one that saw it (`refreshes`: start times of the training's refreshes): the time from
    that refresh to the delivery, with the rounds' period measured here replaced by
    `interval` (rounds start on a fixed beat)."""
    before = [t for t in refreshes if t <= delivered]
    starts = [r.started for r in rounds]
    if len(before) < 2 or not starts:
        return None

    def round_of(t: float) -> int:
        return max((i for i, s in enumerate(starts) if s <= t), default=-1)

    seen, previous = round_of(before[-1]), round_of(before[-2])
    if previous < 0 or seen <= previous:
        return None
    period = starts[seen] - starts[previous]
    return delivered - before[-2] - period + (seen - previous) * interval


def in_round_latency(rounds: list[Round], ended_at: float, delivered: float) -> float:
    """Seconds from the start of the round that delivered the notice (or from the ending, if
    it came later) to the delivery: what a notice waits beyond the next round start."""
    starts = [r.started for r in rounds if r.started <= delivered]
    began = max(starts) if starts else ended_at
    return delivered - max(began, ended_at)


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
            before, wall, start = gateway.requests_made, time.time(), time.perf_counter()
            report = await real_run_once()
            rounds.append(
                Round(
                    wall,
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

        refreshed: dict[str, list[float]] = {}  # training id -> start of each refresh
        real_refresh: Callable[..., Any] = jobs.refresh

        async def recorded_refresh(training_id: str, *rest: Any) -> Any:
            refreshed.setdefault(training_id, []).append(time.time())
            return await real_refresh(training_id, *rest)

        jobs.refresh = recorded_refresh  # type: ignore[method-assign]

        # Endings at random moments, leaving time for the last one to be noticed.
        rng = random.Random(11)
        last_end = max(1.0, args.window - args.interval - DELAY_SLACK)
        schedule = sorted(rng.uniform(1.0, last_end) for _ in range(args.endings))
        statuses = [s for s, w in ENDINGS for _ in range(round(w * 100))]
        ended: dict[str, float] = {}  # training id -> completed_at (sim), epoch seconds

        await bare_round(base_url, ids, tracker.concurrency)  # warm-up, not counted
        bare_rounds = [
            await bare_round(base_url, ids, tracker.concurrency) for _ in range(BASELINE_ROUNDS)
        ]
        measure.print_machine()
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
        live_ids = [t for t in all_ids if t not in ended]
        for _ in range(BASELINE_ROUNDS):
            bare_rounds.append(await bare_round(base_url, live_ids, tracker.concurrency))
        by_endpoint: dict[str, int] = await sim.acall("requests")
        await gateway.aclose()
        await store.close()
    finally:
        sim_cpu = await asyncio.to_thread(sim.stop)
        tmp.cleanup()

    report(args, rounds, bare_rounds, window_requests, window_seconds, ended, notifier, refreshed)
    print("simulator requests by endpoint (the bare baseline rounds included):")
    for name, count in sorted(by_endpoint.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<42}{count:>16}")
    print(
        f"CPU: bot process {bot_cpu:.1f} s in the {window_seconds:.0f} s window "
        f"({bot_cpu / max(1, window_requests) * 1000:.1f} ms per refresh); simulator process "
        f"{sim_cpu:.1f} s in all"
    )
    return 0


def report(
    args: argparse.Namespace,
    rounds: list[Round],
    bare_rounds: list[float],
    window_requests: int,
    window_seconds: float,
    ended: dict[str, float],
    notifier: RecordingNotifier,
    refreshed: dict[str, list[float]],
) -> None:
    full = [r for r in rounds if r.active >= args.trainings] or rounds
    durations = spread(r.seconds for r in full)
    per_round = spread(float(r.requests) for r in full)
    bare = spread(bare_rounds)
    prod = PRODUCTION_INTERVAL
    delays = [notifier.delivered[t] - at for t, at in ended.items() if t in notifier.delivered]
    latency = [
        in_round_latency(rounds, at, notifier.delivered[t])
        for t, at in ended.items()
        if t in notifier.delivered
    ]

    print()
    row("tracker rounds (with all trainings active)", f"{len(full)} of {len(rounds)}")
    row("Replicate requests per round", per_round.fmt(digits=0), "(one GET per active training)")
    row(
        "failed refreshes / throttled rounds",
        f"{sum(r.failed for r in rounds)} / {sum(r.throttled for r in rounds)}",
    )
    row(
        f"requests/min measured at {args.interval:g} s",
        f"{window_requests / window_seconds * 60:.0f}/min",
        f"({window_requests} requests in {window_seconds:.1f} s)",
    )
    # Fixed beat: a round every `prod` seconds, or back to back when a round takes longer.
    rpm = per_round.median * 60 / max(prod, durations.median)
    row(
        f"requests/min at {prod:g} s",
        f"{rpm:.0f}/min",
        f"= {rpm / RATE_TARGET:.2f}x the limit; target < 1x ({RATE_TARGET:.0f}/min): "
        + measure.verdict(rpm, RATE_TARGET),
    )
    shortest = max(per_round.median * 60 / RATE_TARGET, durations.median)
    row(f"shortest interval under {RATE_TARGET:.0f}/min", f"{shortest:.1f} s")
    row("round duration", durations.fmt("s"))
    row(f"bare GET round (baseline, {len(bare_rounds)} rounds)", bare.fmt("s"))
    ratio = durations.median / bare.median
    row(
        "tracker round / bare GET round (medians)",
        f"{ratio:.2f}x",
        f"target <= {ROUND_RATIO_TARGET:g}x: " + measure.verdict(ratio, ROUND_RATIO_TARGET),
    )
    at_prod = [
        d
        for t in ended
        if t in notifier.delivered
        and (d := delay_at(prod, refreshed.get(t, []), rounds, notifier.delivered[t])) is not None
    ]
    if delays:
        lat = spread(latency)
        row(
            f"end -> notice delay at {args.interval:g} s",
            spread(delays).fmt("s"),
            f"p95 {pct(delays, 95):.2f} s",
        )
        row("in-round latency of a notice", lat.fmt("s"), f"p95 {pct(latency, 95):.2f} s")
        row(
            f"bound at {prod:g} s: P + in-round latency",
            f"{prod / 2 + lat.median:.2f} / {prod + lat.max:.2f} s",
            f"median / max = {(prod + lat.max) / prod:.2f}x the interval (loose: for reading)",
        )
    if at_prod:
        worst = max(at_prod)
        row(
            f"worst delay at {prod:g} s, per ending",
            spread(at_prod).fmt("s"),
            f"max = {worst / prod:.2f}x the interval; target <= "
            f"{(prod + DELAY_SLACK) / prod:.2f}x ({prod:g} + {DELAY_SLACK:g} s): "
            + measure.verdict(worst, prod + DELAY_SLACK)
            + f" ({len(at_prod)} endings)",
        )
        if durations.median > prod:
            print(f"  (rounds take longer than {prod:g} s here: the delay at {prod:g} s is more)")
    row(
        "notices delivered / endings",
        f"{len(delays)} / {len(ended)}",
        f"(missing: {len(ended) - len(delays)})",
    )
    row("notices by status", ", ".join(f"{k} {v}" for k, v in sorted(notifier.statuses.items())))
    row("card edits", str(notifier.edits), "(at most one per card every 15 s)")


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
