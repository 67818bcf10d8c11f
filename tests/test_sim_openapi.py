"""The simulator against Replicate's published OpenAPI spec: its replies on every route, its
refusals of every request the spec forbids, and the official client.

The spec (bot/sim/replicate-openapi.json, shipped with the simulator, which checks every request
against it) is the reference copy; a test keeps the two equal where the reference is beside the
checkout. `bot.sim.openapi` holds the checks (and explains the spec's two quirks it fixes).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ReplicateError

from bot.core.settings import DEFAULT_TRAINER
from bot.sim import ReplicateSimulator, openapi
from bot.sim.api import ROUTES
from bot.sim.captioners import CAPTIONERS
from bot.sim.files import download_url

TOKEN = "r8_" + "sim" * 10
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRAINER_MODEL, TRAINER_VERSION = DEFAULT_TRAINER.split(":")
CREATE = f"/v1/models/{TRAINER_MODEL}/versions/{TRAINER_VERSION}/trainings"


def check(instance: Any, path: str, method: str = "get", status: str = "200") -> None:
    """Validate `instance` against the spec's response schema for that operation."""
    problems = openapi.answer_problems(path, method, int(status), instance)
    assert problems is not None, f"the spec documents no {status} answer for {method} {path}"
    assert not problems, "\n".join(problems)


@pytest.fixture
async def official(tokenless_sim: ReplicateSimulator) -> AsyncIterator[replicate.Client]:
    """The real client; it never closes its httpx client, so we own and close the transport."""
    transport = httpx.AsyncHTTPTransport()
    yield replicate.Client(api_token=TOKEN, base_url=tokenless_sim.base_url, transport=transport)
    await transport.aclose()


@pytest.fixture
async def client(tokenless_sim: ReplicateSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tokenless_sim.base_url, headers=AUTH, timeout=5) as c:
        yield c


def training_body(steps: int = 10) -> dict[str, Any]:
    return {
        "destination": "alice/lora",
        "input": {"input_images": "https://example.com/d.zip", "steps": steps},
        "webhook": "https://example.com/hook",
        "webhook_events_filter": ["start", "completed"],
    }


async def wait_terminal(client: httpx.AsyncClient, training_id: str) -> dict[str, Any]:
    for _ in range(500):
        data: dict[str, Any] = (await client.get(f"/v1/trainings/{training_id}")).json()
        if data["status"] not in ("starting", "processing"):
            return data
        await asyncio.sleep(0.005)
    raise AssertionError("training never ended")


def test_the_checker_rejects_what_the_spec_forbids() -> None:
    with pytest.raises(AssertionError):
        check({"status": "queued"}, "/trainings/{training_id}")
    with pytest.raises(AssertionError):
        check({"type": "user"}, "/account")  # username is required
    with pytest.raises(AssertionError):
        check({"id": "x", "created_at": "yesterday"}, "/trainings/{training_id}")
    fine = openapi.request_problems("POST", CREATE, query={}, headers={}, body=training_body())
    assert fine == []
    missing = openapi.request_problems("POST", CREATE, query={}, headers={}, body={"input": {}})
    assert missing == [
        {"type": "required", "field": "destination", "description": "destination is required"}
    ]


async def test_training_objects_match_the_spec(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    created = await client.post(CREATE, json=training_body())
    assert created.status_code == 201
    check(
        created.json(),
        "/models/{model_owner}/{model_name}/versions/{version_id}/trainings",
        "post",
        "201",
    )
    check(
        (await client.get(f"/v1/trainings/{created.json()['id']}")).json(),
        "/trainings/{training_id}",
    )
    check(await wait_terminal(client, created.json()["id"]), "/trainings/{training_id}")
    for outcome in ("failed", "aborted", "canceled"):
        tokenless_sim.faults.outcome = outcome
        made = (await client.post(CREATE, json=training_body())).json()
        check(await wait_terminal(client, made["id"]), "/trainings/{training_id}")
    tokenless_sim.faults.outcome = "succeeded"
    tokenless_sim.step_seconds = 10
    running = (await client.post(CREATE, json=training_body(500))).json()
    await asyncio.sleep(0.02)
    check((await client.get(f"/v1/trainings/{running['id']}")).json(), "/trainings/{training_id}")
    canceled = await client.post(f"/v1/trainings/{running['id']}/cancel")
    check(canceled.json(), "/trainings/{training_id}/cancel", "post")
    tokenless_sim.page_size = 2
    page = (await client.get("/v1/trainings")).json()
    check(page, "/trainings")
    check((await client.get(page["next"])).json(), "/trainings")


async def test_models_versions_account_match_the_spec(client: httpx.AsyncClient) -> None:
    check((await client.get("/v1/models/alice/lora")).json(), "/models/{model_owner}/{model_name}")
    check(
        (await client.get(f"/v1/models/{TRAINER_MODEL}")).json(),
        "/models/{model_owner}/{model_name}",
    )
    new = {"owner": "alice", "name": "fresh", "visibility": "private", "hardware": "cpu"}
    created = await client.post("/v1/models", json=new)
    check(created.json(), "/models", "post", "201")
    version = await client.get(f"/v1/models/{TRAINER_MODEL}/versions/{TRAINER_VERSION}")
    check(version.json(), "/models/{model_owner}/{model_name}/versions/{version_id}")
    check((await client.get("/v1/account")).json(), "/account")
    check((await client.get("/v1/webhooks/default/secret")).json(), "/webhooks/default/secret")


async def test_official_client_works_against_the_simulator(
    tokenless_sim: ReplicateSimulator, official: replicate.Client
) -> None:
    client = official
    account = await client.accounts.async_current()
    assert (account.type, account.username) == ("user", "alice")
    model = await client.models.async_get("alice/lora")
    assert (model.owner, model.name) == ("alice", "lora")
    trainer = await client.models.async_get(TRAINER_MODEL)
    assert trainer.latest_version is not None and trainer.latest_version.id == TRAINER_VERSION
    training = await client.trainings.async_create(
        model=TRAINER_MODEL,
        version=TRAINER_VERSION,
        input={"input_images": "https://example.com/d.zip", "steps": 5},
        destination="alice/lora",
    )
    assert training.status == "starting" and training.destination == "alice/lora"
    sent = tokenless_sim.requests[-1]
    assert sent.path == CREATE and sent.json["destination"] == "alice/lora"
    assert (await client.trainings.async_get(training.id)).id == training.id
    page = await client.trainings.async_list()
    assert [t.id for t in page.results] == [training.id]
    tokenless_sim.step_seconds = 10
    running = await client.trainings.async_create(
        model=TRAINER_MODEL,
        version=TRAINER_VERSION,
        input={"input_images": "https://example.com/d.zip", "steps": 100},
        destination="alice/lora",
    )
    assert (await client.trainings.async_cancel(running.id)).status == "canceled"
    with pytest.raises(ReplicateError) as missing:
        await client.trainings.async_create(
            model=TRAINER_MODEL,
            version=TRAINER_VERSION,
            input={"input_images": "https://example.com/d.zip"},
            destination="alice/nope",
        )
    assert missing.value.status == 404
    assert missing.value.detail == "The specified training destination does not exist"


async def test_official_client_retries_throttled_reads(
    tokenless_sim: ReplicateSimulator, official: replicate.Client
) -> None:
    client = official
    tokenless_sim.faults.read_failure_rate = 0.5
    tokenless_sim.faults.retry_after = 0.001
    outcomes: list[object] = []
    for _ in range(10):
        try:
            outcomes.append((await client.accounts.async_current()).username)
        except ReplicateError as exc:  # 500 is not retried by the client
            outcomes.append(exc.status)
    assert "alice" in outcomes


async def test_official_client_rejects_aborted(
    tokenless_sim: ReplicateSimulator, official: replicate.Client
) -> None:
    """docs/replicate.md's known defect, kept visible: our own Training record must be used."""
    client = official
    tokenless_sim.faults.outcome = "aborted"
    made = tokenless_sim.create_training("alice/lora", {"input_images": "https://x/a.zip"})
    tokenless_sim.finish(made.id, "aborted")
    with pytest.raises(Exception, match="status"):
        await client.trainings.async_get(made.id)


def _reference() -> Path | None:
    """shared/reference/replicate-openapi.json beside the checkout (CI) or above a worktree."""
    here = Path(__file__).resolve().parent.parent
    for parent in (here, *here.parents):
        found = parent / "shared" / "reference" / "replicate-openapi.json"
        if found.is_file():
            return found
    return None


def _spec_path(route: str) -> str:
    """A simulator route as a request path (`/v1/trainings/{id}` -> `/v1/trainings/x`)."""
    return "/".join("x" if part.startswith("{") else part for part in route.split("/"))


def test_the_shipped_spec_is_replicate_s_own() -> None:
    shipped = openapi.SPEC_FILE.read_bytes()
    reference = _reference()
    if reference is not None:
        assert hashlib.sha256(shipped).digest() == hashlib.sha256(reference.read_bytes()).digest()
    assert json.loads(shipped)["info"]["version"] == "1.0.0-a1"
    for method, route, _handler in ROUTES:
        if route.startswith("/v1"):
            assert openapi.operation_for(method, _spec_path(route)) is not None, route


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "JPEG")
    return out.getvalue()


async def test_every_route_answers_as_the_spec_says(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    """Every /v1 route the simulator serves, called once with check_responses on: each JSON
    answer the spec documents is validated, and none strays."""
    tokenless_sim.check_responses = True
    await client.get("/v1/account")
    await client.get("/v1/webhooks/default/secret")
    new = {"owner": "alice", "name": "fresh", "visibility": "private", "hardware": "cpu"}
    await client.post("/v1/models", json=new)
    await client.get("/v1/models/alice/lora")
    await client.get(f"/v1/models/{TRAINER_MODEL}/versions/{TRAINER_VERSION}")
    made = (await client.post(CREATE, json=training_body())).json()
    await client.get(f"/v1/trainings/{made['id']}")
    await client.get("/v1/trainings")
    await client.post(f"/v1/trainings/{made['id']}/cancel")
    florence = CAPTIONERS["lucataco/florence-2-large"]
    image = "data:image/jpeg;base64," + base64.b64encode(_jpeg()).decode()
    body = {"version": florence.version, "input": {"image": image, "task_input": "Caption"}}
    prediction = (await client.post("/v1/predictions", json=body)).json()
    await client.get(f"/v1/predictions/{prediction['id']}")
    upload = {"content": ("d.zip", b"PK\5\6" + b"\0" * 18, "application/zip")}
    uploaded = (await client.post("/v1/files", files=upload)).json()
    await client.get("/v1/files")
    await client.get(f"/v1/files/{uploaded['id']}")
    signed = download_url(
        tokenless_sim, tokenless_sim.files[uploaded["id"]], tokenless_sim.base_url
    )
    assert (await client.get(signed)).status_code == 200
    assert (await client.delete(f"/v1/files/{uploaded['id']}")).status_code == 204
    assert tokenless_sim.response_problems == []
    documented = set()
    for method, route, _handler in ROUTES:
        found = openapi.operation_for(method, _spec_path(route))
        if found is None:
            continue
        answers = found[1].get("responses") or {}
        if any(
            s.startswith("2") and "application/json" in a.get("content", {})
            for s, a in answers.items()
        ):
            documented.add((method, found[0]))
    checked = {(method, template) for method, template, _status in tokenless_sim.checked_responses}
    assert documented - checked == set()
    assert len(documented) >= 14


# (what, method, path, body or None, extra request options, the field Replicate names)
INVALID: list[tuple[str, str, str, Any, dict[str, Any], str]] = [
    (
        "model: owner not a string",
        "POST",
        "/v1/models",
        {"owner": 1, "name": "m", "visibility": "private", "hardware": "cpu"},
        {},
        "owner",
    ),
    (
        "model: visibility unknown",
        "POST",
        "/v1/models",
        {"owner": "alice", "name": "m", "visibility": "secret", "hardware": "cpu"},
        {},
        "visibility",
    ),
    (
        "model: hardware missing",
        "POST",
        "/v1/models",
        {"owner": "alice", "name": "m", "visibility": "private"},
        {},
        "hardware",
    ),
    (
        "training: destination missing",
        "POST",
        CREATE,
        {"input": {"input_images": "https://x/a.zip"}},
        {},
        "destination",
    ),
    (
        "training: input not an object",
        "POST",
        CREATE,
        {"destination": "alice/lora", "input": "x"},
        {},
        "input",
    ),
    (
        "training: unknown webhook event",
        "POST",
        CREATE,
        {**{"destination": "alice/lora", "input": {}}, "webhook_events_filter": ["begin"]},
        {},
        "webhook_events_filter.0",
    ),
    (
        "training: webhook not a string",
        "POST",
        CREATE,
        {"destination": "alice/lora", "input": {}, "webhook": 5},
        {},
        "webhook",
    ),
    ("prediction: version missing", "POST", "/v1/predictions", {"input": {}}, {}, "version"),
    (
        "prediction: unknown property",
        "POST",
        "/v1/predictions",
        {"version": "v", "input": {}, "seed": 1},
        {},
        "body",
    ),
    (
        "prediction: Prefer over 60 s",
        "POST",
        "/v1/predictions",
        {"version": "v", "input": {}},
        {"headers": {"Prefer": "wait=0"}},
        "Prefer",
    ),
    (
        "download: no signature",
        "GET",
        "/v1/files/abc/download",
        None,
        {"params": {"owner": "alice", "expiry": "1"}},
        "signature",
    ),
    (
        "download: expiry not a number",
        "GET",
        "/v1/files/abc/download",
        None,
        {"params": {"owner": "alice", "expiry": "soon", "signature": "s"}},
        "expiry",
    ),
    (
        "upload: no content",
        "POST",
        "/v1/files",
        None,
        {"files": {"metadata": (None, "{}")}},
        "content",
    ),
    (
        "upload: filename over 255",
        "POST",
        "/v1/files",
        None,
        {"files": {"content": ("f" * 256, b"x", "text/plain")}},
        "filename",
    ),
    (
        "upload: metadata not an object",
        "POST",
        "/v1/files",
        None,
        {"files": {"content": ("a", b"x", "text/plain"), "metadata": (None, "[1]")}},
        "metadata",
    ),
]


@pytest.mark.parametrize(
    ("what", "method", "path", "body", "options", "field"), INVALID, ids=[c[0] for c in INVALID]
)
async def test_the_simulator_refuses_what_the_spec_forbids(
    client: httpx.AsyncClient,
    tokenless_sim: ReplicateSimulator,
    what: str,
    method: str,
    path: str,
    body: Any,
    options: dict[str, Any],
    field: str,
) -> None:
    """Replicate's answer to a request its spec forbids: 422 problem+json, `invalid_fields`."""
    if body is not None:
        options = {**options, "json": body}
    answer = await client.request(method, path, **options)
    assert answer.status_code == 422, (what, answer.text)
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["title"] == "Input validation failed" and problem["status"] == 422
    assert field in [f["field"] for f in problem["invalid_fields"]], (what, problem)
    assert f"- {field}: " in problem["detail"]
    assert len(tokenless_sim.trainings) == 0 and len(tokenless_sim.files) == 0


async def test_a_body_that_is_not_an_object_is_a_400(client: httpx.AsyncClient) -> None:
    for path in ("/v1/models", CREATE, "/v1/predictions"):
        for raw in (b"not json", b"[1, 2]"):
            answer = await client.post(path, content=raw)
            assert answer.status_code == 400, (path, raw, answer.text)
            assert answer.json()["detail"] == "The request body must be a JSON object."


async def test_an_answer_outside_the_spec_is_noticed(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    """The check every test runs (conftest) sees a reply the spec forbids."""
    tokenless_sim.webhook_secret = 5  # type: ignore[assignment]  (the spec: the key is a string)
    await client.get("/v1/webhooks/default/secret")
    assert tokenless_sim.response_problems == [
        "GET /v1/webhooks/default/secret: key: 5 is not of type 'string'"
    ]
    assert ReplicateSimulator.strayed == tokenless_sim.response_problems
    ReplicateSimulator.strayed.clear()  # seen; the test itself passes
