"""Classification metrics. Scores are percentages (0-100), as XTREME reports them."""

from __future__ import annotations

from typing import Iterable, Sequence


def accuracy(predictions: Sequence, gold: Sequence) -> float:
    """Percentage of positions where ``predictions[i] == gold[i]``.

    Raises:
        ValueError: the sequences differ in length or are empty.
    """
    if len(predictions) != len(gold):
        raise ValueError(f"{len(predictions)} predictions for {len(gold)} gold labels")
    if not gold:
        raise ValueError("accuracy of an empty set")
    return 100.0 * sum(p == g for p, g in zip(predictions, gold)) / len(gold)


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else float("nan")
