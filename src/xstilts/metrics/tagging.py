"""Sequence-tagging metrics (PAN-X NER, UD-POS, CCG supertagging). Scores are percentages (0-100).

* :func:`ner_f1` — entity-level micro F1 / precision / recall with ``seqeval`` in its default mode, which is
  compatible with the CoNLL ``conlleval`` script: an ``I-X`` that follows ``O`` or a different type *starts* an
  entity (it is not discarded as in seqeval's ``strict`` mode). This is what XTREME's ``evaluate.py`` (function
  ``f1``, ``METRIC_FUNCTION['panx']``) and ``third_party/run_tag.py`` compute.
* :func:`xtreme_pos_f1` — UD-POS "F1" exactly as XTREME's ``evaluate.py`` computes it (``METRIC_FUNCTION['udpos']
  = f1``): seqeval's chunk F1 applied to UPOS tags, see its docstring for what that means.
* :func:`token_accuracy` — per-token accuracy over all words of all sentences (CCG supertagging, as jiant's
  ``CCGTaggingTask``, and the conventional POS accuracy reported next to XTREME's figure).

All functions take ``gold`` and ``predictions`` as lists of sentences, each a list of tag strings, and check that
they have the same shape.
"""

from __future__ import annotations

import warnings
from typing import Sequence

Sentences = Sequence[Sequence[str]]


def _check(gold: Sentences, predictions: Sentences) -> None:
    if len(gold) != len(predictions):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(gold)} gold sentences")
    for i, (g, p) in enumerate(zip(gold, predictions)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags for {len(g)} gold tags")


def _seqeval_prf(gold: Sentences, predictions: Sentences) -> dict[str, float]:
    from seqeval.metrics import f1_score, precision_score, recall_score

    _check(gold, predictions)
    g = [list(s) for s in gold]
    p = [list(s) for s in predictions]
    with warnings.catch_warnings():
        # seqeval warns for every tag without a B-/I-/E-/S- prefix (all POS tags) and for 0/0 scores (no entities);
        # the values are unaffected (0/0 counts as 0, as in XTREME).
        warnings.simplefilter("ignore")
        return {"f1": 100.0 * f1_score(g, p), "precision": 100.0 * precision_score(g, p),
                "recall": 100.0 * recall_score(g, p)}


def ner_f1(gold: Sentences, predictions: Sentences) -> dict[str, float]:
    """Entity-level micro ``{"f1", "precision", "recall"}`` (%), as XTREME's ``evaluate.py`` for PAN-X.

    Uses ``seqeval.metrics.{f1,precision,recall}_score`` in the default (conlleval-compatible) mode: entities are
    maximal runs ``B-X I-X ...``, and an ``I-X`` after ``O`` or after another type begins a new entity. An entity
    counts as correct only if its type, start and end all match. Sentences are scored together (micro average).
    When there are no gold and no predicted entities every score is 0 (seqeval's ``zero_division`` default, which
    XTREME inherits).

    Source: google-research/xtreme ``evaluate.py`` (``f1``), seqeval (``get_entities``, default mode).
    """
    return _seqeval_prf(gold, predictions)


def xtreme_pos_f1(gold: Sentences, predictions: Sentences) -> dict[str, float]:
    """UD-POS ``{"f1", "precision", "recall"}`` (%) exactly as XTREME's ``evaluate.py`` reports it.

    XTREME scores udpos with the same function as NER (``METRIC_FUNCTION['udpos'] = f1``), i.e. seqeval's chunk F1
    on UPOS tags, which have no ``B-``/``I-`` prefix. seqeval (1.x, the version installed here) then reads the first
    character of a tag as its chunk prefix and the rest as its type (``NOUN`` -> prefix ``N``, type ``OUN``), so:

    * a run of identical tags is **one** chunk: ``NOUN NOUN`` is a single two-word "entity", and predicting
      ``NOUN NOUN`` for it gets one true positive, not two; getting one of the two wrong loses the whole chunk;
    * tags beginning with ``S`` (``SCONJ``, ``SYM``) are read as IOBES singletons: each token is its own chunk;
    * ``CCONJ`` and ``SCONJ`` share the type ``CONJ``, so ``CCONJ`` directly followed by ``SCONJ`` yields only the
      ``SCONJ`` chunk, and ``SCONJ CCONJ`` yields two overlapping chunks;
    * ``X`` has the type ``_``, which is also the type of the ``O`` that seqeval appends after every sentence, so an
      ``X`` chunk ending a sentence is never closed there: it is dropped, or merged with an ``X`` that begins the
      next sentence into one chunk spanning the boundary;
    * the other tags are distinct types.

    The score is therefore not token accuracy (which :func:`token_accuracy` gives) and it depends on seqeval's
    version: seqeval 0.0.x (what XTREME installed in 2020) took the whole tag as the type, so there ``CCONJ`` and
    ``SCONJ`` differ; the two versions agree on every sentence without a ``CCONJ``/``SCONJ`` adjacency. We call the
    installed seqeval, as XTREME's script does, rather than re-implementing it.

    Source: google-research/xtreme ``evaluate.py`` (``f1``, ``METRIC_FUNCTION``), seqeval ``get_entities``.
    """
    return _seqeval_prf(gold, predictions)


def token_accuracy(gold: Sentences, predictions: Sentences) -> float:
    """Percentage of words whose predicted tag equals the gold tag, over all words of all sentences.

    A gold tag the model cannot produce (e.g. a CCG supertag unseen in training) simply never matches, so it counts
    as wrong. Source: jiant ``CCGTaggingTask`` (accuracy over the first sub-word of every word).

    Raises:
        ValueError: the shapes differ or there are no words.
    """
    _check(gold, predictions)
    total = sum(len(s) for s in gold)
    if total == 0:
        raise ValueError("accuracy of an empty set")
    correct = sum(g == p for gs, ps in zip(gold, predictions) for g, p in zip(gs, ps))
    return 100.0 * correct / total
