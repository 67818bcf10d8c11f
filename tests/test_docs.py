"""The reference pages cannot drift from the code: configuration.md is regenerated and compared,
troubleshooting.md names the messages the code defines as constants."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from bot.core.replicate import errors

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "configuration_doc.py"
    spec = importlib.util.spec_from_file_location("configuration_doc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_is_current() -> None:
    """Fails when an option, env var, preset, default or limit changed without regenerating."""
    written = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == _generator().render(), "run .venv/bin/python scripts/configuration_doc.py"


def test_configuration_reference_covers_everything() -> None:
    from bot.cli import cli
    from bot.core.config.presets import FLAT_TO_PATH, load_presets
    from bot.core.settings import Settings

    text = _generator().render()
    for field in Settings.model_fields.values():
        assert f"`{field.validation_alias.choices[0]}`" in text  # type: ignore[union-attr]
    for path in FLAT_TO_PATH.values():
        assert f"| `{path}` |" in text
    for name in load_presets():
        assert f"| `{name}` |" in text
    for name, command in cli.commands.items():
        assert f"### `sd35l-trainer {name}`" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert f"`{opt}`" in text, (name, opt)


def test_troubleshooting_names_the_fixed_messages() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    for message in (errors.MSG_NO_TOKEN, errors.MSG_401, errors.MSG_402):
        assert message.split(";")[0].split(". ")[0].split(" (4")[0] in text, message
    starts = (
        "Lost contact with Replicate while following training",
        "Interrupted; nothing",
        "train spends money on Replicate and there is no terminal",
        "Unexpected error",
    )
    for start in starts:
        assert start in text, start
