"""Replicate's published OpenAPI document, applied to every request the simulator receives.

Replicate checks a request against its operation before doing anything: path, query and header
parameters, and the JSON (or multipart) body, and answers a bad one 422 "Input validation
failed" with `invalid_fields` (docs/replicate.md). The simulator does the same from the document
itself (`replicate-openapi.json` beside this file, a copy of https://api.replicate.com/openapi.json),
so a client that sends what the spec forbids is refused offline as it would be for real.

`response_problems` checks an answer against the documented response schema; the tests use it
(`ReplicateSimulator(check_responses=True)`) to keep every route's replies true to the spec.

The document is OpenAPI 3.1 but still writes `nullable: true` (3.0 style), which JSON Schema
ignores: `_nullable` turns it into a `null` type. Validators are compiled once per process.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource

from bot.sim.schema import json_type_name

SPEC_FILE = Path(__file__).with_name("replicate-openapi.json")
SPEC_URI = "urn:replicate-openapi"
PREFIX = "/v1"  # the document's server is https://api.replicate.com/v1
# The real API sends null for a training's `output`, `started_at` and `completed_at` until they
# are known, which the document's training schema omits (seen in recorded answers).
NULL_IN_PRACTICE = ("output", "started_at", "completed_at")
FORMATS = FormatChecker(formats=())


def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme and urlsplit(value).netloc)


FORMATS.checks("date-time", raises=ValueError)(_is_datetime)
FORMATS.checks("uri")(_is_uri)


def _nullable(node: Any) -> Any:
    """`nullable: true` (OpenAPI 3.0 style) -> a JSON Schema type that also allows null."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def document() -> dict[str, Any]:
    spec: dict[str, Any] = _nullable(json.loads(SPEC_FILE.read_text()))
    props = spec["components"]["schemas"]["schemas_training_response"]["properties"]
    for name in NULL_IN_PRACTICE:
        props[name] = {"anyOf": [props[name], {"type": "null"}]}
    return spec


@functools.cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, Resource.opaque(document()))
    return registry


def _pointer(*parts: str) -> str:
    """A JSON pointer into the document as a URI fragment (`{`, `}` percent-encoded)."""
    escaped = (
        p.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")
        for p in parts
    )
    return SPEC_URI + "#/" + "/".join(escaped)


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": pointer}, registry=_registry(), format_checker=FORMATS)


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in document()["paths"]:
        segments = template.strip("/").split("/")
        regex = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
        out.append((template.count("{"), re.compile(f"^/{regex}$"), template))
    return [(pattern, template) for _, pattern, template in sorted(out, key=lambda t: t[0])]


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The spec path and operation a request (`/v1/...`) belongs to; None when there is none."""
    if not path.startswith(PREFIX + "/"):
        return None
    path = path[len(PREFIX) :]
    for pattern, template in _templates():
        if pattern.match(path):
            op = document()["paths"][template].get(method.lower())
            return None if op is None else (template, op)
    return None


def _field(kind: str, field: str, description: str) -> dict[str, str]:
    return {"type": kind, "field": field, "description": description}


def _invalid_fields(error: ValidationError, root: str) -> list[dict[str, str]]:
    """`invalid_fields` entries for one schema error (one per missing required property)."""
    if error.validator == "required":
        parts = ([root] if root else []) + [str(p) for p in error.absolute_path]
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        return [_field("required", ".".join([*parts, k]), f"{k} is required") for k in missing]
    return [_invalid_field(error, root)]


def _invalid_field(error: ValidationError, root: str) -> dict[str, str]:
    """One `invalid_fields` entry, worded as Replicate's validator words them."""
    parts = ([root] if root else []) + [str(p) for p in error.absolute_path]
    field = ".".join(parts) or "body"
    kind, limit = error.validator, error.validator_value
    if kind == "type":
        given = json_type_name(error.instance)
        return _field("invalid_type", field, f"Invalid type. Expected: {limit}, given: {given}")
    if kind == "enum":
        allowed = ", ".join(json.dumps(v) for v in limit)
        return _field("enum", field, f"{field} must be one of the following: {allowed}")
    if kind == "minimum":
        return _field("number_gte", field, f"Must be greater than or equal to {limit}")
    if kind == "maximum":
        return _field("number_lte", field, f"Must be less than or equal to {limit}")
    if kind == "minLength":
        return _field(
            "string_gte", field, f"String length must be greater than or equal to {limit}"
        )
    if kind == "maxLength":
        return _field("string_lte", field, f"String length must be less than or equal to {limit}")
    if kind == "pattern":
        return _field("pattern", field, f"Does not match pattern '{limit}'")
    if kind == "format":
        return _field("format", field, f"Does not match format '{limit}'")
    if kind == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else ""
        return _field(
            "additional_property_not_allowed", field, f"Additional property {extra} is not allowed"
        )
    return _field(str(kind), field, error.message)


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A query or header value as its schema's type (parameters arrive as text)."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _parameters(op: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for param in op.get("parameters") or []:
        if "$ref" in param:
            param = document()["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        out.append(param)
    return out


def request_problems(
    method: str,
    path: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: Any,
    multipart: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    """Every way a request breaks its operation in the spec, as `invalid_fields` entries.

    `body` is the parsed JSON body (None when there is none); `multipart`, for an upload, its
    fields (file parts as bytes). Unknown routes and extra query parameters are not judged here.
    """
    found = operation_for(method, path)
    if found is None:
        return []
    template, op = found
    problems: list[dict[str, str]] = []
    values = {"path": _path_values(template, path), "query": query, "header": headers}
    for param in _parameters(op):
        given = values.get(param["in"], {})
        name, schema = param["name"], param.get("schema") or {}
        if name not in given:
            if param.get("required"):
                problems.append(_field("required", name, f"{name} is required"))
            continue
        validator = Draft202012Validator(schema, format_checker=FORMATS)
        for error in validator.iter_errors(_coerce(given[name], schema)):
            problems += _invalid_fields(error, name)
    content = (op.get("requestBody") or {}).get("content") or {}
    base = _pointer("paths", template, method.lower(), "requestBody", "content")
    if "application/json" in content:
        if body is None and not op["requestBody"].get("required", False):
            return problems
        schema = _validator(base + "/application~1json/schema")
        problems += [f for e in _sorted(schema.iter_errors(body)) for f in _invalid_fields(e, "")]
    elif "multipart/form-data" in content and multipart is not None:
        schema = _validator(base + "/multipart~1form-data/schema")
        fields = {k: ("<binary>" if isinstance(v, bytes) else v) for k, v in multipart.items()}
        problems += [f for e in _sorted(schema.iter_errors(fields)) for f in _invalid_fields(e, "")]
    return problems


def _sorted(errors: Any) -> list[ValidationError]:
    return sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])


def _path_values(template: str, path: str) -> dict[str, str]:
    names = re.findall(r"\{(\w+)\}", template)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    match = re.match(f"^{pattern}$", path[len(PREFIX) :])
    return {name: match[name] for name in names} if match else {}


def response_problems(method: str, path: str, status: int, body: Any) -> list[str] | None:
    """How an answer to a request (`/v1/...`) breaks its documented response schema (None: the
    spec documents no JSON answer for that status)."""
    found = operation_for(method, path)
    return None if found is None else answer_problems(found[0], method, status, body)


def answer_problems(template: str, method: str, status: int, body: Any) -> list[str] | None:
    """The same for an operation named by its spec path (`/trainings/{training_id}`)."""
    op = document()["paths"].get(template, {}).get(method.lower()) or {}
    response = (op.get("responses") or {}).get(str(status))
    if response is None or "application/json" not in (response.get("content") or {}):
        return None
    responses = _pointer("paths", template, method.lower(), "responses", str(status), "content")
    errors = _sorted(_validator(responses + "/application~1json/schema").iter_errors(body))
    return [f"{'.'.join(map(str, e.absolute_path)) or 'body'}: {e.message}" for e in errors]
