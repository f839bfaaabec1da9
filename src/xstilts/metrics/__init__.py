"""Every metric in one place, each citing the official script it follows. Scores are percentages (0-100).

* :mod:`.classification` — accuracy (XNLI, PAWS-X, XCOPA; XTREME ``evaluate.py``).
* :mod:`.retrieval` — Tatoeba accuracy@1, BUCC 2018 ratio-margin mining, threshold and P/R/F1 (XTREME
  ``third_party/utils_retrieve.py``; ``bucc_prf`` is ``evaluate.py``'s ``bucc_f1``).
* :mod:`.qa` — exact match and F1 of the SQuAD v1.1 and v2.0 scripts and the MLQA script.
* :mod:`.tagging` — seqeval F1 for NER, XTREME's POS F1, token accuracy (CCG).
* :mod:`.ranking` — mAP@k of XTREME-R's LAReQA and Mewsli-X scripts.
"""

from .classification import accuracy, mean
from .ranking import average_precision_at_k, mean_avg_prec_at_k, mewslix_map_at_k, rank_by_cosine
from .retrieval import bucc_optimize, bucc_prf, bucc_scores, knn, l2_normalize, mine_candidates, tatoeba_accuracy
from .tagging import ner_f1, token_accuracy, xtreme_pos_f1

__all__ = ["accuracy", "mean", "average_precision_at_k", "mean_avg_prec_at_k", "mewslix_map_at_k", "rank_by_cosine",
           "bucc_optimize", "bucc_prf", "bucc_scores", "knn", "l2_normalize", "mine_candidates", "tatoeba_accuracy",
           "ner_f1", "token_accuracy", "xtreme_pos_f1"]
