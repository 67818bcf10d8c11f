"""Small text helpers every embed uses: Discord's limits, timestamps, the progress bar.

Kept pure (no network, no bot) so every message shape is testable without Discord. Every
string that may carry user or log text goes through `clip`, which also redacts secrets.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.secrets import redact

FIELD_VALUE = 1024
DESCRIPTION = 4096
BAR_WIDTH = 20

GREEN = 0x2ECC71
RED = 0xE74C3C
GREY = 0x95A5A6
BLUE = 0x3498DB
ORANGE = 0xE67E22

STATUS_EMOJI = {
    "starting": "⏳",
    "processing": "🏃",
    "succeeded": "✅",
    "failed": "❌",
    "canceled": "🛑",
    "aborted": "⚠️",
}
STATUS_COLOUR = {
    "starting": GREY,
    "processing": BLUE,
    "succeeded": GREEN,
    "failed": RED,
    "canceled": GREY,
    "aborted": ORANGE,
}


def clip(text: str | None, limit: int) -> str:
    """Redacted text cut to `limit` characters (with an ellipsis when cut); never empty."""
    value = redact(str(text or "")).strip()
    if not value:
        return "—"
    if len(value) <= limit:
        return value
    return value[: max(0, limit - 1)].rstrip() + "…"


def code_block(text: str, limit: int = FIELD_VALUE) -> str:
    """A ``` block that fits `limit`, keeping the END of the text (the end of a log matters)."""
    body = redact(text).replace("```", "'''").strip() or "(empty)"
    room = limit - 8
    if len(body) > room:
        body = "…" + body[-(room - 1) :]
    return f"```\n{body}\n```"


def relative(at: datetime) -> str:
    """A Discord timestamp each reader sees in their own time zone ('in 12 minutes')."""
    return f"<t:{int(at.timestamp())}:R>"


def absolute(at: datetime) -> str:
    return f"<t:{int(at.timestamp())}:f>"


def progress_bar(step: int | None, total: int | None, width: int = BAR_WIDTH) -> str:
    """`▰▰▰▱▱▱ 30% · step 300/1000`; without numbers yet, says so instead of spinning."""
    if step is None or not total:
        return "waiting for the first training step"
    step = max(0, min(step, total))
    filled = round(width * step / total)
    percent = 100 * step / total
    return f"{'▰' * filled}{'▱' * (width - filled)} {percent:.0f}% · step {step}/{total}"


def status_line(status: str) -> str:
    return f"{STATUS_EMOJI.get(status, '•')} {status}"


def mention(user_id: int) -> str:
    return f"<@{user_id}>"
