"""Small data files in every task's official format and folder layout, and a tiny random encoder to run them on.

``write_examples(out_dir)`` writes ``<out_dir>/<task>/`` for every registered task: a few dozen synthetic examples per
split, in English for training and in two or three of the task's other languages for evaluation, laid out exactly as
the task's reader expects a local ``data_dir`` (the official releases' file names and formats: SQuAD JSON, XNLI TSV,
CoNLL-U, WikiANN ``lang:token<TAB>tag``, Tatoeba/BUCC line files, XQuAD-R, Mewsli-X JSON lines, ...). Everything is
deterministic (seeded by the task name), so the files are the same on every machine.

The content is synthetic but valid and, where that is cheap, learnable: sentences are rendered from one abstract
structure (a name, a verb, nouns, an adjective, a number) into each language's own words, so parallel data is a real
translation of the structure; names, numbers and a few marker symbols are shared across languages, and labels depend
on them (a pair's label on a marker in its second sentence, a multiple-choice answer on the marker in the right
choice, a question's answer is the name in the context, an entity tag on the name), so even a tiny encoder trained
for a few steps on the English data scores above chance, and zero-shot transfer works through the shared tokens.

``write_tiny_model(folder)`` writes a randomly initialised 2-layer BERT with a word-level tokenizer whose vocabulary
covers every token of the generated data (CJK text is split into characters, as BERT does), so every task runs in
seconds on a CPU.

    python -m xstilts.provision.examples --out examples/data --model examples/tiny-model
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..tasks._synthetic import (  # noqa: F401  (re-exported: the writers below and callers use them)
    LEXICON, FIRST_NAMES, SURNAMES, PLACES, ORGS, YES, MAYBE, NO, SYMBOLS, _SPECIALS, _is_cjk, _pieces, vocabulary,
    Clause, random_clause, _UPOS, _CCG, render, join, sentence, _sep, _write, _jsonl, _json, _rng, _pair, _qa_item,
    _squad_doc, _choices, _parallel,
)

#: Evaluation languages written per task (English training data is always written where the task has it).
TASK_LANGUAGES: dict[str, tuple[str, ...]] = {
    "xnli": ("en", "de", "zh"), "pawsx": ("en", "de", "zh"), "udpos": ("en", "de", "zh"),
    "panx": ("en", "de", "zh"), "xquad": ("en", "de", "zh"), "mlqa": ("en", "de", "zh"),
    "xcopa": ("et", "sw", "zh"),
}
#: Tasks whose example folder needs another task's folder beside it (XTREME's download layout).
DEPENDS = {"xquad": ("squad",), "mlqa": ("squad",), "xcopa": ("siqa",)}

# ------------------------------------------------------------------------------------ sentence-pair classification
NLI = ("entailment", "neutral", "contradiction")
XNLI_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
               "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5").split()


def _mnli_rows(rng: random.Random, n: int, prefix: str) -> list[dict]:
    rows = []
    for i in range(n):
        a, b, y = _pair(rng, "en", NLI)
        rows.append({"annotator_labels": [NLI[y]], "genre": rng.choice(["fiction", "government", "travel"]),
                     "gold_label": NLI[y], "pairID": f"{prefix}{i}{'enc'[y]}", "promptID": i,
                     "sentence1": a, "sentence1_binary_parse": f"( {a} )", "sentence1_parse": f"(ROOT {a})",
                     "sentence2": b, "sentence2_binary_parse": f"( {b} )", "sentence2_parse": f"(ROOT {b})"})
    # one pair without annotator consensus, which readers skip (as GLUE)
    a, b, _ = _pair(rng, "en", NLI)
    rows.append({"annotator_labels": ["neutral", "contradiction"], "genre": "fiction", "gold_label": "-",
                 "pairID": f"{prefix}x", "promptID": n, "sentence1": a, "sentence2": b})
    return rows


def write_mnli(root: Path) -> Path:
    rng = _rng("mnli")
    _write(root / "multinli_1.0_train.jsonl", _jsonl(_mnli_rows(rng, 64, "t")))
    _write(root / "multinli_1.0_dev_matched.jsonl", _jsonl(_mnli_rows(rng, 24, "m")))
    _write(root / "multinli_1.0_dev_mismatched.jsonl", _jsonl(_mnli_rows(rng, 24, "mm")))
    return root


def _translated_pairs(rng: random.Random, lang: str, labels: tuple[str, ...], n: int) -> list[tuple[str, ...]]:
    """Translate-train rows: ``(English a, English b, a in *lang*, b in *lang*, label)`` of one clause pair."""
    rows = []
    for _ in range(n):
        y = rng.randrange(len(labels))
        a = random_clause(rng)
        b = replace(a, adj=rng.choice([None, 0, 1]), number=None,
                    marker=(YES, MAYBE, NO)[y] if len(labels) == 3 else (NO, YES)[y])
        rows.append((sentence(a, "en"), sentence(b, "en"), sentence(a, lang), sentence(b, lang), labels[y]))
    return rows


def write_xnli(root: Path) -> Path:
    """XNLI 1.0 ``xnli.{dev,test}.tsv``, English MultiNLI in ``multinli/``, and XTREME's translate-train files
    ``translate-train/en-{lang}-translated.tsv`` (no header; English premise and hypothesis, their translations,
    label, with XTREME's ``contradictory``)."""
    rng = _rng("xnli")
    write_mnli(root / "multinli")  # XTREME trains XNLI on English MultiNLI
    tt = _rng("xnli", "translate-train")
    for lang in TASK_LANGUAGES["xnli"]:
        if lang != "en":
            rows = _translated_pairs(tt, lang, ("entailment", "neutral", "contradictory"), 64)
            _write(root / "translate-train" / f"en-{lang}-translated.tsv", "".join("\t".join(r) + "\n" for r in rows))
    for split, n in (("dev", 12), ("test", 20)):
        rows = ["\t".join(XNLI_HEADER)]
        for lang in TASK_LANGUAGES["xnli"]:
            for i in range(n):
                a, b, y = _pair(rng, lang, NLI)
                cols = [lang, NLI[y], f"( {a} )", f"( {b} )", f"(ROOT {a})", f"(ROOT {b})", a, b, str(i), str(i),
                        "fiction"] + [NLI[y]] * 5
                rows.append("\t".join(cols))
        _write(root / f"xnli.{split}.tsv", "\n".join(rows) + "\n")
    return root


def write_anli(root: Path) -> Path:
    rng = _rng("anli")
    for rnd in ("R1", "R2", "R3"):
        for split, n in (("train", 24), ("dev", 12), ("test", 12)):
            rows = []
            for i in range(n):
                a, b, y = _pair(rng, "en", NLI)
                rows.append({"uid": f"{rnd.lower()}-{split}-{i}", "context": a, "hypothesis": b, "label": "enc"[y],
                             "model_label": "enc"[rng.randrange(3)], "emturk": False, "genre": "", "reason": "",
                             "tag": ""})
            _write(root / rnd / f"{split}.jsonl", _jsonl(rows))
    return root


def write_qqp(root: Path) -> Path:
    rng = _rng("qqp")
    head = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
    for split, n in (("train", 64), ("dev", 24)):
        rows = [head]
        for i in range(n):
            a, b, y = _pair(rng, "en", ("0", "1"))
            rows.append(f"{i}\t{2 * i + 1}\t{2 * i + 2}\t{a}\t{b}\t{y}")
        _write(root / f"{split}.tsv", "\n".join(rows) + "\n")
    rows = ["id\tquestion1\tquestion2"]  # the GLUE test file has no labels (readers score on dev)
    for i in range(8):
        a, b, _ = _pair(rng, "en", ("0", "1"))
        rows.append(f"{i}\t{a}\t{b}")
    _write(root / "test.tsv", "\n".join(rows) + "\n")
    return root


def _pawsx_rows(rng: random.Random, lang: str, n: int) -> str:
    rows = ["id\tsentence1\tsentence2\tlabel"]
    for i in range(n):
        a, b, y = _pair(rng, lang, ("0", "1"))
        rows.append(f"{i + 1}\t{a}\t{b}\t{y}")
    return "\n".join(rows) + "\n"


def write_pawsx(root: Path) -> Path:
    rng = _rng("pawsx")
    _write(root / "en" / "train.tsv", _pawsx_rows(rng, "en", 64))
    for lang in TASK_LANGUAGES["pawsx"]:
        _write(root / lang / "dev_2k.tsv", _pawsx_rows(rng, lang, 12))
        _write(root / lang / "test_2k.tsv", _pawsx_rows(rng, lang, 20))
        if lang != "en":
            _write(root / lang / "translated_train.tsv", _pawsx_rows(rng, lang, 16))
    return root


def _write_kjv(task: str):
    def write(root: Path) -> Path:
        rng = _rng(task)
        for split, n in (("train", 64), ("dev", 16), ("test", 24)):
            rows = ["id\tsentence1\tsentence2\tlabel"]
            for i in range(n):
                a, b, y = _pair(rng, "en", ("0", "1"))
                rows.append(f"Gen.{1 + i // 30}.{1 + i % 30}\t{a}\t{b}\t{y}")
            _write(root / f"{split}.tsv", "\n".join(rows) + "\n")
        return root

    return write


# ------------------------------------------------------------------------------------------------------ QA
def write_squad(root: Path) -> Path:
    """SQuAD v1.1 ``{train,dev}-v1.1.json`` and XTREME's translate-train of it for the XQuAD / MLQA example languages
    (``translate-train/squad.translate.train.en-{lang}.json``)."""
    rng = _rng("squad")
    _write(root / "train-v1.1.json", _json(_squad_doc(rng, "en", 64, "s")))
    _write(root / "dev-v1.1.json", _json(_squad_doc(rng, "en", 20, "sd")))
    tt = _rng("squad", "translate-train")
    for lang in sorted(set(TASK_LANGUAGES["xquad"] + TASK_LANGUAGES["mlqa"]) - {"en"}):
        _write(root / "translate-train" / f"squad.translate.train.en-{lang}.json",
               _json(_squad_doc(tt, lang, 48, f"tt-{lang}-")))
    return root


def write_squad2(root: Path) -> Path:
    rng = _rng("squad2")
    _write(root / "train-v2.0.json", _json(_squad_doc(rng, "en", 64, "t", version="v2.0", impossible=16)))
    _write(root / "dev-v2.0.json", _json(_squad_doc(rng, "en", 20, "d", version="v2.0", impossible=6)))
    return root


def write_xquad(root: Path) -> Path:
    # training data: ../squad (XTREME's download/squad), written by write_squad; XQuAD shares question ids across
    # languages
    for lang in TASK_LANGUAGES["xquad"]:
        _write(root / f"xquad.{lang}.json", _json(_squad_doc(_rng("xquad", lang), lang, 20, "xq-")))
    return root


def write_mlqa(root: Path) -> Path:
    rng = _rng("mlqa")
    for split, n in (("dev", 8), ("test", 20)):
        for lang in TASK_LANGUAGES["mlqa"]:
            doc = _squad_doc(rng, lang, n, f"{split}-{lang}-")
            _write(root / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json", _json(doc))
        # a cross-lingual (G-XLT) file, as in the release; XTREME uses only the matching-language files
        _write(root / "MLQA_V1" / split / f"{split}-context-de-question-en.json",
               _json(_squad_doc(rng, "de", 4, f"{split}-de-en-")))
    return root


# ------------------------------------------------------------------------------------------------- tagging
def _tagged(rng: random.Random, lang: str) -> list[tuple[str, str, str]]:
    return render(random_clause(rng), lang)


_DEPREL = {"name": "nsubj", "org": "nsubj", "D": "det", "A": "amod", "N": "obj", "V": "root", "P": "case",
           "place": "nmod", "num": "nummod", "stop": "punct", "mark": "dep", "Q": "nsubj"}
_TREEBANKS = {"en": ("UD_English-EWT", "en_ewt"), "de": ("UD_German-GSD", "de_gsd"), "zh": ("UD_Chinese-GSD", "zh_gsd")}


def _conllu_sentence(words: list[tuple[str, str, str]], lang: str, sent_id: str) -> str:
    """One CoNLL-U sentence: the verb is the root, every other word depends on it."""
    forms = [w for w, _, _ in words]
    roles = [r for _, r, _ in words]
    verb = roles.index("V") + 1
    lines = [f"# sent_id = {sent_id}", f"# text = {join(forms, lang)}"]
    for i, (form, role, _) in enumerate(words, 1):
        nxt = roles[i] if i < len(words) else None
        misc = "SpaceAfter=No" if nxt == "stop" or lang == "zh" and nxt is not None else "_"
        lines.append("\t".join([str(i), form, form.lower(), _UPOS[role], "_", "_", "0" if role == "V" else str(verb),
                                _DEPREL[role], "_", misc]))
    return "\n".join(lines) + "\n\n"


def _conllu_de_beim(rng: random.Random, sent_id: str) -> str:
    """A German sentence with the contraction "beim" = "bei dem" (a multiword token, as in UD German-GSD)."""
    c = random_clause(rng, place=False, number=False)
    words = render(c, "de")[:-1]
    n = len(words)
    rows = [f"# sent_id = {sent_id}",
            f"# text = {join([w for w, _, _ in words] + ['beim', 'Fluss', '.'], 'de')}"]
    verb = [r for _, r, _ in words].index("V") + 1
    for i, (form, role, _) in enumerate(words, 1):
        rows.append("\t".join([str(i), form, form.lower(), _UPOS[role], "_", "_", "0" if role == "V" else str(verb),
                               _DEPREL[role], "_", "_"]))
    rows.append(f"{n + 1}-{n + 2}\tbeim\t_\t_\t_\t_\t_\t_\t_\t_")
    rows.append(f"{n + 1}\tbei\tbei\tADP\t_\t_\t{n + 3}\tcase\t_\t_")
    rows.append(f"{n + 2}\tdem\tder\tDET\t_\t_\t{n + 3}\tdet\t_\t_")
    rows.append(f"{n + 3}\tFluss\tFluss\tNOUN\t_\t_\t{verb}\tobl\t_\tSpaceAfter=No")
    rows.append(f"{n + 4}\t.\t.\tPUNCT\t_\t_\t{verb}\tpunct\t_\t_")
    return "\n".join(rows) + "\n\n"


def write_udpos(root: Path) -> Path:
    """UD v2.5 release layout: ``UD_<Language>-<Treebank>/<lang>_<tb>-ud-<split>.conllu``."""
    rng = _rng("udpos")
    for lang in TASK_LANGUAGES["udpos"]:
        folder, stem = _TREEBANKS[lang]
        splits = (("train", 64), ("dev", 12), ("test", 20)) if lang == "en" else (("dev", 8), ("test", 20))
        for split, n in splits:
            parts = [f"# newdoc id = {stem}-{split}\n"]
            for i in range(n):
                if lang == "de" and i % 4 == 3:
                    parts.append(_conllu_de_beim(rng, f"{stem}-{split}-{i}"))
                else:
                    parts.append(_conllu_sentence(_tagged(rng, lang), lang, f"{stem}-{split}-{i}"))
            _write(root / folder / f"{stem}-ud-{split}.conllu", "".join(parts))
    return root


def write_panx(root: Path) -> Path:
    """WikiANN as XTREME's download script lays it out: ``{lang}-{split}`` with ``lang:token<TAB>tag`` lines."""
    rng = _rng("panx")
    for lang in TASK_LANGUAGES["panx"]:
        splits = (("train", 64), ("dev", 12), ("test", 20)) if lang == "en" else (("dev", 8), ("test", 20))
        for split, n in splits:
            blocks = []
            for _ in range(n):
                words = _tagged(rng, lang)
                blocks.append("".join(f"{lang}:{w}\t{t}\n" for w, _, t in words))
            _write(root / f"{lang}-{split}", "\n".join(blocks))
    return root


def write_ccg(root: Path) -> Path:
    """jiant's CCG layout: ``ccg.{train,dev,test}`` with ``words<TAB>supertags`` per sentence."""
    rng = _rng("ccg")
    for split, n in (("train", 64), ("dev", 16), ("test", 16)):
        lines = []
        for _ in range(n):
            words = _tagged(rng, "en")
            lines.append(" ".join(w for w, _, _ in words) + "\t" + " ".join(_CCG[r] for _, r, _ in words))
        _write(root / f"ccg.{split}", "\n".join(lines) + "\n")
    return root


# ----------------------------------------------------------------------------------------- multiple choice
def write_hellaswag(root: Path) -> Path:
    rng = _rng("hellaswag")
    for split, n in (("train", 48), ("val", 16), ("test", 8)):
        rows = []
        for i in range(n):
            ctx_a = sentence(random_clause(rng), "en")
            ctx_b = LEXICON["en"]["D"]
            endings, y = _choices(rng, "en", 4)
            row = {"ind": i, "activity_label": "Synthetic", "ctx_a": ctx_a, "ctx_b": ctx_b,
                   "ctx": f"{ctx_a} {ctx_b}", "split": split, "split_type": "indomain", "endings": endings,
                   "source_id": f"synthetic~{i}"}
            if split != "test":
                row["label"] = y
            rows.append(row)
        _write(root / f"hellaswag_{split}.jsonl", _jsonl(rows))
    return root


def write_cosmosqa(root: Path) -> Path:
    """Cosmos QA release layout: ``train.csv`` / ``valid.csv`` (quoted CSV) and the unlabelled ``test.jsonl``."""
    rng = _rng("cosmosqa")
    cols = ["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"]
    for split, n in (("train", 48), ("valid", 16)):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for i in range(n):
            ctx = " ".join(sentence(random_clause(rng), "en") for _ in range(2))
            answers, y = _choices(rng, "en", 4)
            w.writerow([f"{split}-{i}", ctx, sentence(random_clause(rng, person=True), "en", question=True),
                        *answers, y])
        _write(root / f"{split}.csv", buf.getvalue())
    rows = []
    for i in range(8):
        answers, _ = _choices(rng, "en", 4)
        rows.append({"id": f"test-{i}", "context": sentence(random_clause(rng), "en"),
                     "question": sentence(random_clause(rng, person=True), "en", question=True),
                     **{f"answer{k}": a for k, a in enumerate(answers)}})
    _write(root / "test.jsonl", _jsonl(rows))
    return root


def write_commonsenseqa(root: Path) -> Path:
    rng = _rng("commonsenseqa")
    for name, n, labelled in (("train_rand_split.jsonl", 48, True), ("dev_rand_split.jsonl", 16, True),
                              ("test_rand_split_no_answers.jsonl", 8, False)):
        rows = []
        for i in range(n):
            texts, y = _choices(rng, "en", 5)
            row = {"id": f"{name[:3]}{i:04d}", "question": {
                "question_concept": LEXICON["en"]["N"][i % 5],
                "choices": [{"label": k, "text": t} for k, t in zip("ABCDE", texts)],
                "stem": sentence(random_clause(rng, person=True), "en", question=True)}}
            if labelled:
                row["answerKey"] = "ABCDE"[y]
            rows.append(row)
        _write(root / name, _jsonl(rows))
    return root


def _siqa_rows(rng: random.Random, n: int) -> tuple[list[dict], list[str]]:
    rows, labels = [], []
    for _ in range(n):
        answers, y = _choices(rng, "en", 3)
        rows.append({"context": sentence(random_clause(rng, person=True), "en"),
                     "question": sentence(random_clause(rng, person=True), "en", question=True),
                     "answerA": answers[0], "answerB": answers[1], "answerC": answers[2]})
        labels.append(str(y + 1))
    return rows, labels


def write_siqa(root: Path) -> Path:
    """Social IQa release layout: ``socialiqa-train-dev/{train,dev}.jsonl`` and ``{train,dev}-labels.lst``."""
    rng = _rng("siqa")
    for split, n in (("train", 48), ("dev", 16)):
        rows, labels = _siqa_rows(rng, n)
        _write(root / "socialiqa-train-dev" / f"{split}.jsonl", _jsonl(rows))
        _write(root / "socialiqa-train-dev" / f"{split}-labels.lst", "".join(x + "\n" for x in labels))
    return root


def _copa_rows(rng: random.Random, lang: str, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        (c1, c2), y = _choices(rng, lang, 2)
        row = {"premise": sentence(random_clause(rng), lang), "choice1": c1, "choice2": c2,
               "question": rng.choice(["cause", "effect"]), "label": y, "idx": i}
        if lang != "en":
            row["changed"] = False
        rows.append(row)
    return rows


def write_xcopa(root: Path) -> Path:
    """cambridgeltl/xcopa layout ``data/{lang}/{val,test}.{lang}.jsonl``, English COPA as XTREME-R renames it
    (``train.en.jsonl``, ``val.en.jsonl``); Social IQa is read from the sibling ``siqa`` folder."""
    rng = _rng("xcopa")
    for lang in TASK_LANGUAGES["xcopa"]:
        _write(root / "data" / lang / f"val.{lang}.jsonl", _jsonl(_copa_rows(rng, lang, 8)))
        _write(root / "data" / lang / f"test.{lang}.jsonl", _jsonl(_copa_rows(rng, lang, 20)))
    _write(root / "train.en.jsonl", _jsonl(_copa_rows(rng, "en", 48)))
    _write(root / "val.en.jsonl", _jsonl(_copa_rows(rng, "en", 12)))
    return root


def write_mlm(root: Path) -> Path:
    """Plain text, one sentence per line, in several languages (``*.txt``), for continued masked-LM training."""
    rng = _rng("mlm")
    for lang in ("en", "de", "es", "sw", "zh"):
        lines = [_sep(lang).join(sentence(random_clause(rng), lang) for _ in range(2)) for _ in range(60)]
        _write(root / f"{lang}.txt", "\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ registry
WRITERS: dict[str, Callable[[Path], Path]] = {
    "mnli": write_mnli, "anli": write_anli, "anli-r1": write_anli, "anli-r2": write_anli, "anli-r3": write_anli,
    "qqp": write_qqp, "xnli": write_xnli, "pawsx": write_pawsx,
    "kjv-web-paraphrase": _write_kjv("kjv-web-paraphrase"),
    "kjv-web-paraphrase-hard": _write_kjv("kjv-web-paraphrase-hard"),
    "squad": write_squad, "squad2": write_squad2, "xquad": write_xquad, "mlqa": write_mlqa,
    "udpos": write_udpos, "panx": write_panx, "ccg": write_ccg,
    "hellaswag": write_hellaswag, "cosmosqa": write_cosmosqa, "commonsenseqa": write_commonsenseqa,
    "siqa": write_siqa, "xcopa": write_xcopa,
    "mlm": write_mlm,
}


def task_writers() -> dict[str, Callable[[Path], Path]]:
    """Every task's example writer: :data:`WRITERS`, and the writers task modules declare themselves
    (:attr:`xstilts.tasks.Task.examples`)."""
    from ..tasks import REGISTRY

    return {**WRITERS, **{name: t.examples.write for name, t in REGISTRY.items() if t.examples is not None}}


def task_depends() -> dict[str, tuple[str, ...]]:
    """Tasks whose example folder needs other tasks' folders beside it (:data:`DEPENDS` and task modules')."""
    from ..tasks import REGISTRY

    return {**DEPENDS, **{name: t.examples.depends for name, t in REGISTRY.items() if t.examples is not None}}


def task_languages() -> dict[str, tuple[str, ...]]:
    """Evaluation languages written per task (:data:`TASK_LANGUAGES` and task modules')."""
    from ..tasks import REGISTRY

    return {**TASK_LANGUAGES, **{name: t.examples.languages for name, t in REGISTRY.items()
                                 if t.examples is not None and t.examples.languages}}


#: Written into every example folder; only folders carrying it are ever replaced.
MARKER = ".xstilts-examples"


def write_examples(out_dir: str | Path, tasks: list[str] | None = None) -> dict[str, Path]:
    """Write ``<out_dir>/<task>/`` in the task's official layout for *tasks* (default: every registered task) and
    the folders they read beside them (``squad`` for XQuAD and MLQA, ``siqa`` for XCOPA). Task folders written
    earlier by this function are replaced. Returns ``{task: folder}`` for every folder written.

    Raises:
        KeyError: a task without an example writer.
        FileExistsError: a task folder exists that this function did not write (real data is never overwritten).
    """
    from ..tasks import REGISTRY, get_task

    out = Path(out_dir)
    names = list(REGISTRY) if tasks is None else [get_task(t).name for t in tasks]
    writers, depends = task_writers(), task_depends()
    missing = [t for t in names if t not in writers]
    if missing:
        raise KeyError(f"no example writer for task(s) {', '.join(missing)}")
    todo: list[str] = []
    for t in names:
        for dep in depends.get(t, ()) + (t,):
            if dep not in todo:
                todo.append(dep)
    for t in todo:
        folder = out / t
        if folder.exists() and not (folder / MARKER).is_file():
            raise FileExistsError(f"{folder}: exists and was not written by xstilts.provision.examples; not "
                                  f"replacing it (choose another output folder)")
    written = {}
    for t in todo:
        folder = out / t
        if folder.exists():
            shutil.rmtree(folder)
        written[t] = writers[t](folder)
        _write(folder / MARKER, "synthetic example data written by `python -m xstilts.provision.examples`\n")
    return written


# --------------------------------------------------------------------------------------------- tiny model
def save_word_level_bert(folder: str | Path, tokens: list[str], *, bert_pretokenizer: bool = True, hidden: int = 32,
                         layers: int = 2, heads: int = 2, max_positions: int = 512, seed: int = 0) -> Path:
    """Save a randomly initialised BERT encoder (no pooler) and a word-level tokenizer over *tokens* to *folder*.

    *tokens* must begin with ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4). With *bert_pretokenizer* the tokenizer
    uses BERT's normaliser (CJK characters apart, case kept) and pre-tokenizer (punctuation apart), else plain
    whitespace splitting.
    """
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = Path(folder)
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    if bert_pretokenizer:
        tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                    lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    else:
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]", model_max_length=512).save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=2 * hidden, max_position_embeddings=max_positions, pad_token_id=0)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    return folder


def write_tiny_model(folder: str | Path, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0) -> Path:
    """A randomly initialised BERT encoder and a word-level tokenizer over :func:`vocabulary` (BERT's normaliser,
    which puts CJK characters apart, and BERT's pre-tokenizer); about 40 thousand parameters. A folder it wrote
    before is replaced; any other existing folder is an error (:class:`FileExistsError`)."""
    folder = Path(folder)
    if folder.exists():
        if not (folder / MARKER).is_file():
            raise FileExistsError(f"{folder}: exists and was not written by xstilts.provision.examples; not "
                                  f"replacing it (choose another folder for the tiny model)")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    _write(folder / MARKER, "tiny random encoder written by `python -m xstilts.provision.examples`\n")
    return save_word_level_bert(folder, vocabulary(), hidden=hidden, layers=layers, heads=heads, seed=seed)


# ---------------------------------------------------------------------------------------------- run summary
def config_command(config: str | Path) -> str:
    """``eval`` for a config that only evaluates retrieval tasks (no intermediate phase), else ``run``."""
    from ..config import load_config
    from ..tasks import get_task

    cfg = load_config(config)
    if not cfg.intermediate.tasks and cfg.target.tasks and not any(get_task(s.task).trainable
                                                                   for s in cfg.target.tasks):
        return "eval"
    return "run"


def headline(config: str | Path, output_dir: str | Path | None = None, task: str | None = None) -> dict:
    """The headline result of the finished run of *config* for *task* (default: the config file's name):
    ``{"task", "metric", "score", "languages"}``. A task of the intermediate phase is scored on its English dev
    set; a target task by its mean over the evaluated languages."""
    from ..config import load_config
    from ..tasks import get_task

    cfg = load_config(config)
    task = get_task(task or Path(config).stem).name
    out = Path(output_dir) if output_dir is not None else Path(cfg.output_dir)
    variant = "stilts" if cfg.intermediate.tasks else "baseline"
    run = json.loads((out / cfg.name / f"{variant}-seed{cfg.seeds[0]}" / "run.json").read_text(encoding="utf-8"))
    for spec in cfg.intermediate.tasks:
        if get_task(spec.task).name == task:
            phase = next(p for p in run["phases"] if p["phase"] == "intermediate")
            metrics = json.loads((Path(phase["dir"]) / "metrics.json").read_text(encoding="utf-8"))
            t = get_task(spec.task)
            per_lang = metrics["dev"][spec.label]
            lang = next(iter(per_lang))
            return {"task": task, "metric": f"{t.metric} ({lang} dev)", "score": per_lang[lang][t.metric],
                    "languages": len(per_lang)}
    for spec in cfg.target.tasks:
        if get_task(spec.task).name == task:
            m = run["tasks"][spec.label]
            return {"task": task, "metric": m["metric"], "score": m["average"], "languages": len(m["languages"])}
    raise KeyError(f"{config}: task {task!r} is in neither phase")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="write the example data folders here (<out>/<task>/)")
    ap.add_argument("--tasks", default=None, help="comma-separated tasks (default: all registered tasks)")
    ap.add_argument("--model", type=Path, help="write the tiny random encoder and its tokenizer here")
    ap.add_argument("--command", metavar="CONFIG", help="print `run` or `eval`: the xstilts command for CONFIG")
    ap.add_argument("--headline", metavar="CONFIG", help="print the headline score of CONFIG's finished run "
                                                         "(task<TAB>metric<TAB>score<TAB>languages)")
    ap.add_argument("--runs", type=Path, default=None, help="with --headline: the run's output_dir")
    args = ap.parse_args(argv)
    from ..errors import XstiltsError

    try:
        if args.command:
            print(config_command(args.command))
            return
        if args.headline:
            h = headline(args.headline, args.runs)
            print(f"{h['task']}\t{h['metric']}\t{h['score']:.1f}\t{h['languages']}")
            return
    except (XstiltsError, OSError, KeyError) as e:
        raise SystemExit(f"error: {e}") from None
    if args.out is None and args.model is None:
        ap.error("nothing to do: give --out and/or --model")
    if args.out is not None:
        written = write_examples(args.out, args.tasks.split(",") if args.tasks else None)
        print(f"example data: {len(written)} task folders in {args.out}")
    if args.model is not None:
        write_tiny_model(args.model)
        print(f"tiny model: {args.model} ({len(vocabulary())} tokens)")


if __name__ == "__main__":
    main()
