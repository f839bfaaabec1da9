"""The stop protocol (SIGTERM: save a checkpoint, raise :class:`Preempted`) and the random states saved in a
training checkpoint so that a resumed run equals an uninterrupted one."""

from __future__ import annotations

import random

import torch

from ..errors import XstiltsError

class Preempted(XstiltsError):
    """Training stopped on request (SIGTERM); a checkpoint was saved and a re-run resumes from it."""


#: Set by the CLI's SIGTERM handler; the training loop saves a checkpoint and stops at the next step boundary.
STOP = {"requested": False, "in_training": False}


def request_stop(signum=None, frame=None) -> None:
    """SIGTERM handler: inside a training loop, stop after the current step with a checkpoint; elsewhere stop now
    (finished phases are kept, an unfinished one leaves only its resumable work folder)."""
    STOP["requested"] = True
    if not STOP["in_training"]:
        raise Preempted("stopped on request (SIGTERM); finished phases are kept, run the same command to go on")


def _rng_states(rng: random.Random, gen: torch.Generator, sampler: dict | None = None) -> dict:
    import numpy as np

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "sampler": sampler["sampler"] if sampler else rng.getstate(),
            "generator": sampler["generator"] if sampler else gen.get_state()}


def _restore_rng(st: dict, rng: random.Random, gen: torch.Generator) -> None:
    import numpy as np

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if st.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    rng.setstate(st["sampler"])
    gen.set_state(st["generator"])
