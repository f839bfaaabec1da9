"""Where each task's data comes from, and how it is written in the layout its reader reads.

Hub data sets are loaded with ``datasets.load_dataset`` at a commit: the pin below (or the task's
:attr:`~xstilts.tasks.base.HFSource.revision`) where one is known, else the default branch's current commit, resolved
first and recorded in the manifest. Release files come from their official URLs, GitHub files at a fixed commit.
"""

from __future__ import annotations

import csv
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import XstiltsError
from ..languages import to_lang3
from ..tasks import get_task
from ._core import Context
from .plan import (GOOGLE_XTREME, GOOGLE_XTREME_REVISION, XTREME_TRANSLATIONS, Plan, copy_stream as _copy_stream,
                   csv_records as _csv_records, member_bytes as _member_bytes, split as _split)
from ._formats import cell, class_names, count_lines, count_squad, label_name, write_jsonl, write_squad

# --------------------------------------------------------------------------------------------------- sources
#: XTREME-R's Tatoeba languages beyond google/xtreme's: the LASER release files
LASER_COMMIT = "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821"
LASER_TATOEBA = ("https://raw.githubusercontent.com/facebookresearch/LASER/" + LASER_COMMIT +
                 "/data/tatoeba/v1/tatoeba.{l3}-eng.{ext}")
BUCC_URL = "https://comparable.limsi.fr/bucc2018/bucc2018-{lang}-en.{part}-gold.tar.bz2"
XCOPA_COMMIT = "e2e9d7f105a758ee869cd13e0fe251ef93a29840"
XCOPA_URL = "https://raw.githubusercontent.com/cambridgeltl/xcopa/" + XCOPA_COMMIT + "/data/{lang}/{name}.{lang}.jsonl"
COPA_URL = "https://dl.fbaipublicfiles.com/glue/superglue/data/v2/COPA.zip"
SIQA_URL = "https://maartensap.github.io/social-iqa/data/socialIQa_v1.4.tgz"
LAREQA_COMMIT = "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c"
LAREQA_URL = ("https://raw.githubusercontent.com/google-research-datasets/lareqa/" + LAREQA_COMMIT +
              "/xquad-r/{lang}.json")
MEWSLIX_URL = "https://storage.googleapis.com/gresearch/mewsli/mewsli-x_20220518_6.zip"
MEWSLIX_MD5 = "6d3f137027c7e0146c7aa0b3c21e90f4"  # published in the Mewsli-X README
HELLASWAG_COMMIT = "a29ff8e9a04bba4bd6588223785ce105328adc57"
HELLASWAG_URL = ("https://raw.githubusercontent.com/rowanz/hellaswag/" + HELLASWAG_COMMIT +
                 "/data/hellaswag_{name}.jsonl")
COSMOSQA_COMMIT = "b6eb99cca4e2a51dd28a9a6f562534872d851639"
COSMOSQA_URL = "https://raw.githubusercontent.com/wilburOne/cosmosqa/" + COSMOSQA_COMMIT + "/data/{name}"
XNLI_TT_URL = XTREME_TRANSLATIONS + "/XNLI/translate-train/en-{lang}-translated.tsv"
SQUAD_TT_URL = XTREME_TRANSLATIONS + "/SQuAD/translate-train/squad.translate.train.en-{lang}.json"

#: Where translate-train files are written, relative to the data root (the readers' paths).
XNLI_TT_FILE = "translate-train/en-{lang}-translated.tsv"
SQUAD_TT_FILE = "translate-train/squad.translate.train.en-{lang}.json"

#: What to do for data that cannot be downloaded.
MANUAL = {
    "mewslix": "Mewsli-X ships its WikiNews mentions without the article text (wikinews_mentions_no_text-*.jsonl, "
               "written here); restore the text with get-mewsli-x.sh from github.com/google-research/google-research "
               "(dense_representations_for_entity_retrieval/mel, it reads public WikiNews dumps) and copy its "
               "wikinews_mentions-dev.jsonl and wikinews_mentions-test.jsonl into {folder}",
}


# ----------------------------------------------------------------------------------------- sentence pairs
def plan_mnli(plan: Plan) -> None:
    hf = get_task("mnli").hf
    files = (("train", "multinli_1.0_train.jsonl", "train"),
             ("validation_matched", "multinli_1.0_dev_matched.jsonl", "dev"),
             ("validation_mismatched", "multinli_1.0_dev_mismatched.jsonl", "dev_mismatched"))

    def run(ctx: Context) -> None:
        dsd = ctx.hub(hf.path, hf.config, None, _hub_pin(hf.path, "mnli"))
        for hub_split, name, split in files:
            ds = dsd[hub_split]
            names = class_names(ds, "label", ("entailment", "neutral", "contradiction"))
            write_jsonl(ctx, name, ({"gold_label": label_name(r["label"], names) or "-", "sentence1": r["premise"],
                                     "sentence2": r["hypothesis"], "pairID": str(r.get("idx", i))}
                                    for i, r in enumerate(ds)), split)

    plan.add("mnli", plan.folder("mnli"), f"hub:{hf.path}:{hf.config}", "MultiNLI 1.0 train/dev (GLUE's MNLI)", run)


def plan_anli(plan: Plan, task: str = "anli") -> None:
    hf = get_task("anli").hf

    def run(ctx: Context) -> None:
        dsd = ctx.hub(hf.path, hf.config, None, _hub_pin(hf.path, "anli"))
        for r in (1, 2, 3):
            for split in ("train", "dev", "test"):
                ds = dsd[f"{split}_r{r}"]
                names = class_names(ds, "label", ("entailment", "neutral", "contradiction"))
                write_jsonl(ctx, f"R{r}/{split}.jsonl",
                            ({"uid": row.get("uid", str(i)), "context": row["premise"], "hypothesis": row["hypothesis"],
                              "label": (label_name(row["label"], names) or "-")[0], "reason": row.get("reason", "")}
                             for i, row in enumerate(ds)), f"R{r}.{split}")

    plan.add(task, plan.folder("anli"), f"hub:{hf.path}", "ANLI v1.0 rounds 1-3", run)


def plan_qqp(plan: Plan, task: str = "qqp") -> None:
    hf = get_task("qqp").hf

    def run(ctx: Context) -> None:
        dsd = ctx.hub(hf.path, hf.config, None, _hub_pin(hf.path, "qqp"))
        for hub_split, split in (("train", "train"), ("validation", "dev")):
            n = 0
            with ctx.open(f"{split}.tsv") as f:
                f.write("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n")
                for i, r in enumerate(dsd[hub_split]):
                    if r["label"] not in (0, 1):
                        continue
                    f.write(f"{r.get('idx', i)}\t\t\t{cell(r['question1'])}\t{cell(r['question2'])}\t{r['label']}\n")
                    n += 1
            ctx.count(split, n)

    plan.add(task, plan.folder("qqp"), f"hub:{hf.path}:{hf.config}", "Quora Question Pairs (GLUE)", run)


XNLI_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
               "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5 sentence1_tokenized "
               "sentence2_tokenized match").split()


def plan_xnli(plan: Plan, languages: list[str]) -> None:
    folder = plan.folder("xnli")

    def run(ctx: Context) -> None:
        dsd = ctx.hub(GOOGLE_XTREME, "XNLI", None, _hub_pin(GOOGLE_XTREME))
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

    plan.add("xnli", folder, f"hub:{GOOGLE_XTREME}:XNLI", "XNLI 1.0 dev/test, all 15 languages", run)
    # XTREME trains XNLI on English MultiNLI: the reader looks for it in xnli/multinli
    plan_mnli(plan)
    mnli_train = plan.folder("mnli") / "multinli_1.0_train.jsonl"

    def link(ctx: Context) -> None:
        from ._core import sha256_file

        if not mnli_train.is_file():
            raise XstiltsError(f"{mnli_train}: not found (the MultiNLI download should have written it)")
        ctx.link("multinli/multinli_1.0_train.jsonl", mnli_train)
        ctx.sources.append({"kind": "local", "path": "../" + mnli_train.parent.name + "/" + mnli_train.name,
                            "sha256": sha256_file(mnli_train)})
        ctx.count("train", count_lines(mnli_train))

    plan.add("xnli", folder, "link:multinli-train", "English training set (MultiNLI train, linked)", link)
    if plan.translate_train:
        for lang in languages:
            if lang != "en":
                _plan_url_file(plan, "xnli", folder, f"url:translate-train:{lang}",
                               f"XTREME translate-train {lang} (MultiNLI machine-translated)",
                               XNLI_TT_URL.format(lang=lang), XNLI_TT_FILE.format(lang=lang), "train", count_lines,
                               optional=True)


def plan_pawsx(plan: Plan, languages: list[str]) -> None:
    hf = get_task("pawsx").hf
    folder = plan.folder("pawsx")

    def unit(lang: str, splits: tuple[tuple[str, str, str], ...]):
        def run(ctx: Context) -> None:
            dsd = ctx.hub(hf.path, hf.config.format(lang=lang), None, _hub_pin(hf.path, "pawsx"))
            for hub_split, name, split in splits:
                ds = dsd[hub_split]
                names = class_names(ds, "label", ("0", "1"))
                n = dropped = 0
                with ctx.open(f"{lang}/{name}") as f:
                    f.write("id\tsentence1\tsentence2\tlabel\n")
                    for i, r in enumerate(ds):
                        lab = label_name(r["label"], names)
                        if lab not in ("0", "1"):
                            dropped += 1  # the hub marks missing or broken labels -1
                            continue
                        f.write(f"{r.get('id', i)}\t{cell(r['sentence1'])}\t{cell(r['sentence2'])}\t{lab}\n")
                        n += 1
                ctx.count(split, n)
                if dropped:
                    ctx.note(f"{lang}/{name}: {dropped} rows without a 0/1 label left out")

        return run

    for lang in languages:
        cfg = hf.config.format(lang=lang)
        plan.add("pawsx", folder, f"hub:{hf.path}:{cfg}:eval", f"PAWS-X {lang} dev/test",
                 unit(lang, (("validation", "dev_2k.tsv", "dev"), ("test", "test_2k.tsv", "test"))))
        if lang == "en":
            plan.add("pawsx", folder, f"hub:{hf.path}:{cfg}:train", "PAWS-X en train",
                     unit(lang, (("train", "train.tsv", "train"),)))
        elif plan.translate_train:
            plan.add("pawsx", folder, f"hub:{hf.path}:{cfg}:translated_train",
                     f"PAWS-X {lang} translated train (the release's translate-train)",
                     unit(lang, (("train", "translated_train.tsv", "train"),)))


# ---------------------------------------------------------------------------------------------------- QA
def plan_squad(plan: Plan, task: str = "squad", version: str = "1.1") -> None:
    name = "squad" if version == "1.1" else "squad2"
    hf = get_task(name).hf

    def run(ctx: Context) -> None:
        dsd = ctx.hub(hf.path, hf.config, None, _hub_pin(hf.path, name))
        for hub_split, split in (("train", "train"), ("validation", "dev")):
            write_squad(ctx, f"{split}-v{version}.json", dsd[hub_split], split,
                        version="v2.0" if version == "2.0" else "1.1", impossible=version == "2.0")

    plan.add(task, plan.folder(name), f"hub:{hf.path}", f"SQuAD v{version} train/dev", run)


def plan_squad_translate_train(plan: Plan, task: str, languages: list[str]) -> None:
    if not plan.translate_train:
        return
    for lang in languages:
        if lang != "en":
            _plan_url_file(plan, task, plan.folder("squad"), f"url:translate-train:{lang}",
                           f"XTREME translate-train {lang} (SQuAD v1.1 machine-translated)",
                           SQUAD_TT_URL.format(lang=lang), SQUAD_TT_FILE.format(lang=lang), "train", count_squad,
                           optional=True)


def plan_xquad(plan: Plan, languages: list[str]) -> None:
    hf = get_task("xquad").hf
    folder = plan.folder("xquad")
    for lang in languages:
        cfg = hf.config.format(lang=lang)

        def run(ctx: Context, lang=lang, cfg=cfg) -> None:
            dsd = ctx.hub(hf.path, cfg, None, _hub_pin(hf.path, "xquad"))
            write_squad(ctx, f"xquad.{lang}.json", dsd["validation"], "test")

        plan.add("xquad", folder, f"hub:{hf.path}:{cfg}", f"XQuAD {lang}", run)
    plan_squad(plan)  # XTREME trains XQuAD and MLQA on SQuAD v1.1 (../squad)
    plan_squad_translate_train(plan, "xquad", languages)


def plan_mlqa(plan: Plan, languages: list[str]) -> None:
    folder = plan.folder("mlqa")
    for lang in languages:
        cfg = f"MLQA.{lang}.{lang}"

        def run(ctx: Context, lang=lang, cfg=cfg) -> None:
            dsd = ctx.hub(GOOGLE_XTREME, cfg, None, _hub_pin(GOOGLE_XTREME, "mlqa"))
            for hub_split, split in (("validation", "dev"), ("test", "test")):
                write_squad(ctx, f"MLQA_V1/{split}/{split}-context-{lang}-question-{lang}.json", dsd[hub_split], split,
                            version="1.0")

        plan.add("mlqa", folder, f"hub:{GOOGLE_XTREME}:{cfg}", f"MLQA {lang}", run)
    plan_squad(plan)
    plan_squad_translate_train(plan, "mlqa", languages)


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


# ------------------------------------------------------------------------------------------ multiple choice
def plan_xcopa(plan: Plan, languages: list[str]) -> None:
    folder = plan.folder("xcopa")
    for lang in languages:
        def run(ctx: Context, lang=lang) -> None:
            for name, split in (("val", "dev"), ("test", "test")):
                path = ctx.url(XCOPA_URL.format(lang=lang, name=name))
                ctx.count(split, count_lines(path))
                ctx.place(f"data/{lang}/{name}.{lang}.jsonl", path)

        plan.add("xcopa", folder, f"url:xcopa:{lang}", f"XCOPA {lang}", run)

    def copa(ctx: Context) -> None:
        path = ctx.url(COPA_URL)
        with zipfile.ZipFile(path) as zf:
            for name, split in (("train", "train"), ("val", "dev"), ("test", "test")):
                try:
                    data = zf.read(f"COPA/{name}.jsonl")
                except KeyError:
                    raise XstiltsError(f"{COPA_URL}: the archive lacks COPA/{name}.jsonl") from None
                with ctx.open(f"{name}.en.jsonl", "wb") as out:  # as XTREME-R's download_data.sh renames them
                    out.write(data)
                ctx.count(split, sum(1 for line in data.split(b"\n") if line.strip()))

    plan.add("xcopa", folder, "url:superglue-copa", "English COPA (SuperGLUE), XCOPA's training data", copa)
    plan_siqa(plan)  # XTREME-R trains XCOPA on Social IQa and COPA (../siqa)


def plan_siqa(plan: Plan) -> None:
    pattern = re.compile(r"(?:.*/)?(socialIQa_v1\.4_(trn|dev|tst)\.jsonl)")

    def run(ctx: Context) -> None:
        path = ctx.url(SIQA_URL)
        found = set()
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                m = pattern.fullmatch(member.name)
                if m and member.isfile() and not Path(member.name).name.startswith("._"):
                    data = _member_bytes(tar, member)
                    with ctx.open(m.group(1), "wb") as out:
                        out.write(data)
                    ctx.count({"trn": "train", "dev": "dev", "tst": "test"}[m.group(2)],
                              sum(1 for line in data.split(b"\n") if line.strip()))
                    found.add(m.group(2))
        if "trn" not in found or "dev" not in found:
            raise XstiltsError(f"{SIQA_URL}: the archive lacks socialIQa_v1.4_trn.jsonl / _dev.jsonl")

    plan.add("siqa", plan.folder("siqa"), "url:socialIQa_v1.4", "Social IQa v1.4 (XTREME-R's copy)", run)


def plan_hellaswag(plan: Plan) -> None:
    def run(ctx: Context) -> None:
        for name, split in (("train", "train"), ("val", "dev"), ("test", "test")):
            path = ctx.url(HELLASWAG_URL.format(name=name))
            ctx.count(split, count_lines(path))
            ctx.place(f"hellaswag_{name}.jsonl", path)

    plan.add("hellaswag", plan.folder("hellaswag"), "url:hellaswag", "HellaSwag (official release files)", run)


def plan_cosmosqa(plan: Plan) -> None:
    def run(ctx: Context) -> None:
        for name, split in (("train.csv", "train"), ("valid.csv", "dev"), ("test.jsonl", "test")):
            path = ctx.url(COSMOSQA_URL.format(name=name))
            ctx.count(split, _csv_records(path) if name.endswith(".csv") else count_lines(path))
            ctx.place(name, path)

    plan.add("cosmosqa", plan.folder("cosmosqa"), "url:cosmosqa", "Cosmos QA (official release files)", run)


def plan_commonsenseqa(plan: Plan) -> None:
    hf = get_task("commonsenseqa").hf

    def obj(r: dict) -> dict:
        choices = [{"label": lab, "text": t} for lab, t in zip(r["choices"]["label"], r["choices"]["text"])]
        out = {"answerKey": r.get("answerKey") or "", "id": r["id"],
               "question": {"question_concept": r.get("question_concept", ""), "choices": choices,
                            "stem": r["question"]}}
        if not out["answerKey"]:
            del out["answerKey"]
        return out

    def run(ctx: Context) -> None:
        dsd = ctx.hub(hf.path, hf.config, None, _hub_pin(hf.path, "commonsenseqa"))
        for hub_split, name, split in (("train", "train_rand_split.jsonl", "train"),
                                       ("validation", "dev_rand_split.jsonl", "dev"),
                                       ("test", "test_rand_split_no_answers.jsonl", "test")):
            ds = _split(dsd, hub_split)
            if ds is not None:
                write_jsonl(ctx, name, (obj(r) for r in ds), split)

    plan.add("commonsenseqa", plan.folder("commonsenseqa"), f"hub:{hf.path}", "CommonsenseQA 1.11 (random split)",
             run)


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
    from ..tasks.classification import PAWSX_LANGS, XNLI_LANGS
    from ..tasks.multiple_choice import XCOPA_LANGS
    from ..tasks.qa import MLQA_LANGS, XQUAD_LANGS
    from ..tasks.retrieval_xtreme_r import LAREQA_LANGS, MEWSLIX_LANGS, TATOEBA_XTREME_R

    return {
        "xnli": (XNLI_LANGS, plan_xnli),
        "pawsx": (PAWSX_LANGS, plan_pawsx),
        "xquad": (XQUAD_LANGS + ("ro",), plan_xquad),
        "mlqa": (MLQA_LANGS, plan_mlqa),
        "bucc2018": (("de", "fr", "ru", "zh"), plan_bucc),
        "tatoeba": (TATOEBA_XTREME_R, lambda p, langs: plan_tatoeba(p, "tatoeba", langs)),
        "tatoeba-xtreme-r": (TATOEBA_XTREME_R, lambda p, langs: plan_tatoeba(p, "tatoeba-xtreme-r", langs)),
        "xcopa": (XCOPA_LANGS, plan_xcopa),
        "lareqa": (LAREQA_LANGS, plan_lareqa),
        "mewslix": (MEWSLIX_LANGS, lambda p, langs: plan_mewslix(p)),
        "mnli": (None, lambda p, langs: plan_mnli(p)),
        "anli": (None, lambda p, langs: plan_anli(p)),
        "anli-r1": (None, lambda p, langs: plan_anli(p, "anli-r1")),
        "anli-r2": (None, lambda p, langs: plan_anli(p, "anli-r2")),
        "anli-r3": (None, lambda p, langs: plan_anli(p, "anli-r3")),
        "qqp": (None, lambda p, langs: plan_qqp(p)),
        "squad": (None, lambda p, langs: plan_squad(p)),
        "squad2": (None, lambda p, langs: plan_squad(p, "squad2", "2.0")),
        "hellaswag": (None, lambda p, langs: plan_hellaswag(p)),
        "cosmosqa": (None, lambda p, langs: plan_cosmosqa(p)),
        "commonsenseqa": (None, lambda p, langs: plan_commonsenseqa(p)),
        "siqa": (None, lambda p, langs: plan_siqa(p)),
    }
