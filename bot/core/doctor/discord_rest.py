"""The few reads of Discord's REST API that `doctor` needs, with the bot token, over aiohttp.

Kept apart from discord.py so the checks live in the core and the CLI needs no gateway: the
bot passes discord.py's own API root (`discord.http.Route.BASE`), the CLI Discord's. Every
answer's `Date` is kept for the clock check.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.core.secrets import redact, register_secret

MAX_RETRY_AFTER = 10.0  # seconds; a longer rate limit ends the check instead of stalling it


class DiscordError(Exception):
    """Discord answered with an error (`status`, Discord's `code`) or not at all (status 0)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class DiscordRest:
    """`async with DiscordRest(token, base) as rest: await rest.get("/users/@me")`."""

    def __init__(self, token: str, base: str, *, timeout: float = 15.0) -> None:
        register_secret(token)
        self._token = token
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.date: str | None = None  # `Date` of the latest answer
        self.received: datetime | None = None  # when that answer arrived, by our clock
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DiscordRest:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bot {self._token}", "User-Agent": "sd35l-trainer doctor"},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, path: str) -> Any:
        """The JSON of `GET {base}{path}`; a 429 is waited out (briefly) and asked again."""
        assert self._session is not None, "use DiscordRest in `async with`"
        for attempt in range(3):
            try:
                async with self._session.get(self.base + path) as resp:
                    self.date = resp.headers.get("Date") or self.date
                    self.received = datetime.now(UTC)
                    try:
                        data = await resp.json(content_type=None)
                    except ValueError:
                        data = None
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = redact(str(exc)) or type(exc).__name__
                raise DiscordError(0, 0, f"Discord did not answer ({reason})") from None
            if status == 429 and attempt < 2:
                wait = _retry_after(data, retry_after)
                if wait is not None and wait <= MAX_RETRY_AFTER:
                    await asyncio.sleep(wait)
                    continue
            if status >= 400:
                body = data if isinstance(data, dict) else {}
                message = str(body.get("message") or f"HTTP {status}")
                raise DiscordError(status, int(body.get("code") or 0), redact(message))
            return data
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(data: Any, header: str | None) -> float | None:
    value = data.get("retry_after") if isinstance(data, dict) else header
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
