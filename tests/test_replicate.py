"""ReplicateGateway against the simulator on loopback, through the real `replicate` client.

Behaviour under faults (retries, lost create answers) lives in test_replicate_faults.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.core.errors import InputError, SD35LError, ServiceError
from bot.core.replicate import errors
from bot.core.replicate.gateway import ReplicateGateway
from bot.core.replicate.urls import same_origin
from bot.core.settings import load_settings
from bot.sim import ReplicateSimulator
from tests.replicate_support import (
    DATASET,
    TOKEN,
    WANDB_KEY,
    GatewayFactory,
    creates,
    inputs,
    make_settings,
    wait_terminal,
)


async def test_check_token_and_request_counter(gateways: GatewayFactory) -> None:
    gw = gateways()
    assert await gw.check_token() == "alice"
    assert gw.requests_made == 1


async def test_create_sends_top_level_destination_and_secret_inputs(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    gw = gateways()
    training = await gw.create_training(
        "alice/lora", inputs(), secret_inputs={"wandb_api_key": WANDB_KEY}
    )
    assert training.id in replicate_sim.trainings
    assert training.status in ("starting", "processing")
    (request,) = creates(replicate_sim)
    model, version = gw.settings.trainer_model, gw.settings.trainer_version
    assert request.path == f"/v1/models/{model}/versions/{version}/trainings"
    assert request.json["destination"] == "alice/lora"
    assert "destination" not in request.json["input"]
    assert request.json["input"]["input_images"] == DATASET
    assert request.json["input"]["wandb_api_key"] == WANDB_KEY
    assert WANDB_KEY not in str(training.raw)  # Replicate (and the simulator) redact it


async def test_no_token_fails_before_any_request(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    gw = gateways(token=None)
    for call in (gw.check_token(), gw.create_training("alice/lora", inputs()), gw.list_trainings()):
        with pytest.raises(InputError) as info:
            await call
        assert "REPLICATE_API_TOKEN is not set" in str(info.value)
        assert info.value.field == "REPLICATE_API_TOKEN"
    assert replicate_sim.requests == []
    assert gw.requests_made == 0
    assert gw.download_headers(f"{replicate_sim.base_url}/_sim/weights/x.tar") == {}


async def test_401_says_how_to_fix_the_token(gateways: GatewayFactory) -> None:
    wrong = "r8_" + "bad" * 10
    gw = gateways(token=wrong)
    for call in (gw.check_token(), gw.create_training("alice/lora", inputs())):
        with pytest.raises(InputError) as info:
            await call
        assert info.value.exit_code == 2 and info.value.field == "REPLICATE_API_TOKEN"
        assert str(info.value) == errors.MSG_401
        assert wrong not in str(info.value) and TOKEN not in str(info.value)
    assert gw.requests_made == 2  # a 401 is never retried


async def test_402_points_to_billing(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    replicate_sim.faults.create_status = 402
    with pytest.raises(ServiceError) as info:
        await gateways().create_training("alice/lora", inputs())
    assert info.value.status == 402
    assert "https://replicate.com/account/billing" in str(info.value)
    assert list(replicate_sim.trainings) == []


async def test_missing_destination_explains_how_to_create_it(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    gw = gateways()
    assert await gw.destination_exists("alice/lora") is True
    assert await gw.destination_exists("alice/new-lora") is False
    with pytest.raises(InputError) as info:
        await gw.create_training("alice/new-lora", inputs())
    assert info.value.field == "destination"
    assert str(info.value) == (
        "Destination model alice/new-lora does not exist on Replicate. Create it at "
        "https://replicate.com/create (hardware CPU, private) or rerun with --create-destination."
    )
    await gw.create_destination("alice/new-lora")
    await gw.create_destination("alice/new-lora")  # already there: fine
    assert await gw.destination_exists("alice/new-lora") is True
    body = next(
        r.json for r in replicate_sim.requests if r.method == "POST" and r.path == "/v1/models"
    )
    assert body == {
        "owner": "alice",
        "name": "new-lora",
        "visibility": "private",
        "hardware": "cpu",
    }
    training = await gw.create_training("alice/new-lora", inputs())
    assert training.id in replicate_sim.trainings


@pytest.mark.parametrize("bad", ["alice", "alice/", "/lora", "a b/c", "alice/lora/x"])
async def test_malformed_destination_is_an_input_error(gateways: GatewayFactory, bad: str) -> None:
    gw = gateways()
    with pytest.raises(InputError) as info:
        await gw.destination_exists(bad)
    assert info.value.field == "destination"
    assert gw.requests_made == 0


async def test_422_lists_every_invalid_field(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    bad = inputs(steps=7000, lora_rank="big")
    with pytest.raises(InputError) as info:
        await gateways().create_training("alice/lora", bad, {"wandb_api_key": WANDB_KEY})
    text = str(info.value)
    assert text.startswith("Replicate rejected the training inputs (422): ")
    assert "steps" in text and "lora_rank" in text
    assert info.value.field in ("steps", "lora_rank")
    assert WANDB_KEY not in text and TOKEN not in text
    assert list(replicate_sim.trainings) == []


async def test_get_training_unknown_and_malformed_ids(gateways: GatewayFactory) -> None:
    gw = gateways()
    with pytest.raises(InputError) as info:
        await gw.get_training("doesnotexist")
    assert "doesnotexist" in str(info.value) and info.value.field == "training_id"
    with pytest.raises(InputError):
        await gw.get_training("../v1/account")
    with pytest.raises(InputError):
        await gw.cancel_training("doesnotexist")


async def test_succeeded_training_keeps_metrics_and_output(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    gw = gateways()
    created = await gw.create_training("alice/lora", inputs())
    done = await wait_terminal(gw, created.id)
    assert done.status == "succeeded"
    assert done.predict_time is not None and done.predict_time > 0
    assert done.weights_url and done.weights_url.startswith(replicate_sim.base_url)
    assert done.new_version and done.new_version.startswith("alice/lora:")
    assert done.logs and "sd3.5_train_replicate" in done.logs
    (listed,) = [t for t in await gw.list_trainings() if t.id == created.id]
    assert listed.metrics == done.metrics and listed.logs is None


async def test_aborted_status_survives_get_and_list(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    replicate_sim.faults.outcome = "aborted"
    gw = gateways()
    created = await gw.create_training("alice/lora", inputs())
    done = await wait_terminal(gw, created.id)
    assert done.status == "aborted" and done.is_terminal
    listed = await gw.list_trainings(limit=10)
    assert [t.status for t in listed if t.id == created.id] == ["aborted"]
    again = await gw.cancel_training(created.id)  # cancel after the end: unchanged, no crash
    assert again.status == "aborted"


async def test_cancel_running_training(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    gw = gateways()
    created = await gw.create_training("alice/lora", inputs(steps=6000))
    canceled = await gw.cancel_training(created.id)
    assert (
        canceled.status == "canceled" or (await wait_terminal(gw, created.id)).status == "canceled"
    )
    assert any(r.path == f"/v1/trainings/{created.id}/cancel" for r in replicate_sim.requests)


async def test_list_follows_pages_past_100(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    made = [replicate_sim.create_training("alice/lora", inputs()).id for _ in range(130)]
    gw = gateways()
    every = await gw.list_trainings(limit=500)
    assert [t.id for t in every] == list(reversed(made))  # newest first, no duplicates
    assert gw.requests_made == 2
    first = await gw.list_trainings(limit=120)
    assert len(first) == 120
    assert len(await gw.list_trainings(limit=5)) == 5
    assert await gw.list_trainings(limit=0) == []


async def test_schema_check_catches_unknown_and_out_of_range_inputs(
    gateways: GatewayFactory,
) -> None:
    gw = gateways()
    assert await gw.check_inputs(inputs(steps=1500, lora_rank=16, optimizer="prodigy")) == []
    problems = await gw.check_inputs(
        {"input_images": DATASET, "steps": 7000, "autocaption": True, "lora_rank": "big"}
    )
    assert any(p.startswith("autocaption is not an input of") for p in problems)
    assert any("steps is 7000, above the trainer's maximum of 6000" in p for p in problems)
    assert any(p.startswith("lora_rank must be a whole number") for p in problems)
    assert any("lora_rank" in p for p in await gw.check_inputs(inputs(lora_rank=0)))
    missing = await gw.check_inputs({"steps": 10})
    assert any(p.startswith("input_images is required") for p in missing)
    before = gw.requests_made
    await gw.trainer_input_schema()
    assert gw.requests_made == before == 1  # cached per (base_url, trainer)


async def test_unknown_trainer_version_names_the_setting(replicate_sim: ReplicateSimulator) -> None:
    settings = load_settings(
        REPLICATE_API_TOKEN=TOKEN,
        REPLICATE_BASE_URL=replicate_sim.base_url,
        SD35L_TRAINER="nobody/nothing:" + "0" * 64,
    )
    async with ReplicateGateway(settings) as gw:
        with pytest.raises(InputError) as info:
            await gw.trainer_input_schema()
    assert info.value.field == "SD35L_TRAINER"


async def test_unreachable_replicate_names_the_base_url() -> None:
    settings = make_settings("http://127.0.0.1:9")  # discard port: connection refused
    async with ReplicateGateway(settings, read_attempts=2, backoff_base=0.001) as gw:
        with pytest.raises(ServiceError) as info:
            await gw.check_token()
        assert str(info.value).startswith("Could not reach Replicate at http://127.0.0.1:9: ")
        with pytest.raises(ServiceError) as info:
            await gw.create_training("alice/lora", inputs())
        assert "Could not reach Replicate" in str(info.value)
        assert gw.requests_made == 3  # two reads, one create (never retried blindly)


def test_download_headers_only_for_replicate_hosts() -> None:
    gw = ReplicateGateway(make_settings("http://127.0.0.1:8123"))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert gw.download_headers("http://127.0.0.1:8123/_sim/weights/a.tar") == auth
    assert gw.download_headers("https://replicate.delivery/xezq/abc/trained_model.tar") == auth
    assert gw.download_headers("https://pbxt.replicate.delivery/abc/x.tar") == auth
    assert gw.download_headers("https://api.replicate.com/v1/files/x") == auth
    assert gw.download_headers("http://replicate.delivery/x.tar") == {}  # no token in clear
    assert gw.download_headers("https://evilreplicate.com/x.tar") == {}
    assert gw.download_headers("https://replicate.com.evil.net/x.tar") == {}
    assert gw.download_headers("https://example.com/x.tar") == {}
    assert gw.download_headers("http://127.0.0.1:9999/x.tar") == auth  # same host as base
    assert gw.download_headers("not a url at all \x00") == {}


def test_retry_delay_honours_retry_after_but_caps_it() -> None:
    gw = ReplicateGateway(make_settings("http://127.0.0.1:8123"), max_backoff=2.0)
    assert gw._delay(1, httpx.Response(429, headers={"Retry-After": "1.5"})) == 1.5
    assert gw._delay(1, httpx.Response(429, headers={"Retry-After": "3600"})) == 2.0
    date = "Wed, 21 Oct 2099 07:28:00 GMT"
    assert gw._delay(1, httpx.Response(503, headers={"Retry-After": date})) == 2.0
    assert 0.0 <= gw._delay(1, httpx.Response(503, headers={"Retry-After": "soon"})) <= 0.5
    assert gw._delay(10, None) <= 2.0
    assert errors.retry_after(httpx.Headers({"Retry-After": "nan"})) is None
    assert errors.retry_after(httpx.Headers({"Retry-After": "-3"})) == 0.0


def test_input_problems_handles_enums_refs_and_bounds() -> None:
    components = {
        "optimizer": {"title": "optimizer", "enum": ["prodigy", "adamw8bit"], "type": "string"},
        "TrainingInput": {
            "type": "object",
            "properties": {
                "optimizer": {"allOf": [{"$ref": "#/components/schemas/optimizer"}]},
                "rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "steps": {"type": "integer", "minimum": 3},
                "flag": {"type": "boolean"},
                "url": {"type": "string", "format": "uri"},
            },
        },
    }
    schema = errors.resolve_schema(components["TrainingInput"], components)
    problems = errors.input_problems(
        schema,
        {"optimizer": "lion", "rate": 1, "steps": 2, "flag": "yes", "url": "ftp://x"},
        "owner/trainer",
    )
    assert problems == [
        "optimizer is 'lion', but the trainer allows only: prodigy, adamw8bit.",
        "rate is 1; the trainer needs less than 1.",
        "steps is 2, below the trainer's minimum of 3.",
        "flag must be true or false, not 'yes'.",
        "url must be an http(s) URL, not 'ftp://x'.",
    ]
    assert errors.input_problems(schema, {"rate": 0, "steps": True}, "o/t") == [
        "rate is 0; the trainer needs more than 0.",
        "steps must be a whole number, not True.",
    ]


def test_error_mapping_of_other_statuses() -> None:
    def resp(status: int, body: Any = None, text: str = "") -> httpx.Response:
        if body is not None:
            return httpx.Response(status, json=body)
        return httpx.Response(status, text=text)

    err = errors.error_for(resp(503), action="list trainings")
    assert isinstance(err, ServiceError) and err.status == 503
    assert "HTTP 503" in str(err) and "list trainings" in str(err)
    err = errors.error_for(resp(429), action="list trainings")
    assert "throttling" in str(err)
    err = errors.error_for(resp(403, {"detail": f"nope {TOKEN}"}), action="x")
    assert "HTTP 403" in str(err) and TOKEN not in str(err)
    err = errors.error_for(resp(422, {"detail": "Invalid version or not permitted"}), action="x")
    assert isinstance(err, InputError) and "Invalid version or not permitted" in str(err)
    err = errors.error_for(resp(418, text="teapot"), action="x")
    assert "teapot" in str(err)
    assert errors.detail_of(resp(400, [1, 2])) == "[1,2]"


async def test_token_never_in_messages_or_logs(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    messages: list[str] = []
    gw = gateways(read_attempts=2, lookup_attempts=1)
    replicate_sim.faults.read_failure_rate = 1.0
    for call in (gw.check_token(), gw.get_training("abc"), gw.list_trainings()):
        with pytest.raises(SD35LError) as info:
            await call
        messages.append(str(info.value))
    replicate_sim.faults.read_failure_rate = 0.0
    replicate_sim.faults.create_status = 422
    with pytest.raises(SD35LError) as info:
        await gw.create_training("alice/lora", inputs(), {"wandb_api_key": WANDB_KEY})
    messages.append(str(info.value))
    everything = "\n".join(messages) + caplog.text
    assert TOKEN not in everything and WANDB_KEY not in everything


async def test_create_destination_refusals(
    replicate_sim: ReplicateSimulator, gateways: GatewayFactory
) -> None:
    gw = gateways()
    with pytest.raises(InputError) as info:
        await gw.create_destination("bob/lora")
    assert info.value.field == "destination" and "(403: " in str(info.value)
    with pytest.raises(InputError) as info:
        await gw.create_destination("alice/Upper")
    assert str(info.value).startswith("Replicate rejected the model settings (422): name: ")
    replicate_sim.faults.read_failure_rate = 1.0
    with pytest.raises(ServiceError):
        await gateways(read_attempts=1).destination_exists("alice/lora")


async def test_wrong_trainer_version_on_create_names_the_setting(
    replicate_sim: ReplicateSimulator,
) -> None:
    settings = load_settings(
        REPLICATE_API_TOKEN=TOKEN,
        REPLICATE_BASE_URL=replicate_sim.base_url,
        SD35L_TRAINER="lucataco/sd3.5-large-fine-tuner:" + "1" * 64,
    )
    async with ReplicateGateway(settings) as gw:
        with pytest.raises(InputError) as info:
            await gw.create_training("alice/lora", inputs())
    assert info.value.field == "SD35L_TRAINER"
    assert str(info.value).startswith("Replicate refused trainer lucataco/sd3.5-large-fine-tuner:")


def test_next_links_never_leave_the_base_origin() -> None:
    base = "http://127.0.0.1:8123"
    same = "http://127.0.0.1:8123/v1/trainings?cursor=abc"
    assert same_origin(same, base) == same
    assert same_origin("/v1/trainings?cursor=x", base) == "/v1/trainings?cursor=x"
    other = "https://api.replicate.com/v1/trainings?cursor=abc"
    assert same_origin(other, base) == "/v1/trainings?cursor=abc"


def test_unreadable_answer_is_a_service_error() -> None:
    with pytest.raises(ServiceError) as info:
        errors.json_object(httpx.Response(200, text="<html>"), "list trainings")
    assert "not a JSON object" in str(info.value) and info.value.status == 200
