"""Layers point one way, counting every import: no cycle, no upward arrow, no private name across packages.

An AST scan of every ``.py`` under ``core/`` (not grep: a word in a docstring, a comment or a
string is not an import). Every import counts, the ones inside functions (and under ``if
TYPE_CHECKING:``) too: an import moved into a function to dodge a cycle still points where it
points. The rules:

- no module of ``core`` imports ``dashboard``, ``pages`` or ``streamlit`` (figures live in
  ``core.figures``, below both the report and the pages);
- the imports among ``core``'s modules form no cycle;
- each import points to its own layer or a lower one (:data:`LAYERS`): the data never imports the
  models, the models never the run store, the run store never a job, and so on;
- no name starting with ``_`` is imported from another package of ``core`` (``core.data`` and
  ``core.jobs`` are packages; the top-level modules form the package ``core``);
- the states of a run and the names of its files are spelled once, in ``core/jobs/names.py``:
  no other module that deals with runs, no dashboard module and no page writes them out;
- every import of the project's packages, in every folder, names them through ``rnnlab``
  (``rnnlab.core``, ``rnnlab.dashboard``; see rnnlab/__init__.py), and so does every string that
  names one of their modules: a bare ``core.x`` is a second copy of the module in a checkout (a
  monkeypatch of it changes nothing the code sees) and missing from an installed copy.

Modules are named by their folders (``core.jobs.store``): an import of ``rnnlab.core.jobs.store``
points at ``core.jobs.store``. An import counts as an edge to the module it names: ``from
rnnlab.core.tasks.base import TaskData`` points at ``core.tasks.base``, ``from rnnlab.core import
atomic`` at ``core.atomic``, ``from rnnlab.core.tasks import prepare_task`` at ``core.tasks`` (its
``__init__``). The parent packages Python initialises on the way are not edges of their own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnnlab.core.jobs import names

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("dashboard", "pages", "streamlit")  # the screen: core must work without it
OWN = ("core", "dashboard")  # the project's packages: rnnlab.core and rnnlab.dashboard, never bare
FOLDERS = ("core", "dashboard", "pages", "tests", "bench", "rnnlab")  # every folder of Python code

# Lowest first. A module belongs to the layer of the longest prefix that names it. An import may point
# to its own layer or a lower one, never higher.
LAYERS: tuple[tuple[str, ...], ...] = (
    # settings and small tools (the TOML files of sweep specs and of single runs among them)
    ("core", "core.config", "core.paths", "core.atomic", "core.device", "core.tomlfile", "core.config_file"),
    ("core.data",),  # datasets, text pipeline, corpus, batching
    ("core.models",),  # cells, classifiers, checkpoints, GMM-HMM, word2vec vectors
    ("core.training",),  # the trainer and its callbacks
    ("core.tasks",),  # what a model trains on
    # the run store: names, files and their readers, processes, labels; reading and writing run folders
    ("core.jobs.names", "core.jobs.process", "core.jobs.files", "core.jobs.labels", "core.jobs.store"),
    ("core.analysis",),  # gradients through time, introspection, prediction, evaluation (read runs)
    ("core.figures",),  # pure figure builders
    ("core.jobs",),  # running work: the lifecycle, the queue, one module per kind of job, estimates
    ("core.sweep",),  # grids of runs
    ("core.report",),  # the seed experiment and exports
    ("core.cliargs", "core.app", "core.__main__", "core.console"),  # the command line
)
# below the run store nothing knows of runs: a "vocab.json" there is a cache's file, not a run's
RUN_UNAWARE = ("core.config", "core.paths", "core.atomic", "core.device", "core.tomlfile", "core.config_file",
               "core.data", "core.models", "core.training", "core.tasks")
# the spelled-out names: every state a run can be in and every file of a run folder
STATE_NAMES = frozenset({*names.STATES, names.CRASHED, names.DAMAGED})
FILE_NAMES = frozenset(v for k, v in vars(names).items() if k.endswith(("_FILE", "_LOG")))


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module (or package), dotted and absolute
    line: int
    lazy: bool  # inside a function or under TYPE_CHECKING: not run when the module is imported
    name: str | None = None  # the name taken from the target (``from X import name``); None for ``import X``
    bare: bool = False  # names core or dashboard without rnnlab (``from core.x import y``)


def module_names(root: Path, folders: tuple[str, ...] = ("core",)) -> dict[str, Path]:
    """Every module under ``root``'s ``folders`` (the ``core`` package by default): dotted name -> file."""
    out = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def layout_name(module: str) -> str:
    """``rnnlab.core.jobs.store`` -> ``core.jobs.store``: the module named by its folder."""
    return module.removeprefix("rnnlab.")


def is_bare(module: str) -> bool:
    """An absolute module name that reaches the project's packages without ``rnnlab``."""
    return module.split(".")[0] in OWN


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
                found.extend(Import(name, layout_name(a.name), child.lineno, lazy, bare=is_bare(a.name))
                             for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _from_base(child, package)
                bare = not child.level and is_bare(base)
                for a in child.names:  # `from rnnlab.core import atomic` names a submodule, not an attribute
                    sub = layout_name(f"{base}.{a.name}")
                    whole = sub in modules or base == "rnnlab"  # `from rnnlab import dashboard`: a package
                    found.append(Import(name, sub if whole else layout_name(base), child.lineno, lazy,
                                        None if whole else a.name, bare))
            elif (isinstance(child, ast.Call) and child.args and isinstance(child.args[0], ast.Constant)
                  and isinstance(child.args[0].value, str)
                  and getattr(child.func, "attr", getattr(child.func, "id", None)) in ("import_module", "__import__")):
                target = child.args[0].value
                found.append(Import(name, layout_name(target), child.lineno, lazy, bare=is_bare(target)))
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
    """Import edges among ``core``'s modules, every import counted (other packages left out)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in found:
        if imp.target in graph:
            graph[imp.module].add(imp.target)
    return graph


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int | None:
    """The index of the layer whose longest prefix names ``module``; None when no layer does."""
    best: tuple[int, int] | None = None
    for i, prefixes in enumerate(layers):
        for prefix in prefixes:
            if module == prefix or (prefix != "core" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    return None if best is None else best[0]


def upward_imports(modules: dict[str, Path], found: list[Import],
                   layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[Import]:
    """The imports among ``core``'s modules that point to a higher layer than their own."""
    return [imp for imp in found if imp.target in modules
            and layer_of(imp.target, layers) > layer_of(imp.module, layers)]


def package_of(module: str) -> str:
    """``core.jobs.store`` -> ``core.jobs``; a top-level module (``core.config``) and ``core`` itself -> ``core``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else "core"


def private_imports(modules: dict[str, Path], found: list[Import]) -> list[Import]:
    """``from <module> import _name`` where the module lies in another package of ``core`` than the importer."""
    return [imp for imp in found if imp.target.split(".")[0] == "core" and imp.name is not None
            and imp.name.startswith("_") and not imp.name.startswith("__")
            and package_of(imp.target if imp.target in modules else imp.target + ".x") != package_of(imp.module)]


def bare_imports(found: list[Import]) -> list[Import]:
    """The imports that name ``core`` or ``dashboard`` without ``rnnlab``."""
    return [imp for imp in found if imp.bare]


DOTTED = re.compile(r"(core|dashboard)(\.[A-Za-z_]\w*)+(:\w+)?")


def bare_module_strings(path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """(line, text) of every string constant in ``path`` that names a module of ``modules`` (or a name in one)
    without ``rnnlab``: ``"core.jobs.process.X"``, ``"core.jobs.rnn:train_job"``; docstrings are prose."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in prose \
                and DOTTED.fullmatch(n.value):
            parts = n.value.split(":")[0].split(".")
            if any(".".join(parts[:i]) in modules for i in range(2, len(parts) + 1)):
                out.append((n.lineno, n.value))
    return sorted(out)


def spelled_names(path: Path, words: frozenset[str]) -> list[tuple[int, str]]:
    """(line, text) of every string constant in ``path`` equal to one of ``words`` (docstrings cannot be: they are
    sentences)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted((n.lineno, n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in words)


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


def _where(modules: dict[str, Path], imp: Import) -> str:
    return f"{modules[imp.module].relative_to(ROOT)}:{imp.line} imports {imp.target}" + (
        f" ({imp.name})" if imp.name else "") + (" inside a function" if imp.lazy else "")


def test_the_scan_sees_every_module_of_core_and_their_imports(core_scan):
    modules, found = core_scan
    assert {"core", "core.config", "core.figures.style", "core.report.experiment"} <= set(modules)
    assert len(modules) == len(list((ROOT / "core").rglob("*.py")))
    assert any(imp.module == "core.figures.comparison" and imp.target == "core.figures.style" for imp in found)
    assert any(imp.lazy for imp in found)  # the command line imports its commands' modules when they run


def test_every_module_of_core_has_a_layer(core_scan):
    modules, _ = core_scan
    assert [m for m in modules if layer_of(m) is None] == []


def test_no_module_in_core_imports_the_dashboard_the_pages_or_streamlit(core_scan):
    modules, found = core_scan
    bad = [_where(modules, imp) for imp in forbidden_imports(found)]
    assert not bad, "core must not import the screen:\n" + "\n".join(bad)


def test_core_modules_import_each_other_without_a_cycle_counting_every_import(core_scan):
    found = cycles(module_graph(*core_scan))
    assert not found, "import cycles in core:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_import_in_core_points_to_a_higher_layer(core_scan):
    modules, found = core_scan
    bad = [_where(modules, imp) for imp in upward_imports(modules, found)]
    assert not bad, "imports that point up (see LAYERS):\n" + "\n".join(bad)


def test_no_private_name_is_imported_from_another_package(core_scan):
    modules, found = core_scan
    bad = [_where(modules, imp) for imp in private_imports(modules, found)]
    assert not bad, "private names imported across packages:\n" + "\n".join(bad)


def test_run_states_and_run_file_names_are_spelled_only_in_core_jobs_names(core_scan):
    modules, _ = core_scan
    aware = [path for name, path in modules.items()
             if name != "core.jobs.names" and not any(name == u or name.startswith(u + ".") for u in RUN_UNAWARE)]
    screens = sorted((ROOT / "dashboard").glob("*.py")) + sorted((ROOT / "pages").glob("*.py"))
    bad = [f"{path.relative_to(ROOT)}:{line} {text!r}" for path in aware + screens
           for line, text in spelled_names(path, STATE_NAMES | FILE_NAMES)]
    assert not bad, "use the constants of core.jobs.names:\n" + "\n".join(bad)


def test_every_import_of_the_project_and_every_module_named_in_a_string_goes_through_rnnlab():
    files = module_names(ROOT, FOLDERS)
    found = [imp for name, path in files.items() for imp in imports_of(name, path, set(files))]
    assert len(found) > 500 and any(imp.target == "core.config" for imp in found)  # the scan sees them
    bad = [_where(files, imp) for imp in bare_imports(found)]
    # this file names modules by their folders (LAYERS): it is the one place where that is the point
    strings = [f"{path.relative_to(ROOT)}:{line} {text!r}" for name, path in files.items()
               if path != Path(__file__).resolve() for line, text in bare_module_strings(path, set(files))]
    assert not bad + strings, ("write rnnlab.core / rnnlab.dashboard (see rnnlab/__init__.py):\n"
                               + "\n".join(bad + strings))


# ---- the scan itself, on a small made-up package ----------------------------------------------------------------

def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_scan_finds_a_cycle_made_through_an_import_inside_a_function_but_not_a_package_importing_its_parts(
        tmp_path):
    write_tree(tmp_path, {
        "core/__init__.py": "",
        "core/tasks/__init__.py": "from core.tasks.synthetic import make\n\ndef prepare_task():\n    pass\n",
        "core/tasks/synthetic.py": "from core.tasks import prepare_task\n\ndef make():\n    pass\n",
        "core/tasks/base.py": "X = 1\n",
        "core/jobs/__init__.py": "from core.jobs import store\n",  # a package importing its own submodule
        "core/jobs/store.py": "from core.jobs.lifecycle import run\n",
        "core/jobs/lifecycle.py": "def run():\n    from core.jobs.store import Run  # in a function: still a cycle\n",
        "core/a.py": "from . import b\n",  # relative: core.b
        "core/b.py": "import core.a\n",
        "core/c.py": "from core import a\n",  # into the a-b cycle, not on it
    })
    found = cycles(module_graph(*scan(tmp_path)))
    assert sorted(found) == [["core.a", "core.b", "core.a"],
                             ["core.jobs.lifecycle", "core.jobs.store", "core.jobs.lifecycle"],
                             ["core.tasks", "core.tasks.synthetic", "core.tasks"]]


def test_an_import_that_points_up_is_found_inside_a_function_too(tmp_path):
    write_tree(tmp_path, {
        "core/__init__.py": "",
        "core/config.py": "X = 1\n",
        "core/data/__init__.py": "",
        "core/data/text.py": "from core.config import X\n",  # down: fine
        "core/data/corpus.py": "def load():\n    from core.models.rnn import Net\n",  # up, hidden in a function
        "core/models/__init__.py": "",
        "core/models/rnn.py": "from core.data import text\n\nclass Net:\n    pass\n",
    })
    modules, found = scan(tmp_path)
    layers = (("core", "core.config"), ("core.data",), ("core.models",))
    assert [(i.module, i.target, i.lazy) for i in upward_imports(modules, found, layers)] == [
        ("core.data.corpus", "core.models.rnn", True)]
    assert layer_of("core.models.rnn", layers) == 2 and layer_of("core.config", layers) == 0
    assert layer_of("core.jobs.store") < layer_of("core.analysis.predict") < layer_of("core.jobs.lifecycle")


def test_a_private_name_is_refused_from_another_package_but_not_from_its_own(tmp_path):
    write_tree(tmp_path, {
        "core/__init__.py": "",
        "core/data/__init__.py": "",
        "core/data/imdb.py": "_KEY = 1\n",
        "core/data/sources.py": "from core.data.imdb import _KEY\n",  # same package: its own business
        "core/jobs/__init__.py": "",
        "core/jobs/estimate.py": "def f():\n    from core.data.imdb import _KEY, __version__\n",
    })
    modules, found = scan(tmp_path)
    assert [(i.module, i.name) for i in private_imports(modules, found)] == [("core.jobs.estimate", "_KEY")]


def test_spelled_names_finds_string_constants_not_words_in_text(tmp_path):
    path = tmp_path / "page.py"
    path.write_text('"""Lists the finished runs."""\nDONE = "finished"\nif state in ("queued", "running"):\n'
                    '    print(f"it {state} finished")\nNOTE = "the config.json file"\nF = "config.json"\n')
    assert spelled_names(path, STATE_NAMES | FILE_NAMES) == [(2, "finished"), (3, "queued"), (3, "running"),
                                                             (6, "config.json")]


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


def test_an_import_through_rnnlab_is_named_by_its_folder_and_a_bare_one_is_found(tmp_path):
    write_tree(tmp_path, {
        "core/__init__.py": "",
        "core/a.py": "from rnnlab.core import b\nimport rnnlab.core.c as c\n",
        "core/b.py": "from core.c import X\n",  # bare: a second copy in a checkout, missing when installed
        "core/c.py": "def f():\n    import core.a\n    from rnnlab import dashboard\n",
        "core/d.py": "import importlib\nM = importlib.import_module('core.a')\nN = 'core.a:f'\nT = 'core.a.X'\n"
                     "U = 'core.pyc'\nV = 'rnnlab.core.a'\n",
        "dashboard/__init__.py": "",
        "dashboard/e.py": "from rnnlab.core.b import X\nfrom dashboard import e\nfrom . import e as same\n",
    })
    files = module_names(tmp_path, ("core", "dashboard"))
    found = [imp for name, path in files.items() for imp in imports_of(name, path, set(files))]
    assert {(i.module, i.target) for i in found if not i.bare} >= {
        ("core.a", "core.b"), ("core.a", "core.c"), ("core.c", "dashboard"), ("dashboard.e", "core.b"),
        ("dashboard.e", "dashboard.e")}
    assert sorted((i.module, i.target, i.line) for i in bare_imports(found)) == [
        ("core.b", "core.c", 1), ("core.c", "core.a", 2), ("core.d", "core.a", 2), ("dashboard.e", "dashboard.e", 2)]
    in_core = [i for i in found if i.module.split(".")[0] == "core"]
    assert [(i.module, i.target) for i in forbidden_imports(in_core)] == [("core.c", "dashboard")]
    assert bare_module_strings(tmp_path / "core" / "d.py", set(files)) == [(2, "core.a"), (3, "core.a:f"),
                                                                          (4, "core.a.X")]


def test_config_imports_the_standard_library_only(core_scan):
    import sys

    _, found = core_scan
    imported = {imp.target.split(".")[0] for imp in found if imp.module == "core.config"}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
