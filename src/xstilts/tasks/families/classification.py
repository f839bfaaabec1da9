"""Sentence-pair classification tasks: MNLI, ANLI, QQP (intermediate); XNLI, PAWS-X (target); KJV/WEB paraphrase.

Readers follow the official release layouts:

* MNLI 1.0 (Williams et al. 2018): ``multinli_1.0_{train,dev_matched}.jsonl`` with ``gold_label``, ``sentence1``,
  ``sentence2``; pairs whose ``gold_label`` is ``-`` (no annotator consensus) are skipped, as in GLUE.
* ANLI v1.0 (Nie et al. 2020): ``R{1,2,3}/{train,dev,test}.jsonl`` with ``context``, ``hypothesis``, ``label`` in
  ``e``/``n``/``c``. Task ``anli`` concatenates the three rounds; ``anli-r1`` etc. use one.
* QQP (GLUE release): ``{train,dev}.tsv`` with header ``id qid1 qid2 question1 question2 is_duplicate``.
* XNLI 1.0 (Conneau et al. 2018): ``xnli.{dev,test}.tsv`` (header with ``language``, ``gold_label``, ``sentence1``,
  ``sentence2`` among 15+ columns; all languages in one file). English training data is MNLI's, as in XTREME.
* PAWS-X (Yang et al. 2019): ``{lang}/{train,dev_2k,test_2k}.tsv`` with header ``id sentence1 sentence2 label``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import DataFormatError, MissingDataError
from .. import INTERMEDIATE, TARGET, HFSource, Task, register, register_family
from ..base import (XSTILTS_INTERMEDIATE, TrainableFamily, iter_jsonl, iter_tsv, label_id, need_str,
                   read_text_lines, require_file, short, xstilts_protocol)

NLI_LABELS = ("entailment", "neutral", "contradiction")
BINARY_LABELS = ("0", "1")


@dataclass(frozen=True)
class PairExample:
    """One sentence pair: ``label`` is the class id (index into the task's labels); ``text_b`` is ``None`` for
    single-sentence classification (SIB-200's topics)."""

    guid: str
    text_a: str
    text_b: str | None
    label: int


# --------------------------------------------------------------------------------------------------- readers
def read_mnli(data_dir: Path, split: str, language: str) -> list[PairExample]:
    files = {"train": "multinli_1.0_train.jsonl", "dev": "multinli_1.0_dev_matched.jsonl",
             "test": "multinli_1.0_dev_matched.jsonl", "dev_mismatched": "multinli_1.0_dev_mismatched.jsonl"}
    path = require_file(data_dir / files[split], f"the MNLI 1.0 {split} file")
    out = []
    for line, obj in iter_jsonl(path, ("gold_label", "sentence1", "sentence2")):
        if obj["gold_label"] == "-":
            continue
        out.append(PairExample(str(obj.get("pairID", line)), need_str(obj, "sentence1", path, line),
                               need_str(obj, "sentence2", path, line),
                               label_id(NLI_LABELS, obj["gold_label"], path, line)))
    if not out:
        raise DataFormatError(path, None, "no labelled pairs (every gold_label is '-')")
    return out


_ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}


def _read_anli_round(data_dir: Path, rnd: str, split: str) -> list[PairExample]:
    base = data_dir / rnd if (data_dir / rnd).is_dir() else data_dir
    path = require_file(base / f"{split}.jsonl", f"the ANLI v1.0 {rnd} {split} file")
    out = []
    for line, obj in iter_jsonl(path, ("context", "hypothesis", "label")):
        lab = _ANLI_LABELS.get(obj["label"]) if isinstance(obj["label"], str) else None
        if lab is None:
            raise DataFormatError(path, line, f"unknown label {short(obj['label'])}; expected one of e, n, c")
        out.append(PairExample(str(obj.get("uid", f"{rnd}-{line}")), need_str(obj, "context", path, line),
                               need_str(obj, "hypothesis", path, line), NLI_LABELS.index(lab)))
    return out


def _anli_reader(rounds: tuple[str, ...]):
    def read(data_dir: Path, split: str, language: str) -> list[PairExample]:
        return [ex for r in rounds for ex in _read_anli_round(data_dir, r, split)]

    return read


def read_qqp(data_dir: Path, split: str, language: str) -> list[PairExample]:
    path = require_file(data_dir / f"{'dev' if split == 'test' else split}.tsv", f"the GLUE QQP {split} file")
    header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    return [PairExample(c[0], c[3], c[4], label_id(BINARY_LABELS, c[5], path, line))
            for line, c in iter_tsv(path, 6, header=header)]


def _read_pawsx_style(path: Path) -> list[PairExample]:
    return [PairExample(c[0], c[1], c[2], label_id(BINARY_LABELS, c[3], path, line))
            for line, c in iter_tsv(path, 4, header=["id", "sentence1", "sentence2", "label"])]


def read_pawsx(data_dir: Path, split: str, language: str) -> list[PairExample]:
    name = {"train": "train.tsv", "dev": "dev_2k.tsv", "test": "test_2k.tsv"}[split]
    if split == "train" and language != "en":
        name = "translated_train.tsv"
    path = require_file(data_dir / language / name, f"the PAWS-X {language} {split} file")
    return _read_pawsx_style(path)


#: XNLI translate-train labels as the files spell them (XTREME's and XNLI-MT's "contradictory").
_XNLI_MT_LABELS = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradiction",
                   "contradictory": "contradiction"}


def read_xnli_translate_train(data_dir: Path, language: str) -> list[PairExample]:
    """MultiNLI machine-translated into *language*, for ``train_language``: XTREME's translate-train file
    ``translate-train/en-{lang}-translated.tsv`` (no header; English premise, English hypothesis, translated premise,
    translated hypothesis, label — the layout XTREME's ``xtreme_translations/XNLI`` bucket ships), or the XNLI-MT 1.0
    release's ``XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv`` (header ``premise hypo label``)."""
    xtreme = data_dir / "translate-train" / f"en-{language}-translated.tsv"
    mt = data_dir / "XNLI-MT-1.0" / "multinli" / f"multinli.train.{language}.tsv"
    if not xtreme.is_file() and mt.is_file():
        out = []
        for line, c in iter_tsv(mt, 3, header=["premise", "hypo", "label"]):
            lab = _XNLI_MT_LABELS.get(c[2])
            if lab is None:
                raise DataFormatError(mt, line, f"unknown label {short(c[2])}; expected entailment, neutral or "
                                                f"contradictory")
            out.append(PairExample(f"{language}-{line}", c[0], c[1], NLI_LABELS.index(lab)))
        return out
    require_file(xtreme, f"XTREME's XNLI translate-train file for {language} (or {mt})")
    out = []
    for line, c in iter_tsv(xtreme, 5):
        lab = _XNLI_MT_LABELS.get(c[4])
        if lab is None:
            raise DataFormatError(xtreme, line, f"unknown label {short(c[4])}; expected entailment, neutral or "
                                                f"contradictory in the 5th column")
        out.append(PairExample(f"{language}-{line}", c[2], c[3], NLI_LABELS.index(lab)))
    return out


def read_xnli(data_dir: Path, split: str, language: str) -> list[PairExample]:
    if split == "train":
        if language != "en":  # translate-train: MultiNLI machine-translated into the language
            return read_xnli_translate_train(data_dir, language)
        # XTREME trains XNLI on the English MultiNLI training set
        mnli_dir = data_dir / "multinli" if (data_dir / "multinli").is_dir() else data_dir
        return read_mnli(mnli_dir, "train", "en")
    path = require_file(data_dir / f"xnli.{split}.tsv", f"the XNLI 1.0 {split} file")
    if path.stat().st_size == 0:
        raise DataFormatError(path, None, "empty file; expected the XNLI 1.0 header and rows")
    rows = iter_tsv(path, header=["language", "gold_label"], min_cols=8)
    first = read_header(path)
    try:
        i1, i2 = first.index("sentence1"), first.index("sentence2")
    except ValueError:
        raise DataFormatError(path, 1, "expected columns named sentence1 and sentence2 in the header") from None
    id_col = first.index("pairID") if "pairID" in first else None
    out = []
    for line, c in rows:
        if len(c) != len(first):
            raise DataFormatError(path, line, f"expected {len(first)} tab-separated columns, got {len(c)}")
        if c[0] != language:
            continue
        out.append(PairExample(c[id_col] if id_col is not None else str(line), c[i1], c[i2],
                               label_id(NLI_LABELS, c[1], path, line)))
    if not out:
        raise MissingDataError(f"{path}: no rows for language {language!r}")
    return out


def read_header(path: Path) -> list[str]:
    lines = read_text_lines(path)
    return lines[0].split("\t") if lines else []


def read_kjv_web(data_dir: Path, split: str, language: str) -> list[PairExample]:
    path = require_file(data_dir / f"{split}.tsv", f"the KJV/WEB paraphrase {split} file (run `xstilts prepare`)")
    return _read_pawsx_style(path)


# ----------------------------------------------------------------------------------- Hugging Face conversions
def _hf_nli(row: dict, i: int) -> PairExample:
    return PairExample(str(row.get("idx", i)), row["premise"], row["hypothesis"], int(row["label"]))


def _hf_pair(a: str, b: str):
    def conv(row: dict, i: int) -> PairExample:
        return PairExample(str(row.get("id", row.get("idx", i))), row[a], row[b], int(row["label"]))

    return conv


# ------------------------------------------------------------------------------------------------- registry
XNLI_LANGS = tuple("en ar bg de el es fr hi ru sw th tr ur vi zh".split())
PAWSX_LANGS = tuple("en de es fr ja ko zh".split())

register(Task(
    name="mnli", kind="pair_classification", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=392_702,  # the released training set (study cost estimates)
    labels=NLI_LABELS, read=read_mnli, data_subdir="multinli_1.0", dev_split="dev", test_split="dev",
    hf=HFSource("nyu-mll/glue", "mnli", {"train": "train", "dev": "validation_matched", "test": "validation_matched"},
                _hf_nli),
    description="Multi-Genre NLI, 393k English premise/hypothesis pairs, 3 classes",
    source="Williams et al. 2018; GLUE", protocol=XSTILTS_INTERMEDIATE,
))
#: ANLI training-set sizes: rounds 1-3 16,946 + 45,460 + 100,459.
_ANLI_SIZES = {"anli": 162_865, "anli-r1": 16_946, "anli-r2": 45_460, "anli-r3": 100_459}
for _rounds, _name in ((("R1", "R2", "R3"), "anli"), (("R1",), "anli-r1"), (("R2",), "anli-r2"), (("R3",), "anli-r3")):
    register(Task(
        name=_name, kind="pair_classification", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
        train_size=_ANLI_SIZES[_name],  # the released training set (study cost estimates)
        labels=NLI_LABELS, read=_anli_reader(_rounds), data_subdir="anli_v1.0",
        hf=HFSource("facebook/anli", None,
                    {s: "+".join(f"{s if s != 'dev' else 'dev'}_{r.lower()}" for r in _rounds)
                     for s in ("train", "dev", "test")}, _hf_nli),
        description=f"Adversarial NLI, round(s) {', '.join(_rounds)}", source="Nie et al. 2020",
        protocol=XSTILTS_INTERMEDIATE,
    ))
register(Task(
    name="qqp", kind="pair_classification", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=363_846,  # the released training set (study cost estimates)
    labels=BINARY_LABELS, read=read_qqp, data_subdir="QQP", test_split="dev",
    hf=HFSource("nyu-mll/glue", "qqp", {"train": "train", "dev": "validation", "test": "validation"},
                _hf_pair("question1", "question2")),
    description="Quora Question Pairs, duplicate-question detection", source="GLUE (Wang et al. 2019)",
    protocol=XSTILTS_INTERMEDIATE,
))
register(Task(
    name="xnli", kind="pair_classification", roles=(TARGET,), languages=XNLI_LANGS, metric="accuracy",
    train_size=392_702,  # the released training set (study cost estimates)
    labels=NLI_LABELS, read=read_xnli, data_subdir="xnli",
    hf=HFSource("facebook/xnli", "{lang}", {"train": "train", "dev": "validation", "test": "test"}, _hf_nli),
    description="Cross-lingual NLI, 15 languages; trained on English MultiNLI", source="Conneau et al. 2018; XTREME",
    protocol=xstilts_protocol(epochs=2, batch_size=32, max_length=256),
    translate_train=tuple(x for x in XNLI_LANGS if x != "en"),
))
register(Task(
    name="pawsx", kind="pair_classification", roles=(TARGET,), languages=PAWSX_LANGS, metric="accuracy",
    train_size=49_401,  # the released training set (study cost estimates)
    labels=BINARY_LABELS, read=read_pawsx, data_subdir="pawsx/x-final",
    hf=HFSource("google-research-datasets/paws-x", "{lang}", {"train": "train", "dev": "validation", "test": "test"},
                _hf_pair("sentence1", "sentence2")),
    description="Cross-lingual paraphrase adversaries from word scrambling, 7 languages",
    source="Yang et al. 2019; XTREME", protocol=xstilts_protocol(epochs=5, batch_size=32, max_length=256),
    translate_train=tuple(x for x in PAWSX_LANGS if x != "en"),  # {lang}/translated_train.tsv of the release
), aliases=("paws-x",))
register(Task(
    name="kjv-web-paraphrase", kind="pair_classification", roles=(INTERMEDIATE, TARGET), languages=("en",),
    metric="accuracy", labels=BINARY_LABELS, read=read_kjv_web, data_subdir="bible/paraphrase_kjv_web",
    description="English paraphrase identification, KJV verse vs WEB verse (public domain; `xstilts prepare`)",
    source="xstilts demo data from Debian's sword-text-kjv / sword-text-web",
))
register(Task(
    name="kjv-web-paraphrase-hard", kind="pair_classification", roles=(INTERMEDIATE, TARGET), languages=("en",),
    metric="accuracy", labels=BINARY_LABELS, read=read_kjv_web, data_subdir="bible/paraphrase_kjv_web_hard",
    description="KJV/WEB paraphrase, overlap-matched subset where word overlap is at chance",
    source="xstilts demo data from Debian's sword-text-kjv / sword-text-web",
))


# --------------------------------------------------------------------------------------------------- family
class PairClassification(TrainableFamily):
    """Sentence-pair classification: ``<s> a </s></s> b </s>`` (the tokenizer's pair template), truncated
    longest-first to the max length (a single sentence, ``text_b is None`` in every example: ``<s> a </s>``); a
    :class:`~xstilts.heads.ClassificationHead` on the first token; cross-entropy;
    accuracy as XTREME's ``evaluate.py``. Predictions are written one label per line (XTREME submission layout)."""

    kind = "pair_classification"

    def featurize(self, task, examples, tokenizer, max_length, prefix, options):
        if examples and all(e.text_b is None for e in examples):  # single sentences: ``<s> a </s>``
            enc = tokenizer([prefix + e.text_a for e in examples], truncation=True, max_length=max_length)
        else:
            enc = tokenizer([prefix + e.text_a for e in examples], [prefix + e.text_b for e in examples],
                            truncation=True, max_length=max_length)
        feats = {"input_ids": enc["input_ids"], "label": [e.label for e in examples]}
        if "token_type_ids" in enc and any(any(t) for t in enc["token_type_ids"][:64]):
            feats["token_type_ids"] = enc["token_type_ids"]
        return feats

    def build_head(self, task, hidden_size, dropout):
        from ...heads import ClassificationHead

        return ClassificationHead(hidden_size, len(task.labels), dropout)

    def loss(self, head, hidden, batch):
        import torch.nn.functional as F

        logits = head(hidden, batch["attention_mask"])
        return F.cross_entropy(logits.float(), batch["label"]), logits

    def decode(self, task, outputs, features, examples):
        return [int(o.argmax()) for o in outputs]

    def score(self, task, predictions, examples):
        from ...metrics import accuracy

        return {"accuracy": accuracy(predictions, [e.label for e in examples])}

    def prediction_lines(self, task, predictions):
        return [task.labels[p] for p in predictions]

    def label_file(self, task, split, language, examples):
        """The gold label names, one per line (XTREME's ``test-<lang>.tsv`` label layout)."""
        return self.prediction_file(task, split, language, [e.label for e in examples], examples)

    def example_stats(self, task, predictions, examples):
        return [{"correct": int(p == e.label)} for p, e in zip(predictions, examples)]

    def metric_from_stats(self, task, stats):
        n = sum(s.get("_examples", 1) for s in stats)  # aggregated stats carry their example count
        return 100.0 * sum(s["correct"] for s in stats) / n


register_family(PairClassification())
