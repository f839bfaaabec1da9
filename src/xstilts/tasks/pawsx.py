"""PAWS-X (Yang et al. 2019): cross-lingual paraphrase identification (Paraphrase Adversaries from Word Scrambling)
in 7 languages (XTREME).

Everything about the task is in this module: the reader, the registration (languages, hub source, translate-train
languages, protocol defaults), the example-data writer and the download plan. The benchmark facts are in
:mod:`xstilts.xtreme.benchmark`; the pair-classification family (featurisation, head, accuracy) is in
:mod:`xstilts.tasks.families.classification`.

* Official layout (``x-final.tar.gz``): ``x-final/{lang}/{train,dev_2k,test_2k}.tsv`` with the header
  ``id sentence1 sentence2 label``; English has the human training set ``train.tsv``, the other languages the
  release's machine translation of it, ``translated_train.tsv`` (read as their translate-train).
* Hub: ``google-research-datasets/paws-x``, one config per language (``de``), splits train/validation/test (columns
  ``id``, ``sentence1``, ``sentence2``, ``label`` as a class id; ``-1`` marks rows without a label).
"""

from __future__ import annotations

from pathlib import Path

from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import require_file, xstilts_protocol
from .families.classification import BINARY_LABELS, PairExample, hf_pair, read_pair_tsv

NAME = "pawsx"
LANGUAGES = tuple("en de es fr ja ko zh".split())
HF = HFSource("google-research-datasets/paws-x", "{lang}", {"train": "train", "dev": "validation", "test": "test"},
              hf_pair("sentence1", "sentence2"))


def read_pawsx(data_dir: Path, split: str, language: str) -> list[PairExample]:
    name = {"train": "train.tsv", "dev": "dev_2k.tsv", "test": "test_2k.tsv"}[split]
    if split == "train" and language != "en":
        name = "translated_train.tsv"
    path = require_file(data_dir / language / name, f"the PAWS-X {language} {split} file")
    return read_pair_tsv(path)


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("en", "de", "zh")


def _pawsx_rows(rng, lang: str, n: int) -> str:
    from ._synthetic import _pair

    rows = ["id\tsentence1\tsentence2\tlabel"]
    for i in range(n):
        a, b, y = _pair(rng, lang, ("0", "1"))
        rows.append(f"{i + 1}\t{a}\t{b}\t{y}")
    return "\n".join(rows) + "\n"


def write_examples(root: Path) -> Path:
    """The release layout: ``en/train.tsv``, and ``{lang}/{dev_2k,test_2k,translated_train}.tsv``."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    ex._write(root / "en" / "train.tsv", _pawsx_rows(rng, "en", 64))
    for lang in EXAMPLE_LANGUAGES:
        ex._write(root / lang / "dev_2k.tsv", _pawsx_rows(rng, lang, 12))
        ex._write(root / lang / "test_2k.tsv", _pawsx_rows(rng, lang, 20))
        if lang != "en":
            ex._write(root / lang / "translated_train.tsv", _pawsx_rows(rng, lang, 16))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: each language's hub config in the release layout (dev/test; English train, the other
    languages' translated train where the plan asks for translate-train); rows without a 0/1 label are left out."""
    from ..download._formats import cell, class_names, label_name

    folder = plan.folder(NAME)

    def unit(lang: str, splits: tuple[tuple[str, str, str], ...]):
        def run(ctx) -> None:
            dsd = ctx.hub(HF.path, HF.config.format(lang=lang), None, plan.hub_pin(HF.path, NAME))
            for hub_split, name, split in splits:
                ds = dsd[hub_split]
                names = class_names(ds, "label", BINARY_LABELS)
                n = dropped = 0
                with ctx.open(f"{lang}/{name}") as f:
                    f.write("id\tsentence1\tsentence2\tlabel\n")
                    for i, r in enumerate(ds):
                        lab = label_name(r["label"], names)
                        if lab not in BINARY_LABELS:
                            dropped += 1  # the hub marks missing or broken labels -1
                            continue
                        f.write(f"{r.get('id', i)}\t{cell(r['sentence1'])}\t{cell(r['sentence2'])}\t{lab}\n")
                        n += 1
                ctx.count(split, n)
                if dropped:
                    ctx.note(f"{lang}/{name}: {dropped} rows without a 0/1 label left out")

        return run

    for lang in languages:
        cfg = HF.config.format(lang=lang)
        plan.add(NAME, folder, f"hub:{HF.path}:{cfg}:eval", f"PAWS-X {lang} dev/test",
                 unit(lang, (("validation", "dev_2k.tsv", "dev"), ("test", "test_2k.tsv", "test"))))
        if lang == "en":
            plan.add(NAME, folder, f"hub:{HF.path}:{cfg}:train", "PAWS-X en train",
                     unit(lang, (("train", "train.tsv", "train"),)))
        elif plan.translate_train:
            plan.add(NAME, folder, f"hub:{HF.path}:{cfg}:translated_train",
                     f"PAWS-X {lang} translated train (the release's translate-train)",
                     unit(lang, (("train", "translated_train.tsv", "train"),)))


register(Task(
    name=NAME, kind="pair_classification", roles=(TARGET,), languages=LANGUAGES, metric="accuracy",
    train_size=49_401,  # the released training set (study cost estimates)
    labels=BINARY_LABELS, read=read_pawsx, data_subdir="pawsx/x-final",
    hf=HF,
    description="Cross-lingual paraphrase adversaries from word scrambling, 7 languages",
    source="Yang et al. 2019; XTREME", protocol=xstilts_protocol(epochs=5, batch_size=32, max_length=256),
    translate_train=tuple(x for x in LANGUAGES if x != "en"),  # {lang}/translated_train.tsv of the release
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES), download=Download(plan_download, LANGUAGES),
), aliases=("paws-x",))
