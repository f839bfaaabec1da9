"""The package's import graph: no import cycles (module- or function-level imports alike), and no library module
imports the CLI (``xstilts.cli``), so that the library can be used, tested and changed without the command line.

The graph is read from the source (AST), without importing anything (:func:`runtime_graph` adds what Python runs
without an import statement naming it: parent packages and the registry's automatic imports): every ``import`` / ``from ... import`` anywhere
in a module (also inside functions) is an edge to the innermost module of the package it names. A submodule
importing its own package (``from . import x`` inside ``xstilts/tasks/tydiqa.py``) is not an edge, so a package that
imports its submodules is not a cycle by itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import xstilts

SRC = Path(xstilts.__file__).resolve().parent.parent
PKG = "xstilts"
#: modules allowed to import the CLI: the CLI itself and ``python -m xstilts``
CLI_USERS = (f"{PKG}.__main__",)


def _modules(src: Path, pkg: str) -> dict[str, Path]:
    mods = {}
    for path in (src / pkg).rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imported_names(module: str, is_package: bool, node: ast.AST) -> list[str]:
    """The dotted names an import statement refers to (for ``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            name = ".".join(base + ([node.module] if node.module else []))
        else:
            name = node.module or ""
        return [name] + [f"{name}.{a.name}" for a in node.names]
    return [a.name for a in node.names]


def import_graph(src: Path = SRC, pkg: str = PKG) -> dict[str, set[str]]:
    """``{module: modules of *pkg* it imports anywhere in its source}``."""
    mods = _modules(src, pkg)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported_names(m, path.name == "__init__.py", node):
                while name and name not in mods:
                    name = name.rpartition(".")[0]
                if name and name != m and not m.startswith(name + "."):
                    graph[m].add(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_the_walker_finds_function_level_cycles(tmp_path):
    pkg = tmp_path / "demo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")  # a function-level import
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "c.py").write_text("import demo.sub.d\n")
    (pkg / "sub" / "__init__.py").write_text("from . import d\n")  # a package importing its submodule ...
    (pkg / "sub" / "d.py").write_text("import demo.sub\nfrom demo import errors\n")  # ... and being imported back
    (pkg / "errors.py").write_text("")
    graph = import_graph(tmp_path, "demo")
    assert graph["demo.a"] == {"demo.b"} and graph["demo.b"] == {"demo.a"}
    assert graph["demo.c"] == {"demo.sub.d"} and graph["demo.sub.d"] == {"demo.errors"}
    assert cycles(graph) == [["demo.a", "demo.b"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_library_never_imports_the_cli():
    graph = import_graph()
    cli = {m for m in graph if m == f"{PKG}.cli" or m.startswith(f"{PKG}.cli.")}
    assert cli, "the CLI package was not found"
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts
                 if t in cli and m not in cli and m not in CLI_USERS)
    assert not bad, "library modules importing the CLI: " + ", ".join(bad)


def test_the_entry_point_is_the_cli_app():
    import tomllib

    pyproject = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"]["xstilts"] == "xstilts.cli:app"
    from xstilts.cli import app

    assert app.registered_commands and app.registered_groups


def runtime_graph(src: Path = SRC, pkg: str = PKG) -> dict[str, set[str]]:
    """:func:`import_graph` plus what Python also runs on import: importing ``a.b.c`` executes the packages ``a.b``
    (and ``a``) first, so a module depends on the packages above what it imports; and a package that imports its
    modules automatically (the task registry, :mod:`xstilts.tasks`, and :mod:`xstilts.tasks.families`) depends on
    each of them, although no ``import`` statement names them."""
    graph = import_graph(src, pkg)
    for m in list(graph):
        for t in list(graph[m]):
            parts = t.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent in graph and parent != m and not m.startswith(parent + "."):
                    graph[m].add(parent)
    for package in (f"{pkg}.tasks", f"{pkg}.tasks.families"):
        if package not in graph:
            continue
        for m in graph:
            head, _, leaf = m.rpartition(".")
            if head == package and not leaf.startswith("_") and leaf not in ("base", "families"):
                graph[package].add(m)
    return graph


def test_the_runtime_graph_sees_parent_packages_and_automatic_imports(tmp_path):
    pkg = tmp_path / "demo"
    (pkg / "tasks").mkdir(parents=True)
    (pkg / "dl").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks" / "__init__.py").write_text("import importlib\n")  # imports its modules by name, at run time
    (pkg / "tasks" / "one.py").write_text("from ..dl import fmt\n")
    (pkg / "dl" / "__init__.py").write_text("from .. import tasks\n")  # the hidden way back
    (pkg / "dl" / "fmt.py").write_text("")
    assert cycles(import_graph(tmp_path, "demo")) == []
    assert cycles(runtime_graph(tmp_path, "demo")) == [["demo.dl", "demo.tasks", "demo.tasks.one"]]


def test_no_import_cycles_at_run_time():
    found = cycles(runtime_graph())
    assert not found, "import cycles (parent packages and automatic imports counted): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_a_task_is_named_only_in_its_own_module_and_the_benchmark_definitions():
    """Every registered task's name (and alias) is written as a string literal, docstrings aside, only in the module
    that registers it and in :mod:`xstilts.xtreme` (XTREME / XTREME-R: their task lists, languages, scoring)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("task_name_literals", SRC.parent / "scripts" / "task_name_literals.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    names, files = mod.task_modules()
    assert "?" not in files.values()
    assert len(set(files.values())) >= 25  # one module per task or data set, not a few family modules
    assert mod.strays() == {}


def test_tydiqa_is_in_two_source_files():
    """The issue's example: everything about TyDiQA-GoldP is in its module; the benchmark definition lists it."""
    hits = sorted(str(p.relative_to(SRC / PKG)) for p in (SRC / PKG).rglob("*.py")
                  if "tydiqa" in p.read_text(encoding="utf-8").lower())
    assert hits == ["tasks/tydiqa.py", "xtreme/benchmark.py"]
