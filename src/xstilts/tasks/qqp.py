"""Quora Question Pairs (GLUE release; Wang et al. 2019): English duplicate-question detection (an intermediate
task).

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The pair-classification family (featurisation, head, accuracy) is in :mod:`xstilts.tasks.families.classification`.

* GLUE layout (``QQP.zip``): ``{train,dev}.tsv`` with the header ``id qid1 qid2 question1 question2 is_duplicate``;
  ``test.tsv`` has no labels, so the dev set is the test set.
* Hub: ``nyu-mll/glue`` config ``qqp`` (``train``/``validation``; columns ``question1``, ``question2``, ``label``
  as a class id, ``idx``).
"""

from __future__ import annotations

from pathlib import Path

from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import XSTILTS_INTERMEDIATE, iter_tsv, label_id, require_file
from .families.classification import BINARY_LABELS, PairExample, hf_pair

NAME = "qqp"
HF = HFSource("nyu-mll/glue", NAME, {"train": "train", "dev": "validation", "test": "validation"},
              hf_pair("question1", "question2"))
HEADER = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]


def read_qqp(data_dir: Path, split: str, language: str) -> list[PairExample]:
    path = require_file(data_dir / f"{'dev' if split == 'test' else split}.tsv", f"the GLUE QQP {split} file")
    return [PairExample(c[0], c[3], c[4], label_id(BINARY_LABELS, c[5], path, line))
            for line, c in iter_tsv(path, 6, header=HEADER)]


# ---------------------------------------------------------------------------------------------- example data
def write_examples(root: Path) -> Path:
    """GLUE's ``{train,dev}.tsv`` and the unlabelled ``test.tsv``."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    head = "\t".join(HEADER)
    for split, n in (("train", 64), ("dev", 24)):
        rows = [head]
        for i in range(n):
            a, b, y = ex._pair(rng, "en", ("0", "1"))
            rows.append(f"{i}\t{2 * i + 1}\t{2 * i + 2}\t{a}\t{b}\t{y}")
        ex._write(root / f"{split}.tsv", "\n".join(rows) + "\n")
    rows = ["id\tquestion1\tquestion2"]  # the GLUE test file has no labels (readers score on dev)
    for i in range(8):
        a, b, _ = ex._pair(rng, "en", ("0", "1"))
        rows.append(f"{i}\t{a}\t{b}")
    ex._write(root / "test.tsv", "\n".join(rows) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the hub config, written as GLUE's ``{train,dev}.tsv`` (rows without a 0/1 label left
    out)."""
    from ..download._formats import cell

    def run(ctx) -> None:
        dsd = ctx.hub(HF.path, HF.config, None, plan.hub_pin(HF.path, NAME))
        for hub_split, split in (("train", "train"), ("validation", "dev")):
            n = 0
            with ctx.open(f"{split}.tsv") as f:
                f.write("\t".join(HEADER) + "\n")
                for i, r in enumerate(dsd[hub_split]):
                    if r["label"] not in (0, 1):
                        continue
                    f.write(f"{r.get('idx', i)}\t\t\t{cell(r['question1'])}\t{cell(r['question2'])}\t{r['label']}\n")
                    n += 1
            ctx.count(split, n)

    plan.add(NAME, plan.folder(NAME), f"hub:{HF.path}:{HF.config}", "Quora Question Pairs (GLUE)", run)


register(Task(
    name=NAME, kind="pair_classification", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=363_846,  # the released training set (study cost estimates)
    labels=BINARY_LABELS, read=read_qqp, data_subdir="QQP", test_split="dev",
    hf=HF,
    description="Quora Question Pairs, duplicate-question detection", source="GLUE (Wang et al. 2019)",
    protocol=XSTILTS_INTERMEDIATE,
    examples=ExampleData(write_examples), download=Download(plan_download),
))
