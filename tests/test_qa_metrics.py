"""QA metrics against the official scripts' definitions, on hand-made cases with hand-computed values.

References: SQuAD ``evaluate-v1.1.py`` and ``evaluate-v2.0.py``; MLQA ``mlqa_evaluation_v1.py`` (XTREME
``third_party/evaluate_squad.py`` / ``evaluate_mlqa.py``).
"""

from __future__ import annotations

import string

import pytest

from xstilts.metrics.qa import (mixed_segmentation, mlqa_exact_match, mlqa_f1, mlqa_normalize_answer,
                                mlqa_punctuation, mlqa_scores, normalize_answer, qa_scores, squad_exact_match,
                                squad_f1, squad_v1_scores, squad_v2_exact, squad_v2_f1, squad_v2_scores)

approx = pytest.approx


# ------------------------------------------------------------------------------------------------ SQuAD v1.1
def test_squad_normalize():
    assert normalize_answer("The Cat, a Dog!") == "cat dog"
    assert normalize_answer("  an   apple\tpie ") == "apple pie"
    # articles only as whole words
    assert normalize_answer("Another theater") == "another theater"
    # string.punctuation only: guillemets, the ideographic full stop and '¿' are kept
    assert normalize_answer("«Paris»。") == "«paris»。"
    assert normalize_answer("¿Dónde?") == "¿dónde"
    assert normalize_answer("U.S.-born") == "usborn"


def test_squad_v1_em_f1_hand():
    # pred tokens [cat, sat], gold [cat, sat, down]: P = 1, R = 2/3, F1 = 2PR/(P+R) = 0.8
    assert squad_f1("the cat sat", "a cat sat down") == approx(0.8)
    assert not squad_exact_match("the cat sat", "a cat sat down")
    assert squad_exact_match("The Denver Broncos.", "denver broncos")
    # repeated tokens count with multiplicity: pred [a1 x2], gold [a1 x1] -> common 1, P 1/2, R 1 -> 2/3
    assert squad_f1("w1 w1", "w1") == approx(2 / 3)
    # empty answers: EM compares normalised strings, F1 is 0 when no token is shared (v1.1 has no special case)
    assert squad_exact_match("", "")
    assert squad_exact_match("The", "")
    assert squad_f1("", "") == 0.0
    assert squad_f1("", "cat") == 0.0
    # unicode punctuation is not removed by SQuAD v1.1
    assert not squad_exact_match("«Paris»", "Paris")
    assert squad_f1("«Paris» France", "Paris France") == approx(0.5)  # tokens [«paris», france] vs [paris, france]


def test_squad_v1_max_over_golds_and_average():
    preds = ["Denver Broncos", "cat"]
    golds = [["Broncos", "Denver Broncos", "the Denver Broncos"], ["dog", "cat dog"]]
    # q1: EM 1, F1 1; q2: EM 0, F1 max(0, 2*(1*1/2)/(1+1/2)) = 2/3
    out = squad_v1_scores(preds, golds)
    assert out["exact_match"] == approx(100 * (1 + 0) / 2)
    assert out["f1"] == approx(100 * (1 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="no gold answers"):
        squad_v1_scores(["x"], [[]])
    with pytest.raises(ValueError, match="2 predictions for 1"):
        squad_v1_scores(["x", "y"], [["x"]])
    s = qa_scores("squad_v1", preds, golds)
    assert s["em_f1_mean"] == approx((s["exact_match"] + s["f1"]) / 2)


# ------------------------------------------------------------------------------------------------ SQuAD v2.0
def test_squad_v2_null_answers():
    assert squad_v2_f1("", "") == 1.0  # both empty -> 1
    assert squad_v2_f1("", "cat") == 0.0  # one empty -> 0
    assert squad_v2_f1("cat", "") == 0.0
    assert squad_v2_f1("the", "") == 1.0  # "the" normalises to no tokens
    assert squad_v2_exact("", "") == 1 and squad_v2_exact("", "a") == 1 and squad_v2_exact("cat", "") == 0
    assert squad_v2_f1("a cat sat down", "the cat sat") == approx(0.8)


def test_squad_v2_scores_hand():
    preds = ["", "cat", "cat", "cat", ""]
    golds = [[], [], ["cat dog"], ["a", "Cat"], ["the"]]
    # q1 no answer, predicted none: 1/1; q2 no answer, predicted "cat": 0/0
    # q3: EM 0, F1 2/3; q4: "a" normalises to "" and is dropped, gold ["Cat"]: 1/1
    # q5 has an answer ("the") that normalises to "", so the gold becomes [""] and "" scores 1/1 (counted in HasAns)
    out = squad_v2_scores(preds, golds)
    assert out["exact_match"] == approx(100 * (1 + 0 + 0 + 1 + 1) / 5)
    assert out["f1"] == approx(100 * (1 + 0 + 2 / 3 + 1 + 1) / 5)
    assert out["has_ans_total"] == 3 and out["no_ans_total"] == 2
    assert out["has_ans_exact_match"] == approx(100 * 2 / 3)
    assert out["has_ans_f1"] == approx(100 * (2 / 3 + 1 + 1) / 3)
    assert out["no_ans_exact_match"] == approx(50.0) and out["no_ans_f1"] == approx(50.0)
    only_has = squad_v2_scores(["cat"], [["cat"]])
    assert "no_ans_total" not in only_has and only_has["has_ans_f1"] == 100.0


# ------------------------------------------------------------------------------------------------------ MLQA
def test_mlqa_punctuation_set():
    punct = mlqa_punctuation()
    assert set(string.punctuation) <= punct
    for ch in "«»。¿¡、，！？।“”—":
        assert ch in punct, ch
    for ch in "aé北ال1 \t€×":  # letters, digits, whitespace and symbols of category S* are not
        assert ch not in punct, ch
    assert "$" in punct and "+" in punct  # via string.punctuation, although their Unicode category is S*


def test_mlqa_normalize_per_language():
    assert mlqa_normalize_answer("The Beatles.", "en") == "beatles"
    assert mlqa_normalize_answer("«Paris»", "en") == "paris"
    # es: '¿' '«' '»' removed, then the article el
    assert mlqa_normalize_answer("¿Dónde está «el» Museo?", "es") == "dónde está museo"
    assert mlqa_normalize_answer("Unas casas y LOS perros", "es") == "casas y perros"
    assert mlqa_normalize_answer("Der Hund und einem Mann des Dorfes", "de") == "hund und mann dorfes"
    assert mlqa_normalize_answer("keiner dieser", "de") == "keiner dieser"  # whole words only
    assert mlqa_normalize_answer("Thủ đô của Việt Nam là Hà Nội", "vi") == "thủ đô việt nam hà nội"
    # ar: every 'ال' is replaced by a space, even inside a word ('مال' -> 'م')
    assert mlqa_normalize_answer("المدينة المنورة", "ar") == "مدينة منورة"
    assert mlqa_normalize_answer("مال", "ar") == "م"
    # hi: no articles ('the' stays); the danda '।' is punctuation
    assert mlqa_normalize_answer("The भारत की राजधानी।", "hi") == "the भारत की राजधानी"
    # zh: no articles, mixed segmentation after punctuation removal
    assert mlqa_normalize_answer("北京大学 is in 北京。", "zh") == "北 京 大 学 is in 北 京"
    assert mlqa_normalize_answer("iPhone手机", "zh") == "iphone 手 机"
    with pytest.raises(ValueError, match="no rules for language 'fr'"):
        mlqa_normalize_answer("le chat", "fr")


def test_mixed_segmentation_by_hand():
    # before punctuation removal, punctuation characters are tokens too
    assert mixed_segmentation("ab，cd 北x") == ["ab", "，", "cd", "北", "x"]
    assert mixed_segmentation("  ") == []
    assert mixed_segmentation("中文 text here") == ["中", "文", "text", "here"]


def test_mlqa_f1_em_hand():
    # zh: pred [北 京 大 学], gold [北 京 大 学 医 学 部]: common 4, P 1, R 4/7 -> F1 8/11
    assert mlqa_f1("北京大学", "北京大学医学部", "zh") == approx(8 / 11)
    # whitespace languages see one token each -> 0
    assert mlqa_f1("北京大学", "北京大学医学部", "en") == 0.0
    assert squad_f1("北京大学", "北京大学医学部") == 0.0
    # pred [iphone], gold [iphone 手 机]: P 1, R 1/3 -> 0.5
    assert mlqa_f1("iPhone", "iPhone手机", "zh") == approx(0.5)
    # de articles removed before F1: [katze] vs [katze mannes] -> 2/3
    assert mlqa_f1("die Katze", "Katze des Mannes", "de") == approx(2 / 3)
    assert mlqa_exact_match("«la casa»", "Casa", "es")
    # empty strings: EM 1, F1 0 (no special case in the MLQA script)
    assert mlqa_exact_match("", "", "en") and mlqa_f1("", "", "en") == 0.0


def test_mlqa_scores_average_and_max():
    preds = ["北京大学", "清华", "上海"]
    golds = [["北京大学医学部", "北京大学"], ["清华大学"], ["南京"]]
    # q1: EM 1 (second gold), F1 1; q2: [清 华] vs [清 华 大 学]: P 1, R 1/2 -> 2/3; q3: 海/京 differ, 上/南 differ -> 0
    out = mlqa_scores(preds, golds, "zh")
    assert out["exact_match"] == approx(100 / 3)
    assert out["f1"] == approx(100 * (1 + 2 / 3 + 0) / 3)
    assert qa_scores("mlqa_v1", preds, golds, "zh")["f1"] == approx(out["f1"])
    with pytest.raises(ValueError, match="needs the answer language"):
        qa_scores("mlqa_v1", preds, golds)
    with pytest.raises(ValueError, match="unknown QA evaluation script"):
        qa_scores("squad3", preds, golds)


def test_script_keys_name_scripts_not_tasks():
    """Every span-QA task names one of the official scripts; no script key is a task's name or alias."""
    from xstilts.metrics.qa import QA_SCRIPTS
    from xstilts.tasks import ALIASES, REGISTRY

    assert not set(QA_SCRIPTS) & (set(REGISTRY) | set(ALIASES))
    qa_tasks = [t for t in REGISTRY.values() if t.kind == "span_qa"]
    assert qa_tasks and all(t.extra["qa_metric"] in QA_SCRIPTS for t in qa_tasks)
    assert qa_scores("squad_v2.0", ["", "x"], [[], ["x"]])["exact_match"] == 100.0
    for old in ("mlqa", "squad_v2"):
        with pytest.raises(ValueError, match="unknown QA evaluation script"):
            qa_scores(old, ["x"], [["x"]], "en")
