"""Measurement code shared by the benchmarks: the machine, repeated runs, paired baselines.

Figures from one machine do not carry over to another, and a busy machine moves them a lot (the
project's box has 2 cores shared by several jobs). So every benchmark

* prints the machine it ran on (`print_machine`: CPU model, cores, Python, load average);
* repeats each measurement and prints min / median / max (`Spread`);
* measures a baseline in the same run, alternating with the measurement so both see the same
  load (`paired`, `apaired`), and judges its target on the ratio of the two where the figure
  depends on the machine's speed (`verdict`). Absolute figures are printed too, for reading.

Benchmarks run as scripts (`python benchmarks/NAME.py`), so this module is imported as `measure`.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "r8_" + "sim" * 10  # the simulator's token: not a real one
DESTINATION = "alice/lora"


# -- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """One line naming what the figures were measured on, and how busy it was."""
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = cores
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return (
        f"machine: {cpu_model()}, {cores} cores ({usable} usable), "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}; load average {load} (1/5/15 min)"
    )


def print_machine() -> None:
    print(machine(), flush=True)


# -- repeated figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """The values of one figure over its repeats."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def fmt(self, unit: str = "", scale: float = 1.0, digits: int = 2) -> str:
        """`min / median / max unit`, each value multiplied by `scale`."""
        parts = (f"{v * scale:.{digits}f}" for v in (self.min, self.median, self.max))
        return " / ".join(parts) + (f" {unit}" if unit else "")


def spread(values: Iterable[float]) -> Spread:
    values = tuple(values)
    if not values:
        raise ValueError("no values to summarise")
    return Spread(values)


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


@dataclass(frozen=True)
class Paired:
    """A measurement and its baseline, repeated in alternation, with the ratio of each pair."""

    measured: Spread
    baseline: Spread
    ratios: Spread


def pair(measured: list[float], base: list[float]) -> Paired:
    return Paired(
        spread(measured),
        spread(base),
        spread(ratio(m, b) for m, b in zip(measured, base, strict=True)),
    )


def paired(measure: Callable[[], float], baseline: Callable[[], float], repeats: int) -> Paired:
    """Run measurement and baseline alternately (ABBA order, so neither always goes first)."""
    measured: list[float] = []
    base: list[float] = []
    for i in range(max(1, repeats)):
        if i % 2:
            base.append(baseline())
            measured.append(measure())
        else:
            measured.append(measure())
            base.append(baseline())
    return pair(measured, base)


async def apaired(
    measure: Callable[[], Awaitable[float]],
    baseline: Callable[[], Awaitable[float]],
    repeats: int,
) -> Paired:
    """`paired` for coroutines."""
    measured: list[float] = []
    base: list[float] = []
    for i in range(max(1, repeats)):
        if i % 2:
            base.append(await baseline())
            measured.append(await measure())
        else:
            measured.append(await measure())
            base.append(await baseline())
    return pair(measured, base)


def verdict(value: float, target: float, *, at_most: bool = True) -> str:
    """`met` or `MISSED` for a figure against its target (judged on the median by callers)."""
    ok = value <= target if at_most else value >= target
    return "met" if ok else "MISSED"


def pct(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty collection."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def row(label: str, value: str, note: str = "", width: int = 46) -> None:
    """One aligned line of a report: label, figure, then the target or a remark."""
    print(f"{label:<{width}}{value:>28}   {note}".rstrip(), flush=True)


# -- the Replicate simulator in a child process -------------------------------------------------


def _sim_child(conn: Connection, sim_kwargs: dict[str, Any]) -> None:
    """Serve the simulator and answer commands from the parent over `conn` until "stop"."""
    import random
    import time
    from collections import Counter

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
            if cmd == "create":  # count, (min_age, max_age), inputs
                count, ages, inputs = args
                lo, hi = ages if isinstance(ages, tuple | list) else (0.0, ages)
                ids = []
                for _ in range(count):
                    record = sim.create_training(DESTINATION, dict(inputs))
                    age = rng.uniform(lo, hi)
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
                conn.send(dict(Counter(r.endpoint for r in list(sim.requests))))
            elif cmd == "statuses":
                conn.send(Counter(sim.trainings[t]["status"] for t in args[0]))
            else:  # pragma: no cover - programming error in the parent
                conn.send(ValueError(cmd))


class SimProcess:
    """The Replicate simulator in a child process, so its CPU is not counted as the bot's (on
    Replicate it is not our machine's work either). Calls are quick; `acall` runs them off the
    event loop."""

    def __init__(self, **sim_kwargs: Any) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_sim_child, args=(child, sim_kwargs), daemon=True)
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
