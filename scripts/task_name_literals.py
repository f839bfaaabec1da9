"""Where each registered task's name (or alias) is written as a string literal in ``src/xstilts``, docstrings aside.

A task is declared once: its name should appear only in its own module and in the benchmark definitions
(:mod:`xstilts.xtreme`). ``tests/test_architecture.py`` checks the same.

    python scripts/task_name_literals.py            # every task: the files naming it
    python scripts/task_name_literals.py --strays   # only files other than the task's module and xstilts/xtreme/
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _docstring_ids(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def literal_sites(src: Path, names: dict[str, str]) -> dict[str, set[str]]:
    """``{task: {files (relative to *src*) where a string literal equals its name or an alias}}``; *names* maps
    every name and alias to its task."""
    sites: dict[str, set[str]] = {t: set() for t in set(names.values())}
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstring_ids(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                task = names.get(node.value)
                if task is not None:
                    sites[task].add(str(path.relative_to(src)))
    return sites


def task_modules() -> tuple[dict[str, str], dict[str, str]]:
    """``({name or alias: task}, {task: its module's file, relative to the package})``."""
    import xstilts
    from xstilts.tasks import ALIASES, REGISTRY

    root = Path(xstilts.__file__).parent
    names = {n: n for n in REGISTRY} | dict(ALIASES)
    files = {}
    for n, t in REGISTRY.items():  # Task.module: the module that registered the task
        path = Path(sys.modules[t.module].__file__) if t.module in sys.modules else None
        files[n] = str(path.relative_to(root)) if path and path.is_relative_to(root) else "?"
    return names, files


def strays() -> dict[str, list[str]]:
    import xstilts

    names, files = task_modules()
    sites = literal_sites(Path(xstilts.__file__).parent, names)
    return {t: sorted(f for f in fs if f != files.get(t) and not f.startswith("xtreme/"))
            for t, fs in sorted(sites.items()) if any(f != files.get(t) and not f.startswith("xtreme/") for f in fs)}


if __name__ == "__main__":
    import xstilts

    if "--strays" in sys.argv:
        for t, fs in strays().items():
            print(f"{t:25s} {' '.join(fs)}")
    else:
        names, files = task_modules()
        for t, fs in sorted(literal_sites(Path(xstilts.__file__).parent, names).items()):
            print(f"{t:25s} [{files.get(t)}] {' '.join(sorted(fs))}")
