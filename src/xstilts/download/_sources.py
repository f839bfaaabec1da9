"""Where each task's data comes from, and how it is written in the layout its reader reads.

Hub data sets are loaded with ``datasets.load_dataset`` at a commit: the pin below (or the task's
:attr:`~xstilts.tasks.base.HFSource.revision`) where one is known, else the default branch's current commit, resolved
first and recorded in the manifest. Release files come from their official URLs, GitHub files at a fixed commit.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import XstiltsError
from ..languages import to_lang3
from ..tasks import get_task
from ._core import Context
from .plan import (GOOGLE_XTREME, GOOGLE_XTREME_REVISION, Plan, conllu_sentences as _conllu_sentences,
                   copy_stream as _copy_stream, member_bytes as _member_bytes, split as _split)
from ._formats import (cell, class_names, count_lines, count_squad, tagged_rows, write_token_tag)

# --------------------------------------------------------------------------------------------------- sources
#: WikiANN with the Rahimi et al. (2019) splits that XTREME's PAN-X uses, for the languages XTREME-R adds
WIKIANN = "unimelb-nlp/wikiann"
PANX_WIKIANN_LANGS = ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")
#: XTREME-R's UD-POS languages beyond XTREME, from UD v2.7 as XTREME-R's download_data.sh takes them
UD27_URL = "https://lindat.mff.cuni.cz/repository/xmlui/bitstream/handle/11234/1-3424/ud-treebanks-v2.7.tgz"
UD27_LANGS = ("lt", "pl", "uk", "wo", "ro")
#: XTREME-R's Tatoeba languages beyond google/xtreme's: the LASER release files
LASER_COMMIT = "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821"
LASER_TATOEBA = ("https://raw.githubusercontent.com/facebookresearch/LASER/" + LASER_COMMIT +
                 "/data/tatoeba/v1/tatoeba.{l3}-eng.{ext}")
BUCC_URL = "https://comparable.limsi.fr/bucc2018/bucc2018-{lang}-en.{part}-gold.tar.bz2"
LAREQA_COMMIT = "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c"
LAREQA_URL = ("https://raw.githubusercontent.com/google-research-datasets/lareqa/" + LAREQA_COMMIT +
              "/xquad-r/{lang}.json")
MEWSLIX_URL = "https://storage.googleapis.com/gresearch/mewsli/mewsli-x_20220518_6.zip"
MEWSLIX_MD5 = "6d3f137027c7e0146c7aa0b3c21e90f4"  # published in the Mewsli-X README

#: What to do for data that cannot be downloaded.
MANUAL = {
    "ccg": "CCGbank is licensed through the LDC (LDC2005T13, https://catalog.ldc.upenn.edu/LDC2005T13) and cannot be "
           "downloaded; with a licensed copy, put jiant's ccg.train / ccg.dev / ccg.test (words<TAB>supertags, one "
           "sentence per line) or the C&C files wsj02-21.stagged / wsj00.stagged / wsj23.stagged "
           "(word|POS|supertag tokens) into {folder}",
    "mewslix": "Mewsli-X ships its WikiNews mentions without the article text (wikinews_mentions_no_text-*.jsonl, "
               "written here); restore the text with get-mewsli-x.sh from github.com/google-research/google-research "
               "(dense_representations_for_entity_retrieval/mel, it reads public WikiNews dumps) and copy its "
               "wikinews_mentions-dev.jsonl and wikinews_mentions-test.jsonl into {folder}",
}


# ----------------------------------------------------------------------------------------------- tagging
def plan_udpos(plan: Plan, languages: list[str]) -> None:
    from ..tasks.tagging import UDPOS_HF_NAMES, UPOS_LABELS

    folder = plan.folder("udpos")

    def unit(lang: str):
        cfg = f"udpos.{UDPOS_HF_NAMES[lang]}"

        def run(ctx: Context) -> None:
            dsd = ctx.hub(GOOGLE_XTREME, cfg, None, _hub_pin(GOOGLE_XTREME, "udpos"))
            for hub_split, split in (("train", "train"), ("validation", "dev"), ("test", "test")):
                ds = _split(dsd, hub_split)
                if ds is not None:
                    names = class_names(ds, "pos_tags", UPOS_LABELS)
                    write_token_tag(ctx, f"{split}-{lang}.tsv", tagged_rows(ds, "pos_tags", names), split)

        return cfg, run

    for lang in languages:
        if lang in UDPOS_HF_NAMES:
            cfg, run = unit(lang)
            plan.add("udpos", folder, f"hub:{GOOGLE_XTREME}:{cfg}", f"UD-POS {lang} (UD v2.5)", run)
    if any(lang in UD27_LANGS for lang in languages):
        pattern = re.compile(r"(?:.*/)?(UD_[^/]+)/((" + "|".join(UD27_LANGS) + r")_[^/]+-ud-(train|dev|test)\.conllu)")

        def run27(ctx: Context) -> None:
            path = ctx.url(UD27_URL)
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    m = pattern.fullmatch(member.name)
                    if m and member.isfile():
                        data = _member_bytes(tar, member)
                        with ctx.open(f"{m.group(1)}/{m.group(2)}", "wb") as out:
                            out.write(data)
                        ctx.count(f"{m.group(3)}-{m.group(4)}", _conllu_sentences(data))

        plan.add("udpos", folder, "url:ud-treebanks-v2.7", f"UD-POS {' '.join(UD27_LANGS)} (UD v2.7, XTREME-R)", run27)


def plan_panx(plan: Plan, languages: list[str]) -> None:
    from ..tasks.tagging import PANX_LABELS

    folder = plan.folder("panx")

    def unit(lang: str, path: str, cfg: str):
        def run(ctx: Context) -> None:
            dsd = ctx.hub(path, cfg, None, _hub_pin(path, "panx" if path == GOOGLE_XTREME else None))
            for hub_split, split in (("train", "train"), ("validation", "dev"), ("test", "test")):
                ds = _split(dsd, hub_split)
                if ds is not None:
                    names = class_names(ds, "ner_tags", PANX_LABELS)
                    # WikiANN's raw lang:token<TAB>tag layout (AmazonPhotos.zip), which the reader reads as is
                    write_token_tag(ctx, f"{lang}-{split}", tagged_rows(ds, "ner_tags", names), split,
                                    prefix=f"{lang}:")

        return run

    for lang in languages:
        if lang in PANX_WIKIANN_LANGS:
            plan.add("panx", folder, f"hub:{WIKIANN}:{lang}", f"PAN-X {lang} (WikiANN, Rahimi splits)",
                     unit(lang, WIKIANN, lang))
        else:
            cfg = f"PAN-X.{lang}"
            plan.add("panx", folder, f"hub:{GOOGLE_XTREME}:{cfg}", f"PAN-X {lang}", unit(lang, GOOGLE_XTREME, cfg))


def plan_ccg(plan: Plan) -> None:
    plan.manual["ccg"] = MANUAL["ccg"].format(folder=plan.folder("ccg"))


# ---------------------------------------------------------------------------------------------- retrieval
def plan_tatoeba(plan: Plan, task: str, languages: list[str]) -> None:
    from ..tasks.retrieval import TATOEBA_XTREME

    folder = plan.folder(task)
    for lang in languages:
        l3 = to_lang3(lang)
        if lang in TATOEBA_XTREME:
            def run(ctx: Context, l3=l3) -> None:
                dsd = ctx.hub(GOOGLE_XTREME, f"tatoeba.{l3}", None, _hub_pin(GOOGLE_XTREME, "tatoeba"))
                src, eng = [], []
                for r in dsd["validation"]:
                    a, b = cell(r["source_sentence"]).strip(), cell(r["target_sentence"]).strip()
                    if a and b:
                        src.append(a)
                        eng.append(b)
                ctx.write_text(f"tatoeba.{l3}-eng.{l3}", "".join(s + "\n" for s in src))
                ctx.write_text(f"tatoeba.{l3}-eng.eng", "".join(s + "\n" for s in eng))
                ctx.count("test", len(src))

            plan.add(task, folder, f"hub:{GOOGLE_XTREME}:tatoeba.{l3}", f"Tatoeba {lang}", run)
        else:
            def run_laser(ctx: Context, l3=l3) -> None:
                for ext in (l3, "eng"):
                    path = ctx.url(LASER_TATOEBA.format(l3=l3, ext=ext))
                    if ext == l3:
                        ctx.count("test", count_lines(path))
                    ctx.place(f"tatoeba.{l3}-eng.{ext}", path)

            plan.add(task, folder, f"url:laser-tatoeba:{l3}", f"Tatoeba {lang} (LASER release)", run_laser)


def plan_bucc(plan: Plan, languages: list[str]) -> None:
    folder = plan.folder("bucc2018")
    for lang in languages:
        def run(ctx: Context, lang=lang) -> None:
            for part, split in (("sample", "dev"), ("training", "test")):
                path = ctx.url(BUCC_URL.format(lang=lang, part=part))
                pattern = re.compile(rf"(?:.*/)?{lang}-en\.{part}\.({lang}|en|gold)")
                found = set()
                with tarfile.open(path, "r:*") as tar:
                    for member in tar:
                        m = pattern.fullmatch(member.name)
                        if m and member.isfile():
                            data = _member_bytes(tar, member)
                            with ctx.open(f"{lang}-en.{split}.{m.group(1)}", "wb") as out:
                                out.write(data)
                            found.add(m.group(1))
                            if m.group(1) == lang:
                                ctx.count(split, sum(1 for line in data.split(b"\n") if line.strip()))
                missing = {lang, "en", "gold"} - found
                if missing:
                    raise XstiltsError(f"{BUCC_URL.format(lang=lang, part=part)}: the archive lacks the "
                                       f"{', '.join(sorted(missing))} file(s)")

        plan.add("bucc2018", folder, f"url:bucc2018:{lang}", f"BUCC 2018 {lang}-en sample (dev) and training (test)",
                 run)


def plan_lareqa(plan: Plan, languages: list[str]) -> None:
    folder = plan.folder("lareqa")
    for lang in languages:
        _plan_url_file(plan, "lareqa", folder, f"url:lareqa:{lang}", f"XQuAD-R {lang} (LAReQA)",
                       LAREQA_URL.format(lang=lang), f"xquad-r/{lang}.json", "test", count_squad)


def plan_mewslix(plan: Plan) -> None:
    folder = plan.folder("mewslix")
    names = ("candidate_set_entities.jsonl", "wikipedia_pairs-train.jsonl", "wikipedia_pairs-dev.jsonl",
             "wikinews_mentions_no_text-dev.jsonl", "wikinews_mentions_no_text-test.jsonl")

    def run(ctx: Context) -> None:
        path = ctx.url(MEWSLIX_URL, md5=MEWSLIX_MD5)
        with zipfile.ZipFile(path) as zf:
            members = {Path(i.filename).name: i for i in zf.infolist() if not i.is_dir()}
            missing = [n for n in names if n not in members]
            if missing:
                raise XstiltsError(f"{MEWSLIX_URL}: the archive lacks {', '.join(missing)}")
            for n in names:
                with zf.open(members[n]) as src:
                    _copy_stream(ctx, n, src)
                ctx.count(n.rsplit(".", 1)[0], count_lines(folder / n))

    plan.add("mewslix", folder, "url:mewsli-x_20220518_6", "Mewsli-X release mewsli-x_20220518_6", run)
    if not all((folder / f"wikinews_mentions-{s}.jsonl").is_file() for s in ("dev", "test")):
        plan.manual["mewslix"] = MANUAL["mewslix"].format(folder=folder)


# --------------------------------------------------------------------------------------------------- shared
def _plan_url_file(plan: Plan, task: str, folder: Path, key: str, label: str, url: str, rel: str, split: str,
                   counter: Callable[[Path], int], *, optional: bool = False) -> None:
    plan.url_file(task, folder, key, label, url, rel, split, counter, optional=optional)


def _hub_pin(path: str, task_name: str | None = None) -> str | None:
    hf = get_task(task_name).hf if task_name else None
    pin = getattr(hf, "revision", None) if hf is not None else None
    return GOOGLE_XTREME_REVISION if pin is None and path == GOOGLE_XTREME else pin


# ------------------------------------------------------------------------------------------------- registry
def legacy_planners() -> dict:
    """The download plans still declared here (each moves into its task's module as ``Task.download``)."""
    from ..tasks.retrieval_xtreme_r import LAREQA_LANGS, MEWSLIX_LANGS, TATOEBA_XTREME_R
    from ..tasks.tagging import PANX_LANGS, UDPOS_HF_NAMES

    return {
        "udpos": (tuple(UDPOS_HF_NAMES) + UD27_LANGS, plan_udpos),
        "panx": (tuple(PANX_LANGS) + PANX_WIKIANN_LANGS, plan_panx),
        "bucc2018": (("de", "fr", "ru", "zh"), plan_bucc),
        "tatoeba": (TATOEBA_XTREME_R, lambda p, langs: plan_tatoeba(p, "tatoeba", langs)),
        "tatoeba-xtreme-r": (TATOEBA_XTREME_R, lambda p, langs: plan_tatoeba(p, "tatoeba-xtreme-r", langs)),
        "lareqa": (LAREQA_LANGS, plan_lareqa),
        "mewslix": (MEWSLIX_LANGS, lambda p, langs: plan_mewslix(p)),
        "ccg": (None, lambda p, langs: plan_ccg(p)),
    }
