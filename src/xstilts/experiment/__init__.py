"""Running an experiment: its three phases (:mod:`.phases`), keyed by the hashes of :mod:`.keys` and kept in the
phase store (:mod:`.store`), with their data (:mod:`.data`) and training (:mod:`.training`); the entry points
(:mod:`.runner`) are here.

    from xstilts.experiment import run
    outcome = run(cfg)          # every seed and variant: outcome.written (tables), outcome.results (run records)
"""

from .context import EncoderRef, RunOutcome
from .keys import Phase, phase_keys
from .runner import evaluate_only, preflight, run, run_one
from .store import PhaseStore

__all__ = ["run", "run_one", "preflight", "evaluate_only", "phase_keys", "Phase", "EncoderRef", "PhaseStore",
           "RunOutcome"]
