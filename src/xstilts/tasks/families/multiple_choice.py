"""The multiple-choice family: what HellaSwag, Cosmos QA, CommonsenseQA, Social IQa, XCOPA and Belebele share.

Every example is a context, an optional question and C choices. A feature is C token sequences, one per choice, each
the tokenizer's pair template over ``(context [+ " " + question], choice)`` truncated longest-first to the max length,
as ``run_swag.py`` in transformers, jiant's multiple-choice template and XTREME-R's ``third_party/run_xcopa.py`` do.
One score per sequence comes from :class:`~xstilts.models.heads.multiple_choice.MultipleChoiceHead`; the C scores of an example are
trained with cross-entropy and the prediction is their argmax; the metric is accuracy.

The tasks are modules of their own (:mod:`xstilts.tasks.hellaswag`, :mod:`~xstilts.tasks.cosmosqa`,
:mod:`~xstilts.tasks.commonsenseqa`, :mod:`~xstilts.tasks.siqa`, :mod:`~xstilts.tasks.xcopa`,
:mod:`~xstilts.tasks.belebele`), each with its reader of the official release layout; this module has the example
type, the helpers their readers share (CSV records, choice numbers, the first existing file) and the family.

A task whose training data can come from several sources (XCOPA: SIQa and/or COPA) lists the allowed values of the
task option ``train_on`` in ``Task.extra["train_sources"]``; a config's ``train_on`` is checked against them.

Unlabelled files (HellaSwag and CommonsenseQA test) give ``label = -1``; scoring them is an error.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ...errors import ConfigError, DataFormatError, MissingDataError, XstiltsError
from .. import register_family
from ..base import TrainableFamily, decode_text, need_str, read_bytes, short


@dataclass(frozen=True)
class MCExample:
    """One multiple-choice example: ``label`` is the index of the correct choice (-1 when the file has no answer)."""

    guid: str
    context: str
    question: str
    choices: tuple[str, ...]
    label: int

    @property
    def prompt(self) -> str:
        """The first segment of every choice's sequence: context and question joined by a space."""
        return " ".join(x for x in (self.context, self.question) if x)


# ----------------------------------------------------------------------------------------------- file helpers
def _first_file(candidates: list[Path], what: str) -> Path:
    """The first existing file of *candidates*; else :class:`MissingDataError` listing where it was looked for."""
    for p in candidates:
        if p.is_file():
            return p
    raise MissingDataError(f"{candidates[0]}: file not found (expected {what}; also looked for "
                           f"{', '.join(str(p) for p in candidates[1:]) or 'nothing else'})")


def iter_csv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` of a comma-separated file with a header row and standard double-quote quoting.

    The line number is where the record starts (quoted fields may span lines).

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: bad UTF-8, an empty file, a header without one of *required*, broken quoting or a row with
            a different number of fields than the header, naming the file and line.
    """
    text = decode_text(path, read_bytes(path, "a CSV file"))
    # lines end at LF only (as every reader counts them); a CR before it is part of the CSV record end
    reader = csv.reader(io.StringIO(text, newline="\n"), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DataFormatError(path, None, f"empty file; expected a header {','.join(required)}") from None
    except csv.Error as e:
        raise DataFormatError(path, 1, f"malformed CSV header ({short(str(e), 120)})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise DataFormatError(path, 1, f"expected a header with column(s) {', '.join(required)}; missing "
                                       f"{', '.join(missing)}")
    prev, rows = reader.line_num, 0
    while True:
        start = prev + 1
        try:
            row = next(reader)
        except StopIteration:
            if rows == 0:
                raise DataFormatError(path, None, "no data rows after the header") from None
            return
        except csv.Error as e:
            raise DataFormatError(path, start, f"malformed CSV record ({short(str(e), 120)})") from None
        prev = reader.line_num
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataFormatError(path, start, f"expected {len(header)} comma-separated fields as in the header, "
                                               f"got {len(row)}")
        rows += 1
        yield start, dict(zip(header, row))


def _label_index(value: Any, n: int, path: Path, line: int | None, *, base: int = 0) -> int:
    """``value`` (an int or a digit string counted from *base*) as a 0-based choice index below *n*."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        try:
            value, ok = int(value.strip()), True
        except ValueError:  # more digits than int() accepts
            pass
    if not ok or not base <= value < base + n:
        raise DataFormatError(path, line, f"label {short(value)} is not a choice number from {base} to {base + n - 1}")
    return int(value) - base


def _text(obj: dict, key: str, path: Path, line: int) -> str:
    return need_str(obj, key, path, line)


# ----------------------------------------------------------------------------------- Hugging Face conversions
def _hf_label(v: Any, n: int, base: int = 0) -> int:
    if v in (None, "", -1):
        return -1
    return int(v) - base if 0 <= int(v) - base < n else -1


def _script_note(official: str) -> str:
    return (f"This hub repository still ships a loading script, which datasets 4 no longer runs (use datasets<4 with "
            f"trust_remote_code, or the official files: {official}).")


# --------------------------------------------------------------------------------------------------- family
class MultipleChoiceOptions(BaseModel):
    """Options of multiple-choice tasks (``TaskSpec.options``)."""

    model_config = ConfigDict(extra="forbid")

    train_on: str | None = Field(
        None, description="xcopa only: English training data (default siqa+copa, as XTREME-R trains on both)")

    @field_validator("train_on", mode="before")
    @classmethod
    def _a_train_source(cls, value: Any, info: ValidationInfo) -> Any:
        """One of the task's ``Task.extra["train_sources"]``; the task comes in the validation context (a task
        without them has no ``train_on``)."""
        task = (info.context or {}).get("task")
        if value is None or task is None:
            return value
        allowed = tuple(task.extra.get("train_sources") or ())
        if not allowed:
            raise PydanticCustomError("no_train_sources", "task {task} has no option train_on",
                                      {"task": repr(task.name)})
        if value not in allowed:
            expected = (", ".join(repr(x) for x in allowed[:-1]) + f" or {allowed[-1]!r}" if len(allowed) > 1
                        else repr(allowed[0]))
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value


class MultipleChoice(TrainableFamily):
    """C sequences per example, scored one by one by a shared head, cross-entropy over the C scores.

    Features per example: ``input_ids`` (a list of C token-id lists), ``label`` and, for tokenizers with segment ids,
    ``token_type_ids`` (C lists). :meth:`collate` flattens a batch to ``input_ids [B*C, L]`` (C = the most choices
    in the batch; examples with fewer get one-token dummy sequences, masked out by ``choice_mask [B, C]``).
    """

    kind = "multiple_choice"
    options_model = MultipleChoiceOptions

    def featurize(self, task, examples, tokenizer, max_length, prefix, options):
        if (options or {}).get("train_on") and not task.extra.get("train_sources"):
            raise ConfigError(f"task {task.name!r} has no option train_on (only xcopa has)")
        firsts, seconds = [], []
        for e in examples:
            if len(e.choices) < 2:
                raise XstiltsError(f"{task.name} example {e.guid}: {len(e.choices)} choice(s); expected at least 2")
            for c in e.choices:
                firsts.append(prefix + e.prompt)
                seconds.append(prefix + c)
        enc = tokenizer(firsts, seconds, truncation=True, max_length=max_length)
        probe = tokenizer("a", "b")
        with_types = "token_type_ids" in probe and any(probe["token_type_ids"])
        feats: dict[str, list] = {"input_ids": [], "label": [e.label for e in examples]}
        if with_types:
            feats["token_type_ids"] = []
        k = 0
        for e in examples:
            n = len(e.choices)
            feats["input_ids"].append(enc["input_ids"][k:k + n])
            if with_types:
                feats["token_type_ids"].append(enc["token_type_ids"][k:k + n])
            k += n
        return feats

    def collate(self, features, idx, pad_id):
        import torch

        groups = [features["input_ids"][i] for i in idx]
        B, C = len(groups), max(len(g) for g in groups)
        has_types = "token_type_ids" in features
        seqs, types = [], []
        choice_mask = torch.zeros((B, C), dtype=torch.bool)
        for r, i in enumerate(idx):
            g = groups[r]
            choice_mask[r, : len(g)] = True
            for c in range(C):
                if c < len(g):
                    seqs.append(g[c])
                    types.append(features["token_type_ids"][i][c] if has_types else None)
                else:  # a dummy one-token sequence (the first choice's first token), scored -inf
                    seqs.append(g[0][:1])
                    types.append([0])
        width = max(len(s) for s in seqs)
        ids = torch.full((B * C, width), pad_id, dtype=torch.long)
        mask = torch.zeros((B * C, width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[r, : len(s)] = 1
        out = {"input_ids": ids, "attention_mask": mask, "choice_mask": choice_mask,
               "num_choices": torch.tensor([len(g) for g in groups], dtype=torch.long),
               "label": torch.tensor([features["label"][i] for i in idx], dtype=torch.long)}
        if has_types:
            tt = torch.zeros((B * C, width), dtype=torch.long)
            for r, t in enumerate(types):
                tt[r, : len(t)] = torch.tensor(t, dtype=torch.long)
            out["token_type_ids"] = tt
        return out

    def feature_length(self, features, i):
        return max(len(s) for s in features["input_ids"][i])

    def build_head(self, task, hidden_size, dropout):
        from ...models.heads.multiple_choice import MultipleChoiceHead

        return MultipleChoiceHead(hidden_size, dropout)

    def loss(self, head, hidden, batch):
        import torch.nn.functional as F

        from ...models.heads.multiple_choice import choice_scores

        scores = choice_scores(head, hidden, batch)
        return F.cross_entropy(scores, batch["label"], ignore_index=-1), scores

    def logits(self, head, hidden, batch):
        from ...models.heads.multiple_choice import choice_scores

        return choice_scores(head, hidden, batch)

    def decode(self, task, outputs, features, examples):
        return [int(o.argmax()) for o in outputs]

    def score(self, task, predictions, examples):
        from ...metrics import accuracy

        gold = [e.label for e in examples]
        if any(g < 0 for g in gold):
            raise XstiltsError(f"{task.name}: {sum(g < 0 for g in gold)} evaluation example(s) have no gold answer "
                               f"(an unlabelled test file?); evaluate on a labelled split")
        return {"accuracy": accuracy(predictions, gold)}

    def example_stats(self, task, predictions, examples):
        """Per example ``{"correct": 0/1}``."""
        return [{"correct": int(p == e.label)} for p, e in zip(predictions, examples)]

    def metric_from_stats(self, task, stats):
        """Accuracy (%); a stats dict may stand for ``_examples`` examples (aggregated bootstrap sums)."""
        n = sum(s.get("_examples", 1) for s in stats)
        return 100.0 * sum(s["correct"] for s in stats) / n if n else 0.0

    def prediction_lines(self, task, predictions):
        return [str(p) for p in predictions]

    def prediction_file(self, task, split, language, predictions, examples):
        if task.extra.get("prediction_format") == "jsonl_label":
            # XTREME-R's run_xcopa.py writes test-{lang}.jsonl with one {"label": k} per line
            return (f"{split}-{language}.jsonl",
                    "".join(json.dumps({"label": int(p)}) + "\n" for p in predictions))
        return super().prediction_file(task, split, language, predictions, examples)

    def label_file(self, task, split, language, examples):
        """The gold choice of each example, in the layout of the predictions (XCOPA: ``{"label": k}`` per line, which
        ``evaluate.py``'s ``read_xcopa`` reads like the official JSON lines)."""
        if any(e.label < 0 for e in examples):
            return None  # a test file without answers
        return self.prediction_file(task, split, language, [e.label for e in examples], examples)


register_family(MultipleChoice())
