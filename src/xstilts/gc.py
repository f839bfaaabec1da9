"""``xstilts gc``: remove the work folders of a phase store that no current input can resume.

A phase is built in ``<store>/.<phase>.partial`` (training phases: a fixed name, resumed by a later run with the same
inputs) or ``<store>/.<phase>.<random>.partial`` (retrieval evaluations: never resumed) and renamed to
``<store>/<phase>`` when complete. A building process holds a lock in its work folder and records there the config
and seed that compute the phase (:func:`xstilts.experiment.preflight.hold_work_dir`). A work folder is removed when:

* **complete**: the phase folder it would become exists and is complete;
* **temporary**: it is a retrieval evaluation's temporary folder (nothing resumes those);
* **no checkpoint**: it holds no training checkpoint (a new run starts the phase over, at no loss);
* **inputs changed**: the phase key of its recorded config and seed, computed now (with the data files and the model
  as they are now), is not the folder's: the data, the model or the code changed, and no run can resume it;
* **not in the given configs** (``--config``): no phase of the configs given (every seed and variant) is this one;
* **unused** (``--older-than DAYS``): its last use is older than that.

Anything else is kept as resumable (listed as such). A folder that a process holds (it is building now) is never
touched. Lock files in ``<store>/.locks`` (study executors) that no process holds are stale and removed. Removing is
safe while runs go on; only ``--older-than`` and ``--config`` decide by age and by the configs named, so pass them
knowing what shares the store.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .io import read_json
from .experiment.preflight import WORK_LOCK, WORK_RECORD

#: ``.<kind>-<label>-<12 hex>.partial`` (resumable) and ``.<kind>-<label>-<12 hex>.<random>.partial`` (temporary).
_RESUMABLE = re.compile(r"\.((?:intermediate|target|eval)-.+-[0-9a-f]{12})\.partial")
_TEMPORARY = re.compile(r"\.((?:intermediate|target|eval)-.+-[0-9a-f]{12})\.[A-Za-z0-9_]+\.partial")


@dataclass
class Item:
    """One work folder or lock file: what it is, whether gc removes it, and why."""

    path: Path
    kind: str  # work, temporary, lock
    remove: bool
    reason: str
    size: int = 0
    last_used: float | None = None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
    return total


@contextlib.contextmanager
def _try_hold(lock_file: Path) -> Iterator[bool]:
    """Hold *lock_file*'s ``flock`` for the block if no process holds it (yields True), else yields False. A missing
    lock file counts as not held."""
    import fcntl

    if not lock_file.exists():
        yield True
        return
    try:
        f = open(lock_file, "a+")
    except OSError:
        yield False
        return
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _has_checkpoint(work: Path) -> bool:
    state = work / "train_state"
    return state.is_dir() and any(state.iterdir())


def _names_of(configs) -> set[str]:
    """Every phase folder name the configs use (every seed; the baseline variant where the config has one)."""
    from .experiment.keys import phase_keys

    names: set[str] = set()
    for cfg in configs:
        variants = [cfg] + ([cfg.baseline()] if cfg.intermediate.tasks and cfg.with_baseline else [])
        for v in variants:
            for seed in v.seeds:
                keys = phase_keys(v, seed)
                names.update(n for n in [keys["intermediate"], *keys["targets"].values()] if n)
    return names


def _resumable_by_record(work: Path, phase: str) -> tuple[bool | None, str]:
    """Whether the recorded inputs of *work* still compute *phase* (None: there is no record, or it cannot be
    checked)."""
    from .config import ExperimentConfig
    from .experiment.keys import phase_keys

    try:
        record = read_json(work / WORK_RECORD)
    except (OSError, ValueError):
        return None, "no record of its inputs (written by an older xstilts)"
    try:
        cfg = ExperimentConfig.model_validate(record["config"])
        seeds = [record["seed"]] if record.get("seed") is not None else cfg.seeds
        names = set()
        for seed in seeds:
            keys = phase_keys(cfg, seed)
            names.update(n for n in [keys["intermediate"], *keys["targets"].values()] if n)
    except Exception as e:  # noqa: BLE001 - an unreadable record keeps the folder
        return None, f"its recorded inputs cannot be checked ({type(e).__name__}: {' '.join(str(e).split())[:120]})"
    if phase in names:
        return True, "resumable: a run with the same config resumes it"
    return False, "inputs changed (data, model or code): no run can resume it"


def scan(store: str | Path, configs=(), older_than_days: float | None = None) -> list[Item]:
    """What :func:`collect` would do in *store*, without removing anything."""
    return list(_walk(Path(store), configs, older_than_days, remove=False))


def collect(store: str | Path, configs=(), older_than_days: float | None = None, dry_run: bool = False) -> list[Item]:
    """Remove (unless *dry_run*) the work folders of *store* that no current input can resume and the stale locks
    (see the module docstring); returns every work folder and lock file looked at, with the decision and reason."""
    return list(_walk(Path(store), configs, older_than_days, remove=not dry_run))


def _walk(store: Path, configs, older_than_days: float | None, remove: bool) -> Iterator[Item]:
    if not store.is_dir():
        return
    wanted = _names_of(configs) if configs else None
    now = time.time()
    for work in sorted(p for p in store.iterdir() if p.is_dir() and p.name.endswith(".partial")):
        temp = _TEMPORARY.fullmatch(work.name)
        res = _RESUMABLE.fullmatch(work.name)
        if not (temp or res):
            continue
        with _try_hold(work / WORK_LOCK) as free:
            if not free:
                yield Item(work, "work", False, "in use: a process is building this phase now")
                continue
            last = work.stat().st_mtime
            with contextlib.suppress(OSError, ValueError, AttributeError):
                last = float(read_json(work / WORK_RECORD).get("last_used", last))
            phase = (res or temp).group(1)
            decision: tuple[bool, str]
            if (store / phase / "metrics.json").is_file():
                decision = True, "complete: the phase folder exists"
            elif temp and not res:
                decision = True, "temporary: an interrupted retrieval evaluation (never resumed)"
            elif not _has_checkpoint(work):
                decision = True, "no training checkpoint in it (a run starts the phase over at no loss)"
            else:
                ok, why = _resumable_by_record(work, phase)
                if ok is False:
                    decision = True, why
                elif wanted is not None and phase not in wanted:
                    decision = True, "not a phase of the given configs"
                elif older_than_days is not None and now - last > older_than_days * 86400:
                    decision = True, f"unused for {(now - last) / 86400:.1f} days"
                else:
                    decision = False, why
            item = Item(work, "temporary" if temp and not res else "work", decision[0], decision[1], _size(work),
                        last)
            if remove and item.remove:
                shutil.rmtree(work, ignore_errors=True)
            yield item
    locks = store / ".locks"
    if locks.is_dir():
        for lock in sorted(locks.glob("*.lock")):
            with _try_hold(lock) as free:
                item = Item(lock, "lock", free, "stale lock: no process holds it" if free else "held by a process")
                if remove and free:
                    with contextlib.suppress(FileNotFoundError):
                        lock.unlink()
            yield item
