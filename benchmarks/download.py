"""Benchmark: download + extract of a weights tar vs. a plain streaming read of the same URL.

    python benchmarks/download.py [--size-mb 1024]

Builds a tar shaped like the trainer's output (`output/sd3.5_train_replicate/lora.safetensors`,
`config.yaml`, `captions/a.txt`) in a temp dir, serves it on loopback with aiohttp's FileResponse
(Range supported), then measures, each in its own subprocess so its peak RSS can be read with
`os.wait4`:
  (a) a plain streaming read of the URL (httpx, bytes thrown away) - the baseline;
  (b) the same read written to a file with fsync (what `curl -o` costs: the disk's share);
  (c) `bot.core.artifacts.download_weights` into a temp dir (stream, parse, write, rename).
Runs are interleaved and `os.sync()` is called before each, so one run's writeback does not slow
the next. `--output-dir /dev/shm` takes the disk out of the measurement.
Each figure is printed as min / median / max over `--runs`; the ratio (c)/(a) is taken within
each run (the runs' measurements are back to back). Targets: peak RSS of (c) < 100 MB and the
median ratio (c)/(a) >= 0.8 (the plain read is the baseline). The output is checked by sha256.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import measure
from aiohttp import web
from measure import ROOT, row, spread

MEMBER = "output/sd3.5_train_replicate/lora.safetensors"
CHUNK = 1024 * 1024
RSS_TARGET_MB = 100
RATIO_TARGET = 0.8

PLAIN_CHILD = """
import sys, time, httpx
url = sys.argv[1]
start = time.perf_counter(); n = 0
with httpx.Client(timeout=60) as client:
    with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            n += len(chunk)
print(n, time.perf_counter() - start)
"""

PLAIN_WRITE_CHILD = """
import os, sys, time, httpx
url, out = sys.argv[1], sys.argv[2]
start = time.perf_counter(); n = 0
with httpx.Client(timeout=60) as client, open(out, "wb") as fh:
    with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            fh.write(chunk); n += len(chunk)
    fh.flush(); os.fsync(fh.fileno())
print(n, time.perf_counter() - start)
"""

DOWNLOAD_CHILD = """
import asyncio, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bot.core.artifacts.weights import download_weights
start = time.perf_counter()
path = asyncio.run(download_weights(sys.argv[1], Path(sys.argv[2]), "bench.safetensors"))
print(path.stat().st_size, time.perf_counter() - start)
"""


class _Payload:
    """`size` bytes: a safetensors-like header, then a repeated random block; hashed as read."""

    def __init__(self, size: int) -> None:
        header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
        header += b" " * (-len(header) % 8)
        self._head = len(header).to_bytes(8, "little") + header
        self._block = os.urandom(CHUNK)
        self._size = size
        self._pos = 0
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = min(size if size >= 0 else CHUNK, self._size - self._pos)
        parts: list[bytes] = []
        want = size
        while want > 0:
            if self._pos < len(self._head):
                data = self._head[self._pos : self._pos + want]
            else:
                offset = (self._pos - len(self._head)) % CHUNK
                data = self._block[offset : offset + want]
            parts.append(data)
            self._pos += len(data)
            want -= len(data)
        out = b"".join(parts)
        self.sha.update(out)
        return out


def build_tar(path: Path, size: int) -> str:
    """Write the tar; return the sha256 of its LoRA member."""
    payload = _Payload(size)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        config = b"job: extension\nconfig: {name: sd3.5_train_replicate}\n"
        for name, data in (
            ("output/sd3.5_train_replicate/config.yaml", config),
            ("output/sd3.5_train_replicate/captions/a.txt", b"a photo of TOK"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(MEMBER)
        info.size = size
        tar.addfile(info, payload)
    return payload.sha.hexdigest()


class Server:
    """aiohttp on loopback in its own thread, serving one file with Range support."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = ""
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        async def handler(_: web.Request) -> web.FileResponse:
            return web.FileResponse(self.path)

        app = web.Application()
        app.router.add_get("/weights.tar", handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/weights.tar"

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


def run_child(code: str, *args: str) -> tuple[int, float, float, float]:
    """Run `code` in a fresh interpreter; return (bytes, seconds, peak RSS MB, CPU seconds)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {err.decode(errors='replace')}")
    nbytes, seconds = out.split()
    cpu = usage.ru_utime + usage.ru_stime
    return int(nbytes), float(seconds), usage.ru_maxrss / 1024, cpu  # ru_maxrss: KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="LoRA member size in MB")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    parser.add_argument(
        "--output-dir", type=Path, default=None, help="where to build the tar and extract (temp)"
    )
    args = parser.parse_args(argv)
    measure.print_machine()
    size = args.size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="sd35l-bench-", dir=args.output_dir) as tmp:
        tar_path = Path(tmp) / "weights.tar"
        print(f"building a {args.size_mb} MB tar ...", flush=True)
        expected = build_tar(tar_path, size)
        tar_size = tar_path.stat().st_size
        with Server(tar_path) as server:
            plain: list[tuple[int, float, float, float]] = []
            full: list[tuple[int, float, float, float]] = []
            written: list[tuple[int, float, float, float]] = []
            for i in range(args.runs):
                os.sync()  # no writeback of an earlier run competes with this one
                plain.append(run_child(PLAIN_CHILD, server.url))
                os.sync()
                copy = Path(tmp) / "copy.tar"
                written.append(run_child(PLAIN_WRITE_CHILD, server.url, str(copy)))
                copy.unlink()
                out_dir = Path(tmp) / f"out{i}"
                os.sync()
                full.append(run_child(DOWNLOAD_CHILD, server.url, str(out_dir), str(ROOT)))
                print(
                    f"  run {i + 1}: plain {tar_size / 1e6 / plain[-1][1]:7.1f} MB/s, "
                    f"plain+write {tar_size / 1e6 / written[-1][1]:7.1f} MB/s, "
                    f"download+extract {tar_size / 1e6 / full[-1][1]:7.1f} MB/s, "
                    f"peak RSS {full[-1][2]:.1f} MB, CPU s plain {plain[-1][3]:.2f} "
                    f"download {full[-1][3]:.2f}",
                    flush=True,
                )
                digest = hashlib.sha256()
                with open(out_dir / "bench.safetensors", "rb") as fh:
                    while block := fh.read(CHUNK):
                        digest.update(block)
                if digest.hexdigest() != expected:
                    print("FAIL: extracted LoRA differs from the tar member (sha256)")
                    return 1
                (out_dir / "bench.safetensors").unlink()
    mb = tar_size / 1e6
    plain_rate = spread(mb / s for _, s, _, _ in plain)
    full_rate = spread(mb / s for _, s, _, _ in full)
    write_rate = spread(mb / s for _, s, _, _ in written)
    # Each run's three measurements ran back to back: ratios are taken within a run.
    ratios = spread(
        plain_s / full_s for (_, plain_s, _, _), (_, full_s, _, _) in zip(plain, full, strict=True)
    )
    vs_write = spread(
        w_s / f_s for (_, w_s, _, _), (_, f_s, _, _) in zip(written, full, strict=True)
    )
    rss = spread(r for _, _, r, _ in full)
    plain_rss = spread(r for _, _, r, _ in plain)
    print()
    print(f"tar of {tar_size / 2**20:.1f} MiB, {args.runs} runs; min / median / max:")
    row("plain streaming read (baseline)", plain_rate.fmt("MB/s", digits=1))
    row("plain read + write file", write_rate.fmt("MB/s", digits=1), "(like curl -o, with fsync)")
    row("download + extract", full_rate.fmt("MB/s", digits=1))
    row(
        "download / plain read (per run)",
        ratios.fmt("x"),
        f"target >= {RATIO_TARGET}x: "
        + measure.verdict(ratios.median, RATIO_TARGET, at_most=False),
    )
    row("download / plain read + write (per run)", vs_write.fmt("x"))
    row("peak RSS of the plain read (baseline)", plain_rss.fmt("MB", digits=1))
    row(
        "peak RSS of the download",
        rss.fmt("MB", digits=1),
        f"target < {RSS_TARGET_MB} MB: " + measure.verdict(rss.max, RSS_TARGET_MB),
    )
    print("sha256 of the extracted LoRA matches the tar member")
    ok = rss.max < RSS_TARGET_MB and ratios.median >= RATIO_TARGET
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
