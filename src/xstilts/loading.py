"""Finding a task's data: a local folder in the official layout first, Hugging Face ``datasets`` for users online."""

from __future__ import annotations

import inspect
import random
from pathlib import Path

from .config import TaskSpec
from .errors import MissingDataError, XstiltsError
from .paths import data_dir as cache_data_dir
from .tasks import Task, get_task

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
    if spec.languages == "all" and "discover_languages" in task.extra:
        found = task.extra["discover_languages"](task_data_dir(spec))
        if not found:
            raise MissingDataError(f"{task_data_dir(spec)}: no {task.name} language files found")
        return found
    return list(task.languages)


def _from_hub(task: Task, split: str, language: str) -> list:
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
    ds = datasets.load_dataset(path, cfg, split=hub_split.format(lang=language))
    rows = ds if hf.keep is None else (row for row in ds if hf.keep(row, language))
    kw = {"language": language} if "language" in inspect.signature(hf.convert).parameters else {}
    examples = [hf.convert(row, i, **kw) for i, row in enumerate(rows)]
    if not examples:
        raise MissingDataError(f"{path} ({cfg}, {hub_split}) has no rows for language {language!r}")
    return hf.collect(examples) if hf.collect is not None else examples


def load_examples(spec: TaskSpec, split: str, language: str) -> list:
    """Examples of *spec*'s task for one split and language.

    Local files in the official layout are used when the data folder exists; otherwise, for tasks with a Hugging
    Face id, ``datasets.load_dataset`` (which needs network or a filled HF cache).

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
        if task.extra.get("read_options"):
            return task.read(folder, split, language, options=spec.options)
        return task.read(folder, split, language)
    try:
        return _from_hub(task, split, language)
    except MissingDataError:
        raise
    except Exception as e:
        note = f" {task.hf.note}" if task.hf.note else ""
        raise MissingDataError(
            f"{folder}: no local data for task {task.name!r}, and loading {task.hf.path} from the Hugging Face hub "
            f"failed ({type(e).__name__}: {str(e)[:200]}).{note} Put the official files there or set data_dir.") \
            from None


def subsample(examples: list, n: int | None) -> list:
    """The first *n* examples of a fixed permutation (nested across *n*); all of them when *n* is None."""
    if n is None or n >= len(examples):
        return examples
    order = list(range(len(examples)))
    random.Random(DATA_SEED).shuffle(order)
    return [examples[i] for i in sorted(order[:n])]
