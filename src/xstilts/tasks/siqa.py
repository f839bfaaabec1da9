"""Social IQa (Sap et al. 2019): social commonsense questions with 3 answers; an English intermediate task, and
XCOPA's English training set in XTREME-R (:mod:`xstilts.tasks.xcopa`, which reads this task's folder beside its own).

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The multiple-choice family (featurisation, head, accuracy) is in :mod:`xstilts.tasks.families.multiple_choice`.

* Official layout (``socialiqa-train-dev.zip`` from leaderboard.allenai.org/socialiqa):
  ``socialiqa-train-dev/{train,dev}.jsonl`` with ``context``, ``question``, ``answerA/B/C`` and
  ``{train,dev}-labels.lst`` (1-3, one per line); or XTREME-R's ``socialIQa_v1.4_{trn,dev,tst}.jsonl`` with the letter
  in ``correct`` (``third_party/siqa_data/siqa_data.py``). Prompt ``context question``. Evaluated on ``dev``.
* Hub: ``allenai/social_i_qa`` (``train``/``validation``; a loading-script repository). ``xstilts download`` fetches
  XTREME-R's copy, ``socialIQa_v1.4.tgz``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from ..errors import DataFormatError, MissingDataError, XstiltsError
from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import iter_jsonl, read_text_lines, require_file, short
from .families.multiple_choice import MCExample, _hf_label, _label_index, _script_note, _text

NAME = "siqa"
ALIASES = ("socialiqa",)
SIQA_URL = "https://maartensap.github.io/social-iqa/data/socialIQa_v1.4.tgz"
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


def _hf_siqa(row: dict, i: int) -> MCExample:
    return MCExample(f"siqa-{i}", row["context"], row["question"], (row["answerA"], row["answerB"], row["answerC"]),
                     _hf_label(row.get("label"), 3, base=1))


# ---------------------------------------------------------------------------------------------- example data
def _siqa_rows(rng: random.Random, n: int) -> tuple[list[dict], list[str]]:
    from . import _synthetic as ex

    rows, labels = [], []
    for _ in range(n):
        answers, y = ex._choices(rng, "en", 3)
        rows.append({"context": ex.sentence(ex.random_clause(rng, person=True), "en"),
                     "question": ex.sentence(ex.random_clause(rng, person=True), "en", question=True),
                     "answerA": answers[0], "answerB": answers[1], "answerC": answers[2]})
        labels.append(str(y + 1))
    return rows, labels


def write_examples(root: Path) -> Path:
    """Social IQa release layout: ``socialiqa-train-dev/{train,dev}.jsonl`` and ``{train,dev}-labels.lst``."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for split, n in (("train", 48), ("dev", 16)):
        rows, labels = _siqa_rows(rng, n)
        ex._write(root / "socialiqa-train-dev" / f"{split}.jsonl", ex._jsonl(rows))
        ex._write(root / "socialiqa-train-dev" / f"{split}-labels.lst", "".join(x + "\n" for x in labels))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: XTREME-R's copy, ``socialIQa_v1.4_{trn,dev,tst}.jsonl`` from ``socialIQa_v1.4.tgz``."""
    import tarfile

    from ..download.plan import member_bytes

    pattern = re.compile(r"(?:.*/)?(socialIQa_v1\.4_(trn|dev|tst)\.jsonl)")

    def run(ctx) -> None:
        path = ctx.url(SIQA_URL)
        found = set()
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                m = pattern.fullmatch(member.name)
                if m and member.isfile() and not Path(member.name).name.startswith("._"):
                    data = member_bytes(tar, member)
                    with ctx.open(m.group(1), "wb") as out:
                        out.write(data)
                    ctx.count({"trn": "train", "dev": "dev", "tst": "test"}[m.group(2)],
                              sum(1 for line in data.split(b"\n") if line.strip()))
                    found.add(m.group(2))
        if "trn" not in found or "dev" not in found:
            raise XstiltsError(f"{SIQA_URL}: the archive lacks socialIQa_v1.4_trn.jsonl / _dev.jsonl")

    plan.add(NAME, plan.folder(NAME), "url:socialIQa_v1.4", "Social IQa v1.4 (XTREME-R's copy)", run)


register(Task(
    name=NAME, kind="multiple_choice", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy",
    train_size=33_410,  # the released training set (study cost estimates)
    read=read_siqa, data_subdir=NAME, test_split="dev", extra={"num_choices": 3},
    hf=HFSource("allenai/social_i_qa", None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_siqa,
                note=_script_note("socialiqa-train-dev.zip from leaderboard.allenai.org/socialiqa")),
    description="Social IQa, social commonsense questions, 3 answers (XTREME-R trains on it before COPA for XCOPA)",
    source="Sap et al. 2019; XTREME-R",
    examples=ExampleData(write_examples), download=Download(plan_download),
), aliases=ALIASES)
