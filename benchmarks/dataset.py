"""Benchmark: how much a dataset check reads, and how long it takes, vs. a full download.

Builds ZIPs of 50 MB, 300 MB and 1 GB (200 images of ~100 KB at the front, then filler), serves
them on loopback with Range support, and for each prints the bytes read and the seconds of
`inspect_dataset` run in a fresh interpreter (so start-up counts, like the CLI), next to a full
download of the same file. Target for 300 MB: under 16 MB read and under 3 s.

    python benchmarks/dataset.py [--sizes 50,300,1024] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dataset_corpus import jpeg_bytes, png_bytes  # noqa: E402

MIB = 1024 * 1024
IMAGES = 200

CHILD = """
import asyncio, json, sys
from bot.core.dataset.check import inspect_dataset
from bot.core.settings import load_settings
report = asyncio.run(inspect_dataset(sys.argv[1], settings=load_settings(), trigger_word="TOK"))
print(json.dumps({"bytes_read": report.bytes_read, "seconds": report.seconds, "ok": report.ok,
                  "images": report.counts.get("usable_images"),
                  "checked": report.counts.get("headers_checked"),
                  "errors": [f.code for f in report.errors]}))
"""


def build_zip(path: Path, size_mb: int) -> None:
    """200 images (~100 KB each, real headers + padding) with captions, then stored filler."""
    chunk = os.urandom(16 * MIB)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for i in range(IMAGES):
            head = jpeg_bytes(1024, 768) if i % 2 else png_bytes(1024, 1024)
            archive.writestr(
                f"dataset/img{i:03d}{'.jpg' if i % 2 else '.png'}", head + os.urandom(100 * 1024)
            )
            archive.writestr(f"dataset/img{i:03d}.txt", f"a photo of TOK number {i}")
        remaining = size_mb * MIB - archive.fp.tell()  # type: ignore[union-attr]
        part = 0
        while remaining > 1024 * 1024:
            info = zipfile.ZipInfo(f"filler/part{part:03d}.bin", date_time=(2024, 1, 1, 0, 0, 0))
            todo = min(remaining - 4096, 256 * MIB)
            with archive.open(info, "w", force_zip64=True) as handle:
                written = 0
                while written < todo:
                    piece = chunk[: min(len(chunk), todo - written)]
                    handle.write(piece)
                    written += len(piece)
            remaining = size_mb * MIB - archive.fp.tell()  # type: ignore[union-attr]
            part += 1


class Server:
    """aiohttp static files (Range support built in) on loopback, in a background thread."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_static("/files", self.folder)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.ready.set()
        self.loop.run_forever()


async def full_download(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    total = 0
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        async for chunk in resp.content.iter_chunked(1024 * 1024):
            total += len(chunk)
    return total, time.perf_counter() - started


def run_child(command: list[str]) -> tuple[dict[str, object], float]:
    env = {**os.environ, "SD35L_ALLOW_PRIVATE_URLS": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    data: dict[str, object] = json.loads(lines[-1]) if lines else {"error": out.stderr[-500:]}
    return data, wall


def run_cli(url: str) -> str:
    """Wall time of the real `sd35l-trainer train --dry-run` (no token: dataset + config only)."""
    if not (ROOT / "bot" / "cli").exists():
        return "n/a (bot.cli missing)"
    code = "import sys; from bot.cli import main; main(sys.argv[1:])"
    args = [
        "train",
        "--dataset-url",
        url,
        "--destination",
        "alice/lora",
        "--trigger-word",
        "ZXQTOK",
        "--dry-run",
    ]
    env = {
        **os.environ,
        "SD35L_ALLOW_PRIVATE_URLS": "1",
        "PYTHONPATH": str(ROOT),
        "REPLICATE_API_TOKEN": "",
    }
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - started
    return f"{wall:.2f} s" if out.returncode == 0 else f"failed (exit {out.returncode})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50,300,1024")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sd35l-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = Server(folder)
    print(
        f"{'size':>6} | {'check read':>11} {'check s':>8} {'wall s*':>8} | "
        f"{'download':>10} {'dl s':>6} | verdict"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        path = folder / f"dataset_{size}mb.zip"
        if not path.exists():
            build_zip(path, size)
        url = f"http://127.0.0.1:{server.port}/files/{path.name}"
        result, wall = run_child([sys.executable, "-c", CHILD, url])
        cli_wall = run_cli(url)
        got, seconds = asyncio.run(full_download(url))
        read = result.get("bytes_read", 0)
        assert isinstance(read, int)
        print(
            f"{size:>4}MB | {read / MIB:>8.2f} MB {float(str(result.get('seconds', 0))):>8.2f} "
            f"{wall:>8.2f} | {got / MIB:>7.1f} MB {seconds:>6.2f} | "
            f"ok={result.get('ok')} images={result.get('images')} "
            f"headers={result.get('checked')} {result.get('errors', result.get('error'))}"
            f" | CLI train --dry-run wall: {cli_wall}"
        )
    print("* wall = the whole `python -c` run, including interpreter and import start-up")
    if args.keep is None:
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
