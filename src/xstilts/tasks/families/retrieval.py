"""The ``retrieval`` family: sentence retrieval scored from the encoder's sentence embeddings, with no training data
(Tatoeba, BUCC 2018, FLORES-200 and the Tatoeba-format sets), and the reader of the line-aligned format they share.

* :class:`ParallelData`: source sentences, English sentences and the gold pairs between them, what every reader of
  the family returns; :func:`read_aligned` reads two line-aligned files (line *i* of both a translation pair).
* The Tatoeba format (Artetxe & Schwenk 2019; XTREME): ``tatoeba.{xxx}-eng.{xxx}`` and ``tatoeba.{xxx}-eng.eng``, one
  sentence per line, line *i* of both files a translation pair; ``xxx`` is the 3-letter code (see
  :mod:`xstilts.languages`). Read by :func:`read_tatoeba` for XTREME's Tatoeba and XTREME-R's
  (:mod:`xstilts.tasks.tatoeba`) and for the parallel sets ``xstilts prepare`` makes
  (:mod:`xstilts.tasks.tatoeba_udhr`, :mod:`xstilts.tasks.tatoeba_bible`).
* Scoring modes (``Task.extra["mode"]``): ``nearest`` (Tatoeba accuracy@1), ``bitext`` (FLORES-200: both directions)
  and ``margin`` (BUCC 2018 ratio-margin mining, :func:`bucc_candidates`; :mod:`xstilts.tasks.bucc2018`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataFormatError
from ...languages import from_lang3, to_lang3
from .. import Task, register_family
from ..base import EmbeddingFamily, EmbeddingResult, read_text_lines, require_file


@dataclass
class ParallelData:
    """Source-language sentences, English sentences and the gold pairs between them.

    For Tatoeba, ``gold`` is ``[(i, i)]`` for every line. For BUCC, ids come from the files and ``gold`` from ``.gold``.
    """

    src_ids: list[str]
    src: list[str]
    tgt_ids: list[str]
    tgt: list[str]
    gold: list[tuple[str, str]] = field(default_factory=list)


def read_aligned(src_path: Path, tgt_path: Path) -> ParallelData:
    """Two line-aligned files (line *i* of both a translation pair) as :class:`ParallelData` with ids ``0..n-1``.

    Raises:
        DataFormatError: an empty source file, files of different lengths (at the first line of the longer file that
            has no counterpart), or an empty sentence (file and line).
    """
    src, tgt = read_text_lines(src_path), read_text_lines(tgt_path)
    if not src:
        raise DataFormatError(src_path, None, "empty file; expected one sentence per line")
    if len(src) != len(tgt):  # reported at the first line of the longer file that has no counterpart
        longer, other = (src_path, tgt_path) if len(src) > len(tgt) else (tgt_path, src_path)
        raise DataFormatError(longer, min(len(src), len(tgt)) + 1,
                              f"parallel files differ in length: {max(len(src), len(tgt))} lines here, "
                              f"{min(len(src), len(tgt))} in {other.name} (line i of both must be a translation pair)")
    for path, lines in ((src_path, src), (tgt_path, tgt)):
        for i, s in enumerate(lines, 1):
            if not s.strip():
                raise DataFormatError(path, i, "empty sentence; expected one sentence per line")
    ids = [str(i) for i in range(len(src))]
    return ParallelData(ids, src, ids, tgt, list(zip(ids, ids)))


def read_tatoeba(data_dir: Path, split: str, language: str) -> ParallelData:
    """Read the Tatoeba pair ``tatoeba.{xxx}-eng.{xxx}`` / ``.eng``; mismatched line counts are an error."""
    l3 = to_lang3(language)
    src_path = require_file(data_dir / f"tatoeba.{l3}-eng.{l3}", f"Tatoeba {language} sentences")
    tgt_path = require_file(data_dir / f"tatoeba.{l3}-eng.eng", f"Tatoeba English sentences for {language}")
    return read_aligned(src_path, tgt_path)


def tatoeba_languages(data_dir: Path) -> list[str]:
    """Languages present in a Tatoeba-format folder (XTREME codes where they exist), sorted."""
    out = []
    for p in sorted(data_dir.glob("tatoeba.*-eng.eng")):
        l3 = p.name[len("tatoeba."):-len("-eng.eng")]
        if re.fullmatch(r"[a-z]{2,3}", l3) and (data_dir / f"tatoeba.{l3}-eng.{l3}").is_file():
            out.append(from_lang3(l3))
    return sorted(out)


#: Modes scored line by line against the parallel line: ``nearest`` (Tatoeba, one direction) and ``bitext``
#: (FLORES-200: xx->en and en->xx, the headline ``accuracy@1`` their mean; prediction lines are xx->en).
NEAREST = ("nearest", "bitext")


class Retrieval(EmbeddingFamily):
    """Retrieval from sentence embeddings, no training and no head.

    ``evaluate`` loads every language's data, embeds each distinct text once (the English side of Tatoeba-format
    data repeats across languages), and scores each language by the task's ``mode``: ``nearest`` (Tatoeba
    accuracy@1, cosine nearest neighbour, en->xx as XTREME's code or xx->en) or ``margin`` (BUCC: ratio-margin mining, threshold tuned on dev).
    Prediction lines follow the XTREME submission layout: Tatoeba, per query line the index of the retrieved line
    (en->xx: per English line the source line, as XTREME's ``run_retrieval.py`` writes them); BUCC, one
    ``xx_id<TAB>en_id`` per extracted pair.
    """

    kind = "retrieval"
    trainable = False

    def evaluation_settings(self, task: Task, evaluation) -> dict:
        """Tatoeba-style tasks: the search direction (``evaluation.tatoeba_direction``); BUCC: the margin threshold
        (``evaluation.bucc_threshold``)."""
        mode = task.extra.get("mode")
        if mode == "nearest":
            return {"direction": evaluation.tatoeba_direction}
        if mode == "margin":
            return {"bucc_threshold": evaluation.bucc_threshold}
        return {}

    def splits(self, task: Task) -> list[str]:
        return [task.test_split] if task.extra.get("mode") in NEAREST else [task.dev_split, task.test_split]

    def example_stats(self, task, predictions, examples):
        """Tatoeba: ``{"correct": 0/1}`` per source sentence (*predictions*: the predicted English line of each source
        line, *examples*: the :class:`ParallelData`). BUCC: ``None`` (its F1 is over mined pairs of the whole corpus,
        with a threshold tuned on dev, so it does not decompose over sentences; bootstrap it over seeds only)."""
        if task.extra.get("mode") not in NEAREST:
            return None
        if task.extra.get("mode") == "bitext":  # both directions: (xx->en, en->xx) predictions per line
            return [{"correct": (int(a == i) + int(b == i)) / 2} for i, (a, b) in enumerate(zip(*predictions))]
        return [{"correct": int(p == i)} for i, p in enumerate(predictions)]

    def metric_from_stats(self, task, stats):
        """Tatoeba accuracy@1 (%); a stats dict may stand for ``_examples`` sentences (aggregated bootstrap sums)."""
        if task.extra.get("mode") not in NEAREST:
            raise NotImplementedError(f"{task.name}: no per-example statistics (corpus-level F1)")
        n = sum(s.get("_examples", 1) for s in stats)
        return 100.0 * sum(s["correct"] for s in stats) / n if n else 0.0

    def evaluate(self, task: Task, languages: list[str], load, embed, settings: dict) -> EmbeddingResult:
        """Score every language.

        Args:
            load: ``load(split, language) -> ParallelData``.
            embed: ``embed(texts) -> Tensor [len(texts), H]`` (the configured layer, pooling and prefix).
            settings: ``{"k": neighbourhood for margin scoring, "direction": Tatoeba direction (default en-xx),
                "bucc_threshold": "official" (F1-optimal on the scored split's own gold, as XTREME's ``bucc_eval``
                and jiant) or "dev" (tuned on the dev split, applied to test), ...}``.
        Returns:
            ``({lang: scores (%) and n}, {lang: (file name, content)}, {lang: per-example statistics})``; the
            statistics (:meth:`example_stats`) are given for Tatoeba-style tasks only.
        """
        from ... import metrics

        dev_threshold = settings.get("bucc_threshold", "official") == "dev"
        splits = self.splits(task)
        if task.extra.get("mode") not in NEAREST and not dev_threshold:
            splits = [task.test_split]  # the threshold comes from the test gold itself
        loaded = {(lang, sp): load(sp, lang) for lang in languages for sp in splits}
        texts = sorted({t for d in loaded.values() for t in (*d.src, *d.tgt)}, key=len)
        table = embed(texts)
        row = {t: i for i, t in enumerate(texts)}

        def emb(d: ParallelData):
            return d, table[[row[t] for t in d.src]], table[[row[t] for t in d.tgt]]

        scores, lines, stats = {}, {}, {}
        for lang in languages:
            if task.extra.get("mode") == "nearest":
                d, s, t = emb(loaded[(lang, task.test_split)])
                acc, pred = metrics.tatoeba_accuracy(s, t, settings.get("direction", "en-xx"))
                scores[lang] = {"accuracy@1": acc, "n": len(d.src)}
                lines[lang] = (f"{task.test_split}-{lang}.tsv", "".join(f"{p}\n" for p in pred))
                stats[lang] = self.example_stats(task, pred, d)
            elif task.extra.get("mode") == "bitext":  # FLORES-200: both directions, headline their mean
                d, s, t = emb(loaded[(lang, task.test_split)])
                acc_xe, pred_xe = metrics.tatoeba_accuracy(s, t, "xx-en")
                acc_ex, pred_ex = metrics.tatoeba_accuracy(s, t, "en-xx")
                scores[lang] = {"accuracy@1": (acc_xe + acc_ex) / 2, "accuracy@1 xx-en": acc_xe,
                                "accuracy@1 en-xx": acc_ex, "error rate xx-en": 100.0 - acc_xe,
                                "error rate en-xx": 100.0 - acc_ex, "n": len(d.src)}
                lines[lang] = (f"{task.test_split}-{lang}.tsv", "".join(f"{p}\n" for p in pred_xe))
                stats[lang] = self.example_stats(task, (pred_xe, pred_ex), d)
            else:
                test = emb(loaded[(lang, task.test_split)])
                k = settings.get("k", 4)
                test_c = bucc_candidates(*test, k=k)
                if dev_threshold:
                    dev = emb(loaded[(lang, task.dev_split)])
                    threshold = metrics.bucc_optimize(bucc_candidates(*dev, k=k), dev[0].gold)
                else:  # XTREME's bucc_eval and jiant: the F1-optimal threshold on the gold of the split scored
                    threshold = metrics.bucc_optimize(test_c, test[0].gold)
                scores[lang] = {**metrics.bucc_scores(test_c, test[0].gold, threshold), "n": len(test[0].src)}
                lines[lang] = (f"{task.test_split}-{lang}.tsv", "".join(
                    f"{a}\t{b}\n" for a, b in sorted(p for p, v in test_c.items() if v >= threshold)))
        return EmbeddingResult(scores, lines, stats)

    def label_files(self, task, languages, load):
        """Tatoeba: the gold English line of each source line (its own index), one per line; BUCC: the gold
        ``xx_id<TAB>en_id`` pairs, one per line (the ``.gold`` file)."""
        out = {}
        for lang in languages:
            d = load(task.test_split, lang)
            if task.extra.get("mode") in NEAREST:
                content = "".join(f"{i}\n" for i in range(len(d.src)))
            else:
                content = "".join(f"{a}\t{b}\n" for a, b in d.gold)
            out[lang] = (f"{task.test_split}-{lang}.tsv", content)
        return out


def write_tatoeba_format(root: Path, seed: str, languages: tuple[str, ...], n: int = 24) -> Path:
    """Synthetic example data in the Tatoeba format: *n* parallel lines per language of *languages* (a generator
    seeded by *seed*, the task's name), ``tatoeba.{xxx}-eng.{xxx}`` and ``tatoeba.{xxx}-eng.eng``."""
    from .. import _synthetic as ex

    rng = ex._rng(seed)
    for lang in languages:
        src, eng = ex._parallel(rng, lang, n)
        l3 = to_lang3(lang)
        ex._write(root / f"tatoeba.{l3}-eng.{l3}", "".join(s + "\n" for s in src))
        ex._write(root / f"tatoeba.{l3}-eng.eng", "".join(s + "\n" for s in eng))
    return root


def _distinct(texts: list[str]) -> tuple[list[int], dict[str, int]]:
    """Rows of the first occurrence of each distinct text, in order, and the row of each text that occurs once."""
    first: dict[str, int] = {}
    count: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
        count[t] = count.get(t, 0) + 1
    return list(first.values()), {t: first[t] for t, c in count.items() if c == 1}


def bucc_candidates(data: ParallelData, src_emb, tgt_emb, k: int = 4) -> dict[tuple[str, str], float]:
    """Margin-scored candidate pairs keyed by ``(src_id, en_id)``, as XTREME's ``mine_bitext`` + ``bucc_eval``.

    As there, each side is first reduced to its distinct sentences (``text_load_unify``), the pairs are mined among
    those (:func:`xstilts.metrics.mine_candidates`, ``max`` retrieval, ratio margin, score > 0), and a pair is mapped
    back to sentence ids only when both sentences occur once on their side (``read_sent2id`` drops a sentence that
    is repeated, so no pair with it can be predicted).

    Args:
        src_emb, tgt_emb: ``[n, d]`` / ``[m, d]`` embeddings of ``data.src`` / ``data.tgt``, row by row.
    """
    from ...metrics import mine_candidates

    src_rows, src_once = _distinct(data.src)
    tgt_rows, tgt_once = _distinct(data.tgt)
    out: dict[tuple[str, str], float] = {}
    for s, t, score in mine_candidates(src_emb[src_rows], tgt_emb[tgt_rows], k):
        a, b = data.src[src_rows[s]], data.tgt[tgt_rows[t]]
        if a in src_once and b in tgt_once:
            pair = (data.src_ids[src_once[a]], data.tgt_ids[tgt_once[b]])
            out[pair] = max(score, out.get(pair, score))
    return out


register_family(Retrieval())

