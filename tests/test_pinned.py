"""SafeFetcher's transport: kept-alive connections, no thread left blocked, TLS on the pins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.core.errors import ServiceError
from bot.core.http.fetcher import SafeFetcher
from bot.core.http.pinned import Pool

DATA = bytes(range(256)) * 40


@dataclass
class PeerServer:
    """Serves DATA (with ranges) at /data and hangs at /hang; records each client connection."""

    peers: list[tuple[str, int]] = field(default_factory=list)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    base: str = ""
    _runner: web.AppRunner | None = None

    async def _data(self, request: web.Request) -> web.Response:
        self.peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        start, _, end = (
            request.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
        )
        last = int(end) if end else len(DATA) - 1
        body = DATA[int(start) : last + 1]
        return web.Response(body=body, status=206 if "Range" in request.headers else 200)

    async def _hang(self, request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client leaves
            self.gone.set()
            raise
        return web.Response(text="late")

    async def __aenter__(self) -> PeerServer:
        app = web.Application()
        app.router.add_get("/data", self._data)
        app.router.add_get("/hang", self._hang)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[PeerServer]:
    async with PeerServer() as srv:
        yield srv


async def test_ranged_reads_reuse_one_connection(server: PeerServer) -> None:
    async with SafeFetcher(allow_private=True) as fetcher:
        for i in range(5):
            got = await fetcher.fetch(
                f"{server.base}/data", headers={"Range": f"bytes={i}-{i + 9}"}
            )
            assert got.status == 206 and got.body == DATA[i : i + 10]
        assert len(server.peers) == 5 and len(set(server.peers)) == 1  # kept alive
        capped = await fetcher.fetch(f"{server.base}/data", max_bytes=100)
        assert capped.truncated and capped.body == DATA[:100]
        again = await fetcher.fetch(f"{server.base}/data")
        assert again.body == DATA and not again.truncated
    # The truncated download's connection was dropped, not handed to the next request.
    assert server.peers[5] == server.peers[0] and server.peers[6] != server.peers[5]
    assert fetcher.requests_made == 7 and fetcher.bytes_read == 50 + 100 + len(DATA)


async def test_parallel_reads_get_their_own_connections(server: PeerServer) -> None:
    async with SafeFetcher(allow_private=True, max_connections=3) as fetcher:
        ranges = [f"bytes={i * 100}-{i * 100 + 99}" for i in range(9)]
        got = await asyncio.gather(
            *(fetcher.fetch(f"{server.base}/data", headers={"Range": r}) for r in ranges)
        )
    assert b"".join(g.body for g in got) == DATA[:900]
    assert 1 <= len(set(server.peers)) <= 3  # never more connections than allowed


async def test_a_request_given_up_leaves_no_blocked_reader(server: PeerServer) -> None:
    async with SafeFetcher(allow_private=True, request_timeout=0.3, read_timeout=60) as fetcher:
        with pytest.raises(ServiceError, match="timed out"):
            await fetcher.fetch(f"{server.base}/hang")
        # The connection was shut down at once (not after the 60 s read timeout): the server
        # sees the client leave, and the fetcher still works.
        await asyncio.wait_for(server.gone.wait(), 10)
        assert (await fetcher.fetch(f"{server.base}/data")).body == DATA


async def test_https_speaks_tls_to_the_checked_address(server: PeerServer) -> None:
    plain = server.base.replace("http://", "https://")  # a plain-HTTP server: no TLS handshake
    async with SafeFetcher(allow_private=True) as fetcher:
        with pytest.raises(ServiceError, match=r"could not fetch the dataset from 127\.0\.0\.1"):
            await fetcher.fetch(f"{plain}/data")
    assert server.peers == []  # no request got through without TLS


def test_https_connections_share_one_tls_context() -> None:
    pool = Pool(connect_timeout=1, read_timeout=1)
    first = pool.take(("https", "a.example", 443), ["8.8.8.8"])
    second = pool.take(("https", "b.example", 443), ["8.8.4.4"])
    plain = pool.take(("http", "a.example", 80), ["8.8.8.8"])
    assert first._context is second._context  # type: ignore[attr-defined]
    assert not hasattr(plain, "_context")
    pool.close()  # never connected: closing costs nothing and sends nothing


async def test_slow_hosts_do_not_hold_the_default_worker_threads(server: PeerServer) -> None:
    """Exchanges block in their own threads: more hanging dataset reads than the loop's default
    executor has threads leave it free for CPU work (judging a ZIP, drawing a chart)."""
    import os

    default_threads = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default
    fetchers = [SafeFetcher(allow_private=True, read_timeout=10) for _ in range(default_threads)]
    hanging = [asyncio.create_task(f.fetch(f"{server.base}/hang")) for f in fetchers]
    try:
        await asyncio.sleep(0.5)  # every read is now blocked in its thread
        assert not any(task.done() for task in hanging)
        assert await asyncio.wait_for(asyncio.to_thread(sum, [1, 2]), timeout=5) == 3
    finally:
        for task in hanging:
            task.cancel()
        await asyncio.gather(*hanging, return_exceptions=True)
        for fetcher in fetchers:
            await fetcher.aclose()


async def test_fetch_threads_leave_ctrl_c_to_the_main_thread(server: PeerServer) -> None:
    """A SIGINT the kernel hands to a fetch thread would not interrupt the CLI's prompt in the
    main thread: those threads block it, like the CLI's own workers."""
    import signal

    from bot.core.http.fetcher import exchanges

    async with SafeFetcher(allow_private=True) as fetcher:
        await fetcher.fetch(f"{server.base}/data")
    loop = asyncio.get_running_loop()
    mask = await loop.run_in_executor(exchanges(), signal.pthread_sigmask, signal.SIG_BLOCK, [])
    assert signal.SIGINT in mask
