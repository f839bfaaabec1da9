"""Tests over seeds and multiple-comparison control (xstilts.stats): the paired t-test, the exact sign-flip test and
Benjamini–Hochberg match scipy on fixed inputs and hand-computed values; the bootstrap p-value."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from xstilts import stats as st

A = [71.2, 69.8, 73.5, 70.9, 72.4]
B = [70.1, 70.0, 71.2, 69.5, 70.8]


def test_paired_t_test_matches_scipy():
    got = st.paired_t_test(A, B, 0.95)
    want = sps.ttest_rel(A, B)
    ci = want.confidence_interval(0.95)
    assert got["t"] == pytest.approx(float(want.statistic))
    assert got["p_value"] == pytest.approx(float(want.pvalue))
    assert got["df"] == 4
    assert (got["low"], got["high"]) == (pytest.approx(float(ci.low)), pytest.approx(float(ci.high)))
    assert got["estimate"] == pytest.approx(np.mean(np.subtract(A, B)))
    # by hand: t = mean(d) / (sd(d) / sqrt(n))
    d = np.subtract(A, B)
    assert got["t"] == pytest.approx(d.mean() / (d.std(ddof=1) / math.sqrt(len(d))))
    # 90% interval
    ci90 = want.confidence_interval(0.90)
    got90 = st.paired_t_test(A, B, 0.90)
    assert got90["low"] == pytest.approx(float(ci90.low)) and got90["high"] == pytest.approx(float(ci90.high))


def test_paired_seeds_test_pairs_by_seed_and_reports_both_tests():
    a = {s: v for s, v in zip((1, 2, 3, 4, 5), A)}
    b = {s: v for s, v in zip((5, 4, 3, 2, 1), reversed(B))}  # other order: paired by the seed key
    b[9] = 50.0  # not in a: left out
    iv = st.paired_seeds_test(a, b)
    assert iv.method == "paired t-test over seeds" and iv.n_resamples == 0
    assert iv.detail["seeds"] == [1, 2, 3, 4, 5]
    assert iv.detail["p_value"] == pytest.approx(float(sps.ttest_rel(A, B).pvalue))
    assert iv.significant == (iv.detail["p_value"] < 0.05)
    assert iv.detail["sign_flip_exact"] and iv.detail["sign_flip_min_p"] == pytest.approx(2 / 32)
    with pytest.raises(ValueError, match="at least 2"):
        st.paired_seeds_test({1: 1.0}, {1: 0.0})


def test_sign_flip_by_hand():
    # n = 3, all positive: only "no flip" and "flip all" are as extreme -> 2 of 8
    r = st.sign_flip_test([1.0, 2.0, 3.0])
    assert r["p_value"] == pytest.approx(2 / 8) and r["exact"] and r["flips"] == 8 and r["min_p"] == 0.25
    # n = 4, d = (1, 2, 3, -1), observed sum 5: |sum| >= 5 for 1+2+3-1 = 5, 1+2+3+1 = 7, -1+2+3+1 = 5 and the three
    # sign-reversed ones -> 6 of 16
    r = st.sign_flip_test([1.0, 2.0, 3.0, -1.0])
    sums = [abs(sum(s * x for s, x in zip(signs, (1, 2, 3, -1)))) for signs in itertools.product((1, -1), repeat=4)]
    assert r["p_value"] == pytest.approx(sum(x >= 5 for x in sums) / 16) == pytest.approx(6 / 16)
    # no difference at all: every flip ties -> 1
    assert st.sign_flip_test([0.0, 0.0, 0.0])["p_value"] == 1.0
    # ties from floating point count as ties
    assert st.sign_flip_test([0.1, 0.2, 0.3])["p_value"] == pytest.approx(0.25)


@pytest.mark.parametrize("n", [2, 5, 8, 11])
def test_sign_flip_matches_scipy_permutation_test(n):
    rng = np.random.default_rng(n)
    x = rng.normal(70, 2, n)
    y = x - rng.normal(0.8, 1.5, n)
    want = sps.permutation_test((x, y), lambda a, b, axis: np.mean(a - b, axis=axis), permutation_type="samples",
                                vectorized=True, n_resamples=np.inf, alternative="two-sided")
    got = st.sign_flip_test(x - y)
    assert got["exact"] and got["flips"] == 2 ** n
    assert got["p_value"] == pytest.approx(float(want.pvalue))


def test_sign_flip_random_flips_beyond_sixteen_seeds():
    d = np.linspace(-0.5, 2.0, 20)
    r1 = st.sign_flip_test(d, seed=3)
    r2 = st.sign_flip_test(d, seed=3)
    assert not r1["exact"] and r1["flips"] == st.SIGN_FLIP_RESAMPLES and r1["p_value"] == r2["p_value"]
    assert r1["p_value"] >= 1 / (st.SIGN_FLIP_RESAMPLES + 1)
    # close to the exact answer (2^20 flips: computed with exact_max raised)
    exact = st.sign_flip_test(d, exact_max=20)
    assert exact["exact"] and abs(r1["p_value"] - exact["p_value"]) < 0.01


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy on constant differences
def test_t_test_edge_cases():
    same = st.paired_t_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["p_value"] == 1.0 and same["zero_spread"] and same["low"] == same["high"] == 0.0
    const = st.paired_t_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # every difference exactly 1: scipy's answer
    assert const["zero_spread"] and const["p_value"] == float(sps.ttest_rel([2, 3, 4], [1, 2, 3]).pvalue)
    with pytest.raises(ValueError):
        st.paired_t_test([1.0], [0.0])
    with pytest.raises(ValueError):
        st.paired_t_test([1.0, 2.0], [0.0])


def test_bh_matches_scipy_and_skips_missing():
    ps = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    got = st.bh_adjust(ps)
    assert got == pytest.approx(list(sps.false_discovery_control(ps, method="bh")))
    # by hand: q_(i) = min_{j >= i} p_(j) m / j
    m = len(ps)
    hand = [min(ps[j] * m / (j + 1) for j in range(i, m)) for i in range(m)]
    assert got == pytest.approx(hand)
    assert st.bh_adjust([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    # None and nan are not tests: left as None, not counted in m
    mixed = st.bh_adjust([0.01, None, 0.04, float("nan"), 0.03, 0.2])
    assert mixed[1] is None and mixed[3] is None
    assert [mixed[i] for i in (0, 2, 4, 5)] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert st.bh_adjust([]) == [] and st.bh_adjust([None]) == [None]


def test_bootstrap_p_value():
    assert st.bootstrap_p_value(np.full(99, 5.0)) == pytest.approx(2 / 100)  # every replicate above 0
    assert st.bootstrap_p_value(np.zeros(99)) == 1.0  # no difference
    reps = np.concatenate([np.full(10, -1.0), np.full(89, 1.0)])  # 10 of 99 at or below 0
    assert st.bootstrap_p_value(reps) == pytest.approx(2 * 11 / 100)
    # the examples interval carries p-values overall and per language
    a = {1: {"en": [{"correct": 1}] * 30, "de": [{"correct": 1}] * 20}}
    b = {1: {"en": [{"correct": 0}] * 30, "de": [{"correct": 1}] * 20}}

    def acc(stats):
        n = sum(s.get("_examples", 1) for s in stats)
        return 100.0 * sum(s["correct"] for s in stats) / n

    iv = st.paired_examples_interval(a, b, acc, n_resamples=199)
    assert iv.detail["p_value"] == pytest.approx(2 / 200)
    assert iv.detail["languages"]["en"]["p_value"] == pytest.approx(2 / 200)
    assert iv.detail["languages"]["de"]["p_value"] == 1.0
