"""ANLI v1.0 (Nie et al. 2020): Adversarial NLI, English premise/hypothesis pairs collected in three rounds against
ever stronger models (intermediate tasks). Task ``anli`` concatenates the three rounds; ``anli-r1``, ``anli-r2`` and
``anli-r3`` use one each; all four read one release folder.

Everything about the tasks is in this module: the reader, the registrations, the example-data writer and the download
plan. The pair-classification family (featurisation, head, accuracy) is in :mod:`xstilts.tasks.families.classification`.

* Official layout (``anli_v1.0.zip``): ``R{1,2,3}/{train,dev,test}.jsonl`` with ``context``, ``hypothesis``,
  ``label`` in ``e``/``n``/``c`` (and ``uid``).
* Hub: ``facebook/anli`` (no config; splits ``{train,dev,test}_r{1,2,3}``; columns ``uid``, ``premise``,
  ``hypothesis``, ``label`` as a class id, ``reason``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError
from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import XSTILTS_INTERMEDIATE, iter_jsonl, need_str, require_file, short
from .families.classification import NLI_LABELS, PairExample, hf_nli

NAME = "anli"
HUB = "facebook/anli"
ROUNDS = ("R1", "R2", "R3")
#: The tasks: name -> the rounds it reads.
VARIANTS = {"anli": ROUNDS, "anli-r1": ("R1",), "anli-r2": ("R2",), "anli-r3": ("R3",)}
#: ANLI training-set sizes: rounds 1-3 16,946 + 45,460 + 100,459.
_ANLI_SIZES = {"anli": 162_865, "anli-r1": 16_946, "anli-r2": 45_460, "anli-r3": 100_459}
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


# ---------------------------------------------------------------------------------------------- example data
def write_examples(root: Path) -> Path:
    """The three rounds' JSON-lines files (one folder, shared by the four tasks)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for rnd in ROUNDS:
        for split, n in (("train", 24), ("dev", 12), ("test", 12)):
            rows = []
            for i in range(n):
                a, b, y = ex._pair(rng, "en", NLI_LABELS)
                rows.append({"uid": f"{rnd.lower()}-{split}-{i}", "context": a, "hypothesis": b, "label": "enc"[y],
                             "model_label": "enc"[rng.randrange(3)], "emturk": False, "genre": "", "reason": "",
                             "tag": ""})
            ex._write(root / rnd / f"{split}.jsonl", ex._jsonl(rows))
    return root


# ------------------------------------------------------------------------------------------------ download
def _planner(task: str):
    """The download plan of *task*: the three rounds (one unit, one folder, whichever of the tasks asks)."""

    def plan_download(plan, languages: list[str]) -> None:
        from ..download._formats import class_names, label_name, write_jsonl

        def run(ctx) -> None:
            dsd = ctx.hub(HUB, None, None, plan.hub_pin(HUB, NAME))
            for r in (1, 2, 3):
                for split in ("train", "dev", "test"):
                    ds = dsd[f"{split}_r{r}"]
                    names = class_names(ds, "label", NLI_LABELS)
                    write_jsonl(ctx, f"R{r}/{split}.jsonl",
                                ({"uid": row.get("uid", str(i)), "context": row["premise"],
                                  "hypothesis": row["hypothesis"], "label": (label_name(row["label"], names) or "-")[0],
                                  "reason": row.get("reason", "")} for i, row in enumerate(ds)), f"R{r}.{split}")

        plan.add(task, plan.folder(NAME), f"hub:{HUB}", "ANLI v1.0 rounds 1-3", run)

    return plan_download


for _name, _rounds in VARIANTS.items():
    register(Task(
        name=_name, kind="pair_classification", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
        train_size=_ANLI_SIZES[_name],  # the released training set (study cost estimates)
        labels=NLI_LABELS, read=_anli_reader(_rounds), data_subdir="anli_v1.0",
        hf=HFSource(HUB, None,
                    {s: "+".join(f"{s if s != 'dev' else 'dev'}_{r.lower()}" for r in _rounds)
                     for s in ("train", "dev", "test")}, hf_nli),
        description=f"Adversarial NLI, round(s) {', '.join(_rounds)}", source="Nie et al. 2020",
        protocol=XSTILTS_INTERMEDIATE,
        examples=ExampleData(write_examples), download=Download(_planner(_name)),
    ))
