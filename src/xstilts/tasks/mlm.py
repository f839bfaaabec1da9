"""Continued masked-language-model training on multilingual text, as an alternative intermediate phase.

The seeds of this project ask whether intermediate training on *multilingual* data helps where English task data
does not. Task ``mlm`` trains the encoder with BERT's masked-LM objective (the family
:mod:`xstilts.tasks.families.mlm`) on plain text in any language.

Everything about the task is in this module: the reader, the registration and the example-data writer. There is no
download: the data folder is made by ``xstilts prepare`` (UDHR and Tatoeba text) or brought by the user.

* Data folder: every ``*.txt`` file (one text per line) and every Tatoeba-format pair (``tatoeba.{xxx}-eng.{xxx}`` /
  ``.eng``, e.g. the UDHR folder that ``xstilts prepare`` makes) in ``data_dir``. Every 20th line is held out as the
  dev split; the rest is the training split. The dev metric is the masked-token accuracy (%).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingDataError
from . import INTERMEDIATE, ExampleData, Task, register
from .base import read_text_lines
from .families.mlm import TextExample

NAME = "mlm"


def read_text_folder(data_dir: Path, split: str, language: str) -> list[TextExample]:
    """Lines of ``*.txt`` files and Tatoeba-format pairs in *data_dir*; split ``dev`` = every 20th line."""
    files = sorted(data_dir.glob("*.txt")) + sorted(data_dir.glob("tatoeba.*-eng.*"))
    if not files:
        raise MissingDataError(f"{data_dir}: no *.txt or tatoeba.*-eng.* files for the mlm task")
    seen, out = set(), []
    for f in files:
        for i, line in enumerate(read_text_lines(f)):
            text = line.strip()
            if not text or text in seen:
                continue
            seen.add(text)
            n = len(seen)
            if (split == "dev") == (n % 20 == 0):
                out.append(TextExample(f"{f.name}:{i + 1}", text))
    return out


# ---------------------------------------------------------------------------------------------- example data
#: The languages of the example text files.
EXAMPLE_TEXT_LANGUAGES = ("en", "de", "es", "sw", "zh")


def write_examples(root: Path) -> Path:
    """Plain text, one sentence per line, in several languages (``*.txt``), for continued masked-LM training."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for lang in EXAMPLE_TEXT_LANGUAGES:
        lines = [ex._sep(lang).join(ex.sentence(ex.random_clause(rng), lang) for _ in range(2)) for _ in range(60)]
        ex._write(root / f"{lang}.txt", "\n".join(lines) + "\n")
    return root


register(Task(
    name=NAME, kind="masked_lm", roles=(INTERMEDIATE,), languages=("multi",), metric="accuracy",
    read=read_text_folder, data_subdir="udhr_tatoeba", train_language="multi", dev_split="dev",
    translate_train=("*",),  # plain text in any language of the folder
    description="continued masked-LM training on multilingual text (*.txt or Tatoeba-format files)",
    source="BERT masked LM (Devlin et al. 2019)",
    examples=ExampleData(write_examples),
))
