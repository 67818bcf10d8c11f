"""The size limits the project keeps, checked on every product module: no module over 400
lines and no function over 80, so each stays readable in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def product_files() -> list[Path]:
    return sorted(p for top in ("bot", "cogs") for p in (ROOT / top).rglob("*.py"))


def test_the_check_sees_every_product_module() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in product_files()}
    assert {"bot/notifier.py", "bot/core/jobs/service.py", "cogs/train.py"} <= names


def test_no_module_is_over_the_line_limit() -> None:
    long = {}
    for path in product_files():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            long[path.relative_to(ROOT).as_posix()] = lines
    assert long == {}


def test_no_function_is_over_the_line_limit() -> None:
    long = {}
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = lines
    assert long == {}


def test_every_document_the_code_names_is_in_the_repository() -> None:
    """Docstrings and comments point at files here (docs/…), never at notes outside the repo."""
    import re

    named = {}
    for path in [*product_files(), *sorted((ROOT / "benchmarks").rglob("*.py"))]:
        for doc in re.findall(r"[\w./-]+\.md\b", path.read_text(encoding="utf-8")):
            named.setdefault(doc, path.relative_to(ROOT).as_posix())
    assert "docs/interface.md" in named  # the scan is not vacuous
    missing = {doc: where for doc, where in named.items() if not (ROOT / doc).is_file()}
    assert missing == {}
