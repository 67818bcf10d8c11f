"""Run the bot as a separate process (tests/crashbot.py) against the test process's fake Discord
and Replicate simulator, kill it at a named point, and start it again on the same database."""

# ruff: noqa: ASYNC109  (a `timeout` argument is the point of a test-waiting API)

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bot_support import World

ROOT = Path(__file__).resolve().parent.parent
FAST = {"card_grace": 0.0, "settle": 0.3}  # waits shortened in the bot process
LIVE: set[asyncio.subprocess.Process] = set()  # killed by `kill_leftovers` whatever happens


def kill_leftovers() -> None:
    """No bot process outlives its test (a failed assertion must not leave one running)."""
    for proc in list(LIVE):
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        LIVE.discard(proc)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


async def poll(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a condition that changes in another process (nothing wakes us: poll)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.02)


class BotProcess:
    """One run of the bot as its own OS process; its output goes to `log`."""

    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.log = world.tmp / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, crash_at: str | None = None, **plan: Any) -> BotProcess:
        fd = self.world.fd
        before = fd.gateway.identifies
        spec = {"api": fd.api_base, "gateway": fd.gateway_url, **FAST, **plan}
        if crash_at:
            spec["crash_at"] = crash_at
        env = {**os.environ, **{k: _env_value(v) for k, v in self.world.env.items()}}
        env["SD35L_CRASHBOT"] = json.dumps(spec)
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.crashbot", cwd=ROOT, env=env, stdout=out, stderr=out
            )
        LIVE.add(self.proc)
        await poll(
            lambda: self.exited or (fd.gateway.identifies > before and fd.gateway.ready.is_set()),
            30,
            f"bot process ready (log {self.log})",
        )
        assert not self.exited, self.log.read_text()
        return self

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    async def killed(self, timeout: float = 30) -> None:
        """Wait for the process to die at its crash point (SIGKILL, no cleanup)."""
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        assert code == -signal.SIGKILL, f"exit {code}; log: {self.log.read_text()[-2000:]}"
        await poll(lambda: not self.world.fd.gateway.ready.is_set(), 10, "socket closed")

    async def stop(self) -> None:
        """A normal shutdown (SIGTERM: drain and close)."""
        if self.proc is None or self.exited:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
