"""MultiNLI 1.0 (Williams et al. 2018): English natural language inference, 393k premise/hypothesis pairs in 3 classes
(an intermediate task; also XNLI's English training set, as in XTREME).

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The pair-classification family (featurisation, head, accuracy) is in :mod:`xstilts.tasks.families.classification`.

* Official layout (``multinli_1.0.zip``): ``multinli_1.0_{train,dev_matched,dev_mismatched}.jsonl`` with
  ``gold_label``, ``sentence1``, ``sentence2`` (and ``pairID``); pairs whose ``gold_label`` is ``-`` (no annotator
  consensus) are skipped, as in GLUE. The matched dev set is the test set (the test labels are not public).
* Hub: ``nyu-mll/glue`` config ``mnli`` (``train``/``validation_matched``/``validation_mismatched``; columns
  ``premise``, ``hypothesis``, ``label`` as a class id, ``idx``).
"""

from __future__ import annotations

import random
from pathlib import Path

from ..errors import DataFormatError
from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import XSTILTS_INTERMEDIATE, iter_jsonl, label_id, need_str, require_file
from .families.classification import NLI_LABELS, PairExample, hf_nli

NAME = "mnli"
HF = HFSource("nyu-mll/glue", NAME, {"train": "train", "dev": "validation_matched", "test": "validation_matched"},
              hf_nli)
#: The release's files by split.
FILES = {"train": "multinli_1.0_train.jsonl", "dev": "multinli_1.0_dev_matched.jsonl",
         "test": "multinli_1.0_dev_matched.jsonl", "dev_mismatched": "multinli_1.0_dev_mismatched.jsonl"}


def read_mnli(data_dir: Path, split: str, language: str) -> list[PairExample]:
    path = require_file(data_dir / FILES[split], f"the MNLI 1.0 {split} file")
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


# ---------------------------------------------------------------------------------------------- example data
def _mnli_rows(rng: random.Random, n: int, prefix: str) -> list[dict]:
    from ._synthetic import _pair

    nli = NLI_LABELS
    rows = []
    for i in range(n):
        a, b, y = _pair(rng, "en", nli)
        rows.append({"annotator_labels": [nli[y]], "genre": rng.choice(["fiction", "government", "travel"]),
                     "gold_label": nli[y], "pairID": f"{prefix}{i}{'enc'[y]}", "promptID": i,
                     "sentence1": a, "sentence1_binary_parse": f"( {a} )", "sentence1_parse": f"(ROOT {a})",
                     "sentence2": b, "sentence2_binary_parse": f"( {b} )", "sentence2_parse": f"(ROOT {b})"})
    # one pair without annotator consensus, which readers skip (as GLUE)
    a, b, _ = _pair(rng, "en", nli)
    rows.append({"annotator_labels": ["neutral", "contradiction"], "genre": "fiction", "gold_label": "-",
                 "pairID": f"{prefix}x", "promptID": n, "sentence1": a, "sentence2": b})
    return rows


def write_examples(root: Path) -> Path:
    """The release's three JSON-lines files (also written into XNLI's example folder, its English training set)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    ex._write(root / FILES["train"], ex._jsonl(_mnli_rows(rng, 64, "t")))
    ex._write(root / FILES["dev"], ex._jsonl(_mnli_rows(rng, 24, "m")))
    ex._write(root / FILES["dev_mismatched"], ex._jsonl(_mnli_rows(rng, 24, "mm")))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the hub config, written as the release's JSON-lines files."""
    from ..download._formats import class_names, label_name, write_jsonl

    files = (("train", FILES["train"], "train"), ("validation_matched", FILES["dev"], "dev"),
             ("validation_mismatched", FILES["dev_mismatched"], "dev_mismatched"))

    def run(ctx) -> None:
        dsd = ctx.hub(HF.path, HF.config, None, plan.hub_pin(HF.path, NAME))
        for hub_split, name, split in files:
            ds = dsd[hub_split]
            names = class_names(ds, "label", NLI_LABELS)
            write_jsonl(ctx, name, ({"gold_label": label_name(r["label"], names) or "-", "sentence1": r["premise"],
                                     "sentence2": r["hypothesis"], "pairID": str(r.get("idx", i))}
                                    for i, r in enumerate(ds)), split)

    plan.add(NAME, plan.folder(NAME), f"hub:{HF.path}:{HF.config}", "MultiNLI 1.0 train/dev (GLUE's MNLI)", run)


register(Task(
    name=NAME, kind="pair_classification", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=392_702,  # the released training set (study cost estimates)
    labels=NLI_LABELS, read=read_mnli, data_subdir="multinli_1.0", dev_split="dev", test_split="dev",
    hf=HF,
    description="Multi-Genre NLI, 393k English premise/hypothesis pairs, 3 classes",
    source="Williams et al. 2018; GLUE", protocol=XSTILTS_INTERMEDIATE,
    examples=ExampleData(write_examples), download=Download(plan_download),
))
