"""The phase store and the run folders.

Every phase lives in ``<store>/<phase>-<label>-<hash>/`` (:meth:`PhaseStore.folder`, names from :mod:`.keys`) and
is built under a temporary name and renamed when complete (:meth:`PhaseStore.build`), so a finished phase is found
and reused by any run or study whose inputs hash the same, and an interrupted one leaves nothing half-written. A run
folder ``<output_dir>/<name>/<variant>-seed<seed>/`` holds the resolved config, ``run.json`` (its phases), links to
the phase folders and the result tables (:func:`write_run_folder`).

In a data-parallel run only the main process writes files (:func:`is_main_process`); the others wait for it
(:func:`wait_for_everyone`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

import torch
import yaml

from ..config import OPTIMIZATION_KEYS, ExperimentConfig, TaskSpec, dump_config
from ..io import atomic_write_json, atomic_write_text, resumable_dir
from .preflight import hold_work_dir
from .keys import Phase


# ---------------------------------------------------------------------------------------------- processes
def rank_world() -> tuple[int, int]:
    """This process's rank and the number of processes of a data-parallel run (``0, 1`` in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process writes files: always, except in the non-main processes of a data-parallel run."""
    return rank_world()[0] == 0


def wait_for_everyone() -> None:
    """A barrier among the processes of a data-parallel run (as ``accelerator.wait_for_everyone()``); a no-op in a
    single process."""
    import torch.distributed as dist

    if rank_world()[1] > 1:
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


# ---------------------------------------------------------------------------------------------- phase store
#: ``lock(identity, what)``: a context manager held while a phase is found or built (:meth:`PhaseStore.lock`).
Lock = Callable[[Any, str], ContextManager]


@dataclass(frozen=True)
class PhaseStore:
    """The folder of the phase folders (``phase_store``, else ``<output_dir>/phases``). *locks*: how a phase is
    held while it is found or built, so that two runs sharing the store never build the same phase at once (study
    executors: a file lock per phase); none for a plain run."""

    root: Path
    locks: Lock | None = None

    @classmethod
    def of(cls, cfg: ExperimentConfig, locks: Lock | None = None) -> PhaseStore:
        root = Path(cfg.phase_store).expanduser() if cfg.phase_store else Path(cfg.output_dir).expanduser() / "phases"
        return cls(root, locks)

    def folder(self, kind: Phase, label: str, key: str) -> Path:
        return self.root / kind.folder_name(label, key)

    @staticmethod
    def complete(folder: Path) -> bool:
        """Whether the phase folder is finished (its ``metrics.json`` is the last file written)."""
        return (folder / "metrics.json").is_file()

    def lock(self, kind: Phase, key: str, what: str) -> ContextManager:
        """Hold the phase *kind* with hash *key* (a no-op without :attr:`locks`)."""
        return self.locks((f"{kind.value}_key", key), what) if self.locks else contextlib.nullcontext()

    @staticmethod
    @contextlib.contextmanager
    def build(final: Path, record: dict | None = None) -> Iterator[Path]:
        """:func:`~xstilts.io.resumable_dir` for the main process, held by it while it builds (``xstilts gc`` leaves
        a held folder alone; *record*: the inputs that can resume it, :func:`~xstilts.experiment.preflight.hold_work_dir`);
        the other processes of a data-parallel run get the same work folder (training checkpoints are read by every
        process) but neither create nor rename it, and wait until the main process has renamed it to *final*."""
        if is_main_process():
            with resumable_dir(final) as work, hold_work_dir(work, record):
                yield work
        else:
            yield final.parent / f".{final.name}.partial"
        wait_for_everyone()


# ---------------------------------------------------------------------------------------------- files
def phase_config(cfg: ExperimentConfig, phase: Phase, specs: list[TaskSpec], settings: dict) -> str:
    """The config a training phase writes to its ``config.yaml``: *cfg* with the phase section's optimisation
    settings and each task entry's ``max_length`` replaced by the values the phase used
    (:func:`~xstilts.config.resolve_settings`)."""
    data = cfg.model_dump(mode="json")
    section = data[phase.value]
    section.update({k: settings[k] for k in OPTIMIZATION_KEYS})
    lengths = settings["max_length"]
    labels = {s.label for s in specs}
    for entry, spec in zip(section["tasks"], getattr(cfg, phase.value).tasks):
        if spec.label in labels:
            entry["max_length"] = lengths[spec.label] if isinstance(lengths, dict) else lengths
    if not isinstance(lengths, dict):
        section["max_length"] = lengths
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return (f"# the resolved config of this {phase} phase: its {phase} section and task entries show the settings it "
            f"used\n# (task entry > {phase} section > the task's protocol defaults > global defaults)\n" + text)


def start_run_folder(run_dir: Path, cfg: ExperimentConfig) -> None:
    """The run folder and its resolved config (main process only)."""
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))


def write_run_folder(run_dir: Path, result: dict) -> None:
    """``phases/<phase>[-<task label>]`` links to the run's phase folders and ``run.json`` (*result*)."""
    links = run_dir / "phases"
    links.mkdir(exist_ok=True)
    for ph in result["phases"]:
        link = links / (ph["phase"] + ("-" + ph["task"] if "task" in ph else ""))
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(ph["dir"], links), link)
    atomic_write_json(run_dir / "run.json", result)
