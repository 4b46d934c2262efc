"""Dependencies run one way: no import cycle between our modules, and function-level imports are the exception.

An `ast` walk over our packages (no import of them, so no settings are needed). A module-level import is one that
runs when the module is imported: the module's body, `if`/`try` blocks and class bodies, but not function bodies and
not `if TYPE_CHECKING:` blocks. A cycle among those fails with the modules it goes through.

A function-level import of one of our modules (the usual way to hide a cycle) must say why, in a comment on the same
line or the line before, or be listed in ALLOWED below with its reason (files other areas own, for now).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assist", "bench", "customers", "interactions", "omnidesk", "reporting", "routing")

# (file, imported module) → why the import sits in a function, for an import whose file cannot say why beside it.
# Empty: the imports that hid a cycle are gone (a service enqueues its own task by name, omnidesk.celery), and the
# others are module-level imports now or say why beside them.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


MODULES = {module_name(path): path for path in our_files()}


def imported_modules(node: ast.Import | ast.ImportFrom, current: str, is_package: bool) -> list[str]:
    """Our modules an import statement loads: `from a import b` is module a.b if that is a module, else a."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = current.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
            base = ".".join([*anchor, base] if base else anchor)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    found = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name not in found:
            found.append(name)
    return found


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not is_type_checking(node.test):
                yield from module_level_imports(node.body)
            yield from module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from module_level_imports(block)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from module_level_imports(node.body)


@dataclass(frozen=True)
class LateImport:
    file: str
    line: int
    module: str
    function: str


def function_level_imports(tree: ast.Module, current: str, is_package: bool, file: str) -> Iterator[LateImport]:
    def walk(node: ast.AST, function: str | None) -> Iterator[LateImport]:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if function is not None and isinstance(child, ast.Import | ast.ImportFrom):
                for module in imported_modules(child, current, is_package):
                    yield LateImport(file, child.lineno, module, function)
            yield from walk(child, inner)

    yield from walk(tree, None)


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        edges[name] = {
            target
            for node in module_level_imports(tree.body)
            for target in imported_modules(node, name, is_package)
            if target != name
        }
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as one cycle through them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [path_through(component, edges) for component in components]


def path_through(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One concrete cycle inside `component`, from its first module back to it (breadth first: the shortest)."""
    start = component[0]
    members = set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(edges[node] & members):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return component


def test_it_finds_no_import_cycle_between_our_modules() -> None:
    found = cycles(graph())
    assert found == [], "import cycles (module-level imports):\n" + "\n".join(" → ".join(c) for c in found)


def test_it_finds_a_cycle_when_there_is_one() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c", "a"]]


def has_reason(lines: list[str], line: int) -> bool:
    same = lines[line - 1]
    before = lines[line - 2].strip() if line >= 2 else ""
    return "#" in same or before.startswith("#")


def unexplained_late_imports() -> list[LateImport]:
    missing = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        file = str(path.relative_to(ROOT))
        for late in function_level_imports(ast.parse(text), name, path.name == "__init__.py", file):
            if late.function == "ready" and path.name == "apps.py":
                continue  # AppConfig.ready: Django's documented place for imports that need the loaded apps
            if file.startswith("bench/"):
                continue  # benchmarks are scripts: they configure Django first, then import the apps they measure
            if (late.file, late.module) in ALLOWED or has_reason(lines, late.line):
                continue
            missing.append(late)
    return missing


def test_it_finds_a_reason_beside_every_function_level_import_of_our_modules() -> None:
    missing = unexplained_late_imports()
    assert missing == [], "function-level imports without a reason comment:\n" + "\n".join(
        f"{m.file}:{m.line} imports {m.module} in {m.function}()" for m in missing
    )


def test_it_keeps_the_allow_list_to_imports_that_still_exist() -> None:
    present = {
        (late.file, late.module)
        for name, path in MODULES.items()
        for late in function_level_imports(
            ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", str(path.relative_to(ROOT))
        )
    }
    assert sorted(set(ALLOWED) - present) == []
