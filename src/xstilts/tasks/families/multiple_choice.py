"""Multiple-choice tasks: HellaSwag, Cosmos QA, CommonsenseQA, Social IQa (intermediate); XCOPA (target, XTREME-R).

Every example is a context, an optional question and C choices. A feature is C token sequences, one per choice, each
the tokenizer's pair template over ``(context [+ " " + question], choice)`` truncated longest-first to the max length,
as ``run_swag.py`` in transformers, jiant's multiple-choice template and XTREME-R's ``third_party/run_xcopa.py`` do.
One score per sequence comes from :class:`~xstilts.heads_mc.MultipleChoiceHead`; the C scores of an example are
trained with cross-entropy and the prediction is their argmax; the metric is accuracy.

Readers follow the official release layouts:

* HellaSwag (Zellers et al. 2019): ``hellaswag_{train,val,test}.jsonl`` with ``ctx_a``, ``ctx_b``, ``ctx``, four
  ``endings`` and ``label`` (absent in test). As the official BERT baseline (``hellaswag_models/bert/run_bert.py``,
  ``_part_a``/``_part_bs``) and jiant: first segment ``ctx_a``, choice ``ctx_b + " " + ending`` (``ctx`` when there is
  no ``ctx_a``; the bare ending when ``ctx_b`` is empty). The concatenated text is ``ctx + " " + ending``.
* Cosmos QA (Huang et al. 2019): ``train.csv`` / ``valid.csv`` (quoted CSV, header ``id,context,question,answer0,
  answer1,answer2,answer3,label``) or the same fields as ``{train,valid,test}.jsonl``; prompt ``context question``
  as jiant's ``cosmosqa.py``.
* CommonsenseQA (Talmor et al. 2019): ``{train,dev}_rand_split.jsonl`` (``test_rand_split_no_answers.jsonl``) with
  ``question.stem``, ``question.choices [{label, text}]`` (A-E) and ``answerKey``.
* Social IQa (Sap et al. 2019): ``socialiqa-train-dev/{train,dev}.jsonl`` with ``context``, ``question``,
  ``answerA/B/C`` and ``{train,dev}-labels.lst`` (1-3, one per line); or XTREME-R's ``socialIQa_v1.4_{trn,dev,tst}
  .jsonl`` with the letter in ``correct`` (``third_party/siqa_data/siqa_data.py``). Prompt ``context question``.
* XCOPA (Ponti et al. 2020): ``data/{lang}/{val,test}.{lang}.jsonl`` of github.com/cambridgeltl/xcopa (also found as
  ``{lang}/...`` or flat ``{val,test}.{lang}.jsonl``, XTREME-R's ``download/xcopa``), with ``premise``, ``choice1``,
  ``choice2``, ``question`` (``cause``/``effect``), ``label`` (0/1), ``idx``. First segment, exactly as
  ``run_xcopa.py``: ``f"{premise} What was the {question}?"``; choices ``choice1``, ``choice2``. English training
  data, as XTREME-R's ``scripts/train_xcopa.sh``: Social IQa and the English COPA training set (SuperGLUE
  ``COPA/train.jsonl``, which XTREME-R's ``download_data.sh`` renames ``train.en.jsonl``), chosen with the task option
  ``train_on``. XTREME-R fine-tunes on SIQa first and then on COPA; one xstilts target phase trains on one data set,
  so ``siqa+copa`` (the default) trains on their union; the sequential recipe is intermediate task ``siqa`` followed
  by target ``xcopa`` with ``train_on: copa``.

Unlabelled files (HellaSwag and CommonsenseQA test) give ``label = -1``; scoring them is an error.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...errors import ConfigError, DataFormatError, MissingDataError, XstiltsError
from .. import INTERMEDIATE, TARGET, HFSource, Task, register, register_family
from ..base import (XSTILTS_INTERMEDIATE, TrainableFamily, decode_text, iter_jsonl, need_str, read_bytes,
                   read_text_lines, require_file, short, type_name)


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


# --------------------------------------------------------------------------------------------------- readers
def read_hellaswag(data_dir: Path, split: str, language: str) -> list[MCExample]:
    name = {"train": "train", "dev": "val", "test": "test"}[split]
    path = require_file(data_dir / f"hellaswag_{name}.jsonl", f"the HellaSwag {split} file")
    out = []
    for line, obj in iter_jsonl(path, ("endings",)):
        if "ctx_a" not in obj and "ctx" not in obj:
            raise DataFormatError(path, line, "missing key(s) ctx_a (or ctx)")
        endings = obj["endings"]
        if not isinstance(endings, list) or not all(isinstance(x, str) for x in endings):
            raise DataFormatError(path, line, "'endings' must be a list of strings")
        if len(endings) != 4:
            raise DataFormatError(path, line, f"expected 4 endings, got {len(endings)}")
        for key in ("ctx_a", "ctx_b", "ctx"):
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise DataFormatError(path, line, f"{key!r} should be a string, got {type_name(obj[key])}")
        # official run_bert.py: _part_a / _part_bs
        ctx_a, ctx = obj.get("ctx_a"), obj.get("ctx")
        part_a = ctx if ctx_a is None or (ctx is not None and len(ctx) == len(ctx_a)) else ctx_a
        ctx_b = obj.get("ctx_b") or ""
        choices = tuple(f"{ctx_b} {e}" if ctx_b else e for e in endings)
        if "label" in obj and obj["label"] not in ("", None):
            label = _label_index(obj["label"], 4, path, line)
        elif split == "test":
            label = -1
        else:
            raise DataFormatError(path, line, "missing key(s) label")
        out.append(MCExample(str(obj.get("ind", line)), part_a or "", "", choices, label))
    return out


def _cosmos_example(row: dict, path: Path, line: int, labelled: bool) -> MCExample:
    choices = tuple(need_str(row, f"answer{i}", path, line) for i in range(4))
    if labelled:
        label = _label_index(row.get("label"), 4, path, line)
    else:
        label = -1
    return MCExample(str(row.get("id", line)), need_str(row, "context", path, line),
                     need_str(row, "question", path, line), choices, label)


def read_cosmosqa(data_dir: Path, split: str, language: str) -> list[MCExample]:
    name = {"train": "train", "dev": "valid", "test": "test"}[split]
    cols = ("context", "question", "answer0", "answer1", "answer2", "answer3")
    path = _first_file([data_dir / f"{name}.csv", data_dir / f"{name}.jsonl"], f"the Cosmos QA {split} file")
    rows = iter_csv(path, cols) if path.suffix == ".csv" else iter_jsonl(path, cols)
    out = []
    for line, row in rows:
        has_label = "label" in row and row["label"] not in ("", None)
        if not has_label and split != "test":
            raise DataFormatError(path, line, "missing label")
        out.append(_cosmos_example(row, path, line, has_label))
    return out


CSQA_KEYS = ("A", "B", "C", "D", "E")


def read_commonsenseqa(data_dir: Path, split: str, language: str) -> list[MCExample]:
    name = {"train": "train_rand_split.jsonl", "dev": "dev_rand_split.jsonl",
            "test": "test_rand_split_no_answers.jsonl"}[split]
    path = require_file(data_dir / name, f"the CommonsenseQA {split} file")
    out = []
    for line, obj in iter_jsonl(path, ("question",)):
        q = obj["question"]
        if not isinstance(q, dict) or not isinstance(q.get("stem"), str) or not isinstance(q.get("choices"), list):
            raise DataFormatError(path, line, "expected 'question' to be an object with 'stem' and 'choices'")
        if not all(isinstance(c, dict) and isinstance(c.get("label"), str) and isinstance(c.get("text"), str)
                   for c in q["choices"]):
            raise DataFormatError(path, line, "each of question.choices must be an object with string 'label' and "
                                              "'text'")
        keys = [c["label"] for c in q["choices"]]
        texts = tuple(c["text"] for c in q["choices"])
        if len(keys) != len(CSQA_KEYS):
            raise DataFormatError(path, line, f"expected {len(CSQA_KEYS)} choices, got {len(keys)}")
        if sorted(keys) != list(CSQA_KEYS):
            raise DataFormatError(path, line, f"choice labels must be {', '.join(CSQA_KEYS)}, "
                                              f"got {short(', '.join(keys))}")
        order = sorted(range(len(keys)), key=lambda i: keys[i])
        key = obj.get("answerKey")
        if key in (None, "") and split == "test":
            label = -1
        elif key not in CSQA_KEYS:
            raise DataFormatError(path, line, f"answerKey {short(key)} is not one of {', '.join(CSQA_KEYS)}")
        else:
            label = CSQA_KEYS.index(key)
        out.append(MCExample(str(obj.get("id", line)), "", q["stem"], tuple(texts[i] for i in order), label))
    return out


_SIQA_V14 = {"train": "trn", "dev": "dev", "test": "tst"}


def _siqa_files(folder: Path, split: str) -> tuple[Path, Path | None] | None:
    """``(jsonl, labels .lst or None)`` of SIQa *split* in *folder* (official or XTREME-R's v1.4 layout), if any."""
    name = "dev" if split == "test" else split
    for base in (folder, folder / "socialiqa-train-dev"):
        if (base / f"{name}.jsonl").is_file():
            return base / f"{name}.jsonl", base / f"{name}-labels.lst"
    for base in (folder, folder / "socialIQa_v1.4"):
        p = base / f"socialIQa_v1.4_{_SIQA_V14[split]}.jsonl"
        if p.is_file():
            return p, None
    return None


def read_siqa(data_dir: Path, split: str, language: str) -> list[MCExample]:
    found = _siqa_files(data_dir, split)
    if found is None:
        name = "dev" if split == "test" else split
        raise MissingDataError(f"{data_dir / 'socialiqa-train-dev' / f'{name}.jsonl'}: file not found (expected the "
                               f"Social IQa {split} file with {name}-labels.lst beside it, or "
                               f"socialIQa_v1.4_{_SIQA_V14[split]}.jsonl in {data_dir})")
    path, labels_path = found
    cols = ("context", "question", "answerA", "answerB", "answerC")
    rows = list(iter_jsonl(path, cols if labels_path is not None else cols + ("correct",)))
    if labels_path is not None:
        lines = [x for x in read_text_lines(require_file(labels_path, f"the Social IQa labels of {path.name}"))]
        while lines and not lines[-1].strip():
            lines.pop()
        if len(lines) > len(rows):
            raise DataFormatError(labels_path, len(rows) + 1, f"{len(lines)} labels for {len(rows)} examples in "
                                                              f"{path.name} (one label per example and line)")
        if len(lines) < len(rows):
            raise DataFormatError(path, rows[len(lines)][0], f"{len(lines)} labels for {len(rows)} examples: this "
                                                             f"example has no label in {labels_path.name}")
        labels = [_label_index(v, 3, labels_path, i, base=1) for i, v in enumerate(lines, 1)]
    else:
        labels = []
        for line, obj in rows:
            if obj["correct"] not in ("A", "B", "C"):
                raise DataFormatError(path, line, f"'correct' {short(obj['correct'])} is not one of A, B, C")
            labels.append("ABC".index(obj["correct"]))
    return [MCExample(f"siqa-{split}-{line}", _text(obj, "context", path, line), _text(obj, "question", path, line),
                      tuple(_text(obj, k, path, line) for k in ("answerA", "answerB", "answerC")), y)
            for (line, obj), y in zip(rows, labels)]


XCOPA_QUESTIONS = ("cause", "effect")


def read_copa_jsonl(path: Path, prefix: str) -> list[MCExample]:
    """COPA / XCOPA jsonl (``premise``, ``choice1``, ``choice2``, ``question``, ``label``, ``idx``) as in
    ``run_xcopa.py``: first segment ``f"{premise} What was the {question}?"``, choices ``choice1``, ``choice2``."""
    out = []
    for line, obj in iter_jsonl(path, ("premise", "choice1", "choice2", "question", "label")):
        if obj["question"] not in XCOPA_QUESTIONS:
            raise DataFormatError(path, line, f"question {short(obj['question'])} is not 'cause' or 'effect'")
        extra = [k for k in obj if k.startswith("choice") and k not in ("choice1", "choice2")]
        if extra:
            raise DataFormatError(path, line, f"expected 2 choices (choice1, choice2), also got "
                                              f"{short(', '.join(extra))}")
        out.append(MCExample(f"{prefix}-{obj.get('idx', line)}", _text(obj, "premise", path, line),
                             f"What was the {obj['question']}?",
                             (_text(obj, "choice1", path, line), _text(obj, "choice2", path, line)),
                             _label_index(obj["label"], 2, path, line)))
    return out


#: XTREME-R's recipe trains on SIQa and COPA (``scripts/train_xcopa.sh``); ``siqa+copa`` is its one-phase form.
XCOPA_DEFAULT_TRAIN = "siqa+copa"


def _copa_file(data_dir: Path, split: str) -> Path:
    """The English COPA file: XTREME-R's ``{split}.en.jsonl`` or SuperGLUE's ``COPA/{split}.jsonl``."""
    names = [data_dir / f"{split}.en.jsonl", data_dir / "COPA" / f"{split}.jsonl", data_dir / "copa" / f"{split}.jsonl",
             data_dir.parent / "COPA" / f"{split}.jsonl", data_dir.parent / "copa" / f"{split}.jsonl"]
    return _first_file(names, f"the English COPA {split} file (SuperGLUE COPA/{split}.jsonl)")


def _siqa_dir(data_dir: Path) -> Path:
    tried = [data_dir / "siqa", data_dir / "socialiqa", data_dir.parent / "siqa", data_dir]
    for d in tried:
        if _siqa_files(d, "train") is not None:
            return d
    raise MissingDataError(f"{tried[0]}: Social IQa training data not found for xcopa (looked for "
                           f"socialiqa-train-dev/train.jsonl + train-labels.lst or socialIQa_v1.4_trn.jsonl in "
                           f"{', '.join(str(d) for d in tried)}); set the task option train_on: copa to train on COPA "
                           f"alone")


def read_xcopa(data_dir: Path, split: str, language: str, options: dict | None = None) -> list[MCExample]:
    """XCOPA *split* in *language*; ``train`` is English SIQa and/or COPA as the ``train_on`` option says, and
    English ``dev``/``test`` are COPA's validation set (XTREME-R's ``val.en.jsonl``)."""
    if split == "train":
        train_on = (options or {}).get("train_on") or XCOPA_DEFAULT_TRAIN
        out: list[MCExample] = []
        if "siqa" in train_on.split("+"):
            out += read_siqa(_siqa_dir(data_dir), "train", "en")
        if "copa" in train_on.split("+"):
            out += read_copa_jsonl(_copa_file(data_dir, "train"), "copa-train")
        return out
    if language == "en":
        return read_copa_jsonl(_copa_file(data_dir, "val"), "copa-val")
    name = {"dev": "val", "test": "test"}[split]
    fname = f"{name}.{language}.jsonl"
    path = _first_file([data_dir / "data" / language / fname, data_dir / language / fname, data_dir / fname],
                       f"the XCOPA {language} {split} file")
    return read_copa_jsonl(path, f"{language}-{name}")


def discover_xcopa_languages(data_dir: Path) -> list[str]:
    """Languages with an XCOPA test file in *data_dir* (any of the supported layouts)."""
    found = {p.name.split(".")[1] for pat in ("data/*/test.*.jsonl", "*/test.*.jsonl", "test.*.jsonl")
             for p in data_dir.glob(pat) if len(p.name.split(".")) == 3}
    return sorted(x for x in found - {"en"} if re.fullmatch(r"[a-z]{2,3}", x))


# ----------------------------------------------------------------------------------- Hugging Face conversions
def _hf_label(v: Any, n: int, base: int = 0) -> int:
    if v in (None, "", -1):
        return -1
    return int(v) - base if 0 <= int(v) - base < n else -1


def _hf_hellaswag(row: dict, i: int) -> MCExample:
    ctx_b = row.get("ctx_b") or ""
    return MCExample(str(row.get("ind", i)), row.get("ctx_a") or row.get("ctx") or "", "",
                     tuple(f"{ctx_b} {e}" if ctx_b else e for e in row["endings"]), _hf_label(row.get("label"), 4))


def _hf_cosmos(row: dict, i: int) -> MCExample:
    return MCExample(str(row.get("id", i)), row["context"], row["question"],
                     tuple(row[f"answer{k}"] for k in range(4)), _hf_label(row.get("label"), 4))


def _hf_csqa(row: dict, i: int) -> MCExample:
    keys, texts = row["choices"]["label"], row["choices"]["text"]
    order = sorted(range(len(keys)), key=lambda k: keys[k])
    key = row.get("answerKey")
    return MCExample(str(row.get("id", i)), "", row["question"], tuple(texts[k] for k in order),
                     CSQA_KEYS.index(key) if key in CSQA_KEYS else -1)


def _hf_siqa(row: dict, i: int) -> MCExample:
    return MCExample(f"siqa-{i}", row["context"], row["question"], (row["answerA"], row["answerB"], row["answerC"]),
                     _hf_label(row.get("label"), 3, base=1))


def _hf_copa(row: dict, i: int) -> MCExample:
    return MCExample(str(row.get("idx", i)), row["premise"], f"What was the {row['question']}?",
                     (row["choice1"], row["choice2"]), _hf_label(row.get("label"), 2))


# ------------------------------------------------------------------------------------------------- registry
def _script_note(official: str) -> str:
    return (f"This hub repository still ships a loading script, which datasets 4 no longer runs (use datasets<4 with "
            f"trust_remote_code, or the official files: {official}).")


XCOPA_LANGS = tuple("et ht id it qu sw ta th tr vi zh".split())

register(Task(
    name="hellaswag", kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=39_905,  # the released training set (study cost estimates)
    read=read_hellaswag, data_subdir="hellaswag", test_split="dev", extra={"num_choices": 4},
    hf=HFSource("Rowan/hellaswag", None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_hellaswag,
                note=_script_note("github.com/rowanz/hellaswag, data/hellaswag_{train,val}.jsonl")),
    description="HellaSwag, commonsense sentence completion, 4 endings (ActivityNet and WikiHow contexts)",
    source="Zellers et al. 2019", protocol=XSTILTS_INTERMEDIATE,
))
register(Task(
    name="cosmosqa", kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=25_262,  # the released training set (study cost estimates)
    read=read_cosmosqa, data_subdir="cosmosqa", test_split="dev", extra={"num_choices": 4},
    hf=HFSource("allenai/cosmos_qa", None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_cosmos,
                note=_script_note("github.com/wilburOne/cosmosqa, data/{train,valid}.csv")),
    description="Cosmos QA, commonsense reading comprehension, 4 answers", source="Huang et al. 2019",
    protocol=XSTILTS_INTERMEDIATE,
), aliases=("cosmos_qa",))
register(Task(
    name="commonsenseqa", kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=9_741,  # the released training set (study cost estimates)
    read=read_commonsenseqa, data_subdir="commonsenseqa", test_split="dev", extra={"num_choices": 5},
    hf=HFSource("tau/commonsense_qa", None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_csqa),
    description="CommonsenseQA, ConceptNet-based questions, 5 answers", source="Talmor et al. 2019",
    protocol=XSTILTS_INTERMEDIATE,
), aliases=("csqa",))
register(Task(
    name="siqa", kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=33_410,  # the released training set (study cost estimates)
    read=read_siqa, data_subdir="siqa", test_split="dev", extra={"num_choices": 3},
    hf=HFSource("allenai/social_i_qa", None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_siqa,
                note=_script_note("socialiqa-train-dev.zip from leaderboard.allenai.org/socialiqa")),
    description="Social IQa, social commonsense questions, 3 answers (XTREME-R trains on it before COPA for XCOPA)",
    source="Sap et al. 2019; XTREME-R",
), aliases=("socialiqa",))
register(Task(
    name="xcopa", kind="multiple_choice", roles=(TARGET,), languages=XCOPA_LANGS, metric="accuracy",
    read=read_xcopa, data_subdir="xcopa",
    discover_languages=discover_xcopa_languages,
    read_options=True,
    extra={"num_choices": 2, "train_sources": True, "prediction_format": "jsonl_label"},
    hf=HFSource("cambridgeltl/xcopa", "{lang}", {"dev": "validation", "test": "test"}, _hf_copa),
    description="Cross-lingual Choice of Plausible Alternatives, 11 languages; trained on English SIQa and/or COPA",
    source="Ponti et al. 2020; XTREME-R",
))


# --------------------------------------------------------------------------------------------------- family
class MultipleChoiceOptions(BaseModel):
    """Options of multiple-choice tasks (``TaskSpec.options``)."""

    model_config = ConfigDict(extra="forbid")

    train_on: Literal["copa", "siqa", "siqa+copa"] | None = Field(
        None, description="xcopa only: English training data (default siqa+copa, as XTREME-R trains on both)")


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
        from ...heads_mc import MultipleChoiceHead

        return MultipleChoiceHead(hidden_size, dropout)

    def loss(self, head, hidden, batch):
        import torch.nn.functional as F

        from ...heads_mc import choice_scores

        scores = choice_scores(head, hidden, batch)
        return F.cross_entropy(scores, batch["label"], ignore_index=-1), scores

    def logits(self, head, hidden, batch):
        from ...heads_mc import choice_scores

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
