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
    "bot.ui": ("cogs", "bot.cli", "click", "rich", "bot.app", "bot.notifier"),
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


# -- the house's other rules ------------------------------------------------------------------

# Packages whose `__init__` is a module in its own right, not a facade over its package: the
# click group of the CLI, the simulator's public names, `bot.create_bot` (DESIGN.md's entry).
INIT_WITH_CODE = {"bot", "bot.cli", "bot.sim"}


def test_no_package_facade() -> None:
    """A package's `__init__` holds its docstring only: names are imported from the module that
    defines them, so a reader finds a name where it is written (and nothing loads lazily)."""
    facades = []
    for name, path in product_modules().items():
        if path.name != "__init__.py" or name in INIT_WITH_CODE:
            continue
        body = ast.parse(path.read_text(encoding="utf-8")).body
        if [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]:
            facades.append(name)
    assert facades == []
    assert not (ROOT / "bot" / "core" / "lazy.py").exists()


def test_no_two_classes_share_a_name() -> None:
    """One name per concept: a class name means one thing across bot/ and cogs/."""
    where: dict[str, list[str]] = {}
    for name, path in product_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(name)
    assert len(where) > 100  # the scan is not vacuous
    assert {k: v for k, v in where.items() if len(v) > 1} == {}


def _looked_up_by_name(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"}
            and node.args
            and any(part in ast.unparse(node.args[0]) for part in ("client", "bot"))
        ):
            found.append(ast.unparse(node))
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            found.append(ast.unparse(node))
    return found


def test_services_are_handed_over_never_looked_up_by_name() -> None:
    """The notifier gets its services when built; cogs, views and buttons reach them through
    the typed `bot.ui.services.ServicedBot`: no `getattr(client, "store", None)`, no state
    kept in a bot's `__dict__`."""
    assert _looked_up_by_name(ast.parse('getattr(self.client, "budget", None)'))
    found = {}
    for name, path in product_modules().items():
        if within(name, "cogs") or within(name, "bot.ui") or name in {"bot.notifier", "bot.app"}:
            hits = _looked_up_by_name(ast.parse(path.read_text(encoding="utf-8")))
            if hits:
                found[name] = hits
    assert found == {}


def test_each_table_is_one_class_over_the_database() -> None:
    """One way to write a table: every module of bot/core/store that touches SQL through the
    `Database` defines one table class taking it, and `Store` itself has no queries."""
    store = ROOT / "bot" / "core" / "store"
    tables = {}
    for path in sorted(store.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                init = next(
                    (
                        f
                        for f in node.body
                        if isinstance(f, ast.FunctionDef) and f.name == "__init__"
                    ),
                    None,
                )
                if init is not None and "db: Database" in ast.unparse(init.args):
                    tables[path.stem] = node.name
    assert set(tables) == {
        "trainings", "cards", "outbox", "submissions", "previews", "ledger", "approvals"
    }  # fmt: skip
    store_class = next(
        n
        for n in ast.parse((store / "db.py").read_text(encoding="utf-8")).body
        if isinstance(n, ast.ClassDef) and n.name == "Store"
    )
    methods = {
        f.name for f in store_class.body if isinstance(f, ast.AsyncFunctionDef | ast.FunctionDef)
    }
    assert methods <= {"open", "path", "close", "__aenter__", "__aexit__"}
