"""How long does `sd35l-trainer train --dry-run` take on a tiny dataset, against importing
pydantic alone? Prints figures only.

Each run is a fresh interpreter doing the whole dry run (config, the dataset check of a two-image
ZIP served on loopback, the estimate; no token, so no account checks), alternating with the
baseline `python -c "import pydantic"` so both see the same load. Prints min / median / max of
both and of their ratio per pair, then the import time of one dry run from `python -X importtime`:
in all, and by top-level package (each module's own time; `bot` is this project's code).
Target: median ratio <= RATIO_TARGET.

    python benchmarks/cli_startup.py [-n 11]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import measure
from measure import ROOT, row

RATIO_TARGET = 4.0


def tiny_zip(folder: Path) -> Path:
    """Two 512 px PNGs with captions: the smallest dataset the check calls usable."""
    from PIL import Image

    path = folder / "tiny.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(2):
            buffer = io.BytesIO()
            Image.new("RGB", (512, 512), (40 * i, 90, 160)).save(buffer, format="PNG")
            archive.writestr(f"img{i}.png", buffer.getvalue())
            archive.writestr(f"img{i}.txt", f"a photo of ZXQTOK number {i}")
    return path


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/tiny.zip"


def dry_run_argv(url: str) -> list[str]:
    return [
        "train", "--dataset-url", url, "--destination", "alice/lora",
        "--trigger-word", "ZXQTOK", "--dry-run",
    ]  # fmt: skip


def environment(home: Path) -> dict[str, str]:
    """No product variables; and .pyc files get written (the warm-up run writes them), as pip
    writes them when it installs the package: with PYTHONDONTWRITEBYTECODE set (this project's
    Dockerfile sets it), an edited module would be compiled again in every measured run."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SD35L_", "REPLICATE_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {**keep, "SD35L_ALLOW_PRIVATE_URLS": "1", "SD35L_CONFIG_DIR": str(home)}


def timed(args: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def cli_args(argv: list[str]) -> list[str]:
    return [sys.executable, "-c", f"from bot.cli import main; main({argv!r})"]


def biggest_imports(argv: list[str], env: dict[str, str], cwd: Path, top: int = 8) -> list[str]:
    """Import time by top-level package, from `python -X importtime`: each module's own time
    (not its children's) added to its package, so `bot` is only this project's code."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *cli_args(argv)[1:]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, int] = defaultdict(int)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        totals[name.strip().split(".")[0]] += int(own.strip())
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:top]
    total = sum(totals.values())
    return [f"all {total / 1000:.0f} ms"] + [f"{name} {us / 1000:.0f} ms" for name, us in ranked]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=11, help="runs (default 11)")
    opts = parser.parse_args()
    measure.print_machine()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tiny_zip(folder)
        server, url = serve(folder)
        try:
            env = environment(folder)
            argv = dry_run_argv(url)
            timed(cli_args(argv), env, ROOT)  # warm the OS file cache and .pyc files
            result = measure.paired(
                lambda: timed(cli_args(argv), env, ROOT),
                lambda: timed([sys.executable, "-c", "import pydantic"], env, ROOT),
                opts.n,
            )
            imports = biggest_imports(argv, env, ROOT)
        finally:
            server.shutdown()
    print(f"{opts.n} runs each, alternating; min / median / max:")
    row("train --dry-run, tiny dataset", result.measured.fmt("s", digits=3))
    row('python -c "import pydantic" (baseline)', result.baseline.fmt("s", digits=3))
    row(
        "ratio (per pair)",
        result.ratios.fmt("x"),
        f"target <= {RATIO_TARGET:g}x: " + measure.verdict(result.ratios.median, RATIO_TARGET),
    )
    row("import time, biggest packages", ", ".join(imports))


if __name__ == "__main__":
    main()
