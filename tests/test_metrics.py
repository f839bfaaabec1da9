"""Metric values against results computed by hand (XTREME evaluate.py / third_party/utils_retrieve.py semantics)."""

from __future__ import annotations

import math

import pytest
import torch

from xstilts.metrics import accuracy, bucc_optimize, bucc_scores, knn, l2_normalize, mean, mine_candidates, \
    tatoeba_accuracy


def assert_close(t: torch.Tensor, expected: list, atol: float = 1e-6) -> None:
    torch.testing.assert_close(t, torch.tensor(expected), atol=atol, rtol=0, check_dtype=False)


# -------------------------------------------------------------------------------------------------- accuracy
def test_accuracy_percentage():
    assert accuracy([0, 1, 2, 1], [0, 1, 1, 1]) == 75.0
    assert accuracy([1, 1, 1], [1, 1, 1]) == 100.0
    assert accuracy([0, 0], [1, 1]) == 0.0
    assert accuracy(["a", "b", "c"], ["a", "x", "y"]) == pytest.approx(100 / 3)


@pytest.mark.parametrize("pred, gold", [([0, 1], [0]), ([0], [0, 1]), ([], [0])])
def test_accuracy_length_mismatch(pred, gold):
    with pytest.raises(ValueError):
        accuracy(pred, gold)


def test_accuracy_empty():
    with pytest.raises(ValueError):
        accuracy([], [])


def test_mean():
    assert mean([70.0, 80.0, 90.0]) == 80.0
    assert math.isnan(mean([]))


# ------------------------------------------------------------------------------------------------------- knn
def test_knn_sorted_top_k():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[0.2, 0.9], [0.9, 0.1], [0.5, 0.5], [-1.0, 0.3]])
    sim, idx = knn(x, y, 2)
    # x0 . y = [0.2, 0.9, 0.5, -1.0] -> y1 (0.9), y2 (0.5); x1 . y = [0.9, 0.1, 0.5, 0.3] -> y0 (0.9), y2 (0.5)
    assert idx.tolist() == [[1, 2], [0, 2]]
    assert_close(sim, [[0.9, 0.5], [0.9, 0.5]])
    sim3, idx3 = knn(x, y, 3)
    assert idx3.tolist() == [[1, 2, 0], [0, 2, 3]]
    assert_close(sim3, [[0.9, 0.5, 0.2], [0.9, 0.5, 0.3]])


def test_knn_k_capped_at_database_size():
    x = torch.tensor([[1.0, 0.0]])
    y = torch.tensor([[0.1, 0.0], [0.7, 0.0], [0.4, 0.0]])
    sim, idx = knn(x, y, 10)
    assert tuple(idx.shape) == (1, 3) and tuple(sim.shape) == (1, 3)
    assert idx.tolist() == [[1, 2, 0]]
    assert_close(sim, [[0.7, 0.4, 0.1]])


def test_knn_k1_is_argmax_with_lowest_index_on_tie():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[0.0, 0.5], [0.8, 0.0], [0.8, 0.0], [0.0, 0.5]])
    sim, idx = knn(x, y, 1)
    assert idx.tolist() == [[1], [0]]
    assert_close(sim, [[0.8], [0.5]])


def test_knn_chunking_gives_same_result():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 5, generator=g), torch.randn(6, 5, generator=g)
    whole = knn(x, y, 3)
    chunked = knn(x, y, 3, chunk=2)
    assert torch.equal(whole[1], chunked[1])
    assert torch.allclose(whole[0], chunked[0])
    # and the values are the true top-3 inner products, row by row
    full = x @ y.T
    for i in range(7):
        assert whole[0][i].tolist() == pytest.approx(sorted(full[i].tolist(), reverse=True)[:3], abs=1e-6)


def test_l2_normalize():
    out = l2_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]], dtype=torch.float64))
    assert out.dtype == torch.float32
    assert_close(out, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]])


# --------------------------------------------------------------------------------------------- Tatoeba acc@1
def test_tatoeba_accuracy_two_of_four():
    src = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.9, 0.1, 0.0]])
    tgt = torch.tensor([[0.9, 0.0, 0.1], [0.1, 0.9, 0.0], [0.0, 0.2, 0.9], [0.0, 0.0, 1.0]])
    # src2 = e3: cos with tgt2 = 0.9 / sqrt(0.85) = 0.976, with tgt3 = 1.0 -> 3 (wrong)
    # src3: cos with tgt0 = 0.81 / 0.82 = 0.988, with tgt1 = 0.18 / 0.82 = 0.22, with tgt3 = 0 -> 0 (wrong)
    acc, pred = tatoeba_accuracy(src, tgt, "xx-en")
    assert pred == [0, 1, 3, 0]
    assert acc == 50.0


SRC4 = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.9, 0.0, 0.0, 0.1]])
TGT4 = torch.eye(4)


def test_tatoeba_accuracy_three_of_four():
    # src3 = (0.9, 0, 0, 0.1): cos with tgt0 = 0.994, with its translation tgt3 = 0.110 -> 0 (wrong)
    acc, pred = tatoeba_accuracy(SRC4, TGT4, "xx-en")
    assert pred == [0, 1, 2, 0]
    assert acc == 75.0


def test_tatoeba_accuracy_is_cosine_not_dot_product():
    tgt = TGT4.clone()
    tgt[3] *= 100.0  # by dot product src3 . tgt3 = 10 > 0.9 = src3 . tgt0, which would make src3 correct
    assert tatoeba_accuracy(SRC4, tgt, "xx-en") == (75.0, [0, 1, 2, 0])
    tgt = TGT4.clone()
    tgt[0] *= 0.01  # by dot product src3 . tgt0 = 0.009 < 0.1 = src3 . tgt3, which would make src3 correct
    tgt[1] *= 100.0
    src = SRC4.clone()
    src[1] *= 0.001
    assert tatoeba_accuracy(src, tgt, "xx-en") == (75.0, [0, 1, 2, 0])


def test_tatoeba_accuracy_tie_goes_to_lowest_index():
    src = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    tgt = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    # src0 -> tgt2 (wrong); src1: cos 1 with both tgt0 and tgt1 -> 0 (wrong, gold 1);
    # src2: cos 1/sqrt(2) with all three -> 0 (wrong, gold 2)
    acc, pred = tatoeba_accuracy(src, tgt, "xx-en")
    assert pred == [2, 0, 0]
    assert acc == 0.0
    # the same tie resolved in favour of the gold index when it is the lowest
    acc2, pred2 = tatoeba_accuracy(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[5.0, 0.0], [1.0, 0.0]]),
                                   "xx-en")
    assert pred2 == [0, 0] and acc2 == 50.0


def test_tatoeba_default_is_xtreme_en_to_xx():
    """XTREME's ``similarity_search(x=src, y=eng)`` indexes the source side and queries it with each English
    sentence; on SRC4/TGT4 that direction differs from xx -> en."""
    # English e0: cos with src0 = 1, with src3 = 0.9 / sqrt(0.82) = 0.994 -> 0 (right); e3: cos with src3 = 0.110,
    # with the others 0 -> 3 (right); e1, e2 -> 1, 2. All four right, where xx -> en got src3 wrong.
    assert tatoeba_accuracy(SRC4, TGT4) == (100.0, [0, 1, 2, 3])
    assert tatoeba_accuracy(SRC4, TGT4, "en-xx") == tatoeba_accuracy(TGT4, SRC4, "xx-en")
    src = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.9, 0.1, 0.0]])
    tgt = torch.tensor([[0.9, 0.0, 0.1], [0.1, 0.9, 0.0], [0.0, 0.2, 0.9], [0.0, 0.0, 1.0]])
    # e0 = (0.9, 0, 0.1): cos with src0 = 0.994, with src3 = 0.81 / 0.82 = 0.988 -> 0; e1 = (0.1, 0.9, 0): src1 0.994,
    # src3 0.18 / 0.82 = 0.22 -> 1; e2 = (0, 0.2, 0.9): src2 0.976 -> 2; e3 = (0, 0, 1): src2 1.0 -> 2 (wrong, gold 3)
    acc, pred = tatoeba_accuracy(src, tgt)
    assert pred == [0, 1, 2, 2] and acc == 75.0
    with pytest.raises(ValueError, match="direction"):
        tatoeba_accuracy(src, tgt, "en-en")


def test_tatoeba_accuracy_size_mismatch():
    with pytest.raises(ValueError):
        tatoeba_accuracy(torch.eye(3), torch.eye(2, 3))


# --------------------------------------------------------------------------------------- ratio-margin mining
def test_mine_candidates_ratio_margin_by_hand():
    # three source and three target unit vectors in 3-D
    x0, x1, x2 = (0.0, 1.0, 0.0), (0.8, 0.6, 0.0), (2 / 3, 1 / 3, 2 / 3)
    y0, y1, y2 = (0.0, 0.6, 0.8), (2 / 3, 2 / 3, 1 / 3), (2 / 3, 1 / 3, -2 / 3)

    # cosines, written out (all vectors have unit length)
    c00 = 0.0 * 0.0 + 1.0 * 0.6 + 0.0 * 0.8            # 0.6
    c01 = 0.0 * 2 / 3 + 1.0 * 2 / 3 + 0.0 * 1 / 3      # 2/3
    c02 = 0.0 * 2 / 3 + 1.0 * 1 / 3 + 0.0 * -2 / 3     # 1/3
    c10 = 0.8 * 0.0 + 0.6 * 0.6 + 0.0 * 0.8            # 0.36
    c11 = 0.8 * 2 / 3 + 0.6 * 2 / 3 + 0.0 * 1 / 3      # 14/15
    c12 = 0.8 * 2 / 3 + 0.6 * 1 / 3 + 0.0 * -2 / 3     # 11/15
    c20 = 2 / 3 * 0.0 + 1 / 3 * 0.6 + 2 / 3 * 0.8      # 11/15
    c21 = 2 / 3 * 2 / 3 + 1 / 3 * 2 / 3 + 2 / 3 * 1 / 3  # 8/9
    c22 = 2 / 3 * 2 / 3 + 1 / 3 * 1 / 3 + 2 / 3 * -2 / 3  # 1/9

    # k = 2 nearest-neighbour means
    # forward (each source over the targets): x0 {c01, c00}, x1 {c11, c12}, x2 {c21, c20}
    fx0 = (c01 + c00) / 2  # 19/30
    fx1 = (c11 + c12) / 2  # 5/6
    fx2 = (c21 + c20) / 2  # 73/90
    # backward (each target over the sources): y0 {c20, c00}, y1 {c11, c21}, y2 {c12, c02}
    by0 = (c20 + c00) / 2  # 2/3
    by1 = (c11 + c21) / 2  # 41/45
    by2 = (c12 + c02) / 2  # 8/15

    def margin(cos, fx, by):
        return cos / ((fx + by) / 2)

    # forward: best by margin among each source's 2 nearest targets
    m_x0y1, m_x0y0 = margin(c01, fx0, by1), margin(c00, fx0, by0)  # 0.8633, 0.9231
    m_x1y1, m_x1y2 = margin(c11, fx1, by1), margin(c12, fx1, by2)  # 1.0701, 1.0732
    m_x2y1, m_x2y0 = margin(c21, fx2, by1), margin(c20, fx2, by0)  # 1.0323, 0.9925
    assert m_x0y0 > m_x0y1 and m_x1y2 > m_x1y1 and m_x2y1 > m_x2y0  # margin overrules cosine for x0 and x1
    forward = [(0, 0, m_x0y0), (1, 2, m_x1y2), (2, 1, m_x2y1)]
    # backward: best by margin among each target's 2 nearest sources
    m_x0y2 = margin(c02, fx0, by2)  # 0.5714
    assert m_x2y0 > m_x0y0 and m_x1y1 > m_x2y1 and m_x1y2 > m_x0y2
    backward = [(2, 0, m_x2y0), (1, 1, m_x1y1), (1, 2, m_x1y2)]

    # 'max' retrieval: all 6 in decreasing score, skipping used sources/targets
    # (1,2) 1.0732 take | (1,2) again skip | (1,1) 1.0701 skip: x1 used | (2,1) 1.0323 take
    # (2,0) 0.9925 skip: x2 used | (0,0) 0.9231 take
    assert sorted(forward + backward, key=lambda c: -c[2])[2] == (1, 1, m_x1y1)
    expected = [(1, 2, m_x1y2), (2, 1, m_x2y1), (0, 0, m_x0y0)]
    assert m_x1y2 == pytest.approx(1.0731707317, abs=1e-9) and m_x0y0 == pytest.approx(12 / 13, abs=1e-9)

    src = torch.tensor([x0, x1, x2])
    tgt = torch.tensor([y0, y1, y2])
    got = mine_candidates(src, tgt, k=2)
    assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in expected]
    for (_, _, score), (_, _, want) in zip(got, expected):
        assert score == pytest.approx(want, abs=1e-6)

    # swapping the sides swaps forward and backward (the margin is symmetric): the same pairs, transposed, with the
    # same scores, so now the backward direction is where the margin overrules the cosine nearest neighbour
    got_swapped = mine_candidates(tgt, src, k=2)
    assert [(s, t) for s, t, _ in got_swapped] == [(t, s) for s, t, _ in expected]
    assert [v for _, _, v in got_swapped] == pytest.approx([v for _, _, v in expected], abs=1e-6)

    # unnormalised inputs give the same result (both sides are L2-normalised first)
    got_scaled = mine_candidates(src * torch.tensor([[3.0], [0.5], [10.0]]), tgt * 7.0, k=2)
    assert [(s, t) for s, t, _ in got_scaled] == [(s, t) for s, t, _ in expected]
    assert [v for _, _, v in got_scaled] == pytest.approx([v for _, _, v in expected], abs=1e-6)


def test_mine_candidates_k_larger_than_sides():
    # k is capped at the side sizes; with one target both directions give the pair (0, 0)
    src = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    tgt = torch.tensor([[0.8, 0.6]])
    got = mine_candidates(src, tgt, k=4)
    # cos(x0, y0) = 0.8, cos(x1, y0) = 0.96; means: x0 0.8, x1 0.96 (one target); y0 (0.8 + 0.96) / 2 = 0.88
    # margins: x0y0 = 0.8 / ((0.8 + 0.88) / 2) = 0.952381; x1y0 = 0.96 / ((0.96 + 0.88) / 2) = 1.043478
    assert [(s, t) for s, t, _ in got] == [(1, 0)]
    assert got[0][2] == pytest.approx(0.96 / ((0.96 + 0.88) / 2), abs=1e-6)


# ------------------------------------------------------------------------------------------- BUCC threshold
CANDIDATES = {  # deliberately not in score order
    ("de-3", "en-3"): 0.7,
    ("de-1", "en-1"): 0.9,
    ("de-5", "en-5"): 0.5,
    ("de-2", "en-9"): 0.8,
    ("de-4", "en-8"): 0.6,
}
GOLD = {("de-1", "en-1"), ("de-3", "en-3"), ("de-6", "en-6")}


def test_bucc_optimize_best_prefix_midpoint():
    # prefixes in decreasing score, 3 gold pairs:
    #  0.9 correct: P 1/1 R 1/3 F1 = 2*(1)*(1/3)/(4/3)       = 0.5
    #  0.8 wrong:   P 1/2 R 1/3 F1 = 2*(1/2)*(1/3)/(5/6)     = 0.4
    #  0.7 correct: P 2/3 R 2/3 F1 = 2/3                     <- best
    #  0.6 wrong:   P 2/4 R 2/3 F1 = 2*(1/2)*(2/3)/(7/6)     = 0.5714
    #  0.5 wrong:   P 2/5 R 2/3 F1 = 2*(2/5)*(2/3)/(16/15)   = 0.5
    assert bucc_optimize(CANDIDATES, GOLD) == pytest.approx((0.7 + 0.6) / 2)
    # gold may be any iterable of pairs (a list with a duplicate counts once)
    assert bucc_optimize(CANDIDATES, sorted(GOLD) + [("de-1", "en-1")]) == pytest.approx(0.65)


def test_bucc_optimize_later_prefix():
    # 2 gold; F1 = 2 * ncorrect / (nextract + ngold):
    # prefix 1 (correct) 2/3; prefix 2 (wrong) 2/4; prefix 3 (correct) 4/5 <- best; prefix 4 (wrong) 4/6
    cands = {("a", "A"): 3.0, ("b", "X"): 2.0, ("c", "C"): 1.0, ("d", "Y"): 0.5}
    assert bucc_optimize(cands, {("a", "A"), ("c", "C")}) == pytest.approx((1.0 + 0.5) / 2)


def test_bucc_optimize_first_best_prefix_wins_ties():
    # 2 gold: prefix 1 (correct) F1 = 2/3; prefix 2, 3 (wrong) 2/4, 2/5; prefix 4 (correct) 4/6 = 2/3, a tie:
    # only a strictly better F1 moves the threshold, so it stays between 4.0 and 3.0
    cands = {("d", "D"): 1.0, ("a", "A"): 4.0, ("b", "X"): 3.0, ("c", "Y"): 2.0}
    assert bucc_optimize(cands, {("a", "A"), ("d", "D")}) == pytest.approx(3.5)


def test_bucc_optimize_best_prefix_is_all_candidates():
    cands = {("de-2", "en-2"): 0.4, ("de-1", "en-1"): 0.9}
    gold = {("de-1", "en-1"), ("de-2", "en-2")}
    # prefix 1: F1 = 2/3; prefix 2: F1 = 1 -> the last score is the threshold (XTREME would index past the end)
    threshold = bucc_optimize(cands, gold)
    assert threshold == 0.4
    assert bucc_scores(cands, gold, threshold) == {"precision": 100.0, "recall": 100.0, "f1": 100.0, "threshold": 0.4}


def test_bucc_optimize_no_correct_candidate():
    assert bucc_optimize({("a", "B"): 0.9, ("b", "A"): 0.8}, {("a", "A"), ("b", "B")}) == 0
    assert bucc_optimize({}, {("a", "A")}) == 0


# --------------------------------------------------------------------------------------------- BUCC P/R/F1
def test_bucc_scores_inclusive_threshold():
    # >= 0.7: {de-1/en-1 (gold), de-2/en-9, de-3/en-3 (gold)}: P = 2/3, R = 2/3, F1 = 2/3
    s = bucc_scores(CANDIDATES, GOLD, 0.7)
    assert s["precision"] == pytest.approx(200 / 3)
    assert s["recall"] == pytest.approx(200 / 3)
    assert s["f1"] == pytest.approx(200 / 3)
    assert s["threshold"] == 0.7
    # just above 0.7: {de-1/en-1, de-2/en-9}: P = 1/2, R = 1/3, F1 = 2*(1/2)*(1/3)/(5/6) = 0.4
    s = bucc_scores(CANDIDATES, GOLD, 0.7000001)
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((50.0, 100 / 3, 40.0))
    # everything: P = 2/5, R = 2/3, F1 = 2*(2/5)*(2/3)/(16/15) = 0.5
    s = bucc_scores(CANDIDATES, GOLD, 0.0)
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((40.0, 200 / 3, 50.0))


def test_bucc_scores_with_optimized_threshold():
    t = bucc_optimize(CANDIDATES, GOLD)
    s = bucc_scores(CANDIDATES, GOLD, t)
    assert s["f1"] == pytest.approx(200 / 3)


def test_bucc_scores_nothing_correct():
    assert bucc_scores(CANDIDATES, GOLD, 0.95) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "threshold": 0.95}
    assert bucc_scores({("x", "y"): 1.0}, GOLD, 0.5) == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                                         "threshold": 0.5}


def test_mine_candidates_keeps_scores_above_the_threshold():
    # mine_bitext writes a pair only when its margin score is above its threshold (default 0, so a negative margin
    # never makes a candidate); on the hand-computed case above the scores are 1.0732, 1.0323 and 0.9231
    src = torch.tensor([(0.0, 1.0, 0.0), (0.8, 0.6, 0.0), (2 / 3, 1 / 3, 2 / 3)])
    tgt = torch.tensor([(0.0, 0.6, 0.8), (2 / 3, 2 / 3, 1 / 3), (2 / 3, 1 / 3, -2 / 3)])
    assert [(s, t) for s, t, _ in mine_candidates(src, tgt, k=2)] == [(1, 2), (2, 1), (0, 0)]
    # the greedy pass is the same; only the pairs at or below the threshold are left out
    assert [(s, t) for s, t, _ in mine_candidates(src, tgt, k=2, threshold=1.0)] == [(1, 2), (2, 1)]
    assert mine_candidates(src, tgt, k=2, threshold=1.05) == mine_candidates(src, tgt, k=2)[:1]


def test_bucc_candidates_unify_and_drop_repeated_sentences():
    from xstilts.tasks.families.retrieval import ParallelData, bucc_candidates

    e = torch.eye(3)
    # source "a" appears twice (rows 0 and 2, same embedding); target "y" once. As XTREME: mining runs over the
    # distinct sentences {a, b} x {x, y, z}, and a pair with the repeated "a" cannot be mapped to an id
    data = ParallelData(["s0", "s1", "s2"], ["a", "b", "a"], ["t0", "t1", "t2"], ["x", "y", "z"],
                        [("s0", "t0"), ("s1", "t1")])
    src = torch.stack([e[0], e[1], e[0]])
    tgt = torch.stack([e[0] + 0.1 * e[2], e[1] + 0.1 * e[2], e[2]])
    cands = bucc_candidates(data, src, tgt, k=2)
    assert set(cands) == {("s1", "t1")}  # a-x is mined too, but "a" is repeated
    # without the repeat, a-x is a candidate as well
    data2 = ParallelData(["s0", "s1"], ["a", "b"], ["t0", "t1", "t2"], ["x", "y", "z"], data.gold)
    assert set(bucc_candidates(data2, src[:2], tgt, k=2)) == {("s0", "t0"), ("s1", "t1")}
    # the margin of b-y is the same either way: the duplicate row of "a" does not enter the neighbourhood means
    assert cands[("s1", "t1")] == pytest.approx(bucc_candidates(data2, src[:2], tgt, k=2)[("s1", "t1")], abs=1e-6)


def test_bucc_threshold_official_uses_the_scored_split_and_dev_the_dev_split():
    from xstilts.xtreme.submissions import retrieval_case
    from xstilts.tasks import get_family, get_task
    from xstilts.tasks.families.retrieval import ParallelData, bucc_candidates

    task = get_task("bucc2018")
    cases = {"dev": retrieval_case(1), "test": retrieval_case(2)}
    vectors, datas = {}, {}
    for split, c in cases.items():  # distinct texts per split, so one table of embeddings serves both
        src_t = [f"{split} {t}" for t in c["src_texts"]]
        tgt_t = [f"{split} {t}" for t in c["tgt_texts"]]
        vectors.update(zip(src_t, torch.from_numpy(c["bucc_src"])))
        vectors.update(zip(tgt_t, torch.from_numpy(c["bucc_tgt"])))
        datas[split] = ParallelData(c["src_ids"], src_t, c["tgt_ids"], tgt_t, c["gold"])
    calls = []

    def load(split, lang):
        calls.append(split)
        return datas[split]

    def embed(texts, prefix=None):
        return torch.stack([vectors[t] for t in texts])

    family = get_family(task.kind)
    test = datas["test"]
    test_c = bucc_candidates(test, embed(test.src), embed(test.tgt), k=4)
    dev_c = bucc_candidates(datas["dev"], embed(datas["dev"].src), embed(datas["dev"].tgt), k=4)
    t_official, t_dev = bucc_optimize(test_c, test.gold), bucc_optimize(dev_c, datas["dev"].gold)
    assert t_official != t_dev
    scores, lines, _ = family.evaluate(task, ["de"], load, embed, {"k": 4})
    assert calls == ["test"]  # the official threshold needs no dev split
    assert scores["de"]["threshold"] == t_official
    assert scores["de"]["f1"] == bucc_scores(test_c, test.gold, t_official)["f1"]
    calls.clear()
    scores_dev, _, _ = family.evaluate(task, ["de"], load, embed, {"k": 4, "bucc_threshold": "dev"})
    assert sorted(calls) == ["dev", "test"] and scores_dev["de"]["threshold"] == t_dev
    assert scores_dev["de"]["f1"] == bucc_scores(test_c, test.gold, t_dev)["f1"] <= scores["de"]["f1"]
    # the prediction file holds exactly the pairs at or above the threshold
    predicted = {tuple(x.split("\t")) for x in lines["de"][1].splitlines()}
    assert predicted == {p for p, v in test_c.items() if v >= t_official}
