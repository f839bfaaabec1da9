"""Property-based fuzzing of every reader (issue 7): malformed input gives ONE user error, never a crash.

For each official format a small valid data folder is written by the test; hypothesis then corrupts one of its files
(truncation, deleted/duplicated/swapped lines, dropped or added columns, a replaced field or label, invalid UTF-8, NUL,
BOM, CRLF, a huge line, an emptied or removed file, a JSON value of another type, a deleted or added key). Property:
the reader either returns examples of the right types (the corrupted file was still valid) or raises
:class:`DataFormatError` / :class:`MissingDataError` with a one-line message naming the file -- and, when it gives a
line, ``<file>:<line>:`` with a line that exists in that file. Any other exception fails the test.

A few end-to-end checks run ``python -m xstilts run`` on a config whose target data is malformed: exit status 2, one
line on stderr naming the file and line, no traceback, no metrics or result tables for the failed run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xstilts.errors import DataFormatError, MissingDataError
from xstilts.tasks import get_task
from xstilts.tasks.families.classification import PairExample
from xstilts.tasks.families.multiple_choice import MCExample
from xstilts.tasks.families.qa import QAExample
from xstilts.tasks.families.retrieval import ParallelData
from xstilts.tasks.lareqa import LareqaData
from xstilts.tasks.mewslix import MewslixData
from xstilts.tasks.families.tagging import TaggedExample

#: XSTILTS_FUZZ_EXAMPLES=1000 XSTILTS_FUZZ_RANDOM=1 for a longer search with fresh random examples; the default is a
#: fixed, quick sample so that the suite is deterministic
MAX_EXAMPLES = int(os.environ.get("XSTILTS_FUZZ_EXAMPLES", "30"))
DERANDOMIZE = not os.environ.get("XSTILTS_FUZZ_RANDOM")
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


# ------------------------------------------------------------------------------------------- valid data sets
def _lines(*rows: str) -> str:
    return "".join(r + "\n" for r in rows)


def _jsonl(*objs: dict) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1) + "\n"


XNLI_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
               "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5").split()


def _xnli_row(lang, label, s1, s2, pid):
    return "\t".join([lang, label, f"( {s1} )", f"( {s2} )", f"(ROOT {s1})", f"(ROOT {s2})", s1, s2, "7", pid,
                      "fiction", label, label, label, label, label])


def _squad_doc(paragraphs, version="1.1"):
    return {"version": version, "data": [{"title": "T", "paragraphs": paragraphs}]}


def _qa(qid, question, context, answer):
    start = context.index(answer)
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}]}


_CTX1 = "The red cat sat on the mat. It was blue."
_CTX2 = "Der Hund bellt laut. Die Katze schläft."
SQUAD_PARAS = [
    {"context": _CTX1, "qas": [_qa("q1", "Who sat?", _CTX1, "red cat"), _qa("q2", "What colour?", _CTX1, "blue")]},
    {"context": _CTX2, "qas": [_qa("q3", "Wer bellt?", _CTX2, "Der Hund")]},
]

CONLLU = ("# sent_id = 1\n# text = Il mange du pain.\n"
          "1\tIl\til\tPRON\t_\t_\t2\tnsubj\t_\t_\n"
          "2\tmange\tmanger\tVERB\t_\t_\t0\troot\t_\t_\n"
          "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
          "3\tde\tde\tADP\t_\t_\t5\tcase\t_\t_\n"
          "4\tle\tle\tDET\t_\t_\t5\tdet\t_\t_\n"
          "4.1\tnull\t_\t_\t_\t_\t_\t_\t_\t_\n"
          "5\tpain\tpain\tNOUN\t_\t_\t2\tobj\t_\t_\n"
          "6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_\n\n"
          "# sent_id = 2\n"
          "1\tElle\telle\tPRON\t_\t_\t2\tnsubj\t_\t_\n"
          "2\tdort\tdormir\tVERB\t_\t_\t0\troot\t_\t_\n\n")


def _lareqa_para(context, breaks, qas):
    return {"context": context, "sentence_breaks": breaks, "qas": [
        {"id": qid, "question": q, "answers": [{"text": context[s:s + 4], "answer_start": s}]} for qid, q, s in qas]}


def _entity(eid, desc, spans):
    return {"entity_id": eid, "title": eid, "description": desc, "description_language": "en",
            "description_url": f"https://en.wikipedia.org/wiki/{eid}",
            "sentence_spans": [{"start": s, "end": e} for s, e in spans]}


def _article(lang, text, spans, mentions):
    return {"context": {"document_title": "t", "document_url": "u", "document_id": f"d-{lang}", "language": lang,
                        "text": text, "sentence_spans": [{"start": s, "end": e} for s, e in spans]},
            "mentions": [{"example_id": ex, "entity_id": q, "mention_span": {"start": text.index(m),
                                                                              "end": text.index(m) + len(m), "text": m}}
                         for ex, q, m in mentions]}


def _copa(i, lang="et"):
    return {"premise": f"premise {lang} {i}", "choice1": f"first {i}", "choice2": f"second {i}",
            "question": ("cause", "effect")[i % 2], "label": i % 2, "idx": i}


def _siqa(i):
    return {"context": f"Context {i}.", "question": f"What {i}?", "answerA": "a", "answerB": "b", "answerC": "c"}


def _csqa(i):
    return {"answerKey": "ABCDE"[i % 5], "id": f"q{i}", "question": {
        "question_concept": "x", "stem": f"Where is {i}?",
        "choices": [{"label": k, "text": f"{k.lower()} place"} for k in "ABCDE"]}}


def _hellaswag(i):
    return {"ind": i, "activity_label": "A", "ctx_a": f"A man {i}.", "ctx_b": "then", "ctx": f"A man {i}. then",
            "endings": ["runs.", "sits.", "eats.", "flies."], "split": "train", "split_type": "indomain",
            "label": i % 4, "source_id": "s"}


_BUCC_DE = _lines("de-000000001\tDer Hund bellt.", "de-000000002\tDie Katze schläft.", "de-000000003\tEin Baum.")
_BUCC_EN = _lines("en-000000001\tThe dog barks.", "en-000000002\tThe cat sleeps.", "en-000000003\tA house.")

#: relative path -> content of the valid files of each format
DATA: dict[str, dict[str, str]] = {
    "xnli": {"xnli.test.tsv": _lines(
        "\t".join(XNLI_HEADER),
        _xnli_row("en", "entailment", 'He is 6" tall.', "He is tall.", "1"),
        _xnli_row("de", "contradiction", '"Hallo, sagte er.', "Er schwieg.", "1"),
        _xnli_row("en", "neutral", "A man sleeps.", 'The "man" dreams.', "2"),
        _xnli_row("de", "entailment", "Ein Hund bellt.", "Ein Tier macht Lärm.", "2"))},
    "pawsx": {"en/train.tsv": _lines("id\tsentence1\tsentence2\tlabel", "1\tA cat.\tA cat!\t1", "2\tA dog.\tA cow.\t0",
                                     "3\tRed.\tBlue.\t0"),
              "de/test_2k.tsv": _lines("id\tsentence1\tsentence2\tlabel", "1\tEine Katze.\tEine Katze!\t1",
                                       "2\tEin Hund.\tEine Kuh.\t0")},
    "mnli": {"multinli_1.0_train.jsonl": _jsonl(
        {"gold_label": "neutral", "sentence1": "A man eats.", "sentence2": "A man is hungry.", "pairID": "1n"},
        {"gold_label": "-", "sentence1": "Odd.", "sentence2": "Even.", "pairID": "2x"},
        {"gold_label": "entailment", "sentence1": "Cats sleep.", "sentence2": "Animals rest.", "pairID": "3e"},
        {"gold_label": "contradiction", "sentence1": "It rains.", "sentence2": "It is dry.", "pairID": "4c"})},
    "anli": {f"R{r}/train.jsonl": _jsonl(
        {"uid": f"r{r}a", "context": "A long context.", "hypothesis": "A claim.", "label": "e", "reason": ""},
        {"uid": f"r{r}b", "context": "Another context.", "hypothesis": "Another claim.", "label": "c"})
        for r in (1, 2, 3)},
    "qqp": {"train.tsv": _lines("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
                                "1\t11\t12\tHow to cook?\tHow do I cook?\t1", "2\t13\t14\tWhy?\tWhere?\t0")},
    "kjv-web-paraphrase": {"train.tsv": _lines("id\tsentence1\tsentence2\tlabel",
                                               "Gen.1.1\tIn the beginning God created.\tIn the beginning, God made.\t1",
                                               "Gen.1.2\tAnd the earth was void.\tLet there be light.\t0")},
    "tatoeba": {"tatoeba.deu-eng.deu": _lines("Der Hund bellt.", "Ich bin müde.", "Guten Morgen."),
                "tatoeba.deu-eng.eng": _lines("The dog barks.", "I am tired.", "Good morning.")},
    "bucc2018": {"de-en.test.de": _BUCC_DE, "de-en.test.en": _BUCC_EN,
                 "de-en.test.gold": _lines("de-000000001\ten-000000001", "de-000000002\ten-000000002")},
    "squad": {"train-v1.1.json": _json(_squad_doc(SQUAD_PARAS))},
    "squad2": {"dev-v2.0.json": _json(_squad_doc(SQUAD_PARAS + [{"context": "No answer here.", "qas": [
        {"id": "q4", "question": "Why?", "answers": [], "is_impossible": True}]}], "v2.0"))},
    "xquad": {"xquad.de.json": _json(_squad_doc(SQUAD_PARAS))},
    "mlqa": {"MLQA_V1/test/test-context-de-question-de.json": _json(_squad_doc(SQUAD_PARAS))},
    "tydiqa": {"tydiqa-goldp-v1.1-dev/tydiqa.fi.dev.json": _json(_squad_doc(SQUAD_PARAS))},
    "udpos-tsv": {"train-en.tsv": _lines("The\tDET", "cat\tNOUN", "", "Runs\tVERB", ".\tPUNCT"),
                  "dev-de.tsv": _lines("Der\tDET", "Hund\tNOUN", "bellt\tVERB")},
    "udpos-conllu": {"UD_French-GSD/fr_gsd-ud-test.conllu": CONLLU},
    "panx-tsv": {"dev-de.tsv": _lines("Angela\tB-PER", "Merkel\tI-PER", "besucht\tO", "Paris\tB-LOC", "",
                                      "Ja\tO")},
    "panx-raw": {"de-train": _lines("de:Angela\tB-PER", "de:Merkel\tI-PER", "de:in\tO", "de:Berlin\tB-LOC", "",
                                    "de:ok\tO")},
    "ccg": {"ccg.train": _lines("alpha cat runs\tN/N N S\\NP", "cat runs\tN S\\NP"),
            "dev.stagged": _lines("# this file was generated by the following command(s):", "",
                                  "alpha|JJ|N/N cat|NN|N runs|VBZ|(S\\NP)/NP")},
    "ccg-tags": {"ccg.train": _lines("alpha cat runs\tN/N N S\\NP", "cat runs\tN S\\NP"),
                 "ccg.dev": _lines("cat\tN"), "tags_to_id.json": _json({"N": 0, "N/N": 1, "S\\NP": 2})},
    "hellaswag": {"hellaswag_train.jsonl": _jsonl(*(_hellaswag(i) for i in range(3)))},
    "cosmosqa": {"train.csv": _lines("id,context,question,answer0,answer1,answer2,answer3,label",
                                     'a1,"It rained, so we stayed.",Why?,rain,sun,"snow, ice",wind,0',
                                     'a2,"Multi\nline context",What?,x,y,z,"w ""q""",3')},
    "cosmosqa-jsonl": {"valid.jsonl": _jsonl(*({"id": f"c{i}", "context": "ctx", "question": "q?", "answer0": "a",
                                                "answer1": "b", "answer2": "c", "answer3": "d", "label": i % 4}
                                               for i in range(3)))},
    "commonsenseqa": {"train_rand_split.jsonl": _jsonl(*(_csqa(i) for i in range(3)))},
    "siqa": {"socialiqa-train-dev/train.jsonl": _jsonl(*(_siqa(i) for i in range(3))),
             "socialiqa-train-dev/train-labels.lst": _lines("1", "3", "2")},
    "siqa-v14": {"socialIQa_v1.4_dev.jsonl": _jsonl(*({**_siqa(i), "correct": "ABC"[i % 3]} for i in range(3)))},
    "xcopa": {"data/et/test.et.jsonl": _jsonl(*(_copa(i) for i in range(3))),
              "val.en.jsonl": _jsonl(*(_copa(i, "en") for i in range(2)))},
    "lareqa": {"xquad-r/en.json": _json({"version": "1.1", "data": [{"title": "t", "paragraphs": [_lareqa_para(
        "alpha beta. gamma delta.", [[0, 11], [12, 24]], [("q1", "what alpha", 0), ("q2", "what gamma", 12)])]}]}),
        "xquad-r/de.json": _json({"version": "1.1", "data": [{"title": "t", "paragraphs": [_lareqa_para(
            "eins zwei. drei vier.", [[0, 10], [11, 21]], [("q1", "was eins", 0), ("q2", "was drei", 11)])]}]})},
    "mewslix": {"candidate_set_entities.jsonl": _jsonl(_entity("Q1", "Red cat.", [(0, 8)]),
                                                       _entity("Q2", "Blue dog.", [(0, 9)])),
                "wikinews_mentions-test.jsonl": _jsonl(
                    _article("de", "Die red cat.", [(0, 12)], [("m1", "Q1", "cat")]),
                    _article("en", "A blue dog. A red cat.", [(0, 11), (12, 22)],
                             [("m2", "Q2", "dog"), ("m3", "Q1", "red")]))},
    "sib200": {"data/annotated/eng_Latn/train.tsv": _lines("index_id\tcategory\ttext", "1\tsports\tThe team won.",
                                                           '2\thealth\t"A ""quoted"" cure, they said."',
                                                           "3\ttravel\tA trip to Lima."),
               "data/annotated/deu_Latn/test.tsv": _lines("index_id\tcategory\ttext", "7\tpolitics\tDie Wahl.",
                                                          "8\tgeography\tDer Fluss.")},
    "belebele": {"deu_Latn.jsonl": _jsonl(*({"link": f"https://x/{i}", "question_number": i % 2 + 1,
                                             "flores_passage": "Ein Text. Noch einer.", "question": "Was?",
                                             "mc_answer1": "a", "mc_answer2": "b", "mc_answer3": "c",
                                             "mc_answer4": "d", "correct_answer_num": str(i % 4 + 1)}
                                            for i in range(3)))},
    "flores200": {"flores200_dataset/devtest/deu_Latn.devtest": _lines("Der Hund bellt.", "Ich bin müde.", "Gut."),
                  "flores200_dataset/devtest/eng_Latn.devtest": _lines("The dog barks.", "I am tired.", "Good."),
                  "flores200_dataset/dev/swh_Latn.dev": _lines("Mbwa anabweka.", "Nimechoka."),
                  "flores200_dataset/dev/eng_Latn.dev": _lines("The dog barks.", "I am tired.")},
}


# --------------------------------------------------------------------------------------------- type checks
def _is_str(*xs) -> bool:
    return all(isinstance(x, str) for x in xs)


def _check_pairs(task: str):
    labels = get_task(task).labels

    def check(out):
        assert isinstance(out, list) and out
        for e in out:
            assert isinstance(e, PairExample) and _is_str(e.guid, e.text_a, e.text_b)
            assert type(e.label) is int and 0 <= e.label < len(labels)
    return check


def _check_single(task: str):
    labels = get_task(task).labels

    def check(out):
        assert isinstance(out, list) and out
        for e in out:
            assert isinstance(e, PairExample) and _is_str(e.guid, e.text_a) and e.text_b is None
            assert type(e.label) is int and 0 <= e.label < len(labels)
    return check


def _check_parallel(out):
    for d in out:
        assert isinstance(d, ParallelData) and d.src and d.tgt
        assert len(d.src_ids) == len(d.src) and len(d.tgt_ids) == len(d.tgt)
        assert _is_str(*d.src, *d.tgt, *d.src_ids, *d.tgt_ids)
        assert all(a in d.src_ids and b in d.tgt_ids for a, b in d.gold)


def _check_qa(out):
    assert isinstance(out, list) and out
    for e in out:
        assert isinstance(e, QAExample) and _is_str(e.guid, e.question, e.context, e.language, e.title)
        assert isinstance(e.answers, tuple) and isinstance(e.answer_starts, tuple)
        assert len(e.answers) == len(e.answer_starts) and _is_str(*e.answers)
        for t, s in zip(e.answers, e.answer_starts):
            assert type(s) is int and 0 <= s <= len(e.context) and e.context[s:s + len(t)] == t


def _check_tagged(labels: tuple[str, ...] | None):
    def check(out):
        assert isinstance(out, list) and out
        for e in out:
            assert isinstance(e, TaggedExample) and isinstance(e.guid, str)
            assert isinstance(e.words, tuple) and isinstance(e.tags, tuple)
            assert e.words and len(e.words) == len(e.tags) and _is_str(*e.words, *e.tags)
            assert labels is None or set(e.tags) <= set(labels)
    return check


def _check_mc(out):
    assert isinstance(out, list) and out
    for e in out:
        assert isinstance(e, MCExample) and _is_str(e.guid, e.context, e.question, *e.choices)
        assert isinstance(e.choices, tuple) and len(e.choices) >= 2
        assert type(e.label) is int and -1 <= e.label < len(e.choices)


def _check_lareqa(out):
    for d in out:
        assert isinstance(d, LareqaData) and d.paragraphs
        for p in d.paragraphs:
            assert _is_str(p.context, *p.sentences)
        for q in d.questions:
            assert _is_str(q.id, q.text, q.answer) and 0 <= q.paragraph < len(d.paragraphs)


def _check_mewslix(out):
    for d in out:
        assert isinstance(d, MewslixData) and d.mentions
        assert _is_str(*d.candidates.ids, *d.candidates.texts)
        for m in d.mentions:
            assert _is_str(m.example_id, m.entity_id, m.query) and type(m.line) is int


def _reader(task: str, *calls: tuple[str, str]):
    return lambda root: [x for split, lang in calls for x in _as_list(get_task(task).read(root, split, lang))]


def _as_list(x):
    return x if isinstance(x, list) else [x]


@dataclass
class Format:
    """One official format: how to read a folder of its files and what a correct result looks like."""

    name: str
    read: Callable[[Path], Any]
    check: Callable[[Any], None]
    #: line-oriented formats: an error about one line must give that line
    line_oriented: bool = True
    files: dict[str, str] = field(default_factory=dict)


def _ccg_read(root):
    return [x for s in ("train", "dev") for x in get_task("ccg").read(root, s, "en")]


FORMATS = [
    Format("xnli", _reader("xnli", ("test", "en"), ("test", "de")), _check_pairs("xnli")),
    Format("pawsx", _reader("pawsx", ("train", "en"), ("test", "de")), _check_pairs("pawsx")),
    Format("mnli", _reader("mnli", ("train", "en")), _check_pairs("mnli")),
    Format("anli", _reader("anli", ("train", "en")), _check_pairs("anli")),
    Format("qqp", _reader("qqp", ("train", "en")), _check_pairs("qqp")),
    Format("kjv-web-paraphrase", _reader("kjv-web-paraphrase", ("train", "en")), _check_pairs("kjv-web-paraphrase")),
    Format("tatoeba", _reader("tatoeba", ("test", "de")), _check_parallel),
    Format("bucc2018", _reader("bucc2018", ("test", "de")), _check_parallel),
    Format("squad", _reader("squad", ("train", "en")), _check_qa, False),
    Format("squad2", _reader("squad2", ("dev", "en")), _check_qa, False),
    Format("xquad", _reader("xquad", ("test", "de")), _check_qa, False),
    Format("mlqa", _reader("mlqa", ("test", "de")), _check_qa, False),
    Format("tydiqa", _reader("tydiqa", ("test", "fi")), _check_qa, False),
    Format("udpos-tsv", _reader("udpos", ("train", "en"), ("dev", "de")), _check_tagged(get_task("udpos").labels)),
    Format("udpos-conllu", _reader("udpos", ("test", "fr")), _check_tagged(get_task("udpos").labels)),
    Format("panx-tsv", _reader("panx", ("dev", "de")), _check_tagged(get_task("panx").labels)),
    Format("panx-raw", _reader("panx", ("train", "de")), _check_tagged(get_task("panx").labels)),
    Format("ccg", _ccg_read, _check_tagged(None)),
    Format("ccg-tags", _ccg_read, _check_tagged(None)),
    Format("hellaswag", _reader("hellaswag", ("train", "en")), _check_mc),
    Format("cosmosqa", _reader("cosmosqa", ("train", "en")), _check_mc),
    Format("cosmosqa-jsonl", _reader("cosmosqa", ("dev", "en")), _check_mc),
    Format("commonsenseqa", _reader("commonsenseqa", ("train", "en")), _check_mc),
    Format("siqa", _reader("siqa", ("train", "en")), _check_mc),
    Format("siqa-v14", _reader("siqa", ("dev", "en")), _check_mc),
    Format("xcopa", _reader("xcopa", ("test", "et"), ("test", "en")), _check_mc),
    Format("lareqa", _reader("lareqa", ("test", "en"), ("test", "de")), _check_lareqa, False),
    Format("mewslix", _reader("mewslix", ("test", "en"), ("test", "de")), _check_mewslix),
    Format("sib200", _reader("sib200", ("train", "eng_Latn"), ("test", "deu_Latn")), _check_single("sib200")),
    Format("belebele", _reader("belebele", ("test", "deu_Latn")), _check_mc),
    Format("flores200", _reader("flores200", ("devtest", "deu_Latn"), ("dev", "sw")), _check_parallel),
]
for _f in FORMATS:
    _f.files = DATA[_f.name]
BY_NAME = {f.name: f for f in FORMATS}


def _write_folder(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)


def _n_lines(data: bytes) -> int:
    """Lines as the readers count them: split on LF, a final line end does not start a new line."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


# ---------------------------------------------------------------------------------------------- corruptions
INJECT = [b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\r", b"\t", b"\n", b"\n\n",
          b"\xef\xbb\xbf", b'"', b",", b"{", b"}", b"[", b"]", b":", b"\\", b"|", b"#", b" "]
JSON_VALUES = [None, True, False, 0, -1, 1, 2, 3, 7, 1.5, -0.0, 10 ** 30, float("inf"), "", "x", "-", "e", "A", "1",
               "NOUN", "B-PER", "entailment", [], [0], [1, 2], ["a"], [[0, 3]], {}, {"a": 1}, {"start": 0, "end": 3},
               {"text": "red", "answer_start": 4}]
#: phrases of messages about a whole file rather than one of its lines
FILE_LEVEL = ("empty file", "no data", "no rows", "no questions", "no sentences", "no mentions", "no paragraphs",
              "differ in length", "labels for", "no lines", "not found")


def _json_paths(obj, path=()):
    """Every (container path, key) of a parsed JSON document."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((path, k))
            out += _json_paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((path, i))
            out += _json_paths(v, path + (i,))
    return out


def _at(obj, path):
    for k in path:
        obj = obj[k]
    return obj


def _loads_or_none(data: bytes):
    try:
        return json.loads(data) if data.strip() else None
    except ValueError:
        return None


def _mutate_json(draw, obj):
    """One structural change of a parsed JSON value (in place where possible); returns the new value."""
    paths = _json_paths(obj)
    if not paths:
        return draw(st.sampled_from(JSON_VALUES))
    parent_path, key = draw(st.sampled_from(paths))
    parent = _at(obj, parent_path)
    op = draw(st.sampled_from(["retype", "retype", "delete", "add_key", "text"]))
    if op == "retype":
        parent[key] = draw(st.sampled_from(JSON_VALUES))
    elif op == "text":
        parent[key] = draw(st.text(max_size=12))
    elif op == "delete":
        del parent[key]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", "label", "id", "text", "choice3", "answers"]))] = draw(
            st.sampled_from(JSON_VALUES))
    else:
        parent.insert(key, draw(st.sampled_from(JSON_VALUES)))
    return obj


def _corrupt(draw, fmt: Format, files: dict[str, bytes]) -> tuple[str, str, int | None]:
    """Apply one drawn corruption to *files* (in place); returns (file, operation, line touched or None)."""
    rel = draw(st.sampled_from(sorted(files)))
    data = files[rel]
    lines = data.split(b"\n")
    n = len(lines)
    kinds = ["truncate", "empty", "delete_line", "dup_line", "swap_lines", "inject", "bom", "crlf", "huge", "remove",
             "drop_col", "add_col", "replace_field", "blank_line"]
    if rel.endswith((".json", ".jsonl")):
        kinds += ["json"] * 6
    op = draw(st.sampled_from(kinds))
    line = None
    if op == "truncate":
        files[rel] = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif op == "empty":
        files[rel] = draw(st.sampled_from([b"", b"\n", b"\n\n", b" \n", b"\xef\xbb\xbf"]))
    elif op == "remove":
        del files[rel]
    elif op == "bom":
        files[rel] = b"\xef\xbb\xbf" + data
    elif op == "crlf":
        files[rel] = data.replace(b"\n", b"\r\n")
    elif op == "delete_line":
        i = draw(st.integers(0, n - 1))
        files[rel] = b"\n".join(lines[:i] + lines[i + 1:])
    elif op == "dup_line":
        i = draw(st.integers(0, n - 1))
        files[rel] = b"\n".join(lines[:i + 1] + lines[i:])
    elif op == "swap_lines":
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        lines[i], lines[j] = lines[j], lines[i]
        files[rel] = b"\n".join(lines)
    elif op == "blank_line":
        i = draw(st.integers(0, n))
        files[rel] = b"\n".join(lines[:i] + [draw(st.sampled_from([b"", b" ", b"\t", b"\r"]))] + lines[i:])
    elif op in ("inject", "huge"):
        i = draw(st.integers(0, n - 1))
        pos = draw(st.integers(0, len(lines[i])))
        blob = draw(st.sampled_from(INJECT)) if op == "inject" else draw(
            st.sampled_from([b"a" * 200_000, "é".encode() * 100_000, b"w1 " * 70_000, b"\t" * 50_000]))
        lines[i] = lines[i][:pos] + blob + lines[i][pos:]
        files[rel] = b"\n".join(lines)
        line = i + 1
    elif op in ("drop_col", "add_col", "replace_field"):
        i = draw(st.integers(0, n - 1))
        sep = b"," if rel.endswith(".csv") else draw(st.sampled_from([b"\t", b"\t", b" ", b"|"]))
        cols = lines[i].split(sep)
        c = draw(st.integers(0, len(cols) - 1))
        if op == "drop_col":
            del cols[c]
        elif op == "add_col":
            cols.insert(c, draw(st.text(max_size=6)).encode("utf-8", "surrogatepass"))
        else:
            cols[c] = draw(st.one_of(st.text(max_size=10), st.sampled_from(
                ["", "-", "X", "NN", "0", "5", "-1", "entailment", "B-MISC", "_", "1-2", "1.1", "0.5", "x|y"]))
            ).encode("utf-8", "surrogatepass")
        lines[i] = sep.join(cols)
        files[rel] = b"\n".join(lines)
        line = i + 1
    else:  # json: a structural change of the whole document, or of one JSON line (if still valid JSON)
        if rel.endswith(".jsonl"):
            i = draw(st.integers(0, n - 1))
            obj = _loads_or_none(lines[i])
            if obj is not None:
                lines[i] = json.dumps(_mutate_json(draw, obj), ensure_ascii=False).encode()
                line = i + 1
            files[rel] = b"\n".join(lines)
        else:
            obj = _loads_or_none(data)
            if obj is not None:
                files[rel] = json.dumps(_mutate_json(draw, obj), ensure_ascii=False, indent=1).encode()
    return rel, op, line


# ------------------------------------------------------------------------------------------------ property
def check_error(e: Exception, root: Path, fmt: Format, files: dict[str, bytes], touched: str, op: str,
                line: int | None) -> None:
    """The user error is one line, names a file of the data set, and any line it gives exists in that file."""
    msg = str(e)
    assert isinstance(e, (DataFormatError, MissingDataError)), msg
    assert "\n" not in msg and "\r" not in msg, f"message is not one line: {msg!r}"
    assert len(msg) < 1000, f"message of {len(msg)} characters: {msg[:300]!r}..."
    assert str(root) in msg, f"message names no file of the data set: {msg!r}"
    if isinstance(e, DataFormatError):
        path = Path(e.path)
        rel = path.relative_to(root).as_posix()
        assert rel in files, f"{e.path} is not a file of the data set ({msg!r})"
        assert msg.startswith(f"{e.path}:"), msg
        if e.line is not None:
            assert f"{path.name}:{e.line}: " in msg
            assert 1 <= e.line <= max(_n_lines(files[rel]), 1), \
                f"line {e.line} but {rel} has {_n_lines(files[rel])} lines: {msg!r}"
        elif (fmt.line_oriented and rel == touched and not rel.endswith(".json") and line is not None
              and op in ("inject", "drop_col", "add_col", "replace_field")):
            assert any(p in msg for p in FILE_LEVEL), f"no line number for a problem on line {line}: {msg!r}"


@pytest.mark.parametrize("name", [f.name for f in FORMATS])
def test_valid_files_read(name, tmp_path):
    fmt = BY_NAME[name]
    _write_folder(tmp_path, {k: v.encode() for k, v in fmt.files.items()})
    fmt.check(fmt.read(tmp_path))


@pytest.mark.parametrize("name", [f.name for f in FORMATS])
@FUZZ
@given(data=st.data())
def test_corrupted_files_give_one_clear_error(name, data):
    fmt = BY_NAME[name]
    files = {k: v.encode() for k, v in fmt.files.items()}
    n_ops = data.draw(st.integers(1, 2), label="corruptions")
    history = [_corrupt(data.draw, fmt, files) for _ in range(n_ops) if files]
    touched, op, line = history[-1] if len(history) == 1 else (None, "several", None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / name
        root.mkdir()
        _write_folder(root, files)
        try:
            out = fmt.read(root)
        except (DataFormatError, MissingDataError) as e:
            event(f"{op}: {type(e).__name__}")
            check_error(e, root, fmt, files, touched, op, line)
        else:
            event(f"{op}: still valid")
            fmt.check(out)


# ------------------------------------------------------------------------------------ regression examples
def _edit_line(rel: str, lineno: int, fn):
    def edit(files):
        lines = files[rel].split(b"\n")
        lines[lineno - 1] = fn(lines[lineno - 1])
        files[rel] = b"\n".join(lines)
    return edit


def _set(rel: str, fn):
    def edit(files):
        files[rel] = fn(files[rel])
    return edit


def _jsonl_edit(rel: str, lineno: int, fn):
    return _edit_line(rel, lineno, lambda b: json.dumps(fn(json.loads(b))).encode())


def _doc_edit(rel: str, fn):
    def change(b):
        obj = json.loads(b)
        fn(obj)
        return json.dumps(obj, indent=1).encode()
    return _set(rel, change)


#: corruptions that crashed a reader (another exception type), gave no or a wrong line, or a message of megabytes,
#: before the readers were hardened: (format, corruption, DataFormatError fragment or None for a valid result)
REGRESSIONS = [
    ("anli", _jsonl_edit("R1/train.jsonl", 2, lambda o: {**o, "label": ["e"]}), "R1/train.jsonl:2: unknown label"),
    ("mnli", _jsonl_edit("multinli_1.0_train.jsonl", 3, lambda o: {**o, "sentence1": 7}),
     "multinli_1.0_train.jsonl:3: 'sentence1' must be a string, got number"),
    ("mnli", _set("multinli_1.0_train.jsonl", lambda b: b"\xef\xbb\xbf" + b), None),
    ("mnli", _set("multinli_1.0_train.jsonl", lambda b: b"\xff\xfe" + b), "multinli_1.0_train.jsonl:1: UTF-16"),
    ("mnli", _edit_line("multinli_1.0_train.jsonl", 2, lambda b: b"[" * 100_000), "multinli_1.0_train.jsonl:2: "),
    ("mnli", _edit_line("multinli_1.0_train.jsonl", 4, lambda b: b'{"gold_label": ' + b"7" * 5000 + b"}"),
     "multinli_1.0_train.jsonl:4: invalid JSON"),
    ("mnli", _set("multinli_1.0_train.jsonl", lambda b: b[:-8] + b"\n\n"), "multinli_1.0_train.jsonl:4: invalid JSON"),
    ("pawsx", _set("de/test_2k.tsv", lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n")), None),
    ("pawsx", _edit_line("de/test_2k.tsv", 2, lambda b: b[:-1] + b"x" * 300_000), "test_2k.tsv:2: unknown label"),
    ("pawsx", _edit_line("de/test_2k.tsv", 3, lambda b: b[:4] + b"\x00" + b[4:]), "test_2k.tsv:3: NUL byte"),
    ("xnli", _set("xnli.test.tsv", lambda b: b"\xef\xbb\xbf" + b), None),
    ("tatoeba", _set("tatoeba.deu-eng.eng", lambda b: b.split(b"\n", 1)[0] + b"\n"),
     "tatoeba.deu-eng.deu:2: parallel files differ in length"),
    ("siqa", _set("socialiqa-train-dev/train-labels.lst", lambda b: b"1\n2\n"), "train.jsonl:3: 2 labels for 3"),
    ("siqa", _set("socialiqa-train-dev/train-labels.lst", lambda b: b"1\n2\n\xc2\xb2\n"), "train-labels.lst:3: label"),
    ("commonsenseqa", _jsonl_edit("train_rand_split.jsonl", 1, lambda o: {**o, "question": {
        **o["question"], "choices": [{"label": 1, "text": "a"}] + o["question"]["choices"][1:]}}),
     "train_rand_split.jsonl:1: each of question.choices"),
    ("hellaswag", _jsonl_edit("hellaswag_train.jsonl", 2, lambda o: {**o, "ctx_a": 3}),
     "hellaswag_train.jsonl:2: 'ctx_a' should be a string"),
    ("cosmosqa-jsonl", _jsonl_edit("valid.jsonl", 1, lambda o: {**o, "answer2": None}),
     "valid.jsonl:1: 'answer2' must be a string"),
    ("cosmosqa", _set("train.csv", lambda b: b.split(b"\n", 1)[0] + b"\n"), "train.csv: no data rows"),
    ("ccg-tags", _set("tags_to_id.json", lambda b: b'{"N": 0, "N/N": null, "S\\\\NP": 2}'),
     "tags_to_id.json: the id of supertag 'N/N' should be an integer"),
    ("squad", _doc_edit("train-v1.1.json", lambda o: o["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(
        text="", answer_start=-1)), "train-v1.1.json:"),
    ("squad", _set("train-v1.1.json", lambda b: b[: b.rindex(b"}")] + b"\n\n\n"), "train-v1.1.json:"),
    ("lareqa", _doc_edit("xquad-r/de.json", lambda o: o.update(data=[])), "de.json: no paragraphs"),
    ("mewslix", _set("wikinews_mentions-test.jsonl", lambda b: b.split(b"\n", 1)[1]), "no mentions in language 'de'"),
    ("mewslix", _jsonl_edit("wikinews_mentions-test.jsonl", 1, lambda o: {**o, "context": {
        **o["context"], "language": "fr"}}), "no mentions in language 'de'"),
    ("udpos-conllu", _set("UD_French-GSD/fr_gsd-ud-test.conllu", lambda b: b.replace(b"\tIl\t", b"\t_\t").replace(
        b"\tmange\t", b"\t_\t").replace(b"\tpain\t", b"\t_\t").replace(b"\tde\t", b"\t_\t").replace(
        b"\tle\t", b"\t_\t").replace(b"\t.\t", b"\t_\t").replace(b"\tElle\t", b"\t_\t")), "no sentences with text"),
]


@pytest.mark.parametrize("name, corrupt, fragment", REGRESSIONS,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(REGRESSIONS)])
def test_regressions(name, corrupt, fragment, tmp_path):
    fmt = BY_NAME[name]
    files = {k: v.encode() for k, v in fmt.files.items()}
    corrupt(files)
    root = tmp_path / name
    _write_folder(root, files)
    try:
        out = fmt.read(root)
    except (DataFormatError, MissingDataError) as e:
        check_error(e, root, fmt, files, None, "example", None)
        assert fragment is not None, f"unexpected error {e}"
        assert fragment in str(e), str(e)
    else:
        assert fragment is None, f"no error; expected {fragment!r}"
        fmt.check(out)


# ---------------------------------------------------------------------------------------------- CLI end to end
def _cli_case(case: str, root: Path, model: Path) -> tuple[dict, str]:
    """A config whose data has one malformed file; returns (config, the ``file:line`` the error must name)."""
    from fixtures import write_pawsx, write_tatoeba

    pawsx = write_pawsx(root / "pawsx", langs=("en", "de"), n_train=24, n_test=6)
    cfg = {"name": "bad", "output_dir": str(root / "runs"), "seeds": [1], "num_threads": 1, "with_baseline": False,
           "model": {"name_or_path": str(model), "max_length": 32},
           "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["de"]}],
                      "max_steps": 2, "batch_size": 8, "eval_batch_size": 8},
           "evaluation": {"retrieval_layer": "last"}}
    if case == "target-eval-file":  # found after training, when the German test set is read
        test = pawsx / "de" / "test_2k.tsv"
        lines = test.read_text().splitlines()
        lines[2] = lines[2].rsplit("\t", 1)[0]
        test.write_text("\n".join(lines) + "\n")
        return cfg, "test_2k.tsv:3:"
    if case == "intermediate-train-file":  # MNLI jsonl with a broken JSON line
        mnli = root / "mnli"
        mnli.mkdir()
        good = json.loads(DATA["mnli"]["multinli_1.0_train.jsonl"].splitlines()[0])
        (mnli / "multinli_1.0_train.jsonl").write_text(json.dumps(good) + "\n" + '{"gold_label": "neutral", \n')
        cfg["intermediate"] = {"tasks": [{"task": "mnli", "data_dir": str(mnli)}], "max_steps": 2, "batch_size": 8}
        return cfg, "multinli_1.0_train.jsonl:2:"
    sents = ["alpha beta gamma", "cat dog bird", "red green tree"]
    tat = write_tatoeba(root / "tatoeba", {"deu": (sents, sents[:2])})  # parallel files of different lengths
    cfg["target"]["tasks"] = [{"task": "tatoeba", "data_dir": str(tat), "languages": ["de"]}]
    return cfg, "tatoeba.deu-eng.deu:3:"


def _assert_one_line_error_nothing_written(tmp_path: Path, rc: int, stdout: str, stderr: str, where: str) -> None:
    err = stderr.strip().splitlines()
    assert rc == 2, (rc, stderr[-2000:])
    assert "Traceback" not in stderr + stdout
    assert len(err) == 1 and err[0].startswith("error: ") and where in err[0], stderr
    assert str(tmp_path) in err[0]
    out = tmp_path / "runs"
    written = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] if out.is_dir() else []
    results = [p for p in written if p.rsplit("/", 1)[-1] in ("metrics.json", "run.json", "results.md",
                                                               "results.json", "results.csv")]
    assert not results, results


def test_cli_malformed_data_one_line_exit_2_nothing_written(tmp_path, tiny_model):
    """``python -m xstilts run`` in a fresh interpreter: the German test file is malformed, which is found after
    training: exit 2, one stderr line naming file and line, no traceback, no results."""
    import yaml

    cfg, where = _cli_case("target-eval-file", tmp_path, tiny_model)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "XSTILTS_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "xstilts", "run", str(tmp_path / "cfg.yaml")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    _assert_one_line_error_nothing_written(tmp_path, proc.returncode, proc.stdout, proc.stderr, where)


@pytest.mark.parametrize("case", ["intermediate-train-file", "retrieval-parallel-files"])
def test_cli_in_process_malformed_data(case, tmp_path, tiny_model, monkeypatch):
    """The same through the CLI entry point in this interpreter (cheaper than a subprocess): a broken intermediate
    training file, and retrieval data whose parallel files differ in length."""
    import yaml
    from typer.testing import CliRunner

    from xstilts.cli import app

    cfg, where = _cli_case(case, tmp_path, tiny_model)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    handler = signal.getsignal(signal.SIGTERM)  # `xstilts run` installs its SIGTERM handler: restore pytest's
    try:
        res = CliRunner().invoke(app, ["run", str(tmp_path / "cfg.yaml")])
    finally:
        signal.signal(signal.SIGTERM, handler)
    _assert_one_line_error_nothing_written(tmp_path, res.exit_code, res.stdout, res.stderr, where)


# ------------------------------------------------------------------------------------------ language discovery
NAME_PARTS = st.sampled_from(["tatoeba.", "-eng.", "eng", "deu", "de", "", ".", "-", "_", "test", "test-", ".tsv",
                              ".json", ".jsonl", "xquad.", "-ud-", ".conllu", "data", "x.y", "ÄÖ", "UD_", "de_gsd"])


@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.lists(NAME_PARTS, min_size=1, max_size=5).map("".join), max_size=8))
def test_language_discovery_on_odd_file_names(names):
    """``languages: all`` discovers languages from file names: odd names give no exception and no odd codes."""
    import re

    from xstilts.tasks import all_tasks

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in names:
            if n.strip(".") and "/" not in n:
                (root / n).write_text("x\n")
        for task in all_tasks():
            find = task.discover_languages
            if find is not None:
                langs = find(root)
                assert langs == sorted(langs) and all(re.fullmatch(r"[a-z]{2,3}", x) for x in langs), (task.name,
                                                                                                      langs)
