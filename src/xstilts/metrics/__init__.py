"""Every metric in one place, each citing the official script it follows. Scores are percentages (0-100).

* :mod:`.classification` — accuracy (XNLI, PAWS-X; XTREME ``evaluate.py``).
* :mod:`.retrieval` — Tatoeba accuracy@1, BUCC 2018 ratio-margin mining, threshold and P/R/F1 (XTREME
  ``third_party/utils_retrieve.py``).
"""

from .classification import accuracy, mean
from .retrieval import bucc_optimize, bucc_scores, knn, l2_normalize, mine_candidates, tatoeba_accuracy

__all__ = ["accuracy", "mean", "bucc_optimize", "bucc_scores", "knn", "l2_normalize", "mine_candidates",
           "tatoeba_accuracy"]
