"""English-Spanish Bible verses (``tatoeba-bible``): 1,000 verse pairs (Reina-Valera 1909 against the World English
Bible), made by ``xstilts prepare`` (:mod:`xstilts.provision.bible`) from Debian's public-domain SWORD modules and
written in the Tatoeba format. Scored as Tatoeba (the retrieval family's ``nearest`` mode,
:mod:`xstilts.tasks.families.retrieval`). No training, no download (``xstilts prepare`` builds it).

* Layout: ``bible/tatoeba_spa_eng_1k/tatoeba.spa-eng.spa`` and ``tatoeba.spa-eng.eng`` (the seeded 1,000-pair
  sample), line *i* of both a verse pair.
"""

from __future__ import annotations

from pathlib import Path

from . import TARGET, ExampleData, Task, register
from .families.retrieval import read_tatoeba, tatoeba_languages, write_tatoeba_format

NAME = "tatoeba-bible"
LANGUAGES = ("es",)

# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("es",)


def write_examples(root: Path) -> Path:
    """The Tatoeba format (seeded by the task's name)."""
    return write_tatoeba_format(root, NAME, EXAMPLE_LANGUAGES)


register(Task(
    name=NAME, kind="retrieval", roles=(TARGET,), languages=LANGUAGES, metric="accuracy@1",
    read=read_tatoeba, data_subdir="bible/tatoeba_spa_eng_1k",
    discover_languages=tatoeba_languages,
    extra={"mode": "nearest"},
    description="English-Spanish Bible verses (RV1909 vs WEB), 1,000 pairs, Tatoeba format (`xstilts prepare`)",
    source="Debian sword-text-sparv / sword-text-web (public domain)",
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES),
))
