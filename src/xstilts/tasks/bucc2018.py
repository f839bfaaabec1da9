"""BUCC 2018 parallel sentence mining (Zweigenbaum et al. 2018): find the translation pairs hidden in two comparable
corpora (de/fr/ru/zh against English), scored by F1 of the mined pairs; in XTREME with ratio-margin scoring of
sentence embeddings (Artetxe & Schwenk 2019). No training.

Everything about the task is in this module: the reader, the registration, the example-data writer and the download
plan. The scoring (the retrieval family's ``margin`` mode, :func:`~xstilts.tasks.families.retrieval.bucc_candidates`)
is in :mod:`xstilts.tasks.families.retrieval`.

* Layout (as XTREME ships it): ``{xx}-en.{split}.{xx}`` and ``{xx}-en.{split}.en`` with lines ``id<TAB>sentence`` and
  ``{xx}-en.{split}.gold`` with lines ``xx_id<TAB>en_id``. XTREME renames the shared task's ``sample`` split to
  ``dev`` and ``training`` to ``test``; both spellings are read.
* Release: ``bucc2018-{xx}-en.{sample,training}-gold.tar.bz2`` from comparable.limsi.fr. No hub source:
  ``google/xtreme``'s ``bucc18.*`` configs hold only the gold pairs, not the corpora that mining needs.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataFormatError, MissingDataError
from . import TARGET, Download, ExampleData, Task, register
from .base import iter_tsv, short
from .families.retrieval import ParallelData

NAME = "bucc2018"
LANGUAGES = ("de", "fr", "ru", "zh")
BUCC_URL = "https://comparable.limsi.fr/bucc2018/bucc2018-{lang}-en.{part}-gold.tar.bz2"


def _bucc_file(data_dir: Path, language: str, split: str, ext: str) -> Path:
    names = {"dev": ("dev", "sample"), "test": ("test", "training")}[split]
    for name in names:
        p = data_dir / f"{language}-en.{name}.{ext}"
        if p.is_file():
            return p
    raise MissingDataError(f"{data_dir / f'{language}-en.{names[0]}.{ext}'}: file not found "
                           f"(expected the BUCC 2018 {language}-en {split} {ext} file, or the '{names[1]}' spelling)")


def _read_bucc_side(path: Path) -> tuple[list[str], list[str]]:
    ids, sents, seen = [], [], set()
    for line, cols in iter_tsv(path, 2):
        if cols[0] in seen:
            raise DataFormatError(path, line, f"duplicate sentence id {short(cols[0])}")
        seen.add(cols[0])
        ids.append(cols[0])
        sents.append(cols[1])
    return ids, sents


def read_bucc(data_dir: Path, split: str, language: str) -> ParallelData:
    """Read one BUCC 2018 split: both sides (``id<TAB>sentence``) and the gold pairs (``xx_id<TAB>en_id``)."""
    src_ids, src = _read_bucc_side(_bucc_file(data_dir, language, split, language))
    tgt_ids, tgt = _read_bucc_side(_bucc_file(data_dir, language, split, "en"))
    gold_path = _bucc_file(data_dir, language, split, "gold")
    known_src, known_tgt = set(src_ids), set(tgt_ids)
    gold = []
    for line, (a, b) in iter_tsv(gold_path, 2):
        if a not in known_src or b not in known_tgt:
            raise DataFormatError(gold_path, line, f"gold pair ({short(a)}, {short(b)}) names an id that is not in the "
                                                   f"sentence files")
        gold.append((a, b))
    return ParallelData(src_ids, src, tgt_ids, tgt, gold)


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("de", "zh")


def write_examples(root: Path) -> Path:
    """BUCC 2018 with XTREME's split names: ``{xx}-en.{dev,test}.{xx,en,gold}``; ids as the shared task's."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for lang in EXAMPLE_LANGUAGES:
        for split, n in (("dev", 16), ("test", 24)):
            src, eng = ex._parallel(rng, lang, n)
            keep = set(rng.sample(range(n), n * 2 // 3))  # translated pairs: the gold
            rest = sorted(set(range(n)) - keep)
            src_only, en_only = set(rest[::2]), set(rest[1::2])  # the others have no translation on the other side
            s_ids = [f"{lang}-{k + 1:09d}" for k in range(n)]
            order = list(range(n))
            rng.shuffle(order)
            e_ids = {k: f"en-{pos + 1:09d}" for pos, k in enumerate(order)}
            src_rows = [f"{s_ids[k]}\t{src[k]}" for k in range(n) if k not in en_only]
            eng_rows = [f"{e_ids[k]}\t{eng[k]}" for k in sorted(set(range(n)) - src_only, key=e_ids.get)]
            gold = [f"{s_ids[k]}\t{e_ids[k]}" for k in sorted(keep)]
            ex._write(root / f"{lang}-en.{split}.{lang}", "\n".join(src_rows) + "\n")
            ex._write(root / f"{lang}-en.{split}.en", "\n".join(eng_rows) + "\n")
            ex._write(root / f"{lang}-en.{split}.gold", "\n".join(gold) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: per language, the release's ``sample`` (dev) and ``training`` (test) archives, their
    three files written with XTREME's split names."""
    import tarfile

    from ..download.plan import member_bytes
    from ..errors import XstiltsError

    folder = plan.folder(NAME)
    for lang in languages:
        def run(ctx, lang=lang) -> None:
            for part, split in (("sample", "dev"), ("training", "test")):
                path = ctx.url(BUCC_URL.format(lang=lang, part=part))
                pattern = re.compile(rf"(?:.*/)?{lang}-en\.{part}\.({lang}|en|gold)")
                found = set()
                with tarfile.open(path, "r:*") as tar:
                    for member in tar:
                        m = pattern.fullmatch(member.name)
                        if m and member.isfile():
                            data = member_bytes(tar, member)
                            with ctx.open(f"{lang}-en.{split}.{m.group(1)}", "wb") as out:
                                out.write(data)
                            found.add(m.group(1))
                            if m.group(1) == lang:
                                ctx.count(split, sum(1 for line in data.split(b"\n") if line.strip()))
                missing = {lang, "en", "gold"} - found
                if missing:
                    raise XstiltsError(f"{BUCC_URL.format(lang=lang, part=part)}: the archive lacks the "
                                       f"{', '.join(sorted(missing))} file(s)")

        plan.add(NAME, folder, f"url:bucc2018:{lang}", f"BUCC 2018 {lang}-en sample (dev) and training (test)", run)


register(Task(
    name=NAME, kind="retrieval", roles=(TARGET,), languages=LANGUAGES, metric="f1",
    read=read_bucc, data_subdir=NAME, dev_split="dev", test_split="test",
    extra={"mode": "margin"},
    description="BUCC 2018 parallel sentence mining, ratio-margin scoring (k=4), F1-optimal threshold as XTREME's code",
    source="Zweigenbaum et al. 2018; Artetxe & Schwenk 2019; XTREME",
    protocol={"max_length": 512},  # X-STILTs / XTREME: sentence embeddings of inputs up to 512 tokens
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES), download=Download(plan_download, LANGUAGES),
), aliases=("bucc",))
