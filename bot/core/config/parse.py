"""Reading config text (YAML or JSON) that users post, refusing what must never be in it.

Configs are shared in a channel and reused by others, so the reader is strict where sloppiness
costs: unknown keys (a typo silently ignored = a run with the wrong value), duplicate keys (YAML
would keep the last one without a word), and anything secret-shaped (a posted token is a leaked
token). Messages name the key, never echo a secret value.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.config.fields import secret_message, show, suggest
from bot.core.config.presets import FLAT_TO_PATH, PATHS, SECTIONS
from bot.core.errors import InputError
from bot.core.limits import MAX_CONFIG_BYTES
from bot.core.secrets import looks_like_secret_key, looks_like_secret_value

if TYPE_CHECKING:
    import yaml

# Walking values is bounded so a YAML alias bomb cannot make the check itself the attack.
_MAX_NODES = 5000
_MAX_DEPTH = 50
_TOP_KEYS = tuple(p for p in PATHS if "." not in p) + SECTIONS
# A 40-hex path segment in a URL is a commit id (Hugging Face, GitHub raw), not a W&B key.
_COMMIT_SEGMENT = re.compile(r"/[0-9a-f]{40}(?=/|$)")


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(key, line)
        self.key, self.line = key, line


@functools.cache
def _strict_loader() -> type[yaml.SafeLoader]:
    """A SafeLoader that refuses a key given twice in one mapping.

    Built on first use: PyYAML is imported only when a config file or text is read, not by
    every command that merely resolves options (a dry run without a config file).
    """
    import yaml

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                duplicate = False
            if duplicate:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            if not isinstance(key, list | dict):
                seen.add(key)
        return dict(loader.construct_mapping(node, deep=True))

    class StrictLoader(yaml.SafeLoader):
        pass

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key, 0)
        out[key] = value
    return out


def _secret_value(path: str, value: str) -> bool:
    if path == "dataset_url":
        value = _COMMIT_SEGMENT.sub("/", value)
    return looks_like_secret_value(value)


def _scan_values(path: str, value: Any, budget: list[int]) -> None:
    """Refuse secret-shaped strings anywhere inside a value (lists included)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise InputError("config: the file is too deeply nested or repetitive to check.")
    if isinstance(value, str):
        if _secret_value(path, value):
            raise InputError(secret_message(path), field=path)
    elif isinstance(value, list | tuple):
        for item in value:
            _scan_values(path, item, budget)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if looks_like_secret_value(str(key)):
                raise InputError(secret_message(f"a key under {path}"), field=path)
            if looks_like_secret_key(str(key)):
                raise InputError(secret_message(f"{path}.{key}"), field=f"{path}.{key}")
            _scan_values(f"{path}.{key}", item, budget)


def _unknown(path: str, choices: list[str], prefix: str, source: str) -> InputError:
    leaf = path.rsplit(".", 1)[-1]
    hint = ""
    if not prefix and leaf in FLAT_TO_PATH and "." in FLAT_TO_PATH[leaf]:
        target = FLAT_TO_PATH[leaf]
        section, _, key = target.partition(".")
        hint = f" (it belongs under {section}: as {key})"
    hint = hint or suggest(leaf, choices)
    where = f"under {prefix}" if prefix else "at the top level"
    allowed = ", ".join(choices)
    return InputError(
        f"Unknown setting {path} in {_source_name(source)}{hint}; allowed {where}: {allowed}.",
        field=path,
    )


def _source_name(source: str) -> str:
    return "the config" if source == "config" else source


def _all_unknown(problems: list[InputError], source: str) -> InputError:
    """Every unknown key of one file in one error: three typos take one run to fix, not three."""
    if len(problems) == 1:
        return problems[0]
    listed = "".join(f"\n  - {p.message}" for p in problems)
    return InputError(
        f"{_source_name(source)} has {len(problems)} unknown settings:{listed}",
        field=problems[0].field,
    )


def flatten_nested(
    data: Mapping[str, Any], *, source: str = "config", unknown: list[InputError] | None = None
) -> dict[str, Any]:
    """The handoff layout -> {dotted path: value}; `None` values count as not given.

    Refuses unknown keys (all of them in one error, each with the nearest valid one; with
    `unknown`, they are added there instead and left out, so the caller can list them with the
    values' own problems), secret-looking keys or values anywhere, and sections that are not
    mappings.
    """
    if not isinstance(data, Mapping):
        raise InputError(
            f"{source}: must be a mapping of settings (key: value lines).", field="config"
        )
    out: dict[str, Any] = {}
    strays: list[InputError] = []
    budget = [_MAX_NODES]
    for raw_key, value in data.items():
        key = str(raw_key)
        if looks_like_secret_value(key):
            raise InputError(secret_message("a key"), field="config")
        if looks_like_secret_key(key):
            raise InputError(secret_message(key), field=key)
        _scan_values(key, value, budget)
        if key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise InputError(
                    f"{key}: {show(value)} is not a section (write it as key: value lines).",
                    field=key,
                )
            choices = [p.partition(".")[2] for p in PATHS if p.startswith(key + ".")]
            for raw_sub, sub_value in value.items():
                path = f"{key}.{raw_sub}"
                if path not in PATHS:
                    strays.append(_unknown(path, choices, key, source))
                    continue
                if sub_value is not None:
                    out[path] = sub_value
        elif key in PATHS:
            if value is not None:
                out[key] = value
        else:
            strays.append(_unknown(key, list(_TOP_KEYS), "", source))
    if strays and unknown is None:
        raise _all_unknown(strays, source)
    if unknown is not None:
        unknown.extend(strays)
    return out


def _bracket_depth(text: str) -> int:
    """Deepest [ / { nesting, counted cheaply so pathological input never reaches the parser."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def _syntax_error(source: str, exc: yaml.YAMLError) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or "cannot be read")
    where = f" at line {mark.line + 1}" if mark is not None else ""
    tip = " (indent with spaces, not tabs)" if "\\t" in problem or "\t" in problem else ""
    return InputError(
        f"{source}: not valid YAML or JSON{where}: {show(problem, 120).strip(chr(39))}{tip}.",
        field="config",
    )


def parse_config_text(
    text: str, *, source: str = "config", check_keys: bool = True
) -> dict[str, Any]:
    """YAML or JSON text -> the nested dict, checked for syntax, unknown keys and secrets.

    Values themselves are checked by `resolve_config`, which knows the other layers; with
    `check_keys` False the unknown keys are left for it too, so they are listed with the
    values' problems in one error.
    """
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise InputError(
            f"{source}: is larger than {MAX_CONFIG_BYTES // 1024} KB; a config is a few lines.",
            field="config",
        )
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        raise InputError(f"{source}: is empty; start from the config template.", field="config")
    if _bracket_depth(stripped) > _MAX_DEPTH:
        raise InputError(f"{source}: is nested too deeply to read.", field="config")
    import yaml

    try:
        if stripped.startswith("{"):
            data = json.loads(stripped, object_pairs_hook=_json_pairs)
        else:
            data = yaml.load(stripped, Loader=_strict_loader())  # noqa: S506 - SafeLoader subclass
    except _DuplicateKey as dup:
        line = f" (line {dup.line})" if dup.line else ""
        raise InputError(
            f"{source}: the key {show(str(dup.key))} appears twice{line}; keep only one.",
            field=str(dup.key),
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            field="config",
        ) from None
    except yaml.YAMLError as exc:
        raise _syntax_error(source, exc) from None
    except RecursionError:
        raise InputError(f"{source}: is nested too deeply to read.", field="config") from None
    if not isinstance(data, dict):
        raise InputError(
            f"{source}: must be a mapping of settings (key: value lines), not {show(data)}.",
            field="config",
        )
    flatten_nested(data, source=source, unknown=None if check_keys else [])
    return {str(k): v for k, v in data.items()}


def load_config_file(
    path: Path, *, source: str | None = None, check_keys: bool = True
) -> dict[str, Any]:
    """Read and parse a YAML/JSON config file; unreadable files are an `InputError` too.
    Messages name the file as `source` (default: its name)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise InputError(
                f"{path.name}: is larger than {MAX_CONFIG_BYTES // 1024} KB; a config is a few "
                "lines.",
                field="config",
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"config: file {str(path)!r} does not exist.", field="config") from None
    except IsADirectoryError:
        raise InputError(
            f"config: {str(path)!r} is a folder, not a file.", field="config"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"config: {path.name} is not UTF-8 text.", field="config") from None
    except OSError as exc:
        raise InputError(
            f"config: {path.name} cannot be read ({exc.strerror}).", field="config"
        ) from None
    return parse_config_text(text, source=source or path.name, check_keys=check_keys)
