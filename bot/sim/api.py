"""The simulator's /v1 routes and the weights download, mirroring docs/replicate.md.

Handlers are plain named functions of the ReplicateSimulator and the request, listed in
`ROUTES`, so server.py stays about lifecycle and the request pipeline; each answers exactly what
the real endpoint would for our use.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sim import captioners
from bot.sim.files import FILE_ROUTES, Handler, invalid_fields, read_input_images
from bot.sim.schema import trainer_openapi_schema, validate_input
from bot.sim.state import iso

if TYPE_CHECKING:
    from bot.sim.server import ReplicateSimulator

HANG_SECONDS = 3600.0  # far beyond any client timeout; stop() wakes it
MODEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
HARDWARE = ("cpu", "gpu-t4", "gpu-l40s", "gpu-l40s-2x", "gpu-a100-large", "gpu-h100")
CREATE_ERRORS = {
    401: ("Unauthenticated", "You did not pass a valid authentication token"),
    402: (
        "Insufficient credit",
        "You have insufficient credit to run this model. Go to "
        "https://replicate.com/account/billing to purchase credit.",
    ),
    404: ("Not found", "The specified training destination does not exist"),
    422: ("Input validation failed", "- input: Additional property seed is not allowed\n"),
    429: ("Request was throttled.", "Request was throttled. Expected available in 1 second."),
    500: ("Internal Server Error", "An unexpected error occurred."),
}


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    """An RFC 7807 error body, the way Replicate sends every error."""
    body = {"title": title, "detail": detail, "status": status, **extra}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def version_json(version: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": version,
        "created_at": iso(0),
        "cog_version": "0.13.6",
        "openapi_schema": schema,
    }


def model_json(sim: ReplicateSimulator, full: str) -> dict[str, Any]:
    owner, _, name = full.partition("/")
    meta = sim.model_meta.get(full, {})
    latest = None
    if full == sim.trainer_model:
        latest = version_json(sim.trainer_version, trainer_openapi_schema())
    elif (found := captioners.version_of(full, None)) is not None:
        latest = version_json(*found)
    else:
        made = [r for r in list(sim.records.values()) if r.destination == full]
        done = [r for r in made if sim.render(r, with_logs=False)["output"]]
        if done:
            latest = version_json(done[-1].new_version, {"openapi": "3.0.2"})
    return {
        "url": f"https://replicate.com/{full}",
        "owner": owner,
        "name": name,
        "description": meta.get("description"),
        "visibility": meta.get("visibility", "private" if full in sim.models else "public"),
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": 0,
        "cover_image_url": None,
        "default_example": None,
        "latest_version": latest,
    }


def known_model(sim: ReplicateSimulator, full: str) -> bool:
    return full == sim.trainer_model or full in sim.models or full in captioners.CAPTIONERS


async def account(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    return _json(
        {
            "type": "user",
            "username": sim.username,
            "name": sim.username.capitalize(),
            "github_url": f"https://github.com/{sim.username}",
        }
    )


async def webhook_secret(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    return _json({"key": sim.webhook_secret})


async def get_model(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    full = f"{request.match_info['owner']}/{request.match_info['name']}"
    if not known_model(sim, full):
        return problem(404, "Not found", f"The model {full} does not exist.")
    return _json(model_json(sim, full))


async def create_model(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    body = await _body(request)
    problems: list[dict[str, str]] = []
    for key in ("owner", "name", "visibility", "hardware"):
        if not isinstance(body.get(key), str) or not body.get(key):
            problems.append({"type": "required", "field": key, "description": f"{key} is required"})
    if not problems:
        if not MODEL_NAME_RE.match(body["name"]):
            problems.append(
                {
                    "type": "invalid",
                    "field": "name",
                    "description": "Model names may contain only lowercase letters, "
                    "digits, dashes, underscores and periods.",
                }
            )
        if body["visibility"] not in ("public", "private"):
            problems.append(
                {
                    "type": "enum",
                    "field": "visibility",
                    "description": "Must be public or private",
                }
            )
        if body["hardware"] not in HARDWARE:
            problems.append(
                {"type": "enum", "field": "hardware", "description": "Unknown hardware SKU"}
            )
    if problems:
        return invalid(problems)
    if body["owner"] != sim.username:
        return problem(
            403,
            "Forbidden",
            f"You do not have permission to create models for {body['owner']}.",
        )
    full = f"{body['owner']}/{body['name']}"
    if known_model(sim, full):
        return problem(409, "Conflict", f"A model named {full} already exists.")
    with sim.lock:
        sim.models.add(full)
        sim.model_meta[full] = {
            "visibility": body["visibility"],
            "hardware": body["hardware"],
            "description": body.get("description"),
        }
    return _json(model_json(sim, full), status=201)


async def get_version(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    full = f"{request.match_info['owner']}/{request.match_info['name']}"
    version = request.match_info["version"]
    if full == sim.trainer_model and version == sim.trainer_version:
        return _json(version_json(version, trainer_openapi_schema()))
    captioner = captioners.version_of(full, version)
    if captioner is not None:
        return _json(version_json(*captioner))
    for record in list(sim.records.values()):
        if record.destination == full and record.new_version == version:
            if sim.render(record, with_logs=False)["output"]:
                return _json(version_json(version, {"openapi": "3.0.2"}))
    return problem(404, "Not found", f"The version {full}:{version} does not exist.")


async def create_training(sim: ReplicateSimulator, request: web.Request) -> web.StreamResponse:
    faults = sim.faults
    if faults.create_status is not None:
        status, faults.create_status = faults.create_status, None
        title, detail = CREATE_ERRORS.get(status, ("Error", "Something went wrong."))
        return problem(status, title, detail)
    full = f"{request.match_info['owner']}/{request.match_info['name']}"
    if full != sim.trainer_model or request.match_info["version"] != sim.trainer_version:
        return problem(
            422,
            "Invalid version or not permitted",
            "The specified version does not exist (or perhaps you don't have permission "
            "to use it?)",
        )
    body = await _body(request)
    destination, inputs = body.get("destination"), body.get("input")
    shape: list[dict[str, str]] = []
    if not isinstance(destination, str) or destination.count("/") != 1:
        shape.append(
            {
                "type": "required",
                "field": "destination",
                "description": "destination is required, as owner/name",
            }
        )
    if not isinstance(inputs, dict):
        shape.append({"type": "required", "field": "input", "description": "input is required"})
    elif shape:
        shape.extend(validate_input(inputs))
    if shape:
        return invalid(shape)
    assert isinstance(destination, str) and isinstance(inputs, dict)
    if destination not in sim.models:
        return problem(404, "Not found", "The specified training destination does not exist")
    wrong = validate_input(inputs)
    if wrong:
        return invalid(wrong)
    if faults.create_commit_delay > 0:
        delay, faults.create_commit_delay = faults.create_commit_delay, 0.0
        await sim.arrive_late(delay)
    record = sim.create_training(
        destination,
        inputs,
        dataset_error=await read_input_images(
            sim, inputs.get("input_images"), inputs.get("resolution")
        ),
    )
    if faults.create_timeouts > 0:
        faults.create_timeouts -= 1
        if faults.create_timeout_mode != "close":
            await sim.pause(HANG_SECONDS)
        _drop_connection(request)
        return web.Response(status=504)
    rendered = sim.render(record, base_url=sim.base_for(request))
    return _json(rendered, status=201)


async def get_training(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    record = sim.records.get(request.match_info["id"])
    if record is None:
        return problem(404, "Not found", "The requested training does not exist.")
    return _json(sim.render(record, base_url=sim.base_for(request)))


async def cancel_training(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    if request.match_info["id"] not in sim.records:
        return problem(404, "Not found", "The requested training does not exist.")
    record = sim.cancel(request.match_info["id"])
    return _json(sim.render(record, base_url=sim.base_for(request)))


async def list_trainings(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    base = sim.base_for(request)
    with sim.lock:
        ordered = sorted(sim.records.values(), key=lambda r: r.seq, reverse=True)
    cursor = request.query.get("cursor")
    direction, pivot = "n", None
    if cursor:
        try:
            direction, _, seq = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
            pivot = int(seq)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return problem(400, "Bad request", "The cursor is not valid.")
    size = sim.page_size
    if pivot is None:
        page = ordered[:size]
    elif direction == "p":
        page = [r for r in ordered if r.seq > pivot][-size:]
    else:
        page = [r for r in ordered if r.seq < pivot][:size]

    def link(kind: str, seq: int) -> str:
        token = base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode()
        return f"{base}/v1/trainings?cursor={token}"

    older = bool(page) and any(r.seq < page[-1].seq for r in ordered)
    newer = bool(page) and any(r.seq > page[0].seq for r in ordered)
    return _json(
        {
            "next": link("n", page[-1].seq) if older else None,
            "previous": link("p", page[0].seq) if newer else None,
            "results": [sim.render(r, with_logs=False, base_url=base) for r in page],
        }
    )


async def weights(sim: ReplicateSimulator, request: web.Request) -> web.StreamResponse:
    record = sim.records.get(request.match_info["id"])
    if record is None or not sim.render(record, with_logs=False)["output"]:
        return problem(404, "Not found", "No weights for this training.")
    cut = sim.faults.weights_cut_after
    if cut is not None:
        sim.faults.weights_cut_after = None
        return await _cut_download(request, sim, cut)
    return web.FileResponse(sim.weights_tar_path, headers={"Content-Type": "application/x-tar"})


# The simulated API: method, path, handler.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/account", account),
    ("GET", "/v1/webhooks/default/secret", webhook_secret),
    ("POST", "/v1/models", create_model),
    ("GET", "/v1/models/{owner}/{name}", get_model),
    ("GET", "/v1/models/{owner}/{name}/versions/{version}", get_version),
    ("POST", "/v1/models/{owner}/{name}/versions/{version}/trainings", create_training),
    ("GET", "/v1/trainings", list_trainings),
    ("GET", "/v1/trainings/{id}", get_training),
    ("POST", "/v1/trainings/{id}/cancel", cancel_training),
    ("POST", "/v1/predictions", captioners.create_prediction),
    ("GET", "/v1/predictions/{id}", captioners.get_prediction),
    ("GET", "/_sim/weights/{id}.tar", weights),
    *FILE_ROUTES,
)


def add_routes(app: web.Application, sim: ReplicateSimulator) -> None:
    """Register every route of `ROUTES`, each handler bound to `sim`."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, _bound(handler, sim))


def _bound(
    handler: Handler, sim: ReplicateSimulator
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await handler(sim, request)

    return handle


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object body; anything else is a 400 like the real API's."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="The request body must be a JSON object.")
    return body


def invalid(fields: list[dict[str, str]]) -> web.Response:
    """422 with `invalid_fields` (files.py words it; uploads answer the same way)."""
    return invalid_fields(fields)


def _drop_connection(request: web.Request) -> None:
    """Close the client's connection without an answer (the create's fate stays unknown)."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def _cut_download(
    request: web.Request, sim: ReplicateSimulator, cut: int
) -> web.StreamResponse:
    """Start the download (honouring `Range: bytes=N-`), then drop it after `cut` bytes."""
    size = sim.weights_tar_path.stat().st_size
    match = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
    start = int(match.group(1)) if match and int(match.group(1)) < size else 0
    response = web.StreamResponse(status=206 if start else 200)
    response.content_type = "application/x-tar"
    response.content_length = size - start
    response.headers["Accept-Ranges"] = "bytes"
    if start:
        response.headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
    await response.prepare(request)
    left = min(cut, size - start)
    with sim.weights_tar_path.open("rb") as fh:
        fh.seek(start)
        while left > 0:
            chunk = fh.read(min(left, 256 * 1024))
            left -= len(chunk)
            await response.write(chunk)
    _drop_connection(request)
    return response
