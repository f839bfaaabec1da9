"""UD-POS: part-of-speech tagging with the 17 universal POS tags of Universal Dependencies v2.5, as XTREME uses it.

Everything about the task is in this module: the reader, the registration (languages, hub source, protocol defaults,
training-set size), the example-data writer and the download plan. The benchmark facts (XTREME's languages and
category for it) are in :mod:`xstilts.xtreme.benchmark`; the tagging family (featurisation, head, decoding, scoring,
the ``token<TAB>tag`` and CoNLL-U readers) is in :mod:`xstilts.tasks.families.tagging`.

* Layout: a folder with either

  - XTREME's preprocessed files ``{split}-{lang}.tsv`` (``utils_preprocess.py udpos_preprocess``): one
    ``word<TAB>UPOS`` line per word, a blank line between sentences. XTREME removes the tags from its *test*
    files; such a file is skipped in favour of CoNLL-U files when present, and is an error otherwise;
  - CoNLL-U files: ``{split}-{lang}.conllu``, or the UD release layout ``UD_*/{lang}_*-ud-{split}.conllu`` (all
    treebanks of the language together, as XTREME groups them). Columns ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL
    DEPS MISC; comment lines, multiword-token ranges (``1-2``) and empty nodes (``1.1``) are skipped, so the words
    are UD's syntactic words. As in XTREME's ``udpos_preprocess``, sentences whose forms are all (or all but one)
    ``_`` (treebanks distributed without text) are dropped, and spaces and U+200C are removed inside a word.
    Note: XTREME converted CoNLL-U with ``ud-conversion-tools --replace_subtokens_with_fused_forms`` (a fused
    form tagged with its head sub-token's UPOS), so its preprocessed files have fewer words where a language has
    contractions (``du`` = ``de le``); reading CoNLL-U here keeps the syntactic words instead.

  Trained on English; scored with XTREME's seqeval "F1" (and token accuracy).
* Hub: ``google/xtreme`` configs ``udpos.<Language name>`` (``train``/``validation``/``test``), written as
  ``{split}-{lang}.tsv``. XTREME-R's five further languages (lt pl uk wo ro) come from the UD v2.7 release archive,
  kept in the release layout.
"""

from __future__ import annotations

import random
import re
import tarfile
from pathlib import Path

from ..errors import DataFormatError, MissingDataError
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import ConfigByLanguage, xstilts_protocol
from .families.tagging import (_HF_SPLITS, UPOS_LABELS, TaggedExample, _has_tag_column, _hf_tagged, _langs_in,
                               read_conllu, read_token_tag_file)
from ..xtreme.benchmark import GOOGLE_XTREME, GOOGLE_XTREME_REVISION

NAME = "udpos"
#: XTREME's UD-POS languages (``evaluate.py`` ``TASK2LANGS['udpos']``, ``scripts/download_data.sh``)
LANGUAGES = tuple("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo "
                  "zh".split())
#: language names of the Hugging Face ``google/xtreme`` ``udpos.<Name>`` configs
HF_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu", "vi": "Vietnamese",
    "yo": "Yoruba", "zh": "Chinese",
}
#: XTREME-R's UD-POS languages beyond XTREME, from UD v2.7 as XTREME-R's download_data.sh takes them
UD27_URL = "https://lindat.mff.cuni.cz/repository/xmlui/bitstream/handle/11234/1-3424/ud-treebanks-v2.7.tgz"
UD27_LANGS = ("lt", "pl", "uk", "wo", "ro")


def _conllu_files(data_dir: Path, split: str, language: str) -> list[Path]:
    flat = data_dir / f"{split}-{language}.conllu"
    if flat.is_file():
        return [flat]
    return sorted(p for p in data_dir.rglob(f"{language}_*-ud-{split}.conllu") if p.is_file())


def read_udpos(data_dir: Path, split: str, language: str) -> list[TaggedExample]:
    """UD-POS sentences of one split and language: XTREME's ``{split}-{lang}.tsv`` if it has tags, else CoNLL-U."""
    tsv = data_dir / f"{split}-{language}.tsv"
    conllu = _conllu_files(data_dir, split, language)
    if tsv.is_file() and (_has_tag_column(tsv) or not conllu):
        return read_token_tag_file(tsv, UPOS_LABELS, f"{language}-{split}")
    if not conllu:
        raise MissingDataError(f"{tsv}: file not found (expected XTREME's UD-POS {split}-{language}.tsv, or CoNLL-U "
                               f"files {split}-{language}.conllu or UD_*/{language}_*-ud-{split}.conllu in {data_dir})")
    out: list[TaggedExample] = []
    for path in conllu:
        out.extend(read_conllu(path, UPOS_LABELS, f"{language}-{split}-{path.stem}-"))
    if not out:
        raise DataFormatError(conllu[0], None, f"no sentences with text in {', '.join(p.name for p in conllu)} (the "
                                               f"forms of every sentence are '_': a treebank distributed without text)")
    return out


def udpos_languages(data_dir: Path) -> list[str]:
    """Languages with UD-POS test data in *data_dir*: ``test-{lang}.tsv``/``.conllu`` or ``{lang}_*-ud-test.conllu``."""
    if not data_dir.is_dir():
        return []
    names = [p.name for p in data_dir.iterdir()]
    langs = set(_langs_in(names, r"test-(.+)\.(?:tsv|conllu)"))
    langs |= set(_langs_in([p.name for p in data_dir.rglob("*-ud-test.conllu")], r"([^_]+)_.*"))
    return sorted(langs)


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("en", "de", "zh")
_DEPREL = {"name": "nsubj", "org": "nsubj", "D": "det", "A": "amod", "N": "obj", "V": "root", "P": "case",
           "place": "nmod", "num": "nummod", "stop": "punct", "mark": "dep", "Q": "nsubj"}
_TREEBANKS = {"en": ("UD_English-EWT", "en_ewt"), "de": ("UD_German-GSD", "de_gsd"), "zh": ("UD_Chinese-GSD", "zh_gsd")}


def _conllu_sentence(words: list[tuple[str, str, str]], lang: str, sent_id: str) -> str:
    """One CoNLL-U sentence: the verb is the root, every other word depends on it."""
    from . import _synthetic as ex

    forms = [w for w, _, _ in words]
    roles = [r for _, r, _ in words]
    verb = roles.index("V") + 1
    lines = [f"# sent_id = {sent_id}", f"# text = {ex.join(forms, lang)}"]
    for i, (form, role, _) in enumerate(words, 1):
        nxt = roles[i] if i < len(words) else None
        misc = "SpaceAfter=No" if nxt == "stop" or lang == "zh" and nxt is not None else "_"
        lines.append("\t".join([str(i), form, form.lower(), ex._UPOS[role], "_", "_",
                                "0" if role == "V" else str(verb), _DEPREL[role], "_", misc]))
    return "\n".join(lines) + "\n\n"


def _conllu_de_beim(rng: random.Random, sent_id: str) -> str:
    """A German sentence with the contraction "beim" = "bei dem" (a multiword token, as in UD German-GSD)."""
    from . import _synthetic as ex

    c = ex.random_clause(rng, place=False, number=False)
    words = ex.render(c, "de")[:-1]
    n = len(words)
    rows = [f"# sent_id = {sent_id}",
            f"# text = {ex.join([w for w, _, _ in words] + ['beim', 'Fluss', '.'], 'de')}"]
    verb = [r for _, r, _ in words].index("V") + 1
    for i, (form, role, _) in enumerate(words, 1):
        rows.append("\t".join([str(i), form, form.lower(), ex._UPOS[role], "_", "_",
                               "0" if role == "V" else str(verb), _DEPREL[role], "_", "_"]))
    rows.append(f"{n + 1}-{n + 2}\tbeim\t_\t_\t_\t_\t_\t_\t_\t_")
    rows.append(f"{n + 1}\tbei\tbei\tADP\t_\t_\t{n + 3}\tcase\t_\t_")
    rows.append(f"{n + 2}\tdem\tder\tDET\t_\t_\t{n + 3}\tdet\t_\t_")
    rows.append(f"{n + 3}\tFluss\tFluss\tNOUN\t_\t_\t{verb}\tobl\t_\tSpaceAfter=No")
    rows.append(f"{n + 4}\t.\t.\tPUNCT\t_\t_\t{verb}\tpunct\t_\t_")
    return "\n".join(rows) + "\n\n"


def write_examples(root: Path) -> Path:
    """UD v2.5 release layout: ``UD_<Language>-<Treebank>/<lang>_<tb>-ud-<split>.conllu``."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for lang in EXAMPLE_LANGUAGES:
        folder, stem = _TREEBANKS[lang]
        splits = (("train", 64), ("dev", 12), ("test", 20)) if lang == "en" else (("dev", 8), ("test", 20))
        for split, n in splits:
            parts = [f"# newdoc id = {stem}-{split}\n"]
            for i in range(n):
                if lang == "de" and i % 4 == 3:
                    parts.append(_conllu_de_beim(rng, f"{stem}-{split}-{i}"))
                else:
                    words = ex.render(ex.random_clause(rng), lang)
                    parts.append(_conllu_sentence(words, lang, f"{stem}-{split}-{i}"))
            ex._write(root / folder / f"{stem}-ud-{split}.conllu", "".join(parts))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: one hub config per language in XTREME's ``{split}-{lang}.tsv`` layout, and the UD v2.7
    treebanks of XTREME-R's further languages in the release layout."""
    from ..download._formats import class_names, tagged_rows, write_token_tag
    from ..download.plan import conllu_sentences, member_bytes, split as hub_split_of

    folder = plan.folder(NAME)

    def unit(lang: str):
        cfg = f"udpos.{HF_NAMES[lang]}"

        def run(ctx) -> None:
            dsd = ctx.hub(GOOGLE_XTREME, cfg, None, plan.hub_pin(GOOGLE_XTREME, NAME))
            for hub_split, split in (("train", "train"), ("validation", "dev"), ("test", "test")):
                ds = hub_split_of(dsd, hub_split)
                if ds is not None:
                    names = class_names(ds, "pos_tags", UPOS_LABELS)
                    write_token_tag(ctx, f"{split}-{lang}.tsv", tagged_rows(ds, "pos_tags", names), split)

        return cfg, run

    for lang in languages:
        if lang in HF_NAMES:
            cfg, run = unit(lang)
            plan.add(NAME, folder, f"hub:{GOOGLE_XTREME}:{cfg}", f"UD-POS {lang} (UD v2.5)", run)
    if any(lang in UD27_LANGS for lang in languages):
        pattern = re.compile(r"(?:.*/)?(UD_[^/]+)/((" + "|".join(UD27_LANGS) + r")_[^/]+-ud-(train|dev|test)\.conllu)")

        def run27(ctx) -> None:
            path = ctx.url(UD27_URL)
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    m = pattern.fullmatch(member.name)
                    if m and member.isfile():
                        data = member_bytes(tar, member)
                        with ctx.open(f"{m.group(1)}/{m.group(2)}", "wb") as out:
                            out.write(data)
                        ctx.count(f"{m.group(3)}-{m.group(4)}", conllu_sentences(data))

        plan.add(NAME, folder, "url:ud-treebanks-v2.7", f"UD-POS {' '.join(UD27_LANGS)} (UD v2.7, XTREME-R)", run27)

register(Task(
    name=NAME, kind="tagging", roles=(TARGET,), languages=LANGUAGES, metric="f1", labels=UPOS_LABELS,
    train_size=21_253,  # the released training set (study cost estimates)
    read=read_udpos, data_subdir=NAME,
    hf=HFSource(GOOGLE_XTREME, ConfigByLanguage("udpos.{lang}", HF_NAMES), _HF_SPLITS,
                _hf_tagged(UPOS_LABELS, ("pos_tags", "pos_tag")), revision=GOOGLE_XTREME_REVISION),
    description="Universal Dependencies v2.5 part-of-speech tagging, 17 UPOS tags, 33 languages; trained on English",
    source="Nivre et al. 2020 (UD v2.5); XTREME (Hu et al. 2020), F1 as its evaluate.py",
    protocol=xstilts_protocol(epochs=10, batch_size=32, max_length=256),
    discover_languages=udpos_languages,
    extra={"scorer": "pos"},
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES),
    download=Download(plan_download, tuple(HF_NAMES) + UD27_LANGS),
), aliases=("ud-pos",))
