"""Tatoeba sentence retrieval (Artetxe & Schwenk 2019): 1,000 English sentences per language and their translations,
each source sentence retrieving its translation by cosine nearest neighbour of sentence embeddings. No training.

One data set, two benchmark variants, both in this module: ``tatoeba`` (XTREME's 36 languages) and
``tatoeba-xtreme-r`` (XTREME-R's 41: XTREME's plus az lt pl ro uk). Both read the same folder (``tatoeba``). The
Tatoeba-format reader and the scoring (the retrieval family's ``nearest`` mode) are in
:mod:`xstilts.tasks.families.retrieval`; the benchmark facts in :mod:`xstilts.xtreme.benchmark`.

* Layout (the LASER release, as XTREME ships it): ``tatoeba.{xxx}-eng.{xxx}`` and ``tatoeba.{xxx}-eng.eng``, one
  sentence per line, line *i* of both files a translation pair; ``xxx`` is the 3-letter code.
* Hub: ``google/xtreme`` configs ``tatoeba.{xxx}`` (XTREME's 36 languages; split ``validation``, the 1,000 pairs
  XTREME tests on); it lacks XTREME-R's five added languages, which the download takes from the LASER repository's
  release files at a fixed commit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..languages import TATOEBA_LANG3, to_lang3
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import ConfigByLanguage
from .families.retrieval import ParallelData, read_tatoeba, tatoeba_languages, write_tatoeba_format
from ..xtreme.benchmark import GOOGLE_XTREME, GOOGLE_XTREME_REVISION

NAME = "tatoeba"
#: XTREME-R's variant: the same data set on 41 languages, scored the same way.
NAME_XTREME_R = "tatoeba-xtreme-r"
#: XTREME's 36 languages.
LANGUAGES = tuple(
    "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl tr ur vi zh".split())
#: XTREME-R's Tatoeba: XTREME's 36 languages plus az, lt, pl, ro, uk (XTREME ``evaluate.py`` XTREME_R_TASK2LANGS).
LANGUAGES_XTREME_R = tuple(sorted(LANGUAGES + ("az", "lt", "pl", "ro", "uk")))
#: XTREME-R's Tatoeba languages beyond google/xtreme's: the LASER release files
LASER_COMMIT = "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821"
LASER_TATOEBA = ("https://raw.githubusercontent.com/facebookresearch/LASER/" + LASER_COMMIT +
                 "/data/tatoeba/v1/tatoeba.{l3}-eng.{ext}")


def _hf_tatoeba_pair(row: dict, i: int) -> tuple[str, str]:
    """One ``google/xtreme`` ``tatoeba.{xxx}`` row: (source sentence, its English translation)."""
    return row["source_sentence"].strip(), row["target_sentence"].strip()


def _hf_tatoeba_data(pairs: list[tuple[str, str]]) -> ParallelData:
    ids = [str(i) for i in range(len(pairs))]
    return ParallelData(ids, [a for a, _ in pairs], ids, [b for _, b in pairs], list(zip(ids, ids)))


#: Tatoeba on the hub: ``google/xtreme`` configs ``tatoeba.{xxx}`` (XTREME's 36 languages; split ``validation``, the
#: 1,000 pairs XTREME tests on).
TATOEBA_HF = HFSource(GOOGLE_XTREME, ConfigByLanguage("tatoeba.{lang}", TATOEBA_LANG3), {"test": "validation"},
                      _hf_tatoeba_pair, collect=_hf_tatoeba_data, revision=GOOGLE_XTREME_REVISION)


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("de", "sw", "zh")
EXAMPLE_LANGUAGES_XTREME_R = ("de", "uk", "zh")


def write_examples(root: Path) -> Path:
    """The Tatoeba format, XTREME's variant (seeded by its name)."""
    return write_tatoeba_format(root, NAME, EXAMPLE_LANGUAGES)


def write_examples_xtreme_r(root: Path) -> Path:
    """The Tatoeba format, XTREME-R's variant (seeded by its name; with a language google/xtreme lacks)."""
    return write_tatoeba_format(root, NAME_XTREME_R, EXAMPLE_LANGUAGES_XTREME_R)


# ------------------------------------------------------------------------------------------------ download
def _planner(task: str):
    def plan_download(plan, languages: list[str]) -> None:
        """``xstilts download``: each language from ``google/xtreme`` where it has it, else the LASER release's two
        files, into the folder both variants read."""
        from ..download._formats import cell, count_lines

        folder = plan.folder(task)
        for lang in languages:
            l3 = to_lang3(lang)
            if lang in LANGUAGES:
                def run(ctx, l3=l3) -> None:
                    dsd = ctx.hub(GOOGLE_XTREME, f"tatoeba.{l3}", None, plan.hub_pin(GOOGLE_XTREME, NAME))
                    src, eng = [], []
                    for r in dsd["validation"]:
                        a, b = cell(r["source_sentence"]).strip(), cell(r["target_sentence"]).strip()
                        if a and b:
                            src.append(a)
                            eng.append(b)
                    ctx.write_text(f"tatoeba.{l3}-eng.{l3}", "".join(s + "\n" for s in src))
                    ctx.write_text(f"tatoeba.{l3}-eng.eng", "".join(s + "\n" for s in eng))
                    ctx.count("test", len(src))

                plan.add(task, folder, f"hub:{GOOGLE_XTREME}:tatoeba.{l3}", f"Tatoeba {lang}", run)
            else:
                def run_laser(ctx, l3=l3) -> None:
                    for ext in (l3, "eng"):
                        path = ctx.url(LASER_TATOEBA.format(l3=l3, ext=ext))
                        if ext == l3:
                            ctx.count("test", count_lines(path))
                        ctx.place(f"tatoeba.{l3}-eng.{ext}", path)

                plan.add(task, folder, f"url:laser-tatoeba:{l3}", f"Tatoeba {lang} (LASER release)", run_laser)

    return plan_download


plan_download = _planner(NAME)
plan_download_xtreme_r = _planner(NAME_XTREME_R)


register(Task(
    name=NAME, kind="retrieval", roles=(TARGET,), languages=LANGUAGES, metric="accuracy@1",
    read=read_tatoeba, data_subdir=NAME, test_split="test", hf=TATOEBA_HF,
    discover_languages=tatoeba_languages,
    extra={"mode": "nearest"},
    description="Tatoeba sentence retrieval, 36 XTREME languages, cosine nearest neighbour (en->xx as XTREME's code)",
    source="Artetxe & Schwenk 2019; XTREME (Hu et al. 2020)",
    protocol={"max_length": 512},  # X-STILTs / XTREME: sentence embeddings of inputs up to 512 tokens
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES),
    download=Download(plan_download, LANGUAGES_XTREME_R),  # the LASER files serve XTREME-R's added languages
))
register(Task(
    name=NAME_XTREME_R, kind="retrieval", roles=(TARGET,), languages=LANGUAGES_XTREME_R, metric="accuracy@1",
    read=read_tatoeba, data_subdir=NAME, test_split="test",
    hf=dataclasses.replace(TATOEBA_HF, languages=LANGUAGES),  # google/xtreme lacks az lt pl ro uk
    discover_languages=tatoeba_languages,
    extra={"mode": "nearest"},
    description="Tatoeba sentence retrieval on XTREME-R's 41 languages (XTREME's 36 + az lt pl ro uk)",
    source="Artetxe & Schwenk 2019; XTREME-R (Ruder et al. 2021)",
    examples=ExampleData(write_examples_xtreme_r, EXAMPLE_LANGUAGES_XTREME_R),
    download=Download(plan_download_xtreme_r, LANGUAGES_XTREME_R),
))
