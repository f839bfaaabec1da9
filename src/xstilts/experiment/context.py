"""The typed values the phases of a run pass around: what every phase of one run reads (:class:`RunContext`), where
a phase's encoder starts (:class:`EncoderRef`), what a phase evaluates (:class:`EvalSets`), what training hands to
the evaluation (:class:`Trained`) and what a run returns (:class:`RunOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import ExperimentConfig
from ..models.backbone import model_source
from ..train import TaskData
from .keys import pretrained_key
from .store import PhaseStore


@dataclass(frozen=True)
class EncoderRef:
    """Where a phase's starting encoder comes from: the *pretrained* checkpoint (*revision*: the hub commit to load
    *path* at, for a hub model loaded from the hub) or an intermediate phase's saved encoder; *key*: its identity in
    the phase keys (``pretrained-<hash>`` or the intermediate phase folder's name)."""

    path: str
    key: str
    pretrained: bool
    revision: str | None = None

    @classmethod
    def of_model(cls, cfg: ExperimentConfig) -> EncoderRef:
        """The pretrained checkpoint of *cfg*."""
        src = model_source(cfg.model.name_or_path, cfg.model.revision)
        return cls(src.path, pretrained_key(cfg), pretrained=True, revision=src.revision)

    @classmethod
    def of_phase(cls, folder: Path) -> EncoderRef:
        """The encoder an intermediate phase saved in *folder*."""
        return cls(str(folder / "checkpoint" / "encoder"), folder.name, pretrained=False)


@dataclass(frozen=True)
class RunContext:
    """What every phase of one run (one variant of the experiment at one seed) reads: the variant's config, the
    seed, the phase store and the folder of the tokenized-feature cache."""

    cfg: ExperimentConfig
    seed: int
    store: PhaseStore
    features: Path


@dataclass(frozen=True)
class EvalSets:
    """Every split a target phase evaluates, featurized, by language; *no_dev*: the languages without dev data
    (evaluated on test only)."""

    dev: dict[str, TaskData]
    test: dict[str, TaskData]
    no_dev: list[str]

    def splits(self) -> dict[str, dict[str, TaskData]]:
        return {"dev": self.dev, "test": self.test}


@dataclass(frozen=True)
class Trained:
    """What training hands to the evaluation of a phase: the trained model (unwrapped), the accelerator it ran on,
    the tokenizer's pad id, the training history (steps, losses) and the model-selection record (``selection: last``
    included)."""

    model: torch.nn.Module
    accelerator: object
    pad_id: int
    history: dict
    selection: dict


@dataclass
class RunOutcome:
    """What :func:`~xstilts.experiment.run` returns: the tables written (``{variant or "comparison": paths}``, empty
    in the non-main processes of a data-parallel run), every run's ``run.json`` record by variant, and the
    experiment's folder (``<output_dir>/<name>``)."""

    written: dict
    results: dict[str, list[dict]] = field(default_factory=dict)
    folder: Path | None = None
