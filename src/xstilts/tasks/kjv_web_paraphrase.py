"""KJV/WEB paraphrase: English paraphrase identification, a King James Version verse against a World English Bible
verse (the same verse or another), made by ``xstilts prepare`` from public-domain Bible texts (xstilts demo data).
Two tasks: ``kjv-web-paraphrase`` and ``kjv-web-paraphrase-hard``, the subset matched so that word overlap is at
chance.

Everything about the tasks is in this module: the reader, the registrations and the example-data writer. There is no
download (the data are built locally by :mod:`xstilts.provision.bible`, from Debian's ``sword-text-kjv`` and
``sword-text-web``). The pair-classification family is in :mod:`xstilts.tasks.families.classification`.

* Layout (``<data>/bible/paraphrase_kjv_web{,_hard}/``): ``{train,dev,test}.tsv`` with the header
  ``id sentence1 sentence2 label`` (PAWS-X's layout; ids are verse references, ``Gen.1.1``).
"""

from __future__ import annotations

from pathlib import Path

from . import INTERMEDIATE, TARGET, ExampleData, Task, register
from .base import require_file
from .families.classification import BINARY_LABELS, PairExample, read_pair_tsv

NAME = "kjv-web-paraphrase"
HARD = "kjv-web-paraphrase-hard"
SOURCE = "xstilts demo data from Debian's sword-text-kjv / sword-text-web"


def read_kjv_web(data_dir: Path, split: str, language: str) -> list[PairExample]:
    path = require_file(data_dir / f"{split}.tsv", f"the KJV/WEB paraphrase {split} file (run `xstilts prepare`)")
    return read_pair_tsv(path)


# ---------------------------------------------------------------------------------------------- example data
def _example_writer(task: str):
    """The example-data writer of *task* (seeded by its name): ``{train,dev,test}.tsv``."""

    def write_examples(root: Path) -> Path:
        from . import _synthetic as ex

        rng = ex._rng(task)
        for split, n in (("train", 64), ("dev", 16), ("test", 24)):
            rows = ["id\tsentence1\tsentence2\tlabel"]
            for i in range(n):
                a, b, y = ex._pair(rng, "en", ("0", "1"))
                rows.append(f"Gen.{1 + i // 30}.{1 + i % 30}\t{a}\t{b}\t{y}")
            ex._write(root / f"{split}.tsv", "\n".join(rows) + "\n")
        return root

    return write_examples


register(Task(
    name=NAME, kind="pair_classification", roles=(INTERMEDIATE, TARGET), languages=("en",),
    metric="accuracy", labels=BINARY_LABELS, read=read_kjv_web, data_subdir="bible/paraphrase_kjv_web",
    description="English paraphrase identification, KJV verse vs WEB verse (public domain; `xstilts prepare`)",
    source=SOURCE, examples=ExampleData(_example_writer(NAME)),
))
register(Task(
    name=HARD, kind="pair_classification", roles=(INTERMEDIATE, TARGET), languages=("en",),
    metric="accuracy", labels=BINARY_LABELS, read=read_kjv_web, data_subdir="bible/paraphrase_kjv_web_hard",
    description="KJV/WEB paraphrase, overlap-matched subset where word overlap is at chance",
    source=SOURCE, examples=ExampleData(_example_writer(HARD)),
))
