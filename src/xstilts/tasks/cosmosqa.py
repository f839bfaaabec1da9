"""Cosmos QA (Huang et al. 2019): commonsense reading comprehension, a passage, a question and 4 answers; an English
intermediate task, and Belebele's English training set (:mod:`xstilts.tasks.belebele`).

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The multiple-choice family (featurisation, head, accuracy) is in :mod:`xstilts.tasks.families.multiple_choice`.

* Official layout (github.com/wilburOne/cosmosqa, ``data/``): ``train.csv`` / ``valid.csv`` (quoted CSV, header
  ``id,context,question,answer0,answer1,answer2,answer3,label``) and the unlabelled ``test.jsonl``; the same fields
  as ``{train,valid,test}.jsonl`` are read too. Prompt ``context question`` as jiant's ``cosmosqa.py``.
  Evaluated on ``valid`` (the test set has no labels).
* Hub: ``allenai/cosmos_qa`` (``train``/``validation``; a loading-script repository). ``xstilts download`` fetches the
  release files at a fixed commit.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import DataFormatError
from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import XSTILTS_INTERMEDIATE, iter_jsonl, need_str
from .families.multiple_choice import MCExample, _first_file, _hf_label, _label_index, _script_note, iter_csv

NAME = "cosmosqa"
COSMOSQA_COMMIT = "b6eb99cca4e2a51dd28a9a6f562534872d851639"
COSMOSQA_URL = "https://raw.githubusercontent.com/wilburOne/cosmosqa/" + COSMOSQA_COMMIT + "/data/{name}"


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


def _hf_cosmos(row: dict, i: int) -> MCExample:
    return MCExample(str(row.get("id", i)), row["context"], row["question"],
                     tuple(row[f"answer{k}"] for k in range(4)), _hf_label(row.get("label"), 4))


# ---------------------------------------------------------------------------------------------- example data
def write_examples(root: Path) -> Path:
    """Cosmos QA release layout: ``train.csv`` / ``valid.csv`` (quoted CSV) and the unlabelled ``test.jsonl``."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    cols = ["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"]
    for split, n in (("train", 48), ("valid", 16)):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for i in range(n):
            ctx = " ".join(ex.sentence(ex.random_clause(rng), "en") for _ in range(2))
            answers, y = ex._choices(rng, "en", 4)
            w.writerow([f"{split}-{i}", ctx, ex.sentence(ex.random_clause(rng, person=True), "en", question=True),
                        *answers, y])
        ex._write(root / f"{split}.csv", buf.getvalue())
    rows = []
    for i in range(8):
        answers, _ = ex._choices(rng, "en", 4)
        rows.append({"id": f"test-{i}", "context": ex.sentence(ex.random_clause(rng), "en"),
                     "question": ex.sentence(ex.random_clause(rng, person=True), "en", question=True),
                     **{f"answer{k}": a for k, a in enumerate(answers)}})
    ex._write(root / "test.jsonl", ex._jsonl(rows))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the official release files (train, valid, test) at a fixed commit."""
    from ..download._formats import count_lines
    from ..download.plan import csv_records

    def run(ctx) -> None:
        for name, split in (("train.csv", "train"), ("valid.csv", "dev"), ("test.jsonl", "test")):
            path = ctx.url(COSMOSQA_URL.format(name=name))
            ctx.count(split, csv_records(path) if name.endswith(".csv") else count_lines(path))
            ctx.place(name, path)

    plan.add(NAME, plan.folder(NAME), "url:cosmosqa", "Cosmos QA (official release files)", run)


register(Task(
    name=NAME, kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=25_262,  # the released training set (study cost estimates)
    read=read_cosmosqa, data_subdir=NAME, test_split="dev", extra={"num_choices": 4},
    hf=HFSource("allenai/cosmos_qa", None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_cosmos,
                note=_script_note("github.com/wilburOne/cosmosqa, data/{train,valid}.csv")),
    description="Cosmos QA, commonsense reading comprehension, 4 answers", source="Huang et al. 2019",
    protocol=XSTILTS_INTERMEDIATE,
    examples=ExampleData(write_examples), download=Download(plan_download),
), aliases=("cosmos_qa",))
