"""XNLI 1.0 (Conneau et al. 2018): cross-lingual natural language inference in 15 languages (XTREME); trained on
English MultiNLI (:mod:`xstilts.tasks.mnli`), as in XTREME, or on XTREME's machine translation of it.

Everything about the task is in this module: the reader, the registration (languages, hub source, translate-train
languages, protocol defaults), the example-data writer and the download plan. The benchmark facts are in
:mod:`xstilts.xtreme.benchmark`; the pair-classification family (featurisation, head, accuracy) is in
:mod:`xstilts.tasks.families.classification`.

* Official layout (``XNLI-1.0.zip``): ``xnli.{dev,test}.tsv``, all languages in one file, with a header naming
  ``language``, ``gold_label``, ``sentence1``, ``sentence2`` among its columns (:data:`XNLI_HEADER`). The English
  training set is MultiNLI's ``multinli_1.0_train.jsonl``, in ``multinli/`` (or in the folder itself).
* Translate-train: XTREME's ``translate-train/en-{lang}-translated.tsv`` (no header; English premise and hypothesis,
  their translations, label, with ``contradictory``), or the XNLI-MT 1.0 release's
  ``XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv``.
* Hub: ``google/xtreme`` config ``XNLI`` (``validation``/``test``, every language; what ``xstilts download`` writes
  from) and ``facebook/xnli``, one config per language (``de``), what ``load_examples`` reads when online.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError, MissingDataError
from . import TARGET, Download, ExampleData, HFSource, Task, register
from . import mnli  # XNLI's English training set is MultiNLI's
from .base import iter_tsv, label_id, read_text_lines, require_file, short, xstilts_protocol
from .families.classification import NLI_LABELS, PairExample, hf_nli
from ..xtreme.benchmark import GOOGLE_XTREME

NAME = "xnli"
LANGUAGES = tuple("en ar bg de el es fr hi ru sw th tr ur vi zh".split())
#: The columns of the release's ``xnli.{dev,test}.tsv``.
XNLI_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
               "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5 sentence1_tokenized "
               "sentence2_tokenized match").split()
#: XTREME's machine translation of MultiNLI's training set, and where the download writes it.
TRANSLATE_TRAIN_URL = "https://storage.googleapis.com/xtreme_translations/XNLI/translate-train/en-{lang}-translated.tsv"
TRANSLATE_TRAIN_FILE = "translate-train/en-{lang}-translated.tsv"
#: XNLI translate-train labels as the files spell them (XTREME's and XNLI-MT's "contradictory").
_XNLI_MT_LABELS = {"entailment": "entailment", "neutral": "neutral", "contradiction": "contradiction",
                   "contradictory": "contradiction"}


def read_xnli_translate_train(data_dir: Path, language: str) -> list[PairExample]:
    """MultiNLI machine-translated into *language*, for ``train_language``: XTREME's translate-train file
    ``translate-train/en-{lang}-translated.tsv`` (no header; English premise, English hypothesis, translated premise,
    translated hypothesis, label — the layout XTREME's ``xtreme_translations/XNLI`` bucket ships), or the XNLI-MT 1.0
    release's ``XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv`` (header ``premise hypo label``)."""
    xtreme = data_dir / TRANSLATE_TRAIN_FILE.format(lang=language)
    mt = data_dir / "XNLI-MT-1.0" / "multinli" / f"multinli.train.{language}.tsv"
    if not xtreme.is_file() and mt.is_file():
        out = []
        for line, c in iter_tsv(mt, 3, header=["premise", "hypo", "label"]):
            lab = _XNLI_MT_LABELS.get(c[2])
            if lab is None:
                raise DataFormatError(mt, line, f"unknown label {short(c[2])}; expected entailment, neutral or "
                                                f"contradictory")
            out.append(PairExample(f"{language}-{line}", c[0], c[1], NLI_LABELS.index(lab)))
        return out
    require_file(xtreme, f"XTREME's XNLI translate-train file for {language} (or {mt})")
    out = []
    for line, c in iter_tsv(xtreme, 5):
        lab = _XNLI_MT_LABELS.get(c[4])
        if lab is None:
            raise DataFormatError(xtreme, line, f"unknown label {short(c[4])}; expected entailment, neutral or "
                                                f"contradictory in the 5th column")
        out.append(PairExample(f"{language}-{line}", c[2], c[3], NLI_LABELS.index(lab)))
    return out


def read_xnli(data_dir: Path, split: str, language: str) -> list[PairExample]:
    if split == "train":
        if language != "en":  # translate-train: MultiNLI machine-translated into the language
            return read_xnli_translate_train(data_dir, language)
        # XTREME trains XNLI on the English MultiNLI training set
        mnli_dir = data_dir / "multinli" if (data_dir / "multinli").is_dir() else data_dir
        return mnli.read_mnli(mnli_dir, "train", "en")
    path = require_file(data_dir / f"xnli.{split}.tsv", f"the XNLI 1.0 {split} file")
    if path.stat().st_size == 0:
        raise DataFormatError(path, None, "empty file; expected the XNLI 1.0 header and rows")
    rows = iter_tsv(path, header=["language", "gold_label"], min_cols=8)
    first = read_header(path)
    try:
        i1, i2 = first.index("sentence1"), first.index("sentence2")
    except ValueError:
        raise DataFormatError(path, 1, "expected columns named sentence1 and sentence2 in the header") from None
    id_col = first.index("pairID") if "pairID" in first else None
    out = []
    for line, c in rows:
        if len(c) != len(first):
            raise DataFormatError(path, line, f"expected {len(first)} tab-separated columns, got {len(c)}")
        if c[0] != language:
            continue
        out.append(PairExample(c[id_col] if id_col is not None else str(line), c[i1], c[i2],
                               label_id(NLI_LABELS, c[1], path, line)))
    if not out:
        raise MissingDataError(f"{path}: no rows for language {language!r}")
    return out


def read_header(path: Path) -> list[str]:
    lines = read_text_lines(path)
    return lines[0].split("\t") if lines else []


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("en", "de", "zh")


def _translated_pairs(rng, lang: str, labels: tuple[str, ...], n: int) -> list[tuple[str, ...]]:
    """Translate-train rows: ``(English a, English b, a in *lang*, b in *lang*, label)`` of one clause pair."""
    from dataclasses import replace

    from ._synthetic import MAYBE, NO, YES, random_clause, sentence

    rows = []
    for _ in range(n):
        y = rng.randrange(len(labels))
        a = random_clause(rng)
        b = replace(a, adj=rng.choice([None, 0, 1]), number=None,
                    marker=(YES, MAYBE, NO)[y] if len(labels) == 3 else (NO, YES)[y])
        rows.append((sentence(a, "en"), sentence(b, "en"), sentence(a, lang), sentence(b, lang), labels[y]))
    return rows


def write_examples(root: Path) -> Path:
    """XNLI 1.0 ``xnli.{dev,test}.tsv`` (the release's first 16 columns), English MultiNLI in ``multinli/``, and
    XTREME's translate-train files ``translate-train/en-{lang}-translated.tsv`` (no header; English premise and
    hypothesis, their translations, label, with XTREME's ``contradictory``)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    mnli.write_examples(root / "multinli")  # XTREME trains XNLI on English MultiNLI
    tt = ex._rng(NAME, "translate-train")
    for lang in EXAMPLE_LANGUAGES:
        if lang != "en":
            rows = _translated_pairs(tt, lang, ("entailment", "neutral", "contradictory"), 64)
            ex._write(root / TRANSLATE_TRAIN_FILE.format(lang=lang), "".join("\t".join(r) + "\n" for r in rows))
    nli = NLI_LABELS
    for split, n in (("dev", 12), ("test", 20)):
        rows = ["\t".join(XNLI_HEADER[:16])]
        for lang in EXAMPLE_LANGUAGES:
            for i in range(n):
                a, b, y = ex._pair(rng, lang, nli)
                cols = [lang, nli[y], f"( {a} )", f"( {b} )", f"(ROOT {a})", f"(ROOT {b})", a, b, str(i), str(i),
                        "fiction"] + [nli[y]] * 5
                rows.append("\t".join(cols))
        ex._write(root / f"xnli.{split}.tsv", "\n".join(rows) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: ``google/xtreme``'s ``XNLI`` config (all languages at once) as the release's
    ``xnli.{dev,test}.tsv``; MultiNLI (:mod:`xstilts.tasks.mnli`'s download) linked as the English training set; and
    XTREME's translate-train files where the plan asks for them."""
    from ..download._formats import cell, count_lines
    from ..errors import XstiltsError

    folder = plan.folder(NAME)

    def run(ctx) -> None:
        dsd = ctx.hub(GOOGLE_XTREME, "XNLI", None, plan.hub_pin(GOOGLE_XTREME))
        for hub_split, split in (("validation", "dev"), ("test", "test")):
            n = 0
            with ctx.open(f"xnli.{split}.tsv") as f:
                f.write("\t".join(XNLI_HEADER) + "\n")
                for i, r in enumerate(dsd[hub_split]):
                    row = [""] * len(XNLI_HEADER)
                    row[0], row[1], row[6], row[7], row[9] = (cell(r["language"]), cell(r["gold_label"]),
                                                              cell(r["sentence1"]), cell(r["sentence2"]), str(i))
                    f.write("\t".join(row) + "\n")
                    n += 1
            ctx.count(split, n)

    plan.add(NAME, folder, f"hub:{GOOGLE_XTREME}:XNLI", "XNLI 1.0 dev/test, all 15 languages", run)
    # XTREME trains XNLI on English MultiNLI: the reader looks for it in xnli/multinli
    mnli.plan_download(plan, ["en"])
    mnli_train = plan.folder(mnli.NAME) / mnli.FILES["train"]

    def link(ctx) -> None:
        from ..download._core import sha256_file

        if not mnli_train.is_file():
            raise XstiltsError(f"{mnli_train}: not found (the MultiNLI download should have written it)")
        ctx.link(f"multinli/{mnli.FILES['train']}", mnli_train)
        ctx.sources.append({"kind": "local", "path": "../" + mnli_train.parent.name + "/" + mnli_train.name,
                            "sha256": sha256_file(mnli_train)})
        ctx.count("train", count_lines(mnli_train))

    plan.add(NAME, folder, "link:multinli-train", "English training set (MultiNLI train, linked)", link)
    plan.translate_train_files(NAME, folder, languages, TRANSLATE_TRAIN_URL, TRANSLATE_TRAIN_FILE, "MultiNLI",
                               count_lines)


register(Task(
    name=NAME, kind="pair_classification", roles=(TARGET,), languages=LANGUAGES, metric="accuracy",
    train_size=392_702,  # the released training set (study cost estimates)
    labels=NLI_LABELS, read=read_xnli, data_subdir=NAME,
    hf=HFSource("facebook/xnli", "{lang}", {"train": "train", "dev": "validation", "test": "test"}, hf_nli),
    description="Cross-lingual NLI, 15 languages; trained on English MultiNLI", source="Conneau et al. 2018; XTREME",
    protocol=xstilts_protocol(epochs=2, batch_size=32, max_length=256),
    translate_train=tuple(x for x in LANGUAGES if x != "en"),
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES), download=Download(plan_download, LANGUAGES),
))
