"""Fill the docs' output examples from the code, so an example can never show what the code does
not print.

    .venv/bin/python scripts/doc_examples.py          # rewrite the generated blocks
    .venv/bin/python scripts/doc_examples.py --check  # exit 1 when a block is stale

A block is the text between `<!-- generated: NAME -->` and `<!-- /generated -->` in a page
under docs/; NAME is one of `EXAMPLES` below. tests/test_docs.py fails when a block is stale.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.config.model import resolve_config  # noqa: E402
from bot.core.config.presets import load_presets  # noqa: E402
from bot.core.jobs.preflight import estimate_text  # noqa: E402
from bot.core.settings import Settings  # noqa: E402

DOCS = ROOT / "docs"
IMAGES = 12  # the example dataset of the guides: a dozen photos of one subject
BLOCK = re.compile(r"(<!-- generated: ([a-z-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)


def _settings() -> Settings:
    """The built-in defaults (the default GPU price), whatever the shell's environment."""
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _estimate(preset: str) -> str:
    config = resolve_config(
        cli={"preset": preset, "dataset_path": "my-photos", "destination": "alice/my-lora",
             "trigger_word": "ZXQTOK"},
        settings=_settings(),
    ).config  # fmt: skip
    return estimate_text(config, _settings(), images=IMAGES, history=False)


def estimate_line() -> str:
    """What `train` prints for the default preset and the guide's 12 photos."""
    return f"    Estimate: {_estimate('beginner')}\n"


def preset_costs() -> str:
    rows = ["| preset | what it does | estimate for 12 images (H100) |", "|---|---|---|"]
    for name, preset in load_presets().items():
        shown = f"`{name}` (the default)" if name == "beginner" else f"`{name}`"
        cost = _estimate(name).split(", ", 1)[1].split(" (")[0]
        rows.append(f"| {shown} | {preset.description} | {cost} |")
    return "\n".join(rows) + "\n"


EXAMPLES: dict[str, Callable[[], str]] = {
    "estimate-line": estimate_line,
    "preset-costs": preset_costs,
}


def render(text: str) -> str:
    def fill(match: re.Match[str]) -> str:
        make = EXAMPLES.get(match.group(2))
        if make is None:
            raise SystemExit(f"unknown generated block {match.group(2)!r}")
        return match.group(1) + make() + match.group(4)

    return BLOCK.sub(fill, text)


def main() -> None:
    stale = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        filled = render(text)
        if filled != text:
            stale.append(page.name)
            if "--check" not in sys.argv[1:]:
                page.write_text(filled, encoding="utf-8")
    if stale and "--check" in sys.argv[1:]:
        print(f"stale generated examples in {', '.join(stale)}; run scripts/doc_examples.py")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
