"""How fast is `sd35l-trainer --help`, and does it import heavy modules? Prints figures only.

Runs `--help` N times in fresh interpreters (min/median wall time), then once in-process to list
which heavy packages got imported (discord must never be; the target is < 0.3 s).

    python benchmarks/cli_help.py [-n 15] [--command train]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "discord",
    "aiohttp",
    "httpx",
    "replicate",
    "pydantic",
    "pydantic_settings",
    "rich",
    "yaml",
)

_PROBE = """
import json, sys
from bot.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set(heavy))), file=sys.stderr)
"""


def run_once(argv: list[str]) -> float:
    code = f"from bot.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def imported(argv: list[str]) -> list[str]:
    code = _PROBE.format(argv=argv, heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    result: list[str] = json.loads(proc.stderr.strip().splitlines()[-1])
    return result


def baseline() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="runs (default 15)")
    parser.add_argument("--command", default=None, help="time `<command> --help` instead")
    opts = parser.parse_args()
    argv = [opts.command, "--help"] if opts.command else ["--help"]
    run_once(argv)  # warm the OS file cache and .pyc files
    times = [run_once(argv) for _ in range(opts.n)]
    bare = min(baseline() for _ in range(5))
    heavy = imported(argv)
    label = "sd35l-trainer " + " ".join(argv)
    print(f"{label}: runs={opts.n} min={min(times):.3f}s median={statistics.median(times):.3f}s")
    print(f"bare interpreter start: {bare:.3f}s (min of 5)")
    print(f"heavy modules imported: {', '.join(heavy) if heavy else 'none'}")
    print(f"discord imported: {'yes' if 'discord' in heavy else 'no'}")
    print(f"target < 0.300s: {'met' if statistics.median(times) < 0.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
