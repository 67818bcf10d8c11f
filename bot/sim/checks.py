"""The simulator's two checks against Replicate's published spec, around every request.

`refusal` is what Replicate answers a request its spec forbids (before any handler runs);
`check_answer` records how a JSON answer strays from the documented response schema (on when
`ReplicateSimulator.check_responses` is, as in every test). The rules themselves are in
`bot.sim.openapi`; this module only speaks HTTP.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sim import openapi
from bot.sim.api import invalid, problem
from bot.sim.schema import validate_input

if TYPE_CHECKING:
    from bot.sim.server import ReplicateSimulator


def refusal(sim: ReplicateSimulator, request: web.Request, body: Any) -> web.Response | None:
    """Replicate's answer to a request its spec forbids (None: the request is fine).

    A body that is not a JSON object is a 400; a spec violation a 422 with `invalid_fields`.
    An upload's fields are checked by its handler, which streams them."""
    found = openapi.operation_for(request.method, request.path)
    if found is None:
        return None
    wanted = found[1].get("requestBody") or {}
    multipart = request.content_type == "multipart/form-data"
    if "application/json" in wanted.get("content", {}) and not isinstance(body, dict):
        if body is not None or wanted.get("required") or multipart:
            return problem(400, "Bad request", "The request body must be a JSON object.")
    problems = openapi.request_problems(
        request.method,
        request.path,
        query=request.query,
        headers=request.headers,
        body=None if multipart else body,
    )
    if not problems:
        return None
    inputs = body.get("input") if isinstance(body, dict) else None
    if found[1].get("operationId") == "trainings.create" and isinstance(inputs, dict):
        if request.match_info.get("version") == sim.trainer_version:
            problems += validate_input(inputs)  # one pass judges the input's schema too
    return invalid(problems)


def check_answer(
    sim: ReplicateSimulator, request: web.Request, response: web.StreamResponse
) -> None:
    """Record how a JSON answer strays from the documented response schema."""
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return
    found = openapi.operation_for(request.method, request.path)
    body = json.loads(response.body) if isinstance(response.body, bytes) else None
    problems = openapi.response_problems(request.method, request.path, response.status, body)
    if found is None or problems is None:
        return
    with sim.lock:
        sim.checked_responses.add((request.method, found[0], response.status))
        strays = [f"{request.method} {request.path}: {p}" for p in problems]
        sim.response_problems += strays
        type(sim).strayed.extend(strays)
