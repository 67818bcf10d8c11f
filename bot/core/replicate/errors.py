"""Turning Replicate's answers into one actionable sentence, and the trainer-schema check.

Kept apart from the gateway so the wording of every failure lives in one place. The official
client's `ReplicateError` drops the response headers (`Retry-After`) and `invalid_fields`, so
these helpers read the raw `httpx.Response` instead. Every message goes through `redact()`:
Replicate sometimes echoes input values, and an input may be a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.core.errors import InputError, SD35LError, ServiceError
from bot.core.http.retry import retry_after as parse_retry_after
from bot.core.secrets import redact

if TYPE_CHECKING:  # httpx is imported only where a response is handled (CLI start-up time)
    import httpx

TOKEN_URL = "https://replicate.com/account/api-tokens"  # noqa: S105
BILLING_URL = "https://replicate.com/account/billing"
CREATE_MODEL_URL = "https://replicate.com/create"

MSG_NO_TOKEN = (
    f"REPLICATE_API_TOKEN is not set; create a token at {TOKEN_URL} and set REPLICATE_API_TOKEN "
    "in the environment or in .env."
)
MSG_401 = (
    "Replicate rejected the API token (401). Set REPLICATE_API_TOKEN to a valid token from "
    f"{TOKEN_URL}."
)
MSG_402 = (
    "Replicate refused the request because the account has no credit left (402); add credit at "
    f"{BILLING_URL} and try again."
)


class OutcomeUnknownError(ServiceError):
    """A create whose answer was lost and whose training we could not find: it may exist.

    Callers that track submissions (jobs) keep the pending record on this error and reconcile
    later; every other `SD35LError` from `create_training` means nothing was created.
    """


def unknown_outcome_error() -> OutcomeUnknownError:
    """The one outcome we cannot resolve: say so, and how to avoid paying twice."""
    return OutcomeUnknownError(
        "Replicate did not confirm whether the training was created (the request timed out or "
        "the connection broke); run `sd35l-trainer list` to check before retrying, so you do "
        "not start and pay for it twice."
    )


def problem(resp: httpx.Response) -> dict[str, Any]:
    """The RFC 7807 body of an error response, or {} when it is not JSON."""
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def detail_of(resp: httpx.Response) -> str:
    """`detail` (or `title`) of an error body, else a short excerpt of the text."""
    body = problem(resp)
    for key in ("detail", "title"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().rstrip(".")
    text = resp.text.strip() if resp.content else ""
    return text[:200] or resp.reason_phrase or f"HTTP {resp.status_code}"


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds asked for by `Retry-After` (a number or an HTTP date), None when absent/unusable."""
    return parse_retry_after(headers.get("Retry-After"))


def training_input_schema(version: dict[str, Any], trainer: str) -> dict[str, Any]:
    """The `TrainingInput` schema of a model version's JSON, with `$ref`s inlined."""
    schema = version.get("openapi_schema")
    components = schema.get("components", {}) if isinstance(schema, dict) else {}
    schemas = components.get("schemas", {}) if isinstance(components, dict) else {}
    training_input = schemas.get("TrainingInput") if isinstance(schemas, dict) else None
    if not isinstance(training_input, dict):
        raise ServiceError(
            f"Trainer {trainer} has no TrainingInput schema on Replicate; set "
            "SD35L_TRAINER to a trainer version (not a plain model)."
        )
    return dict(resolve_schema(training_input, schemas))


def json_object(
    resp: httpx.Response, action: str, loads: Callable[[bytes], Any] | None = None
) -> dict[str, Any]:
    """The answer's JSON object (decoded by `loads` if given); anything else is one sentence
    naming what we tried to do."""
    return decode_object(resp.content, resp.status_code, action, loads)


def decode_object(
    content: bytes, status: int, action: str, loads: Callable[[bytes], Any] | None = None
) -> dict[str, Any]:
    """`json_object` for an answer read by another client (`poll`): the same sentence."""
    try:
        data = json.loads(content) if loads is None else loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ServiceError(
            f"Replicate sent an unreadable answer (HTTP {status}, not a JSON "
            f"object) while trying to {action}; try again later.",
            status=status,
        )
    return data


def network_error(base_url: str, exc: BaseException) -> ServiceError:
    """A request that got no answer at all (refused, DNS, timeout, reset)."""
    import httpx

    reason = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):  # TimeoutError: aiohttp's
        reason = f"timed out ({type(exc).__name__})"
    return ServiceError(
        redact(
            f"Could not reach Replicate at {base_url}: {reason}; check the network or "
            "REPLICATE_BASE_URL and try again."
        )
    )


def invalid_fields_error(resp: httpx.Response, subject: str = "request") -> InputError:
    """422: list every `field: description` Replicate named (the official client drops them)."""
    body = problem(resp)
    fields = body.get("invalid_fields")
    parts: list[str] = []
    first: str | None = None
    if isinstance(fields, list):
        for item in fields:
            if not isinstance(item, dict):
                continue
            name = str(item.get("field") or "?").removeprefix("input.")
            desc = str(item.get("description") or "is invalid").strip().rstrip(".")
            first = first or name
            parts.append(f"{name}: {desc}")
    if parts:
        text = f"Replicate rejected the {subject} (422): " + "; ".join(parts) + "."
    else:
        text = f"Replicate rejected the {subject} as invalid (422): {detail_of(resp)}."
    return InputError(redact(text), field=first)


def error_for(
    resp: httpx.Response,
    *,
    action: str,
    training_id: str | None = None,
    trainer: str | None = None,
    subject: str = "request",
) -> SD35LError:
    """Map a non-2xx answer to the error the user sees. `action` says what we were doing;
    `subject` names what a 422 rejected ("training inputs", "model settings")."""
    status = resp.status_code
    if status == 401:  # configuration, not an outage: the user fixes it (exit 2)
        return InputError(MSG_401, field="REPLICATE_API_TOKEN")
    if status == 402:
        return ServiceError(MSG_402, status=402)
    if status == 404 and training_id is not None:
        return InputError(
            f"Training {training_id} was not found on Replicate; check the id with "
            "`sd35l-trainer list`.",
            field="training_id",
        )
    if status == 404 and trainer is not None:
        return InputError(
            redact(
                f"Trainer {trainer} was not found on Replicate ({detail_of(resp)}); set "
                "SD35L_TRAINER to an existing owner/name:version."
            ),
            field="SD35L_TRAINER",
        )
    if status == 422 and trainer is not None:
        body = problem(resp)
        detail = detail_of(resp)
        if (
            not body.get("invalid_fields")
            and "version" in (str(body.get("title")) + detail).lower()
        ):
            return InputError(
                redact(
                    f"Replicate refused trainer {trainer} (422: {detail}); set "
                    "SD35L_TRAINER to an owner/name:version your token may use."
                ),
                field="SD35L_TRAINER",
            )
    if status == 422:
        return invalid_fields_error(resp, subject)
    if status == 429:
        return ServiceError(
            f"Replicate kept throttling requests (429) while trying to {action}; wait a minute "
            "and try again.",
            status=429,
        )
    if status >= 500:
        return ServiceError(
            f"Replicate had a server error (HTTP {status}) while trying to {action}; try again "
            "in a few minutes (https://www.replicatestatus.com).",
            status=status,
        )
    return ServiceError(
        redact(f"Replicate answered HTTP {status} while trying to {action}: {detail_of(resp)}."),
        status=status,
    )


def destination_missing_error(destination: str) -> InputError:
    """404 on create (or a dry run): the destination model has to exist first."""
    return InputError(
        f"Destination model {destination} does not exist on Replicate. Create it at "
        f"{CREATE_MODEL_URL} (hardware CPU, private) or rerun with --create-destination.",
        field="destination",
    )


_DESTINATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRAINING_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def split_destination(destination: str) -> tuple[str, str]:
    """`owner/name` -> (owner, name); anything else is the user's input error."""
    if not isinstance(destination, str) or not _DESTINATION.match(destination.strip()):
        raise InputError(
            f"Destination {destination!r} must look like owner/model-name (letters, digits, "
            "'-', '_' or '.').",
            field="destination",
        )
    owner, name = destination.strip().split("/", 1)
    return owner, name


# The web page the CLI and the bot print (`Training.web_url`), and the API's own URLs.
_TRAINING_URL = re.compile(
    r"^https?://(?:www\.)?(?:api\.)?replicate\.com/(?:p|trainings|v1/trainings)/"
    r"([A-Za-z0-9_-]{1,100})/?(?:[?#].*)?$"
)


def training_id_of(text: str) -> str:
    """The id inside `text`: a bare id, or the training's web URL the CLI prints
    (`https://replicate.com/p/ID`), so a link copied from our own output works wherever an id
    is asked for. Anything else comes back stripped, for the caller to judge."""
    text = text.strip()
    found = _TRAINING_URL.match(text)
    return found.group(1) if found else text


def check_training_id(training_id: str) -> str:
    tid = training_id_of(training_id) if isinstance(training_id, str) else ""
    if not _TRAINING_ID.match(tid):
        raise InputError(
            f"Training id {training_id!r} is not valid; use the id shown by `sd35l-trainer list` "
            "or its web URL (https://replicate.com/p/ID).",
            field="training_id",
        )
    return tid


# --- the trainer's input schema -------------------------------------------------------------

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a text value",
    "boolean": "true or false",
}


def resolve_schema(node: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """Inline `$ref`/`allOf` (Cog puts enums in referenced schemas) so checks see one dict."""
    if depth > 20 or not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target = components.get(ref.rsplit("/", 1)[-1], {})
        out.update(resolve_schema(target, components, depth + 1))
    for part in node.get("allOf") or []:
        resolved = resolve_schema(part, components, depth + 1)
        if isinstance(resolved, dict):
            out.update(resolved)
    for key, value in node.items():
        if key in ("$ref", "allOf"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: resolve_schema(v, components, depth + 1) for k, v in value.items()}
        else:
            out[key] = value
    return out


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def _value_problems(name: str, spec: dict[str, Any], value: Any) -> list[str]:
    kind = spec.get("type")
    if isinstance(kind, str) and not _type_ok(kind, value):
        word = _TYPE_WORDS.get(kind, kind)
        return [f"{name} must be {word}, not {value!r}."]
    problems: list[str] = []
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and value not in enum:
        allowed = ", ".join(str(v) for v in enum)
        problems.append(f"{name} is {value!r}, but the trainer allows only: {allowed}.")
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = spec.get("minimum"), spec.get("maximum")
        if isinstance(low, int | float) and value < low:
            problems.append(f"{name} is {value}, below the trainer's minimum of {low}.")
        if isinstance(high, int | float) and value > high:
            problems.append(f"{name} is {value}, above the trainer's maximum of {high}.")
        xlow, xhigh = spec.get("exclusiveMinimum"), spec.get("exclusiveMaximum")
        if isinstance(xlow, int | float) and not isinstance(xlow, bool) and value <= xlow:
            problems.append(f"{name} is {value}; the trainer needs more than {xlow}.")
        if isinstance(xhigh, int | float) and not isinstance(xhigh, bool) and value >= xhigh:
            problems.append(f"{name} is {value}; the trainer needs less than {xhigh}.")
    if spec.get("format") == "uri" and isinstance(value, str):
        if not value.startswith(("http://", "https://")):
            problems.append(f"{name} must be an http(s) URL, not {value!r}.")
    return problems


def input_problems(schema: dict[str, Any], inputs: dict[str, Any], trainer: str) -> list[str]:
    """Problems of `inputs` against a resolved TrainingInput schema (no jsonschema in core)."""
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    problems: list[str] = []
    known = ", ".join(sorted(props))
    for name, value in inputs.items():
        spec = props.get(name)
        if not isinstance(spec, dict):
            problems.append(f"{name} is not an input of {trainer}; its inputs are: {known}.")
            continue
        problems.extend(_value_problems(name, spec, value))
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if name not in inputs:
            problems.append(f"{name} is required by {trainer} but was not given.")
    return [redact(p) for p in problems]
