"""The reference pages cannot drift from the code: configuration.md is regenerated and compared,
troubleshooting.md names the messages the code defines as constants."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from bot.core import catalogue, troubles
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


def _troubleshooting_generator() -> ModuleType:
    path = ROOT / "scripts" / "troubleshooting_doc.py"
    spec = importlib.util.spec_from_file_location("troubleshooting_doc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_troubleshooting_lists_every_message_the_code_can_give() -> None:
    """Fails when a message has no entry: the page is regenerated from the messages and
    compared (run .venv/bin/python scripts/troubleshooting_doc.py after changing one)."""
    written = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    assert written == _troubleshooting_generator().render(), (
        "run .venv/bin/python scripts/troubleshooting_doc.py"
    )
    for message in catalogue.messages():
        assert f"| {message.text.replace('|', chr(92) + '|')} |" in written, message


def test_the_catalogue_holds_the_messages_people_missed() -> None:
    texts = [m.text for m in catalogue.messages()]

    def has(fragment: str) -> bool:
        return any(fragment in text for text in texts)

    assert has("dataset_url: could not fetch the dataset from <host>")
    assert has("is still the template's placeholder")
    assert has("does not exist; give a folder of images or a .zip file")  # dataset_path
    assert has("Unknown setting <path> in")
    assert has("The dataset has only <usable> usable images")  # a dataset warning
    assert has("SD35L_POLICY_STEPS must be a range")  # a settings validator
    page = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    assert "Unknown key" not in page


def test_a_new_message_anywhere_is_picked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Robust to messages nobody told the catalogue about: a new error class in a new module,
    a constant, a helper that returns the text, a dataset finding."""
    (tmp_path / "cogs").mkdir()
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "widget.py").write_text(
        "from bot.core.errors import InputError, ServiceError\n"
        "MSG_GONE = 'The widget is gone; make a new one.'\n"
        "class WidgetError(ServiceError):\n    exit_code = 1\n"
        "class OddWidget(WidgetError):\n    pass\n"
        "def odd(x):\n    return f'widget {x} is odd; straighten it'\n"
        "def f(x, result):\n"
        "    raise InputError(f'widget: {x.name} is bent', hint='bend it back.')\n"
        "def g(x):\n    raise OddWidget(odd(x))\n"
        "def h():\n    raise WidgetError(MSG_GONE)\n"
        "def i(result):\n    result.add('warning', 'widget_dusty', 'The widget is dusty.')\n"
    )
    monkeypatch.setattr(catalogue, "ROOT", tmp_path)
    found = {(m.text, m.kind, m.code) for m in catalogue.messages()}
    assert found == {
        ("widget: <name> is bent bend it back.", "error 2", "InputError"),
        ("widget <x> is odd; straighten it", "error 1", "OddWidget"),
        ("The widget is gone; make a new one.", "error 1", "WidgetError"),
        ("The widget is dusty.", "warning", "widget_dusty"),
    }


def test_every_explanation_still_has_its_message() -> None:
    texts = [m.text for m in catalogue.messages()]
    for trouble in troubles.EXPLAINED:
        assert any(trouble.says in text for text in texts), trouble.says
    source = "".join(
        p.read_text(encoding="utf-8") for d in ("bot", "cogs") for p in (ROOT / d).rglob("*.py")
    )
    for _section, _kind, trouble in troubles.ALSO_SAID:
        assert trouble.says in source, trouble.says


def _examples_generator() -> ModuleType:
    path = ROOT / "scripts" / "doc_examples.py"
    spec = importlib.util.spec_from_file_location("doc_examples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_output_examples_are_what_the_code_prints() -> None:
    examples = _examples_generator()
    blocks = 0
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        blocks += len(examples.BLOCK.findall(text))
        assert examples.render(text) == text, f"{page.name}: run scripts/doc_examples.py"
    assert blocks >= 2


@pytest.mark.slow
def test_the_guides_estimate_line_is_the_one_train_prints(tmp_path: Path) -> None:
    """The example is checked against the real command, not only against the function."""
    import os
    import subprocess
    import sys

    from tests.local_images import dataset_files, write_folder

    write_folder(tmp_path / "my-photos", dataset_files(12))
    done = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "train", "--dataset",
         "my-photos", "--destination", "alice/my-lora", "--trigger-word", "ZXQTOK", "--dry-run"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
             "SD35L_CONFIG_DIR": str(tmp_path / "config"), "SD35L_DATABASE": str(tmp_path / "db")},
        cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = next(line for line in done.stdout.splitlines() if line.startswith("Estimate:"))
    guide = (ROOT / "docs" / "training-guide.md").read_text(encoding="utf-8")
    assert f"    {printed}\n" in guide


def test_interface_names_every_slash_command_and_menu() -> None:
    import ast

    names: list[str] = []
    for path in sorted((ROOT / "cogs").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                "command",
                "context_menu",
            ):
                names += [k.value.value for k in node.keywords if k.arg == "name"]  # type: ignore[attr-defined]
    interface = (ROOT / "docs" / "interface.md").read_text(encoding="utf-8")
    flat = " ".join(interface.split())
    assert {"usage", "Train on these images", "train"} <= set(names)
    for name in names:
        assert (f"`/{name}`" in flat) or (f'"{name}"' in flat), name


def test_money_doc_says_what_the_cli_estimates_at() -> None:
    money = " ".join((ROOT / "docs" / "money.md").read_text(encoding="utf-8").split())
    assert "The CLI estimates at the usable image count its dataset check counted" in money
    assert "so it estimates at 20 images" not in money
