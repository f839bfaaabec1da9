"""One readable training loop for every task family, single- or multi-task, and batched prediction.

The model is the encoder plus one head per task (:class:`MultiTaskModel`). Each optimizer step takes a batch from
one task (single-task batches, as jiant); with several tasks the task is drawn per step (``proportional`` to the
number of training examples, or ``uniform``). AdamW with linear warmup and decay, gradient clipping, dropout
seeded from the run seed. Devices and mixed precision go through ``accelerate``.

Speed without changing results: the next step's batches are collated in a background thread (pinned memory,
non-blocking copies on CUDA); losses stay on the device and are read every ``log_every`` steps; fused AdamW on
CUDA; optional length buckets (masked padding to fixed lengths), ``torch.compile`` of the encoder (every bucket
compiled before the first step), length-grouped batches and padding-free packing (several sequences per row,
block-diagonal attention; flash-attention varlen on CUDA). Data-parallel runs (``accelerate launch`` /
``torchrun``; DDP, or FSDP2 sharding) cut each global batch across the processes and equal the single-process run.
Evaluation (:func:`eval_all_languages`) sorts every language's features by length into one stream of large batches.
See ``perf/README.md`` for the measured effect.

Modules: :mod:`.loop` (the step loop, :func:`train`), :mod:`.model` (:class:`MultiTaskModel`, :class:`TaskData`),
:mod:`.batching` (task streams, the task sampler, the background loader), :mod:`.parallel` (DDP / FSDP2),
:mod:`.resume` (the stop protocol and the random states of checkpoints), :mod:`.predict` (batched prediction).
Experiment trackers (training curves) are :mod:`xstilts.trackers`.
"""

from __future__ import annotations

from .loop import train
from .model import MultiTaskModel, TaskData, seed_everything, total_steps
from .predict import eval_all_languages, predict
from .resume import STOP, Preempted, request_stop

__all__ = ["train", "MultiTaskModel", "TaskData", "seed_everything", "total_steps", "eval_all_languages", "predict",
           "STOP", "Preempted", "request_stop"]
