"""Keeping secrets out of every output: one registry of known secret values plus token patterns.

Anything that prints, logs, stores or sends text passes it through `redact()`; settings register
the configured tokens at load time so that even an unusual token format is caught.
"""

from __future__ import annotations

import re
import threading
from typing import Any

REDACTED = "[redacted]"

# Token shapes we know: Replicate (r8_), W&B (40 hex), Hugging Face (hf_), Discord bot tokens,
# OpenAI-style sk-, GitHub ghp_, and webhook signing secrets.
_PATTERNS = [
    re.compile(r"\br8_[A-Za-z0-9]{20,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{16,}"),
    re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}\b"),
    re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{16,}"),
]
# What a text must contain for each pattern to match (checked in C first: most text, such as
# a log tail redacted on every tracker refresh, contains none, and a regex scan costs more).
# Checked in the lowered text, which holds every literal the original does.
_NEEDS = [("r8_",), ("hf_",), ("sk-",), ("gh",), ("whsec_",), (".",), ("bearer", "token")]
_CHECKED = tuple(zip(_PATTERNS, _NEEDS, strict=True))
_WANDB_KEY = re.compile(r"\b[0-9a-f]{40}\b")

# Config keys that must never hold a value in a file users post.
SECRET_KEY_WORDS = ("token", "api_key", "apikey", "secret", "password", "passwd", "private_key")

# A registered secret this short, or made of letters only, could be a word of prose (a
# rehearsal token such as `anything`): it is redacted only where it stands as a token of its
# own, not inside "Anything" or "anythingelse". Longer, mixed secrets (every real token) are
# redacted wherever they appear, even glued to other text.
PROSE_LIKE_BELOW = 20
_WORD_CHARS = "A-Za-z0-9_"

_known: set[str] = set()
# `_known`, longest first (so a secret containing another is replaced whole), kept sorted on
# registration rather than on every `redact` call; with the pattern of each.
_known_by_length: tuple[str, ...] = ()
_known_patterns: tuple[tuple[str, re.Pattern[str] | None], ...] = ()
_lock = threading.Lock()


def _prose_like(value: str) -> bool:
    return len(value) < PROSE_LIKE_BELOW or value.isalpha()


def _bounded(value: str) -> re.Pattern[str]:
    """`value` as a token: not preceded or followed by another token character."""
    before = f"(?<![{_WORD_CHARS}])" if re.match(f"[{_WORD_CHARS}]", value[0]) else ""
    after = f"(?![{_WORD_CHARS}])" if re.match(f"[{_WORD_CHARS}]", value[-1]) else ""
    return re.compile(before + re.escape(value) + after)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` removes it wherever it shows up as a token."""
    global _known_by_length, _known_patterns
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)
            _known_by_length = tuple(sorted(_known, key=len, reverse=True))
            _known_patterns = tuple(
                (v, _bounded(v) if _prose_like(v) else None) for v in _known_by_length
            )


def replace_known(text: str) -> str:
    """Every registered secret in `text` replaced (prose-like ones only as whole tokens)."""
    for value, bounded in _known_patterns:
        if value in text:
            text = bounded.sub(REDACTED, text) if bounded else text.replace(value, REDACTED)
    return text


def redact(text: str) -> str:
    """Return `text` with every known secret and every token-shaped string replaced."""
    if not text:
        return text
    text = replace_known(text)
    lowered = text.lower()
    for pattern, needs in _CHECKED:
        for needle in needs:  # a plain loop: `redact` runs several times a tracker refresh
            if needle in lowered:
                text = pattern.sub(REDACTED, text)
                break
    return _WANDB_KEY.sub(REDACTED, text)


def redact_obj(obj: Any) -> Any:
    """`redact` applied to every string inside dicts/lists (for JSON going out or into storage)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


def looks_like_secret_key(key: str) -> bool:
    """True for a config key that names a credential (`hf_token`, `wandb_api_key`, ...)."""
    k = key.lower().replace("-", "_")
    return any(word in k for word in SECRET_KEY_WORDS)


def looks_like_secret_value(value: str) -> bool:
    """True for a string shaped like a token of a service we know."""
    return redact(value) != value
