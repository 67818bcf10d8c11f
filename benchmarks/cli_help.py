"""How fast is `sd35l-trainer --help`, and does it import heavy modules? Prints figures only.

Runs `--help` N times in fresh interpreters, alternating with a bare interpreter start
(`python -c pass`, the baseline), and prints min / median / max of both and of their ratio per
pair; then runs it once more to list which heavy packages got imported (discord must never be).
Target: median ratio <= RATIO_TARGET (0.3 s on the project's box, where the bare start takes
~85 ms).

    python benchmarks/cli_help.py [-n 15] [--command train]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import measure
from measure import ROOT, row

RATIO_TARGET = 3.5
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
    measure.print_machine()
    run_once(argv)  # warm the OS file cache and .pyc files
    result = measure.paired(lambda: run_once(argv), baseline, opts.n)
    heavy = imported(argv)
    label = "sd35l-trainer " + " ".join(argv)
    print(f"{opts.n} runs each, alternating; min / median / max:")
    row(label, result.measured.fmt("s", digits=3))
    row("bare interpreter start (baseline)", result.baseline.fmt("s", digits=3))
    row(
        "ratio (per pair)",
        result.ratios.fmt("x"),
        f"target <= {RATIO_TARGET:g}x: " + measure.verdict(result.ratios.median, RATIO_TARGET),
    )
    row("heavy modules imported", ", ".join(heavy) if heavy else "none")
    row("discord imported", "yes" if "discord" in heavy else "no", "target: no")


if __name__ == "__main__":
    main()
