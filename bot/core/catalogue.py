"""The catalogue of every message a user can meet, read from the code that says them.

Why from the code: docs/troubleshooting.md promised "every error message" and drifted (it named
texts the code no longer says and missed new ones). Here each message is found where it is
made: every construction of an `SD35LError` subclass (the classes are found from their class
statements, so a new error class is covered without a word here), and every finding of the
dataset check (`Finding(code, text)` and `result.add(severity, code, text)`). Its text becomes a
template: literal parts as written, each value as `<name>`. A message given as a constant or
as a call to a function that returns one is followed to its text. Nothing is executed.

`scripts/troubleshooting_doc.py` renders the catalogue, with the explanations of
`bot.core.troubles`, into docs/troubleshooting.md; a test fails when the page lacks a message.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import InputError, SD35LError, ServiceError

ROOT = Path(__file__).resolve().parents[2]  # the checkout: bot/ and cogs/ are read from here
PACKAGES = ("bot", "cogs")
SKIPPED = ("bot/sim/",)  # the simulator's own answers are Replicate's, not ours
VALIDATORS = ("bot/core/config/", "bot/core/settings.py")  # their ValueErrors reach users
FINDING_CALLS = {"Finding": 1, "add": 2}  # call name -> index of the message argument


@dataclass(frozen=True)
class Message:
    """One message as the code writes it: `text` with `<name>` where a value goes."""

    text: str
    kind: str  # "error 2", "error 1", or a dataset finding's severity
    code: str  # the error class, or the dataset finding's code
    module: str  # bot/core/config/parse.py

    @property
    def key(self) -> tuple[str, str]:
        return (self.text, self.kind)


def _error_classes(trees: list[tuple[str, ast.Module]]) -> dict[str, int]:
    """Every SD35LError subclass in the product -> its exit status, read from the class
    statements (nothing is imported: this module must not load discord or click)."""
    found = {cls.__name__: cls.exit_code for cls in (SD35LError, InputError, ServiceError)}
    classes = [node for _name, tree in trees for node in ast.walk(tree)]
    changed = True
    while changed:
        changed = False
        for node in classes:
            if not isinstance(node, ast.ClassDef) or node.name in found:
                continue
            bases = [
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
            ]
            parent = next((b for b in bases if b in found), None)
            if parent is None:
                continue
            own = [
                item.value.value
                for item in node.body
                if isinstance(item, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "exit_code" for t in item.targets)
                and isinstance(item.value, ast.Constant)
            ]
            found[node.name] = int(str(own[0])) if own else found[parent]
            changed = True
    return found


def _sources(root: Path) -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if not name.startswith(SKIPPED):
                yield name, ast.parse(path.read_text(encoding="utf-8"), filename=name)


class _Texts:
    """Module-level string constants and functions that return a message, across the product,
    so `InputError(MSG_NO_TOKEN)` and `InputError(secret_message(path))` are followed."""

    def __init__(self, trees: list[tuple[str, ast.Module]]) -> None:
        self.everywhere: dict[str, ast.expr] = {}
        self.by_module: dict[str, dict[str, ast.expr]] = {}
        self.current = ""  # the module being read: its own constants come first
        self.functions: dict[str, list[ast.expr]] = {}
        for name, tree in trees:
            own = self.by_module.setdefault(name, {})
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name):
                        own[target.id] = node.value
                        self.everywhere.setdefault(target.id, node.value)
            for func in ast.walk(tree):
                if isinstance(func, ast.FunctionDef):
                    returns = [
                        r.value
                        for r in ast.walk(func)
                        if isinstance(r, ast.Return) and r.value is not None
                    ]
                    self.functions.setdefault(func.name, returns)

    def constant(self, name: str) -> ast.expr | None:
        return self.by_module.get(self.current, {}).get(name) or self.everywhere.get(name)

    def render(self, node: ast.expr, depth: int = 0) -> list[str]:
        """The templates `node` can produce (several when it is a conditional)."""
        if depth > 4:
            return []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            parts = [""]
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts = [p + str(value.value) for p in parts]
                elif isinstance(value, ast.FormattedValue):
                    shown = self._placeholder(value.value, depth)
                    parts = [p + s for p in parts for s in shown][:8]
            return parts
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.render(node.left, depth + 1), self.render(node.right, depth + 1)
            return [a + b for a in left for b in right][:8] if left and right else []
        if isinstance(node, ast.IfExp):
            return self.render(node.body, depth + 1) + self.render(node.orelse, depth + 1)
        if isinstance(node, ast.Name | ast.Attribute):
            known = self.constant(node.id if isinstance(node, ast.Name) else node.attr)
            return self.render(known, depth + 1) if known is not None else []
        if isinstance(node, ast.Call):
            called = _called_name(node)
            if called == "format" and isinstance(node.func, ast.Attribute):
                return self.render(node.func.value, depth + 1)
            texts = [t for r in self.functions.get(called, []) for t in self.render(r, depth + 1)]
            return [t for t in texts if len(t) > 12]
        return []

    def _placeholder(self, node: ast.expr, depth: int) -> list[str]:
        """A value inside a message: short literal alternatives as written, else `<name>`."""
        if isinstance(node, ast.IfExp):
            options = self.render(node.body, depth + 1) + self.render(node.orelse, depth + 1)
            if options and all(len(o) <= 40 for o in options):
                return [options[0]]
        if isinstance(node, ast.Call) and _called_name(node) == "count" and node.args:
            noun = node.args[1] if len(node.args) > 1 else None
            if isinstance(noun, ast.Constant) and isinstance(noun.value, str):
                return [f"<n> {noun.value}"]
        if isinstance(node, ast.Name) and node.id.isupper():
            known = self.constant(node.id)
            if isinstance(known, ast.Constant) and isinstance(known.value, str):
                return [known.value]  # FIELD -> dataset_url
        if isinstance(node, ast.Call):
            if _called_name(node) == "len":
                return ["<n>"]
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Name | ast.Attribute):
                node = first
        name = node
        while isinstance(name, ast.Attribute | ast.Subscript | ast.Call):
            name = name.func if isinstance(name, ast.Call) else name.value
        if isinstance(node, ast.Attribute) and not node.attr.startswith("_"):
            return [f"<{node.attr}>"]
        if isinstance(name, ast.Name):
            return [f"<{name.id}>"]
        return ["<...>"]


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _message_arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


@dataclass(frozen=True)
class _Helper:
    """A function that files a dataset finding with a message it is given (`_fatal(report,
    code, message)`): calls to it are findings too. `wrapper` is the finding's own text
    around the given one, with `<param>` where it goes."""

    index: int
    param: str
    severity: str
    wrapper: ast.expr


def _finding_helpers(trees: list[tuple[str, ast.Module]]) -> tuple[dict[str, _Helper], set[int]]:
    """The helpers by name, and the ids of the `Finding` calls inside them (their text is
    listed through each caller instead)."""
    helpers: dict[str, _Helper] = {}
    inside: set[int] = set()
    for _name, tree in trees:
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            params = [a.arg for a in func.args.args]
            for call in ast.walk(func):
                if not (isinstance(call, ast.Call) and _called_name(call) == "Finding"):
                    continue
                text = _message_arg(call, 1, "message")
                used = {n.id for n in ast.walk(text) if isinstance(n, ast.Name)} if text else set()
                param = next((p for p in params if p in used), None)
                if text is None or param is None:
                    continue
                body = ast.unparse(func)
                severity = (
                    "error" if ".errors" in body else "warning" if ".warnings" in body else "note"
                )
                helpers[func.name] = _Helper(params.index(param), param, severity, text)
                inside.add(id(call))
    return helpers, inside


def messages() -> list[Message]:
    """Every message of the product, deduplicated, in the order of the code."""
    return list(_messages_under(ROOT))


@functools.cache
def _messages_under(root: Path) -> tuple[Message, ...]:
    """Read once per checkout: parsing the whole product takes seconds."""
    trees = list(_sources(root))
    classes = _error_classes(trees)
    texts = _Texts(trees)
    helpers, inside = _finding_helpers(trees)
    seen: dict[tuple[str, str], Message] = {}
    for module, tree in trees:
        texts.current = module
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in inside:
                continue
            called = _called_name(node)
            found: list[tuple[str, str, ast.expr | None]] = []
            if called == "ValueError" and module.startswith(VALIDATORS):
                # A validator's sentence, shown after the setting's name ("trigger_word: ...").
                found.append(("error 2", "ValueError", _message_arg(node, 0, "message")))
            elif called in classes:
                arg = _message_arg(node, 0, "message")
                hint = next((k.value for k in node.keywords if k.arg == "hint"), None)
                found.append((f"error {classes[called]}", called, arg))
                if arg is not None and hint is not None:
                    spaced = ast.BinOp(arg, ast.Add(), ast.Constant(" "))  # SD35LError.__str__
                    found[-1] = (found[-1][0], called, ast.BinOp(spaced, ast.Add(), hint))
            elif called in FINDING_CALLS and _is_finding(node, called):
                severity = "error" if called == "Finding" else _constant(node.args[0])
                code = _constant(node.args[0 if called == "Finding" else 1])
                arg = _message_arg(node, FINDING_CALLS[called], "message")
                found.append((severity or "finding", code or "", arg))
            elif called in helpers:
                helper = helpers[called]
                given = _message_arg(node, helper.index, helper.param)
                if given is not None:
                    wrapped = _substitute(helper.wrapper, helper.param, given)
                    found.append((helper.severity, called, wrapped))
            for kind, code, arg in found:
                for text in texts.render(arg) if arg is not None else []:
                    text = " ".join(text.split())
                    if text:
                        seen.setdefault((text, kind), Message(text, kind, code, module))
    return tuple(seen.values())


def _substitute(template: ast.expr, param: str, given: ast.expr) -> ast.expr:
    """`template` with the parameter `param` replaced by the expression a caller gave."""

    class Swap(ast.NodeTransformer):
        def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
            if isinstance(node.value, ast.Name) and node.value.id == param:
                return given if isinstance(given, ast.Constant) else node
            return node

    if isinstance(template, ast.Name) and template.id == param:
        return given
    if isinstance(template, ast.JoinedStr) and not isinstance(given, ast.Constant):
        # Keep the wrapper's words; the given text may itself be an f-string: splice it in.
        values: list[ast.expr] = []
        for value in template.values:
            is_param = isinstance(value, ast.FormattedValue) and (
                isinstance(value.value, ast.Name) and value.value.id == param
            )
            if is_param and isinstance(given, ast.JoinedStr):
                values.extend(given.values)
            else:
                values.append(value)
        return ast.JoinedStr(values=values)
    swapped = Swap().visit(ast.parse(ast.unparse(template), mode="eval").body)
    return swapped if isinstance(swapped, ast.expr) else template


def _constant(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_finding(call: ast.Call, called: str) -> bool:
    """`Finding("code", text)` or `x.add("error"|"warning"|"note", "code", text)`."""
    if called == "Finding":
        return len(call.args) >= 2 and _constant(call.args[0]) is not None
    return len(call.args) >= 3 and _constant(call.args[0]) in ("error", "warning", "note")
