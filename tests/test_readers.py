"""Readers of every task on small files in the official formats, written into tmp_path by the tests themselves.

Each reader is reached through the registry (``get_task(name).read(data_dir, split, language)``). Malformed files
must raise :class:`DataFormatError` naming the file and the 1-based line, a missing file :class:`MissingDataError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.errors import DataFormatError, MissingDataError
from xstilts.tasks import get_task
from xstilts.tasks.families.classification import PairExample
from xstilts.tasks.families.retrieval import ParallelData, tatoeba_languages

XNLI_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
               "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5").split()
PAWSX_HEADER = "id\tsentence1\tsentence2\tlabel"
QQP_HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
ENT, NEU, CON = 0, 1, 2


def read(task: str, data_dir: Path, split: str, language: str = "en"):
    return get_task(task).read(data_dir, split, language)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def lines(*rows: str) -> str:
    return "".join(r + "\n" for r in rows)


def jsonl(*objs: dict) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def assert_raises_at(exc_type, fn, *fragments: str):
    """Call *fn*; it must raise exactly *exc_type* whose message contains every fragment."""
    with pytest.raises(exc_type) as info:
        fn()
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return info.value


# ------------------------------------------------------------------------------------------------------ XNLI
def xnli_row(lang: str, label: str, s1: str, s2: str, pair_id: str, genre: str = "fiction") -> str:
    cols = [lang, label, f"( {s1} )", f"( {s2} )", f"(ROOT {s1})", f"(ROOT {s2})", s1, s2, "7", pair_id, genre,
            label, label, label, label, label]
    assert len(cols) == len(XNLI_HEADER)
    return "\t".join(cols)


def write_xnli(folder: Path, split: str = "test") -> Path:
    return write(folder / f"xnli.{split}.tsv", lines(
        "\t".join(XNLI_HEADER),
        xnli_row("en", "entailment", 'He is 6" tall.', "He is tall.", "1"),
        xnli_row("de", "contradiction", '"Hallo, sagte er.', "Er schwieg.", "1"),
        xnli_row("fr", "neutral", "Il pleut.", "Il fait froid.", "1"),
        xnli_row("en", "neutral", "A man sleeps.", 'The "man" dreams.', "2"),
        xnli_row("de", "entailment", "Ein Hund bellt.", "Ein Tier macht Lärm.", "2"),
    ))


def test_xnli_filters_by_language_and_keeps_quotes(tmp_path):
    write_xnli(tmp_path)
    en = read("xnli", tmp_path, "test", "en")
    assert en == [PairExample("1", 'He is 6" tall.', "He is tall.", ENT),
                  PairExample("2", "A man sleeps.", 'The "man" dreams.', NEU)]
    de = read("xnli", tmp_path, "test", "de")
    # an opening double quote with no closing one must stay literal (csv quoting would swallow the tabs after it)
    assert de == [PairExample("1", '"Hallo, sagte er.', "Er schwieg.", CON),
                  PairExample("2", "Ein Hund bellt.", "Ein Tier macht Lärm.", ENT)]
    assert read("xnli", tmp_path, "test", "fr") == [PairExample("1", "Il pleut.", "Il fait froid.", NEU)]


def test_xnli_dev_split_reads_dev_file(tmp_path):
    write(tmp_path / "xnli.dev.tsv", lines("\t".join(XNLI_HEADER),
                                           xnli_row("bg", "contradiction", "Да.", "Не.", "42")))
    assert read("xnli", tmp_path, "dev", "bg") == [PairExample("42", "Да.", "Не.", CON)]
    with pytest.raises(MissingDataError, match=r"xnli\.test\.tsv"):
        read("xnli", tmp_path, "test", "bg")


def test_xnli_language_without_rows_is_missing_data(tmp_path):
    write_xnli(tmp_path)
    with pytest.raises(MissingDataError, match="'sw'"):
        read("xnli", tmp_path, "test", "sw")


def test_xnli_train_reads_mnli_from_multinli_subfolder(tmp_path):
    write(tmp_path / "multinli" / "multinli_1.0_train.jsonl", jsonl(
        {"gold_label": "neutral", "sentence1": "P1", "sentence2": "H1", "pairID": "31193n"},
        {"gold_label": "contradiction", "sentence1": "P2", "sentence2": "H2", "pairID": "101457c"},
    ))
    write_xnli(tmp_path)  # the XNLI test file must not be what train reads
    assert read("xnli", tmp_path, "train", "en") == [PairExample("31193n", "P1", "H1", NEU),
                                                     PairExample("101457c", "P2", "H2", CON)]


def test_xnli_wrong_column_count_names_line(tmp_path):
    path = write_xnli(tmp_path)
    text = path.read_text(encoding="utf-8").splitlines()
    text.insert(2, "\t".join(xnli_row("en", "neutral", "a", "b", "9").split("\t")[:-1]))  # 15 of 16 columns
    path.write_text(lines(*text), encoding="utf-8")
    assert_raises_at(DataFormatError, lambda: read("xnli", tmp_path, "test", "en"),
                     "xnli.test.tsv:3:", "16", "15")


def test_xnli_unknown_label_lists_expected(tmp_path):
    write(tmp_path / "xnli.test.tsv", lines("\t".join(XNLI_HEADER),
                                            xnli_row("en", "entailment", "a", "b", "1"),
                                            xnli_row("en", "contradictory", "a", "b", "2")))
    assert_raises_at(DataFormatError, lambda: read("xnli", tmp_path, "test", "en"),
                     "xnli.test.tsv:3:", "contradictory", "entailment, neutral, contradiction")


def test_xnli_wrong_header(tmp_path):
    write(tmp_path / "xnli.test.tsv", lines("\t".join(["lang", *XNLI_HEADER[1:]]),
                                            xnli_row("en", "entailment", "a", "b", "1")))
    assert_raises_at(DataFormatError, lambda: read("xnli", tmp_path, "test", "en"), "xnli.test.tsv:1:")


def test_xnli_header_without_sentence_columns(tmp_path):
    header = [c for c in XNLI_HEADER if c != "sentence2"] + ["extra"]
    write(tmp_path / "xnli.test.tsv", lines("\t".join(header), xnli_row("en", "entailment", "a", "b", "1")))
    assert_raises_at(DataFormatError, lambda: read("xnli", tmp_path, "test", "en"), "xnli.test.tsv:1:", "sentence2")


def test_xnli_invalid_utf8_names_line(tmp_path):
    path = write_xnli(tmp_path)
    raw = path.read_bytes().split(b"\n")
    raw[3] = raw[3].replace(b"Il pleut.", b"Il pl\xe9ut.")  # latin-1 byte on line 4
    path.write_bytes(b"\n".join(raw))
    assert_raises_at(DataFormatError, lambda: read("xnli", tmp_path, "test", "en"), "xnli.test.tsv:4:", "UTF-8")


def test_xnli_empty_file(tmp_path):
    write(tmp_path / "xnli.test.tsv", b"")
    assert_raises_at(DataFormatError, lambda: read("xnli", tmp_path, "test", "en"), "xnli.test.tsv")


# ---------------------------------------------------------------------------------------------------- PAWS-X
def write_pawsx(root: Path) -> Path:
    write(root / "en" / "train.tsv", lines(PAWSX_HEADER, "1\tA cat sat.\tThe cat sat.\t1", "2\tX\tY\t0"))
    write(root / "en" / "dev_2k.tsv", lines(PAWSX_HEADER, "5\tdev a\tdev b\t0"))
    write(root / "en" / "test_2k.tsv", lines(PAWSX_HEADER, "7\ttest a\ttest b\t1", "8\t\"q\tr\"\t0"))
    write(root / "de" / "translated_train.tsv", lines(PAWSX_HEADER, "3\tEine Katze.\tDie Katze.\t1"))
    write(root / "de" / "train.tsv", lines(PAWSX_HEADER, "99\tnot\tread\t0"))
    write(root / "de" / "test_2k.tsv", lines(PAWSX_HEADER, "11\tTest eins\tTest zwei\t0"))
    return root


def test_pawsx_splits_and_languages(tmp_path):
    write_pawsx(tmp_path)
    assert read("pawsx", tmp_path, "train", "en") == [PairExample("1", "A cat sat.", "The cat sat.", 1),
                                                      PairExample("2", "X", "Y", 0)]
    assert read("pawsx", tmp_path, "dev", "en") == [PairExample("5", "dev a", "dev b", 0)]
    assert read("pawsx", tmp_path, "test", "en") == [PairExample("7", "test a", "test b", 1),
                                                     PairExample("8", '"q', 'r"', 0)]
    assert read("pawsx", tmp_path, "test", "de") == [PairExample("11", "Test eins", "Test zwei", 0)]


def test_pawsx_non_english_train_reads_translated_train(tmp_path):
    write_pawsx(tmp_path)
    assert read("pawsx", tmp_path, "train", "de") == [PairExample("3", "Eine Katze.", "Die Katze.", 1)]
    assert read("paws-x", tmp_path, "train", "de") == read("pawsx", tmp_path, "train", "de")  # alias


def test_pawsx_crlf_and_blank_lines(tmp_path):
    write(tmp_path / "en" / "test_2k.tsv", b"id\tsentence1\tsentence2\tlabel\r\n1\ta\tb\t1\r\n\r\n2\tc\td\t0\r\n")
    assert read("pawsx", tmp_path, "test", "en") == [PairExample("1", "a", "b", 1), PairExample("2", "c", "d", 0)]


@pytest.mark.parametrize("content, exc, fragments", [
    pytest.param(lines(PAWSX_HEADER, "1\ta\tb\t0", "2\ta\tb"), DataFormatError,
                 ("test_2k.tsv:3:", "expected 4", "got 3"), id="too-few-columns"),
    pytest.param(lines(PAWSX_HEADER, "1\ta\tb\t0", "2\ta\tb\t1\textra"), DataFormatError,
                 ("test_2k.tsv:3:", "expected 4", "got 5"), id="too-many-columns"),
    pytest.param(lines(PAWSX_HEADER, "1\ta\tb\t2"), DataFormatError,
                 ("test_2k.tsv:2:", "'2'", "expected one of 0, 1"), id="unknown-label"),
    pytest.param(b"", DataFormatError, ("test_2k.tsv", "empty"), id="empty-file"),
    pytest.param(lines("id\ts1\ts2\tlabel", "1\ta\tb\t0"), DataFormatError, ("test_2k.tsv:1:", "header"),
                 id="wrong-header"),
    pytest.param(lines("1\ta\tb\t0", "2\tc\td\t1"), DataFormatError, ("test_2k.tsv:1:",), id="no-header"),
    pytest.param(b"id\tsentence1\tsentence2\tlabel\n1\ta\tb\t0\n2\t\xff\xfe\tb\t1\n", DataFormatError,
                 ("test_2k.tsv:3:", "UTF-8"), id="invalid-utf8"),
])
def test_pawsx_malformed(tmp_path, content, exc, fragments):
    write(tmp_path / "en" / "test_2k.tsv", content)
    assert_raises_at(exc, lambda: read("pawsx", tmp_path, "test", "en"), *fragments)


def test_pawsx_missing_file(tmp_path):
    write_pawsx(tmp_path)
    assert_raises_at(MissingDataError, lambda: read("pawsx", tmp_path, "dev", "de"), "dev_2k.tsv")
    assert_raises_at(MissingDataError, lambda: read("pawsx", tmp_path, "test", "fr"), "test_2k.tsv")


# ------------------------------------------------------------------------------------------------------ MNLI
def write_mnli(folder: Path) -> None:
    write(folder / "multinli_1.0_train.jsonl", jsonl(
        {"annotator_labels": ["neutral"], "genre": "government", "gold_label": "neutral", "pairID": "31193n",
         "promptID": 31193, "sentence1": "Conceptually cream skimming has two basic dimensions.",
         "sentence1_binary_parse": "( ( x ) )", "sentence2": "Product and geography are what make cream skimming work.",
         "sentence2_binary_parse": "( y )"},
        {"gold_label": "entailment", "pairID": "e1", "sentence1": "S1", "sentence2": "T1"},
        {"gold_label": "-", "pairID": "skip", "sentence1": "no", "sentence2": "consensus"},
        {"gold_label": "contradiction", "pairID": "c1", "sentence1": "S2", "sentence2": "T2 \"quoted\""},
    ))
    write(folder / "multinli_1.0_dev_matched.jsonl", jsonl(
        {"gold_label": "-", "pairID": "d0", "sentence1": "x", "sentence2": "y"},
        {"gold_label": "entailment", "pairID": "d1", "sentence1": "dev s", "sentence2": "dev t"},
    ))


def test_mnli_train_skips_no_consensus(tmp_path):
    write_mnli(tmp_path)
    assert read("mnli", tmp_path, "train") == [
        PairExample("31193n", "Conceptually cream skimming has two basic dimensions.",
                    "Product and geography are what make cream skimming work.", NEU),
        PairExample("e1", "S1", "T1", ENT),
        PairExample("c1", "S2", 'T2 "quoted"', CON),
    ]


@pytest.mark.parametrize("split", ["dev", "test"])
def test_mnli_dev_and_test_read_dev_matched(tmp_path, split):
    write_mnli(tmp_path)
    assert read("mnli", tmp_path, split) == [PairExample("d1", "dev s", "dev t", ENT)]


@pytest.mark.parametrize("content, fragments", [
    pytest.param(jsonl({"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}) + '{"gold_label": "neutral",\n',
                 ("multinli_1.0_train.jsonl:2:", "invalid JSON"), id="invalid-json"),
    pytest.param(jsonl({"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}) + "\n"
                 + '{"gold_label": "neutral", "sentence1": "a" "sentence2": "b"}\n',
                 ("multinli_1.0_train.jsonl:3:", "invalid JSON"), id="invalid-json-after-blank-line"),
    pytest.param(jsonl({"gold_label": "neutral", "sentence1": "a", "sentence2": "b"},
                       {"gold_label": "neutral", "sentence1": "a"}),
                 ("multinli_1.0_train.jsonl:2:", "sentence2"), id="missing-key"),
    pytest.param(jsonl({"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}) + '["a", "b"]\n',
                 ("multinli_1.0_train.jsonl:2:", "object"), id="not-an-object"),
    pytest.param(jsonl({"gold_label": "neutral", "sentence1": "a", "sentence2": "b"},
                       {"gold_label": "unknown", "sentence1": "a", "sentence2": "b"}),
                 ("multinli_1.0_train.jsonl:2:", "'unknown'", "entailment, neutral, contradiction"),
                 id="unknown-label"),
    pytest.param(b'{"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}\n'
                 b'{"gold_label": "neutral", "sentence1": "\xc3", "sentence2": "b"}\n',
                 ("multinli_1.0_train.jsonl:2:", "UTF-8"), id="invalid-utf8"),
    pytest.param(b"", ("multinli_1.0_train.jsonl", "empty"), id="empty-file"),
])
def test_mnli_malformed(tmp_path, content, fragments):
    write(tmp_path / "multinli_1.0_train.jsonl", content)
    assert_raises_at(DataFormatError, lambda: read("mnli", tmp_path, "train"), *fragments)


def test_mnli_missing_file(tmp_path):
    assert_raises_at(MissingDataError, lambda: read("mnli", tmp_path, "train"), "multinli_1.0_train.jsonl")


# ------------------------------------------------------------------------------------------------------ ANLI
def write_anli(root: Path) -> None:
    for rnd, labels in (("R1", "enc"), ("R2", "ce"), ("R3", "n")):
        for split in ("train", "dev", "test"):
            write(root / rnd / f"{split}.jsonl", jsonl(*[
                {"uid": f"{rnd}-{split}-{i}", "context": f"ctx {rnd} {i}", "hypothesis": f"hyp {rnd} {i}",
                 "label": lab, "reason": "", "tag": "x"} for i, lab in enumerate(labels)]))


def test_anli_concatenates_rounds_in_order(tmp_path):
    write_anli(tmp_path)
    got = read("anli", tmp_path, "dev")
    assert [e.guid for e in got] == ["R1-dev-0", "R1-dev-1", "R1-dev-2", "R2-dev-0", "R2-dev-1", "R3-dev-0"]
    assert [e.label for e in got] == [ENT, NEU, CON, CON, ENT, NEU]
    assert got[3] == PairExample("R2-dev-0", "ctx R2 0", "hyp R2 0", CON)


def test_anli_single_round(tmp_path):
    write_anli(tmp_path)
    assert read("anli-r2", tmp_path, "test") == [PairExample("R2-test-0", "ctx R2 0", "hyp R2 0", CON),
                                                 PairExample("R2-test-1", "ctx R2 1", "hyp R2 1", ENT)]
    assert [e.guid for e in read("anli-r3", tmp_path, "train")] == ["R3-train-0"]


def test_anli_unknown_label_and_missing_key(tmp_path):
    write_anli(tmp_path)
    write(tmp_path / "R2" / "dev.jsonl", jsonl({"uid": "a", "context": "c", "hypothesis": "h", "label": "e"},
                                              {"uid": "b", "context": "c", "hypothesis": "h", "label": "entailment"}))
    err = assert_raises_at(DataFormatError, lambda: read("anli", tmp_path, "dev"),
                           "dev.jsonl:2:", "'entailment'", "e, n, c")
    assert "R2" in err.path
    write(tmp_path / "R2" / "dev.jsonl", jsonl({"uid": "a", "context": "c", "label": "e"}))
    assert_raises_at(DataFormatError, lambda: read("anli-r2", tmp_path, "dev"), "dev.jsonl:1:", "hypothesis")


def test_anli_missing_round(tmp_path):
    write_anli(tmp_path)
    for split in ("train", "dev", "test"):
        (tmp_path / "R3" / f"{split}.jsonl").unlink()
    assert_raises_at(MissingDataError, lambda: read("anli", tmp_path, "test"), "test.jsonl", "R3")


# ------------------------------------------------------------------------------------------------------- QQP
def test_qqp_train_dev_and_test_reads_dev(tmp_path):
    write(tmp_path / "train.tsv", lines(QQP_HEADER, "133273\t213221\t213222\tHow is the life of a math student?"
                                                    "\tWhich level of prepration is enough?\t0",
                                        "402555\t536040\t536041\tHow do I control my horny emotions?"
                                        "\tHow do you control your horniness?\t1"))
    write(tmp_path / "dev.tsv", lines(QQP_HEADER, "1\t2\t3\tWhat is \"x\"?\tWhat's x?\t1"))
    assert read("qqp", tmp_path, "train") == [
        PairExample("133273", "How is the life of a math student?", "Which level of prepration is enough?", 0),
        PairExample("402555", "How do I control my horny emotions?", "How do you control your horniness?", 1)]
    assert read("qqp", tmp_path, "dev") == [PairExample("1", 'What is "x"?', "What's x?", 1)]
    assert read("qqp", tmp_path, "test") == read("qqp", tmp_path, "dev")


@pytest.mark.parametrize("content, fragments", [
    pytest.param(lines("id\tquestion1\tquestion2\tis_duplicate", "1\ta\tb\t0"), ("train.tsv:1:",), id="wrong-header"),
    pytest.param(lines(QQP_HEADER, "1\t2\t3\ta\tb\t0", "2\t3\t4\ta\t1"), ("train.tsv:3:", "expected 6", "got 5"),
                 id="column-count"),
    pytest.param(lines(QQP_HEADER, "1\t2\t3\ta\tb\tyes"), ("train.tsv:2:", "'yes'", "0, 1"), id="unknown-label"),
])
def test_qqp_malformed(tmp_path, content, fragments):
    write(tmp_path / "train.tsv", content)
    assert_raises_at(DataFormatError, lambda: read("qqp", tmp_path, "train"), *fragments)


# ------------------------------------------------------------------------------------------------ KJV / WEB
@pytest.mark.parametrize("task", ["kjv-web-paraphrase", "kjv-web-paraphrase-hard"])
def test_kjv_web_paraphrase(tmp_path, task):
    write(tmp_path / "train.tsv", lines(PAWSX_HEADER, "Gen.1.1\tIn the beginning God created the heaven and the "
                                                      "earth.\tIn the beginning, God created the heavens and the earth.\t1"))
    write(tmp_path / "test.tsv", lines(PAWSX_HEADER, "t1\ta\tb\t0", "t2\tc\td\t1"))
    assert read(task, tmp_path, "train") == [PairExample(
        "Gen.1.1", "In the beginning God created the heaven and the earth.",
        "In the beginning, God created the heavens and the earth.", 1)]
    assert read(task, tmp_path, "test") == [PairExample("t1", "a", "b", 0), PairExample("t2", "c", "d", 1)]
    assert_raises_at(MissingDataError, lambda: read(task, tmp_path, "dev"), "dev.tsv")
    write(tmp_path / "dev.tsv", lines(PAWSX_HEADER, "d1\ta\tb\t0", "d2\ta\tb\t-1"))
    assert_raises_at(DataFormatError, lambda: read(task, tmp_path, "dev"), "dev.tsv:3:", "0, 1")


# --------------------------------------------------------------------------------------------------- Tatoeba
def write_tatoeba(root: Path, l3: str, src: list[str], eng: list[str]) -> None:
    write(root / f"tatoeba.{l3}-eng.{l3}", lines(*src))
    write(root / f"tatoeba.{l3}-eng.eng", lines(*eng))


def test_tatoeba_reads_line_aligned_pairs(tmp_path):
    write_tatoeba(tmp_path, "deu", ["Ich bin hier.", "Danke.", "Wo ist \"er\"?"], ["I am here.", "Thanks.", "Where is he?"])
    data = read("tatoeba", tmp_path, "test", "de")
    assert isinstance(data, ParallelData)
    assert data.src == ["Ich bin hier.", "Danke.", 'Wo ist "er"?']
    assert data.tgt == ["I am here.", "Thanks.", "Where is he?"]
    assert data.src_ids == data.tgt_ids == ["0", "1", "2"]
    assert data.gold == [("0", "0"), ("1", "1"), ("2", "2")]


@pytest.mark.parametrize("lang, l3", [("zh", "cmn"), ("sw", "swh"), ("fa", "pes"), ("de", "deu")])
def test_tatoeba_language_code_mapping(tmp_path, lang, l3):
    write_tatoeba(tmp_path, l3, [f"{l3} one", f"{l3} two"], ["one", "two"])
    data = read("tatoeba", tmp_path, "test", lang)
    assert data.src == [f"{l3} one", f"{l3} two"]
    assert data.tgt == ["one", "two"]


def test_tatoeba_zh_needs_cmn_files(tmp_path):
    write_tatoeba(tmp_path, "zh", ["x"], ["y"])
    assert_raises_at(MissingDataError, lambda: read("tatoeba", tmp_path, "test", "zh"), "tatoeba.cmn-eng.cmn")


def test_tatoeba_keeps_unicode_line_separators_inside_sentences(tmp_path):
    # only "\n" ends a line (as Python's text files read them); U+2028, NEL, form feed stay inside the sentence
    src = ["eins\u2028zwei", "drei\x85vier", "f\x0cnf", "sechs\x1c"]
    write_tatoeba(tmp_path, "deu", src, ["one two", "three four", "five", "six"])
    data = read("tatoeba", tmp_path, "test", "de")
    assert data.src == src
    assert data.gold == [("0", "0"), ("1", "1"), ("2", "2"), ("3", "3")]


def test_tatoeba_crlf_line_ends(tmp_path):
    write(tmp_path / "tatoeba.deu-eng.deu", b"Hallo.\r\nTsch\xc3\xbcss.\r\n")
    write(tmp_path / "tatoeba.deu-eng.eng", b"Hello.\nBye.")  # no final newline
    data = read("tatoeba", tmp_path, "test", "de")
    assert data.src == ["Hallo.", "Tschüss."] and data.tgt == ["Hello.", "Bye."]


def test_tatoeba_languages_discovery(tmp_path):
    for l3 in ("cmn", "swh", "deu", "xyz"):
        write_tatoeba(tmp_path, l3, ["a"], ["b"])
    write(tmp_path / "tatoeba.fra-eng.eng", lines("only English"))  # no French side: not a language
    write(tmp_path / "tatoeba.ita-eng.ita", lines("solo italiano"))  # no English side
    write(tmp_path / "notes.txt", "x\n")
    assert tatoeba_languages(tmp_path) == ["de", "sw", "xyz", "zh"]
    assert get_task("tatoeba").discover_languages(tmp_path) == ["de", "sw", "xyz", "zh"]
    assert tatoeba_languages(tmp_path / "empty") == []


def test_tatoeba_different_lengths(tmp_path):
    write_tatoeba(tmp_path, "deu", ["a", "b", "c"], ["A", "B"])
    assert_raises_at(DataFormatError, lambda: read("tatoeba", tmp_path, "test", "de"),
                     "tatoeba.deu-eng.deu:3:", "tatoeba.deu-eng.eng", "3", "2")
    write_tatoeba(tmp_path, "deu", ["a"], ["A", "B", "C"])
    assert_raises_at(DataFormatError, lambda: read("tatoeba", tmp_path, "test", "de"), "tatoeba.deu-eng.eng:2:")


@pytest.mark.parametrize("src, eng, fragment", [
    (["a", "", "c"], ["A", "B", "C"], "tatoeba.deu-eng.deu:2:"),
    (["a", "b", "c"], ["A", "B", "   "], "tatoeba.deu-eng.eng:3:"),
])
def test_tatoeba_empty_line(tmp_path, src, eng, fragment):
    write_tatoeba(tmp_path, "deu", src, eng)
    assert_raises_at(DataFormatError, lambda: read("tatoeba", tmp_path, "test", "de"), fragment, "empty")


def test_tatoeba_empty_file_invalid_utf8_and_missing(tmp_path):
    write(tmp_path / "tatoeba.deu-eng.deu", b"")
    write(tmp_path / "tatoeba.deu-eng.eng", b"")
    assert_raises_at(DataFormatError, lambda: read("tatoeba", tmp_path, "test", "de"), "tatoeba.deu-eng.deu", "empty")
    write(tmp_path / "tatoeba.deu-eng.deu", b"ok\nnoch ok\nkaputt \xe4\n")
    write(tmp_path / "tatoeba.deu-eng.eng", b"ok\nstill ok\nbroken\n")
    assert_raises_at(DataFormatError, lambda: read("tatoeba", tmp_path, "test", "de"), "tatoeba.deu-eng.deu:3:", "UTF-8")
    (tmp_path / "tatoeba.deu-eng.eng").unlink()
    assert_raises_at(MissingDataError, lambda: read("tatoeba", tmp_path, "test", "de"), "tatoeba.deu-eng.eng")
    assert_raises_at(MissingDataError, lambda: read("tatoeba", tmp_path, "test", "fr"), "tatoeba.fra-eng.fra")


# ------------------------------------------------------------------------------------------------------ BUCC
def write_bucc(root: Path, lang: str = "de", name: str = "test") -> None:
    write(root / f"{lang}-en.{name}.{lang}", lines(f"{lang}-000001\tSatz eins.", f"{lang}-000002\tSatz \"zwei\".",
                                                   f"{lang}-000003\tSatz drei."))
    write(root / f"{lang}-en.{name}.en", lines("en-000001\tSentence two.", "en-000002\tSentence one.",
                                               "en-000003\tUnrelated.", "en-000004\tAlso unrelated."))
    write(root / f"{lang}-en.{name}.gold", lines(f"{lang}-000001\ten-000002", f"{lang}-000002\ten-000001"))


def test_bucc_reads_ids_sentences_and_gold(tmp_path):
    write_bucc(tmp_path, "de", "test")
    data = read("bucc2018", tmp_path, "test", "de")
    assert data.src_ids == ["de-000001", "de-000002", "de-000003"]
    assert data.src == ["Satz eins.", 'Satz "zwei".', "Satz drei."]
    assert data.tgt_ids == ["en-000001", "en-000002", "en-000003", "en-000004"]
    assert data.tgt == ["Sentence two.", "Sentence one.", "Unrelated.", "Also unrelated."]
    assert data.gold == [("de-000001", "en-000002"), ("de-000002", "en-000001")]
    assert read("bucc", tmp_path, "test", "de") == data  # alias


def test_bucc_unicode_separator_inside_sentence(tmp_path):
    write(tmp_path / "de-en.dev.de", lines("de-1\tA\u2028B", "de-2\tC"))
    write(tmp_path / "de-en.dev.en", lines("en-1\tx\x85y"))
    write(tmp_path / "de-en.dev.gold", lines("de-1\ten-1"))
    data = read("bucc2018", tmp_path, "dev", "de")
    assert data.src == ["A\u2028B", "C"] and data.tgt == ["x\x85y"] and data.gold == [("de-1", "en-1")]


@pytest.mark.parametrize("split, name", [("dev", "dev"), ("dev", "sample"), ("test", "test"), ("test", "training")])
def test_bucc_split_spellings(tmp_path, split, name):
    write_bucc(tmp_path, "fr", name)
    data = read("bucc2018", tmp_path, split, "fr")
    assert data.src_ids == ["fr-000001", "fr-000002", "fr-000003"]
    assert data.gold == [("fr-000001", "en-000002"), ("fr-000002", "en-000001")]
    other = {"dev": "test", "test": "dev"}[split]
    assert_raises_at(MissingDataError, lambda: read("bucc2018", tmp_path, other, "fr"), f"fr-en.{other}.fr")


def test_bucc_prefers_xtreme_spelling(tmp_path):
    write_bucc(tmp_path, "ru", "training")
    write(tmp_path / "ru-en.test.ru", lines("r1\tодин", "r2\tдва"))
    write(tmp_path / "ru-en.test.en", lines("e1\tone"))
    write(tmp_path / "ru-en.test.gold", lines("r2\te1"))
    data = read("bucc2018", tmp_path, "test", "ru")
    assert data.src_ids == ["r1", "r2"] and data.tgt_ids == ["e1"] and data.gold == [("r2", "e1")]


@pytest.mark.parametrize("ext, content, fragments", [
    pytest.param("de", lines("de-1\ta", "de-2\tb", "de-1\tc"), ("de-en.test.de:3:", "duplicate", "'de-1'"),
                 id="duplicate-src-id"),
    pytest.param("en", lines("en-1\ta", "en-1\tb"), ("de-en.test.en:2:", "duplicate"), id="duplicate-en-id"),
    pytest.param("gold", lines("de-1\ten-1", "de-9\ten-1"), ("de-en.test.gold:2:", "de-9"), id="gold-unknown-src"),
    pytest.param("gold", lines("de-1\ten-7"), ("de-en.test.gold:1:", "en-7"), id="gold-unknown-en"),
    pytest.param("gold", lines("de-1\ten-1", "de-2 en-2"), ("de-en.test.gold:2:", "expected 2", "got 1"),
                 id="gold-no-tab"),
    pytest.param("de", lines("de-1\ta", "de-2 b"), ("de-en.test.de:2:", "expected 2"), id="side-no-tab"),
    pytest.param("de", lines("de-1\ta\textra"), ("de-en.test.de:1:", "got 3"), id="side-three-columns"),
    pytest.param("en", b"en-1\ta\nen-2\t\xff\n", ("de-en.test.en:2:", "UTF-8"), id="invalid-utf8"),
    pytest.param("gold", b"", ("de-en.test.gold", "empty"), id="empty-gold"),
    pytest.param("de", b"", ("de-en.test.de", "empty"), id="empty-side"),
])
def test_bucc_malformed(tmp_path, ext, content, fragments):
    write(tmp_path / "de-en.test.de", lines("de-1\ta", "de-2\tb"))
    write(tmp_path / "de-en.test.en", lines("en-1\tA", "en-2\tB"))
    write(tmp_path / "de-en.test.gold", lines("de-1\ten-1"))
    write(tmp_path / f"de-en.test.{ext}", content)
    assert_raises_at(DataFormatError, lambda: read("bucc2018", tmp_path, "test", "de"), *fragments)


def test_bucc_missing_gold(tmp_path):
    write_bucc(tmp_path, "zh", "dev")
    (tmp_path / "zh-en.dev.gold").unlink()
    assert_raises_at(MissingDataError, lambda: read("bucc2018", tmp_path, "dev", "zh"), "zh-en.dev.gold", "sample")


# ------------------------------------------------------------------------------------------ Hugging Face path
class FakeLoad:
    """Stands in for ``datasets.load_dataset``: records the call and returns a Dataset in the hub schema."""

    def __init__(self, columns: dict):
        self.columns, self.calls = columns, []

    def __call__(self, path, name=None, split=None, **kwargs):
        import datasets

        self.calls.append((path, name, split))
        return datasets.Dataset.from_dict(self.columns)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("XSTILTS_CACHE", str(cache))
    return cache


def test_hub_pawsx_conversion(empty_cache, monkeypatch):
    import datasets

    from xstilts.config import TaskSpec
    from xstilts.loading import load_examples, task_data_dir

    fake = FakeLoad({"id": [17, 18, 19], "sentence1": ["Ein Satz.", "Zwei", "Drei"],
                     "sentence2": ["Der Satz.", "Zwo", "Vier"], "label": [1, 0, 1]})
    monkeypatch.setattr(datasets, "load_dataset", fake)
    spec = TaskSpec(task="pawsx")
    assert not task_data_dir(spec).exists()
    assert str(task_data_dir(spec)).startswith(str(empty_cache))
    got = load_examples(spec, "test", "de")
    assert fake.calls == [("google-research-datasets/paws-x", "de", "test")]
    assert got == [PairExample("17", "Ein Satz.", "Der Satz.", 1), PairExample("18", "Zwei", "Zwo", 0),
                   PairExample("19", "Drei", "Vier", 1)]


def test_hub_xnli_conversion(empty_cache, monkeypatch):
    import datasets

    from xstilts.config import TaskSpec
    from xstilts.loading import load_examples

    fake = FakeLoad({"premise": ["Il pleut.", "Il fait beau."], "hypothesis": ["Il fait sec.", "Le ciel est bleu."],
                     "label": [2, 0]})
    monkeypatch.setattr(datasets, "load_dataset", fake)
    got = load_examples(TaskSpec(task="xnli"), "dev", "fr")
    assert fake.calls == [("facebook/xnli", "fr", "validation")]
    assert got == [PairExample("0", "Il pleut.", "Il fait sec.", CON),
                   PairExample("1", "Il fait beau.", "Le ciel est bleu.", ENT)]


def test_hub_not_used_when_local_folder_exists(empty_cache, monkeypatch):
    import datasets

    from xstilts.config import TaskSpec
    from xstilts.loading import load_examples, task_data_dir

    def boom(*a, **k):
        raise AssertionError("the hub must not be asked when local files exist")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    spec = TaskSpec(task="pawsx")
    write_pawsx(task_data_dir(spec))
    assert load_examples(spec, "test", "de") == [PairExample("11", "Test eins", "Test zwei", 0)]


def test_hub_failure_is_missing_data(empty_cache, monkeypatch):
    import datasets

    from xstilts.config import TaskSpec
    from xstilts.loading import load_examples

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    assert_raises_at(MissingDataError, lambda: load_examples(TaskSpec(task="pawsx"), "test", "de"),
                     "google-research-datasets/paws-x", "ConnectionError")


def test_missing_configured_data_dir_does_not_fall_back_to_hub(empty_cache, monkeypatch, tmp_path):
    import datasets

    from xstilts.config import TaskSpec
    from xstilts.loading import load_examples

    def boom(*a, **k):
        raise AssertionError("the hub must not be asked when data_dir is set")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    spec = TaskSpec(task="pawsx", data_dir=tmp_path / "nowhere")
    assert_raises_at(MissingDataError, lambda: load_examples(spec, "test", "de"), "nowhere")
