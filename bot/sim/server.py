"""ReplicateSimulator: an aiohttp server that answers like api.replicate.com on loopback.

Used by the test suite (with the real `replicate` client and our gateway) and by
`sd35l-trainer simulate`. Every /v1 route needs a Bearer (or old-style `Token`) header; errors
are `application/problem+json` with title/detail/status, as the real API sends them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web

from bot.core.settings import DEFAULT_TRAINER
from bot.sim import checks
from bot.sim.api import add_routes, problem
from bot.sim.captioners import SimPrediction
from bot.sim.files import SimFile
from bot.sim.logs import TrainingLog
from bot.sim.schema import redact_input
from bot.sim.state import OUTCOMES, Faults, RecordedRequest, SimTraining, random_id
from bot.sim.weights import read_lora, write_weights_tar

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TrainingsView(Mapping[str, dict[str, Any]]):
    """`sim.trainings[id]`: each training rendered as the API would show it right now."""

    def __init__(self, sim: ReplicateSimulator) -> None:
        self._sim = sim

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self._sim.render(self._sim.records[key])

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._sim.records))

    def __len__(self) -> int:
        return len(self._sim.records)


class ReplicateSimulator:
    """A fake Replicate with the endpoints, errors and progress this product relies on."""

    page_size = 100
    check_responses = False
    strayed: ClassVar[list[str]] = []

    def __init__(
        self,
        *,
        token: str | None = None,
        username: str = "alice",
        models: Iterable[str] = ("alice/lora",),
        step_seconds: float = 0.002,
        start_delay: float = 0.05,
        weights_size: int = 64 * 1024,
        faults: Faults | None = None,
        trainer: str = DEFAULT_TRAINER,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.username = username
        self.models: set[str] = {models} if isinstance(models, str) else set(models)
        self.model_meta: dict[str, dict[str, Any]] = {}
        self.step_seconds = max(step_seconds, 1e-6)
        self.start_delay = max(start_delay, 0.0)
        self.weights_size = weights_size
        self.faults = faults if faults is not None else Faults()
        self.trainer_model, _, self.trainer_version = trainer.partition(":")
        self.seed = seed
        self.records: dict[str, SimTraining] = {}
        self.files: dict[str, SimFile] = {}
        self.deleted_files: list[str] = []
        self.predictions: dict[str, SimPrediction] = {}
        self.caption_seconds = 0.005  # real time a simulated caption takes (billed: the model's)
        self.requests: list[RecordedRequest] = []
        # With check_responses (the tests turn it on for every simulator), every JSON answer is
        # checked against the spec's response schema; `response_problems` says how one strayed
        # (also added to the class-wide `strayed`), `checked_responses` which (method, spec
        # path, status) were checked.
        self.response_problems: list[str] = []
        self.checked_responses: set[tuple[str, str, int]] = set()
        self.base_url = ""
        self.lora_sha256 = ""
        self.weights_tar_path = Path()
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.fault_rng = random.Random(seed + 1)
        self.webhook_secret = "whsec_" + base64.b64encode(self.rng.randbytes(32)).decode()
        self.files_secret = self.rng.randbytes(32)
        self._seq = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._commit_late: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.late_creates = 0  # creates waiting to reach Replicate (faults.create_commit_delay)

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Write the weights tar, listen, and return the base URL (without /v1)."""
        self._stopping = asyncio.Event()
        self._commit_late = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._tmp = tempfile.TemporaryDirectory(prefix="sd35l-sim-")
        self.weights_tar_path = Path(self._tmp.name) / "weights.tar"
        self.lora_sha256 = await asyncio.to_thread(
            write_weights_tar, self.weights_tar_path, self.weights_size, self.seed
        )
        app = web.Application(middlewares=[self._middleware], client_max_size=8 * 1024 * 1024)
        add_routes(app, self)
        app.on_response_prepare.append(self._date_header)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.base_url = f"http://{shown}:{bound[1]}"
        return self.base_url

    async def stop(self) -> None:
        """Wake hanging replies, close the server and delete the weights tar."""
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> ReplicateSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`, cut short by stop(); True when the simulator is stopping."""
        if self._stopping is None:
            await asyncio.sleep(seconds)
            return False
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def arrive_late(self, seconds: float) -> None:
        """Hold a create `seconds` (or until `commit_late_creates`, or stop) before it lands."""
        assert self._commit_late is not None
        self.late_creates += 1
        try:
            waiters = [asyncio.ensure_future(self._commit_late.wait())]
            if self._stopping is not None:
                waiters.append(asyncio.ensure_future(self._stopping.wait()))
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        finally:
            self.late_creates -= 1

    def commit_late_creates(self) -> None:
        """The moment a late create lands, now (safe from another thread)."""
        if self._loop is not None and self._commit_late is not None:
            self._loop.call_soon_threadsafe(self._commit_late.set)

    # -- state -------------------------------------------------------------------------
    @property
    def trainings(self) -> TrainingsView:
        return TrainingsView(self)

    @property
    def lora_bytes(self) -> bytes:
        """The .safetensors member of the served tar (read from disk: keep it small)."""
        return read_lora(self.weights_tar_path)

    def render(
        self, record: SimTraining, *, with_logs: bool = True, base_url: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            obj = record.render(base_url or self.base_url, time.monotonic(), with_logs=with_logs)
            if self.faults.withhold_metrics:
                obj["metrics"] = {k: v for k, v in obj["metrics"].items() if k != "predict_time"}
            return obj

    def create_training(
        self,
        destination: str,
        inputs: dict[str, Any],
        extra: dict[str, Any] | None = None,
        dataset_error: str | None = None,
    ) -> SimTraining:
        """Make a training that ends the way `faults.outcome` says (failed on a bad dataset)."""
        outcome = self.faults.outcome if self.faults.outcome in OUTCOMES else "succeeded"
        if dataset_error is not None:
            outcome = "failed"
        with self.lock:
            self._seq += 1
            training_id = random_id(self.rng)
            steps = inputs.get("steps", 700)
            lr = inputs.get("learning_rate", 4e-4)
            record = SimTraining(
                id=training_id,
                seq=self._seq,
                model=self.trainer_model,
                version=self.trainer_version,
                destination=destination,
                input=redact_input(inputs),
                steps=int(steps),
                outcome=outcome,
                created_wall=time.time(),
                created_mono=time.monotonic(),
                start_delay=self.start_delay,
                step_seconds=self.step_seconds,
                new_version=self.rng.randbytes(32).hex(),
                log=TrainingLog(
                    f"{self.seed}:{training_id}",
                    int(steps),
                    float(lr),
                    int(inputs.get("batch_size", 1)),
                ),
                extra=dict(extra or {}),
                error=dataset_error,
            )
            self.records[training_id] = record
        return record

    def finish(self, training_id: str, status: str = "succeeded") -> None:
        """Force a running training to end now with `status` (no-op once it has ended)."""
        if status not in OUTCOMES:
            raise ValueError(f"status must be one of {', '.join(OUTCOMES)}, not {status!r}")
        with self.lock:
            record = self.records[training_id]
            now = time.monotonic()
            if not record.finished_at(now):
                record.forced = (status, now)

    def cancel(self, training_id: str) -> SimTraining:
        """Cancel as POST /cancel does: a training that already ended stays as it is."""
        with self.lock:
            record = self.records[training_id]
            now = time.monotonic()
            if not record.finished_at(now):
                record.forced = ("canceled", now)
            return record

    # -- request pipeline --------------------------------------------------------------
    async def _date_header(self, request: web.Request, response: web.StreamResponse) -> None:
        """`Date` as Replicate sends it, shifted by `faults.clock_skew` (`doctor`'s clock check)."""
        if self.faults.clock_skew:
            from email.utils import formatdate

            response.headers["Date"] = formatdate(time.time() + self.faults.clock_skew, usegmt=True)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() not in ("bearer", "token") or not value:
            return False
        return self.token is None or value == self.token

    def _read_fault(self) -> web.Response | None:
        faults = self.faults
        if faults.read_statuses:
            status = faults.read_statuses.pop(0)
        elif faults.read_failure_rate <= 0 or self.fault_rng.random() >= faults.read_failure_rate:
            return None
        else:
            status = self.fault_rng.choice((429, 500, 503))
        if status == 429:
            response = problem(
                429,
                "Request was throttled.",
                "Request was throttled. Expected available in 1 second.",
            )
            wait = faults.retry_after
            response.headers["Retry-After"] = str(int(wait)) if wait == int(wait) else str(wait)
            return response
        if status == 500:
            return problem(500, "Internal Server Error", "An unexpected error occurred.")
        if status != 503:
            return problem(status, HTTPStatus(status).phrase, "An injected fault.")
        return problem(503, "Service Unavailable", "The service is temporarily unavailable.")

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        if request.content_type == "multipart/form-data":
            body = {"multipart": True}  # an upload: streamed by its handler, never kept here
        elif request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.query), body)
        )
        signed = request.path.startswith("/v1/files/") and request.path.endswith("/download")
        if (request.path.startswith("/v1/") or request.path == "/v1") and not signed:
            if not self._authorized(request):
                return problem(
                    401, "Unauthenticated", "You did not pass a valid authentication token"
                )
            if self.faults.slow_seconds > 0:
                await self.pause(self.faults.slow_seconds)
            if request.method == "GET":
                failure = self._read_fault()
                if failure is not None:
                    return failure
        refused = checks.refusal(self, request, body)
        if refused is not None:
            return refused
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            detail = "Not found." if exc.status == 404 else exc.reason
            response = problem(exc.status, exc.reason, detail)
        if self.check_responses:
            checks.check_answer(self, request, response)
        return response

    def base_for(self, request: web.Request) -> str:
        """The base URL the client used, so `next` and `urls` work from any address."""
        return f"{request.scheme}://{request.host}"
