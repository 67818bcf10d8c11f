"""Benchmark: CPU time the tracker spends per training refresh, by size of the training's logs.

    python benchmarks/refresh_cpu.py [--trainings 40] [--repeats 7] [--steps 100,1000,4000]

Replicate returns a training's whole `logs` on every GET (one tqdm line per step, ~0.5 MB at
4,000 steps), and the tracker refreshes every active training every 30 s. For each log size,
`--trainings` trainings that have run that many steps are seeded in the Replicate simulator (in
a child process, so its CPU is not counted) and the real `Tracker` (real `ReplicateGateway`,
`JobService`, `Store` on a SQLite file) runs whole rounds over them. Every refresh redraws the
card as production does at the 30 s poll: the notifier builds the Discord card message (embed
and buttons) without sending it.

Measured per refresh, as CPU seconds of this process (`time.process_time`, all its threads,
the database thread included) over a round divided by the trainings refreshed:
  * the tracker's refresh (GET, JSON, progress, log tail, store write, card);
  * the baseline, alternating with it in the same run: the same GETs with a bare httpx client
    that only reads the bytes - what any client pays to receive the answer.
Targets: a refresh costs at most RATIO_TARGET x the bare GET of the same answer measured
alongside (the tracker's own work on an answer costs no more than receiving it), whatever the
size of the logs; for reading, the absolute aim of the issue (<= 2 ms per refresh) and 1,000
active trainings at the 30 s poll under 5% of a core (printed for all trainings at 4,000 steps,
the worst case, and for trainings spread evenly over 0-4,000 steps, with the share the bare
GETs alone would take). No assertion is made on time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import measure
from measure import DESTINATION, TOKEN, SimProcess, row

PRODUCTION_INTERVAL = 30.0
ACTIVE = 1000
CORE_SHARE_TARGET = 0.05
MS_TARGET = 2.0  # per refresh, on the project's box
# What the tracker does with an answer (JSON, progress, log tail, store, card) should cost no
# more than receiving it: judged per log size against the bare GET of the same answer.
RATIO_TARGET = 2.0


class CardNotifier:
    """Builds the card message as the Discord notifier does, and sends nothing."""

    def __init__(self) -> None:
        from bot.notifier import card_message

        self._card_message = card_message
        self.edits = 0

    async def update_card(self, training_row: Any) -> Any:
        from bot.core.jobs.tracker import CardResult

        self._card_message(training_row)
        self.edits += 1
        return CardResult.OK

    async def deliver_notice(self, training_row: Any, notice: Any) -> bool:
        return True


async def seed(sim: SimProcess, store: Any, count: int, steps: int, first_owner: int) -> list[str]:
    """`count` trainings that have run `steps` steps (one step a second in the simulator)."""
    from bot.core.store.db import TrainingRow

    inputs = {
        "input_images": "https://example.com/data/set.zip",
        "trigger_word": "ZXQTOK",
        "steps": 6000,
        "learning_rate": 1.0,
        "batch_size": 1,
    }
    ids: list[str] = await sim.acall("create", count, (float(steps), float(steps)), inputs)
    for i, training_id in enumerate(ids):
        await store.add_training(
            TrainingRow(
                id=training_id,
                owner_id=first_owner + i,
                destination=DESTINATION,
                guild_id=1,
                channel_id=77,
                card_message_id=10_000 + first_owner + i,
                trigger_word="ZXQTOK",
            )
        )
    return ids


async def breakdown(
    body: bytes, store: Any, training_id: str, repeats: int
) -> dict[str, measure.Spread]:
    """CPU seconds of each step of a refresh on one answer, in-process (`loops` runs each),
    done as the tracker does them."""
    import json

    from bot.core.jobs.service import recent_tail
    from bot.core.progress import parse_progress
    from bot.core.replicate.training import Training
    from bot.notifier import card_message

    try:  # decode as the tracker does: only the end of the logs
        from bot.core.jobs.service import _TAIL_SCAN
        from bot.core.replicate.logs_json import loads_with_logs_end

        def decode(raw: bytes) -> Any:
            return loads_with_logs_end(raw, _TAIL_SCAN)
    except ImportError:  # a version that decodes everything
        decode = json.loads
    data = decode(body)
    training = Training.from_json(data)
    progress = parse_progress(training.logs)
    tail = recent_tail(training.logs)
    row = await store.get(training_id)
    loops = 20

    def timed(fn: Any) -> measure.Spread:
        runs = []
        for _ in range(repeats):
            cpu = time.process_time()
            for _ in range(loops):
                fn()
            runs.append((time.process_time() - cpu) / loops)
        return measure.spread(runs)

    steps = {
        "JSON decoding": timed(lambda: decode(body)),
        "Training.from_json": timed(lambda: Training.from_json(data)),
        "parse_progress": timed(lambda: parse_progress(training.logs)),
        "recent_tail": timed(lambda: recent_tail(training.logs)),
        "card message": timed(lambda: card_message(row)),
    }
    runs = []
    for _ in range(repeats):
        cpu = time.process_time()
        for _ in range(loops):
            await store.update_from_training(training, progress, None, log_tail=tail)
        runs.append((time.process_time() - cpu) / loops)
    steps["store update (and row)"] = measure.spread(runs)
    return steps


async def measure_size(
    args: argparse.Namespace, sim: SimProcess, base_url: str, steps: int
) -> tuple[measure.Paired, dict[str, measure.Spread]]:
    """Paired figures (CPU seconds per refresh) for trainings at `steps` steps of logs, and
    the CPU of each step of a refresh."""
    import httpx

    from bot.core.jobs.service import JobService
    from bot.core.jobs.tracker import Tracker
    from bot.core.replicate.gateway import ReplicateGateway
    from bot.core.settings import load_settings
    from bot.core.store.db import Store

    with tempfile.TemporaryDirectory(prefix="sd35l-bench-refresh-") as tmp:
        settings = load_settings(
            REPLICATE_API_TOKEN=TOKEN,
            REPLICATE_BASE_URL=base_url,
            SD35L_DATABASE=str(Path(tmp) / "bot.sqlite"),
        )
        store = await Store.open(settings.database)
        gateway = ReplicateGateway(settings)
        tracker = Tracker(
            JobService(store, gateway, settings),
            store,
            CardNotifier(),
            settings,
            card_edit_interval=0.0,  # at the 30 s poll every refresh redraws its card
        )
        ids = await seed(sim, store, args.trainings, steps, 1_000)
        bare = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"})
        sem = asyncio.Semaphore(tracker.concurrency)

        async def get(training_id: str) -> bytes:
            async with sem:
                resp = await bare.get(f"/v1/trainings/{training_id}")
                return resp.content

        async def tracker_round() -> float:
            cpu = time.process_time()
            report = await tracker.run_once()
            return (time.process_time() - cpu) / max(1, report.refreshed)

        async def bare_round() -> float:
            cpu = time.process_time()
            await asyncio.gather(*(get(t) for t in ids))
            return (time.process_time() - cpu) / len(ids)

        try:
            body = await get(ids[0])
            await tracker_round()  # warm-up: first card edits, caches, connections
            await bare_round()
            result = await measure.apaired(tracker_round, bare_round, args.repeats)
            parts = await breakdown(await get(ids[0]), store, ids[0], args.repeats)
        finally:
            await bare.aclose()
            await gateway.aclose()
            await store.close()
    print(f"  {steps:>5} steps: answer of {len(body) / 1024:.0f} KiB", flush=True)
    return result, parts


async def run(
    args: argparse.Namespace,
) -> dict[int, tuple[measure.Paired, dict[str, measure.Spread]]]:
    sim = SimProcess(token=TOKEN, step_seconds=1.0, start_delay=0.05, models=(DESTINATION,))
    base_url = await asyncio.to_thread(sim.start)
    try:
        return {steps: await measure_size(args, sim, base_url, steps) for steps in args.steps}
    finally:
        await asyncio.to_thread(sim.stop)


def report(full: dict[int, tuple[measure.Paired, dict[str, measure.Spread]]]) -> None:
    results = {steps: paired for steps, (paired, _) in full.items()}
    print()
    print("Where the CPU of a refresh goes, in-process on one answer (ms, median of the repeats):")
    names = list(next(iter(full.values()))[1])
    print(f"  {'':<26}" + "".join(f"{steps:>10} steps" for steps in full))
    for name in names:
        print(
            f"  {name:<26}"
            + "".join(f"{parts[name].median * 1000:>16.3f}" for _, parts in full.values())
        )
    print()
    print("CPU per refresh, min / median / max over the repeats (ms):")
    for steps, paired in results.items():
        row(
            f"  {steps} steps: tracker refresh",
            paired.measured.fmt("ms", 1000),
            f"<= {MS_TARGET:g} ms",
        )
        row(f"  {steps} steps: bare GET (baseline)", paired.baseline.fmt("ms", 1000))
        row(
            f"  {steps} steps: refresh / bare GET",
            paired.ratios.fmt("x"),
            f"target <= {RATIO_TARGET:g}x: " + measure.verdict(paired.ratios.median, RATIO_TARGET),
        )
    rate = ACTIVE / PRODUCTION_INTERVAL  # refreshes per second
    worst = max(results)
    worst_share = results[worst].measured.median * rate
    worst_base = results[worst].baseline.median * rate
    print()
    print(
        f"{ACTIVE} active trainings polled every {PRODUCTION_INTERVAL:g} s "
        f"({rate:.1f} refreshes/s):"
    )
    row(
        f"  all at {worst} steps: share of one core",
        f"{worst_share * 100:.1f}%",
        f"target < {CORE_SHARE_TARGET * 100:g}%: "
        + measure.verdict(worst_share, CORE_SHARE_TARGET)
        + f" (bare GETs alone: {worst_base * 100:.1f}%)",
    )
    sizes = sorted(results)
    if len(sizes) > 1:
        # Spread evenly over 0..worst steps: the mean of the piecewise-linear cost curve.
        points = [(0, results[sizes[0]].measured.median)] + [
            (s, results[s].measured.median) for s in sizes
        ]
        area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in itertools.pairwise(points))
        even_share = area / worst * rate
        row(
            f"  spread over 0-{worst} steps: share of one core",
            f"{even_share * 100:.1f}%",
            f"target < {CORE_SHARE_TARGET * 100:g}%: "
            + measure.verdict(even_share, CORE_SHARE_TARGET),
        )
    row(
        "  Replicate requests per minute",
        f"{ACTIVE * 60 / PRODUCTION_INTERVAL:.0f}/min",
        "target < 3000/min (one GET per training per round)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=40, help="trainings per log size")
    parser.add_argument("--repeats", type=int, default=7, help="rounds measured per log size")
    parser.add_argument(
        "--steps",
        type=lambda s: sorted({int(x) for x in s.split(",")}),
        default=[100, 1000, 4000],
        help="comma-separated log sizes, in steps",
    )
    args = parser.parse_args(argv)
    measure.print_machine()
    print(
        f"{args.trainings} trainings per log size, {args.repeats} tracker rounds each, "
        "alternating with rounds of bare GETs:",
        flush=True,
    )
    report(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
