"""XQuAD (Artetxe et al. 2020): the 1190 questions of 240 SQuAD v1.1 dev paragraphs, professionally translated into
10 languages (XTREME; XTREME-R adds Romanian); extractive QA, trained on the English SQuAD v1.1 training set.

Everything about the task is in this module: the reader, the registration (languages, hub source, translate-train
languages, protocol defaults, training-set size), the example-data writer and the download plan. The benchmark facts
(XTREME's languages and category for it) are in :mod:`xstilts.xtreme.benchmark`; the span-QA family (featurisation,
head, decoding, SQuAD v1.1 scoring) is in :mod:`xstilts.tasks.families.qa`; its training data, SQuAD v1.1, in
:mod:`xstilts.tasks.squad`.

* Official layout: ``xquad.{lang}.json`` (SQuAD-format JSON; question ids are shared across languages), the test
  sets. As in XTREME, the English SQuAD v1.1 ``train-v1.1.json`` (and ``dev-v1.1.json``, the English dev set) is read
  from a ``squad`` folder inside the task's data folder or next to it (XTREME's ``download/squad``), and
  translate-train from XTREME's ``squad/translate-train/squad.translate.train.en-{lang}.json``.
* Hub: ``google/xquad`` configs ``xquad.{lang}`` (split ``validation``); training data from ``rajpurkar/squad``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingDataError
from . import TARGET, Download, ExampleData, HFSource, Task, register
from . import squad
from .base import require_file, xstilts_protocol
from .families.qa import QAExample, _discover, _hf_squad, read_squad_file

NAME = "xquad"
LANGUAGES = tuple("en es de el ru tr ar vi th zh hi".split())
#: The languages the downloader can fetch: XTREME's and Romanian (in the release since XTREME-R).
DOWNLOAD_LANGUAGES = LANGUAGES + ("ro",)
HUB = "google/xquad"
HUB_CONFIG = "xquad.{lang}"


def read_xquad(data_dir: Path, split: str, language: str) -> list[QAExample]:
    if split == "train" and language != "en":
        return squad.read_squad_translate_train(data_dir, language)
    if split in ("train", "dev"):
        if split == "dev" and language != "en":
            raise MissingDataError(f"XQuAD has no {language} dev set (its dev split is the English SQuAD v1.1 dev set)")
        name = squad.FILES[split]
        return read_squad_file(squad.squad_dir(data_dir, name) / name)
    path = require_file(data_dir / f"xquad.{language}.json", f"the XQuAD {language} file")
    return read_squad_file(path, language=language)


# ---------------------------------------------------------------------------------------------- example data
#: English and the languages of the SQuAD translate-train example files (written by the squad module's writer).
EXAMPLE_LANGUAGES = ("en",) + squad.EXAMPLE_TRANSLATE_TRAIN


def write_examples(root: Path) -> Path:
    """One test file per language; the training data is ``../squad`` (XTREME's ``download/squad``), written by
    :func:`xstilts.tasks.squad.write_examples`."""
    from . import _synthetic as ex

    for lang in EXAMPLE_LANGUAGES:  # XQuAD shares question ids across languages
        ex._write(root / f"xquad.{lang}.json", ex._json(ex._squad_doc(ex._rng(NAME, lang), lang, 20, "xq-")))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: one hub config per language in the release layout, and SQuAD v1.1 (``../squad``, with
    its translate-train files where the plan asks for them), which XTREME trains XQuAD on."""
    from ..download._formats import write_squad

    folder = plan.folder(NAME)
    for lang in languages:
        cfg = HUB_CONFIG.format(lang=lang)

        def run(ctx, lang=lang, cfg=cfg) -> None:
            dsd = ctx.hub(HUB, cfg, None, plan.hub_pin(HUB, NAME))
            write_squad(ctx, f"xquad.{lang}.json", dsd["validation"], "test")

        plan.add(NAME, folder, f"hub:{HUB}:{cfg}", f"XQuAD {lang}", run)
    squad.plan_download(plan, languages)  # XTREME trains XQuAD and MLQA on SQuAD v1.1 (../squad)
    squad.plan_translate_train(plan, NAME, languages)


register(Task(
    name=NAME, kind="span_qa", roles=(TARGET,), languages=LANGUAGES, metric="f1", read=read_xquad,
    train_size=87_599,  # the released training set (study cost estimates)
    data_subdir=NAME,
    hf=HFSource(HUB, HUB_CONFIG, {"test": "validation"}, _hf_squad, split_sources=squad.HF_SPLIT_SOURCES),
    description="XQuAD: 1190 SQuAD v1.1 dev questions translated into 10 languages; trained on English SQuAD v1.1",
    source="Artetxe et al. 2020; XTREME (scored with evaluate-v1.1.py)",
    protocol=xstilts_protocol(epochs=2, batch_size=16, max_length=384),
    translate_train=tuple(x for x in LANGUAGES if x != "en"),  # squad/translate-train
    discover_languages=_discover(r"xquad\.([a-z]{2,3})\.json"),
    extra={"qa_metric": "squad_v1", "version_2_with_negative": False},
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES, depends=(squad.NAME,)),
    download=Download(plan_download, DOWNLOAD_LANGUAGES),
))
