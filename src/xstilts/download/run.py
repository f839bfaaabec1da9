"""``xstilts download``: groups and targets, the plan of one call, running its units (see :mod:`xstilts.download`)."""


from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from ._core import MANIFEST, Manifest, Outcome, Unit, run_unit
from ._net import SourceMissing, SourceUnreachable
from ..xtreme.benchmark import BENCHMARK_TASKS, X_STILTS_INTERMEDIATE_TASKS, benchmark_languages
from .plan import Plan

GROUPS = {**BENCHMARK_TASKS, "intermediate": X_STILTS_INTERMEDIATE_TASKS}

__all__ = ["download", "resolve", "DownloadReport", "GROUPS", "SourceUnreachable", "SourceMissing", "MANIFEST",
           "Manifest"]


Planner = Callable[[Plan, list[str]], None]


def planners() -> dict[str, tuple[tuple[str, ...] | None, Planner]]:
    """``{task: (languages the downloader can fetch or None for English-only, plan(plan, languages))}``: every
    registered task whose module declares a download (:attr:`xstilts.tasks.Task.download`)."""
    from ..tasks import REGISTRY

    return {name: (t.download.languages, t.download.plan) for name, t in REGISTRY.items() if t.download}


@dataclass
class DownloadReport:
    root: Path
    outcomes: list[Outcome] = field(default_factory=list)
    manual: dict[str, str] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)


def resolve(targets: list[str], languages: list[str] | None = None) -> list[tuple[str, list[str]]]:
    """``[(task, languages)]`` for the command's targets: group names expand to their tasks with the benchmark's
    languages (XTREME-R's larger UD-POS, PAN-X, XQuAD and Tatoeba sets), a task name gets the task's languages;
    *languages* restricts every multilingual task to those it has (English-only tasks are unaffected).

    Raises:
        ConfigError: an unknown task or group, a task with no download, a language no requested task has.
    """
    from ..tasks import get_task

    PLANNERS = planners()
    if not targets:
        raise ConfigError("nothing to download: give xtreme, xtreme-r, intermediate and/or task names")
    wanted: dict[str, list[str]] = {}
    explicit: set[str] = set()
    for target in targets:
        key = target.strip().lower()
        if key in GROUPS:
            for name in GROUPS[key]:
                langs = (benchmark_languages(key, name) if key in BENCHMARK_TASKS else None) or get_task(name).languages
                wanted.setdefault(name, [])
                wanted[name] += [x for x in langs if x not in wanted[name]]
            continue
        task = get_task(key)  # ConfigError with close matches for an unknown name
        if task.name not in PLANNERS:
            raise ConfigError(f"task {task.name!r} has no download (it is made by `xstilts prepare`, or has no "
                              f"public source); downloadable: {', '.join(sorted(PLANNERS))}")
        explicit.add(task.name)
        wanted.setdefault(task.name, [])
        wanted[task.name] += [x for x in task.languages if x not in wanted[task.name]]
    out = []
    used: set[str] = set()
    for name, langs in wanted.items():
        supported = PLANNERS[name][0]
        if supported is None:  # English-only data sets
            out.append((name, ["en"]))
            continue
        if languages:
            chosen = [x for x in languages if x in supported]
            bad = [x for x in languages if x not in supported]
            if name in explicit and bad and len(wanted) == 1:
                raise ConfigError(f"--languages {','.join(bad)}: {name} has no such language(s) to download "
                                  f"(it has {' '.join(supported)})")
            used.update(chosen)
            if not chosen:
                continue
            if "en" in supported and "en" not in chosen and get_task(name).trainable:
                chosen = ["en"] + chosen  # the English training (and en dev) data the task trains on
            langs = chosen
        out.append((name, [x for x in langs if x in supported]))
    if languages:
        unused = [x for x in languages if x not in used]
        if unused and any(PLANNERS[n][0] is not None for n in wanted):
            raise ConfigError(f"--languages {','.join(unused)}: none of the requested tasks has data in "
                              f"{'this language' if len(unused) == 1 else 'these languages'}")
    return out


def download(targets: list[str], *, to: str | Path | None = None, languages: list[str] | None = None,
             translate_train: bool = True, force: bool = False,
             log: Callable[[str], None] | None = None) -> DownloadReport:
    """Download *targets* (``xtreme``, ``xtreme-r``, ``intermediate`` and/or task names) into *to* (default: the
    cache data folder), skipping what a manifest verifies unless *force*.

    Raises:
        SourceUnreachable: a source could not be reached (the message names it); what finished is kept.
        XstiltsError: a bad target or language, a source that failed or gave unexpected files.
    """
    from ..paths import data_dir
    from ..tasks import get_task
    from . import _net

    _net.configure_hub_timeouts()
    root = Path(to).expanduser() if to is not None else data_dir()
    plan = Plan(root, translate_train, get_task)
    report = DownloadReport(root)
    table = planners()
    for name, langs in resolve(targets, languages):
        table[name][1](plan, langs)
        report.folders[name] = root / get_task(name).data_subdir
    manifests: dict[Path, Manifest] = {}
    say = log or (lambda _m: None)
    for unit in plan.units:
        outcome = run_unit(unit, manifests, force=force)
        report.outcomes.append(outcome)
        say(describe(outcome))
    report.manual = dict(plan.manual)
    return report


def describe(outcome: Outcome) -> str:
    """One line about a unit's outcome: status, task, what, its sources' revisions and split sizes."""
    unit, entry = outcome.unit, outcome.entry or {}
    if outcome.status == "unavailable":
        return f"  unavailable  {unit.task:<16s} {unit.label}: {outcome.detail}"
    revs = []
    for s in entry.get("sources", []):
        rev = f"{s['id']}@{str(s.get('revision', ''))[:10]}" if s.get("kind") == "hub" else ""
        if rev and rev not in revs:
            revs.append(rev)
    sizes = " ".join(f"{k}={v}" for k, v in entry.get("splits", {}).items())
    status = "downloaded" if outcome.status == "downloaded" else "verified  "
    src = f" [{', '.join(revs)}]" if revs else ""
    return f"  {status}   {unit.task:<16s} {unit.label}{src}  {sizes}".rstrip()


def manual_steps(report: DownloadReport) -> list[str]:
    return [f"{task}: {text}" for task, text in report.manual.items()]


def units_for(targets: list[str], root: Path, languages: list[str] | None = None,
              translate_train: bool = True) -> list[Unit]:
    """The units :func:`download` would run (for inspection and tests)."""
    from ..tasks import get_task

    plan = Plan(root, translate_train, get_task)
    table = planners()
    for name, langs in resolve(targets, languages):
        table[name][1](plan, langs)
    return plan.units

