"""Arrows point one way: cogs -> bot.ui / bot.notifier -> bot.core, and bot.cli -> bot.core.

Two views of the same rule. At run time, one fresh interpreter records every import statement
that executes while each module of bot/ and cogs/ is imported; what a module reaches through
those edges is exactly what importing it alone would load. Statically, every import written
anywhere in a module (inside functions too, where a lazy import can hide a cycle until called)
must keep the module graph free of cycles.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "cogs")

# Whatever a module matching the prefix reaches at import time must not match these.
FORBIDDEN = {
    "bot.core": (
        "discord",
        "click",
        "rich",
        "bot.ui",
        "bot.notifier",
        "bot.app",
        "bot.cli",
        "cogs",
    ),
    "bot.ui": ("cogs", "bot.cli", "click", "rich", "bot.app"),
    "bot.notifier": ("cogs", "bot.cli", "click", "rich", "bot.app"),
    "bot.tree": ("cogs", "bot.ui", "bot.notifier", "bot.cli", "bot.app"),
    "bot.cli": ("discord", "cogs", "bot.ui", "bot.notifier", "bot.app"),
    "bot.sim": ("discord", "cogs", "bot.ui", "bot.notifier", "bot.cli", "bot.app"),
}

RECORDER = r"""
import builtins, importlib, importlib.util, json, sys
modules = json.loads(sys.argv[1])
edges = {}
real_import = builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    module = real_import(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__")
    if importer in modules:
        target = importlib.util.resolve_name("." * level + name, globals.get("__package__")) \
            if level else name
        found = edges.setdefault(importer, set())
        subs = [f"{target}.{item}" for item in fromlist or () if f"{target}.{item}" in sys.modules]
        found.update(subs or [target])
    return module

builtins.__import__ = recording_import
for name in modules:
    importlib.import_module(name)
print(json.dumps({k: sorted(v) for k, v in edges.items()}))
"""


def product_modules() -> dict[str, Path]:
    found = {}
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def reach(start: str, edges: dict[str, set[str]]) -> set[str]:
    """Every module importing `start` loads: its import edges, and each one's parent packages."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(edges.get(name, ()))
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return seen


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def runtime_edges() -> dict[str, set[str]]:
    modules = list(product_modules())
    done = subprocess.run(
        [sys.executable, "-c", RECORDER, json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {k: set(v) for k, v in json.loads(done.stdout).items()}


@pytest.mark.slow
def test_the_recorder_sees_imports(runtime_edges: dict[str, set[str]]) -> None:
    """The recorder is not vacuous: it sees the notifier's imports of the UI and core."""
    assert "bot.ui.train" in runtime_edges["bot.notifier"]
    assert "discord" in runtime_edges["bot.notifier"]
    assert "bot.ui.train" in runtime_edges["cogs.train"]


@pytest.mark.slow
def test_no_module_loads_a_layer_above_it(runtime_edges: dict[str, set[str]]) -> None:
    wrong = []
    for module in product_modules():
        loaded = reach(module, runtime_edges)
        for prefix, banned in FORBIDDEN.items():
            if within(module, prefix):
                wrong += [
                    f"{module} -> {m}" for m in sorted(loaded) for b in banned if within(m, b)
                ]
    assert wrong == []


CARDS = r"""
import sys
from bot.core.store.rows import TrainingRow
from bot.notifier import DiscordNotifier, card_message
for status in ("processing", "failed", "succeeded"):
    row = TrainingRow(id="abc123", owner_id=1, destination="a/b", status=status, channel_id=7)
    card_message(row)
print(sorted(m for m in sys.modules if m == "cogs" or m.startswith("cogs.")))
"""


@pytest.mark.slow
def test_the_notifier_draws_every_card_without_importing_cogs(
    runtime_edges: dict[str, set[str]],
) -> None:
    """Also at call time: drawing a running, a failed and a finished card in a fresh
    interpreter loads no cog (a lazy import inside a function would show here)."""
    loaded = reach("bot.notifier", runtime_edges)
    assert "bot.core.jobs.tracker" in loaded
    assert not [m for m in loaded if within(m, "cogs")]
    done = subprocess.run(
        [sys.executable, "-c", CARDS], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_no_import_cycle_at_run_time(runtime_edges: dict[str, set[str]]) -> None:
    assert cycles(runtime_edges) == []


def _imports(tree: ast.AST, package: str) -> Iterable[str]:
    """Every import in the module, at any depth, except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for other in node.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), package)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            yield from (f"{base}.{alias.name}" for alias in node.names)
            yield base
        yield from _imports(node, package)


def test_no_import_cycle_even_through_lazy_imports() -> None:
    modules = product_modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set(_imports(ast.parse(path.read_text(encoding="utf-8")), package))
        # `from pkg import submodule` is an edge to the submodule, not to the package.
        direct = {t for t in targets if t in modules}
        edges[name] = {
            t for t in direct if t != name and not any(s.startswith(t + ".") for s in direct)
        }
    assert "bot.ui.train" in edges["bot.notifier"]
    assert cycles(edges) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
