"""Ways to run the simulator outside a test's event loop.

`SimulatorThread` runs it on its own loop in a background thread, for synchronous tests (click's
CliRunner) and anything that cannot share a loop. `serve_forever`/`main_sync` back the
`sd35l-trainer simulate` command; they print nothing and hand the base URL to `on_ready`, so the
CLI decides what to tell the user.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from bot.sim.server import ReplicateSimulator


class SimulatorThread:
    """`with SimulatorThread(step_seconds=0.001) as sim:` — a started simulator in a thread.

    `host` and `port` go to `start()`; every other keyword goes to ReplicateSimulator. Calls on
    the simulator from the test thread (finish, faults, records) are safe: state is locked.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self.sim = ReplicateSimulator(**kwargs)
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="replicate-sim", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def __enter__(self) -> ReplicateSimulator:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            self.sim.start(self._host, self._port), self._loop
        )
        try:
            future.result(timeout=120)
        except BaseException:
            self._shutdown()
            raise
        return self.sim

    def __exit__(self, *exc: object) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        if not self._loop.is_running():
            self._loop.close()


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    on_ready: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> None:
    """Run a simulator until cancelled; `on_ready(base_url)` is called once it listens."""
    sim = ReplicateSimulator(**kwargs)
    base_url = await sim.start(host, port)
    try:
        if on_ready is not None:
            on_ready(base_url)
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main_sync(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    on_ready: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> None:
    """Blocking entry for the CLI: serve until Ctrl-C (KeyboardInterrupt reaches the caller)."""
    asyncio.run(serve_forever(host, port, on_ready=on_ready, **kwargs))
