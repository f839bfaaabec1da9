"""The sentence-pair classification family (kind ``pair_classification``): featurisation, head, loss, decoding,
accuracy, and what its tasks share: the example type, the NLI and binary label sets, the reader of the
``id sentence1 sentence2 label`` TSV layout (PAWS-X's, and the KJV/WEB paraphrase files'), and the conversions of hub
rows (NLI premise/hypothesis rows; rows with two named text columns).

The tasks are modules of :mod:`xstilts.tasks`: ``mnli``, ``anli`` (and its rounds), ``qqp``, ``xnli``, ``pawsx``,
``kjv_web_paraphrase`` and ``sib200`` (single sentences: ``text_b`` is ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import register_family
from ..base import TrainableFamily, iter_tsv, label_id

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


# ------------------------------------------------------------------------------------------- shared readers
def read_pair_tsv(path: Path) -> list[PairExample]:
    """A TSV file with the header ``id sentence1 sentence2 label`` and labels ``0``/``1`` (PAWS-X's layout)."""
    return [PairExample(c[0], c[1], c[2], label_id(BINARY_LABELS, c[3], path, line))
            for line, c in iter_tsv(path, 4, header=["id", "sentence1", "sentence2", "label"])]


# ----------------------------------------------------------------------------------- Hugging Face conversions
def hf_nli(row: dict, i: int) -> PairExample:
    """A hub NLI row (``premise``, ``hypothesis``, ``label`` as a class id; ``idx`` where the data set has one)."""
    return PairExample(str(row.get("idx", i)), row["premise"], row["hypothesis"], int(row["label"]))


def hf_pair(a: str, b: str):
    """The conversion of hub rows whose texts are columns *a* and *b* (``label`` a class id; ``id`` or ``idx``)."""
    def conv(row: dict, i: int) -> PairExample:
        return PairExample(str(row.get("id", row.get("idx", i))), row[a], row[b], int(row["label"]))

    return conv


# --------------------------------------------------------------------------------------------------- family
class PairClassification(TrainableFamily):
    """Sentence-pair classification: ``<s> a </s></s> b </s>`` (the tokenizer's pair template), truncated
    longest-first to the max length (a single sentence, ``text_b is None`` in every example: ``<s> a </s>``); a
    :class:`~xstilts.models.heads.ClassificationHead` on the first token; cross-entropy;
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
        from ...models.heads import ClassificationHead

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
