"""``xstilts official-eval`` (:mod:`xstilts.xtreme.official`) against XTREME's official ``evaluate.py``.

Seeded random prediction and gold folders in the official layout (:mod:`xstilts.xtreme.submissions`) were scored by
the real google-research/xtreme ``evaluate.py`` (commit da430dd, its command line, with the SQuAD v1.1, MLQA and
Mewsli-X scorers it calls); ``scripts/check_official_eval.py`` recorded its ``--output_file`` JSON, exit status and
error in ``tests/data/official_eval_golden.json``. Here the same folders are rebuilt (their SHA-256 must match the
record) and every per-language score, average, group score and ``all_task`` of ``xstilts official-eval`` must equal the
recorded official number to 1e-9. The same holds for SQuAD v2.0 (``evaluate-v2.0.py``) and for Tatoeba and BUCC
scored from embeddings (XTREME's ``utils_retrieve.py`` with faiss). Hand-computed cases, the error messages and the
CLI come after.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xstilts.cli import app
from xstilts.errors import DataFormatError, XstiltsError
from xstilts.xtreme.official import (GROUP2TASK, TASK2LANGS, evaluate, format_report, official_json, read_tag,
                                   score_file)
from xstilts.xtreme.submissions import (CASES, RETRIEVAL_SEEDS, SQUAD_V2_KEYS, SQUAD_V2_SEEDS, _write, build_case,
                                          compare, digest, lareqa_case, retrieval_case, squad_v2_lists,
                                          write_squad_v2)

TOL = 1e-9


GOLDEN_FILE = Path(__file__).parent / "data" / "official_eval_golden.json"
GOLDEN = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
RECORD = "re-record with: python scripts/check_official_eval.py --xtreme <google-research/xtreme> --write-golden " \
         "tests/data/official_eval_golden.json"


def official(name: str) -> dict:
    """What the real evaluate.py wrote (``output``), its exit status and last error line, for case *name*."""
    return GOLDEN["cases"][name]


def build(tmp_path: Path, name: str) -> tuple[Path, Path]:
    pred, label = build_case(tmp_path / name, name)
    assert digest(pred, label) == official(name)["digest"], f"case {name} no longer has the recorded bytes; {RECORD}"
    return pred, label


def assert_official(ours: dict, name: str, count: int | None = None) -> None:
    n, worst, problems = compare(ours, official(name)["output"], TOL)
    assert not problems, problems[:10]
    if count is not None:
        assert n == count


def test_golden_was_recorded_with_this_seqeval():
    from importlib.metadata import version

    # UD-POS and PAN-X go through seqeval, as in evaluate.py; another seqeval release could change them
    assert version("seqeval") == GOLDEN["seqeval"], f"seqeval {version('seqeval')} installed, golden has " \
                                                    f"{GOLDEN['seqeval']}; {RECORD}"


def test_compare_catches_differences():
    ref = {"qa": 50.0, "xnli": {"accuracy": {"de": 50.0}, "avg_accuracy": 50.0, "avg_metric": 50.0}}
    assert compare(ref, ref)[::2] == (4, [])
    off = json.loads(json.dumps(ref))
    off["xnli"]["accuracy"]["de"] = 50.0 + 2e-9
    n, worst, problems = compare(ref, off)
    assert problems == [f"xnli.accuracy.de: ours 50.0, official {50.0 + 2e-9!r}"] and worst == pytest.approx(2e-9)
    assert compare({"xnli": ref["xnli"]}, ref)[2] == ["key order: ours ['xnli'], official ['qa', 'xnli']",
                                                      "qa: missing from ours"]


# =====================================================================================================================
# equality with the real evaluate.py (outputs recorded in tests/data/official_eval_golden.json)
# =====================================================================================================================
def test_tables_match_the_official_and_benchmark():
    from xstilts.xtreme.benchmark import XTREME_LANGUAGES, XTREME_R_LANGUAGES

    for v in ("xtreme", "xtreme-r"):
        assert {t: list(x) for t, x in TASK2LANGS[v].items()} == GOLDEN["tables"][v]["task2langs"]
        assert list(TASK2LANGS[v]) == list(GOLDEN["tables"][v]["task2langs"])
        assert {g: list(x) for g, x in GROUP2TASK[v].items()} == GOLDEN["tables"][v]["group2task"]
    assert dict(XTREME_LANGUAGES) == TASK2LANGS["xtreme"]
    assert {t: x for t, x in XTREME_R_LANGUAGES.items() if t != "lareqa"} == \
        {t: x for t, x in TASK2LANGS["xtreme-r"].items() if t != "lareqa"}
    assert set(GOLDEN["cases"]) == set(CASES)


@pytest.mark.parametrize("name", ["xtreme-s0", "xtreme-s1"])
def test_xtreme_equals_official(tmp_path, name):
    pred, label = build(tmp_path, name)
    res = evaluate(pred, label, "xtreme")
    assert official(name)["returncode"] == 0
    # 162 languages: accuracy 1 number, tagging/BUCC 3, QA 2; the averages; 5 group scores with all_task
    assert_official(official_json(res), name, count=375)
    assert set(res["overall"]) == {"all_task", "classification", "tagging", "qa", "retrieval"}


def test_xtreme_r_equals_official(tmp_path):
    pred, label = build(tmp_path, "xtreme-r-s3")
    tasks_r = [t for t in TASK2LANGS["xtreme-r"] if t != "lareqa"]
    res = evaluate(pred, label, "xtreme-r")
    assert list(res["tasks"]) == tasks_r
    # evaluate.py itself fails on this folder: Mewsli-X has no avg_metric, so the retrieval group adds a float and {}
    assert official("xtreme-r-s3")["output"] is None
    assert official("xtreme-r-s3")["error"].startswith("TypeError: unsupported operand type(s) for +: 'float' and")
    # ... so it was also run on the same files without Mewsli-X, and on Mewsli-X alone
    no_mx, mx = official("xtreme-r-s3-no-mewslix")["output"], official("xtreme-r-s3-mewslix")["output"]
    assert list(no_mx) == ["classification", "tagging", "qa", "multi_choice"] + [t for t in tasks_r if t != "mewslix"]
    ours = official_json(res)
    assert not compare({k: v for k, v in ours.items() if k not in ("retrieval", "mewslix")}, no_mx, TOL)[2]
    assert not compare({"mewslix": ours["mewslix"]}, mx, TOL)[2]
    assert res["tasks"]["mewslix"]["avg_metric"] == res["tasks"]["mewslix"]["avg_map@20"]
    expected_retrieval = (res["tasks"]["tatoeba"]["avg_metric"] + res["tasks"]["mewslix"]["avg_map@20"]) / 2
    assert res["overall"]["retrieval"] == expected_retrieval
    assert "all_task" not in res["overall"]
    assert any("lareqa" in n and "all_task" in n for n in res["notes"])


@pytest.mark.parametrize("name", ["xtreme-r-s3-no-mewslix", "xtreme-r-s3-mewslix", "xtreme-r-s11", "xtreme-s11",
                                  "xtreme-s13"])
def test_subsets_equal_official(tmp_path, name):
    pred, label = build(tmp_path, name)
    assert_official(official_json(evaluate(pred, label, CASES[name]["version"])), name)


def test_xtreme_r_lareqa_folder_is_skipped(tmp_path):
    pred, label = build(tmp_path, "xtreme-r-s5-lareqa")
    res = evaluate(pred, label, "xtreme-r")
    assert list(res["tasks"]) == ["xnli"]
    assert any(n.startswith("lareqa: evaluate.py lists no languages") for n in res["notes"])
    off = official("xtreme-r-s5-lareqa")
    assert off["output"]["lareqa"] == {}  # evaluate.py "scores" it as nothing, and then crashes printing it
    assert off["returncode"] == 1 and off["error"] == "TypeError: must be real number, not dict"
    assert_official(official_json(res), "xtreme-r-s5-lareqa")


def test_partial_submission_scores_present_tasks_only(tmp_path):
    pred, label = build(tmp_path, "xtreme-s7-partial")
    res = evaluate(pred, label)
    assert list(res["tasks"]) == ["pawsx", "xnli", "mlqa"]
    assert list(res["overall"]) == ["classification"]
    assert_official(official_json(res), "xtreme-s7-partial")
    assert any(n.startswith("udpos: labels but no predictions") for n in res["notes"])


# =====================================================================================================================
# hand-computed cases
# =====================================================================================================================
def _put(root: Path, task: str, lang: str, ext: str, text: str) -> Path:
    p = root / task / f"test-{lang}.{ext}"
    _write(p, text)
    return p


def test_hand_accuracy_bucc_and_tags(tmp_path):
    p, g = tmp_path / "p", tmp_path / "g"
    # accuracy: 3 of 4, labels stripped, \r\n and \r line ends
    assert score_file("xnli", _put(p, "xnli", "de", "tsv", " neutral\r\nentailment \rneutral\nneutral\n"),
                      _put(g, "xnli", "de", "tsv", "neutral\nentailment\nneutral\ncontradiction\n"), "de") == \
        {"accuracy": 75.0}
    # BUCC: gold {a, b, c}, predicted {a, b, d} (d twice): P = R = F1 = 2/3
    s = score_file("bucc2018", _put(p, "bucc2018", "de", "tsv", "a\tx\nb\ty\nd\tz\nd\tz\n"),
                   _put(g, "bucc2018", "de", "tsv", "a\tx\nb\ty\nc\tw\n"), "de")
    assert s == pytest.approx({"f1": 200 / 3, "precision": 200 / 3, "recall": 200 / 3}, abs=TOL)
    assert score_file("bucc2018", _put(p, "bucc2018", "fr", "tsv", ""),
                      _put(g, "bucc2018", "fr", "tsv", "a\tx\n"), "fr") == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    # NER, conlleval-style: an I-LOC after O starts a LOC entity, so [B-PER I-PER O I-LOC] matches both gold entities
    gold_ner = "B-PER\nI-PER\nO\nB-LOC\n\nO\nB-ORG\n"
    assert score_file("panx", _put(p, "panx", "de", "tsv", "B-PER\nI-PER\nO\nI-LOC\n\nO\nB-ORG\n"),
                      _put(g, "panx", "de", "tsv", gold_ner), "de")["f1"] == 100.0
    # predicted entities: PER(0-1) correct, PER(5) wrong: P = 1/2, R = 1/3, F1 = 2/5
    s = score_file("panx", _put(p, "panx", "fr", "tsv", "I-PER\nI-PER\nO\nO\n\nO\nB-PER\n"),
                   _put(g, "panx", "fr", "tsv", gold_ner), "fr")
    assert s == pytest.approx({"f1": 40.0, "precision": 50.0, "recall": 100 / 3}, abs=TOL)
    # UD-POS through seqeval: NOUN NOUN is one chunk; getting one of them wrong loses it
    s = score_file("udpos", _put(p, "udpos", "de", "tsv", "NOUN\nVERB\nDET\n"),
                   _put(g, "udpos", "de", "tsv", "NOUN\nNOUN\nDET\n"), "de")
    # gold chunks: NOUN(0-1), DET(2); predicted NOUN(0), VERB(1), DET(2): 1 correct, P = 1/3, R = 1/2
    assert s == pytest.approx({"f1": 40.0, "precision": 100 / 3, "recall": 50.0}, abs=TOL)


def test_hand_qa_and_mewslix(tmp_path):
    p, g = tmp_path / "p", tmp_path / "g"
    gold = {"version": "1.1", "data": [{"paragraphs": [{"qas": [
        {"id": "1", "answers": [{"text": "Denver Broncos"}, {"text": "the Broncos"}]},
        {"id": "2", "answers": [{"text": "cat"}]},
        {"id": "3", "answers": [{"text": "The"}]},
        {"id": "4", "answers": [{"text": "big red dog"}]}]}]}]}
    preds = {"1": "the Denver Broncos.", "3": "", "4": "red dog"}
    # q1 EM 1 F1 1; q2 unanswered: 0 0; q3 "" vs "The" (normalises to ""): EM 1, F1 0; q4 EM 0, F1 2*(1*2/3)/(5/3) = 0.8
    s = score_file("xquad", _put(p, "xquad", "en", "json", json.dumps(preds)),
                   _put(g, "xquad", "en", "json", json.dumps(gold)), "en")
    assert s == pytest.approx({"exact_match": 50.0, "f1": 100 * 1.8 / 4}, abs=TOL)
    # MLQA zh: mixed segmentation, each CJK character a token; 北京大学 vs 北京: P 2/4, R 1, F1 2/3; «» are punctuation
    gold_zh = {"data": [{"paragraphs": [{"qas": [{"id": "a", "answers": [{"text": "北京"}]},
                                                 {"id": "b", "answers": [{"text": "«abc» def"}]}]}]}]}
    s = score_file("mlqa", _put(p, "mlqa", "zh", "json", json.dumps({"a": "北京大学", "b": "abc def。"})),
                   _put(g, "mlqa", "zh", "json", json.dumps(gold_zh)), "zh")
    assert s == pytest.approx({"exact_match": 50.0, "f1": 100 * (2 / 3 + 1) / 2}, abs=TOL)
    # Mewsli-X: gold at rank 2 -> 1/2, at rank 21 -> 0, missing -> 0, gold stripped: rank 1 -> 1
    gold_mx = {"e1": ["Q1"], "e2": ["Q2"], "e3": ["Q3"], "e4": [" Q4 "]}
    preds_mx = {"e1": ["Q9", "Q1"], "e2": [f"Q{100 + i}" for i in range(20)] + ["Q2"], "e4": ["Q4"]}
    s = score_file("mewslix", _put(p, "mewslix", "en", "json", json.dumps(preds_mx)),
                   _put(g, "mewslix", "en", "json", json.dumps(gold_mx)), "en")
    assert s == pytest.approx({"map@20": 100 * 1.5 / 4}, abs=TOL)


def test_hand_averages_and_groups(tmp_path):
    p, g = tmp_path / "p", tmp_path / "g"
    for lang in TASK2LANGS["xtreme"]["xnli"]:
        _put(p, "xnli", lang, "tsv", "neutral\n")
        _put(g, "xnli", lang, "tsv", "neutral\n")
    for k, lang in enumerate(TASK2LANGS["xtreme"]["pawsx"]):  # 7 languages: 4 right, 3 wrong
        _put(p, "pawsx", lang, "tsv", "1\n" if k < 4 else "0\n")
        _put(g, "pawsx", lang, "tsv", "1\n")
    gold = {"data": [{"paragraphs": [{"qas": [{"id": "1", "answers": [{"text": "x b"}]}]}]}]}
    for lang in TASK2LANGS["xtreme"]["tydiqa"]:  # EM 0, F1 2*(1*1/2)/(3/2) = 2/3 everywhere
        _put(p, "tydiqa", lang, "json", json.dumps({"1": "b"}))
        _put(g, "tydiqa", lang, "json", json.dumps(gold))
    res = evaluate(p, g)
    assert res["tasks"]["xnli"]["avg_metric"] == 100.0
    assert res["tasks"]["pawsx"]["avg_accuracy"] == pytest.approx(400 / 7, abs=TOL)
    assert res["overall"] == pytest.approx({"classification": (100 + 400 / 7) / 2}, abs=TOL)
    ty = res["tasks"]["tydiqa"]
    assert ty["avg_exact_match"] == 0.0 and ty["avg_f1"] == pytest.approx(200 / 3, abs=TOL)
    assert ty["avg_metric"] == pytest.approx(100 / 3, abs=TOL)  # (EM + F1) / 2
    report = format_report(res)
    assert "====== tydiqa ======" in report and "metric: 33.33" in report and "classification: 78.57" in report


def test_read_tag_blank_lines(tmp_path):
    f = tmp_path / "t.tsv"
    _write(f, "\nA\n B \n\n\nC\r\n")
    # a leading blank line and a double blank line make empty sentences, as in evaluate.py
    assert read_tag(f) == ([[], ["A", "B"], [], ["C"]], [1, 2, 5, 6])


# =====================================================================================================================
# bad input: one-line errors naming the file and line
# =====================================================================================================================
def _minimal(tmp_path: Path, task="xnli", lang_text=("neutral\n", "neutral\n")) -> tuple[Path, Path]:
    p, g = tmp_path / "p", tmp_path / "g"
    ext = {"xquad": "json", "mlqa": "json", "tydiqa": "json"}.get(task, "tsv")
    for lang in TASK2LANGS["xtreme"][task]:
        _put(p, task, lang, ext, lang_text[0])
        _put(g, task, lang, ext, lang_text[1])
    return p, g


def test_errors(tmp_path):
    p, g = _minimal(tmp_path)
    with pytest.raises(XstiltsError, match="not a folder"):
        evaluate(tmp_path / "nope", g)
    with pytest.raises(XstiltsError, match="xtreme or xtreme-r|expected one of"):
        evaluate(p, g, "xtreme-s")
    with pytest.raises(XstiltsError, match="nothing to score"):
        evaluate(tmp_path, tmp_path)
    (p / "xnli" / "test-ar.tsv").write_text("neutral\nneutral\n")
    with pytest.raises(DataFormatError, match=r"p/xnli/test-ar\.tsv:2: 2 lines, but the label file .* has 1"):
        evaluate(p, g)
    (p / "xnli" / "test-ar.tsv").unlink()
    with pytest.raises(XstiltsError, match=r"test-ar\.tsv: not found; evaluate.py scores xnli on all of"):
        evaluate(p, g)
    (p / "xnli" / "test-ar.tsv").write_bytes(b"neutral\n\xff\n")
    with pytest.raises(DataFormatError, match=r"test-ar\.tsv:2: invalid UTF-8"):
        evaluate(p, g)


def test_errors_tags_and_json(tmp_path):
    p, g = tmp_path / "p", tmp_path / "g"
    lf = _put(g, "panx", "de", "tsv", "O\nB-PER\n\nO\nO\nO\n")
    with pytest.raises(DataFormatError, match=r"test-de\.tsv:4: sentence 2 has 2 tags, but sentence 2 of .* \(line 4\)"
                                              r" has 3"):
        score_file("panx", _put(p, "panx", "de", "tsv", "O\nB-PER\n\nO\nO\n"), lf, "de")
    with pytest.raises(DataFormatError, match=r"test-de\.tsv:8: 3 sentences, but the label file .* has 2"):
        score_file("panx", _put(p, "panx", "de", "tsv", "O\nB-PER\n\nO\nO\nO\n\nO\n"), lf, "de")
    gold = _put(g, "xquad", "en", "json", json.dumps({"data": [{"paragraphs": [{"qas": [
        {"id": "1", "answers": [{"text": "x"}]}]}]}]}))
    with pytest.raises(DataFormatError, match=r"test-en\.json:2: invalid JSON"):
        score_file("xquad", _put(p, "xquad", "en", "json", '{"1": "x",\n oops}'), gold, "en")
    with pytest.raises(DataFormatError, match=r"question '1': expected an answer string"):
        score_file("xquad", _put(p, "xquad", "en", "json", '{"1": ["x"]}'), gold, "en")
    with pytest.raises(DataFormatError, match="expected a JSON object"):
        score_file("xquad", _put(p, "xquad", "en", "json", '[["1", "x"]]'), gold, "en")
    with pytest.raises(DataFormatError, match="SQuAD v1.1 format"):
        score_file("xquad", _put(p, "xquad", "de", "json", '{"1": "x"}'), _put(g, "xquad", "de", "json", '{"1": "x"}'),
                   "de")
    with pytest.raises(DataFormatError, match=r"test-et\.jsonl:2: invalid JSON"):
        score_file("xcopa", _put(p, "xcopa", "et", "jsonl", '{"label": 1}\n\n'),
                   _put(g, "xcopa", "et", "jsonl", '{"label": 1}\n{"label": 0}\n'), "et")


# =====================================================================================================================
# the command line, and xstilts' own submission export
# =====================================================================================================================
def test_cli_json_out_and_report(tmp_path):
    pred, label = build(tmp_path, "xtreme-s11")
    out = tmp_path / "scores.json"
    res = CliRunner().invoke(app, ["official-eval", "--prediction_folder", str(pred), "--label_folder", str(label),
                                   "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    assert printed == json.loads(out.read_text()) == official_json(evaluate(pred, label))
    assert_official(printed, "xtreme-s11")
    # XTREME-R scores udpos on 5 more languages: the XTREME folder lacks them
    res = CliRunner().invoke(app, ["official-eval", "--prediction_folder", str(pred), "--label_folder", str(label),
                                   "--xtreme_version", "xtreme-r"])
    assert res.exit_code == 2 and "udpos/test-lt.tsv: not found" in res.stderr
    pred, label = build(tmp_path, "xtreme-r-s11")
    res = CliRunner().invoke(app, ["official-eval", "--prediction-folder", str(pred), "--label-folder", str(label),
                                   "--xtreme-version", "xtreme-r", "--out", str(tmp_path / "report.txt")])
    assert res.exit_code == 0, res.output
    assert "====== udpos ======" in res.stdout and "note: all_task: not available" in res.stdout
    assert (tmp_path / "report.txt").read_text().startswith("Evaluating on xtreme-r")


def test_cli_malformed_file_exits_2_with_one_line(tmp_path):
    p, g = _minimal(tmp_path, "tydiqa", ('{"1": "x"}', '{"data": [{"paragraphs": [{"qas": [{"id": "1", '
                                                       '"answers": [{"text": "x"}]}]}]}]}'))
    (p / "tydiqa" / "test-ko.json").write_text('{"1": "x"')
    res = CliRunner().invoke(app, ["official-eval", "--prediction_folder", str(p), "--label_folder", str(g)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "test-ko.json:1: invalid JSON" in lines[0]
    assert res.stdout == ""
    res = CliRunner().invoke(app, ["official-eval", "--prediction_folder", str(tmp_path / "missing"), "--label_folder",
                                   str(g)])
    assert res.exit_code == 2 and "not a folder" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_export_submission_is_readable(tmp_path):
    from xstilts.xtreme.benchmark import export_submission

    pred, label = build(tmp_path, "xtreme-s13")
    phases = []
    for task in ("xnli", "panx", "tydiqa"):  # phase folders as the pipeline writes them
        phase = tmp_path / "run" / "phases" / f"target-{task}"
        for f in (pred / task).iterdir():
            _write(phase / "predictions" / task / f.name, f.read_text(encoding="utf-8"))
        (phase / "metrics.json").write_text(json.dumps({"task": task, "languages": {}}))
        phases.append(phase)
    man = export_submission(phases, tmp_path / "submission")
    assert not man["missing_languages"] and not man["warnings"]
    ours = evaluate(tmp_path / "submission", label)
    assert_official(official_json(ours), "xtreme-s13")


def test_metric_helpers_for_unanswered_questions_and_bucc_sets():
    from xstilts.metrics.qa import mlqa_scores, squad_v1_scores
    from xstilts.metrics.retrieval import bucc_prf

    # None = no entry in the prediction file: counted, scores 0 (an empty answer would get EM 1 against "The")
    assert squad_v1_scores([None, ""], [["x"], ["The"]]) == {"exact_match": 50.0, "f1": 0.0}
    assert squad_v1_scores([None], [[]]) == {"exact_match": 0.0, "f1": 0.0}  # its gold answers are never read
    assert mlqa_scores([None, "北京"], [["北京"], ["北京"]], "zh") == {"exact_match": 50.0, "f1": 50.0}
    assert bucc_prf([("a", "x"), ("b", "y")], [("a", "x"), ("a", "x"), ("c", "z")]) == \
        {"f1": 50.0, "precision": 50.0, "recall": 50.0}


@pytest.mark.parametrize("seed", SQUAD_V2_SEEDS)
def test_squad_v2_equals_official(tmp_path, seed):
    """SQuAD v2.0 (an intermediate task) against the official ``evaluate-v2.0.py`` run on the same files."""
    from xstilts.metrics.qa import squad_v2_scores

    rec = GOLDEN["squad_v2"][str(seed)]
    data_file, pred_file = write_squad_v2(tmp_path, seed)
    assert digest(tmp_path) == rec["digest"], RECORD
    preds, golds = squad_v2_lists(data_file, pred_file)
    ours = squad_v2_scores(preds, golds)
    ours["total"] = len(golds)
    out = rec["output"]
    assert out["NoAns_total"] >= 10 and out["HasAns_total"] >= 20 and out["exact"] < out["f1"]
    for key, value in rec["output"].items():
        assert ours[SQUAD_V2_KEYS[key] or "total"] == pytest.approx(value, abs=TOL), key


@pytest.mark.parametrize("seed", RETRIEVAL_SEEDS)
def test_tatoeba_and_bucc_equal_xtreme_utils_retrieve(seed):
    """Tatoeba predictions and BUCC candidates, threshold and scores from the same random embeddings as XTREME's
    ``similarity_search``, ``mine_bitext`` and ``bucc_eval`` (faiss) gave (recorded by check_official_eval.py)."""
    import torch

    from xstilts.metrics import bucc_optimize, bucc_scores, tatoeba_accuracy
    from xstilts.tasks.families.retrieval import ParallelData, bucc_candidates

    rec = GOLDEN["retrieval"][str(seed)]
    c = retrieval_case(seed)
    acc, pred = tatoeba_accuracy(torch.from_numpy(c["tatoeba_src"]), torch.from_numpy(c["tatoeba_tgt"]))
    assert pred == rec["tatoeba_predictions"] and acc == pytest.approx(rec["tatoeba_accuracy"], abs=TOL)
    data = ParallelData(c["src_ids"], c["src_texts"], c["tgt_ids"], c["tgt_texts"], c["gold"])
    cands = bucc_candidates(data, torch.from_numpy(c["bucc_src"]), torch.from_numpy(c["bucc_tgt"]), k=4)
    official = {(a, b): v for a, b, v in rec["bucc_candidates"]}
    assert set(cands) == set(official)  # a repeated sentence (one of them in a gold pair) never makes a candidate
    assert all(abs(cands[k] - v) < 1e-5 for k, v in official.items())  # faiss vs torch float32 sums
    threshold = bucc_optimize(cands, c["gold"])
    assert threshold == pytest.approx(rec["bucc"]["best-threshold"], abs=1e-5)
    s = bucc_scores(cands, c["gold"], threshold)
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx(
        (rec["bucc"]["precision"], rec["bucc"]["recall"], rec["bucc"]["F1"]), abs=TOL)
    assert 0 < s["f1"] < 100


@pytest.mark.parametrize("seed", RETRIEVAL_SEEDS)
def test_lareqa_map20_equals_xtreme_utils_lareqa(seed):
    """mAP@20 from the same encodings as XTREME's ``mean_avg_prec_at_k`` ranking (dot product of normalised
    encodings) and ``average_precision_at_k`` gave."""
    import torch

    from xstilts.metrics.ranking import mean_avg_prec_at_k, rank_by_cosine

    c = lareqa_case(seed)
    _, idx = rank_by_cosine(torch.from_numpy(c["questions"]), torch.from_numpy(c["candidates"]), 20, device="cpu")
    ours = mean_avg_prec_at_k(c["relevant"], idx.tolist(), 20)
    assert ours == pytest.approx(GOLDEN["retrieval"][str(seed)]["lareqa_map20"], abs=TOL)
    assert 5 < ours < 95


def test_the_old_command_name_says_where_it_went():
    res = CliRunner().invoke(app, ["evaluate", "--prediction_folder", "p", "--label_folder", "l"])
    assert res.exit_code == 2 and "xstilts official-eval" in res.output
