"""HellaSwag (Zellers et al. 2019): commonsense sentence completion, 4 endings (ActivityNet and WikiHow contexts);
an English intermediate task.

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The multiple-choice family (featurisation, head, accuracy) is in :mod:`xstilts.tasks.families.multiple_choice`.

* Official layout (github.com/rowanz/hellaswag, ``data/``): ``hellaswag_{train,val,test}.jsonl`` with ``ctx_a``,
  ``ctx_b``, ``ctx``, four ``endings`` and ``label`` (absent in test). As the official BERT baseline
  (``hellaswag_models/bert/run_bert.py``, ``_part_a``/``_part_bs``) and jiant: first segment ``ctx_a``, choice
  ``ctx_b + " " + ending`` (``ctx`` when there is no ``ctx_a``; the bare ending when ``ctx_b`` is empty). The
  concatenated text is ``ctx + " " + ending``. The test file has no labels (``label = -1``): evaluated on ``val``.
* Hub: ``Rowan/hellaswag`` (``train``/``validation``; a loading-script repository). ``xstilts download`` fetches the
  release files at a fixed commit.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError
from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import XSTILTS_INTERMEDIATE, iter_jsonl, require_file, type_name
from .families.multiple_choice import MCExample, _hf_label, _label_index, _script_note

NAME = "hellaswag"
HELLASWAG_COMMIT = "a29ff8e9a04bba4bd6588223785ce105328adc57"
HELLASWAG_URL = ("https://raw.githubusercontent.com/rowanz/hellaswag/" + HELLASWAG_COMMIT +
                 "/data/hellaswag_{name}.jsonl")


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


def _hf_hellaswag(row: dict, i: int) -> MCExample:
    ctx_b = row.get("ctx_b") or ""
    return MCExample(str(row.get("ind", i)), row.get("ctx_a") or row.get("ctx") or "", "",
                     tuple(f"{ctx_b} {e}" if ctx_b else e for e in row["endings"]), _hf_label(row.get("label"), 4))


# ---------------------------------------------------------------------------------------------- example data
def write_examples(root: Path) -> Path:
    """The release layout: ``hellaswag_{train,val,test}.jsonl`` (no labels in test)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for split, n in (("train", 48), ("val", 16), ("test", 8)):
        rows = []
        for i in range(n):
            ctx_a = ex.sentence(ex.random_clause(rng), "en")
            ctx_b = ex.LEXICON["en"]["D"]
            endings, y = ex._choices(rng, "en", 4)
            row = {"ind": i, "activity_label": "Synthetic", "ctx_a": ctx_a, "ctx_b": ctx_b,
                   "ctx": f"{ctx_a} {ctx_b}", "split": split, "split_type": "indomain", "endings": endings,
                   "source_id": f"synthetic~{i}"}
            if split != "test":
                row["label"] = y
            rows.append(row)
        ex._write(root / f"hellaswag_{split}.jsonl", ex._jsonl(rows))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the official release files (train, val, test) at a fixed commit."""
    from ..download._formats import count_lines

    def run(ctx) -> None:
        for name, split in (("train", "train"), ("val", "dev"), ("test", "test")):
            path = ctx.url(HELLASWAG_URL.format(name=name))
            ctx.count(split, count_lines(path))
            ctx.place(f"hellaswag_{name}.jsonl", path)

    plan.add(NAME, plan.folder(NAME), "url:hellaswag", "HellaSwag (official release files)", run)


register(Task(
    name=NAME, kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=39_905,  # the released training set (study cost estimates)
    read=read_hellaswag, data_subdir=NAME, test_split="dev", extra={"num_choices": 4},
    hf=HFSource("Rowan/hellaswag", None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_hellaswag,
                note=_script_note("github.com/rowanz/hellaswag, data/hellaswag_{train,val}.jsonl")),
    description="HellaSwag, commonsense sentence completion, 4 endings (ActivityNet and WikiHow contexts)",
    source="Zellers et al. 2019", protocol=XSTILTS_INTERMEDIATE,
    examples=ExampleData(write_examples), download=Download(plan_download),
))
