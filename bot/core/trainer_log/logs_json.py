"""Decode a training's JSON keeping only the end of its `logs`.

Replicate sends a training's whole log in every GET (~0.5 MB at 4,000 steps), and the tracker
reads only its end: the last progress bar, the latest stage, the tail shown on the card. Once
the parsing reads only the end, decoding the whole string is the largest cost of a refresh left
that grows with the log, so the tracker's reads decode the object without its log and then only
the log's last lines. Anything unexpected falls back to decoding everything.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A `"logs":` key followed by a string. Inside a JSON string every `"` is escaped, so this can
# only match a key; a nested object's `logs` key is caught by the check after decoding.
_LOGS_KEY = re.compile(rb'"logs"\s*:\s*"')
_BACKSLASH = 0x5C
_LINE_BREAK = b"\\n"  # how JSON writes a newline inside a string
_STAND_IN = "\x00cut\x00"  # NUL never reaches a real log's JSON unescaped
_STAND_IN_JSON = json.dumps(_STAND_IN).encode()


def _escaped(body: bytes, first: int, pos: int) -> bool:
    """Whether the character at `pos` is escaped: an odd run of backslashes right before it
    (not looking before `first`, the string's first character)."""
    run = 0
    while pos - run > first and body[pos - run - 1] == _BACKSLASH:
        run += 1
    return run % 2 == 1


def _string_end(body: bytes, first: int) -> int:
    """The index of the quote closing the string whose first character is at `first`, or -1."""
    pos = first
    while True:
        quote = body.find(b'"', pos)
        if quote < 0 or not _escaped(body, first, quote):
            return quote
        pos = quote + 1


def _line_start(body: bytes, first: int, lo: int, end: int) -> int:
    """The first newline escape (`\\n`) at or after `lo` in the string [first, end), or -1."""
    pos = body.find(_LINE_BREAK, lo, end)
    while pos >= 0 and _escaped(body, first, pos):
        pos = body.find(_LINE_BREAK, pos + 1, end)
    return pos


def _decoded_end(body: bytes, first: int, end: int, chars: int) -> str | None:
    """More than `chars` characters from the end of the string [first, end), starting with a
    newline; None when that means (about) the whole string.

    A character takes 1 byte in JSON (ASCII) to 6 (`\\u2588`), so no one window fits every
    log: the end is decoded in pieces, each cut at a newline escape (a clean place to split a
    JSON string) further back, the next one sized by the bytes per character seen so far,
    until there are enough characters. Nothing is decoded twice."""
    pieces: list[str] = []
    have = 0
    stop = end  # [stop, end) is decoded already
    window = chars + chars // 8
    while end - window > first:
        cut = _line_start(body, first, end - window, stop)
        if cut < 0:  # no line break in view: look further back
            window *= 4
            continue
        try:
            piece = json.loads(b'"' + body[cut:stop] + b'"')
        except ValueError:
            return None  # not valid JSON: the full decode says so
        if not isinstance(piece, str):  # pragma: no cover - a JSON string decodes to str
            return None
        pieces.append(piece)
        have += len(piece)
        stop = cut
        if have > chars:
            pieces.reverse()
            return "".join(pieces)
        per_char = (end - cut) / have if have else 6.0
        window = max(end - cut + 1, int(per_char * chars * 1.05) + 1)
    return None


def logs_span(body: bytes) -> tuple[int, int] | None:
    """Where the first `"logs": "..."` string of a JSON answer lies: (its first character, its
    closing quote), or None. Only a top-level key when the answer is a training (see
    `loads_with_logs_end`, which checks it)."""
    key = _LOGS_KEY.search(body)
    if key is None:
        return None
    first = key.end()
    end = _string_end(body, first)
    return (first, end) if end >= 0 else None


def loads_with_logs_end(body: bytes, chars: int, span: tuple[int, int] | None = None) -> Any:
    """`json.loads(body)`, except that a top-level `logs` string longer than `chars` characters
    keeps only its end: more than `chars` characters, starting with a newline (the line cut
    off is dropped whole). The end of the log is exactly what a full decode gives. `span` is
    `logs_span(body)` when the caller has it already."""
    if span is None and len(body) > chars:
        span = logs_span(body)
    if span is None:
        return json.loads(body)
    first, end = span
    tail = _decoded_end(body, first, end, chars)
    if tail is None:
        return json.loads(body)
    try:
        rest = json.loads(body[: first - 1] + _STAND_IN_JSON + body[end + 1 :])
    except ValueError:
        return json.loads(body)
    if not isinstance(rest, dict) or rest.get("logs") != _STAND_IN:
        return json.loads(body)  # the key was not the top-level one
    rest["logs"] = tail
    return rest
