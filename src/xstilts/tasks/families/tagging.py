"""Token tagging: the family of UD-POS and PAN-X (target) and CCG supertagging (intermediate).

Every example is a sentence of pre-split words with one tag per word (:class:`TaggedExample`). This module holds what
the tagging tasks share: the featurisation, head, loss, decoding and scoring (:class:`Tagging`), and the readers of
the formats several tagging data sets use:

* ``token<TAB>tag`` files (:func:`read_token_tag_file`): XTREME's preprocessed ``{split}-{lang}.tsv`` (one
  ``word<TAB>tag`` line per word, a blank line between sentences; XTREME removes the tags from its *test* files) and
  WikiANN's raw ``lang:token<TAB>tag`` files;
* CoNLL-U (:func:`read_conllu`), as (FORM, UPOS) per syntactic word, with UD's universal POS tags
  (:data:`UPOS_LABELS`);
* Hugging Face rows of ``tokens`` and integer tag ids (:func:`_hf_tagged`).

The tasks are modules of their own: :mod:`xstilts.tasks.udpos`, :mod:`xstilts.tasks.panx`, :mod:`xstilts.tasks.ccg`
(whose label set comes from its training data: :data:`ACTIVE_LABELS`, with the reserved :data:`UNKNOWN_TAG`).

Windowing: a sentence longer than the model's max length is split into windows of whole words, never truncated;
every word is predicted exactly once (see :class:`Tagging`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ...errors import DataFormatError, XstiltsError
from .. import Task, register_family
from ..base import TrainableFamily, read_text_lines, short

#: ignored position in the token labels (special tokens, prefix words, non-first sub-words)
IGNORE = -100
#: reserved label for tags absent from the training set (CCG supertags; see :data:`ACTIVE_LABELS`)
UNKNOWN_TAG = "<unk>"
#: the label list of each dynamically labelled task (CCG), set by its reader; used by the head and featurisation
ACTIVE_LABELS: dict[str, tuple[str, ...]] = {}

#: Universal Dependencies' universal POS tags (the UPOS column of CoNLL-U)
UPOS_LABELS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
               "SCONJ", "SYM", "VERB", "X")


@dataclass(frozen=True)
class TaggedExample:
    """One sentence: its words and one gold tag (a label string) per word."""

    guid: str
    words: tuple[str, ...]
    tags: tuple[str, ...]


# ------------------------------------------------------------------------------------------ two-column files
def _first_data_line(lines: list[str]) -> tuple[int, str] | None:
    for i, line in enumerate(lines, 1):
        if line.strip() and not line.startswith("-DOCSTART-"):
            return i, line
    return None


def _has_tag_column(path: Path) -> bool:
    first = _first_data_line(read_text_lines(path))
    return first is None or "\t" in first[1]


def read_token_tag_file(path: Path, labels: tuple[str, ...], guid_prefix: str, *, lang_prefix: str | None = None,
                        require_prefix: bool = False) -> list[TaggedExample]:
    """Sentences of a ``token<TAB>tag`` file (blank line between sentences; ``-DOCSTART-`` lines skipped).

    Args:
        lang_prefix: a language code; a leading ``"{lang}:"`` is stripped from tokens (PAN-X raw files).
        require_prefix: every token must carry that prefix (raw PAN-X ``lang:token`` lines).
    Raises:
        DataFormatError: an empty file, a line without exactly two columns, an unknown tag or a missing prefix,
            naming the file and line.
    """
    lines = read_text_lines(path)
    if _first_data_line(lines) is None:
        raise DataFormatError(path, None, "empty file; expected token<TAB>tag lines, a blank line between sentences")
    out: list[TaggedExample] = []
    words: list[str] = []
    tags: list[str] = []
    allowed = set(labels)
    pre = f"{lang_prefix}:" if lang_prefix else None

    def flush() -> None:
        if words:
            out.append(TaggedExample(f"{guid_prefix}-{len(out)}", tuple(words), tuple(tags)))
            words.clear()
            tags.clear()

    for i, line in enumerate(lines, 1):
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            hint = (" (XTREME's preprocessing removes the tags of test files: use a labelled copy of the data)"
                    if len(cols) == 1 else "")
            raise DataFormatError(path, i, f"expected 2 tab-separated columns (token, tag), got {len(cols)}{hint}")
        token, tag = cols[0].strip(), cols[1].strip()
        if pre is not None:
            if token.startswith(pre):
                token = token[len(pre):]
            elif require_prefix:
                raise DataFormatError(path, i, f"expected a token of the form {pre}token, got {short(cols[0])}")
        if tag not in allowed:
            raise DataFormatError(path, i, f"unknown tag {short(tag)}; expected one of {', '.join(labels)}")
        words.append(token)
        tags.append(tag)
    flush()
    return out


# ------------------------------------------------------------------------------------------------- CoNLL-U
_ID_WORD = re.compile(r"[1-9][0-9]*")
_ID_RANGE = re.compile(r"[1-9][0-9]*-[1-9][0-9]*")
_ID_EMPTY = re.compile(r"[0-9]+\.[1-9][0-9]*")


def read_conllu(path: Path, labels: tuple[str, ...] = UPOS_LABELS, guid_prefix: str = "") -> list[TaggedExample]:
    """Sentences of a CoNLL-U file as (FORM, UPOS) per syntactic word.

    Comment lines (``#``), multiword-token ranges (``1-2``) and empty nodes (``1.1``) are skipped. Following XTREME's
    ``udpos_preprocess``, a sentence whose forms are all, or all but one, ``_`` is dropped, and spaces and U+200C
    (zero-width non-joiner) are removed inside forms.

    Raises:
        DataFormatError: an empty file, an empty sentence (two blank lines in a row, a blank first line, or comment
            lines with no word lines), a line without 10 columns, an ID that is not an integer, range or decimal,
            word IDs out of sequence, or an unknown UPOS tag, naming the file and line.
    """
    lines = read_text_lines(path)
    if not any(line.strip() and not line.startswith("#") for line in lines):
        raise DataFormatError(path, None, "empty file; expected CoNLL-U sentences")
    allowed = set(labels)
    out: list[TaggedExample] = []
    forms: list[str] = []
    tags: list[str] = []
    block = {"start": None, "words": 0}  # the current sentence: its first line and its word lines

    def flush(i: int) -> None:
        if block["start"] is None:  # a blank line with no sentence before it
            raise DataFormatError(path, i, "empty sentence (a blank line right after another, or at the start of the "
                                           "file); CoNLL-U separates sentences by exactly one blank line")
        if block["words"] == 0:
            raise DataFormatError(path, block["start"], "empty sentence (comment lines with no word lines); every "
                                                        "CoNLL-U sentence has at least one word line")
        block["start"], block["words"] = None, 0
        if forms:
            n_empty = sum(f == "_" for f in forms)
            if n_empty == 0 or n_empty < len(forms) - 1:
                words = tuple("".join(f.replace("\u200c", "").split(" ")) for f in forms)
                out.append(TaggedExample(f"{guid_prefix}{len(out)}", words, tuple(tags)))
        forms.clear()
        tags.clear()

    for i, line in enumerate(lines, 1):
        if not line.strip():
            flush(i)
            continue
        if block["start"] is None:
            block["start"] = i
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise DataFormatError(path, i, f"expected 10 tab-separated CoNLL-U columns (ID FORM LEMMA UPOS XPOS "
                                           f"FEATS HEAD DEPREL DEPS MISC), got {len(cols)}")
        wid = cols[0]
        if _ID_RANGE.fullmatch(wid) or _ID_EMPTY.fullmatch(wid):
            continue
        if not _ID_WORD.fullmatch(wid):
            raise DataFormatError(path, i, f"bad ID {short(wid)}; expected a word index (1, 2, ...), a multiword "
                                           f"range (1-2) or an empty node (1.1)")
        if int(wid) != len(forms) + 1:
            raise DataFormatError(path, i, f"word ID {wid} out of sequence; expected {len(forms) + 1}")
        if cols[3] not in allowed:
            raise DataFormatError(path, i, f"unknown UPOS tag {short(cols[3])}; expected one of {', '.join(labels)}")
        forms.append(cols[1])
        tags.append(cols[3])
        block["words"] += 1
    if block["start"] is not None:  # the last sentence, without a blank line after it
        flush(len(lines))
    return out


# ------------------------------------------------------------------------------------------- shared helpers
def _langs_in(names: list[str], pattern: str) -> list[str]:
    found = {m.group(1) for n in names if (m := re.fullmatch(pattern, n))}
    return sorted(x for x in found if re.fullmatch(r"[a-z]{2,3}", x))


# ----------------------------------------------------------------------------------- Hugging Face conversions
def _hf_tagged(labels: tuple[str, ...], tag_keys: tuple[str, ...]):
    def conv(row: dict, i: int) -> TaggedExample:
        words = row.get("tokens", row.get("words"))
        key = next((k for k in tag_keys if k in row), None)
        if words is None or key is None:
            raise XstiltsError(f"hub row {i}: expected 'tokens' and one of {', '.join(tag_keys)}")
        tags = tuple(labels[t] if isinstance(t, int) else str(t) for t in row[key])
        return TaggedExample(str(row.get("id", i)), tuple(words), tags)

    return conv


_HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


# --------------------------------------------------------------------------------------------------- family
class TaggingOptions(BaseModel):
    """Options of tagging tasks in a config (``options:`` of the task)."""

    model_config = ConfigDict(extra="forbid")

    label_all_subwords: bool = Field(False, description="train on every sub-word of a word (with the word's tag) "
                                                        "instead of only the first; prediction always uses the first")


class Tagging(TrainableFamily):
    """Token tagging with a per-token linear head (:class:`~xstilts.models.heads.tagging.TokenClassificationHead`).

    Featurisation (as XTREME's ``third_party/utils_tag.py``): words are tokenised with ``is_split_into_words=True``;
    a word's tag id goes on its first sub-word, other sub-words, special tokens and the model's text prefix (added
    as leading word(s) without a tag) get -100, ignored by the loss. A word that tokenises to nothing is replaced by
    the unknown token, as XTREME does. Unlike XTREME, which truncates at ``max_seq_length``, a sentence that does not
    fit is split into consecutive windows of whole words, each with the special tokens and the prefix; a single word
    longer than a window keeps its first sub-words (the one that is labelled included). Features record
    ``example_index`` (within the call), ``word_start``/``word_end`` (the window's words) and ``word_positions``
    (token index of each word's first sub-word); :meth:`decode` stitches the windows so that every word of every
    sentence gets exactly one predicted tag.

    Metrics: PAN-X seqeval F1, UD-POS XTREME's seqeval "F1" plus token accuracy, CCG token accuracy (see
    :mod:`xstilts.metrics.tagging`). Prediction files follow XTREME's ``run_tag.py``: one tag per line, a blank line
    between sentences.
    """

    kind = "tagging"
    options_model = TaggingOptions

    # ---------------------------------------------------------------------------------------------- labels
    def labels(self, task: Task) -> tuple[str, ...]:
        """The task's label list (index = class id): fixed for UD-POS/PAN-X, read from the training data for CCG."""
        if task.labels:
            return task.labels
        if task.name in ACTIVE_LABELS:
            return ACTIVE_LABELS[task.name]
        raise XstiltsError(f"the labels of task {task.name!r} come from its training data; read it before building "
                           f"features or the head")

    # ---------------------------------------------------------------------------------------------- features
    @staticmethod
    def _subword_counts(tokenizer, sentences: list[list[str]]) -> list[list[int]]:
        if not sentences:
            return []
        enc = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False, verbose=False)
        out = []
        for k, words in enumerate(sentences):
            counts = [0] * len(words)
            for w in enc.word_ids(k):
                if w is not None:
                    counts[w] += 1
            out.append(counts)
        return out

    def featurize(self, task, examples, tokenizer, max_length, prefix, options):
        opts = TaggingOptions.model_validate(options or {})
        if not getattr(tokenizer, "is_fast", False):
            raise XstiltsError("tagging tasks need a fast (Rust) tokenizer, which maps tokens to words")
        labels = self.labels(task)
        index = {lab: i for i, lab in enumerate(labels)}
        unknown = index.get(UNKNOWN_TAG)
        prefix_words = prefix.split()
        n_prefix_tokens = sum(self._subword_counts(tokenizer, [prefix_words])[0]) if prefix_words else 0
        budget = max_length - tokenizer.num_special_tokens_to_add(pair=False) - n_prefix_tokens
        if budget < 1:
            raise XstiltsError(f"max_length {max_length} leaves no room for words after the special tokens and the "
                               f"text prefix {prefix!r} ({n_prefix_tokens} tokens)")

        sentences, tag_ids = [], []
        for ex in examples:
            if not ex.words:
                raise XstiltsError(f"example {ex.guid} of {task.name} has no words")
            if len(ex.words) != len(ex.tags):
                raise XstiltsError(f"example {ex.guid} of {task.name}: {len(ex.words)} words but {len(ex.tags)} tags")
            ids = []
            for t in ex.tags:
                c = index.get(t, unknown)
                if c is None:
                    raise XstiltsError(f"example {ex.guid} of {task.name}: unknown tag {t!r}")
                ids.append(c)
            sentences.append(list(ex.words))
            tag_ids.append(ids)
        counts = self._subword_counts(tokenizer, sentences)
        unk_count = None
        for words, cnt in zip(sentences, counts):
            for w, c in enumerate(cnt):
                if c == 0:  # e.g. a lone zero-width character: XTREME's utils_tag.py uses the unknown token
                    if tokenizer.unk_token is None:
                        raise XstiltsError(f"word {words[w]!r} gives no tokens and the tokenizer has no unknown token")
                    if unk_count is None:
                        unk_count = sum(self._subword_counts(tokenizer, [[tokenizer.unk_token]])[0])
                    words[w], cnt[w] = tokenizer.unk_token, unk_count

        windows: list[tuple[int, int, int]] = []
        for e, cnt in enumerate(counts):
            start, used = 0, 0
            for w, c in enumerate(cnt):
                if w > start and used + c > budget:
                    windows.append((e, start, w))
                    start, used = w, 0
                used += c
            windows.append((e, start, len(cnt)))

        feats: dict[str, list] = {"input_ids": [], "labels": [], "example_index": [], "word_start": [],
                                  "word_end": [], "word_positions": []}
        n_pre = len(prefix_words)
        for s in range(0, len(windows), 1000):
            part = windows[s:s + 1000]
            enc = tokenizer([prefix_words + sentences[e][a:b] for e, a, b in part], is_split_into_words=True,
                            truncation=True, max_length=max_length, verbose=False)
            for k, (e, a, b) in enumerate(part):
                ids = list(enc["input_ids"][k])
                lab = [IGNORE] * len(ids)
                positions: list[int] = []
                current = -1
                for j, w in enumerate(enc.word_ids(k)):
                    if w is None or w < n_pre:
                        continue
                    w -= n_pre
                    if w != current:
                        if w != len(positions):
                            raise XstiltsError(f"example {examples[e].guid}: tokens of word {a + w} out of order")
                        positions.append(j)
                        lab[j] = tag_ids[e][a + w]
                        current = w
                    elif opts.label_all_subwords:
                        lab[j] = tag_ids[e][a + w]
                if len(positions) != b - a:
                    raise XstiltsError(f"example {examples[e].guid}: {b - a - len(positions)} word(s) of a window "
                                       f"lost in tokenisation")
                feats["input_ids"].append(ids)
                feats["labels"].append(lab)
                feats["example_index"].append(e)
                feats["word_start"].append(a)
                feats["word_end"].append(b)
                feats["word_positions"].append(positions)
        return feats

    def collate(self, features, idx, pad_id):
        import torch

        seqs = [features["input_ids"][i] for i in idx]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
        for r, i in enumerate(idx):
            n = len(seqs[r])
            ids[r, :n] = torch.tensor(seqs[r], dtype=torch.long)
            mask[r, :n] = 1
            labels[r, :n] = torch.tensor(features["labels"][i], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    # ---------------------------------------------------------------------------------------------- model
    def build_head(self, task, hidden_size, dropout):
        from ...models.heads.tagging import TokenClassificationHead

        return TokenClassificationHead(hidden_size, len(self.labels(task)), dropout)

    def loss(self, head, hidden, batch):
        import torch.nn.functional as F

        logits = head(hidden, batch["attention_mask"])
        labels = batch["labels"]
        if not bool((labels != IGNORE).any()):
            return logits.float().sum() * 0.0, logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)
        return loss, logits

    def logits(self, head, hidden, batch):
        return head(hidden, batch["attention_mask"])

    # ---------------------------------------------------------------------------------------------- decoding
    def decode(self, task, outputs, features, examples):
        """One tag per word of every example, from per-feature logits ``[L, C]``.

        A feature whose ``word_start`` is 0 opens the next example (features come in example order), which keeps
        decoding right when featurisation ran in several calls. The reserved :data:`UNKNOWN_TAG` is never predicted.
        Raises :class:`XstiltsError` if a word would get no prediction or two.
        """
        import torch

        labels = self.labels(task)
        blocked = labels.index(UNKNOWN_TAG) if UNKNOWN_TAG in labels else None
        preds: list[list[str | None]] = [[None] * len(ex.words) for ex in examples]
        e = -1
        for i, out in enumerate(outputs):
            a, b = features["word_start"][i], features["word_end"][i]
            if a == 0:
                e += 1
            if e < 0 or e >= len(examples) or b > len(preds[e]):
                raise XstiltsError(f"{task.name}: features do not match the {len(examples)} examples")
            pos = features["word_positions"][i]
            if not pos:
                continue
            scores = out[torch.tensor(pos, dtype=torch.long)].float()
            if blocked is not None:
                scores[:, blocked] = float("-inf")
            for k, c in enumerate(scores.argmax(-1).tolist()):
                if preds[e][a + k] is not None:
                    raise XstiltsError(f"{task.name}: word {a + k} of example {examples[e].guid} predicted twice")
                preds[e][a + k] = labels[c]
        if e != len(examples) - 1:
            raise XstiltsError(f"{task.name}: {e + 1} examples in the features, {len(examples)} given")
        for ex, p in zip(examples, preds):
            if any(x is None for x in p):
                raise XstiltsError(f"{task.name}: a word of example {ex.guid} got no prediction")
        return preds

    def score(self, task, predictions, examples):
        from ...metrics.tagging import ner_f1, token_accuracy, xtreme_pos_f1

        gold = [list(ex.tags) for ex in examples]
        scorer = task.extra.get("scorer", "accuracy")
        if scorer == "ner":
            return ner_f1(gold, predictions)
        if scorer == "pos":
            return {**xtreme_pos_f1(gold, predictions), "accuracy": token_accuracy(gold, predictions)}
        return {"accuracy": token_accuracy(gold, predictions)}

    def example_stats(self, task, predictions, examples):
        """Per sentence counts from which the corpus metric is a sum: ``{"tp", "fp", "fn"}`` for PAN-X and UD-POS
        (seqeval chunks), ``{"correct", "total"}`` words for token accuracy (CCG).

        The chunks are seqeval's own (``get_entities``) on the whole evaluated corpus, exactly as :meth:`score` gets
        them, and each chunk is counted in the sentence where it ends (a gold and a predicted chunk match only if
        they end at the same word, so a true positive is one sentence's). For PAN-X every chunk lies inside one
        sentence. XTREME's UD-POS scoring has cross-sentence chunks (see
        :func:`xstilts.metrics.tagging.xtreme_pos_f1`: an ``X`` at a sentence start inherits the begin offset of the
        previous chunk, and an ``X`` run at a sentence end is dropped or merged into the next sentence); those few
        chunks are counted in the sentence where they end, with the match status they have in the corpus order.
        Summing the counts of all sentences therefore reproduces the reported F1 exactly, and a bootstrap resample
        keeps each sentence's counts (the sentence is the resampling unit).
        """
        gold = [list(ex.tags) for ex in examples]
        preds = [list(p) for p in predictions]
        from ...metrics.tagging import _check

        _check(gold, preds)
        if task.extra.get("scorer", "accuracy") not in ("ner", "pos"):
            return [{"correct": sum(g == p for g, p in zip(gs, ps)), "total": len(gs)} for gs, ps in zip(gold, preds)]
        ends = _sentence_ends(gold)
        per_g, per_p = _chunks_by_sentence(gold, ends), _chunks_by_sentence(preds, ends)
        out = []
        for g, p in zip(per_g, per_p):
            tp = len(g & p)
            out.append({"tp": tp, "fp": len(p) - tp, "fn": len(g) - tp})
        return out

    def metric_from_stats(self, task, stats):
        """seqeval micro F1 (%) ``2 tp / (2 tp + fp + fn)`` (0 without true positives, as seqeval) from summed
        counts, or token accuracy ``100 * correct / total`` (see :meth:`example_stats`)."""
        if stats and "tp" in stats[0]:
            tp = sum(s["tp"] for s in stats)
            fp = sum(s["fp"] for s in stats)
            fn = sum(s["fn"] for s in stats)
            if tp == 0:
                return 0.0
            precision, recall = tp / (tp + fp), tp / (tp + fn)
            return 100.0 * (2 * precision * recall / (precision + recall))
        total = sum(s["total"] for s in stats)
        return 100.0 * sum(s["correct"] for s in stats) / total if total else 0.0

    def label_file(self, task, split, language, examples):
        """The gold tags in the layout of the predictions: one per line, a blank line between sentences."""
        return self.prediction_file(task, split, language, [list(e.tags) for e in examples], examples)

    def prediction_lines(self, task, predictions):
        """XTREME's tagging submission layout (``run_tag.py save_predictions``): one tag per line, a blank line
        between sentences, none after the last."""
        lines: list[str] = []
        for k, tags in enumerate(predictions):
            if k:
                lines.append("")
            lines.extend(tags)
        return lines


def _sentence_ends(sentences: list[list[str]]) -> list[int]:
    """Position of the ``O`` that seqeval appends after each sentence when it flattens a list of sentences."""
    ends, pos = [], 0
    for s in sentences:
        pos += len(s)
        ends.append(pos)
        pos += 1
    return ends


def _chunks_by_sentence(sentences: list[list[str]], ends: list[int]) -> list[set]:
    """seqeval's chunks ``(type, start, end)`` of the flattened corpus (``get_entities``, default mode, as
    ``f1_score`` extracts them), grouped by the sentence in which each chunk ends."""
    import bisect
    import warnings

    from seqeval.metrics.sequence_labeling import get_entities

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chunks = get_entities(sentences) if sentences else []
    out: list[set] = [set() for _ in sentences]
    for chunk in chunks:
        out[min(bisect.bisect_left(ends, chunk[2]), len(out) - 1)].add(chunk)
    return out


register_family(Tagging())
