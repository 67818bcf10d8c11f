"""What the CLI tests share besides their fixtures (in conftest.py): the fake token, a dataset
ZIP and the loopback server that serves it, and `invoke`. Everything runs on loopback; the token
is fake and registered so the tests can assert it never shows up.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from aiohttp import web
from click.testing import CliRunner, Result

from bot.cli import cli
from tests.dataset_corpus import make_zip, png_bytes

TOKEN = "r8_" + "sim" * 10
TRIGGER = "ZXQTOK"


def dataset_zip(count: int = 12, trigger: str = TRIGGER) -> bytes:
    image = png_bytes()
    return make_zip(
        member
        for i in range(count)
        for member in (
            (f"img{i:02d}.png", image),
            (f"img{i:02d}.txt", f"a photo of {trigger} number {i}".encode()),
        )
    )


class DatasetServer:
    """Serves files from a directory with HTTP Range support (aiohttp FileResponse)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _start(self) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            path = self.root / request.match_info["name"]
            if not path.is_file():
                raise web.HTTPNotFound()
            if path.suffix == ".html":
                return web.Response(text=path.read_text(), content_type="text/html")
            return web.FileResponse(path)

        app = web.Application()
        app.router.add_route("*", "/{name}", handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def __enter__(self) -> DatasetServer:
        self._thread.start()
        self.base_url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


def invoke(args: list[str], input: str | None = None, **kwargs: Any) -> Result:
    """Run the CLI in-process; asserts the universal promises (no traceback, no token)."""
    result = CliRunner().invoke(cli, args, input=input, catch_exceptions=True, **kwargs)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output, output
    assert TOKEN not in output, output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}\n{output}")
    return result
