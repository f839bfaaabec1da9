"""SIB-200: topic classification of FLORES-200 sentences in 205 language variants (Adelani et al. 2024).

Everything about the task is in this module: the reader, the hub source, the languages, the example data, the
download plan and the registration.

* Official layout (github.com/dadelani/sib-200, ``data/annotated/<lang_script>/{train,dev,test}.tsv``): a header
  ``index_id<TAB>category<TAB>text`` and one sentence per row, 7 topics. The folder given as ``data_dir`` may be the
  repository (``data/annotated/`` below it), ``annotated/``'s parent or ``annotated/`` itself.
* Languages: the data set's codes (ISO 639-3 + ISO 15924 script, ``deu_Latn``); an XTREME code (``de``) given to
  the reader is mapped by :func:`xstilts.languages.flores_code` (the rule is in :data:`~xstilts.languages.
  FLORES_TO_XTREME`).
* Training: English (``eng_Latn/train.tsv``, 701 sentences) zero-shot, as the paper's cross-lingual setting; every
  language has its own (human-translated) training set, so any language is a ``train_language``.
* Hub copy: ``Davlan/sib200`` (by the data set's first author), one config per language variant (``deu_Latn``),
  splits train/validation/test, columns ``index_id``, ``category`` (the topic's name), ``text``: what
  ``xstilts download sib200`` fetches and writes in the official layout (the repository has no release archive of all
  languages: the ``data.zip`` once in its history held the English annotation only).

Single sentences are classified by the pair-classification family with no second text (``<s> text </s>``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..languages import FLORES_200_VARIANTS, flores_code, xtreme_code
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import iter_tsv, label_id, require_file, xstilts_protocol
from .families.classification import PairExample

NAME = "sib200"
HUB = "Davlan/sib200"
#: The 7 topics of the release's ``category`` column (the index of a topic here is its class id).
LABELS = ("science/technology", "travel", "politics", "sports", "health", "entertainment", "geography")
#: FLORES-200's 204 variants and N'Ko (``nqo_Nkoo``), which SIB-200 adds.
LANGUAGES = tuple(sorted(FLORES_200_VARIANTS + ("nqo_Nkoo",)))
_SPLITS = {"train": "train", "dev": "dev", "test": "test"}
#: The training language (English zero-shot, as the paper's cross-lingual setting).
TRAIN_LANGUAGE = "eng_Latn"
HEADER = ["index_id", "category", "text"]


def _split_file(data_dir: Path, split: str, language: str) -> Path:
    code = flores_code(language)
    for base in (data_dir / "data" / "annotated", data_dir / "annotated", data_dir):
        path = base / code / f"{_SPLITS[split]}.tsv"
        if path.is_file():
            return require_file(path, "")
    return require_file(data_dir / "data" / "annotated" / code / f"{_SPLITS[split]}.tsv",
                        f"the SIB-200 {code} {split} file (index_id, category, text)")


def read_sib200(data_dir: Path, split: str, language: str) -> list[PairExample]:
    """SIB-200 *split* (train/dev/test) in *language*: one :class:`PairExample` per row, ``text_b`` ``None``."""
    path = _split_file(data_dir, split, language)
    return [PairExample(c[0], c[2], None, label_id(LABELS, c[1], path, line))
            for line, c in iter_tsv(path, 3, header=HEADER, quoting=csv.QUOTE_MINIMAL)]


def sib200_languages(data_dir: Path) -> list[str]:
    """Language variants with a test file in *data_dir* (any of the layouts :func:`read_sib200` reads)."""
    found = {p.parent.name for pat in ("data/annotated/*/test.tsv", "annotated/*/test.tsv", "*/test.tsv")
             for p in data_dir.glob(pat)}
    return sorted(found & set(LANGUAGES))


def _hf_row(row: dict, i: int) -> PairExample:
    label = row["category"]
    return PairExample(str(row.get("index_id", i)), row["text"], None,
                       LABELS.index(label) if isinstance(label, str) else int(label))


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("eng_Latn", "deu_Latn", "swh_Latn", "zho_Hans")


def write_examples(root: Path) -> Path:
    """``data/annotated/<lang>/{train,dev,test}.tsv``: synthetic sentences whose topic is the place they name
    (place *k* is topic *k*; the seventh topic names no place and has an organisation as subject)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for lang in EXAMPLE_LANGUAGES:
        code = xtreme_code(lang)
        for split, n in (("train", 56), ("dev", 14), ("test", 21)):
            if split == "train" and lang != "eng_Latn":
                continue
            rows = ["index_id\tcategory\ttext"]
            for i in range(n):
                y = rng.randrange(len(LABELS))
                c = ex.random_clause(rng, person=True, place=False, number=False)
                c.noun = y if y < 5 else rng.randrange(5)
                c.place = ex.PLACES[y] if y < 6 else None  # a name shared by every language: transfer works
                if y == 6:
                    c.subject, c.subject_type = (rng.choice(ex.ORGS),), "ORG"
                rows.append(f"{i + 1}\t{LABELS[y]}\t{ex.sentence(c, code)}")
            ex._write(root / "data" / "annotated" / lang / f"{split}.tsv", "\n".join(rows) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: one unit per language variant, its hub config written as the release's
    ``data/annotated/<lang>/{train,dev,test}.tsv`` (tab-separated, quoted where a text holds a ``"``, as the release
    files); the English training set is always fetched (the task trains on it). The hub commit is resolved when run
    and recorded in the manifest (the task pins none)."""
    from ..download._formats import cell, class_names, label_name
    from ..download.plan import split as hub_split_of

    folder = plan.folder(NAME)

    def unit(code: str):
        def run(ctx) -> None:
            dsd = ctx.hub(HUB, code, None, plan.hub_pin(HUB, NAME))
            for hub_split, split in (("train", "train"), ("validation", "dev"), ("test", "test")):
                ds = hub_split_of(dsd, hub_split)
                if ds is None:
                    continue
                names = class_names(ds, "category", LABELS)
                n = dropped = 0
                rel = f"data/annotated/{code}/{_SPLITS[split]}.tsv"
                with ctx.open(rel) as f:
                    out = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
                    out.writerow(HEADER)
                    for i, r in enumerate(ds):
                        topic = label_name(r["category"], names)
                        if topic not in LABELS:
                            dropped += 1
                            continue
                        out.writerow([cell(r.get("index_id", i)), topic, cell(r["text"])])
                        n += 1
                ctx.count(split, n)
                if dropped:
                    ctx.note(f"{rel}: {dropped} rows without one of the 7 topics left out")

        return run

    codes = [flores_code(x) for x in languages]
    for code in ([] if TRAIN_LANGUAGE in codes else [TRAIN_LANGUAGE]) + codes:
        plan.add(NAME, folder, f"hub:{HUB}:{code}", f"SIB-200 {code} train/dev/test", unit(code))


register(Task(
    name=NAME, kind="pair_classification", roles=(TARGET,), languages=LANGUAGES, metric="accuracy", labels=LABELS,
    read=read_sib200, data_subdir="sib-200", train_language=TRAIN_LANGUAGE,
    hf=HFSource(HUB, "{lang}", {"train": "train", "dev": "validation", "test": "test"}, _hf_row),
    description="SIB-200 topic classification of FLORES-200 sentences, 7 topics, 205 language variants",
    source="Adelani et al. 2024 (SIB-200)", protocol=xstilts_protocol(epochs=3, batch_size=32, max_length=128),
    translate_train=tuple(x for x in LANGUAGES if x != TRAIN_LANGUAGE),  # every language has its own training set
    discover_languages=sib200_languages,
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES[1:]), train_size=701,
    download=Download(plan_download, LANGUAGES),
))
