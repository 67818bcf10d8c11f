"""Reading one training (`GET /v1/trainings/{id}`) through one shared aiohttp session.

The tracker reads every active training every poll interval, and Replicate answers each read
with the training's whole log (~0.5 MB at 4,000 steps). Receiving that answer through the
official client's httpx transport cost most of a refresh's CPU, several times what aiohttp
(which the product already uses for dataset reads) costs (`benchmarks/refresh_cpu.py`), so this
one read goes through aiohttp; everything else stays on the official client.

The semantics are the gateway's, so a read behaves the same whichever client sends it: the same
base URL, token (only in the Authorization header, never in a log line or a message), user agent
and timeouts; the same retry policy (429/5xx/timeouts/connection errors, `Retry-After` honoured
up to the cap, through the gateway's own delay function); every attempt counted in the
gateway's request counter; and a non-2xx answer mapped by `errors.error_for`, the code that maps
the official client's answers, so 401/403/404/429/5xx say exactly what they said before.

A read can also tell that a training is unchanged since an earlier answer without decoding it
(`Fingerprint`): a training's log only grows, so an answer of the same length, with the same
fields around the log and the same end of the log, is the same answer. The tracker then skips
the decoding, the parsing, the store write and the card.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

import aiohttp

from bot.core.http.retry import retry_after
from bot.core.log import get_logger
from bot.core.replicate import errors
from bot.core.replicate.training import Training
from bot.core.trainer_log.logs_json import loads_with_logs_end, logs_span

if TYPE_CHECKING:
    from bot.core.replicate.gateway import ReplicateGateway

log = get_logger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Bytes of the end of the log that take part in a fingerprint (with the log's length).
_LOG_END_BYTES = 256

Fingerprint = tuple[int, int]
"""(length of the answer, hash of everything but the log's start): equal means unchanged."""


def fingerprint(body: bytes, span: tuple[int, int] | None) -> Fingerprint:
    """An answer's fingerprint; `span` is where its `logs` string lies (see `logs_span`)."""
    if span is None:
        return len(body), hash(body)
    first, end = span
    return len(body), hash(body[:first] + body[max(first, end - _LOG_END_BYTES) :])


class ReadOptions(TypedDict, total=False):
    """The options of `TrainingReader.read`, as `ReplicateGateway.poll_training` passes them."""

    logs_chars: int | None
    since: Fingerprint | None
    ended_logs_chars: int | None


@dataclass(frozen=True)
class Polled:
    """One read: the training, or None when its fingerprint equals the one given; and the
    answer's fingerprint, to give to the next read once this answer has been used."""

    training: Training | None
    fingerprint: Fingerprint


class TrainingReader:
    """Reads trainings for one `ReplicateGateway`, with its settings, retry delays and request
    counter; the session is made on first use, in the running loop, and closed by `aclose`
    (the gateway's)."""

    def __init__(self, gateway: ReplicateGateway) -> None:
        self._gateway = gateway
        token = gateway.settings.token or ""
        agent = str(gateway._http.headers.get("User-Agent", ""))
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": agent}
        timeout = gateway.timeout
        # As the official client's httpx timeouts: connect at most 10 s, each read `timeout`.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=min(timeout, 10.0), sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # The proxy the environment names is read once, as httpx does, not on every
            # request as aiohttp's `trust_env` does (that cost more than the GET itself).
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                proxy=env_proxy(self._gateway.base_url),
            )
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def _get(self, url: str) -> tuple[int, Any, bytes]:
        """(status, headers, body) of the final attempt under the gateway's retry policy."""
        gw = self._gateway
        for attempt in range(1, gw.read_attempts + 1):
            last = attempt == gw.read_attempts
            await gw.limiter.acquire("read")
            gw.requests_made += 1
            try:
                async with self._client().get(url, allow_redirects=False) as resp:
                    status, headers, body = resp.status, resp.headers, await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                if last:
                    raise errors.network_error(gw.base_url, exc) from None
                wait = gw.backoff(attempt, None)
                log.info("GET %s failed (%s); retry in %.2fs", url, type(exc).__name__, wait)
                await asyncio.sleep(wait)
                continue
            asked = retry_after(headers.get("Retry-After"))
            if status == 429:
                gw.limiter.throttled(asked, gw.max_backoff)
            if status in RETRY_STATUSES and not last:
                wait = gw.backoff(attempt, asked)
                log.info("GET %s answered %s; retry in %.2fs", url, status, wait)
                await asyncio.sleep(wait)
                continue
            return status, headers, body
        raise AssertionError("unreachable")  # pragma: no cover

    async def read(
        self,
        training_id: str,
        *,
        logs_chars: int | None = None,
        since: Fingerprint | None = None,
        ended_logs_chars: int | None = None,
    ) -> Polled:
        """Training `training_id` (a checked id); `logs_chars` keeps only the end of its log
        (see `logs_json`); `since` skips decoding an answer with that fingerprint. A training
        that has ended keeps `ended_logs_chars` of its log instead (more, for its last lines:
        a running one needs only its last progress bar, an ended one is decoded once)."""
        action = f"read training {training_id}"
        status, headers, body = await self._get(
            f"{self._gateway.base_url}/v1/trainings/{training_id}"
        )
        if not 200 <= status < 300:
            answer = _as_httpx(status, headers, body)
            raise errors.error_for(answer, action=action, training_id=training_id)
        span = logs_span(body) if logs_chars is not None and len(body) > logs_chars else None
        seen = fingerprint(body, span)
        if since is not None and seen == since:
            return Polled(None, seen)
        loads: Callable[[bytes], Any] = json.loads
        if logs_chars is not None:
            loads = partial(loads_with_logs_end, chars=logs_chars, span=span)
        training = Training.from_json(errors.decode_object(body, status, action, loads))
        ended = ended_logs_chars or 0
        if training.is_terminal and span is not None and ended > (logs_chars or 0):
            loads = partial(loads_with_logs_end, chars=ended, span=span)
            training = Training.from_json(errors.decode_object(body, status, action, loads))
        return Polled(training, seen)


def env_proxy(url: str) -> str | None:
    """The proxy `HTTP_PROXY`/`HTTPS_PROXY` (and `NO_PROXY`) name for `url`, else None."""
    host = urlsplit(url).hostname or ""
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(host):
        return None
    return proxies.get(urlsplit(url).scheme)


def _as_httpx(status: int, headers: Any, body: bytes) -> Any:
    """The answer as an `httpx.Response`, the type the error mapping reads (only for errors:
    httpx is already loaded by the gateway)."""
    import httpx

    return httpx.Response(status, headers=list(headers.items()), content=body)
