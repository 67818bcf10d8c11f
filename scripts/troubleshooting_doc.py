"""Write docs/troubleshooting.md from the messages themselves.

    .venv/bin/python scripts/troubleshooting_doc.py          # rewrite docs/troubleshooting.md
    .venv/bin/python scripts/troubleshooting_doc.py --check  # exit 1 when the file is stale

Every message comes from `bot.core.catalogue` (read from the code that says it), with the
explanations of `bot.core.troubles`; a message added anywhere in the product appears here on
the next run, and tests/test_docs.py fails until the page is regenerated.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.catalogue import Message, messages  # noqa: E402
from bot.core.troubles import ALSO_SAID, EXPLAINED, SECTIONS  # noqa: E402

TARGET = ROOT / "docs" / "troubleshooting.md"
KIND = {"error 2": "exit 2", "error 1": "exit 1", "error": "refused", "warning": "warning"}


def section_of(module: str) -> str:
    return next((name for prefix, name in SECTIONS if module.startswith(prefix)), "Other")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _explained(text: str) -> str:
    return " ".join(t.means for t in EXPLAINED if t.says in text)


def _row(message: Message) -> str:
    kind = KIND.get(message.kind, message.kind)
    return f"| {_cell(message.text)} | {kind} | {_cell(_explained(message.text))} |"


def render() -> str:
    found = messages()
    order = list(dict.fromkeys(name for _prefix, name in SECTIONS))
    rows: dict[str, list[str]] = {name: [] for name in order}
    for message in sorted(found, key=lambda m: (m.module, m.text)):
        rows.setdefault(section_of(message.module), []).append(_row(message))
    for section, kind, trouble in ALSO_SAID:
        rows.setdefault(section, []).append(
            f"| {_cell(trouble.says)} | {kind} | {_cell(trouble.means)} |"
        )
    lines = [
        "# Troubleshooting",
        "",
        "Generated from the code by `scripts/troubleshooting_doc.py`: every message the product",
        "can give, as the code writes it (`<name>` marks a value filled in), and a test fails",
        "when one is missing. Search this page for the words you saw.",
        "",
        "Every failure ends as one sentence that starts with `Error:` and an exit status: **2**",
        "means your input or configuration is wrong (the sentence names the field and what is",
        "allowed), **1** means something else failed (Replicate, the network, a training that",
        "ended failed or aborted), **130** means you pressed Ctrl-C. A training you canceled",
        "ends with exit **0**. The dataset check lists `error` lines (refused: the training",
        "would fail), `warning` lines (it trains, but perhaps not as you meant) and notes.",
        f"This page holds {len(found) + len(ALSO_SAID)} messages.",
    ]
    for section in rows:
        if not rows[section]:
            continue
        lines += ["", f"## {section}", "", "| message | result | what it means, what to do |"]
        lines += ["|---|---|---|", *rows[section]]
    return "\n".join(lines) + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if TARGET.read_text(encoding="utf-8") != text:
            print("docs/troubleshooting.md is stale; run scripts/troubleshooting_doc.py")
            raise SystemExit(1)
        return
    TARGET.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
