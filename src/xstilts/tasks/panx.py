"""PAN-X: named-entity recognition on WikiANN (Pan et al. 2017) with the Rahimi et al. (2019) splits, as XTREME uses it.

Everything about the task is in this module: the reader, the registration (languages, hub source, protocol defaults,
training-set size), the example-data writer and the download plan. The benchmark facts (XTREME's languages and
category for it) are in :mod:`xstilts.xtreme.benchmark`; the tagging family (featurisation, head, decoding, seqeval
scoring, the ``token<TAB>tag`` reader) is in :mod:`xstilts.tasks.families.tagging`.

* Layout: XTREME's preprocessed ``{split}-{lang}.tsv`` (``utils_preprocess.py panx_preprocess``: ``token<TAB>tag``,
  blank line between sentences, test files without tags), or the raw files ``{lang}-{split}`` / ``{lang}/{split}``
  from ``AmazonPhotos.zip`` with ``lang:token<TAB>tag`` lines (the ``lang:`` prefix is stripped, as
  ``panx_preprocess`` does). Tags are IOB2 over PER, ORG, LOC. Trained on English; scored with seqeval F1.
* Hub: ``google/xtreme`` configs ``PAN-X.{lang}`` (``train``/``validation``/``test``); XTREME-R's further languages
  from ``unimelb-nlp/wikiann`` (the same Rahimi splits). Both are written in the raw ``{lang}-{split}`` layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import MissingDataError
from ..languages import XTREME_LANGUAGES
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import xstilts_protocol
from .families.tagging import _HF_SPLITS, TaggedExample, _has_tag_column, _hf_tagged, _langs_in, read_token_tag_file
from ..xtreme.benchmark import GOOGLE_XTREME, GOOGLE_XTREME_REVISION

NAME = "panx"
#: XTREME's PAN-X languages (``evaluate.py`` ``TASK2LANGS['panx']``): all 40 XTREME languages
LANGUAGES = tuple(XTREME_LANGUAGES)
#: PAN-X tags in the order of the Hugging Face ``google/xtreme`` ``PAN-X.*`` ``ner_tags`` class label
LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
#: WikiANN with the Rahimi et al. (2019) splits that XTREME's PAN-X uses, for the languages XTREME-R adds
WIKIANN = "unimelb-nlp/wikiann"
WIKIANN_LANGS = ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")


def read_panx(data_dir: Path, split: str, language: str) -> list[TaggedExample]:
    """PAN-X sentences: XTREME's ``{split}-{lang}.tsv`` if it has tags, else the raw ``{lang}-{split}`` file."""
    tsv = data_dir / f"{split}-{language}.tsv"
    raw = [p for p in (data_dir / f"{language}-{split}", data_dir / language / split) if p.is_file()]
    if tsv.is_file() and (_has_tag_column(tsv) or not raw):
        return read_token_tag_file(tsv, LABELS, f"{language}-{split}", lang_prefix=language)
    if not raw:
        raise MissingDataError(f"{tsv}: file not found (expected XTREME's PAN-X {split}-{language}.tsv, or the raw "
                               f"WikiANN file {language}-{split} with lang:token<TAB>tag lines, in {data_dir})")
    return read_token_tag_file(raw[0], LABELS, f"{language}-{split}", lang_prefix=language, require_prefix=True)


def panx_languages(data_dir: Path) -> list[str]:
    """Languages with a PAN-X test file in *data_dir* (``test-{lang}.tsv``, ``{lang}-test`` or ``{lang}/test``)."""
    names = [p.name for p in data_dir.iterdir()] if data_dir.is_dir() else []
    langs = set(_langs_in(names, r"test-(.+)\.tsv")) | set(_langs_in(names, r"(.+)-test"))
    langs |= {p.parent.name for p in data_dir.glob("*/test") if re.fullmatch(r"[a-z]{2,3}", p.parent.name)}
    return sorted(langs)


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("en", "de", "zh")


def write_examples(root: Path) -> Path:
    """WikiANN as XTREME's download script lays it out: ``{lang}-{split}`` with ``lang:token<TAB>tag`` lines."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for lang in EXAMPLE_LANGUAGES:
        splits = (("train", 64), ("dev", 12), ("test", 20)) if lang == "en" else (("dev", 8), ("test", 20))
        for split, n in splits:
            blocks = []
            for _ in range(n):
                words = ex.render(ex.random_clause(rng), lang)
                blocks.append("".join(f"{lang}:{w}\t{t}\n" for w, _, t in words))
            ex._write(root / f"{lang}-{split}", "\n".join(blocks))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: one hub config per language (``google/xtreme``, or WikiANN for XTREME-R's further
    languages), written in WikiANN's raw ``{lang}-{split}`` layout."""
    from ..download._formats import class_names, tagged_rows, write_token_tag
    from ..download.plan import split as hub_split_of

    folder = plan.folder(NAME)

    def unit(lang: str, path: str, cfg: str):
        def run(ctx) -> None:
            dsd = ctx.hub(path, cfg, None, plan.hub_pin(path, NAME if path == GOOGLE_XTREME else None))
            for hub_split, split in (("train", "train"), ("validation", "dev"), ("test", "test")):
                ds = hub_split_of(dsd, hub_split)
                if ds is not None:
                    names = class_names(ds, "ner_tags", LABELS)
                    # WikiANN's raw lang:token<TAB>tag layout (AmazonPhotos.zip), which the reader reads as is
                    write_token_tag(ctx, f"{lang}-{split}", tagged_rows(ds, "ner_tags", names), split,
                                    prefix=f"{lang}:")

        return run

    for lang in languages:
        if lang in WIKIANN_LANGS:
            plan.add(NAME, folder, f"hub:{WIKIANN}:{lang}", f"PAN-X {lang} (WikiANN, Rahimi splits)",
                     unit(lang, WIKIANN, lang))
        else:
            cfg = f"PAN-X.{lang}"
            plan.add(NAME, folder, f"hub:{GOOGLE_XTREME}:{cfg}", f"PAN-X {lang}", unit(lang, GOOGLE_XTREME, cfg))


register(Task(
    name=NAME, kind="tagging", roles=(TARGET,), languages=LANGUAGES, metric="f1", labels=LABELS,
    train_size=20_000,  # the released training set (study cost estimates)
    read=read_panx, data_subdir=NAME,
    hf=HFSource(GOOGLE_XTREME, "PAN-X.{lang}", _HF_SPLITS, _hf_tagged(LABELS, ("ner_tags", "ner")),
                revision=GOOGLE_XTREME_REVISION),
    description="WikiANN named-entity recognition (PER, ORG, LOC; IOB2), 40 languages; trained on English",
    source="Pan et al. 2017; Rahimi et al. 2019 splits; XTREME (Hu et al. 2020), seqeval F1",
    protocol=xstilts_protocol(epochs=10, batch_size=32, max_length=256),
    discover_languages=panx_languages,
    extra={"scorer": "ner"},
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES),
    download=Download(plan_download, LANGUAGES + WIKIANN_LANGS),
), aliases=("pan-x", "wikiann"))
