"""Discord's limits as checks e2e tests apply to every payload the bot sent.

`check_discord_limits` follows the table in docs/discord.md (message content 2000, embeds 10/6000,
components, autocomplete choices). `validate_commands` checks a command sync body against
`ApplicationCommandUpdateRequest` from Discord's own OpenAPI spec (extracted with its $ref
closure into tests/data/discord-commands-schema.json) plus the rules the schema can't say
(lowercase names, description 1–100 for slash commands, required-before-optional, ≤ 25).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "discord-commands-schema.json"
_SLASH_NAME = re.compile(r"^[-_'\w]{1,32}$")
MAX_FILE = 10 * 1024 * 1024
_CALLBACK_TYPES = {1, 4, 5, 6, 7, 8, 9, 10, 12}


def _embed_text(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    return total


def _check_embed(i: int, e: dict[str, Any]) -> list[str]:
    out = []
    for key, limit in (("title", 256), ("description", 4096)):
        if len(e.get(key) or "") > limit:
            out.append(f"embed[{i}].{key} is {len(e[key])} chars (max {limit})")
    if len((e.get("footer") or {}).get("text") or "") > 2048:
        out.append(f"embed[{i}].footer.text over 2048 chars")
    if len((e.get("author") or {}).get("name") or "") > 256:
        out.append(f"embed[{i}].author.name over 256 chars")
    fields = e.get("fields") or []
    if len(fields) > 25:
        out.append(f"embed[{i}] has {len(fields)} fields (max 25)")
    for j, f in enumerate(fields):
        name, value = f.get("name") or "", f.get("value") or ""
        if not name or len(name) > 256:
            out.append(f"embed[{i}].fields[{j}].name is {len(name)} chars (1-256)")
        if not value or len(value) > 1024:
            out.append(f"embed[{i}].fields[{j}].value is {len(value)} chars (1-1024)")
    return out


def _check_components(items: list[dict[str, Any]], path: str = "components") -> list[str]:
    out = []
    top = [c for c in items if c.get("type") == 1]
    if path == "components" and len(top) > 5:
        out.append(f"{len(top)} action rows (max 5)")
    for i, c in enumerate(items):
        here = f"{path}[{i}]"
        cid = c.get("custom_id")
        if cid is not None and not 1 <= len(cid) <= 100:
            out.append(f"{here}.custom_id is {len(cid)} chars (1-100): {cid[:40]!r}")
        if c.get("type") == 2:
            if len(c.get("label") or "") > 80:
                out.append(f"{here}.label is {len(c['label'])} chars (max 80)")
            if c.get("style") == 5 and not c.get("url"):
                out.append(f"{here} link button without url")
            if c.get("style") != 5 and c.get("style") != 6 and not cid:
                out.append(f"{here} button without custom_id")
        opts = c.get("options") or []
        if len(opts) > 25:
            out.append(f"{here} has {len(opts)} select options (max 25)")
        children = c.get("components") or []
        if c.get("type") == 1 and len(children) > 5:
            out.append(f"{here} action row has {len(children)} components (max 5)")
        out += _check_components(children, f"{here}.components")
    return out


def check_choices(choices: list[dict[str, Any]]) -> list[str]:
    out = []
    if len(choices) > 25:
        out.append(f"{len(choices)} autocomplete choices (max 25)")
    for i, c in enumerate(choices):
        name, value = str(c.get("name") or ""), c.get("value")
        if not 1 <= len(name) <= 100:
            out.append(f"choices[{i}].name is {len(name)} chars (1-100)")
        if isinstance(value, str) and len(value) > 100:
            out.append(f"choices[{i}].value is {len(value)} chars (max 100)")
    return out


def check_discord_limits(payload: Any, files: list[tuple[str, int]] | None = None) -> list[str]:
    """Problems with one message / interaction-callback payload (empty list = fine)."""
    if not isinstance(payload, dict):
        return []
    if (
        isinstance(payload.get("type"), int)
        and payload["type"] in _CALLBACK_TYPES
        and ("data" in payload or payload["type"] in (1, 5, 6))
    ):
        if payload["type"] == 8:
            return check_choices((payload.get("data") or {}).get("choices") or [])
        payload = payload.get("data") or {}
    out = []
    content = payload.get("content")
    if isinstance(content, str) and len(content) > 2000:
        out.append(f"content is {len(content)} chars (max 2000)")
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        out.append(f"{len(embeds)} embeds (max 10)")
    for i, e in enumerate(embeds):
        out += _check_embed(i, e)
    total = sum(_embed_text(e) for e in embeds)
    if total > 6000:
        out.append(f"embeds total {total} chars (max 6000)")
    out += _check_components(payload.get("components") or [])
    if "choices" in payload:
        out += check_choices(payload["choices"] or [])
    for name, size in files or []:
        if size > MAX_FILE:
            out.append(f"file {name} is {size} bytes (max {MAX_FILE})")
    if files is not None and len(files) > 10:
        out.append(f"{len(files)} files (max 10)")
    return out


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schema = json.loads(SCHEMA_PATH.read_text())
    uri = "urn:discord-commands-schema"
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(schema))
    return Draft202012Validator({"$ref": uri}, registry=registry)


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return -1  # the schema check already reports the bad type


def _option_problems(where: str, options: list[dict[str, Any]]) -> list[str]:
    out = []
    if len(options) > 25:
        out.append(f"{where}: {len(options)} options (max 25)")
    seen_optional = False
    names = [o.get("name") for o in options]
    if len(set(names)) != len(names):
        out.append(f"{where}: duplicate option names {names}")
    for o in options:
        name, desc = str(o.get("name") or ""), str(o.get("description") or "")
        at = f"{where} option {name!r}"
        if not _SLASH_NAME.match(name) or name != name.lower():
            out.append(f"{at}: name must be 1-32 lowercase letters, digits, - or _")
        if not 1 <= len(desc) <= 100:
            out.append(f"{at}: description is {len(desc)} chars (1-100)")
        if _int(o.get("type"), 0) in (1, 2):
            out += _option_problems(at, o.get("options") or [])
            continue
        if o.get("required"):
            if seen_optional:
                out.append(f"{at}: required option after an optional one")
        else:
            seen_optional = True
        choices = o.get("choices") or []
        if choices and o.get("autocomplete"):
            out.append(f"{at}: choices and autocomplete are exclusive")
        out += [f"{at}: {p}" for p in check_choices(choices)]
    return out


def command_problems(payloads: Any) -> list[str]:
    """Problems in a bulk-overwrite (tree.sync) body; empty list = Discord would accept it."""
    out = [
        f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator().iter_errors(payloads)
    ]
    if not isinstance(payloads, list):
        return out
    counts: dict[int, int] = {}
    seen: set[tuple[int, str]] = set()
    for cmd in payloads:
        if not isinstance(cmd, dict):
            continue
        ctype, name = _int(cmd.get("type"), 1), str(cmd.get("name") or "")
        desc = cmd.get("description") or ""
        counts[ctype] = counts.get(ctype, 0) + 1
        if (ctype, name) in seen:
            out.append(f"duplicate command {name!r} (type {ctype})")
        seen.add((ctype, name))
        if ctype == 1:
            if not _SLASH_NAME.match(name) or name != name.lower():
                out.append(f"/{name}: name must be 1-32 lowercase letters, digits, - or _")
            if not 1 <= len(desc) <= 100:
                out.append(f"/{name}: description is {len(desc)} chars (1-100)")
            out += _option_problems(f"/{name}", cmd.get("options") or [])
        else:
            if not 1 <= len(name) <= 32:
                out.append(f"menu {name!r}: name is {len(name)} chars (1-32)")
            if desc:
                out.append(f"menu {name!r}: context menus must have an empty description")
    for ctype, limit in ((1, 100), (2, 5), (3, 5)):
        if counts.get(ctype, 0) > limit:
            out.append(f"{counts[ctype]} commands of type {ctype} (max {limit})")
    return out


def validate_commands(payloads: Any) -> list[str]:
    """Alias with the name the e2e tests use."""
    return command_problems(payloads)
