"""The training API under its name from before the split into :mod:`xstilts.train` (kept for scripts and notebooks
that import ``xstilts.training``): the same objects, nothing else."""

from __future__ import annotations

from .train import (STOP, MultiTaskModel, Preempted, TaskData, eval_all_languages, predict, request_stop,  # noqa: F401
                    seed_everything, total_steps, train)
