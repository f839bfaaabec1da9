"""Model selection on dev scores during training, with early stopping.

The protocol is jiant's for X-STILTs and its XTREME runs (Phang et al. 2020, §3; jiant's ``runscript.py``
``--eval_every_steps 1000 --no_improvements_for_n_evals 30`` and ``--eval_subset_num 500``): every ``eval_every``
optimizer steps (and after the last one) the model is scored on the first ``selection_examples`` examples of the
dev set of the task being trained, in English; the weights of the best evaluation are kept, and training stops after
``patience`` evaluations without a strict improvement. ``selection: last`` keeps the final weights; ``all-dev``
selects on the mean over every evaluated language's dev set, which uses target-language data and so is not zero-shot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

#: Selection modes (``TrainConfig.selection``).
MODES = ("en-dev", "last", "all-dev")


@dataclass
class Selector:
    """Tracks dev scores during training and keeps the best weights.

    Args:
        mode: ``en-dev``, ``all-dev`` or ``last`` (``last`` still records the curve at the evaluation steps).
        every: optimizer steps between evaluations; the last step is always evaluated.
        patience: evaluations without a strict improvement after which training stops (``None``: never).
        evaluate: ``evaluate() -> float``: the selection score (higher is better, e.g. accuracy in %) of the model
            as it is now; the caller puts the model in eval mode and back.
        metric / language / examples: what the score is, recorded in :meth:`record`.
    """

    mode: str
    every: int
    patience: int | None
    evaluate: Callable[[], float]
    metric: str = ""
    language: str = "en"
    examples: int | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    best_step: int | None = None
    best_score: float = -math.inf
    bad: int = 0
    stopped_early: bool = False
    best_weights: dict[str, torch.Tensor] | None = None

    def due(self, step: int, total: int) -> bool:
        """Whether step *step* (1-based) of *total* is an evaluation step."""
        return step % self.every == 0 or step == total

    def observe(self, step: int, model: torch.nn.Module) -> float:
        """Evaluate at *step*; keep a CPU copy of *model*'s weights when the score is a new best (``en-dev`` /
        ``all-dev``; ``last`` keeps none). Returns the score."""
        score = float(self.evaluate())
        self.curve.append((step, score))
        if score > self.best_score or self.best_step is None:
            self.best_score, self.best_step, self.bad = score, step, 0
            if self.mode != "last":
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            self.bad += 1
        return score

    @property
    def should_stop(self) -> bool:
        """Whether the patience is used up (never in ``last`` mode)."""
        return self.mode != "last" and self.patience is not None and self.bad >= self.patience

    def state(self) -> dict:
        """The resumable state, without weights (see :meth:`restore`)."""
        return {"curve": [list(x) for x in self.curve], "best_step": self.best_step,
                "best_score": self.best_score if self.best_step is not None else None, "bad": self.bad}

    def restore(self, st: dict, best_weights: dict | None) -> None:
        """Continue from :meth:`state` (and the best weights saved beside it in the checkpoint)."""
        self.curve = [(int(s), float(v)) for s, v in st["curve"]]
        self.best_step, self.bad = st["best_step"], int(st["bad"])
        self.best_score = -math.inf if st["best_score"] is None else float(st["best_score"])
        self.best_weights = best_weights

    def selected_step(self, last_step: int) -> int:
        """The step whose weights the phase keeps."""
        return last_step if self.mode == "last" or self.best_step is None else self.best_step

    def record(self, steps_trained: int) -> dict:
        """What metrics.json records: the mode, what was scored, the selected step and the whole curve."""
        return {"mode": self.mode, "metric": self.metric, "language": self.language if self.mode == "en-dev" else
                "all", "every": self.every, "examples": self.examples, "patience": self.patience,
                "selected_step": self.selected_step(steps_trained), "best_score": None if self.best_step is None
                else self.best_score, "steps_trained": steps_trained, "curve": [list(x) for x in self.curve],
                "stopped_early": self.stopped_early}
