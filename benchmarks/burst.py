"""Benchmark: a burst of users - forty /train at once on large linked datasets, then 300 Starts
in about a minute.

    python benchmarks/burst.py [--trains 40] [--others 50] [--starts 300] [--start-seconds 60]

The real bot (`bot.app.create_bot()`, all its cogs, production settings: 30 s poll, the default
SD35L_MAX_CHECKS) runs with the real discord.py client against the fake Discord
(tests/fakediscord) in this process, so this process's memory is the bot's (the fake's messages
are a few MB at most). The Replicate simulator runs in a child process; so does the dataset host
(`wan_host.py`): forty synthetic ZIPs of 133-255 MB with 200-5,000 JPEGs and their captions,
behind a simulated WAN of 40 ms round trip and 200 Mbit/s shared by every download.

Phase 1 (the burst): after ten quiet interactions (the baseline acknowledgement), `--trains`
members run /train, each on a different dataset, within one second, while `--others` /status and
/presets arrive in the same second. Measured: each interaction's acknowledgement (from the
gateway dispatch to its first callback, as Discord's 3 s deadline counts it), missed deadlines,
the time until every preview is answered (with the time the link needs for the bytes read: the
previews cannot be quicker), the bot's memory idle / peak / after (RSS sampled every 20 ms,
its dataset worker processes included;
"after" 30 s after the last preview), dataset bytes and requests per preview, and the event
loop's longest callbacks (asyncio debug timing of each callback in this process).

Phase 2 (the Starts): `--starts` previews on a small dataset are prepared, then their Start
buttons are clicked evenly over `--start-seconds`; Replicate requests are counted every second
for `--start-seconds` + 60 s (two more poll rounds), and the busiest 60 s are printed: the
training reads (GET /v1/trainings/{id}) and all requests but creates (Replicate's 3,000/min).

Printed: the machine, then each figure with its target; spreads as min / median / max. The
figures of the issue's table come first. No assertion is made; the exit status is 0 unless the
run itself breaks.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import random
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
from measure import DESTINATION, TOKEN, SimProcess, pct, row, spread  # noqa: E402
from wan_host import HostProcess  # noqa: E402

TRIGGER = "ZXQTOK"
ACK_P99_MS = 100.0
ACK_AIM_MS = 50.0
PEAK_MB = 300.0
PEAK_OVER_IDLE_MB = 200.0
AFTER_OVER_IDLE_MB = 50.0  # "back near idle"
PREVIEW_BYTES_MB = 16.0  # the dataset check's own budget (12 MB sample + directory)
PREVIEW_REQUESTS = 100
READS_PER_MINUTE = 3000.0
DEADLINE_MS = 3000.0
STALL_MS = 20.0
AFTER_SECONDS = 30.0  # "after": this long after the last preview (the bot's workers stop at 15 s)


def _rss(pid: int | str) -> float:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # the worker ended
        return 0.0


def rss_mb() -> float:
    """The bot's memory: this process and its dataset workers (the simulator and the dataset
    host are other children, and not the bot's)."""
    try:
        from bot.core.dataset.workers import worker_pids
    except ImportError:  # a version of the bot without worker processes
        return _rss("self")
    return _rss("self") + sum(_rss(pid) for pid in worker_pids())


class MemorySampler(threading.Thread):
    """RSS every 20 ms; `peak` since the last `reset`."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.peak = 0.0
        self._stop = threading.Event()

    def reset(self) -> None:
        self.peak = rss_mb()

    def run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> None:
        self._stop.set()


class SlowCallbacks:
    """Times every callback the event loop runs (as asyncio's debug mode does, without its
    other costs): those over STALL_MS, with their wall and CPU milliseconds."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.where: Counter[str] = Counter()
        self.on = False
        self._original = asyncio.events.Handle._run
        self.collections: list[tuple[int, float]] = []  # (generation, ms) of each over STALL_MS
        self._collecting = 0.0

    def install(self) -> None:
        meter, original = self, self._original

        def timed(handle: asyncio.events.Handle) -> None:
            if not meter.on:
                return original(handle)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(handle)
            finally:
                took = (time.perf_counter() - wall) * 1000
                if took > STALL_MS:
                    meter.ms.append(took)
                    meter.cpu_ms.append((time.thread_time() - cpu) * 1000)
                    meter.where[callback_name(handle)] += 1

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Garbage collections in this process: a long one stalls whichever callback it hits."""
        if phase == "start":
            self._collecting = time.perf_counter()
            return
        took = (time.perf_counter() - self._collecting) * 1000
        if self.on and took > STALL_MS:
            self.collections.append((info["generation"], took))

    def remove(self) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)


def callback_name(handle: asyncio.events.Handle) -> str:
    """What a slow callback ran: a task's coroutine by name (a bare `Task.task_wakeup` says
    nothing), else the handle's own repr."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return f"task {getattr(coro, '__qualname__', repr(coro))}"
    return repr(handle)[:100]


async def fire(fd: Any, kind: str, user: Any, dataset: str) -> Any:
    if kind == "train":
        options = {
            "dataset_url": dataset,
            "destination": DESTINATION,
            "trigger_word": TRIGGER,
            "preset": "beginner",
        }
        return await fd.slash("train", options, user=user)
    if kind == "status":
        return await fd.slash("status", {}, user=user)
    return await fd.slash("presets", {}, user=user)


def preview_of(res: Any) -> Any:
    """The preview message (with its Start button or its problems), once it is there."""
    for message in res.messages():
        if not message.loading and "Preview" in message.text():
            return message
    return None


def has_start(message: Any) -> bool:
    return message is not None and any("Start" in (b.get("label") or "") for b in message.buttons())


def ack_ms(results: list[Any]) -> list[float]:
    return [r.response_latency * 1000 for r in results if r.response_latency is not None]


async def phase_burst(
    args: argparse.Namespace, fd: Any, users: list[Any], host: Any
) -> dict[str, Any]:
    rng = random.Random(22)
    sampler: MemorySampler = args.sampler
    quiet = []
    for i in range(10):
        quiet.append(await fire(fd, ["status", "presets"][i % 2], users[i], ""))
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    gc.collect()
    await asyncio.sleep(1.0)
    idle = rss_mb()
    sampler.reset()
    requests0, bytes0 = await asyncio.to_thread(host.stats)
    kinds = ["train"] * args.trains + ["status", "presets"] * (args.others // 2)
    rng.shuffle(kinds)
    began = time.perf_counter()
    trains: list[Any] = []
    others: list[Any] = []
    datasets = iter(range(args.trains))
    for i, kind in enumerate(kinds):
        await asyncio.sleep(max(0.0, began + i / len(kinds) - time.perf_counter()))
        url = f"{host.base}/d/{next(datasets)}.zip" if kind == "train" else ""
        res = await fire(fd, kind, users[i % len(users)], url)
        (trains if kind == "train" else others).append(res)
    done_at: dict[int, float] = {}
    deadline = time.perf_counter() + args.timeout
    while len(done_at) < len(trains) and time.perf_counter() < deadline:
        for res in trains:
            if res.id not in done_at and preview_of(res) is not None:
                done_at[res.id] = time.perf_counter() - began
        await asyncio.sleep(0.05)
    requests1, bytes1 = await asyncio.to_thread(host.stats)
    peak = sampler.peak
    await asyncio.sleep(AFTER_SECONDS)
    after = rss_mb()
    with_start = sum(1 for r in trains if has_start(preview_of(r)))
    return {
        "quiet": quiet,
        "trains": trains,
        "others": others,
        "done": done_at,
        "idle": idle,
        "peak": peak,
        "after": after,
        "requests": requests1 - requests0,
        "bytes": bytes1 - bytes0,
        "with_start": with_start,
    }


async def phase_starts(
    args: argparse.Namespace, fd: Any, users: list[Any], host: Any, sim: Any
) -> dict[str, Any]:
    small = f"{host.base}/small.zip"
    previews: list[tuple[Any, Any]] = []
    batch = 20
    for first in range(0, args.starts, batch):
        fired = []
        for i in range(first, min(first + batch, args.starts)):
            user = users[i % len(users)]
            fired.append((await fire(fd, "train", user, small), user))
        for res, user in fired:
            message = None
            for _ in range(600):
                message = preview_of(res)
                if message is not None:
                    break
                await asyncio.sleep(0.1)
            if has_start(message):
                previews.append((message, user))
    print(
        f"  {len(previews)} previews with Start ready; clicking them over {args.start_seconds:g} s",
        flush=True,
    )
    counts: list[tuple[float, Counter[str]]] = []
    stop = asyncio.Event()

    async def count() -> None:
        began = time.perf_counter()
        while not stop.is_set():
            seen = Counter(await sim.acall("requests"))
            counts.append((time.perf_counter() - began, seen))
            await asyncio.sleep(max(0.0, len(counts) - (time.perf_counter() - began)))

    counter = asyncio.create_task(count())
    began = time.perf_counter()
    clicks = []
    for i, (message, user) in enumerate(previews):
        await asyncio.sleep(
            max(0.0, began + i * args.start_seconds / len(previews) - time.perf_counter())
        )
        clicks.append(await fd.click(message, label="Start", user=user))
    await asyncio.sleep(max(0.0, began + args.start_seconds + 60.0 - time.perf_counter()))
    stop.set()
    await counter
    started = sum(
        1 for c in clicks if c.original() is not None and "Started training" in c.original().content
    )
    return {"clicks": clicks, "counts": counts, "started": started}


def busiest_minute(counts: list[tuple[float, Counter[str]]], pick: Any) -> int:
    """The most requests matching `pick(endpoint)` in any 60 s of the samples."""
    totals = [(t, sum(n for e, n in c.items() if pick(e))) for t, c in counts]
    best = 0
    for i, (t0, n0) in enumerate(totals):
        later = [n for t, n in totals[i:] if t <= t0 + 60.0]
        best = max(best, later[-1] - n0)
    return best


async def run(args: argparse.Namespace) -> int:
    from bot.app import create_bot
    from bot.core.settings import load_settings
    from tests.fakediscord import FakeDiscord

    try:
        from tests.cli_support import dataset_zip
    except ImportError:  # the test helpers' earlier name (to measure an older version)
        from tests.cli_fixtures import dataset_zip  # type: ignore[import-not-found,no-redef]

    slow = SlowCallbacks()
    slow.install()
    logging.getLogger().setLevel(logging.CRITICAL)
    print(
        "starting the dataset host (synthetic ZIPs; the first run makes their JPEGs)...", flush=True
    )
    host = HostProcess(args.trains, dataset_zip(trigger=TRIGGER))
    await asyncio.to_thread(host.start)
    sizes = [size / 2**20 for _, size in host.datasets]
    images = [n for n, _ in host.datasets]
    print(
        f"  {len(sizes)} datasets: {min(sizes):.0f}-{max(sizes):.0f} MB, "
        f"{min(images)}-{max(images)} images (+ captions); WAN 40 ms RTT, 200 Mbit/s",
        flush=True,
    )
    sim = SimProcess(token=TOKEN, step_seconds=2.0, start_delay=1.0)
    await asyncio.to_thread(sim.start)
    tmp = tempfile.TemporaryDirectory(prefix="sd35l-bench-burst-")
    sampler = MemorySampler()
    sampler.start()
    args.sampler = sampler
    try:
        async with FakeDiscord() as fd:
            guild = fd.add_guild("burst-guild")
            users = [fd.add_member(guild, name=f"member{i}") for i in range(max(args.trains, 50))]
            settings = load_settings(
                REPLICATE_API_TOKEN=TOKEN,
                REPLICATE_BASE_URL=sim.base_url,
                DISCORD_TOKEN=fd.token,
                SD35L_DATABASE=str(Path(tmp.name) / "bot.sqlite"),
                SD35L_GUILD_IDS=str(guild.id),
                SD35L_ALLOW_PRIVATE_URLS=True,
                SD35L_MAX_ACTIVE_PER_USER=1000,
            )
            bot = create_bot(settings)
            async with fd.running(bot):
                slots = getattr(getattr(bot, "checks", None), "size", None)
                print(f"bot ready (dataset checks at once: {slots or 'unbounded'})", flush=True)
                slow.on = True
                burst = await phase_burst(args, fd, users, host)
                slow.on = False
                stalls_burst = list(slow.ms)
                cpu_burst = list(slow.cpu_ms)
                print("phase 1 done; preparing the Starts...", flush=True)
                starts = await phase_starts(args, fd, users, host, sim)
    finally:
        slow.remove()
        sampler.stop()
        await asyncio.to_thread(host.stop)
        await asyncio.to_thread(sim.stop)
        tmp.cleanup()
    report(args, burst, starts, stalls_burst, cpu_burst, slow)
    return 0


def report(
    args: argparse.Namespace,
    burst: dict[str, Any],
    starts: dict[str, Any],
    stalls: list[float],
    cpu: list[float],
    slow: SlowCallbacks,
) -> None:
    burst_results = burst["trains"] + burst["others"]
    acks = ack_ms(burst_results)
    quiet = ack_ms(burst["quiet"])
    missed = sum(1 for r in burst_results if r.rejected or r.response_latency is None)
    missed += sum(1 for v in acks if v > DEADLINE_MS)
    done = sorted(burst["done"].values())
    n = len(burst["trains"])
    link_s = burst["bytes"] / (200e6 / 8)
    print()
    print(
        f"phase 1: {n} /train on different datasets + {len(burst['others'])} /status and "
        "/presets in 1 s"
    )
    row(
        "3 s deadlines missed",
        f"{missed} of {len(burst_results)}",
        "target 0: " + measure.verdict(missed, 0),
    )
    p50, p99 = pct(acks, 50), pct(acks, 99)
    row(
        "acknowledgement p50 / p99",
        f"{p50:.1f} / {p99:.1f} ms",
        f"target p99 < {ACK_P99_MS:g} ms (aim < {ACK_AIM_MS:g}): "
        + measure.verdict(p99, ACK_P99_MS),
    )
    row("  acknowledgement min / median / max", spread(acks).fmt("ms", digits=1))
    row("  baseline: 10 quiet ones, min / median / max", spread(quiet).fmt("ms", digits=1))
    if done:
        row(
            f"all {n} previews answered",
            f"{done[-1]:.1f} s ({len(done)} of {n})",
            f"as before (the link is the limit): the bytes need {link_s:.1f} s at 200 Mbit/s",
        )
        row("  each preview answered after, min / median / max", spread(done).fmt("s", digits=1))
    row("  previews offering Start", f"{burst['with_start']} of {n}")
    idle, peak, after = burst["idle"], burst["peak"], burst["after"]
    row(
        "bot memory, idle -> peak -> after",
        f"{idle:.0f} -> {peak:.0f} -> {after:.0f} MB",
        f"target peak < {PEAK_MB:g} and < idle + {PEAK_OVER_IDLE_MB:g}: "
        + measure.verdict(peak, min(PEAK_MB, idle + PEAK_OVER_IDLE_MB)),
    )
    row(
        "  after, above idle",
        f"{after - idle:.0f} MB",
        f"target near idle (< +{AFTER_OVER_IDLE_MB:g} MB): "
        + measure.verdict(after - idle, AFTER_OVER_IDLE_MB),
    )
    row(
        "dataset bytes and requests per preview",
        f"{burst['bytes'] / max(n, 1) / 2**20:.1f} MB, {burst['requests'] / max(n, 1):.0f}",
        f"as before (<= {PREVIEW_BYTES_MB:g} MB, <= {PREVIEW_REQUESTS})",
    )
    if stalls:
        row(
            f"  loop callbacks over {STALL_MS:g} ms (phase 1)",
            f"{len(stalls)}, longest {max(stalls):.0f} ms",
            f"target none (CPU in them: longest {max(cpu):.0f} ms)",
        )
    else:
        row(f"  loop callbacks over {STALL_MS:g} ms (phase 1)", "0", "target none: met")
    long_gc = [ms for _, ms in slow.collections]
    row(
        f"  garbage collections over {STALL_MS:g} ms (phase 1)",
        f"{len(long_gc)}" + (f", longest {max(long_gc):.0f} ms" if long_gc else ""),
    )
    counts = starts["counts"]
    training_reads = busiest_minute(counts, lambda e: e == "GET /v1/trainings/{id}")
    all_reads = busiest_minute(
        counts, lambda e: not (e.startswith("POST") and e.endswith("trainings"))
    )
    print()
    print(f"phase 2: {len(starts['clicks'])} Starts over {args.start_seconds:g} s, then 60 s more")
    row("  trainings started", f"{starts['started']} of {len(starts['clicks'])}")
    row(
        f"training reads in the busiest minute ({starts['started']} trainings)",
        f"{training_reads}",
        f"target < {READS_PER_MINUTE:g}/min: "
        + measure.verdict(training_reads, READS_PER_MINUTE - 1),
    )
    row(
        "  all requests but creates, busiest minute",
        f"{all_reads}",
        f"target < {READS_PER_MINUTE:g}/min: " + measure.verdict(all_reads, READS_PER_MINUTE - 1),
    )
    clicks = ack_ms(starts["clicks"])
    if clicks:
        row(
            "  Start acknowledgement p50 / p99", f"{pct(clicks, 50):.1f} / {pct(clicks, 99):.1f} ms"
        )
    if slow.where:
        print("slowest kinds of callback (count):")
        for where, k in slow.where.most_common(5):
            print(f"  {k}x {where}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trains", type=int, default=40)
    parser.add_argument("--others", type=int, default=50)
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--start-seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="most seconds for previews")
    args = parser.parse_args(argv)
    measure.print_machine()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
