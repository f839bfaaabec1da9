"""FLORES-200 bitext retrieval: Tatoeba-style sentence retrieval between English and 203 language variants on the
sentence-aligned FLORES-200 dev (997 sentences) and devtest (1,012) sets (NLLB Team 2022). No training.

Everything about the task is in this module: the reader, the hub source, the languages, the example data, the
download plan and the registration.

* Official layout (``flores200_dataset.tar.gz``): ``flores200_dataset/{dev,devtest}/<lang_script>.{dev,devtest}``,
  one sentence per line, line *i* of every file the same sentence; the English side is ``eng_Latn``. ``data_dir``
  may be the folder holding ``flores200_dataset/`` or that folder itself.
* Scoring (the retrieval family's ``bitext`` mode): cosine nearest neighbour of each sentence among the other
  side's, in both directions; reported ``accuracy@1 xx-en``, ``accuracy@1 en-xx`` and their error rates
  (100 - accuracy, the ``xsim`` error rate with cosine distance); the headline ``accuracy@1`` is the mean of the two
  directions. Prediction files give, per source line, the English line retrieved (xx->en). The test split is
  ``devtest``; ``dev`` is read too where a config asks for it.
* Languages: the data set's codes (``deu_Latn``); XTREME codes given to the reader are mapped by
  :func:`xstilts.languages.flores_code`.
* Hub copies: ``openlanguagedata/flores_plus`` (gated; one config per variant, column ``text``) and
  ``facebook/flores`` (pair configs ``<xx>-eng_Latn``, columns ``sentence_<code>``; a loading script, which
  datasets 4 no longer runs). The hub source below is ``facebook/flores``'s pair configs.
* Download (``xstilts download flores200``): the official release archive :data:`RELEASE_URL` (the file the
  ``facebook/flores`` loading script reads too), whose ``{dev,devtest}/<code>.{dev,devtest}`` files of every variant
  are written as they are into ``flores200/flores200_dataset/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..languages import FLORES_200_VARIANTS, flores_code, xtreme_code
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import require_file
from .families.retrieval import ParallelData, read_aligned

NAME = "flores200"
PIVOT = "eng_Latn"
#: Every FLORES-200 variant but English, the pivot.
LANGUAGES = tuple(x for x in FLORES_200_VARIANTS if x != PIVOT)
_SPLITS = {"dev": "dev", "devtest": "devtest", "test": "devtest"}
#: The official release: ``flores200_dataset/{dev,devtest}/<code>.{dev,devtest}`` (and metadata files, not read).
RELEASE_URL = "https://dl.fbaipublicfiles.com/nllb/flores200_dataset.tar.gz"


def _file(data_dir: Path, split: str, code: str) -> Path:
    name = _SPLITS[split]
    for base in (data_dir / "flores200_dataset", data_dir):
        path = base / name / f"{code}.{name}"
        if path.is_file():
            return require_file(path, "")
    return require_file(data_dir / "flores200_dataset" / name / f"{code}.{name}",
                        f"the FLORES-200 {code} {name} file")


def read_flores200(data_dir: Path, split: str, language: str) -> ParallelData:
    """The *language* and English sides of one split (``dev`` or ``devtest``/``test``), line *i* a translation pair;
    files of different lengths and empty lines are errors."""
    src_path, tgt_path = _file(data_dir, split, flores_code(language)), _file(data_dir, split, PIVOT)
    return read_aligned(src_path, tgt_path)


def flores200_languages(data_dir: Path) -> list[str]:
    """Variants with a devtest file beside English's in *data_dir*."""
    found = {p.name.split(".")[0] for pat in ("flores200_dataset/devtest/*.devtest", "devtest/*.devtest")
             for p in data_dir.glob(pat)}
    return sorted(x for x in found & set(LANGUAGES) if re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", x))


def _hf_pair(row: dict, i: int) -> tuple[str, str]:
    """One ``facebook/flores`` ``<xx>-eng_Latn`` row: (the xx sentence, the English sentence)."""
    other = next(k for k in row if k.startswith("sentence_") and k != f"sentence_{PIVOT}")
    return row[other].strip(), row[f"sentence_{PIVOT}"].strip()


def _hf_collect(pairs: list[tuple[str, str]]) -> ParallelData:
    ids = [str(i) for i in range(len(pairs))]
    return ParallelData(ids, [a for a, _ in pairs], ids, [b for _, b in pairs], list(zip(ids, ids)))


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("deu_Latn", "swh_Latn", "zho_Hans")


def write_examples(root: Path) -> Path:
    """``flores200_dataset/{dev,devtest}/<code>.{dev,devtest}``: the same clauses rendered in every language, so
    line *i* of every file is one sentence."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for split, n in (("dev", 16), ("devtest", 24)):
        clauses = []
        for number in rng.sample(range(100), n):
            c = ex.random_clause(rng, number=False)
            c.number = str(number)
            clauses.append(c)
        for lang in (PIVOT,) + EXAMPLE_LANGUAGES:
            code = xtreme_code(lang)
            ex._write(root / "flores200_dataset" / split / f"{lang}.{split}",
                      "".join(ex.sentence(c, code) + "\n" for c in clauses))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the release archive, every variant's dev and devtest files written as they are in the
    layout the reader reads (``flores200_dataset/{dev,devtest}/<code>.{dev,devtest}``); the whole release is one
    unit, whatever *languages* asks for (one archive holds them all)."""
    import tarfile

    from ..download.plan import member_bytes
    from ..errors import XstiltsError

    folder = plan.folder(NAME)
    pattern = re.compile(r"(?:.*/)?(dev|devtest)/([a-z]{3}_[A-Z][a-z]{3})\.(dev|devtest)")

    def run(ctx) -> None:
        path = ctx.url(RELEASE_URL)
        found: dict[str, set[str]] = {"dev": set(), "devtest": set()}
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                m = pattern.fullmatch(member.name)
                if m and m.group(1) == m.group(3) and member.isfile():
                    split, code = m.group(1), m.group(2)
                    data = member_bytes(tar, member)
                    with ctx.open(f"flores200_dataset/{split}/{code}.{split}", "wb") as out:
                        out.write(data)
                    found[split].add(code)
                    if code == PIVOT:
                        ctx.count(split, sum(1 for line in data.split(b"\n") if line.strip()))
        for split, codes in found.items():
            if PIVOT not in codes:
                raise XstiltsError(f"{RELEASE_URL}: the archive lacks flores200_dataset/{split}/{PIVOT}.{split}")
        ctx.note(f"{len(found['devtest'] - {PIVOT})} variants besides {PIVOT}")

    plan.add(NAME, folder, "url:flores200_dataset", "FLORES-200 dev and devtest, every variant (official release)",
             run)


register(Task(
    name=NAME, kind="retrieval", roles=(TARGET,), languages=LANGUAGES, metric="accuracy@1", read=read_flores200,
    data_subdir="flores200", dev_split="dev", test_split="devtest",
    hf=HFSource("facebook/flores", f"{{lang}}-{PIVOT}", {"dev": "dev", "devtest": "devtest"}, _hf_pair,
                collect=_hf_collect, note="facebook/flores ships a loading script, which datasets 4 no longer runs "
                "(use datasets<4 with trust_remote_code, or the official flores200_dataset.tar.gz)"),
    description="FLORES-200 bitext retrieval, 203 variants to and from English, cosine accuracy@1 (mean of xx->en "
                "and en->xx)",
    source="NLLB Team 2022 (FLORES-200); Tatoeba-style scoring as Artetxe & Schwenk 2019",
    protocol={"max_length": 512},  # sentence embeddings of inputs up to 512 tokens, as for Tatoeba
    discover_languages=flores200_languages,
    extra={"mode": "bitext"},
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES), download=Download(plan_download, LANGUAGES),
))
