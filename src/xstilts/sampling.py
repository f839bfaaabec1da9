"""Multi-task sampling: which intermediate task each training batch (or example) comes from.

Strategies (as in jiant's multi-task samplers and the multilingual-NMT literature):

* ``proportional`` — ``p_i ∝ n_i`` (examples per task); the STILTs default when tasks are mixed.
* ``uniform`` — ``p_i = 1 / K``.
* ``temperature`` — ``p_i ∝ min(n_i, cap) ^ (1 / T)`` (Arivazhagan et al. 2019, "Massively Multilingual Neural
  Machine Translation in the Wild", sec. 4.2; jiant's ``TemperatureMultiTaskSampler`` with ``examples_cap``):
  T = 1 is proportional to the capped sizes, T → ∞ tends to uniform.
* ``explicit`` — probabilities given per task label in the config.
"""

from __future__ import annotations

from typing import Mapping, Sequence


def task_probabilities(labels: Sequence[str], sizes: Sequence[int], strategy: str = "proportional", *,
                       temperature: float = 1.0, cap: int | None = None,
                       probabilities: Mapping[str, float] | None = None) -> list[float]:
    """Sampling probability of each task (same order as *labels*), summing to 1.

    Raises:
        ValueError: unknown strategy, a non-positive temperature, explicit probabilities that do not name exactly
            the tasks, are negative or do not sum to 1 (within 1e-6).
    """
    k = len(labels)
    if k == 0:
        raise ValueError("no tasks to sample from")
    if strategy == "uniform":
        return [1.0 / k] * k
    if strategy == "explicit":
        probabilities = dict(probabilities or {})
        if set(probabilities) != set(labels):
            raise ValueError(f"sampling_probabilities must name exactly the intermediate tasks {list(labels)}, "
                             f"got {sorted(probabilities)}")
        p = [float(probabilities[x]) for x in labels]
        if min(p) < 0 or abs(sum(p) - 1) > 1e-6:
            raise ValueError(f"sampling_probabilities must be >= 0 and sum to 1, got {p}")
        return p
    if strategy not in ("proportional", "temperature"):
        raise ValueError(f"unknown sampling strategy {strategy!r}")
    n = [min(s, cap) if cap else s for s in sizes]
    if strategy == "temperature":
        if temperature <= 0:
            raise ValueError("sampling_temperature must be > 0")
        n = [x ** (1.0 / temperature) for x in n]
    total = float(sum(n))
    if total <= 0:
        raise ValueError("all intermediate tasks are empty")
    return [x / total for x in n]
