"""Discord's own rules for request bodies, from Discord's OpenAPI document, as Discord answers them.

The fake checks every body the bot sends (JSON, or the `payload_json` part of a multipart
upload) against the operation's request schema in `discord-openapi.json` (types, lengths, item
counts, bounds, enums, required fields) and refuses a bad one the way Discord does: HTTP 400,
code 50035 "Invalid Form Body", and the failing path in `errors`, so discord.py raises
`HTTPException` whose text names the field ("In data.components.0.components.0.label: Must be
45 or fewer in length."). `limits.py` adds the few rules the schema cannot state.

The document is 1.2 MB; tests/data/discord-openapi.json holds the part the fake needs (the paths
it answers, with the `$ref` closure of their request bodies), written by `prune()`:

    python -m tests.fakediscord.spec /path/to/shared/reference/discord-openapi.json

Validators are compiled once per process (one per operation).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

SPEC_PATH = Path(__file__).resolve().parent.parent / "data" / "discord-openapi.json"
SPEC_URI = "urn:discord-openapi"
INVALID_FORM_BODY = 50035

# The spec paths the fake answers (every route in server.py / interaction_routes.py is one).
PATHS = (
    "/gateway",
    "/gateway/bot",
    "/users/@me",
    "/users/{user_id}",
    "/users/@me/channels",
    "/users/@me/guilds",
    "/applications/@me",
    "/oauth2/applications/@me",
    "/applications/{application_id}/commands",
    "/applications/{application_id}/guilds/{guild_id}/commands",
    "/channels/{channel_id}",
    "/channels/{channel_id}/messages",
    "/channels/{channel_id}/messages/{message_id}",
    "/guilds/{guild_id}",
    "/guilds/{guild_id}/channels",
    "/guilds/{guild_id}/roles",
    "/guilds/{guild_id}/members/{user_id}",
    "/interactions/{interaction_id}/{interaction_token}/callback",
    "/webhooks/{webhook_id}/{webhook_token}",
    "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
    "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
)
_KEEP_OPERATION = ("operationId", "parameters", "requestBody")


@dataclass(frozen=True)
class Problem:
    """One refused field: its path in the body, Discord's error code and message."""

    path: tuple[str | int, ...]
    code: str
    message: str

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path) or "body"
        return f"{where}: {self.message}"


# -- the pruned copy ----------------------------------------------------------------------------


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            out |= _refs(value)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def prune(full: dict[str, Any], source_sha256: str) -> dict[str, Any]:
    """The fake's part of Discord's document: `PATHS` (request side only) + their $ref closure."""
    paths: dict[str, Any] = {}
    for path in PATHS:
        item = full["paths"][path]
        paths[path] = {
            method: {k: op[k] for k in _KEEP_OPERATION if k in op}
            for method, op in item.items()
            if method in ("get", "put", "post", "patch", "delete")
        }
    schemas = full["components"]["schemas"]
    kept: dict[str, Any] = {}
    todo = _refs(paths)
    while todo:
        ref = todo.pop()
        name = ref.rsplit("/", 1)[-1]
        if name in kept:
            continue
        kept[name] = schemas[name]
        todo |= _refs(schemas[name])
    return {
        "openapi": full["openapi"],
        "info": full["info"],
        "x-pruned-from": {"file": "discord-openapi.json", "sha256": source_sha256},
        "paths": paths,
        "components": {"schemas": dict(sorted(kept.items()))},
    }


def prune_file(source: Path) -> dict[str, Any]:
    raw = source.read_bytes()
    return prune(json.loads(raw), hashlib.sha256(raw).hexdigest())


def dump(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


# -- matching a request to its operation -------------------------------------------------------


def _pattern(template: str) -> re.Pattern[str]:
    parts = [
        "[^/]+" if seg.startswith("{") else re.escape(seg) for seg in template.strip("/").split("/")
    ]
    return re.compile("^/" + "/".join(parts) + "$")


@functools.cache
def _templates() -> list[tuple[int, re.Pattern[str], str]]:
    # Literal segments win over parameters (`messages/@original` before `messages/{id}`).
    out = [(template.count("{"), _pattern(template), template) for template in spec()["paths"]]
    return sorted(out, key=lambda t: t[0])


def template_for(path: str) -> str | None:
    """The spec path a request path belongs to (None when Discord has no such route)."""
    for _, pattern, template in _templates():
        if pattern.match(path):
            return template
    return None


# -- validation ---------------------------------------------------------------------------------


@functools.cache
def spec(*, by_kind: bool = True) -> dict[str, Any]:
    """The pruned document, with snowflakes accepted as integers too (and, unless `by_kind` is
    False, its unions rewritten by `_by_kind` for speed).

    The spec types a snowflake as a decimal string only (`SnowflakeType`); Discord parses an
    integer as well in request bodies (its docs, Reference > Snowflakes: IDs are returned as
    strings "to prevent integer overflows in some languages"; discord.py sends integers for
    `allowed_mentions.users`, `recipient_id` and attachment ids, and real Discord accepts them).
    """
    doc: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    schemas = doc["components"]["schemas"]
    snowflake = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    return _by_kind(doc, schemas) if by_kind else doc


def _kinds(branch: Any, schemas: dict[str, Any]) -> list[Any] | None:
    """The `type` constants a union branch (`{"$ref": ...}` to an object schema) accepts."""
    if not isinstance(branch, dict) or set(branch) != {"$ref"}:
        return None
    target = schemas.get(branch["$ref"].rsplit("/", 1)[-1]) or {}
    kind = (target.get("properties") or {}).get("type") or {}
    if "type" not in (target.get("required") or []) or not isinstance(kind.get("enum"), list):
        return None
    return list(kind["enum"])


def _by_kind(node: Any, schemas: dict[str, Any]) -> Any:
    """Discord's unions told apart by a `type` constant, as if/then on that constant.

    Same verdicts (the branches' constants are disjoint, so exactly one branch can match), but
    only the meant branch is validated: a message with components checks each component once
    instead of against every kind (6x faster), and its errors point into that branch.
    """
    if isinstance(node, list):
        return [_by_kind(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _by_kind(value, schemas) for key, value in node.items()}
    for word in ("oneOf", "anyOf"):
        branches = out.get(word)
        kinds = [_kinds(b, schemas) for b in branches] if isinstance(branches, list) else []
        known = [k for k in kinds if k is not None]
        flat = [v for k in known for v in k]
        if len(branches or []) < 2 or len(known) != len(kinds) or len(set(flat)) != len(flat):
            continue
        assert isinstance(branches, list)
        del out[word]
        out.pop("x-discord-union", None)
        guard = {"type": "object", "required": ["type"]}
        rules: list[dict[str, Any]] = [{**guard, "properties": {"type": {"enum": sorted(flat)}}}]
        for branch, kind in zip(branches, known, strict=True):
            when = {**guard, "properties": {"type": {"enum": kind}}}
            rules.append({"if": when, "then": branch})
        out["allOf"] = [*out.get("allOf", []), *rules]
    return out


@functools.cache
def _registry(by_kind: bool = True) -> Registry[Any]:
    return Registry().with_resource(SPEC_URI, Resource.opaque(spec(by_kind=by_kind)))


def _escape(template: str) -> str:
    return template.replace("~", "~0").replace("/", "~1")


@functools.cache
def validator_for(
    method: str, template: str, *, by_kind: bool = True
) -> Draft202012Validator | None:
    """The compiled validator of an operation's JSON request body (None: it takes none)."""
    op = spec()["paths"].get(template, {}).get(method.lower())
    if op is None or "requestBody" not in op:
        return None
    content = op["requestBody"]["content"]
    if "application/json" not in content:
        return None
    op_uri = f"{SPEC_URI}#/paths/{_escape(template)}/{method.lower()}"
    ref = f"{op_uri}/requestBody/content/application~1json/schema"
    return Draft202012Validator({"$ref": ref}, registry=_registry(by_kind))


@functools.cache
def file_fields(method: str, template: str) -> frozenset[str]:
    """The multipart file part names an operation takes (`files[0]` ... `files[9]`).

    Where the spec's multipart schema lists none (interaction callbacks, webhook executes), the
    docs' Uploading Files section applies to every message route: `files[n]`, up to 10.
    """
    op = spec()["paths"].get(template, {}).get(method.lower()) or {}
    schema = (op.get("requestBody") or {}).get("content", {}).get("multipart/form-data")
    names: set[str] = set()
    for part in ((schema or {}).get("schema") or {}).get("allOf") or []:
        names |= {k for k in part.get("properties") or {} if k.startswith("files[")}
    return frozenset(names or {f"files[{n}]" for n in range(10)})


def body_required(method: str, template: str) -> bool:
    op = spec()["paths"].get(template, {}).get(method.lower()) or {}
    return bool((op.get("requestBody") or {}).get("required"))


def _wrong_kind(sub: ValidationError, depth: int) -> bool:
    """The branch is not the one meant: the value's JSON type or its `type` constant differs."""
    if len(sub.absolute_path) == depth and sub.validator == "type":
        return True
    return (
        len(sub.absolute_path) == depth + 1
        and sub.absolute_path[-1] == "type"
        and sub.validator in ("enum", "const", "oneOf")
    )


def _union_leaves(error: ValidationError) -> list[ValidationError | Problem]:
    """For a failed oneOf/anyOf, the errors of the branch the body meant.

    Discord's unions are told apart by a `type` constant (component, callback and option
    types), or are "null or X"; a branch whose `type` (or JSON type) doesn't fit is not meant.
    When every branch is ruled out by its `type` constant, that constant is the problem; when
    several remain (autocomplete's string/integer/number choices), the one with fewest errors.
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        index = sub.relative_schema_path[0]
        assert isinstance(index, int)
        branches.setdefault(index, []).append(sub)
    depth = len(error.absolute_path)
    meant = [subs for subs in branches.values() if not any(_wrong_kind(s, depth) for s in subs)]
    if not meant:
        allowed: list[Any] = []
        for subs in branches.values():
            for s in subs:
                if s.absolute_path and s.absolute_path[-1] == "type" and s.validator == "enum":
                    allowed += [v for v in s.validator_value if v not in allowed]
        if not allowed:
            return [error]
        listed = ", ".join(map(str, sorted(allowed)))
        path = (*error.absolute_path, "type")
        return [Problem(path, "BASE_TYPE_CHOICES", f"Value must be one of ({listed}).")]
    found = [[leaf for sub in subs for leaf in _leaves(sub)] for subs in meant]
    return min(found, key=len)


def _leaves(error: ValidationError) -> list[ValidationError | Problem]:
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _union_leaves(error)
    if error.validator == "allOf" and error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _problem(error: ValidationError) -> Problem:
    """Discord's code and wording for a schema failure (as its 50035 answers word them)."""
    path = tuple(error.absolute_path)
    kind, limit = error.validator, error.validator_value
    if kind == "required":
        missing = [k for k in limit if k not in (error.instance or {})]
        return Problem((*path, missing[0]), "BASE_TYPE_REQUIRED", "This field is required")
    if kind in ("maxLength", "maxItems", "maxProperties"):
        return Problem(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    if kind in ("minLength", "minItems"):
        return Problem(path, "BASE_TYPE_MIN_LENGTH", f"Must be {limit} or more in length.")
    if kind == "maximum":
        return Problem(
            path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {limit}."
        )
    if kind == "minimum":
        return Problem(
            path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {limit}."
        )
    if kind in ("enum", "const"):
        allowed = limit if kind == "enum" else [limit]
        listed = ", ".join(map(str, allowed))
        return Problem(path, "BASE_TYPE_CHOICES", f"Value must be one of ({listed}).")
    if kind == "oneOf" and all(
        "const" in b for b in error.schema.get("oneOf", []) if isinstance(b, dict)
    ):
        consts = ", ".join(str(b["const"]) for b in error.schema["oneOf"])
        return Problem(path, "BASE_TYPE_CHOICES", f"Value must be one of ({consts}).")
    if kind == "type":
        return Problem(path, "BASE_TYPE_BAD_TYPE", f"Must be of type {limit}.")
    if kind == "uniqueItems":
        return Problem(path, "BASE_TYPE_UNIQUE", "Values must be unique.")
    return Problem(path, "BASE_TYPE_INVALID", f"Invalid value ({kind} {limit!r} not met).")


def schema_problems(method: str, template: str, body: Any) -> list[Problem]:
    """Every way `body` breaks the operation's request schema (empty: Discord's schema accepts)."""
    validator = validator_for(method, template)
    if validator is None:
        return []
    out: list[Problem] = []
    for error in validator.iter_errors(body):
        out += [x if isinstance(x, Problem) else _problem(x) for x in _leaves(error)]
    return sorted(set(out), key=lambda p: [str(x) for x in p.path])


def errors_body(problems: list[Problem]) -> dict[str, Any]:
    """Discord's nested `errors` object: `{"data": {"title": {"_errors": [{code, message}]}}}`."""
    root: dict[str, Any] = {}
    for p in problems:
        node = root
        for key in p.path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": p.code, "message": p.message})
    return root


def invalid_form_body(problems: list[Problem]) -> dict[str, Any]:
    return {
        "code": INVALID_FORM_BODY,
        "message": "Invalid Form Body",
        "errors": errors_body(problems),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.fakediscord.spec PATH/TO/discord-openapi.json")
        return 2
    SPEC_PATH.write_text(dump(prune_file(Path(argv[0]))))
    print(f"wrote {SPEC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
