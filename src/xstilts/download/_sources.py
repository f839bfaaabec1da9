"""Where each task's data comes from, and how it is written in the layout its reader reads.

Hub data sets are loaded with ``datasets.load_dataset`` at a commit: the pin below (or the task's
:attr:`~xstilts.tasks.base.HFSource.revision`) where one is known, else the default branch's current commit, resolved
first and recorded in the manifest. Release files come from their official URLs, GitHub files at a fixed commit.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Callable

from ..tasks import get_task
from ._core import Context
from .plan import (GOOGLE_XTREME, GOOGLE_XTREME_REVISION, Plan, conllu_sentences as _conllu_sentences,
                   member_bytes as _member_bytes, split as _split)
from ._formats import (class_names, tagged_rows, write_token_tag)

# --------------------------------------------------------------------------------------------------- sources
#: WikiANN with the Rahimi et al. (2019) splits that XTREME's PAN-X uses, for the languages XTREME-R adds
WIKIANN = "unimelb-nlp/wikiann"
PANX_WIKIANN_LANGS = ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")
#: XTREME-R's UD-POS languages beyond XTREME, from UD v2.7 as XTREME-R's download_data.sh takes them
UD27_URL = "https://lindat.mff.cuni.cz/repository/xmlui/bitstream/handle/11234/1-3424/ud-treebanks-v2.7.tgz"
UD27_LANGS = ("lt", "pl", "uk", "wo", "ro")

#: What to do for data that cannot be downloaded.
MANUAL = {
    "ccg": "CCGbank is licensed through the LDC (LDC2005T13, https://catalog.ldc.upenn.edu/LDC2005T13) and cannot be "
           "downloaded; with a licensed copy, put jiant's ccg.train / ccg.dev / ccg.test (words<TAB>supertags, one "
           "sentence per line) or the C&C files wsj02-21.stagged / wsj00.stagged / wsj23.stagged "
           "(word|POS|supertag tokens) into {folder}",
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
    from ..tasks.tagging import PANX_LANGS, UDPOS_HF_NAMES

    return {
        "udpos": (tuple(UDPOS_HF_NAMES) + UD27_LANGS, plan_udpos),
        "panx": (tuple(PANX_LANGS) + PANX_WIKIANN_LANGS, plan_panx),
        "ccg": (None, lambda p, langs: plan_ccg(p)),
    }
