"""Extractive QA metrics: exact match and token F1, as the official evaluation scripts compute them.

Three scripts define them, and each task uses the one XTREME (``evaluate.py``) or the data set's authors use:

* **SQuAD v1.1** ``evaluate-v1.1.py`` (Rajpurkar et al. 2016; copied as XTREME ``third_party/evaluate_squad.py``):
  SQuAD v1.1 and XTREME's QA tasks other than MLQA. Normalisation: lower case, drop ``string.punctuation``, drop the English articles
  ``\\b(a|an|the)\\b``, collapse whitespace. F1 of whitespace tokens (0 when no token is shared, so an empty
  prediction scores 0 even against an empty gold answer); maximum over the gold answers; scores are
  ``100 * sum / number of questions``.
* **SQuAD v2.0** ``evaluate-v2.0.py`` (Rajpurkar et al. 2018): SQuAD v2.0. The same normalisation; gold answers whose
  normalised text is empty are dropped and a question left without gold answers has the single gold answer ``""``;
  F1 is 1 when prediction and gold are both empty and 0 when only one is; scores also split into ``HasAns`` (questions
  with answers) and ``NoAns``.
* **MLQA** ``mlqa_evaluation_v1.py`` (Lewis et al. 2020; copied as XTREME ``third_party/evaluate_mlqa.py``): MLQA.
  Language-specific normalisation: punctuation is every character whose Unicode category starts with ``P`` plus
  ``string.punctuation``; articles per language (en a/an/the; es un/una/unos/unas/el/la/los/las; de
  ein/eine/einen/einem/eines/einer/der/die/das/den/dem/des; vi của/là/cái/chiếc/những; ar every ``ال``; none for hi
  and zh); whitespace tokens except for zh, which uses *mixed segmentation* (each CJK character a token, runs of
  other characters split on whitespace). F1 as in v1.1.

All scores are percentages (0-100).
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Sequence

_SQUAD_PUNCT = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


# ------------------------------------------------------------------------------------------- SQuAD v1.1 / v2.0
def normalize_answer(s: str) -> str:
    """SQuAD ``normalize_answer`` (identical in ``evaluate-v1.1.py`` and ``evaluate-v2.0.py``): lower case, remove
    ``string.punctuation``, remove the articles a/an/the (whole words), collapse whitespace."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _SQUAD_PUNCT)
    text = _SQUAD_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_exact_match(prediction: str, gold: str) -> bool:
    """``exact_match_score`` of SQuAD ``evaluate-v1.1.py``: normalised strings are equal."""
    return normalize_answer(prediction) == normalize_answer(gold)


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(pred_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_f1(prediction: str, gold: str) -> float:
    """``f1_score`` of SQuAD ``evaluate-v1.1.py``: F1 of the normalised whitespace tokens (0 if none is shared,
    including when both are empty)."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def squad_v2_exact(gold: str, prediction: str) -> int:
    """``compute_exact`` of SQuAD ``evaluate-v2.0.py`` (note the argument order: gold first, as there)."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def squad_v2_f1(gold: str, prediction: str) -> float:
    """``compute_f1`` of SQuAD ``evaluate-v2.0.py``: if either side normalises to no tokens, 1 when both do and 0
    otherwise; else the token F1 of v1.1."""
    gold_toks = normalize_answer(gold).split() if gold else []
    pred_toks = normalize_answer(prediction).split() if prediction else []
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    return _token_f1(pred_toks, gold_toks)


# ------------------------------------------------------------------------------------------------------ MLQA
#: Languages with whitespace tokenisation and with mixed segmentation in ``mlqa_evaluation_v1.py``.
MLQA_WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
MLQA_MIXED_SEGMENTATION_LANGS = ("zh",)
MLQA_LANGS = MLQA_WHITESPACE_LANGS + MLQA_MIXED_SEGMENTATION_LANGS

_MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # the official pattern; '\sال^' can never match (nothing follows ^ without MULTILINE), so every 'ال' goes
    "ar": re.compile(r"\sال^|ال"),
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@lru_cache(maxsize=1)
def mlqa_punctuation() -> frozenset[str]:
    """``PUNCT`` of ``mlqa_evaluation_v1.py``: every code point below ``sys.maxunicode`` whose Unicode category starts
    with ``P``, plus ``string.punctuation`` (computed once, on first use)."""
    return frozenset(chr(i) for i in range(sys.maxunicode)
                     if unicodedata.category(chr(i)).startswith("P")).union(string.punctuation)


def _check_mlqa_lang(lang: str) -> None:
    if lang not in MLQA_LANGS:
        raise ValueError(f"the MLQA evaluation has no rules for language {lang!r}; it knows {', '.join(MLQA_LANGS)}")


def mixed_segmentation(text: str) -> list[str]:
    """``mixed_segmentation`` of ``mlqa_evaluation_v1.py``: every CJK character (U+4E00..U+9FA5) and every punctuation
    character is a token; the runs of other characters in between are split on whitespace."""
    punct = mlqa_punctuation()
    segs: list[str] = []
    temp = ""
    for char in text:
        if _CJK.search(char) or char in punct:
            if temp != "":
                segs.extend(temp.split())
                temp = ""
            segs.append(char)
        else:
            temp += char
    if temp != "":
        segs.extend(temp.split())
    return segs


def mlqa_normalize_answer(s: str, lang: str) -> str:
    """``normalize_answer(s, lang)`` of ``mlqa_evaluation_v1.py``: lower case, remove Unicode punctuation, remove the
    language's articles, then re-join the tokens (whitespace tokens, or mixed segmentation for zh) with single spaces.

    Raises:
        ValueError: a language the official script does not know (it raises too).
    """
    _check_mlqa_lang(lang)
    punct = mlqa_punctuation()
    text = "".join(ch for ch in s.lower() if ch not in punct)
    if lang in _MLQA_ARTICLES:
        text = _MLQA_ARTICLES[lang].sub(" ", text)
    tokens = text.split() if lang in MLQA_WHITESPACE_LANGS else mixed_segmentation(text)
    return " ".join(t for t in tokens if t.strip() != "")


def mlqa_exact_match(prediction: str, gold: str, lang: str) -> bool:
    """``exact_match_score`` of ``mlqa_evaluation_v1.py``."""
    return mlqa_normalize_answer(prediction, lang) == mlqa_normalize_answer(gold, lang)


def mlqa_f1(prediction: str, gold: str, lang: str) -> float:
    """``f1_score`` of ``mlqa_evaluation_v1.py``: token F1 after language-specific normalisation (0 if no token is
    shared)."""
    return _token_f1(mlqa_normalize_answer(prediction, lang).split(), mlqa_normalize_answer(gold, lang).split())


# ---------------------------------------------------------------------------------------------- aggregation
def _check(predictions: Sequence[str | None], golds: Sequence[Sequence[str]]) -> None:
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    if not golds:
        raise ValueError("QA scores of an empty set of questions")


def squad_v1_scores(predictions: Sequence[str | None], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """``evaluate(dataset, predictions)`` of SQuAD ``evaluate-v1.1.py`` (and XTREME ``third_party/evaluate_squad.py``):
    per question the maximum over its gold answers, then ``100 * total / number of questions``.

    Args:
        predictions: one predicted answer text per question; ``None`` for a question the prediction file has no
            entry for (the script's "Unanswered question ... will receive score 0": it counts in the number of
            questions and scores 0, which differs from an empty answer, whose EM is 1 against a gold answer that
            normalises to nothing).
        golds: the gold answer texts of each question (at least one each for answered questions).
    Returns:
        ``{"exact_match": %, "f1": %}``.
    Raises:
        ValueError: lengths differ, no questions, or an answered question without gold answers (the official script
            fails on ``max()`` of an empty list there).
    """
    _check(predictions, golds)
    em = f1 = 0.0
    for i, (pred, gold) in enumerate(zip(predictions, golds)):
        if pred is None:
            continue
        if not gold:
            raise ValueError(f"question {i} has no gold answers; SQuAD v1.1 scoring needs at least one")
        em += max(float(squad_exact_match(pred, g)) for g in gold)
        f1 += max(squad_f1(pred, g) for g in gold)
    n = len(golds)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


def squad_v2_scores(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """``get_raw_scores`` + ``make_eval_dict`` of SQuAD ``evaluate-v2.0.py`` without a no-answer probability file
    (``na_prob`` 0 for every question, so the threshold changes nothing).

    A question *has an answer* iff its gold list is non-empty (``make_qid_to_has_ans``); for scoring, gold answers
    that normalise to the empty string are dropped and an empty list becomes ``[""]``.

    Returns:
        ``exact_match``, ``f1`` and, for the questions present, ``has_ans_exact_match``, ``has_ans_f1``,
        ``has_ans_total``, ``no_ans_exact_match``, ``no_ans_f1``, ``no_ans_total`` (the script's ``HasAns_*`` and
        ``NoAns_*``).
    """
    _check(predictions, golds)
    exact, f1, has_ans = [], [], []
    for pred, gold in zip(predictions, golds):
        has_ans.append(bool(gold))
        answers = [a for a in gold if normalize_answer(a)] or [""]
        exact.append(max(squad_v2_exact(a, pred) for a in answers))
        f1.append(max(squad_v2_f1(a, pred) for a in answers))
    n = len(golds)
    out: dict[str, float] = {"exact_match": 100.0 * sum(exact) / n, "f1": 100.0 * sum(f1) / n}
    for name, want in (("has_ans", True), ("no_ans", False)):
        idx = [i for i, h in enumerate(has_ans) if h == want]
        if idx:
            out[f"{name}_exact_match"] = 100.0 * sum(exact[i] for i in idx) / len(idx)
            out[f"{name}_f1"] = 100.0 * sum(f1[i] for i in idx) / len(idx)
            out[f"{name}_total"] = len(idx)
    return out


def mlqa_scores(predictions: Sequence[str | None], golds: Sequence[Sequence[str]], lang: str) -> dict[str, float]:
    """``evaluate(dataset, predictions, lang)`` of ``mlqa_evaluation_v1.py`` (and XTREME
    ``third_party/evaluate_mlqa.py``): maximum over gold answers, ``100 * total / number of questions``. A ``None``
    prediction is an unanswered question (scores 0, counted), as in :func:`squad_v1_scores`.

    Raises:
        ValueError: lengths differ, no questions, an answered question without gold answers, or an unknown language.
    """
    _check(predictions, golds)
    _check_mlqa_lang(lang)
    em = f1 = 0.0
    for i, (pred, gold) in enumerate(zip(predictions, golds)):
        if pred is None:
            continue
        if not gold:
            raise ValueError(f"question {i} has no gold answers; MLQA scoring needs at least one")
        em += max(float(mlqa_exact_match(pred, g, lang)) for g in gold)
        f1 += max(mlqa_f1(pred, g, lang) for g in gold)
    n = len(golds)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


#: The official evaluation scripts :func:`qa_scores` knows, by key: ``squad_v1`` (SQuAD ``evaluate-v1.1.py``),
#: ``squad_v2.0`` (SQuAD ``evaluate-v2.0.py``) and ``mlqa_v1`` (``mlqa_evaluation_v1.py``). The keys name scripts, not
#: tasks (a task names its script in ``Task.extra["qa_metric"]``), and differ from every task name and alias.
QA_SCRIPTS = ("squad_v1", "squad_v2.0", "mlqa_v1")


def qa_scores(script: str, predictions: Sequence[str], golds: Sequence[Sequence[str]],
              lang: str | None = None) -> dict[str, float]:
    """Scores of one language with the named official script, plus ``em_f1_mean`` = (EM + F1) / 2, the per-task
    number XTREME's ``evaluate.py`` averages into its QA score.

    Args:
        script: a key of :data:`QA_SCRIPTS`: ``squad_v1`` (SQuAD v1.1 and the tasks scored like it), ``squad_v2.0`` (SQuAD
            v2.0) or ``mlqa_v1`` (MLQA; needs *lang*).
    Raises:
        ValueError: an unknown script, or ``mlqa_v1`` without a language.
    """
    if script == "squad_v1":
        out = squad_v1_scores(predictions, golds)
    elif script == "squad_v2.0":
        out = squad_v2_scores(predictions, golds)
    elif script == "mlqa_v1":
        if lang is None:
            raise ValueError("MLQA scoring needs the answer language")
        out = mlqa_scores(predictions, golds, lang)
    else:
        raise ValueError(f"unknown QA evaluation script {script!r}; expected one of {', '.join(QA_SCRIPTS)}")
    out["em_f1_mean"] = (out["exact_match"] + out["f1"]) / 2
    return out
