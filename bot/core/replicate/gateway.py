"""The only module that talks to Replicate.

It sends every request through the official `replicate` client's own httpx client (auth,
user agent, base URL, `REPLICATE_BASE_URL`), except the read of one training, the tracker's
poll, which goes through aiohttp with the same semantics (`poll`). It reads raw JSON: the
client's `Training` model rejects `status: "aborted"` and drops `metrics`, and its
`ReplicateError` drops `Retry-After` and `invalid_fields`. The client's built-in retry
(uncapped `Retry-After` sleeps, no 500/502, no connection errors) is switched off in favour of
one policy here:

* reads (and the idempotent cancel) retry 429/5xx/timeouts/connection errors with capped
  exponential backoff and jitter, honouring `Retry-After` up to `max_backoff`;
* a create is never retried blindly: when its outcome is unknown we look for the training among
  the newest ones first, create again at most once, and otherwise say the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import quote

import httpx
from replicate.client import Client, RetryTransport

from bot.core.errors import InputError, SD35LError, ServiceError
from bot.core.log import get_logger
from bot.core.replicate import errors
from bot.core.replicate.errors import OutcomeUnknownError
from bot.core.replicate.limiter import RateLimiter, limiter_for
from bot.core.replicate.models import get_model
from bot.core.replicate.training import MARKER_INPUT, Training, is_lost_create
from bot.core.replicate.urls import auth_headers, same_origin
from bot.core.secrets import redact, register_secret
from bot.core.settings import Settings

if TYPE_CHECKING:  # aiohttp is imported when a training is first read (CLI start-up time)
    from bot.core.replicate.poll import Polled, ReadOptions, TrainingReader

__all__ = ["MARKER_INPUT", "OutcomeUnknownError", "ReplicateGateway"]

log = get_logger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Exceptions raised before the request reached Replicate: nothing can have been created.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_CLOCK_SKEW = timedelta(minutes=1)

# TrainingInput schemas per (base_url, trainer): versions are immutable, so once per process.
_SCHEMA_CACHE: dict[tuple[str, str], dict[str, Any]] = {}


class ReplicateGateway:
    """Replicate's API as the product needs it; every failure is an `SD35LError` sentence."""

    def __init__(
        self,
        settings: Settings,
        *,
        read_attempts: int = 6,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        backoff_base: float = 0.5,
        create_attempts: int = 3,
        lookup_attempts: int = 3,
        lookup_interval: float = 1.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = settings.replicate_base_url.rstrip("/")
        self.read_attempts = max(1, read_attempts)
        self.max_backoff = max(0.0, max_backoff)
        self.backoff_base = max(0.0, backoff_base)
        self.create_attempts = max(1, create_attempts)
        self.lookup_attempts = max(1, lookup_attempts)
        self.lookup_interval = max(0.0, lookup_interval)
        self.requests_made = 0
        self._token = settings.token
        self.timeout = timeout
        self._reader: TrainingReader | None = None
        self.server_date: str | None = None  # latest answer's `Date`: `doctor`'s clock check
        self.limiter = limiter or limiter_for(self.base_url)  # the process's one pace
        hooks = self.limiter.httpx_hooks(cap=self.max_backoff)
        hooks["request"].append(self._count_request)
        self._client = Client(
            api_token=self._token or "",
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            event_hooks=hooks,
        )
        self._http: httpx.AsyncClient = self._client._async_client
        transport = getattr(self._http, "_transport", None)
        if isinstance(transport, RetryTransport):
            transport.max_attempts = 1  # our own policy below replaces it

    async def _count_request(self, request: httpx.Request) -> None:
        self.requests_made += 1

    async def __aenter__(self) -> ReplicateGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._reader is not None:
            await self._reader.aclose()

    # --- transport ---------------------------------------------------------------------------

    def _require_token(self) -> None:
        if not self._token:
            raise InputError(errors.MSG_NO_TOKEN, field="REPLICATE_API_TOKEN")

    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        return self.backoff(attempt, errors.retry_after(resp.headers) if resp is not None else None)

    def backoff(self, attempt: int, asked: float | None) -> float:
        """Seconds before retry `attempt + 1`: `Retry-After` (`asked`) up to the cap, else
        capped exponential backoff with jitter."""
        if asked is not None:
            return min(asked, self.max_backoff)
        backoff = min(self.max_backoff, self.backoff_base * float(2 ** (attempt - 1)))
        return backoff * (0.5 + random.random() / 2)

    async def _send(self, method: str, url: str, json: Any = None) -> httpx.Response:
        self._require_token()
        return await self._http.request(method, url, json=json)

    async def _read(self, method: str, url: str, json: Any = None) -> httpx.Response:
        """An idempotent request under the retry policy; returns the final response."""
        for attempt in range(1, self.read_attempts + 1):
            last = attempt == self.read_attempts
            try:
                resp = await self._send(method, url, json)
                self.server_date = resp.headers.get("Date") or self.server_date
            except httpx.TransportError as exc:
                if last:
                    raise errors.network_error(self.base_url, exc) from None
                delay = self._delay(attempt, None)
                log.info(
                    "%s %s failed (%s); retry in %.2fs", method, url, type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                continue
            if resp.status_code in RETRY_STATUSES and not last:
                delay = self._delay(attempt, resp)
                log.info("%s %s answered %s; retry in %.2fs", method, url, resp.status_code, delay)
                await asyncio.sleep(delay)
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    async def _json(
        self,
        method: str,
        url: str,
        *,
        action: str,
        training_id: str | None = None,
        trainer: str | None = None,
        json: Any = None,
        loads: Callable[[bytes], Any] | None = None,
    ) -> dict[str, Any]:
        resp = await self._read(method, url, json)
        if not resp.is_success:
            raise errors.error_for(resp, action=action, training_id=training_id, trainer=trainer)
        return errors.json_object(resp, action, loads)

    # --- account and destination -------------------------------------------------------------

    async def check_token(self) -> str:
        """The account's username; proves the token works (401 -> the token sentence)."""
        data = await self._json("GET", "/v1/account", action="check the API token")
        return str(data.get("username") or "")

    async def destination_exists(self, destination: str) -> bool:
        return await get_model(self, destination) is not None

    async def create_destination(self, destination: str) -> None:
        """Create the model trainings push to: private, on CPU (it only stores versions)."""
        owner, name = errors.split_destination(destination)
        body = {"owner": owner, "name": name, "visibility": "private", "hardware": "cpu"}
        action = f"create model {destination}"
        for attempt in range(1, self.create_attempts + 1):
            try:
                resp = await self._send("POST", "/v1/models", body)
            except _NOT_SENT as exc:
                raise errors.network_error(self.base_url, exc) from None
            except httpx.TransportError:
                if await self.destination_exists(destination):
                    return
                raise ServiceError(
                    f"Creating model {destination} on Replicate got no answer and it does not "
                    "exist yet; try again.",
                ) from None
            if resp.is_success or resp.status_code == 409:
                log.info("destination %s ready (HTTP %s)", destination, resp.status_code)
                return
            if resp.status_code == 429 and attempt < self.create_attempts:
                await asyncio.sleep(self._delay(attempt, resp))
                continue
            if resp.status_code == 403:
                raise InputError(
                    redact(
                        f"Replicate refused to create model {destination} (403: "
                        f"{errors.detail_of(resp)}); the owner must be your account or an "
                        "organization you belong to."
                    ),
                    field="destination",
                )
            raise errors.error_for(resp, action=action, subject="model settings")
        raise AssertionError("unreachable")  # pragma: no cover

    # --- trainer schema -----------------------------------------------------------------------

    async def trainer_input_schema(self) -> dict[str, Any]:
        """The trainer version's `TrainingInput` schema with `$ref`s inlined (cached)."""
        key = (self.base_url, self.settings.trainer)
        cached = _SCHEMA_CACHE.get(key)
        if cached is not None:
            return dict(cached)
        model, version = self.settings.trainer_model, self.settings.trainer_version
        data = await self._json(
            "GET",
            f"/v1/models/{model}/versions/{quote(version)}",
            action=f"read the schema of trainer {model}",
            trainer=self.settings.trainer,
        )
        resolved = errors.training_input_schema(data, self.settings.trainer)
        _SCHEMA_CACHE[key] = resolved
        return dict(resolved)

    async def accepts_input(self, name: str) -> bool:
        """Whether the trainer version has input `name`; False when its schema can't be read."""
        try:
            schema = await self.trainer_input_schema()
        except SD35LError as exc:
            log.warning("trainer schema not readable (%s); assuming no %s input", exc, name)
            return False
        properties = schema.get("properties")
        return isinstance(properties, dict) and name in properties

    async def check_inputs(self, inputs: dict[str, Any]) -> list[str]:
        """Problems of `inputs` against the live schema: unknown names, types, ranges, enums."""
        schema = await self.trainer_input_schema()
        return errors.input_problems(schema, inputs, self.settings.trainer_model)

    # --- trainings ----------------------------------------------------------------------------

    async def create_training(
        self,
        destination: str,
        inputs: dict[str, Any],
        secret_inputs: dict[str, str] | None = None,
    ) -> Training:
        """Start a training; never creates two when an answer is lost (see module docstring)."""
        destination = "/".join(errors.split_destination(destination))
        self._require_token()
        for value in (secret_inputs or {}).values():
            register_secret(value)
        body = {"destination": destination, "input": {**inputs, **(secret_inputs or {})}}
        model, version = self.settings.trainer_model, self.settings.trainer_version
        path = f"/v1/models/{model}/versions/{quote(version)}/trainings"
        since = datetime.now(UTC) - _CLOCK_SKEW
        for round_ in (1, 2):
            try:
                made = await self._post_create(path, body, destination)
            except ServiceError:
                if round_ == 1:
                    raise
                raise errors.unknown_outcome_error() from None
            if made is not None:
                return made
            found, looked = await self._find_created(destination, inputs, since)
            if found is not None:
                log.warning("create of %s got no answer but the training exists", found.id)
                return found
            if not looked:
                break  # could not read the list: creating again might make a duplicate
            log.warning("create got no answer and no matching training appeared; trying once more")
        raise errors.unknown_outcome_error()

    async def _post_create(
        self, path: str, body: dict[str, Any], destination: str
    ) -> Training | None:
        """One create (retrying only Replicate's 429 refusal); None when the outcome is unknown."""
        for attempt in range(1, self.create_attempts + 1):
            try:
                resp = await self._send("POST", path, body)
            except _NOT_SENT as exc:
                raise errors.network_error(self.base_url, exc) from None
            except httpx.TransportError as exc:
                log.warning("create training: no answer (%s)", type(exc).__name__)
                return None
            if resp.is_success:
                try:
                    return Training.from_json(errors.json_object(resp, "create the training"))
                except ServiceError:
                    return None  # created, but unreadable: find it like a lost answer
            if resp.status_code == 429 and attempt < self.create_attempts:
                await asyncio.sleep(self._delay(attempt, resp))
                continue
            if resp.status_code >= 500:
                log.warning("create training: HTTP %s, outcome unknown", resp.status_code)
                return None
            if resp.status_code == 404:
                detail = errors.detail_of(resp).lower()
                if "destination" in detail or not await self.destination_exists(destination):
                    raise errors.destination_missing_error(destination)
            raise errors.error_for(
                resp,
                action="create the training",
                subject="training inputs",
                trainer=self.settings.trainer,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _find_created(
        self, destination: str, inputs: dict[str, Any], since: datetime
    ) -> tuple[Training | None, bool]:
        """Look for our training among the newest ones; (found, whether any look succeeded)."""
        looked = False
        for attempt in range(self.lookup_attempts):
            if attempt:
                await asyncio.sleep(self.lookup_interval)
            try:
                page = await self._json("GET", "/v1/trainings", action="list trainings")
            except ServiceError as exc:
                log.warning("looking for the created training failed: %s", exc)
                continue
            looked = True
            results = page.get("results")
            for item in results if isinstance(results, list) else []:
                trainer = self.settings.trainer_model
                if is_lost_create(item, destination, inputs, since, trainer):
                    return Training.from_json(item), True
        return None, looked

    async def get_training(self, training_id: str, *, logs_chars: int | None = None) -> Training:
        """`logs_chars`: keep only the end of the logs, more than that many characters from a
        line start (`raw` too). The tracker reads only their end, and decoding ~0.5 MB of log on
        every poll was the largest cost of a refresh that grows with the log."""
        polled = await self.poll_training(training_id, logs_chars=logs_chars)
        if polled.training is None:  # pragma: no cover - only a read with `since` skips
            raise AssertionError("unreachable")
        return polled.training

    async def poll_training(self, training_id: str, **read: Unpack[ReadOptions]) -> Polled:
        """`get_training` through the shared aiohttp session; `read` are the options of
        `poll.TrainingReader.read` (with `since`, an unchanged answer is not decoded)."""
        tid = errors.check_training_id(training_id)
        self._require_token()
        if self._reader is None:
            from bot.core.replicate.poll import TrainingReader

            self._reader = TrainingReader(self)
        return await self._reader.read(tid, **read)

    async def list_trainings(self, limit: int = 100) -> list[Training]:
        """Newest first, following `next` pages until `limit` trainings are collected."""
        out: list[Training] = []
        url: str | None = "/v1/trainings"
        seen: set[str] = set()
        while url and len(out) < limit and url not in seen:
            seen.add(url)
            page = await self._json("GET", url, action="list trainings")
            results = page.get("results")
            for item in results if isinstance(results, list) else []:
                if isinstance(item, dict) and len(out) < limit:
                    out.append(Training.from_json(item))
            nxt = page.get("next")
            url = same_origin(nxt, self.base_url) if isinstance(nxt, str) and nxt else None
        return out

    async def cancel_training(self, training_id: str) -> Training:
        """Cancel (idempotent on Replicate, so it shares the read retry policy)."""
        tid = errors.check_training_id(training_id)
        data = await self._json(
            "POST",
            f"/v1/trainings/{tid}/cancel",
            action=f"cancel training {tid}",
            training_id=tid,
        )
        return Training.from_json(data)

    # --- downloads ----------------------------------------------------------------------------

    def download_headers(self, url: str) -> dict[str, str]:
        """The token goes only to Replicate's own hosts (or the configured base URL's host)."""
        return auth_headers(url, self.base_url, self._token)
