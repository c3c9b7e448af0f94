"""Layers point one way: ``core`` never imports the screen, and its modules import each other without a cycle.

An AST scan of every ``.py`` under ``core/`` (not grep: a word in a docstring, a comment or a
string is not an import). Two rules:

- no module of ``core`` imports ``dashboard``, ``pages`` or ``streamlit``, at module level or
  inside a function (figures live in ``core.figures``, below both the report and the pages);
- the module-level imports among ``core``'s modules form no cycle. Imports inside a function
  (or under ``if TYPE_CHECKING:``) run later, so they may point anywhere in ``core``.

An import counts as an edge to the module it names: ``from core.tasks.base import TaskData`` points
at ``core.tasks.base``, ``from core import atomic`` at ``core.atomic``, ``from core.tasks import
prepare_task`` at ``core.tasks`` (its ``__init__``). The parent packages Python initialises on the
way are not edges of their own: a package's ``__init__`` importing its submodules is no cycle until
a submodule imports a name back from that ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("dashboard", "pages", "streamlit")  # the screen: core must work without it


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module (or package), dotted and absolute
    line: int
    lazy: bool  # inside a function or under TYPE_CHECKING: not run when the module is imported


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the ``core`` package under ``root``: dotted name -> file."""
    out = {}
    for path in sorted((root / "core").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _from_base(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of ``from <base> import ...``, relative imports resolved against ``package``."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    anchor = parts[:len(parts) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, modules: set[str]) -> list[Import]:
    """The imports in one module, each resolved to a module name, marked lazy when they do not run at import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(name, a.name, child.lineno, lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _from_base(child, package)
                for a in child.names:  # `from core import atomic` names a submodule, not an attribute
                    sub = f"{base}.{a.name}"
                    found.append(Import(name, sub if sub in modules else base, child.lineno, lazy))
            elif (isinstance(child, ast.Call) and child.args and isinstance(child.args[0], ast.Constant)
                  and isinstance(child.args[0].value, str)
                  and getattr(child.func, "attr", getattr(child.func, "id", None)) in ("import_module", "__import__")):
                found.append(Import(name, child.args[0].value, child.lineno, lazy))
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), lazy)
            else:
                visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def scan(root: Path) -> tuple[dict[str, Path], list[Import]]:
    modules = module_names(root)
    names = set(modules)
    return modules, [imp for name, path in modules.items() for imp in imports_of(name, path, names)]


def forbidden_imports(found: list[Import]) -> list[Import]:
    """The imports of the screen (``dashboard``, ``pages``, ``streamlit``), wherever they stand."""
    return [imp for imp in found if imp.target.split(".")[0] in FORBIDDEN]


def module_graph(modules: dict[str, Path], found: list[Import]) -> dict[str, set[str]]:
    """Module-level import edges among ``core``'s modules (lazy imports and other packages left out)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in found:
        if not imp.lazy and imp.target in graph:
            graph[imp.module].add(imp.target)
    return graph


def _components(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's strongly connected components (small graph: recursion is fine)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def connect(v: str) -> Iterator[list[str]]:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                yield from connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            yield sorted(component)

    for v in sorted(graph):
        if v not in index:
            yield from connect(v)


def _shortest_cycle(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """The shortest path ``[start, ..., start]`` inside ``members`` (breadth first)."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is on no cycle")  # never: every member of a component reaches every other


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, as a path ``[a, b, ..., a]``."""
    return [_shortest_cycle(graph, c[0], set(c)) for c in _components(graph)
            if len(c) > 1 or c[0] in graph[c[0]]]


# ---- the rules, on this repository ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def core_scan() -> tuple[dict[str, Path], list[Import]]:
    return scan(ROOT)


def test_the_scan_sees_every_module_of_core_and_their_imports(core_scan):
    modules, found = core_scan
    assert {"core", "core.config", "core.figures.style", "core.report.experiment"} <= set(modules)
    assert len(modules) == len(list((ROOT / "core").rglob("*.py")))
    assert any(imp.module == "core.figures.comparison" and imp.target == "core.figures.style" for imp in found)


def test_no_module_in_core_imports_the_dashboard_the_pages_or_streamlit(core_scan):
    modules, found = core_scan
    bad = [f"{modules[imp.module].relative_to(ROOT)}:{imp.line} imports {imp.target}"
           + (" (inside a function)" if imp.lazy else "") for imp in forbidden_imports(found)]
    assert not bad, "core must not import the screen:\n" + "\n".join(bad)


def test_core_modules_import_each_other_without_a_cycle_at_module_level(core_scan):
    found = cycles(module_graph(*core_scan))
    assert not found, "module-level import cycles in core:\n" + "\n".join(" -> ".join(c) for c in found)


# ---- the scan itself, on a small made-up package ----------------------------------------------------------------

def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_scan_finds_a_module_level_cycle_but_not_a_lazy_one_nor_a_package_importing_its_own_parts(tmp_path):
    write_tree(tmp_path, {
        "core/__init__.py": "",
        "core/tasks/__init__.py": "from core.tasks.synthetic import make\n\ndef prepare_task():\n    pass\n",
        "core/tasks/synthetic.py": "from core.tasks import prepare_task\n\ndef make():\n    pass\n",
        "core/tasks/base.py": "X = 1\n",
        "core/jobs/__init__.py": "from core.jobs import store\n",  # a package importing its own submodule
        "core/jobs/store.py": "from core.jobs.lifecycle import run\n",
        "core/jobs/lifecycle.py": "def run():\n    from core.jobs.store import Run  # lazy: not a cycle\n",
        "core/a.py": "from . import b\n",  # relative: core.b
        "core/b.py": "import core.a\n",
    })
    found = cycles(module_graph(*scan(tmp_path)))
    assert sorted(found) == [["core.a", "core.b", "core.a"], ["core.tasks", "core.tasks.synthetic", "core.tasks"]]


def test_the_scan_flags_the_screen_at_module_level_and_in_a_function_but_not_in_text(tmp_path):
    write_tree(tmp_path, {
        "core/__init__.py": '"""Never imports streamlit; see dashboard."""\n',
        "core/page.py": "import streamlit as st\n",
        "core/report.py": "def draw():\n    from dashboard import charts\n",
        "core/dynamic.py": "import importlib\n\ndef load():\n    return importlib.import_module('pages.train')\n",
        "core/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import streamlit\n",
        "core/text.py": "# import streamlit\nNOTE = 'from dashboard import state'\n",
        "core/names.py": "from core import dashboard_helpers\n",  # a name that only starts like the screen
    })
    bad = {(imp.module, imp.target, imp.lazy) for imp in forbidden_imports(scan(tmp_path)[1])}
    assert bad == {("core.page", "streamlit", False), ("core.report", "dashboard", True),
                   ("core.dynamic", "pages.train", True), ("core.typed", "streamlit", True)}
