"""A dataset host behind a simulated WAN, for `burst.py`: large synthetic ZIPs served by byte
range from a generator, with a round trip and a shared bandwidth cap.

Why generated: forty ZIPs of 133-255 MB would take minutes and gigabytes to write. A ZIP is a
list of members and a directory, so each one is laid out once (offsets, CRCs) and any byte range
is produced on request: every member of a dataset is the same real JPEG (made once, sized so the
ZIP has the wanted size and image count) or its caption. The dataset check cannot tell the
difference: it reads the directory and a sample of members, as it would from S3.

The WAN: every request waits one round trip (`rtt`) before its answer starts, a new connection
one more (the TCP handshake), and all bodies share one `mbit`-per-second link, sent in 64 KB
slices in the order they were asked for. It runs in a child process so its work is not the
bot's, and answers `stats` (requests, bytes) and `stop` over a pipe.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing as mp
import random
import re
import time
from multiprocessing.connection import Connection
from typing import Any

from tests.synthetic_zip import SyntheticZip

SLICE = 64 * 1024


def jpeg_of_size(target: int, seed: int) -> bytes:
    """A real JPEG of exactly `target` bytes: a gradient with noise whose strength is searched
    (the largest that stays within the target, at the smallest of a few sizes that can reach
    it: 768 px or more, so every resolution bucket takes it), then zeros after its end marker
    (Pillow, the trainer and the check all accept data after a JPEG's end, as phones write).
    Kept in the temp folder: later runs reuse it."""
    import tempfile
    from pathlib import Path

    cache = Path(tempfile.gettempdir()) / "sd35l-burst-jpegs" / f"v2-{target // 4096}-{seed}.jpg"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(_jpeg_within(target - target % 4096, seed))
    data = cache.read_bytes()
    return data + bytes(max(0, target - len(data)))


def _jpeg_within(target: int, seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    noises: dict[int, Any] = {}

    def encode(side: int, amplitude: float) -> bytes:
        if side not in noises:
            noises[side] = rng.standard_normal((side, side, 3), dtype=np.float32)
        grad = np.linspace(0, 200, side, dtype=np.float32)
        base = (grad[None, :, None] + grad[:, None, None] * 0.2) % 255
        pixels = np.clip(base + noises[side] * amplitude, 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(out, "JPEG", quality=90)
        return out.getvalue()

    best = encode(768, 0.0)
    for side in (768, 1024, 1536, 2048):
        if len(encode(side, 0.0)) > target:
            break
        if len(encode(side, 90.0)) <= target:
            best = encode(side, 90.0)
            continue
        low, high = 0.0, 90.0
        for _ in range(8):
            mid = (low + high) / 2
            data = encode(side, mid)
            if len(data) <= target:
                low, best = mid, data
            else:
                high = mid
        break
    return best


def dataset_specs(count: int, seed: int = 22) -> list[tuple[int, int]]:
    """(images, target bytes) for `count` datasets: 200-5,000 images, 133-255 MB, spread."""
    rng = random.Random(seed)
    sizes = [int((133 + (255 - 133) * i / max(count - 1, 1)) * 1024 * 1024) for i in range(count)]
    images = [round(200 + (5000 - 200) * i / max(count - 1, 1)) for i in range(count)]
    rng.shuffle(sizes)
    return list(zip(images, sizes, strict=True))


class WanHost:
    """The aiohttp server: `/d/N.zip` (dataset N), `/small.zip` (a tiny ZIP)."""

    def __init__(self, zips: list[SyntheticZip], small: bytes, rtt: float, mbit: float) -> None:
        self.zips, self.small = zips, small
        self.rtt = rtt
        self.rate = mbit * 1e6 / 8  # bytes a second
        self.requests = 0
        self.bytes = 0
        self.link_free = 0.0  # when the shared link is free again
        self.connections: set[int] = set()

    async def _send_slot(self, size: int) -> None:
        now = time.monotonic()
        start = max(now, self.link_free)
        self.link_free = start + size / self.rate
        await asyncio.sleep(self.link_free - now)

    async def handle(self, request: Any) -> Any:
        from aiohttp import web

        self.requests += 1
        wait = self.rtt
        transport = request.transport
        if transport is not None and id(transport) not in self.connections:
            self.connections.add(id(transport))
            wait += self.rtt  # the TCP handshake of a new connection
        await asyncio.sleep(wait)
        name = request.path.rsplit("/", 1)[-1]
        if name == "small.zip":
            size, read = len(self.small), (lambda a, b: self.small[a:b])
        else:
            match = re.fullmatch(r"(\d+)\.zip", name)
            if match is None or int(match.group(1)) >= len(self.zips):
                return web.Response(status=404)
            archive = self.zips[int(match.group(1))]
            size, read = archive.size, archive.read
        header = request.headers.get("Range", "")
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", header)
        start, end = 0, size
        status = 200
        if found:
            start = int(found.group(1))
            end = min(int(found.group(2)) + 1 if found.group(2) else size, size)
            status = 206
        headers = {"Content-Type": "application/zip", "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = end - start
        await response.prepare(request)
        pos = start
        while pos < end:
            chunk = read(pos, min(pos + SLICE, end))
            await self._send_slot(len(chunk))
            await response.write(chunk)
            self.bytes += len(chunk)
            pos += len(chunk)
        await response.write_eof()
        return response


def _host_child(conn: Connection, count: int, small: bytes, rtt: float, mbit: float) -> None:
    from aiohttp import web

    zips = []
    for i, (images, target) in enumerate(dataset_specs(count)):
        per_image = target // images - 140  # headers, names, caption, directory
        zips.append(SyntheticZip(images, jpeg_of_size(per_image, seed=i)))
    host = WanHost(zips, small, rtt, mbit)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", host.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        conn.send((f"http://127.0.0.1:{port}", [(len(z.members) // 2, z.size) for z in zips]))
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd == "stats":
                conn.send((host.requests, host.bytes))
            elif cmd == "stop":
                conn.send(None)
                break
        await runner.cleanup()

    asyncio.run(main())


class HostProcess:
    """The WAN host in a child process."""

    def __init__(self, count: int, small: bytes, rtt: float = 0.04, mbit: float = 200.0) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_host_child, args=(child, count, small, rtt, mbit), daemon=True
        )
        self.base = ""
        self.datasets: list[tuple[int, int]] = []

    def start(self) -> str:
        self._proc.start()
        self.base, self.datasets = self._conn.recv()
        return self.base

    def stats(self) -> tuple[int, int]:
        self._conn.send("stats")
        requests, sent = self._conn.recv()
        return int(requests), int(sent)

    def stop(self) -> None:
        try:
            self._conn.send("stop")
            self._conn.recv()
        finally:
            self._proc.join(timeout=10)
