"""Benchmark: time to the first interaction response while Replicate and the dataset host are slow.

    python benchmarks/interaction_latency.py [--commands 100] [--slow 10] [--rate 1]

The real bot (`bot.app.create_bot()`, all its cogs, production tracker settings) runs with the
real discord.py client against the fake Discord (tests/fakediscord) on loopback. The Replicate
simulator answers every /v1 request `--slow` seconds late (`sim.faults.slow_seconds`), and the
dataset ZIP is served by a loopback host that also waits `--slow` seconds before answering.
Twenty active trainings are seeded, so the tracker's start-up reconcile is stuck on the slow
API too, as in an outage.

`--commands` interactions (default 100) are fired at `--rate` per second (default 1, so the
run lasts long enough for the late answers to land - dataset reports, previews, tracker rounds -
while later commands arrive) in a seeded random order: /train with a dataset URL (and some dry
runs), /status (list, and one training, which refreshes it from Replicate), /jobs, /presets,
/config-template, /status autocomplete, /cancel, and clicks on the cancel confirmation. For
each, the fake Discord records the time from the gateway dispatch of INTERACTION_CREATE to the
arrival of the first `POST /interactions/{id}/{token}/callback` (the defer, the message, or the
autocomplete answer). Before them, in the same run and the same bot, `--baseline-commands` of the
same mix (without /cancel, which would end the trainings the measured phase cancels) are fired
with both upstreams answering at once, after 10 uncounted ones that warm the process up: the
baseline the target is judged on.
Everything (fake Discord, bot, simulator, dataset host) shares one event loop, so anything that
blocks the loop shows up in these times. Printed: the machine, then min / p50 / p99 / max
overall (slow and quick) and per command. Target: the p99 with slow upstreams at most
RATIO_TARGET x the quick baseline's (the aim on the project's box is p99 < 50 ms; Discord's hard
limit is 3 s). No assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import measure  # noqa: E402
from aiohttp import web  # noqa: E402
from measure import pct, row  # noqa: E402

TOKEN = "r8_" + "sim" * 10
TRIGGER = "ZXQTOK"
TARGET_P99_MS = 50.0
RATIO_TARGET = 2.0  # slow upstreams at most double the p99 of the same bot with quick ones
DEADLINE_MS = 3000.0
SEEDED = 20


class SlowDatasetHost:
    """Serves one ZIP (Range supported) after waiting `delay` seconds on every request."""

    def __init__(self, path: Path, delay: float) -> None:
        self.path = path
        self.delay = delay
        self.hits = 0
        self.base = ""
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def start(self) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            self.hits += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.delay)
            return web.FileResponse(self.path)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()


class LogCounter(logging.Handler):
    """Counts the bot's log records of WARNING and above (the run is expected to have none)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = defaultdict(int)
        self.closed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.closed:
            self.counts[f"{record.levelname} {record.getMessage()[:60]!r}"] += 1

    def summary(self) -> str:
        return ", ".join(f"{n}x {k}" for k, n in self.counts.items()) or "none"


def plan(n: int, rng: random.Random, cancels: bool = True) -> list[str]:
    """The command mix, scaled to `n` (cancel confirmations come after their /cancel). Without
    `cancels` (warm-up, baseline) no training is cancelled, so the measured phase's /cancel
    still finds running trainings to confirm."""
    weights = {
        "train": 20,
        "train dry_run": 5,
        "status (list)": 20,
        "status training": 10,
        "jobs": 10,
        "presets": 10,
        "config-template": 5,
        "autocomplete status": 10,
        "cancel": 5 if cancels else 0,
        "click Confirm": 5 if cancels else 0,
    }
    weights = {kind: w for kind, w in weights.items() if w}
    scale = n / sum(weights.values())
    kinds: list[str] = []
    for kind, w in weights.items():
        kinds += [kind] * max(1, round(w * scale))
    while len(kinds) > n:
        kinds.remove(max(set(kinds) - {"cancel", "click Confirm"}, key=kinds.count))
    while len(kinds) < n:
        kinds.append("status (list)")
    clicks = [k for k in kinds if k == "click Confirm"]
    rest = [k for k in kinds if k != "click Confirm"]
    rng.shuffle(rest)
    return rest + clicks


async def seed_trainings(settings: Any, sim: Any, owners: list[int], guild_id: int) -> list[str]:
    """Active trainings the bot already tracks (as after some /train + Start)."""
    from bot.core.store.db import Store
    from bot.core.store.rows import TrainingRow

    store = await Store.open(settings.database)
    ids = []
    try:
        for i in range(SEEDED):
            record = sim.create_training(
                "alice/lora",
                {
                    "input_images": "https://example.com/x.zip",
                    "trigger_word": TRIGGER,
                    "steps": 6000,
                },
            )
            await store.trainings.add(
                TrainingRow(
                    id=record.id,
                    owner_id=owners[i % len(owners)],
                    destination="alice/lora",
                    guild_id=guild_id,
                    trigger_word=TRIGGER,
                )
            )
            ids.append(record.id)
    finally:
        await store.close()
    return ids


async def run(args: argparse.Namespace) -> int:
    from bot.app import create_bot
    from bot.core.settings import load_settings
    from bot.sim import ReplicateSimulator
    from tests.cli_support import dataset_zip
    from tests.fakediscord import FakeDiscord

    logs = LogCounter()
    logging.getLogger().addHandler(logs)  # counted, not printed (also keeps lastResort quiet)
    rng = random.Random(5)
    tmp = tempfile.TemporaryDirectory(prefix="sd35l-bench-latency-")
    zip_path = Path(tmp.name) / "good.zip"
    zip_path.write_bytes(dataset_zip(trigger=TRIGGER))
    results: list[tuple[str, Any]] = []
    baseline: list[tuple[str, Any]] = []
    async with FakeDiscord() as fd:
        guild = fd.add_guild("bench-guild")
        users = [fd.add_member(guild, name=f"user{i}") for i in range(8)]
        sim = ReplicateSimulator(token=TOKEN, step_seconds=0.5, start_delay=0.05)
        await sim.start()
        data = SlowDatasetHost(zip_path, args.slow)
        await data.start()
        settings = load_settings(
            REPLICATE_API_TOKEN=TOKEN,
            REPLICATE_BASE_URL=sim.base_url,
            DISCORD_TOKEN=fd.token,
            SD35L_DATABASE=str(Path(tmp.name) / "data" / "bot.sqlite"),
            SD35L_GUILD_IDS=str(guild.id),
            SD35L_ALLOW_PRIVATE_URLS=True,
            SD35L_MAX_ACTIVE_PER_USER=50,
        )
        ids = await seed_trainings(settings, sim, [u.id for u in users], guild.id)
        bot = create_bot(settings)
        try:
            async with fd.running(bot):
                sim.faults.slow_seconds = data.delay = 0.0
                warm: list[tuple[str, Any]] = []  # first uses in the process: not counted
                await fire_all(
                    fd, plan(10, rng, cancels=False), users, ids, data.base, rng, args.rate, warm
                )
                base_kinds = plan(args.baseline_commands, rng, cancels=False)
                print(
                    f"baseline: {len(base_kinds)} interactions at {args.rate:g}/s with Replicate "
                    "and the dataset host answering at once",
                    flush=True,
                )
                await fire_all(fd, base_kinds, users, ids, data.base, rng, args.rate, baseline)
                sim.faults.slow_seconds = data.delay = args.slow
                kinds = plan(args.commands, rng)
                print(
                    f"measured: {len(kinds)} interactions at {args.rate:g}/s; Replicate and the "
                    f"dataset host answer {args.slow:g} s late; {SEEDED} active trainings tracked",
                    flush=True,
                )
                await fire_all(fd, kinds, users, ids, data.base, rng, args.rate, results)
                trains = [r for k, r in results if k.startswith("train")]
                answered = sum(
                    1 for r in trains if r.original() is not None and not r.original().loading
                )
                print(
                    f"(/train previews completed during the run: {answered} of {len(trains)}; "
                    f"dataset host hits {data.hits}, Replicate requests "
                    f"{len(sim.requests)} so far; log records (WARNING+) while measuring: "
                    f"{logs.summary()})",
                    flush=True,
                )
                logs.closed = True  # handlers cut short by the shutdown log errors: not counted
                await data.stop()
                await sim.stop()
        finally:
            await data.stop()
            await sim.stop()
    tmp.cleanup()
    report(results, baseline)
    return 0


async def fire_all(
    fd: Any,
    kinds: list[str],
    users: list[Any],
    ids: list[str],
    dataset_base: str,
    rng: random.Random,
    rate: float,
    results: list[tuple[str, Any]],
) -> None:
    """Fire `kinds` at `rate` per second, then wait until each is answered or rejected."""
    cancels: list[tuple[Any, Any]] = []  # (result of /cancel, its user)
    start = time.perf_counter()
    phase: list[tuple[str, Any]] = []
    for i, kind in enumerate(kinds):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        user = users[i % len(users)]
        phase.append((kind, await fire(fd, kind, user, ids, dataset_base, rng, cancels)))
    deadline = time.perf_counter() + DEADLINE_MS / 1000 + 1
    while time.perf_counter() < deadline and any(  # noqa: ASYNC110
        not r.callbacks and not r.rejected for _, r in phase
    ):
        await asyncio.sleep(0.05)
    results.extend(phase)


async def fire(
    fd: Any,
    kind: str,
    user: Any,
    ids: list[str],
    dataset_base: str,
    rng: random.Random,
    cancels: list[tuple[Any, Any]],
) -> Any:
    """Fire one interaction of `kind`; returns the fake's InteractionResult."""
    if kind in ("train", "train dry_run"):
        options: dict[str, Any] = {
            "dataset_url": f"{dataset_base}/data/set{rng.randrange(1000)}.zip",
            "destination": "alice/lora",
            "trigger_word": TRIGGER,
            "preset": rng.choice(["beginner", "experienced", "fast"]),
        }
        if kind == "train dry_run":
            options["dry_run"] = True
        return await fd.slash("train", options, user=user)
    if kind == "status (list)":
        return await fd.slash("status", {}, user=user)
    if kind == "status training":
        return await fd.slash("status", {"training": rng.choice(ids)}, user=user)
    if kind == "jobs":
        opts = rng.choice([{}, {"status": "active"}, {"limit": 25}, {"user": user}])
        return await fd.slash("jobs", opts, user=user)
    if kind == "presets":
        return await fd.slash("presets", rng.choice([{}, {"name": "beginner"}]), user=user)
    if kind == "config-template":
        return await fd.slash("config-template", {"preset": "fast"}, user=user)
    if kind == "autocomplete status":
        return await fd.autocomplete_interaction("status", "training", ids[0][:2], user=user)
    if kind == "cancel":
        owner_ids = [t for i, t in enumerate(ids) if i % 8 == int(user.name[4:]) % 8]
        res = await fd.slash("cancel", {"training": owner_ids[0]}, user=user)
        cancels.append((res, user))
        return res
    if kind == "click Confirm":
        res_cancel, owner = cancels.pop(0)
        followups = await res_cancel.wait_followups(1, timeout=5.0)
        prompt = next(m for m in followups if m.buttons())
        return await fd.click(prompt, label=prompt.buttons()[0].get("label"), user=owner)
    raise ValueError(kind)


def latencies(results: list[tuple[str, Any]]) -> list[float]:
    return [
        res.response_latency * 1000
        for _, res in results
        if res.callbacks and res.response_latency is not None
    ]


def report(results: list[tuple[str, Any]], baseline: list[tuple[str, Any]]) -> None:
    by_kind: dict[str, list[float]] = defaultdict(list)
    late: list[str] = []
    missing: list[str] = []
    types: dict[int, int] = defaultdict(int)
    for kind, res in results:
        if res.callbacks and res.response_latency is not None:
            by_kind[kind].append(res.response_latency * 1000)
            types[res.response_type] += 1
        elif res.rejected:
            late.append(f"{kind}: {res.rejected[0]['reason']}")
        else:
            missing.append(kind)
    all_ms, base_ms = latencies(results), latencies(baseline)
    print()
    print("first response (ms): n, min / p50 / p99 / max")

    def figures(label: str, values: list[float], note: str = "") -> None:
        row(
            f"  {label} (n={len(values)})",
            f"{min(values):.1f} / {pct(values, 50):.1f} / {pct(values, 99):.1f} / "
            f"{max(values):.1f}",
            note,
        )

    if all_ms and base_ms:
        figures("all, upstreams slow", all_ms, f"(aim: p99 < {TARGET_P99_MS:g} ms)")
        figures("all, upstreams quick (baseline)", base_ms)
        p50_ratio = pct(all_ms, 50) / pct(base_ms, 50)
        p99_ratio = pct(all_ms, 99) / pct(base_ms, 99)
        row(
            "  slow / quick: p50, p99",
            f"{p50_ratio:.2f}x, {p99_ratio:.2f}x",
            f"target p99 <= {RATIO_TARGET:g}x: " + measure.verdict(p99_ratio, RATIO_TARGET),
        )
    for kind, values in sorted(by_kind.items()):
        figures(kind, values)
    names = {4: "message", 5: "defer", 6: "deferred update", 7: "update", 8: "autocomplete"}
    print(
        "first responses by type: " + ", ".join(f"{names.get(t, t)} {n}" for t, n in types.items())
    )
    print(f"rejected (after the {DEADLINE_MS / 1000:g} s deadline or refused): {len(late)} {late}")
    print(f"never answered: {len(missing)} {missing}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=100, help="interactions to fire")
    parser.add_argument("--slow", type=float, default=10.0, help="seconds every answer is late")
    parser.add_argument("--rate", type=float, default=1.0, help="interactions per second")
    parser.add_argument(
        "--baseline-commands", type=int, default=30, help="interactions of the quick baseline"
    )
    args = parser.parse_args(argv)
    measure.print_machine()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
