"""SQuAD v1.1 (Rajpurkar et al. 2016) and SQuAD v2.0 (Rajpurkar et al. 2018): English extractive QA on Wikipedia
paragraphs (intermediate tasks ``squad`` and ``squad2``; one module for the release family).

Everything about the two tasks is in this module: the readers, the registrations (hub sources, protocol defaults,
training-set sizes), the example-data writer and the download plans. SQuAD v1.1 is also the English training set of
XQuAD and MLQA (:mod:`xstilts.tasks.xquad`, :mod:`xstilts.tasks.mlqa`), as in XTREME: they read it, and XTREME's
machine translations of it (translate-train), from this module's folder, found by :func:`squad_dir` and
:func:`read_squad_translate_train`; their example data and downloads depend on this module's (:data:`NAME`). The
span-QA family (featurisation, head, decoding, scoring) and the SQuAD-JSON reader are in
:mod:`xstilts.tasks.families.qa`.

* Official layout: ``train-v1.1.json``, ``dev-v1.1.json`` (v1.1); ``train-v2.0.json``, ``dev-v2.0.json`` (v2.0:
  unanswerable questions have ``"is_impossible": true`` and no answers), both in one ``squad`` folder (XTREME's
  ``download/squad``). There is no public test set: both tasks are evaluated on dev. XTREME's translate-train files
  ``translate-train/squad.translate.train.en-{lang}.json`` go into the same folder.
* Hub: ``rajpurkar/squad`` and ``rajpurkar/squad_v2`` (``train``/``validation``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingDataError
from . import INTERMEDIATE, Download, ExampleData, HFSource, Task, register
from .base import XSTILTS_INTERMEDIATE_QA, require_file
from .families.qa import QAExample, _hf_squad, read_squad_file

NAME = "squad"
NAME_V2 = "squad2"
#: The folder of both releases (XTREME's ``download/squad``), which XQuAD and MLQA look for beside their own.
FOLDER = NAME
#: The release files per split (no test set: evaluated on dev).
FILES = {"train": "train-v1.1.json", "dev": "dev-v1.1.json", "test": "dev-v1.1.json"}
FILES_V2 = {"train": "train-v2.0.json", "dev": "dev-v2.0.json", "test": "dev-v2.0.json"}
HUB = "rajpurkar/squad"
HUB_V2 = "rajpurkar/squad_v2"
#: SQuAD v1.1 on the hub as the English training (and dev) data of XQuAD and MLQA (``HFSource.split_sources``).
HF_SPLIT_SOURCES = {"train": (HUB, None, "train"), "dev": (HUB, None, "validation")}
#: XTREME's machine translation of the SQuAD v1.1 training set (the translate-train data of XQuAD and MLQA), and where
#: the download writes it (inside :data:`FOLDER`).
TRANSLATE_TRAIN_URL = ("https://storage.googleapis.com/xtreme_translations/SQuAD/translate-train/"
                       "squad.translate.train.en-{lang}.json")
TRANSLATE_TRAIN_FILE = "translate-train/squad.translate.train.en-{lang}.json"


def read_squad(data_dir: Path, split: str, language: str) -> list[QAExample]:
    name = FILES[split]
    return read_squad_file(require_file(data_dir / name, f"the SQuAD v1.1 {split} file"))


def read_squad2(data_dir: Path, split: str, language: str) -> list[QAExample]:
    name = FILES_V2[split]
    return read_squad_file(require_file(data_dir / name, f"the SQuAD v2.0 {split} file"), version_2=True)


# ------------------------------------------------------------------------- SQuAD v1.1 as another task's training set
def squad_dir(data_dir: Path, name: str) -> Path:
    """The folder holding SQuAD file *name* for the task whose data folder is *data_dir*: ``data_dir/squad``, the
    sibling ``../squad`` (XTREME's download layout) or *data_dir* itself.

    Raises:
        MissingDataError: none of them has the file.
    """
    cands = [data_dir / FOLDER, data_dir.parent / FOLDER, data_dir]
    for c in cands:
        if (c / name).is_file():
            return c
    raise MissingDataError(f"{data_dir / FOLDER / name}: file not found (the English SQuAD v1.1 training data; "
                           f"also looked in {', '.join(str(c) for c in cands[1:])})")


def read_squad_translate_train(data_dir: Path, language: str) -> list[QAExample]:
    """SQuAD v1.1 machine-translated into *language* (XTREME's translate-train for XQuAD and MLQA):
    ``squad/translate-train/squad.translate.train.en-{lang}.json`` beside or inside *data_dir*, as XTREME's
    ``download_data.sh`` lays out ``xtreme_translations/SQuAD/translate-train``."""
    name = Path(TRANSLATE_TRAIN_FILE.format(lang=language)).name
    cands = [data_dir / FOLDER / "translate-train", data_dir.parent / FOLDER / "translate-train",
             data_dir / "translate-train"]
    for c in cands:
        if (c / name).is_file():
            return read_squad_file(c / name, language=language)
    raise MissingDataError(f"{cands[0] / name}: file not found (XTREME's SQuAD translate-train file for {language}; "
                           f"also looked in {', '.join(str(c) for c in cands[1:])})")


# ---------------------------------------------------------------------------------------------- example data
#: The languages of the translate-train example files (the non-English example languages of XQuAD and MLQA, which
#: train on this folder).
EXAMPLE_TRANSLATE_TRAIN = ("de", "zh")


def write_examples(root: Path) -> Path:
    """SQuAD v1.1 ``{train,dev}-v1.1.json`` and XTREME's translate-train of it for the XQuAD / MLQA example languages
    (``translate-train/squad.translate.train.en-{lang}.json``)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    ex._write(root / FILES["train"], ex._json(ex._squad_doc(rng, "en", 64, "s")))
    ex._write(root / FILES["dev"], ex._json(ex._squad_doc(rng, "en", 20, "sd")))
    tt = ex._rng(NAME, "translate-train")
    for lang in sorted(EXAMPLE_TRANSLATE_TRAIN):
        ex._write(root / TRANSLATE_TRAIN_FILE.format(lang=lang), ex._json(ex._squad_doc(tt, lang, 48, f"tt-{lang}-")))
    return root


def write_examples_v2(root: Path) -> Path:
    from . import _synthetic as ex

    rng = ex._rng(NAME_V2)
    ex._write(root / FILES_V2["train"], ex._json(ex._squad_doc(rng, "en", 64, "t", version="v2.0", impossible=16)))
    ex._write(root / FILES_V2["dev"], ex._json(ex._squad_doc(rng, "en", 20, "d", version="v2.0", impossible=6)))
    return root


# ------------------------------------------------------------------------------------------------ download
def _plan(plan, task: str, version: str) -> None:
    from ..download._formats import write_squad

    name = NAME if version == "1.1" else NAME_V2
    hub = HUB if version == "1.1" else HUB_V2

    def run(ctx) -> None:
        dsd = ctx.hub(hub, None, None, plan.hub_pin(hub, name))
        for hub_split, split in (("train", "train"), ("validation", "dev")):
            write_squad(ctx, f"{split}-v{version}.json", dsd[hub_split], split,
                        version="v2.0" if version == "2.0" else "1.1", impossible=version == "2.0")

    plan.add(task, plan.folder(name), f"hub:{hub}", f"SQuAD v{version} train/dev", run)


def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download squad`` (and the English training set of XQuAD and MLQA): the hub data in the release
    layout."""
    _plan(plan, NAME, "1.1")


def plan_download_v2(plan, languages: list[str]) -> None:
    _plan(plan, NAME_V2, "2.0")


def plan_translate_train(plan, task: str, languages: list[str]) -> None:
    """XTREME's translate-train files of SQuAD v1.1 for *languages* (those other than English), into this module's
    folder, as units of *task* (XQuAD or MLQA, whose translate-train data they are); nothing unless the plan asks for
    translate-train data."""
    from ..download._formats import count_squad

    plan.translate_train_files(task, plan.folder(NAME), languages, TRANSLATE_TRAIN_URL, TRANSLATE_TRAIN_FILE,
                               "SQuAD v1.1", count_squad)


register(Task(
    name=NAME, kind="span_qa", roles=(INTERMEDIATE,), languages=("en",), metric="f1", read=read_squad,
    train_size=87_599,  # the released training set (study cost estimates)
    data_subdir=FOLDER, dev_split="dev", test_split="dev",
    hf=HFSource(HUB, None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_squad),
    description="SQuAD v1.1, 100k English extractive questions on Wikipedia paragraphs",
    source="Rajpurkar et al. 2016; scored with evaluate-v1.1.py", protocol=XSTILTS_INTERMEDIATE_QA,
    extra={"qa_metric": "squad_v1", "version_2_with_negative": False},
    examples=ExampleData(write_examples), download=Download(plan_download),
), aliases=("squad1", "squad-v1.1"))
register(Task(
    name=NAME_V2, kind="span_qa", roles=(INTERMEDIATE,), languages=("en",), metric="f1", read=read_squad2,
    train_size=130_319,  # the released training set (study cost estimates)
    data_subdir=FOLDER, dev_split="dev", test_split="dev",
    hf=HFSource(HUB_V2, None, {"train": "train", "dev": "validation", "test": "validation"}, _hf_squad),
    description="SQuAD v2.0: SQuAD v1.1 plus 50k unanswerable questions",
    source="Rajpurkar et al. 2018; scored with evaluate-v2.0.py", protocol=XSTILTS_INTERMEDIATE_QA,
    extra={"qa_metric": "squad_v2.0", "version_2_with_negative": True},
    examples=ExampleData(write_examples_v2), download=Download(plan_download_v2),
), aliases=("squad-v2.0", "squad_v2"))
