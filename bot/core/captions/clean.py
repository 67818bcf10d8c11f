"""What our code guarantees about a caption, whatever the model wrote.

Why here and not in the prompt: peers pass their prefix and suffix to the model as
instructions, and users find the wanted words missing from a quarter to half of the captions.
The model's text is only raw material: it is parsed safely (Florence-2 answers with a string
shaped like a Python dict), stripped of the narrator's openings ("The image shows"), of
whitespace and of the words the team forbids, capped in length, and only then framed by the
user's prefix and suffix — which therefore are always there.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from bot.core.limits import MAX_CAPTION_CHARS, MAX_MODEL_ANSWER

MAX_CAPTION = MAX_CAPTION_CHARS
MAX_RAW = MAX_MODEL_ANSWER
_OPENINGS = re.compile(
    r"^\s*(?:in\s+)?(?:this|the)\s+(?:image|picture|photo(?:graph)?|illustration|painting)\s+"
    r"(?:is\s+of\s+|shows|showcases|depicts|features|displays|presents|contains|"
    r"captures|is)\s*",
    re.IGNORECASE,
)
_ARTICLE_START = re.compile(r"^(?:an?\s+)?(?:close-up|closeup)\s+of\s+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_REPEATED_PUNCT = re.compile(r"([,;])\s*(?:[,;]\s*)+")
_NO_SPACE_AFTER = re.compile(r"([,;])(?=[^\W\d_])")


def model_text(output: Any) -> str:
    """The caption text inside a model's output, whatever shape the model answers in.

    Florence-2: `{"text": "{'<MORE_DETAILED_CAPTION>': '...'}"}`; LLaVA-style: a list of text
    pieces; others: a plain string. The dict-shaped string is read with `ast.literal_eval`
    (literals only, never code) after a size cap; anything else is taken as text.
    """
    if isinstance(output, dict):
        output = output.get("text", output.get("caption", output.get("output", "")))
    if isinstance(output, list):
        return "".join(str(piece) for piece in output if isinstance(piece, str))
    if not isinstance(output, str):
        return ""
    text = output.strip()
    if text.startswith("{") and text.endswith("}") and len(text) <= MAX_RAW:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return text
        if isinstance(parsed, dict):
            values = [v for v in parsed.values() if isinstance(v, str)]
            return values[0] if values else ""
    return text


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def forbidden_words(setting: str | None) -> list[str]:
    """SD35L_CAPTION_FORBIDDEN: comma-separated words or phrases, compared case-insensitively."""
    if not setting:
        return []
    return [w.strip() for w in setting.split(",") if w.strip()]


def remove_words(text: str, words: list[str]) -> str:
    for word in words:
        pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
        text = pattern.sub("", text)
    return text


def clean(text: str, *, forbidden: list[str] | None = None, limit: int = MAX_CAPTION) -> str:
    """The model's text made into a caption: no narrator opening, no forbidden words, one line,
    tidy punctuation, at most `limit` characters (cut at a word, never mid-word)."""
    text = _SPACE.sub(" ", text.replace("\x00", " ")).strip().strip("\"'")
    text = _OPENINGS.sub("", text)
    text = _ARTICLE_START.sub("", text) if text.lower().startswith(("close", "a close")) else text
    text = remove_words(text, forbidden or [])
    text = _SPACE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_PUNCT.sub(r"\1 ", text)
    text = _NO_SPACE_AFTER.sub(r"\1 ", text).strip(" ,;")
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:")
        text = cut or text[:limit]
    return _sentence_case(text.strip())


def frame(caption: str, prefix: str | None, suffix: str | None) -> str:
    """The user's prefix and suffix around the caption, joined by ", " — guaranteed present."""
    parts = [p.strip() for p in (prefix, caption, suffix) if p and p.strip()]
    return ", ".join(parts)


def trigger_rule(trigger_word: str | None) -> str:
    """The trainer's rule, stated where captions are reviewed: it acts on every caption."""
    word = trigger_word or "your trigger word"
    subject = (
        f"the subject {trigger_word} stands for" if trigger_word else "the subject it stands for"
    )
    return (
        f"The trainer puts {word} in front of every caption that lacks it (and replaces "
        f"[trigger] with it): describe what should stay changeable — background, clothes, light "
        f"— not {subject}."
    )
