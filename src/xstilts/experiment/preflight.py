"""Everything a run needs, checked before anything trains, and what it was computed from.

:func:`check_inputs` (called by :func:`xstilts.experiment.preflight` for every variant of a run, and by study
cells) resolves the model and reads and checks every split of every task that a phase not yet complete will read:
train, dev and test, every language, intermediate and target tasks, and the data of retrieval evaluations. The parsed
examples stay in memory (:func:`xstilts.loading.load_examples`), so the phases do not read the files again. A bad
line in the test file of the last target task thus fails the run, with its one-line message, before the first
optimizer step of the first phase.

:func:`hold_work_dir` marks a phase's work folder (``.<phase>.partial``) as in use by this process (a ``flock`` on
``.xstilts-lock`` in it) and records the inputs that can resume it (``.xstilts-work.json``: the phase's config and
seed), which is how ``xstilts gc`` (:mod:`xstilts.gc`) tells a resumable folder from an orphan.

:func:`phase_provenance` / :func:`run_provenance`: the ``provenance`` of ``metrics.json`` and ``run.json``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import MissingDataError, XstiltsError
from ..io import atomic_write_json, read_json

if TYPE_CHECKING:  # pragma: no cover
    from ..config import ExperimentConfig, TaskSpec

#: In a work folder: the lock a building process holds, and the record of the inputs that can resume it.
WORK_LOCK = ".xstilts-lock"
WORK_RECORD = ".xstilts-work.json"


# ---------------------------------------------------------------------------------------------- checks
class _Probe(Exception):
    """Raised by the stand-in embedder: a retrieval family's evaluation has read and checked all its data."""


def _complete(root: Path, name: str | None) -> bool:
    return name is None or (root / name / "metrics.json").is_file()


def pending_phases(cfg: "ExperimentConfig", root: Path) -> tuple[bool, set[str]]:
    """``(intermediate phase to build?, labels of target tasks with a phase to build)`` over every seed of *cfg*."""
    from .keys import phase_keys

    inter, targets = False, set()
    for seed in cfg.seeds:
        keys = phase_keys(cfg, seed)
        inter |= not _complete(root, keys["intermediate"])
        targets |= {label for label, name in keys["targets"].items() if not _complete(root, name)}
    return inter, targets


def _read(spec: "TaskSpec", split: str, lang: str, *, required: bool, why: str = "") -> list | None:
    from ..loading import load_examples, task_data_dir
    from ..tasks import get_task

    try:
        examples = load_examples(spec, split, lang)
    except MissingDataError as e:
        if required:
            raise MissingDataError(f"{e}{why}") from None
        return None
    if isinstance(examples, list) and not examples:
        if required:
            raise MissingDataError(f"{task_data_dir(spec)}: no {split} examples of task {get_task(spec.task).name!r} "
                                   f"for language {lang!r}{why}")
        return None
    return examples


def _check_retrieval(cfg: "ExperimentConfig", spec: "TaskSpec") -> None:
    """Run the family's evaluation up to its first embedding (every file read and checked), and its gold labels."""
    from ..loading import eval_languages, load_examples
    from .keys import retrieval_settings
    from ..tasks import get_family, get_task

    task = get_task(spec.task)
    family = get_family(task.kind)
    langs = eval_languages(spec)

    def load(split, lang):
        return load_examples(spec, split, lang)

    def stub(*args, **kwargs):
        raise _Probe

    settings = retrieval_settings(cfg, spec)
    kw = {}
    params = inspect.signature(family.evaluate).parameters
    if "embed_query" in params:
        kw["embed_query"] = stub
    try:
        family.evaluate(task, langs, load, stub, settings, **kw)
    except _Probe:
        pass
    family.label_files(task, langs, load)


def check_inputs(cfg: "ExperimentConfig", root: Path) -> None:
    """Before any training: the model resolves (a folder with a config.json, a provisioned rebuild, a hub id the hub
    or the Hugging Face cache has), and every split and language of every task a phase of *cfg* not yet complete in
    *root* will read is read and checked, as that phase reads it (required splits must have examples).

    Raises:
        XstiltsError: the first problem, on one line (file and line for a malformed data file).
    """
    from ..config import resolve_settings
    from ..loading import eval_languages
    from ..models.backbone import model_source
    from ..tasks import get_task

    model_source(cfg.model.name_or_path, cfg.model.revision)
    inter, targets = pending_phases(cfg, root)
    if inter:
        for spec in cfg.intermediate.tasks:
            task = get_task(spec.task)
            lang = spec.train_language or task.train_language
            _read(spec, task.train_split, lang, required=True)
            _read(spec, task.dev_split, lang, required=True, why=" (the intermediate phase scores its dev set)")
    for spec in cfg.target.tasks:
        if spec.label not in targets:
            continue
        task = get_task(spec.task)
        if not task.trainable:
            _check_retrieval(cfg, spec)
            continue
        lang = spec.train_language or task.train_language
        _read(spec, task.train_split, lang, required=True)
        selection = resolve_settings(cfg, "target", [spec])["selection"]
        if selection != "last":
            _read(spec, task.dev_split, lang, required=True,
                  why=f" (needed for model selection `selection: {selection}`; set selection: last to keep the final "
                      f"weights instead)")
        for lang in eval_languages(spec):
            _read(spec, task.dev_split, lang, required=False)  # languages without dev data: test only
            _read(spec, task.test_split, lang, required=True)


# ---------------------------------------------------------------------------------------------- work folders
def work_record(cfg: "ExperimentConfig", seed: int | None) -> dict:
    """What :func:`hold_work_dir` records: the inputs that compute (and can resume) the phase."""
    return {"config": cfg.model_dump(mode="json", exclude_unset=True), "seed": seed}  # unset: protocol defaults


@contextlib.contextmanager
def hold_work_dir(work: Path, record: dict | None = None) -> Iterator[Path]:
    """Hold *work* (a phase's work folder) for this process: an exclusive ``flock`` on ``work/.xstilts-lock`` for the
    block, and *record* (plus the times of creation and last use) in ``work/.xstilts-work.json``. Both files are
    removed when the block succeeds (the folder then becomes the phase folder).

    Raises:
        XstiltsError: another process holds the folder (it is building the same phase now).
    """
    import fcntl

    work.mkdir(parents=True, exist_ok=True)
    lock = work / WORK_LOCK
    f = open(lock, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise XstiltsError(f"{work}: another process is building this phase now; wait for it to finish (or stop it) "
                           f"and run again") from None
    try:
        if record is not None:
            old = {}
            with contextlib.suppress(OSError, ValueError):
                old = read_json(work / WORK_RECORD)
            now = time.time()
            atomic_write_json(work / WORK_RECORD, {**record, "phase": _phase_name(work),
                                                   "created": old.get("created", now), "last_used": now,
                                                   "host": socket.gethostname(), "pid": os.getpid()})
        yield work
        for name in (WORK_RECORD, WORK_LOCK):
            with contextlib.suppress(FileNotFoundError):
                (work / name).unlink()
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def _phase_name(work: Path) -> str:
    """The phase folder a work folder becomes: ``.<name>.partial`` (resumable) or ``.<name>.<random>.partial``."""
    return work.name.removeprefix(".").removesuffix(".partial")


# ---------------------------------------------------------------------------------------------- provenance
def model_provenance(cfg: "ExperimentConfig") -> dict[str, Any]:
    """The pretrained model: its id, kind (hub, rebuild, local), requested revision and resolved commit (hub), or the
    SHA-256 of its files (rebuild, local folder)."""
    from ..models.backbone import model_source
    from ..provenance import folder_digest, folder_files

    m = cfg.model
    out: dict[str, Any] = {"name": m.name_or_path, "revision": m.revision}
    try:
        src = model_source(m.name_or_path, m.revision)
    except XstiltsError as e:
        return {**out, "kind": None, "error": str(e)}
    out.update(kind=src.kind, commit=src.commit)
    folder = Path(src.path)
    if src.kind in ("local", "rebuild") or folder.is_dir():
        out.update(path=str(folder.resolve()), sha256=folder_digest(folder), files=folder_files(folder))
    return out


def data_provenance(spec: "TaskSpec") -> dict[str, Any]:
    """Where a task's data came from: the hub data sets and their commits, or the local files read in this process
    with their sizes and SHA-256 (and the sources and revisions of ``xstilts download``'s MANIFEST.json)."""
    from ..loading import files_read, hub_revisions, task_data_dir
    from ..provenance import files_record
    from ..tasks import get_task

    task = get_task(spec.task)
    folder = task_data_dir(spec)
    if not folder.is_dir():
        return {"task": task.name, "source": "hub", "datasets": hub_revisions(task)}
    out: dict[str, Any] = {"task": task.name, "source": "local", "folder": str(folder.resolve()),
                           **files_record(files_read(spec), folder)}
    manifest = folder / "MANIFEST.json"
    if manifest.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            units = json.loads(manifest.read_text(encoding="utf-8")).get("units", {})
            srcs = {(s.get("kind"), s.get("id"), s.get("revision")) for u in units.values()
                    if u.get("task") in (None, task.name) for s in u.get("sources", [])}
            out["downloaded_from"] = [{"kind": k, "id": i, "revision": r} for k, i, r in sorted(srcs, key=str)]
    return out


def _common(cfg: "ExperimentConfig") -> dict[str, Any]:
    from ..provenance import device_record, environment

    return {"environment": environment(), "device": device_record(cfg.device), "dtype": cfg.model.dtype,
            "mixed_precision": cfg.mixed_precision}


def phase_provenance(cfg: "ExperimentConfig", specs: list["TaskSpec"], start_key: str) -> dict[str, Any]:
    """``provenance`` of a phase's ``metrics.json``: the model, the encoder it started from, its tasks' data,
    library versions (and git commit), device and dtype."""
    return {"model": model_provenance(cfg), "start": start_key,
            "data": {s.label: data_provenance(s) for s in specs}, **_common(cfg)}


def run_provenance(cfg: "ExperimentConfig", phase_dirs: list[str]) -> dict[str, Any]:
    """``provenance`` of ``run.json``: the model, the data of every task (as each phase recorded it), versions,
    device and dtype."""
    data: dict[str, Any] = {}
    for d in phase_dirs:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            data.update((read_json(Path(d) / "metrics.json").get("provenance") or {}).get("data") or {})
    for spec in [*cfg.intermediate.tasks, *cfg.target.tasks]:
        if spec.label not in data:  # a phase written before provenance was recorded
            data[spec.label] = data_provenance(spec)
    return {"model": model_provenance(cfg), "data": data, **_common(cfg)}


__all__ = ["check_inputs", "pending_phases", "hold_work_dir", "work_record", "phase_provenance", "run_provenance",
           "model_provenance", "data_provenance", "WORK_LOCK", "WORK_RECORD"]
