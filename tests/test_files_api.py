"""Replicate's Files API: the simulator against the published spec, and our upload/delete code.

Everything goes through the real `replicate` client (its `files.create` for the upload) against
the simulator on loopback; the simulator's answers are validated with the spec's own schemas.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
import replicate

from bot.core.errors import InputError, ServiceError
from bot.core.replicate.files import REUSE_FOR, delete_upload, ensure_upload, upload_dataset
from bot.sim import ReplicateSimulator
from bot.sim import files as simfiles
from bot.sim.files import download_url
from tests.local_images import dataset_files, zip_of
from tests.replicate_support import TOKEN, GatewayFactory, wait_terminal
from tests.test_sim_openapi import check

KW = {"field": "dataset", "url_option": "dataset_url"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def official(replicate_sim: ReplicateSimulator) -> AsyncIterator[replicate.Client]:
    transport = httpx.AsyncHTTPTransport()
    yield replicate.Client(api_token=TOKEN, base_url=replicate_sim.base_url, transport=transport)
    await transport.aclose()


async def test_files_endpoints_match_the_spec(
    replicate_sim: ReplicateSimulator,
    official: replicate.Client,
) -> None:
    data = zip_of(dataset_files(2))
    made = await official.files.async_create(
        io.BytesIO(data), filename="d.zip", content_type="application/zip", metadata={"a": 1}
    )
    async with httpx.AsyncClient(
        base_url=replicate_sim.base_url, headers=AUTH, timeout=5
    ) as client:
        got = (await client.get(f"/v1/files/{made.id}")).json()
        check(got, "/files/{file_id}")
        listing = (await client.get("/v1/files")).json()
        check(listing, "/files")
        assert [f["id"] for f in listing["results"]] == [made.id]
        assert got["size"] == len(data) and got["metadata"] == {"a": 1}
        assert got["urls"]["get"] == f"{replicate_sim.base_url}/v1/files/{made.id}"
        lifetime = datetime.fromisoformat(got["expires_at"]) - datetime.fromisoformat(
            got["created_at"]
        )
        assert lifetime == timedelta(hours=24)  # Replicate's files expire a day after upload
        signed = download_url(replicate_sim, replicate_sim.files[made.id], replicate_sim.base_url)
        async with httpx.AsyncClient(timeout=5) as anonymous:
            assert (await anonymous.get(signed)).content == data
            forged = signed.replace("signature=", "signature=x")
            assert (await anonymous.get(forged)).status_code == 404
        assert (await client.delete(f"/v1/files/{made.id}")).status_code == 204
        gone = await client.get(f"/v1/files/{made.id}")
        assert gone.status_code == 404 and gone.json()["detail"] == "File not found"
        assert (await client.delete(f"/v1/files/{made.id}")).status_code == 404


async def test_spec_shape_of_a_created_file_via_raw_multipart(
    replicate_sim: ReplicateSimulator,
) -> None:
    async with httpx.AsyncClient(
        base_url=replicate_sim.base_url, headers=AUTH, timeout=5
    ) as client:
        resp = await client.post(
            "/v1/files", files={"content": ("x.zip", b"PK\5\6" + b"\0" * 18, "application/zip")}
        )
    assert resp.status_code == 201
    check(resp.json(), "/files", method="post", status="201")


async def test_upload_over_the_limit_is_413_and_a_clear_input_error(
    replicate_sim: ReplicateSimulator,
    gateways: GatewayFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert simfiles.MAX_FILE == 100 * 1024 * 1024  # Replicate's published limit
    monkeypatch.setattr(simfiles, "MAX_FILE", 4096)
    with pytest.raises(InputError) as caught:
        await upload_dataset(gateways(), b"\0" * 5000, filename="d.zip", sha256="x", **KW)
    assert caught.value.field == "dataset"
    assert "100 MiB" in str(caught.value) and "fewer or smaller images" in str(caught.value)
    assert replicate_sim.files == {}


async def test_upload_5xx_and_timeout_are_one_sentence_and_leave_nothing(
    replicate_sim: ReplicateSimulator,
    gateways: GatewayFactory,
) -> None:
    gw = gateways()
    replicate_sim.faults.upload_status = 503
    with pytest.raises(ServiceError, match=r"refused the dataset upload .*nothing was started"):
        await upload_dataset(gw, b"PK", filename="d.zip", sha256="x", **KW)
    replicate_sim.faults.upload_hang = 5
    with pytest.raises(ServiceError, match="did not finish within 0 s"):
        await upload_dataset(gw, b"PK", filename="d.zip", sha256="x", deadline=0.2, **KW)
    assert replicate_sim.files == {} and not any(
        "/trainings" in r.path for r in replicate_sim.requests
    )


async def test_same_bytes_reuse_the_upload_until_it_is_20_hours_old(
    replicate_sim: ReplicateSimulator,
    gateways: GatewayFactory,
) -> None:
    gw = gateways()
    data = zip_of(dataset_files(2))
    digest = hashlib.sha256(data).hexdigest()
    first, new = await ensure_upload(gw, data, filename="d.zip", sha256=digest, **KW)
    again, new_again = await ensure_upload(gw, data, filename="d.zip", sha256=digest, **KW)
    assert new and not new_again and again.id == first.id
    uploads = [r for r in replicate_sim.requests if r.method == "POST" and r.path == "/v1/files"]
    assert len(uploads) == 1
    replicate_sim.files[first.id].created_wall -= REUSE_FOR.total_seconds() + 60
    fresh, made_new = await ensure_upload(gw, data, filename="d.zip", sha256=digest, **KW)
    assert made_new and fresh.id != first.id
    assert await delete_upload(gw, fresh.id) and fresh.id not in replicate_sim.files
    assert await delete_upload(gw, fresh.id)  # already gone counts as deleted


async def test_trainings_read_input_images_like_the_trainer(
    replicate_sim: ReplicateSimulator,
    gateways: GatewayFactory,
) -> None:
    gw = gateways()
    cases = {
        "good": (zip_of(dataset_files(2)), "succeeded", None),
        "not a zip": (b"<html>share page</html>", "failed", "input_images must be a zip file"),
        "no images": (zip_of({"a.txt": b"hi", "__MACOSX/x.jpg": b"x"}), "failed", "no images"),
    }
    for label, (data, status, error) in cases.items():
        made = await upload_dataset(gw, data, filename="d.zip", sha256=label, **KW)
        training = await gw.create_training(
            "alice/lora", {"input_images": made.url, "trigger_word": "TOK", "steps": 3}
        )
        ended = await wait_terminal(gw, training.id)
        assert ended.status == status, label
        assert (ended.error or None) == error or (error and error in str(ended.error)), label
