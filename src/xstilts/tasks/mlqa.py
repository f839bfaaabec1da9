"""MLQA v1 (Lewis et al. 2020): extractive QA on Wikipedia paragraphs in 7 languages (XTREME uses the files whose
context and question are in the same language); trained on the English SQuAD v1.1 training set.

Everything about the task is in this module: the reader, the registration (languages, hub source, translate-train
languages, protocol defaults, training-set size), the example-data writer and the download plan. The benchmark facts
(XTREME's languages and category for it) are in :mod:`xstilts.xtreme.benchmark`; the span-QA family (featurisation,
head, decoding) is in :mod:`xstilts.tasks.families.qa`, MLQA's official scoring (``mlqa_evaluation_v1.py``, with its
language-specific normalisation) in :mod:`xstilts.metrics.qa`; its training data, SQuAD v1.1, in
:mod:`xstilts.tasks.squad`.

* Official layout: ``MLQA_V1/{dev,test}/{dev,test}-context-{lang}-question-{lang}.json`` (SQuAD-format JSON; the
  release's cross-lingual ``...-context-{x}-question-{y}.json`` files are not read). As in XTREME, the English SQuAD
  v1.1 ``train-v1.1.json`` is read from a ``squad`` folder inside the task's data folder or next to it (XTREME's
  ``download/squad``), and translate-train from XTREME's ``squad/translate-train/squad.translate.train.en-{lang}.json``.
* Hub: ``google/xtreme`` configs ``MLQA.{lang}.{lang}`` (``validation``/``test``); training data from
  ``rajpurkar/squad``.
"""

from __future__ import annotations

from pathlib import Path

from . import TARGET, Download, ExampleData, HFSource, Task, register
from . import squad
from .base import require_file, xstilts_protocol
from .families.qa import QAExample, _discover, _hf_squad, read_squad_file
from ..xtreme.benchmark import GOOGLE_XTREME, GOOGLE_XTREME_REVISION

NAME = "mlqa"
LANGUAGES = tuple("en es de ar hi vi zh".split())
HUB_CONFIG = "MLQA.{lang}.{lang}"


def _mlqa_root(data_dir: Path) -> Path:
    return data_dir / "MLQA_V1" if (data_dir / "MLQA_V1").is_dir() else data_dir


def read_mlqa(data_dir: Path, split: str, language: str) -> list[QAExample]:
    if split == "train":
        if language != "en":
            return squad.read_squad_translate_train(data_dir, language)
        name = squad.FILES["train"]
        return read_squad_file(squad.squad_dir(data_dir, name) / name)
    path = _mlqa_root(data_dir) / split / f"{split}-context-{language}-question-{language}.json"
    return read_squad_file(require_file(path, f"the MLQA v1 {split} file for {language}"), language=language)


# ---------------------------------------------------------------------------------------------- example data
#: English and the languages of the SQuAD translate-train example files (written by the squad module's writer).
EXAMPLE_LANGUAGES = ("en",) + squad.EXAMPLE_TRANSLATE_TRAIN


def write_examples(root: Path) -> Path:
    """The release layout (dev and test, one file per language, and one cross-lingual file); the training data is
    ``../squad`` (XTREME's ``download/squad``), written by :func:`xstilts.tasks.squad.write_examples`."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for split, n in (("dev", 8), ("test", 20)):
        for lang in EXAMPLE_LANGUAGES:
            doc = ex._squad_doc(rng, lang, n, f"{split}-{lang}-")
            ex._write(root / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json", ex._json(doc))
        # a cross-lingual (G-XLT) file, as in the release; XTREME uses only the matching-language files
        ex._write(root / "MLQA_V1" / split / f"{split}-context-de-question-en.json",
                  ex._json(ex._squad_doc(rng, "de", 4, f"{split}-de-en-")))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: one hub config per language in the release layout, and SQuAD v1.1 (``../squad``, with
    its translate-train files where the plan asks for them), which XTREME trains MLQA on."""
    from ..download._formats import write_squad

    folder = plan.folder(NAME)
    for lang in languages:
        cfg = HUB_CONFIG.format(lang=lang)

        def run(ctx, lang=lang, cfg=cfg) -> None:
            dsd = ctx.hub(GOOGLE_XTREME, cfg, None, plan.hub_pin(GOOGLE_XTREME, NAME))
            for hub_split, split in (("validation", "dev"), ("test", "test")):
                write_squad(ctx, f"MLQA_V1/{split}/{split}-context-{lang}-question-{lang}.json", dsd[hub_split], split,
                            version="1.0")

        plan.add(NAME, folder, f"hub:{GOOGLE_XTREME}:{cfg}", f"MLQA {lang}", run)
    squad.plan_download(plan, languages)  # XTREME trains MLQA on SQuAD v1.1 (../squad)
    squad.plan_translate_train(plan, NAME, languages)


register(Task(
    name=NAME, kind="span_qa", roles=(TARGET,), languages=LANGUAGES, metric="f1", read=read_mlqa,
    train_size=87_599,  # the released training set (study cost estimates)
    data_subdir=NAME,
    hf=HFSource(GOOGLE_XTREME, HUB_CONFIG, {"dev": "validation", "test": "test"}, _hf_squad,
                split_sources={"train": squad.HF_SPLIT_SOURCES["train"]}, revision=GOOGLE_XTREME_REVISION),
    description="MLQA: extractive QA in 7 languages (context and question in the same language); trained on SQuAD v1.1",
    source="Lewis et al. 2020; XTREME (scored with mlqa_evaluation_v1.py)",
    protocol=xstilts_protocol(epochs=2, batch_size=16, max_length=384),
    translate_train=tuple(x for x in LANGUAGES if x != "en"),  # squad/translate-train
    discover_languages=_discover(r"test-context-([a-z]{2})-question-\1\.json"),
    extra={"qa_metric": "mlqa_v1", "version_2_with_negative": False},
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES, depends=(squad.NAME,)),
    download=Download(plan_download, LANGUAGES),
))
