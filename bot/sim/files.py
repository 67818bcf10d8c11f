"""The simulator's Files API (`/v1/files`) and the trainer's first look at `input_images`.

Mirrors Replicate's published spec (`replicate-openapi.json`, `files.*` operations): a multipart
upload answered 201 with the file object (plus the `name` and `etag` the real API and the
official client's `File` model carry), 413 problem+json over 100 MiB, list newest first, get,
delete (204, then 404), and a signed download URL. Files expire 24 h after upload.

A training reads its `input_images` the way the trainer does (an uploaded file of ours or a
loopback URL; others are trusted): `trainer_dataset.trainer_outcome` replays the trainer's
extraction, image probe, buckets and captions, and a ZIP it fails on fails the training after one
billed step.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web

from bot.sim.openapi import request_problems
from bot.sim.state import iso, random_id
from bot.sim.trainer_dataset import trainer_outcome

if TYPE_CHECKING:
    from bot.sim.server import ReplicateSimulator

MAX_FILE = 100 * 1024 * 1024
LIFETIME = 24 * 3600
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# A route's handler: a plain function of the simulator and the request.
Handler = Callable[["ReplicateSimulator", web.Request], Awaitable[web.StreamResponse]]


@dataclass
class SimFile:
    id: str
    name: str
    content_type: str
    data: bytes
    metadata: dict[str, Any]
    created_wall: float
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


def _problem(status: int, title: str, detail: str) -> web.Response:
    body = {"title": title, "detail": detail, "status": status}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def invalid_fields(fields: list[dict[str, str]]) -> web.Response:
    """422 with `invalid_fields`, its detail one `- field: description` line per problem."""
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in fields)
    body = {
        "title": "Input validation failed",
        "detail": detail,
        "status": 422,
        "invalid_fields": fields,
    }
    return web.Response(status=422, text=json.dumps(body), content_type="application/problem+json")


def _not_found() -> web.Response:
    return _problem(404, "Not found", "File not found")


def file_json(sim: ReplicateSimulator, item: SimFile, base: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "content_type": item.content_type,
        "size": len(item.data),
        "etag": item.sha256[:32],
        "checksums": {"sha256": item.sha256},
        "metadata": item.metadata,
        "created_at": iso(item.created_wall),
        "expires_at": iso(item.created_wall + LIFETIME),
        "urls": {"get": f"{base}/v1/files/{item.id}"},
    }


def _signature(sim: ReplicateSimulator, owner: str, file_id: str, expiry: int) -> str:
    mac = hmac.new(sim.files_secret, f"{owner} {file_id} {expiry}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def download_url(sim: ReplicateSimulator, item: SimFile, base: str) -> str:
    """What Replicate hands a model for a file input: a signed, expiring download link."""
    expiry = int(item.created_wall + LIFETIME)
    query = urlencode(
        {"owner": sim.username, "expiry": expiry, "signature": _signature(sim, sim.username,
                                                                           item.id, expiry)}
    )  # fmt: skip
    return f"{base}/v1/files/{item.id}/download?{query}"


async def _read_upload(request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
    """The multipart fields; `content` is read up to MAX_FILE + 1 bytes (then 413)."""
    fields: dict[str, Any] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.name == "content":
                buffer = io.BytesIO()
                while chunk := await part.read_chunk(1024 * 1024):
                    buffer.write(chunk)
                    if buffer.tell() > MAX_FILE:
                        return fields, _problem(
                            413, "Content Too Large", "Files must be less than 100MB in size"
                        )
                fields["content"] = buffer.getvalue()
                fields["filename"] = part.filename or "file"
                fields["type"] = part.headers.get("Content-Type", "application/octet-stream")
            else:
                fields[part.name] = (await part.read()).decode("utf-8", "replace")
    except (ValueError, AssertionError, aiohttp.ClientError):
        return fields, _problem(400, "Bad request", "The request body must be multipart/form-data.")
    return fields, None


async def create_file(sim: ReplicateSimulator, request: web.Request) -> web.StreamResponse:
    faults = sim.faults
    if faults.upload_status is not None:
        status, faults.upload_status = faults.upload_status, None
        return _problem(status, "Error", "The upload failed.")
    if faults.upload_hang > 0:
        await sim.pause(faults.upload_hang)
    fields, error = await _read_upload(request)
    if error is not None:
        return error
    try:
        metadata = json.loads(fields.get("metadata") or "{}")
    except ValueError:
        return _problem(400, "Bad request", "metadata must be valid JSON.")
    wrong = request_problems(
        "POST",
        request.path,
        query=request.query,
        headers=request.headers,
        body=None,
        multipart={**fields, "metadata": metadata},
    )
    if wrong:
        return invalid_fields(wrong)
    name = str(fields.get("filename") or "file")
    if len(name.encode()) > 255:
        return _problem(422, "Input validation failed", "filename is longer than 255 bytes")
    with sim.lock:
        item = SimFile(
            id=random_id(sim.rng),
            name=name,
            content_type=str(fields.get("type")),
            data=fields["content"],
            metadata=metadata if isinstance(metadata, dict) else {},
            created_wall=time.time(),
        )
        sim.files[item.id] = item
    return web.json_response(file_json(sim, item, sim.base_for(request)), status=201)


async def list_files(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    base = sim.base_for(request)
    with sim.lock:
        items = sorted(sim.files.values(), key=lambda f: f.created_wall, reverse=True)
    results = [file_json(sim, f, base) for f in items[: sim.page_size]]
    return web.json_response({"next": None, "previous": None, "results": results})


async def get_file(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    item = sim.files.get(request.match_info["id"])
    if item is None:
        return _not_found()
    return web.json_response(file_json(sim, item, sim.base_for(request)))


async def delete_file(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    with sim.lock:
        item = sim.files.pop(request.match_info["id"], None)
    if item is None:
        return _not_found()
    sim.deleted_files.append(item.id)
    return web.Response(status=204)


async def download_file(sim: ReplicateSimulator, request: web.Request) -> web.Response:
    item = sim.files.get(request.match_info["id"])
    query = request.query
    try:
        expiry = int(query.get("expiry", ""))
    except ValueError:
        return _not_found()
    good = _signature(sim, query.get("owner", ""), request.match_info["id"], expiry)
    if item is None or not hmac.compare_digest(good, query.get("signature", "")):
        return _not_found()
    if expiry < time.time():
        return _not_found()
    return web.Response(body=item.data, content_type="application/octet-stream")


# The Files API: method, path, handler (registered with the other routes by `bot.sim.api`).
FILE_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/files", create_file),
    ("GET", "/v1/files", list_files),
    ("GET", "/v1/files/{id}", get_file),
    ("DELETE", "/v1/files/{id}", delete_file),
    ("GET", "/v1/files/{id}/download", download_file),
)


def _verdict(data: bytes, resolution: Any) -> str | None:
    """The trainer's steps on the ZIP (`trainer_dataset`): None when it gets as far as training."""
    try:
        sizes = [int(r) for r in str(resolution or "512,768").split(",")]
    except ValueError:
        sizes = [512, 768]
    outcome = trainer_outcome(data, sizes)
    return outcome.why if outcome.fails else None


async def read_input_images(
    sim: ReplicateSimulator, url: Any, resolution: Any = None
) -> str | None:
    """Why the trainer would fail on `input_images`, or None (non-loopback URLs are trusted)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    segments = parts.path.strip("/").split("/")
    if parts.hostname not in _LOOPBACK:
        return None
    if len(segments) == 3 and segments[:2] == ["v1", "files"] and url.startswith(sim.base_url):
        item = sim.files.get(segments[2])
        return "input_images could not be downloaded (file not found)" if item is None else (
            await asyncio.to_thread(_verdict, item.data, resolution)
        )  # fmt: skip
    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
            if resp.status >= 400:
                return f"input_images could not be downloaded (HTTP {resp.status})"
            data = await resp.read()
    except (aiohttp.ClientError, TimeoutError):
        return "input_images could not be downloaded"
    return await asyncio.to_thread(_verdict, data, resolution)
