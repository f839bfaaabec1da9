"""Task registry: every task is declared once (reader, head kind, metric, languages, roles).

Every module of this package is imported automatically (:func:`_import_package_modules`), and so is every ``*.py``
file in the folders of ``$XSTILTS_TASK_PATH`` (:func:`discover`): a task is added by adding a module that calls
:func:`register` (and, for a new kind of task, :func:`register_family`). Nothing else needs editing.

>>> from xstilts.tasks import get_task
>>> get_task("xnli").metric
'accuracy'
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path

from ..errors import ConfigError
from .base import (INTERMEDIATE, TARGET, Download, EmbeddingFamily, EmbeddingResult, ExampleData, Family, HFSource,
                   Task, TrainableFamily)

REGISTRY: dict[str, Task] = {}
ALIASES: dict[str, str] = {}
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Register the shared code of one task kind (featurisation, head, loss, decoding, metric)."""
    if family.kind in FAMILIES:
        raise ValueError(f"task family {family.kind!r} is registered twice")
    FAMILIES[family.kind] = family
    return family


def get_family(kind: str) -> Family:
    return FAMILIES[kind]


def register(task: Task, aliases: tuple[str, ...] = ()) -> Task:
    """Add *task* to the registry (under its name and *aliases*), recording the calling module as
    :attr:`Task.module`; a duplicate name is a programming error (:class:`ValueError`)."""
    if not task.module:
        task = dataclasses.replace(task, module=sys._getframe(1).f_globals.get("__name__", ""))
    for key in (task.name, *aliases):
        if key in REGISTRY or key in ALIASES:
            raise ValueError(f"task {key!r} is registered twice")
    REGISTRY[task.name] = task
    for a in aliases:
        ALIASES[a] = task.name
    return task


def get_task(name: str) -> Task:
    """The registered task called *name* (or an alias); raises :class:`ConfigError` with close matches."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in REGISTRY:
        return REGISTRY[key]
    close = difflib.get_close_matches(key, list(REGISTRY) + list(ALIASES), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    raise ConfigError(f"unknown task {name!r}{hint}; `xstilts tasks` lists them")


def all_tasks() -> list[Task]:
    return sorted(REGISTRY.values(), key=lambda t: (t.kind, t.name))


# ----------------------------------------------------------------------------------------------- discovery
#: Environment variable: folders (``os.pathsep``-separated) whose ``*.py`` files are task modules too.
TASK_PATH_ENV = "XSTILTS_TASK_PATH"
#: Modules that are not task modules (shared code of the package); ``families`` is imported first, by itself.
_NOT_TASKS = {"base", "families"}


def _import_package_modules() -> None:
    """Import every module of this package (fairseq's ``import_tasks``, lm-eval's task folder): a task module
    registers its tasks on import, so adding a task is adding a module. The task families
    (:mod:`xstilts.tasks.families`) are imported first."""
    importlib.import_module(f"{__name__}.families")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_TASKS:
            continue
        importlib.import_module(f"{__name__}.{info.name}")


_LOADED_FILES: set[str] = set()


def discover(folder: str | os.PathLike) -> list[str]:
    """Import every ``*.py`` file of *folder* (not starting with ``_``) as a task module, once per file; returns the
    names of the tasks they registered. The folders in ``$XSTILTS_TASK_PATH`` are discovered at import."""
    before = set(REGISTRY)
    for path in sorted(Path(folder).glob("*.py")):
        key = str(path.resolve())
        if path.name.startswith("_") or key in _LOADED_FILES:
            continue
        _LOADED_FILES.add(key)
        name = f"xstilts_task_modules.{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sorted(set(REGISTRY) - before)


_import_package_modules()
for _folder in filter(None, os.environ.get(TASK_PATH_ENV, "").split(os.pathsep)):
    discover(_folder)

__all__ = ["INTERMEDIATE", "TARGET", "Family", "HFSource", "Task", "REGISTRY", "FAMILIES", "register",
           "register_family", "get_task", "get_family", "all_tasks", "discover", "Download", "ExampleData",
           "TrainableFamily", "EmbeddingFamily", "EmbeddingResult"]
