"""Task registry: every task is declared once (reader, head kind, metric, languages, roles).

>>> from xstilts.tasks import get_task
>>> get_task("xnli").metric
'accuracy'
"""

from __future__ import annotations

import difflib

from ..errors import ConfigError
from .base import INTERMEDIATE, TARGET, Family, HFSource, Task

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
    """Add *task* to the registry (under its name and *aliases*); a duplicate name is a programming error."""
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


# task family modules register their tasks on import
from . import classification as _classification  # noqa: E402,F401
from . import multiple_choice as _multiple_choice  # noqa: E402,F401
from . import mlm as _mlm  # noqa: E402,F401
from . import qa as _qa  # noqa: E402,F401
from . import retrieval as _retrieval  # noqa: E402,F401
from . import retrieval_xtreme_r as _retrieval_xtreme_r  # noqa: E402,F401
from . import tagging as _tagging  # noqa: E402,F401

__all__ = ["INTERMEDIATE", "TARGET", "Family", "HFSource", "Task", "REGISTRY", "FAMILIES", "register",
           "register_family", "get_task", "get_family", "all_tasks"]
