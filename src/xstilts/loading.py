"""Finding a task's data: a local folder in the official layout first, Hugging Face ``datasets`` for users online."""

from __future__ import annotations

import contextlib
import inspect
import re
import json
import random
from pathlib import Path
from typing import Any

from .config import TaskSpec
from .errors import MissingDataError, XstiltsError
from .paths import data_dir as cache_data_dir
from .tasks import Task, get_task
from .tasks.base import recording

#: Training subsets are drawn with this fixed seed, so that subsets are nested: the first 1k of the permutation is
#: inside the first 10k, whatever the run's seed.
DATA_SEED = 0


def task_data_dir(spec: TaskSpec) -> Path:
    """The folder the spec names, else ``<cache>/data/<task.data_subdir>``."""
    if spec.data_dir is not None:
        return Path(spec.data_dir).expanduser()
    return cache_data_dir() / get_task(spec.task).data_subdir


def eval_languages(spec: TaskSpec) -> list[str]:
    """The languages to evaluate: the spec's list, every language found in the data folder (``all``), or the task's."""
    task = get_task(spec.task)
    if isinstance(spec.languages, list):
        return list(spec.languages)
    if spec.languages == "all" and task.discover_languages is not None:
        found = task.discover_languages(task_data_dir(spec))
        if not found:
            raise MissingDataError(f"{task_data_dir(spec)}: no {task.name} language files found")
        return found
    return list(task.languages)


def hub_revisions(task: Task) -> dict[str, str | None]:
    """``{hub data set id: commit}`` of every hub repository *task* loads from (its own and those of
    ``split_sources``): the task's pinned commit (``HFSource.revision``) for its own repository, else asked of the
    hub when online (once per process), else read from the Hugging Face cache;
    None where neither knows it (the load then fails, or uses what ``datasets`` finds)."""
    from .models.backbone import hub_commit

    if task.hf is None:
        return {}
    repos = dict.fromkeys([task.hf.path, *(src[0] for src in task.hf.split_sources.values())])
    pin = getattr(task.hf, "revision", None)  # the commit the task declares for its own repository
    out = {}
    for repo in repos:
        if repo == task.hf.path and pin and re.fullmatch(r"[0-9a-f]{40}", pin):
            out[repo] = pin  # a pinned commit: loaded as it is, whatever the hub's branch says now
            continue
        try:
            out[repo] = hub_commit(repo, pin if repo == task.hf.path else None, "dataset")[0]
        except XstiltsError:
            out[repo] = None
    return out


def _from_hub(task: Task, split: str, language: str, revisions: dict[str, str | None]) -> list:
    if task.hf is None:
        raise MissingDataError("no Hugging Face datasets id is known for this task")
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise XstiltsError("the `datasets` package is needed to load tasks from the hub") from e
    hf = task.hf
    if hf.languages is not None and language not in hf.languages:
        raise MissingDataError(f"{hf.path} has no {task.name} data for {language!r} (it has "
                               f"{', '.join(hf.languages)}); put the official files in the task's data folder")
    path, config, hub_split = hf.split_sources.get(split) or (hf.path, hf.config, hf.splits[split])
    cfg = config.format(lang=language) if config else None
    kw_rev = {"revision": revisions[path]} if revisions.get(path) else {}
    ds = datasets.load_dataset(path, cfg, split=hub_split.format(lang=language), **kw_rev)
    rows = ds if hf.keep is None else (row for row in ds if hf.keep(row, language))
    kw = {"language": language} if "language" in inspect.signature(hf.convert).parameters else {}
    examples = [hf.convert(row, i, **kw) for i, row in enumerate(rows)]
    if not examples:
        raise MissingDataError(f"{path} ({cfg}, {hub_split}) has no rows for language {language!r}")
    return hf.collect(examples) if hf.collect is not None else examples


#: Parsed examples of this process, so that the checks before training and the phases read each file once:
#: ``{(task, source, split, language, options): (examples, [(file, size, mtime_ns)] read)}``. An entry is used
#: while its files are unchanged.
_EXAMPLES: dict[tuple, tuple[Any, list[tuple[str, int, int]]]] = {}
#: Data files read per data source ``(task, folder, options)``: for provenance (:func:`files_read`).
_READ: dict[tuple, set[Path]] = {}


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_size, st.st_mtime_ns


def _unchanged(stamps: list[tuple[str, int, int]]) -> bool:
    try:
        return all(_stamp(Path(p)) == (p, size, mtime) for p, size, mtime in stamps)
    except OSError:
        return False


def _options_key(spec: TaskSpec) -> str:
    return json.dumps(spec.options, sort_keys=True, default=str)


def _copy(examples: Any) -> Any:
    return list(examples) if isinstance(examples, list) else examples


def clear_cache() -> None:
    """Forget the parsed examples kept by :func:`load_examples` (and the record of files read)."""
    _EXAMPLES.clear()
    _READ.clear()


def files_read(spec: TaskSpec) -> list[Path]:
    """The local data files :func:`load_examples` has read for *spec*'s task, folder and options in this process."""
    folder = task_data_dir(spec)
    return sorted(_READ.get((get_task(spec.task).name, str(folder.resolve()), _options_key(spec)), ()))


def load_examples(spec: TaskSpec, split: str, language: str) -> list:
    """Examples of *spec*'s task for one split and language.

    Local files in the official layout are used when the data folder exists; otherwise, for tasks with a Hugging
    Face id, ``datasets.load_dataset`` (which needs network or a filled HF cache) at the commit the hub (or the
    cache) names now (:func:`hub_revisions`). What was parsed is kept for the process (while its files are
    unchanged), so the checks before training and the phases parse each file once; the caller gets its own list.

    Raises:
        MissingDataError: neither source has the data (the message says where files were expected).
        DataFormatError: a local file is malformed (file and line named).
    """
    task = get_task(spec.task)
    folder = task_data_dir(spec)
    if folder.is_dir() or spec.data_dir is not None or task.hf is None:
        if not folder.is_dir():
            hint = " (run `xstilts prepare`)" if task.data_subdir.startswith(("bible", "udhr")) else ""
            raise MissingDataError(f"{folder}: data folder for task {task.name!r} not found{hint}")
        source = (task.name, str(folder.resolve()), _options_key(spec))
        key = (*source, split, language)
        hit = _EXAMPLES.get(key)
        if hit is not None and _unchanged(hit[1]):
            return _copy(hit[0])
        with recording() as files:
            if task.read_options:
                examples = task.read(folder, split, language, options=spec.options)
            else:
                examples = task.read(folder, split, language)
        stamps = []
        for p in dict.fromkeys(files):
            with contextlib.suppress(OSError):
                stamps.append(_stamp(p))
        _EXAMPLES[key] = (examples, stamps)
        _READ.setdefault(source, set()).update(Path(p) for p, _, _ in stamps)
        return _copy(examples)
    revisions = hub_revisions(task)
    key = (task.name, "hub", json.dumps(revisions, sort_keys=True), split, language)
    hit = _EXAMPLES.get(key)
    if hit is not None:
        return _copy(hit[0])
    try:
        examples = _from_hub(task, split, language, revisions)
    except MissingDataError:
        raise
    except Exception as e:
        note = f" {task.hf.note}" if task.hf.note else ""
        raise MissingDataError(
            f"{folder}: no local data for task {task.name!r}, and loading {task.hf.path} from the Hugging Face hub "
            f"failed ({type(e).__name__}: {str(e)[:200]}).{note} Put the official files there or set data_dir.") \
            from None
    if revisions and all(revisions.values()):  # kept only when pinned to a commit (else a later load may differ)
        _EXAMPLES[key] = (examples, [])
    return _copy(examples)


def subsample(examples: list, n: int | None) -> list:
    """The first *n* examples of a fixed permutation (nested across *n*); all of them when *n* is None."""
    if n is None or n >= len(examples):
        return examples
    order = list(range(len(examples)))
    random.Random(DATA_SEED).shuffle(order)
    return [examples[i] for i in sorted(order[:n])]
