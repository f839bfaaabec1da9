"""XCOPA (Ponti et al. 2020): Cross-lingual Choice of Plausible Alternatives in 11 languages (XTREME-R), trained on
English Social IQa and/or COPA.

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The benchmark facts (XTREME-R's languages and category) are in :mod:`xstilts.xtreme.benchmark`; the
multiple-choice family (featurisation, head, accuracy, XTREME-R's prediction files) is in
:mod:`xstilts.tasks.families.multiple_choice`.

* Official layout: ``data/{lang}/{val,test}.{lang}.jsonl`` of github.com/cambridgeltl/xcopa (also found as
  ``{lang}/...`` or flat ``{val,test}.{lang}.jsonl``, XTREME-R's ``download/xcopa``), with ``premise``, ``choice1``,
  ``choice2``, ``question`` (``cause``/``effect``), ``label`` (0/1), ``idx``. First segment, exactly as
  ``run_xcopa.py``: ``f"{premise} What was the {question}?"``; choices ``choice1``, ``choice2``.
* English training data, as XTREME-R's ``scripts/train_xcopa.sh``: Social IQa (the folder of
  :mod:`xstilts.tasks.siqa` beside this task's, or inside it) and the English COPA training set (SuperGLUE
  ``COPA/train.jsonl``, which XTREME-R's ``download_data.sh`` renames ``train.en.jsonl``), chosen with the task option
  ``train_on``. XTREME-R fine-tunes on SIQa first and then on COPA; one xstilts target phase trains on one data set,
  so ``siqa+copa`` (the default) trains on their union; the sequential recipe is intermediate task ``siqa`` followed
  by target ``xcopa`` with ``train_on: copa``. English ``dev``/``test`` are COPA's validation set (``val.en.jsonl``).
* Hub: ``cambridgeltl/xcopa``, one config per language (``validation``/``test``). ``xstilts download`` fetches the
  release files at a fixed commit, SuperGLUE's ``COPA.zip`` and Social IQa.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from ..errors import DataFormatError, MissingDataError, XstiltsError
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import iter_jsonl, short
from .families.multiple_choice import MCExample, _first_file, _hf_label, _label_index, _text
from .siqa import ALIASES as SIQA_ALIASES, NAME as SIQA, _siqa_files, plan_download as plan_siqa, read_siqa

NAME = "xcopa"
LANGUAGES = tuple("et ht id it qu sw ta th tr vi zh".split())
XCOPA_COMMIT = "e2e9d7f105a758ee869cd13e0fe251ef93a29840"
XCOPA_URL = "https://raw.githubusercontent.com/cambridgeltl/xcopa/" + XCOPA_COMMIT + "/data/{lang}/{name}.{lang}.jsonl"
COPA_URL = "https://dl.fbaipublicfiles.com/glue/superglue/data/v2/COPA.zip"
#: The values of the task option ``train_on``: the English training sources, alone or together.
TRAIN_SOURCES = ("copa", SIQA, f"{SIQA}+copa")
#: XTREME-R's recipe trains on SIQa and COPA (``scripts/train_xcopa.sh``); ``siqa+copa`` is its one-phase form.
XCOPA_DEFAULT_TRAIN = f"{SIQA}+copa"
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


def _copa_file(data_dir: Path, split: str) -> Path:
    """The English COPA file: XTREME-R's ``{split}.en.jsonl`` or SuperGLUE's ``COPA/{split}.jsonl``."""
    names = [data_dir / f"{split}.en.jsonl", data_dir / "COPA" / f"{split}.jsonl", data_dir / "copa" / f"{split}.jsonl",
             data_dir.parent / "COPA" / f"{split}.jsonl", data_dir.parent / "copa" / f"{split}.jsonl"]
    return _first_file(names, f"the English COPA {split} file (SuperGLUE COPA/{split}.jsonl)")


def _siqa_dir(data_dir: Path) -> Path:
    tried = [data_dir / SIQA, *(data_dir / a for a in SIQA_ALIASES), data_dir.parent / SIQA, data_dir]
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
        if SIQA in train_on.split("+"):
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


def _hf_copa(row: dict, i: int) -> MCExample:
    return MCExample(str(row.get("idx", i)), row["premise"], f"What was the {row['question']}?",
                     (row["choice1"], row["choice2"]), _hf_label(row.get("label"), 2))


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("et", "sw", "zh")


def _copa_rows(rng: random.Random, lang: str, n: int) -> list[dict]:
    from . import _synthetic as ex

    rows = []
    for i in range(n):
        (c1, c2), y = ex._choices(rng, lang, 2)
        row = {"premise": ex.sentence(ex.random_clause(rng), lang), "choice1": c1, "choice2": c2,
               "question": rng.choice(["cause", "effect"]), "label": y, "idx": i}
        if lang != "en":
            row["changed"] = False
        rows.append(row)
    return rows


def write_examples(root: Path) -> Path:
    """cambridgeltl/xcopa layout ``data/{lang}/{val,test}.{lang}.jsonl``, English COPA as XTREME-R renames it
    (``train.en.jsonl``, ``val.en.jsonl``); Social IQa is read from the sibling ``siqa`` folder (``depends``)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for lang in EXAMPLE_LANGUAGES:
        ex._write(root / "data" / lang / f"val.{lang}.jsonl", ex._jsonl(_copa_rows(rng, lang, 8)))
        ex._write(root / "data" / lang / f"test.{lang}.jsonl", ex._jsonl(_copa_rows(rng, lang, 20)))
    ex._write(root / "train.en.jsonl", ex._jsonl(_copa_rows(rng, "en", 48)))
    ex._write(root / "val.en.jsonl", ex._jsonl(_copa_rows(rng, "en", 12)))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the release files of each language at a fixed commit, SuperGLUE's English COPA (renamed
    ``{train,val,test}.en.jsonl`` as XTREME-R's ``download_data.sh`` does) and Social IQa (``../siqa``)."""
    import zipfile

    from ..download._formats import count_lines

    folder = plan.folder(NAME)
    for lang in languages:
        def run(ctx, lang=lang) -> None:
            for name, split in (("val", "dev"), ("test", "test")):
                path = ctx.url(XCOPA_URL.format(lang=lang, name=name))
                ctx.count(split, count_lines(path))
                ctx.place(f"data/{lang}/{name}.{lang}.jsonl", path)

        plan.add(NAME, folder, f"url:xcopa:{lang}", f"XCOPA {lang}", run)

    def copa(ctx) -> None:
        path = ctx.url(COPA_URL)
        with zipfile.ZipFile(path) as zf:
            for name, split in (("train", "train"), ("val", "dev"), ("test", "test")):
                try:
                    data = zf.read(f"COPA/{name}.jsonl")
                except KeyError:
                    raise XstiltsError(f"{COPA_URL}: the archive lacks COPA/{name}.jsonl") from None
                with ctx.open(f"{name}.en.jsonl", "wb") as out:  # as XTREME-R's download_data.sh renames them
                    out.write(data)
                ctx.count(split, sum(1 for line in data.split(b"\n") if line.strip()))

    plan.add(NAME, folder, "url:superglue-copa", "English COPA (SuperGLUE), XCOPA's training data", copa)
    plan_siqa(plan, ["en"])  # XTREME-R trains XCOPA on Social IQa and COPA (../siqa)


register(Task(
    name=NAME, kind="multiple_choice", roles=(TARGET,), languages=LANGUAGES, metric="accuracy",
    read=read_xcopa, data_subdir=NAME,
    discover_languages=discover_xcopa_languages,
    read_options=True,
    extra={"num_choices": 2, "train_sources": TRAIN_SOURCES, "prediction_format": "jsonl_label"},
    hf=HFSource("cambridgeltl/xcopa", "{lang}", {"dev": "validation", "test": "test"}, _hf_copa),
    description="Cross-lingual Choice of Plausible Alternatives, 11 languages; trained on English SIQa and/or COPA",
    source="Ponti et al. 2020; XTREME-R",
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES, depends=(SIQA,)),
    download=Download(plan_download, LANGUAGES),
))
