"""The rules Discord enforces that its OpenAPI document cannot state, each with its source.

Everything else about a request body (lengths, counts, bounds, enums, required fields) comes
from the spec itself (`spec.py`). These are cross-field totals, conditions between fields and
limits where the spec is wider than what Discord accepts from a bot. "The docs" are
discord.com/developers/docs; docs/discord.md is this project's table of the limits.

`request_problems` is what the fake answers a request with; `check_discord_limits` and
`command_problems` are the same checks for a payload built in a unit test.
"""

from __future__ import annotations

import re
from typing import Any

from .spec import Problem, schema_problems

MAX_FILE = 10 * 1024 * 1024  # docs/discord.md: 10 MiB per file unless the guild is boosted
MAX_CONTENT = 2000  # docs/discord.md; the spec's 4000 (MessageCreateRequest) is the Nitro limit
MAX_EMBED_TEXT = 6000  # the docs, Embed Limits: all titles, descriptions, field names and
# values, footer texts and author names of a message together
MAX_ACTION_ROWS = 5  # the docs, Component Reference: 5 action rows without IS_COMPONENTS_V2
MAX_CHOICE_VALUE = 100  # the docs, Application Command Option Choice: string values up to 100
# characters (the spec says 6000); docs/discord.md repeats it
IS_COMPONENTS_V2 = 1 << 15
# The docs, Application Command Naming: CHAT_INPUT and option names match this (unicode) and
# use the lowercase variant of any letter that has one.
SLASH_NAME = re.compile(r"^[-_'\w]{1,32}$")
# The docs, Registering a Command: 100 global CHAT_INPUT, 5 USER and 5 MESSAGE commands.
MAX_COMMANDS = {1: 100, 2: 5, 3: 5}

CHANNEL_MESSAGES = (
    "/channels/{channel_id}/messages",
    "/channels/{channel_id}/messages/{message_id}",
)
WEBHOOK_MESSAGES = (
    "/webhooks/{webhook_id}/{webhook_token}",
    "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
    "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
)
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
COMMANDS = (
    "/applications/{application_id}/commands",
    "/applications/{application_id}/guilds/{guild_id}/commands",
)

Path = tuple[str | int, ...]


def _embed_text(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for f in embed.get("fields") or []:
        if isinstance(f, dict):
            total += len(str(f.get("name") or "")) + len(str(f.get("value") or ""))
    return total


def _message(at: Path, body: dict[str, Any], *, channel: bool) -> list[Problem]:
    out = []
    content = body.get("content")
    if channel and isinstance(content, str) and len(content) > MAX_CONTENT:
        out.append(
            Problem(
                (*at, "content"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_CONTENT} or fewer in length.",
            )
        )
    embeds = [e for e in body.get("embeds") or [] if isinstance(e, dict)]
    if sum(_embed_text(e) for e in embeds) > MAX_EMBED_TEXT:
        out.append(
            Problem(
                (*at, "embeds"),
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {MAX_EMBED_TEXT}",
            )
        )
    for i, embed in enumerate(embeds):
        # The docs, Embed Field Structure: name and value are required; Discord refuses ""
        # (the spec has no minLength for them).
        for j, field in enumerate(embed.get("fields") or []):
            for key in ("name", "value"):
                if isinstance(field, dict) and field.get(key) == "":
                    out.append(
                        Problem(
                            (*at, "embeds", i, "fields", j, key),
                            "BASE_TYPE_REQUIRED",
                            "This field is required",
                        )
                    )
    components = [c for c in body.get("components") or [] if isinstance(c, dict)]
    v2 = bool(int(body.get("flags") or 0) & IS_COMPONENTS_V2)
    if not v2 and len(components) > MAX_ACTION_ROWS:
        out.append(
            Problem(
                (*at, "components"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_ACTION_ROWS} or fewer in length.",
            )
        )
    for i, row in enumerate(components):
        for j, comp in enumerate(row.get("components") or []):
            if isinstance(comp, dict) and comp.get("type") == 2:
                out += _button((*at, "components", i, "components", j), comp)
    return out


def _button(at: Path, button: dict[str, Any]) -> list[Problem]:
    """The docs, Button: a link button has a url and no custom_id, others the reverse (a
    premium button has neither, only sku_id)."""
    style, has_id, has_url = (
        button.get("style"),
        bool(button.get("custom_id")),
        bool(button.get("url")),
    )
    if style == 5 and (not has_url or has_id):
        return [
            Problem(
                (*at, "url"),
                "BUTTON_COMPONENT_URL_REQUIRED",
                "A link button needs a url and no custom_id.",
            )
        ]
    if style in (1, 2, 3, 4) and (not has_id or has_url):
        return [
            Problem(
                (*at, "custom_id"),
                "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
                "A non-link button needs a custom_id and no url.",
            )
        ]
    return []


def _choices(at: Path, choices: Any) -> list[Problem]:
    out = []
    for i, choice in enumerate(choices if isinstance(choices, list) else []):
        value = choice.get("value") if isinstance(choice, dict) else None
        if isinstance(value, str) and len(value) > MAX_CHOICE_VALUE:
            out.append(
                Problem(
                    (*at, i, "value"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {MAX_CHOICE_VALUE} or fewer in length.",
                )
            )
    return out


def _options(at: Path, options: list[Any]) -> list[Problem]:
    out = []
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        if not isinstance(option, dict):
            continue
        here = (*at, i)
        name = str(option.get("name") or "")
        if not SLASH_NAME.match(name) or name != name.lower():
            out.append(
                Problem(
                    (*here, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                )
            )
        if name in names:
            out.append(
                Problem(
                    (*here, "name"),
                    "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME",
                    "Option names must be unique",
                )
            )
        names.add(name)
        if option.get("type") in (1, 2):  # subcommand (group): its own options
            out += _options((*here, "options"), option.get("options") or [])
            continue
        if option.get("required"):
            if seen_optional:
                # The docs, Application Command Option: required options before optional ones.
                out.append(
                    Problem(
                        (*here, "required"),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        if option.get("choices") and option.get("autocomplete"):
            # The docs: autocomplete may not be set to true if choices are present.
            out.append(
                Problem(
                    (*here, "autocomplete"),
                    "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
                    "Autocomplete cannot be set with choices",
                )
            )
        out += _choices((*here, "choices"), option.get("choices"))
    return out


def _commands(body: Any) -> list[Problem]:
    if not isinstance(body, list):
        return []
    out = []
    counts: dict[int, int] = {}
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(body):
        if not isinstance(cmd, dict):
            continue
        ctype = cmd.get("type") if isinstance(cmd.get("type"), int) else 1
        name, desc = str(cmd.get("name") or ""), cmd.get("description") or ""
        counts[ctype] = counts.get(ctype, 0) + 1
        if (ctype, name) in seen:
            out.append(
                Problem(
                    (i, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            )
        seen.add((ctype, name))
        if ctype == 1:
            if not SLASH_NAME.match(name) or name != name.lower():
                out.append(
                    Problem(
                        (i, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                    )
                )
            # The docs: a CHAT_INPUT description is 1-100 characters (the spec allows "", which
            # context menus need).
            if not desc:
                out.append(
                    Problem(
                        (i, "description"), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."
                    )
                )
            out += _options((i, "options"), cmd.get("options") or [])
        elif desc:
            # The docs: USER and MESSAGE commands take an empty description.
            out.append(
                Problem(
                    (i, "description"),
                    "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                    "Context menu commands cannot have a description",
                )
            )
    for ctype, limit in MAX_COMMANDS.items():
        if counts.get(ctype, 0) > limit:
            out.append(
                Problem(
                    (), "APPLICATION_COMMAND_TOO_MANY", f"At most {limit} commands of type {ctype}."
                )
            )
    return out


def hand_problems(template: str, body: Any) -> list[Problem]:
    """The rules above, for one request body sent to `template` (a spec path)."""
    if template in COMMANDS:
        return _commands(body)
    if not isinstance(body, dict):
        return []
    if template in CHANNEL_MESSAGES:
        return _message((), body, channel=True)
    if template in WEBHOOK_MESSAGES:
        return _message((), body, channel=False)
    if template == CALLBACK and isinstance(body.get("data"), dict):
        if body.get("type") == 8:
            return _choices(("data", "choices"), body["data"].get("choices"))
        if body.get("type") in (4, 5, 7):
            return _message(("data",), body["data"], channel=False)
    return []


def request_problems(method: str, template: str, body: Any) -> list[Problem]:
    """Everything Discord would refuse in this body: the spec's rules, then the hand rules."""
    found = schema_problems(method, template, body)
    return found + [p for p in hand_problems(template, body) if p not in found]


def check_discord_limits(payload: Any, files: list[tuple[str, int]] | None = None) -> list[str]:
    """Problems of a message (or interaction callback) payload as Discord would name them.

    A dict with an integer `type` is a callback body; anything else a channel message body.
    """
    if isinstance(payload, dict) and isinstance(payload.get("type"), int):
        out = [str(p) for p in request_problems("POST", CALLBACK, payload)]
    else:
        out = [str(p) for p in request_problems("POST", CHANNEL_MESSAGES[0], payload)]
    for name, size in files or []:
        if size > MAX_FILE:
            out.append(f"file {name} is {size} bytes (max {MAX_FILE})")
    if files is not None and len(files) > 10:
        out.append(f"{len(files)} files (max 10)")
    return out


def command_problems(payloads: Any) -> list[str]:
    """Problems in a bulk-overwrite (tree.sync) body; empty list = Discord would accept it."""
    return [str(p) for p in request_problems("PUT", COMMANDS[0], payloads)]


def validate_commands(payloads: Any) -> list[str]:
    """Alias with the name the e2e tests use."""
    return command_problems(payloads)
