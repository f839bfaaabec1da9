"""CommonsenseQA (Talmor et al. 2019): ConceptNet-based questions with 5 answers; an English intermediate task.

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The multiple-choice family (featurisation, head, accuracy) is in :mod:`xstilts.tasks.families.multiple_choice`.

* Official layout (release 1.11, random split): ``{train,dev}_rand_split.jsonl`` and
  ``test_rand_split_no_answers.jsonl`` with ``question.stem``, ``question.choices [{label, text}]`` (A-E) and
  ``answerKey`` (absent in test: ``label = -1``). Evaluated on ``dev``.
* Hub: ``tau/commonsense_qa`` (``train``/``validation``/``test``); ``xstilts download`` writes it in the release
  layout.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError
from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import XSTILTS_INTERMEDIATE, iter_jsonl, require_file, short
from .families.multiple_choice import MCExample

NAME = "commonsenseqa"
HF_PATH = "tau/commonsense_qa"
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


def _hf_csqa(row: dict, i: int) -> MCExample:
    keys, texts = row["choices"]["label"], row["choices"]["text"]
    order = sorted(range(len(keys)), key=lambda k: keys[k])
    key = row.get("answerKey")
    return MCExample(str(row.get("id", i)), "", row["question"], tuple(texts[k] for k in order),
                     CSQA_KEYS.index(key) if key in CSQA_KEYS else -1)


# ---------------------------------------------------------------------------------------------- example data
def write_examples(root: Path) -> Path:
    """The release layout: ``{train,dev}_rand_split.jsonl`` and ``test_rand_split_no_answers.jsonl``."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for name, n, labelled in (("train_rand_split.jsonl", 48, True), ("dev_rand_split.jsonl", 16, True),
                              ("test_rand_split_no_answers.jsonl", 8, False)):
        rows = []
        for i in range(n):
            texts, y = ex._choices(rng, "en", 5)
            row = {"id": f"{name[:3]}{i:04d}", "question": {
                "question_concept": ex.LEXICON["en"]["N"][i % 5],
                "choices": [{"label": k, "text": t} for k, t in zip("ABCDE", texts)],
                "stem": ex.sentence(ex.random_clause(rng, person=True), "en", question=True)}}
            if labelled:
                row["answerKey"] = "ABCDE"[y]
            rows.append(row)
        ex._write(root / name, ex._jsonl(rows))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the hub copy written in the release layout (``question.stem``, ``question.choices``,
    ``answerKey``; no ``answerKey`` in test)."""
    from ..download._formats import write_jsonl
    from ..download.plan import split as hub_split_of

    def obj(r: dict) -> dict:
        choices = [{"label": lab, "text": t} for lab, t in zip(r["choices"]["label"], r["choices"]["text"])]
        out = {"answerKey": r.get("answerKey") or "", "id": r["id"],
               "question": {"question_concept": r.get("question_concept", ""), "choices": choices,
                            "stem": r["question"]}}
        if not out["answerKey"]:
            del out["answerKey"]
        return out

    def run(ctx) -> None:
        dsd = ctx.hub(HF_PATH, None, None, plan.hub_pin(HF_PATH, NAME))
        for hub_split, name, split in (("train", "train_rand_split.jsonl", "train"),
                                       ("validation", "dev_rand_split.jsonl", "dev"),
                                       ("test", "test_rand_split_no_answers.jsonl", "test")):
            ds = hub_split_of(dsd, hub_split)
            if ds is not None:
                write_jsonl(ctx, name, (obj(r) for r in ds), split)

    plan.add(NAME, plan.folder(NAME), f"hub:{HF_PATH}", "CommonsenseQA 1.11 (random split)", run)


register(Task(
    name=NAME, kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=9_741,  # the released training set (study cost estimates)
    read=read_commonsenseqa, data_subdir=NAME, test_split="dev", extra={"num_choices": 5},
    hf=HFSource(HF_PATH, None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_csqa),
    description="CommonsenseQA, ConceptNet-based questions, 5 answers", source="Talmor et al. 2019",
    protocol=XSTILTS_INTERMEDIATE,
    examples=ExampleData(write_examples), download=Download(plan_download),
), aliases=("csqa",))
