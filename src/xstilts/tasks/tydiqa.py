"""TyDiQA-GoldP v1.1 (Clark et al. 2020): gold-passage extractive QA in 9 typologically diverse languages (XTREME).

Everything about the task is in this module: the reader, the registration (languages, hub source, translate-train
languages, protocol defaults, training-set size), the example-data writer and the download plan. The benchmark facts
(XTREME's languages and category for it) are in :mod:`xstilts.xtreme.benchmark`; the span-QA family (featurisation, head,
decoding, SQuAD v1.1 scoring) is in :mod:`xstilts.tasks.families.qa`.

* XTREME layout: ``tydiqa-goldp-v1.1-train/tydiqa.en.train.json`` and ``tydiqa-goldp-v1.1-dev/tydiqa.{lang}.dev.json``
  (SQuAD-format JSON); XTREME evaluates on the dev files (there is no public test set). The names of the original
  release (``tydiqa-goldp-v1.1-train.json``, ``tydiqa-goldp-dev-{language}.json``) and ``tydiqa.goldp.{lang}.dev.json``
  (XTREME ``predict_qa.sh``) are accepted too. Trained on its English training set; translate-train from XTREME's
  ``translate-train/tydiqa.translate.train.en-{lang}.json``.
* Hub: ``google/xtreme`` config ``tydiqa`` (``train``/``validation``; one config for all languages, whose rows are
  selected by the language name that prefixes their ids, as in the original release).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingDataError
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import require_file, xstilts_protocol
from .families.qa import QAExample, _discover, _hf_squad, read_squad_file
from ..xtreme.benchmark import GOOGLE_XTREME, GOOGLE_XTREME_REVISION

NAME = "tydiqa"
LANGUAGES = tuple("en ar bn fi id ko ru sw te".split())
#: The language names that prefix question ids in the original release (``swahili-...``).
LANGUAGE_NAMES = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
                  "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}
#: XTREME's machine translation of the English training set, and where the download writes it.
TRANSLATE_TRAIN_URL = ("https://storage.googleapis.com/xtreme_translations/TyDiQA-GoldP/translate-train/"
                       "tydiqa.translate.train.en-{lang}.json")
TRANSLATE_TRAIN_FILE = "translate-train/tydiqa.translate.train.en-{lang}.json"


def read_tydiqa(data_dir: Path, split: str, language: str) -> list[QAExample]:
    name = LANGUAGE_NAMES.get(language, language)
    if split == "train" and language != "en":  # XTREME's translate-train of the English training set
        path = data_dir / TRANSLATE_TRAIN_FILE.format(lang=language)
        return read_squad_file(require_file(path, f"XTREME's TyDiQA-GoldP translate-train file for {language}"),
                               language=language)
    if split == "train":
        path = data_dir / "tydiqa-goldp-v1.1-train" / f"tydiqa.{language}.train.json"
        if path.is_file():
            return read_squad_file(path, language=language)
        for orig in (data_dir / "tydiqa-goldp-v1.1-train" / "tydiqa-goldp-v1.1-train.json",
                     data_dir / "tydiqa-goldp-v1.1-train.json"):
            if orig.is_file():  # the original release: all languages in one file, ids prefixed "<language name>-"
                return read_squad_file(orig, language=language, keep=lambda q: q.startswith(name + "-"))
        raise MissingDataError(f"{path}: file not found (the TyDiQA-GoldP {language} training file, XTREME layout)")
    folder = data_dir / "tydiqa-goldp-v1.1-dev"
    cands = [folder / f"tydiqa.{language}.dev.json", folder / f"tydiqa.goldp.{language}.dev.json",
             folder / f"tydiqa-goldp-dev-{name}.json"]
    for path in cands:
        if path.is_file():
            return read_squad_file(path, language=language)
    raise MissingDataError(f"{cands[0]}: file not found (the TyDiQA-GoldP {language} dev file, which XTREME uses as "
                           f"the test set; also looked for {cands[1].name}, {cands[2].name})")


def _keep(row: dict, language: str) -> bool:
    """TyDiQA-GoldP rows of *language*: the ``google/xtreme`` ``tydiqa`` config holds every language, with question
    ids prefixed by the language's name (``swahili-...``), as the original release."""
    return str(row.get("id", "")).startswith(LANGUAGE_NAMES.get(language, language) + "-")


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("en", "sw", "ru")


def write_examples(root: Path) -> Path:
    """The XTREME layout: English training file, translate-train files, one dev file per language."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    train = ex._squad_doc(rng, "en", 64, "english-")
    ex._write(root / "tydiqa-goldp-v1.1-train" / "tydiqa.en.train.json", ex._json(train))
    tt = ex._rng(NAME, "translate-train")
    for lang in EXAMPLE_LANGUAGES:
        if lang != "en":  # XTREME's translate-train of the English training set
            ex._write(root / TRANSLATE_TRAIN_FILE.format(lang=lang),
                      ex._json(ex._squad_doc(tt, lang, 48, f"tt-{lang}-")))
    for lang in EXAMPLE_LANGUAGES:
        doc = ex._squad_doc(rng, lang, 20, f"{LANGUAGE_NAMES[lang]}-")
        ex._write(root / "tydiqa-goldp-v1.1-dev" / f"tydiqa.{lang}.dev.json", ex._json(doc))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the hub config (all languages at once) in the XTREME layout, and XTREME's
    translate-train files where the plan asks for them."""
    from ..download._formats import count_squad, write_squad

    folder = plan.folder(NAME)
    by_name = {v: k for k, v in LANGUAGE_NAMES.items()}

    def run(ctx) -> None:
        dsd = ctx.hub(GOOGLE_XTREME, NAME, None, plan.hub_pin(GOOGLE_XTREME, NAME))
        for hub_split, split, pattern in (("train", "train", "tydiqa-goldp-v1.1-train/tydiqa.{lang}.train.json"),
                                          ("validation", "dev", "tydiqa-goldp-v1.1-dev/tydiqa.{lang}.dev.json")):
            rows: dict[str, list[dict]] = {}
            for r in dsd[hub_split]:
                lang = by_name.get(str(r["id"]).split("-", 1)[0])
                if lang is not None:
                    rows.setdefault(lang, []).append(r)
            for lang in sorted(rows):  # every language: the whole release is one hub config
                write_squad(ctx, pattern.format(lang=lang), rows[lang], f"{split}.{lang}")

    plan.add(NAME, folder, f"hub:{GOOGLE_XTREME}:{NAME}", "TyDiQA-GoldP v1.1 train/dev, all 9 languages", run)
    plan.translate_train_files(NAME, folder, languages, TRANSLATE_TRAIN_URL, TRANSLATE_TRAIN_FILE,
                               "TyDiQA-GoldP English train", count_squad)


register(Task(
    name=NAME, kind="span_qa", roles=(TARGET,), languages=LANGUAGES, metric="f1", read=read_tydiqa,
    train_size=3_696,  # the released English training set (study cost estimates)
    data_subdir=NAME,
    hf=HFSource(GOOGLE_XTREME, NAME, {"train": "train", "dev": "validation", "test": "validation"}, _hf_squad,
                keep=_keep, revision=GOOGLE_XTREME_REVISION),
    description="TyDiQA-GoldP: gold-passage extractive QA in 9 typologically diverse languages; trained on its English "
                "training set, evaluated on the dev sets",
    source="Clark et al. 2020; XTREME (scored with evaluate-v1.1.py)",
    protocol=xstilts_protocol(epochs=2, batch_size=16, max_length=384),
    translate_train=tuple(x for x in LANGUAGES if x != "en"),  # tydiqa/translate-train
    discover_languages=_discover(r"tydiqa\.(?:goldp\.)?([a-z]{2})\.dev\.json"),
    extra={"qa_metric": "squad_v1", "version_2_with_negative": False},
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES), download=Download(plan_download, LANGUAGES),
), aliases=("tydiqa-goldp",))
