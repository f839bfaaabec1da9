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
    "xnli": ("en", "de", "zh"), "pawsx": ("en", "de", "zh"),
    "xquad": ("en", "de", "zh"), "mlqa": ("en", "de", "zh"),
    "xcopa": ("et", "sw", "zh"), "tatoeba": ("de", "sw", "zh"),
    "tatoeba-xtreme-r": ("de", "uk", "zh"), "tatoeba-udhr": ("de", "es", "zh"), "tatoeba-bible": ("es",),
    "bucc2018": ("de", "zh"), "lareqa": ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"),
    "mewslix": ("en", "de", "es"),
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


# ------------------------------------------------------------------------------------------------ retrieval
def _write_tatoeba_format(task: str):
    def write(root: Path) -> Path:
        from ..languages import to_lang3

        rng = _rng(task)
        for lang in TASK_LANGUAGES[task]:
            src, eng = _parallel(rng, lang, 24)
            l3 = to_lang3(lang)
            _write(root / f"tatoeba.{l3}-eng.{l3}", "".join(s + "\n" for s in src))
            _write(root / f"tatoeba.{l3}-eng.eng", "".join(s + "\n" for s in eng))
        return root

    return write


def write_bucc2018(root: Path) -> Path:
    """BUCC 2018 with XTREME's split names: ``{xx}-en.{dev,test}.{xx,en,gold}``; ids as the shared task's."""
    rng = _rng("bucc2018")
    for lang in TASK_LANGUAGES["bucc2018"]:
        for split, n in (("dev", 16), ("test", 24)):
            src, eng = _parallel(rng, lang, n)
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
            _write(root / f"{lang}-en.{split}.{lang}", "\n".join(src_rows) + "\n")
            _write(root / f"{lang}-en.{split}.en", "\n".join(eng_rows) + "\n")
            _write(root / f"{lang}-en.{split}.gold", "\n".join(gold) + "\n")
    return root


def write_lareqa(root: Path) -> Path:
    """XQuAD-R as XTREME's ``download_lareqa_data.sh`` lays it out: ``xquad-r/{lang}.json`` (SQuAD format plus
    ``sentence_breaks``), parallel across the 11 languages (shared question ids); and the English SQuAD v1.1 files
    that dual-encoder fine-tuning reads, ``squad/{train,dev}-v1.1.json`` (in XTREME's layout they are the sibling
    ``../squad``; here the folder is self-contained)."""
    srng = _rng("lareqa", "squad")
    _write(root / "squad" / "train-v1.1.json", _json(_squad_doc(srng, "en", 96, "lq")))
    _write(root / "squad" / "dev-v1.1.json", _json(_squad_doc(srng, "en", 24, "lqd")))
    rng = _rng("lareqa")
    structure = []
    for p in range(6):
        clauses = [random_clause(rng, person=(k == 0)) for k in range(3)]
        rng.shuffle(clauses)
        structure.append(clauses)
    for lang in TASK_LANGUAGES["lareqa"]:
        paragraphs = []
        for p, clauses in enumerate(structure):
            sents = [sentence(c, lang) for c in clauses]
            sep = _sep(lang)
            context = sep.join(sents)
            breaks, pos = [], 0
            for s in sents:
                breaks.append([pos, pos + len(s)])
                pos += len(s) + len(sep)
            qas = []
            for k, c in enumerate(clauses):
                if c.subject_type != "PER":
                    continue
                answer = " ".join(c.subject)
                start = breaks[k][0] + sents[k].index(answer)
                qas.append({"id": f"lareqa-{p}-{k}", "question": sentence(c, lang, question=True),
                            "answers": [{"text": answer, "answer_start": start}]})
            paragraphs.append({"context": context, "sentence_breaks": breaks, "qas": qas})
        _write(root / "xquad-r" / f"{lang}.json", _json({"version": "1.1", "data": [
            {"title": f"Article_{k}", "paragraphs": paragraphs[k::2]} for k in range(2)]}))
    return root


def _wikipedia_pair(rng: random.Random, name: str, eid: str, desc: str, example_id: str) -> dict:
    """One line of Mewsli-X's ``wikipedia_pairs-*.jsonl``: an English context of two sentences, one opening with
    the entity's name (the mention), and the entity with its description."""
    c = random_clause(rng, person=True)
    c.subject = tuple(name.split())
    sents = [sentence(c, "en"), sentence(random_clause(rng, person=False), "en")]
    rng.shuffle(sents)
    text = " ".join(sents)
    spans, pos = [], 0
    for s in sents:
        spans.append({"start": pos, "end": pos + len(s)})
        pos += len(s) + 1
    start = text.index(name)
    context = {"document_title": f"Page {example_id}", "document_url": f"https://en.wikipedia.org/wiki/P_{example_id}",
               "document_id": f"Q9{example_id}", "language": "en", "text": text, "sentence_spans": spans,
               "section_title": "Introduction"}
    mention = {"example_id": example_id, "mention_span": {"start": start, "end": start + len(name), "text": name},
               "entity_id": eid}
    entity = {"entity_id": eid, "title": name, "description": desc, "sentence_spans": [
        {"start": 0, "end": len(desc)}], "description_language": "en",
        "description_url": f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}"}
    return {"contextual_mention": {"context": context, "mention": mention}, "entity": entity}


def write_mewslix(root: Path) -> Path:
    """Mewsli-X (XTREME-R release): ``candidate_set_entities.jsonl``, ``wikinews_mentions-{dev,test}.jsonl`` and the
    English Wikipedia pairs for dual-encoder fine-tuning, ``wikipedia_pairs-{train,dev}.jsonl``."""
    rng = _rng("mewslix")
    people = [f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES]
    entities = {}
    lines = []
    for k, name in enumerate(people + PLACES + ORGS):
        eid = f"Q{1000 + k}"
        entities[name] = eid
        c = random_clause(rng, person=False, number=False)
        c.subject, c.subject_type = tuple(name.split()), "PER"
        desc = sentence(c, "en") + " " + sentence(random_clause(rng, person=False), "en")
        lang = rng.choice(["en", "de", "es"])
        lines.append({"entity_id": eid, "title": name, "description": desc, "sentence_spans": [
            {"start": 0, "end": len(desc)}], "description_language": lang,
            "description_url": f"https://{lang}.wikipedia.org/wiki/{name.replace(' ', '_')}"})
    _write(root / "candidate_set_entities.jsonl", _jsonl(lines))
    for split, n_docs in (("dev", 4), ("test", 8)):
        docs = []
        for lang in TASK_LANGUAGES["mewslix"]:
            for d in range(n_docs):
                sents, names, mentions = [], [], []
                sep = _sep(lang)
                for _ in range(2):  # two sentences, each about a person (first name and surname: an entity)
                    c = random_clause(rng, person=True)
                    c.subject = (c.subject[0], c.subject[1] if len(c.subject) > 1 else rng.choice(SURNAMES))
                    sents.append(sentence(c, lang))
                    names.append(" ".join(c.subject))
                text = sep.join(sents)
                spans, pos = [], 0
                for s in sents:
                    spans.append({"start": pos, "end": pos + len(s)})
                    pos += len(s) + len(sep)
                for m, name in enumerate(names):
                    start = spans[m]["start"]  # the subject opens its sentence
                    mentions.append({"example_id": f"{split}-{lang}-{d}-{m}", "mention_span": {
                        "start": start, "end": start + len(name), "text": name}, "entity_id": entities[name]})
                docs.append({"context": {"document_title": f"News {d}", "document_url": f"https://{lang}.wikinews"
                                         f".org/wiki/News_{d}", "document_id": f"{lang}-{split}-{d}",
                                         "language": lang, "text": text, "sentence_spans": spans},
                             "mentions": mentions})
        _write(root / f"wikinews_mentions-{split}.jsonl", _jsonl(docs))
    prng = _rng("mewslix", "wikipedia")
    descs = {ln["entity_id"]: ln["description"] for ln in lines}
    for split, n in (("train", 96), ("dev", 24)):
        pairs = []
        for k in range(n):
            name = prng.choice(people)
            pairs.append(_wikipedia_pair(prng, name, entities[name], descs[entities[name]], f"wp-{split}-{k}"))
        _write(root / f"wikipedia_pairs-{split}.jsonl", _jsonl(pairs))
    return root


# ------------------------------------------------------------------------------------------------ registry
WRITERS: dict[str, Callable[[Path], Path]] = {
    "mnli": write_mnli, "anli": write_anli, "anli-r1": write_anli, "anli-r2": write_anli, "anli-r3": write_anli,
    "qqp": write_qqp, "xnli": write_xnli, "pawsx": write_pawsx,
    "kjv-web-paraphrase": _write_kjv("kjv-web-paraphrase"),
    "kjv-web-paraphrase-hard": _write_kjv("kjv-web-paraphrase-hard"),
    "squad": write_squad, "squad2": write_squad2, "xquad": write_xquad, "mlqa": write_mlqa,
    "hellaswag": write_hellaswag, "cosmosqa": write_cosmosqa, "commonsenseqa": write_commonsenseqa,
    "siqa": write_siqa, "xcopa": write_xcopa,
    "tatoeba": _write_tatoeba_format("tatoeba"), "tatoeba-xtreme-r": _write_tatoeba_format("tatoeba-xtreme-r"),
    "tatoeba-udhr": _write_tatoeba_format("tatoeba-udhr"), "tatoeba-bible": _write_tatoeba_format("tatoeba-bible"),
    "bucc2018": write_bucc2018, "lareqa": write_lareqa, "mewslix": write_mewslix,
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
