"""Predictions: one image in, one caption out, through the gateway's official client.

Why its own module: a training is created once and tracked for an hour; a caption is a
prediction of a few seconds made fifty times in a row, so it is created with `Prefer: wait`
(the answer usually carries the output) and read again only when the model took longer.
Like the gateway, it reads raw JSON: the client's `Prediction` model rejects
`status: "aborted"`, and its `ReplicateError` drops `Retry-After`.

Retries: a create refused with 429 made nothing and is retried after `Retry-After`; a 5xx or a
lost answer might have made a prediction, but a caption costs a fraction of a cent, so it is
retried too (at worst one caption is paid twice) — unlike a training, where that is never done.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bot.core.errors import InputError, ServiceError
from bot.core.log import get_logger
from bot.core.replicate import errors as rerr
from bot.core.replicate.gateway import RETRY_STATUSES, ReplicateGateway

log = get_logger(__name__)

ENDED = frozenset({"succeeded", "failed", "canceled", "aborted"})
WAIT_SECONDS = 60  # the most `Prefer: wait` holds a create open
POLL_SECONDS = 0.5

# Input schemas per (base_url, model:version): versions are immutable, so once per process.
_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {}


@dataclass(frozen=True)
class Prediction:
    """What a finished prediction says: its status, output, error and billed seconds."""

    id: str
    status: str
    output: Any
    error: str | None
    predict_time: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        seconds = (metrics or {}).get("predict_time")
        error = data.get("error")
        return cls(
            id=str(data.get("id") or ""),
            status=str(data.get("status") or ""),
            output=data.get("output"),
            error=str(error) if error else None,
            predict_time=float(seconds) if isinstance(seconds, int | float) else None,
        )

    @property
    def ended(self) -> bool:
        return self.status in ENDED


async def latest_version(gw: ReplicateGateway, model: str, field: str) -> str:
    """The newest version id of `model` (for a setting given without `:version`)."""
    owner, _, name = model.partition("/")
    resp = await gw._read("GET", f"/v1/models/{quote(owner)}/{quote(name)}")
    if resp.status_code == 404:
        raise InputError(
            f"{field}: model {model} was not found on Replicate; give an existing owner/name.",
            field=field,
        )
    if not resp.is_success:
        raise rerr.error_for(resp, action=f"look up model {model}")
    latest = rerr.json_object(resp, f"look up model {model}").get("latest_version")
    version = latest.get("id") if isinstance(latest, dict) else None
    if not isinstance(version, str) or not version:
        raise InputError(
            f"{field}: model {model} has no published version; give owner/name:version.",
            field=field,
        )
    return version


async def input_schema(
    gw: ReplicateGateway, model: str, version: str, field: str
) -> dict[str, Any]:
    """The version's `Input` schema (`$ref`s inlined), read once per process."""
    key = (gw.base_url, f"{model}:{version}")
    cached = _SCHEMAS.get(key)
    if cached is not None:
        return cached
    owner, _, name = model.partition("/")
    resp = await gw._read(
        "GET", f"/v1/models/{quote(owner)}/{quote(name)}/versions/{quote(version)}"
    )
    if resp.status_code in (404, 422):
        raise InputError(
            f"{field}: {model}:{version} was not found on Replicate; give an existing "
            "owner/name:version (or owner/name for its newest version).",
            field=field,
        )
    if not resp.is_success:
        raise rerr.error_for(resp, action=f"read the schema of {model}")
    data = rerr.json_object(resp, f"read the schema of {model}")
    schema = data.get("openapi_schema")
    components = schema.get("components", {}) if isinstance(schema, dict) else {}
    schemas = components.get("schemas", {}) if isinstance(components, dict) else {}
    found = schemas.get("Input") if isinstance(schemas, dict) else None
    if not isinstance(found, dict):
        raise InputError(
            f"{field}: {model} publishes no input schema, so it cannot be told how to caption.",
            field=field,
        )
    resolved = dict(rerr.resolve_schema(found, schemas))
    _SCHEMAS[key] = resolved
    return resolved


async def predict(
    gw: ReplicateGateway, version: str, inputs: dict[str, Any], *, attempts: int = 4
) -> Prediction:
    """Run one prediction to its end (see the module docstring for the retry rule)."""
    gw._require_token()
    body = {"version": version, "input": inputs}
    made: dict[str, Any] | None = None
    for attempt in range(1, attempts + 1):
        last = attempt == attempts
        try:
            resp = await gw._http.request(
                "POST", "/v1/predictions", json=body, headers={"Prefer": f"wait={WAIT_SECONDS}"}
            )
        except httpx.TransportError as exc:
            if last:
                raise rerr.network_error(gw.base_url, exc) from None
            await asyncio.sleep(gw.backoff(attempt, None))
            continue
        if resp.status_code in RETRY_STATUSES and not last:
            delay = gw._delay(attempt, resp)
            log.info("caption create answered %s; retry in %.2fs", resp.status_code, delay)
            await asyncio.sleep(delay)
            continue
        if not resp.is_success:
            raise rerr.error_for(resp, action="run the captioning model", subject="caption inputs")
        made = rerr.json_object(resp, "run the captioning model")
        break
    assert made is not None
    found = Prediction.from_json(made)
    while not found.ended:
        if not found.id:
            raise ServiceError("Replicate answered a caption request without a prediction id.")
        await asyncio.sleep(POLL_SECONDS)
        resp = await gw._read("GET", f"/v1/predictions/{quote(found.id, safe='')}")
        if not resp.is_success:
            raise rerr.error_for(resp, action=f"read prediction {found.id}")
        found = Prediction.from_json(rerr.json_object(resp, f"read prediction {found.id}"))
    return found
