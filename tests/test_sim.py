"""The Replicate simulator answers like the real API (docs/replicate.md), including its faults."""

from __future__ import annotations

import asyncio
import io
import re
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.core.settings import DEFAULT_TRAINER
from bot.sim import Faults, ReplicateSimulator, SimulatorThread, main_sync, serve_forever
from bot.sim.logs import format_bar, format_interval, format_rate, tqdm_line
from bot.sim.weights import LORA_MEMBER, safetensors_header

TOKEN = "r8_" + "sim" * 10
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRAINER_MODEL, TRAINER_VERSION = DEFAULT_TRAINER.split(":")
CREATE = f"/v1/models/{TRAINER_MODEL}/versions/{TRAINER_VERSION}/trainings"
STEP_LINE = re.compile(
    r"^sd3\.5_train_replicate: +(\d+)%\|[ ▏▎▍▌▋▊▉█]{10}\| (\d+)/(\d+) "
    r"\[(\d\d:\d\d|\d+:\d\d:\d\d)<(\?|\d\d:\d\d|\d+:\d\d:\d\d), +([\d.]+s/it|[\d.]+it/s|\?it/s)"
    r"(, lr: \d\.\de[-+]\d\d loss: \d\.\d{3}e[-+]\d\d)?\]$"
)


def body(steps: int = 20, **extra: Any) -> dict[str, Any]:
    return {
        "destination": "alice/lora",
        "input": {"input_images": "https://example.com/d.zip", "steps": steps, **extra},
    }


@pytest.fixture
async def client(tokenless_sim: ReplicateSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tokenless_sim.base_url, headers=AUTH, timeout=5) as c:
        yield c


async def wait_terminal(client: httpx.AsyncClient, training_id: str) -> dict[str, Any]:
    for _ in range(500):
        data: dict[str, Any] = (await client.get(f"/v1/trainings/{training_id}")).json()
        if data["status"] in ("succeeded", "failed", "canceled", "aborted"):
            return data
        await asyncio.sleep(0.005)
    raise AssertionError("training never ended")


async def create(client: httpx.AsyncClient, **kw: Any) -> dict[str, Any]:
    response = await client.post(CREATE, json=body(**kw))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    data: dict[str, Any] = response.json()
    return data


def check_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    data: dict[str, Any] = response.json()
    assert data["status"] == status and data["title"] and data["detail"]
    return data


async def test_auth_is_required_on_every_v1_route(tokenless_sim: ReplicateSimulator) -> None:
    async with httpx.AsyncClient(base_url=tokenless_sim.base_url) as c:
        for method, path in [("GET", "/v1/account"), ("POST", CREATE), ("GET", "/v1/trainings")]:
            data = check_problem(await c.request(method, path), 401)
            assert data == {
                "title": "Unauthenticated",
                "detail": "You did not pass a valid authentication token",
                "status": 401,
            }
        check_problem(await c.get("/v1/account", headers={"Authorization": "Bearer"}), 401)
        check_problem(await c.get("/v1/account", headers={"Authorization": "Basic x"}), 401)
        ok = await c.get("/v1/account", headers={"Authorization": "Token old-style"})
        assert ok.status_code == 200


async def test_fixed_token_rejects_others() -> None:
    async with ReplicateSimulator(token=TOKEN) as s, httpx.AsyncClient(base_url=s.base_url) as c:
        check_problem(await c.get("/v1/account", headers={"Authorization": "Bearer nope"}), 401)
        assert (await c.get("/v1/account", headers=AUTH)).json()["username"] == "alice"


async def test_account_secret_and_unknown_routes(client: httpx.AsyncClient) -> None:
    account = (await client.get("/v1/account")).json()
    assert account == {
        "type": "user",
        "username": "alice",
        "name": "Alice",
        "github_url": "https://github.com/alice",
    }
    secret = (await client.get("/v1/webhooks/default/secret")).json()
    assert secret["key"].startswith("whsec_")
    check_problem(await client.get("/v1/nothing-here"), 404)
    check_problem(await client.delete("/v1/account"), 405)


async def test_models_get_and_create(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    got = (await client.get("/v1/models/alice/lora")).json()
    assert (got["owner"], got["name"], got["latest_version"]) == ("alice", "lora", None)
    trainer = (await client.get(f"/v1/models/{TRAINER_MODEL}")).json()
    assert trainer["latest_version"]["id"] == TRAINER_VERSION
    check_problem(await client.get("/v1/models/alice/missing"), 404)

    new = {"owner": "alice", "name": "new-lora", "visibility": "private", "hardware": "cpu"}
    created = await client.post("/v1/models", json=new)
    assert created.status_code == 201 and created.json()["visibility"] == "private"
    assert "alice/new-lora" in tokenless_sim.models
    assert (await client.get("/v1/models/alice/new-lora")).status_code == 200
    check_problem(await client.post("/v1/models", json=new), 409)
    bad = check_problem(await client.post("/v1/models", json={**new, "name": "Bad Name"}), 422)
    assert bad["invalid_fields"][0]["field"] == "name"
    bad = check_problem(
        await client.post("/v1/models", json={**new, "visibility": "x", "hardware": "tpu"}), 422
    )
    assert [f["field"] for f in bad["invalid_fields"]] == ["visibility"]  # the spec's enum first
    assert "must be one of the following" in bad["invalid_fields"][0]["description"]
    bad = check_problem(await client.post("/v1/models", json={**new, "hardware": "tpu"}), 422)
    assert [f["field"] for f in bad["invalid_fields"]] == ["hardware"]  # then the known SKUs
    missing = check_problem(await client.post("/v1/models", json={"owner": "alice"}), 422)
    assert {f["field"] for f in missing["invalid_fields"]} == {"name", "visibility", "hardware"}
    check_problem(await client.post("/v1/models", json={**new, "owner": "bob"}), 403)
    check_problem(await client.post("/v1/models", content=b"not json"), 400)


async def test_trainer_version_schema(client: httpx.AsyncClient) -> None:
    version = (await client.get(f"/v1/models/{TRAINER_MODEL}/versions/{TRAINER_VERSION}")).json()
    schema = version["openapi_schema"]["components"]["schemas"]["TrainingInput"]
    props = schema["properties"]
    assert schema["required"] == ["input_images"]
    assert (props["steps"]["default"], props["steps"]["minimum"], props["steps"]["maximum"]) == (
        700,
        3,
        6000,
    )
    assert (props["lora_rank"]["minimum"], props["lora_rank"]["maximum"]) == (1, 128)
    assert props["caption_dropout_rate"]["maximum"] == 1
    assert props["learning_rate"]["default"] == 0.0004
    assert props["optimizer"]["default"] == "adamw8bit"
    assert props["resolution"]["default"] == "512,768"
    assert props["cache_latents_to_disk"]["type"] == "boolean"
    for secret in ("wandb_api_key", "hf_token"):
        assert props[secret]["format"] == "password" and props[secret]["x-cog-secret"] is True
    for flux_only in ("autocaption", "seed", "gradient_checkpointing"):
        assert flux_only not in props
    check_problem(await client.get(f"/v1/models/{TRAINER_MODEL}/versions/abc"), 404)


async def test_training_progresses_to_success_with_real_logs(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    tokenless_sim.start_delay = 0.3  # long enough that a loaded machine still sees it starting
    created = await create(client, steps=30, wandb_api_key="wandb-secret-value")
    assert created["status"] == "starting" and created["started_at"] is None
    assert created["input"]["wandb_api_key"] == "**********"
    assert "wandb-secret-value" not in str(tokenless_sim.trainings[created["id"]])
    assert re.fullmatch(r"[a-z2-7]{26}", created["id"])
    assert created["created_at"].endswith("Z")
    assert created["urls"]["get"] == f"{tokenless_sim.base_url}/v1/trainings/{created['id']}"
    done = await wait_terminal(client, created["id"])
    assert done["status"] == "succeeded"
    assert done["output"]["version"].startswith("alice/lora:")
    assert done["output"]["weights"] == f"{tokenless_sim.base_url}/_sim/weights/{created['id']}.tar"
    assert done["metrics"]["predict_time"] > 0
    assert done["metrics"]["total_time"] >= done["metrics"]["predict_time"]
    assert done["started_at"] and done["completed_at"] and done["error"] is None
    lines = done["logs"].splitlines()
    assert lines[0].startswith("Extracted ") and lines[0].endswith(" files from zip")
    assert re.match(r"Downloaded base weights in [\d.]+ seconds", lines[1])
    assert any(line.startswith("Caching latents: 100%|") for line in lines)
    assert "Starting train job" in lines
    steps = [line for line in lines if line.startswith("sd3.5_train_replicate:")]
    assert len(steps) == 30
    for line in steps:
        assert STEP_LINE.match(line), line
    assert "0/30 [00:00<?, ?it/s]" in steps[0]
    assert " 29/30 [" in steps[-1]
    assert lines[-1].startswith("Saved to output/")
    latest = (await client.get("/v1/models/alice/lora")).json()["latest_version"]
    new_version = done["output"]["version"].split(":")[1]
    assert latest["id"] == new_version
    assert (await client.get(f"/v1/models/alice/lora/versions/{new_version}")).status_code == 200


async def test_processing_shows_partial_logs() -> None:
    async with ReplicateSimulator(step_seconds=10, start_delay=0) as s:
        async with httpx.AsyncClient(base_url=s.base_url, headers=AUTH) as c:
            created = await create(c, steps=500)
            got = (await c.get(f"/v1/trainings/{created['id']}")).json()
    assert got["status"] == "processing" and got["started_at"] and got["metrics"] == {}
    assert got["logs"].splitlines()[-1].startswith("sd3.5_train_replicate:   0%|")
    assert got["output"] is None and got["completed_at"] is None


async def test_weights_tar_and_range(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    done = await wait_terminal(client, (await create(client))["id"])
    async with httpx.AsyncClient() as anonymous:  # the weights need no Authorization
        full = await anonymous.get(done["output"]["weights"])
        assert full.status_code == 200
        part = await anonymous.get(done["output"]["weights"], headers={"Range": "bytes=1000-"})
    assert full.content == tokenless_sim.weights_tar_path.read_bytes()
    assert part.status_code == 206 and part.content == full.content[1000:]
    with tarfile.open(fileobj=io.BytesIO(full.content)) as tar:
        names = tar.getnames()
        member = tar.extractfile(LORA_MEMBER)
        assert member is not None
        lora = member.read()
    assert names == [
        LORA_MEMBER,
        "output/sd3.5_train_replicate/config.yaml",
        "output/sd3.5_train_replicate/captions/a.txt",
    ]
    assert lora == tokenless_sim.lora_bytes and len(lora) == 64 * 1024
    header_len = int.from_bytes(lora[:8], "little")
    assert lora[8:9] == b"{" and lora[8 + header_len - 1 : 8 + header_len] in (b"}", b" ")
    check_problem(await client.get("/_sim/weights/unknown.tar"), 404)


async def test_weights_cut_then_resume(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    done = await wait_terminal(client, (await create(client))["id"])
    url = done["output"]["weights"]
    tokenless_sim.faults.weights_cut_after = 5000
    got = b""
    with pytest.raises(httpx.HTTPError):
        async with client.stream("GET", url) as response:
            assert response.headers["content-length"] == str(
                tokenless_sim.weights_tar_path.stat().st_size
            )
            async for chunk in response.aiter_raw():
                got += chunk
    assert 0 < len(got) <= 5000
    rest = await client.get(url, headers={"Range": f"bytes={len(got)}-"})
    assert rest.status_code == 206
    assert got + rest.content == tokenless_sim.weights_tar_path.read_bytes()


async def test_cut_honours_range(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    done = await wait_terminal(client, (await create(client))["id"])
    tokenless_sim.faults.weights_cut_after = 100
    with pytest.raises(httpx.HTTPError):
        await client.get(done["output"]["weights"], headers={"Range": "bytes=10-"})


async def test_create_refusals(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    missing = check_problem(
        await client.post(CREATE, json={**body(), "destination": "alice/nope"}), 404
    )
    assert missing["detail"] == "The specified training destination does not exist"
    inside = check_problem(
        await client.post(
            CREATE, json={"input": {"input_images": "https://x/a.zip", "destination": "alice/lora"}}
        ),
        422,
    )
    fields = {(f["field"], f["description"]) for f in inside["invalid_fields"]}
    assert ("input", "Additional property destination is not allowed") in fields
    assert any(f == "destination" for f, _ in fields)
    unknown = check_problem(await client.post(CREATE, json=body(autocaption=True)), 422)
    assert (
        unknown["invalid_fields"][0]["description"]
        == "Additional property autocaption is not allowed"
    )
    ranges = check_problem(
        await client.post(CREATE, json=body(steps=7000, lora_rank=0, caption_dropout_rate=2)),
        422,
    )
    assert {f["field"] for f in ranges["invalid_fields"]} == {
        "input.steps",
        "input.lora_rank",
        "input.caption_dropout_rate",
    }
    types = check_problem(await client.post(CREATE, json=body(steps="10", optimizer=3)), 422)
    assert {f["type"] for f in types["invalid_fields"]} == {"invalid_type"}
    no_images = check_problem(
        await client.post(CREATE, json={"destination": "alice/lora", "input": {}}), 422
    )
    assert no_images["invalid_fields"][0]["description"] == "input_images is required"
    bad_uri = check_problem(
        await client.post(
            CREATE, json={"destination": "alice/lora", "input": {"input_images": "x"}}
        ),
        422,
    )
    assert bad_uri["invalid_fields"][0]["field"] == "input.input_images"
    no_input = check_problem(await client.post(CREATE, json={"destination": "alice/lora"}), 422)
    assert no_input["invalid_fields"][0]["field"] == "input"
    for path in (CREATE.replace(TRAINER_VERSION, "0" * 64), "/v1/models/a/b/versions/1/trainings"):
        wrong = check_problem(await client.post(path, json=body()), 422)
        assert wrong["title"] == "Invalid version or not permitted"
    check_problem(await client.post(CREATE, content=b"[1]"), 400)
    assert tokenless_sim.trainings == {}
    ok = await create(client, steps=3, batch_size=2, learning_rate=1, cache_latents_to_disk=True)
    assert ok["input"]["steps"] == 3


async def test_list_pages_newest_first(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    empty = (await client.get("/v1/trainings")).json()
    assert empty == {"next": None, "previous": None, "results": []}
    ids = [tokenless_sim.create_training("alice/lora", body()["input"]).id for _ in range(150)]
    first = (await client.get("/v1/trainings")).json()
    assert [t["id"] for t in first["results"]] == ids[::-1][:100]
    assert all("logs" not in t for t in first["results"])
    assert first["previous"] is None
    assert first["next"].startswith(f"{tokenless_sim.base_url}/v1/trainings?cursor=")
    second = (await client.get(first["next"])).json()
    assert [t["id"] for t in second["results"]] == ids[::-1][100:]
    assert second["next"] is None
    back = (await client.get(second["previous"])).json()
    assert [t["id"] for t in back["results"]] == ids[::-1][:100]
    assert back["previous"] is None
    check_problem(await client.get("/v1/trainings", params={"cursor": "!!"}), 400)


async def test_list_small_pages(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    tokenless_sim.page_size = 2
    ids = [tokenless_sim.create_training("alice/lora", body()["input"]).id for _ in range(5)]
    seen: list[str] = []
    url: str | None = "/v1/trainings"
    while url:
        page = (await client.get(url)).json()
        seen += [t["id"] for t in page["results"]]
        url = page["next"]
    assert seen == ids[::-1]
    middle = (await client.get((await client.get("/v1/trainings")).json()["next"])).json()
    assert middle["previous"] and middle["next"]


async def test_cancel(client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator) -> None:
    tokenless_sim.step_seconds = 10
    running = await create(client, steps=100)
    await asyncio.sleep(0.02)
    canceled = (await client.post(f"/v1/trainings/{running['id']}/cancel")).json()
    assert canceled["status"] == "canceled" and canceled["completed_at"] and canceled["started_at"]
    assert canceled["output"] is None and canceled["metrics"]["predict_time"] > 0
    again = await client.post(f"/v1/trainings/{running['id']}/cancel")
    assert again.status_code == 200 and again.json() == canceled
    tokenless_sim.start_delay = 10
    queued = await create(client)
    early = (await client.post(f"/v1/trainings/{queued['id']}/cancel")).json()
    assert early["status"] == "canceled" and early["started_at"] is None and early["logs"] == ""
    assert "predict_time" not in early["metrics"]
    check_problem(await client.post("/v1/trainings/nope/cancel"), 404)
    check_problem(await client.get("/v1/trainings/nope"), 404)


@pytest.mark.parametrize("outcome", ["failed", "aborted", "canceled"])
async def test_unhappy_outcomes(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator, outcome: str
) -> None:
    tokenless_sim.faults.outcome = outcome
    done = await wait_terminal(client, (await create(client, steps=10))["id"])
    assert done["status"] == outcome and done["output"] is None and done["completed_at"]
    if outcome == "failed":
        assert "CUDA out of memory" in done["error"]
        assert "Traceback (most recent call last):" in done["logs"]
        assert done["metrics"]["predict_time"] > 0
    elif outcome == "aborted":
        assert done["started_at"] is None and done["logs"] == ""
        assert "predict_time" not in done["metrics"]
    else:
        assert done["error"] is None and " 4/10 [" in done["logs"]


async def test_finish_forces_an_ending(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    tokenless_sim.step_seconds = 10
    ids = [(await create(client, steps=50))["id"] for _ in range(4)]
    for training_id, status in zip(
        ids, ["succeeded", "failed", "aborted", "canceled"], strict=True
    ):
        tokenless_sim.finish(training_id, status)
        got = (await client.get(f"/v1/trainings/{training_id}")).json()
        assert got["status"] == status
    assert " 49/50 [" in tokenless_sim.trainings[ids[0]]["logs"]
    assert (
        tokenless_sim.trainings[ids[1]]["error"] and tokenless_sim.trainings[ids[1]]["started_at"]
    )
    tokenless_sim.finish(ids[0], "failed")  # already ended: unchanged
    assert tokenless_sim.trainings[ids[0]]["status"] == "succeeded"
    with pytest.raises(ValueError, match="status must be one of"):
        tokenless_sim.finish(ids[0], "processing")


async def test_read_faults_only_hit_gets(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    tokenless_sim.faults.read_failure_rate = 1.0
    tokenless_sim.faults.retry_after = 2
    statuses = set()
    for _ in range(30):
        response = await client.get("/v1/account")
        check_problem(response, response.status_code)
        statuses.add(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "2"
    assert statuses == {429, 500, 503}
    assert (await client.post(CREATE, json=body())).status_code == 201
    tokenless_sim.faults.read_failure_rate = 0
    tokenless_sim.faults.retry_after = 0.25
    assert (await client.get("/v1/account")).status_code == 200
    tokenless_sim.faults.read_failure_rate = 1.0
    throttled = [
        r for r in [await client.get("/v1/account") for _ in range(20)] if r.status_code == 429
    ]
    assert throttled[0].headers["Retry-After"] == "0.25"


async def test_slow_replies_still_answer(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    tokenless_sim.faults.slow_seconds = 0.01
    assert (await client.get("/v1/account")).status_code == 200


async def test_create_status_is_one_shot(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    for status in (401, 402, 404, 422, 429, 500, 418):
        tokenless_sim.faults.create_status = status
        check_problem(await client.post(CREATE, json=body()), status)
    billing = tokenless_sim.faults
    assert billing.create_status is None
    tokenless_sim.faults.create_status = 402
    assert (
        "replicate.com/account/billing" in (await client.post(CREATE, json=body())).json()["detail"]
    )
    assert (await client.post(CREATE, json=body())).status_code == 201


async def test_create_timeout_makes_the_training(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    tokenless_sim.faults.create_timeouts = 1
    with pytest.raises(httpx.ReadTimeout):
        await client.post(CREATE, json=body(), timeout=0.2)
    assert len(tokenless_sim.trainings) == 1 and tokenless_sim.faults.create_timeouts == 0
    listed = (await client.get("/v1/trainings")).json()["results"]
    assert listed[0]["id"] == next(iter(tokenless_sim.trainings))
    assert (await client.post(CREATE, json=body())).status_code == 201


async def test_create_timeout_close_mode(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    tokenless_sim.faults.create_timeouts = 1
    tokenless_sim.faults.create_timeout_mode = "close"
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(CREATE, json=body())
    assert len(tokenless_sim.trainings) == 1


async def test_stop_wakes_a_hanging_create() -> None:
    s = ReplicateSimulator(faults=Faults(create_timeouts=1))
    await s.start()
    async with httpx.AsyncClient(base_url=s.base_url, headers=AUTH, timeout=30) as c:
        pending = asyncio.create_task(c.post(CREATE, json=body()))
        for _ in range(1000):  # until the hanging create has made its training
            if s.trainings:
                break
            await asyncio.sleep(0.005)
        await s.stop()
        with pytest.raises(httpx.HTTPError):
            await pending


async def test_requests_are_recorded_without_headers(
    client: httpx.AsyncClient, tokenless_sim: ReplicateSimulator
) -> None:
    await client.post(CREATE, json=body(steps=5))
    await client.get("/v1/trainings", params={"cursor": "abc"})
    await client.post("/v1/models", content=b"{broken")
    create_req, list_req, broken = tokenless_sim.requests[-3:]
    assert (create_req.method, create_req.path) == ("POST", CREATE)
    assert create_req.json == body(steps=5)
    assert list_req.query == {"cursor": "abc"} and list_req.json is None
    assert broken.json == "{broken"
    assert TOKEN not in repr(tokenless_sim.requests)


async def test_seed_makes_ids_reproducible() -> None:
    first = ReplicateSimulator(seed=7).create_training("alice/lora", body()["input"])
    second = ReplicateSimulator(seed=7).create_training("alice/lora", body()["input"])
    assert first.id == second.id and first.new_version == second.new_version
    assert ReplicateSimulator(models="bob/x").models == {"bob/x"}


async def test_big_and_tiny_weights() -> None:
    async with ReplicateSimulator(weights_size=3 * 1024 * 1024 + 3) as big:
        assert len(big.lora_bytes) == 3 * 1024 * 1024 + 3
        assert big.lora_sha256
    async with ReplicateSimulator(weights_size=1) as tiny:
        lora = tiny.lora_bytes
        assert lora == safetensors_header(1) and len(lora) % 8 == 0


def test_simulator_thread_for_sync_callers() -> None:
    with SimulatorThread(step_seconds=10, start_delay=0) as s:
        with httpx.Client(base_url=s.base_url, headers=AUTH) as c:
            created = c.post(CREATE, json=body()).json()
            s.finish(created["id"])
            assert c.get(f"/v1/trainings/{created['id']}").json()["status"] == "succeeded"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{s.base_url}/v1/account", headers=AUTH)


async def test_serve_forever_reports_its_url() -> None:
    ready: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(serve_forever("127.0.0.1", 0, on_ready=ready.put_nowait))
    url = await ready.get()
    async with httpx.AsyncClient() as c:
        assert (await c.get(f"{url}/v1/account", headers=AUTH)).status_code == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_main_sync_returns_when_the_callback_stops_it() -> None:
    class Stop(Exception):
        pass

    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        raise Stop

    with pytest.raises(Stop):
        main_sync("0.0.0.0", 0, on_ready=on_ready)
    assert urls[0].startswith("http://127.0.0.1:")


def test_log_formatting_matches_tqdm() -> None:
    assert format_interval(83) == "01:23" and format_interval(3725) == "1:02:05"
    assert format_bar(0.12) == "█▏        " and format_bar(1) == "█" * 10
    assert format_rate(1.01) == " 1.01s/it" and format_rate(0.5) == " 2.00it/s"
    assert format_rate(None) == "?it/s"
    line = tqdm_line("sd3.5_train_replicate", 84, 700, 83.5, 1.01, "lr: 4.0e-04 loss: 4.123e-01")
    assert line == (
        "sd3.5_train_replicate:  12%|█▏        | 84/700 [01:23<10:22,  1.01s/it, "
        "lr: 4.0e-04 loss: 4.123e-01]"
    )
    assert STEP_LINE.match(line)


async def test_type_errors_name_the_given_type(client: httpx.AsyncClient) -> None:
    given = check_problem(
        await client.post(
            CREATE,
            json=body(steps=1.5, lora_rank=True, batch_size=None, optimizer=["a"], resolution={}),
        ),
        422,
    )
    descriptions = sorted(f["description"].split("given: ")[1] for f in given["invalid_fields"])
    assert descriptions == ["array", "boolean", "null", "number", "object"]
    whole = await client.post(CREATE, json=body(steps=700.0))
    assert whole.status_code == 201


async def test_pause_without_start_just_sleeps() -> None:
    assert await ReplicateSimulator().pause(0) is False


def test_simulator_thread_reports_a_start_failure() -> None:
    with SimulatorThread() as running, pytest.raises(OSError):
        with SimulatorThread(port=int(running.base_url.rsplit(":", 1)[1])):
            pass


def test_recorded_requests_group_by_endpoint() -> None:
    from bot.sim import RecordedRequest

    assert RecordedRequest("GET", "/v1/trainings/abc", {}).endpoint == "GET /v1/trainings/{id}"
    assert RecordedRequest("GET", "/_sim/weights/abc.tar", {}).endpoint == (
        "GET /_sim/weights/{id}.tar"
    )
    path = "/v1/models/o/n/versions/123/trainings"
    assert RecordedRequest("POST", path, {}).endpoint == (
        "POST /v1/models/o/n/versions/{version}/trainings"
    )
    assert RecordedRequest("GET", "/v1/account", {}).endpoint == "GET /v1/account"
