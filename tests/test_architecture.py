"""The import rules of the package, read from the source with ``ast`` (no module is imported).

Every ``import`` counts, inside functions too (a lazy import is still a dependency); imports under
``if TYPE_CHECKING:`` do not, as they never run. Relative imports are resolved, and
``from pkg import name`` where ``name`` is a submodule counts as importing that submodule.
The rules are one table, ``FORBIDDEN``: a package (or module) and what it must never import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "vit_tui"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# importer (a package or module, with everything under it) -> the packages it must never import.
# Lower layers first: data and model know nothing of training, studies or the interfaces.
BASE = ("vit_tui.errors", "vit_tui.files", "vit_tui.outputs", "vit_tui.schemas", "vit_tui.locks", "vit_tui.run_layout",
        "vit_tui.figures", "vit_tui.sizes")  # fmt: skip
"""The floor everything stands on: errors, writing files, output paths, schemas, locks, file names, figure style."""
ABOVE_BASE = ("vit_tui.config", "vit_tui.presets", "vit_tui.data", "vit_tui.model", "vit_tui.engine", "vit_tui.study",
              "vit_tui.views", "vit_tui.tui", "vit_tui.commands", "vit_tui.cli")  # fmt: skip
UPPER = ("vit_tui.engine", "vit_tui.study", "vit_tui.views", "vit_tui.tui", "vit_tui.commands", "vit_tui.cli")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    **{module: ABOVE_BASE for module in BASE},
    "vit_tui.config": UPPER,
    "vit_tui.presets": UPPER,
    "vit_tui.data": ("vit_tui.engine", "vit_tui.study", "vit_tui.tui", "vit_tui.commands", "vit_tui.cli"),
    "vit_tui.model": ("vit_tui.data", "vit_tui.engine", "vit_tui.study", "vit_tui.tui", "vit_tui.commands"),
    "vit_tui.engine": ("vit_tui.tui", "vit_tui.commands", "vit_tui.cli"),
    "vit_tui.study": ("vit_tui.tui", "vit_tui.commands", "vit_tui.cli"),
    "vit_tui.tui": ("vit_tui.commands", "vit_tui.cli"),
    "vit_tui.views": ("vit_tui.tui", "vit_tui.commands", "vit_tui.cli", "textual"),
}

ENGINE_FLOORS: dict[str, int] = {
    "device": 0, "telemetry": 0,
    "runs": 1,
    "infer": 2,
    "report": 3, "parallel": 3,
    "train": 4, "deploy": 4,
    "doctor": 5,
}  # fmt: skip
"""The engine's packages by floor: a package imports only packages on lower floors (and itself).
The trainer writes the report when a run ends and starts process groups, so report and parallel
sit below train; deploy and report load models through infer."""
UI_LIBRARIES = ("textual", "rich")
HEADLESS = (
    "vit_tui.data",
    "vit_tui.model",
    "vit_tui.engine",
    "vit_tui.study",
    "vit_tui.files",
    "vit_tui.outputs",
    "vit_tui.schemas",
    "vit_tui.errors",
    "vit_tui.locks",
    "vit_tui.config",
    "vit_tui.presets",
)
"""Packages and modules that run without a terminal UI: they never import ``UI_LIBRARIES``."""


def rules() -> list[tuple[str, tuple[str, ...]]]:
    """(importer, what it must not import): the layer table, then the headless ones."""
    return [*FORBIDDEN.items(), *((name, UI_LIBRARIES) for name in HEADLESS)]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (their ``else`` branch does run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (``from ..x import y`` inside ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str) -> set[str]:
    """The modules ``module`` imports at run time (third-party ones by their full dotted name)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES)
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_rule_table_names_real_packages():
    named = {name for importer, targets in rules() for name in (importer, *targets) if name not in UI_LIBRARIES}
    assert sorted(name for name in named if name not in MODULES) == []


# Rules broken today, each fixed by a part of the restructuring still to land (then removed here).
KNOWN_BREAKS: dict[tuple[str, str], str] = {}


def _rule_cases() -> list:
    cases = []
    for importer, forbidden in rules():
        kind = "headless" if forbidden == UI_LIBRARIES else "layers"
        reason = KNOWN_BREAKS.get((importer, kind))
        marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
        cases.append(pytest.param(importer, forbidden, id=f"{importer}-{kind}", marks=marks))
    return cases


@pytest.mark.parametrize(("importer", "forbidden"), _rule_cases())
def test_no_module_imports_what_its_layer_forbids(importer: str, forbidden: tuple[str, ...]):
    broken = [
        f"{module} imports {target}"
        for module in MODULES
        if _under(module, importer)
        for target in sorted(imports_of(module))
        if any(_under(target, name) for name in forbidden)
    ]
    assert broken == [], f"{importer} must not import {', '.join(forbidden)}:\n" + "\n".join(broken)


def _graph() -> dict[str, set[str]]:
    """module -> the other vit_tui modules it imports (its own enclosing packages left out: they are running)."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        edges = set()
        for target in imports_of(module):
            if target in MODULES and target != module and not _under(module, target):
                edges.add(target)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]`` when the graph has none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_find_cycle_finds_one_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def _engine_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["vit_tui", "engine"] else None


def test_every_engine_package_has_a_floor():
    packages = {_engine_package(m) for m in MODULES} - {None}
    assert packages == set(ENGINE_FLOORS)


def test_engine_packages_import_only_lower_floors():
    broken = []
    for module in MODULES:
        own = _engine_package(module)
        if own is None:
            continue
        for target in sorted(imports_of(module)):
            other = _engine_package(target)
            if other is not None and other != own and ENGINE_FLOORS[other] >= ENGINE_FLOORS[own]:
                broken.append(f"{module} ({own}, floor {ENGINE_FLOORS[own]}) imports {target} (floor {ENGINE_FLOORS[other]})")
    assert broken == [], "\n".join(broken)


def test_config_takes_from_data_and_model_only_modules_that_import_nothing_of_ours():
    """Settings sit below data and model, which read them; what config needs from those (the augmentation
    names, the size estimate) lives in leaf modules of theirs, so no cycle can form through them."""
    leaves_used = {
        target
        for module in MODULES
        if _under(module, "vit_tui.config")
        for target in imports_of(module)
        if target in MODULES and (_under(target, "vit_tui.data") or _under(target, "vit_tui.model"))
    }
    assert leaves_used, "the rule has nothing to check"
    not_leaves = {t: sorted(i for i in imports_of(t) if i.startswith(PACKAGE + ".")) for t in leaves_used}
    assert {t: i for t, i in not_leaves.items() if i} == {}


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(_graph())
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def test_no_module_over_the_line_limit():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_the_line_limit():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert long == [], "\n".join(long)
