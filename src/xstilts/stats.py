"""Paired bootstrap confidence intervals for score differences (intermediate training vs the baseline).

Two resampling units, both *paired* (the two systems see the same resample):

* **Over examples** (test-set uncertainty): draw the test examples of each language with replacement, the same
  indices for both systems and for every seed; recompute each system's metric on the resample from its
  per-example statistics (``Family.metric_from_stats``); the task score is the mean over languages, the delta is
  stilts − baseline per seed, averaged over the seeds. This is the paired bootstrap of Koehn (2004), "Statistical
  significance tests for machine translation evaluation" (EMNLP), and Berg-Kirkpatrick, Burkett & Klein (2012),
  "An empirical investigation of statistical significance in NLP" (EMNLP), applied to a corpus metric recomputed
  from sufficient statistics, with several test sets (languages) and seeds.
* **Over seeds** (training-run uncertainty), :func:`paired_seeds_test`: not a bootstrap (3 to 5 seeds have only
  10 to 126 distinct resamples) but two paired tests of the per-seed differences *d_s* = stilts seed *s* − baseline
  seed *s*: the paired t-test (``scipy.stats.ttest_rel``, two-sided, with its t confidence interval of the mean
  difference; it assumes roughly normal differences) and the exact sign-flip permutation test (all 2^n sign flips
  of the differences for n ≤ :data:`EXACT_SIGN_FLIP_MAX` seeds, the mean difference as statistic, two-sided; no
  normality assumed, but its smallest possible p-value is 2 / 2^n: 0.25 for 3 seeds, 0.0625 for 5).
  (:func:`paired_seeds_interval`, the bootstrap over seeds, is kept for comparison; the reports no longer use it.)

Many tests at once (one per language) are corrected with Benjamini & Hochberg's false discovery rate procedure
(:func:`bh_adjust`, ``scipy.stats.false_discovery_control``; Benjamini & Hochberg 1995, "Controlling the false
discovery rate", JRSS B 57:289). A bootstrap over examples gives a p-value too (:func:`bootstrap_p_value`).

Intervals are percentile intervals of the replicates (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*,
ch. 13): the ``(1 − c) / 2`` and ``(1 + c) / 2`` quantiles for confidence ``c`` (0.95 by default) of 1,000 replicates
(by default). A delta is called significant when its interval excludes 0.

Resamples are reproducible: the indices for a language come from a generator seeded by ``(seed, language)`` and the
number of examples, so both systems, every seed and every comparison that share a baseline get the same indices,
and the baseline's replicates can be computed once and reused (:func:`bootstrap_replicates`).

Speed: per-example statistics that are flat numbers with the same keys, for a metric that depends only on their sums
(and on the number of examples), are resampled as count-weighted sums with numpy, and the metric is called once per
replicate on one aggregated dict ``{key: sum, ..., "_examples": n}``. Whether the metric accepts that is checked on
the data (the full list and random sub-lists must give the same value both ways); otherwise the metric is called
on every resampled list.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

#: Key of an aggregated statistics dict that stands for this many examples (see the module docstring).
AGGREGATE_KEY = "_examples"
DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
#: Largest number of seeds for which the sign-flip test enumerates all 2^n flips (65,536); beyond, random flips.
EXACT_SIGN_FLIP_MAX = 16
SIGN_FLIP_RESAMPLES = 9999
_CHUNK = 64  # resamples drawn per block (fixed: the draws must not depend on anything but seed, key and n)

Metric = Callable[[list], float]


@dataclass
class Interval:
    """A bootstrap percentile interval around a point estimate (percentage points for score deltas)."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    method: str
    detail: dict = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "confidence": self.confidence,
                "n_resamples": self.n_resamples, "method": self.method, "significant": self.significant,
                **self.detail}


def percentile_interval(replicates: Sequence[float] | np.ndarray, confidence: float = DEFAULT_CONFIDENCE
                        ) -> tuple[float, float]:
    """``(low, high)``: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the replicates
    (linear interpolation between order statistics, numpy's default)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    r = np.asarray(replicates, dtype=np.float64)
    if r.size == 0:
        raise ValueError("no bootstrap replicates")
    lo, hi = np.quantile(r, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def _rng(seed: int, key: str, n: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{key}\0{n}".encode()).digest()
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *np.frombuffer(digest[:16], dtype=np.uint32).tolist()])


def resample_indices(n: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, key: str = ""):
    """Yield blocks ``[rows, n]`` of example indices drawn with replacement, ``n_resamples`` rows in all.

    The draws depend only on ``(seed, key, n)``: two systems evaluated on the same *n* examples (same key, e.g. the
    language) get identical resamples, which is what pairs them."""
    if n < 1:
        raise ValueError("cannot resample an empty set of examples")
    rng = _rng(seed, key, n)
    done = 0
    while done < n_resamples:
        rows = min(_CHUNK, n_resamples - done)
        yield rng.integers(0, n, size=(rows, n))
        done += rows


def _flat_matrix(stats: list) -> tuple[tuple[str, ...], np.ndarray] | None:
    """``(keys, float64 [n, len(keys)])`` of flat numeric statistics dicts that all have the same keys, else
    ``None``."""
    if not stats or not isinstance(stats[0], dict) or not stats[0] or AGGREGATE_KEY in stats[0]:
        return None
    first = stats[0].keys()
    if not all(isinstance(s, dict) and s.keys() == first for s in stats):
        return None
    keys = tuple(sorted(first))
    try:
        mat = np.array([[s[k] for k in keys] for s in stats], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if mat.ndim != 2 or not np.isfinite(mat).all():
        return None
    return keys, mat


def _aggregate(keys: tuple[str, ...], sums: np.ndarray, n: int) -> dict:
    out = {k: (int(v) if float(v).is_integer() else float(v)) for k, v in zip(keys, sums)}
    out[AGGREGATE_KEY] = int(n)
    return out


def _decomposition(stats: list, metric: Metric, seed: int = 0) -> tuple[tuple[str, ...], np.ndarray] | None:
    flat = _flat_matrix(stats)
    if flat is None:
        return None
    keys, mat = flat
    rng = np.random.default_rng(seed)
    n = len(stats)
    m = min(n, 64)
    trials = [np.arange(n), rng.choice(n, size=m, replace=False), rng.integers(0, n, size=m),
              rng.integers(0, n, size=min(n, 3))]
    try:
        for idx in trials:
            direct = metric([stats[i] for i in idx])
            agg = metric([_aggregate(keys, mat[idx].sum(axis=0), len(idx))])
            if not math.isclose(direct, agg, rel_tol=1e-9, abs_tol=1e-9):
                return None
    except (KeyError, TypeError, ValueError, ZeroDivisionError, NotImplementedError):
        return None
    return keys, mat


def decomposes(stats: list, metric: Metric, seed: int = 0) -> tuple[str, ...] | None:
    """The statistics' keys if *metric* can be computed from their sums (see the module docstring), else ``None``.

    Checked on the data: the metric of the full list, of random sub-lists and of a resample with repetitions must
    equal the metric of one aggregated dict ``{key: sum, "_examples": count}``."""
    d = _decomposition(stats, metric, seed)
    return d[0] if d else None


def bootstrap_replicates(stats: list, metric: Metric, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                         key: str = "") -> np.ndarray:
    """The metric on each of *n_resamples* resamples (with replacement) of *stats*: ``float64 [n_resamples]``.

    Args:
        stats: per-example statistics (``Family.example_stats``), in example order.
        metric: ``metric(list of stats) -> float`` (``Family.metric_from_stats`` bound to its task).
        seed, key: the resamples are :func:`resample_indices` ``(len(stats), n_resamples, seed, key)``, so two
            systems with the same number of examples, seed and key are paired.
    """
    return shared_replicates([(stats, metric)], n_resamples, seed, key)[0]


def shared_replicates(systems: Sequence[tuple[list, Metric]], n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      key: str = "") -> list[np.ndarray]:
    """:func:`bootstrap_replicates` of several systems on the same examples, drawing the resamples once: replicate
    *r* of every system is computed on the same example indices (what pairs them).

    Raises:
        ValueError: the systems have different numbers of examples, or none.
    """
    sizes = {len(s) for s, _ in systems}
    if len(sizes) != 1:
        raise ValueError(f"paired resampling needs the same number of examples, got {sorted(sizes)}")
    n = sizes.pop()
    plans = []
    for stats, metric in systems:
        keys, mat = _decomposition(stats, metric, seed) or (None, None)
        plans.append((stats, metric, keys, mat, np.empty(n_resamples, dtype=np.float64)))
    need_counts = any(p[2] is not None for p in plans)
    with _one_blas_thread():
        _fill(plans, n, n_resamples, seed, key, need_counts)
    return [p[4] for p in plans]


def _one_blas_thread():
    """Skinny matrix products are fastest on one BLAS thread (and many threads thrash a busy machine)."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1, user_api="blas")
    except ImportError:  # optional: only speed depends on it
        import contextlib

        return contextlib.nullcontext()


def _fill(plans: list, n: int, n_resamples: int, seed: int, key: str, need_counts: bool) -> None:
    r = 0
    for block in resample_indices(n, n_resamples, seed, key):
        rows = block.shape[0]
        if need_counts:
            counts = np.bincount((block + (np.arange(rows) * n)[:, None]).ravel(), minlength=rows * n)
            counts = counts.reshape(rows, n).astype(np.float64)
        for stats, metric, keys, mat, out in plans:
            if keys is not None:
                for j, row in enumerate(counts @ mat):
                    out[r + j] = metric([_aggregate(keys, row, n)])
            else:
                for j, idx in enumerate(block):
                    out[r + j] = metric([stats[i] for i in idx])
        r += rows


def paired_examples_interval(a: Mapping[object, Mapping[str, list]], b: Mapping[object, Mapping[str, list]],
                             metric: Metric | Mapping[str, Metric], n_resamples: int = DEFAULT_RESAMPLES,
                             confidence: float = DEFAULT_CONFIDENCE, seed: int = 0, key: str = "",
                             cache: dict | None = None, ids: tuple[Mapping, Mapping] | None = None) -> Interval:
    """Paired bootstrap over examples of the task-score difference ``a − b``.

    Args:
        a, b: ``{seed: {language: per-example stats}}`` of the two systems (e.g. stilts and baseline). Seeds are
            paired by their key; the seeds and languages used are those both systems have (for every seed); the
            two systems must have the same number of examples per language.
        metric: ``metric(stats) -> %`` or ``{language: metric}``.
        key: prefix of the resampling key (e.g. the task), followed by the language.
        cache: optional dict reused across calls; with *ids* ``({seed: id of a's run}, {seed: id of b's run})``,
            replicates are cached under ``(id, key, language, n_resamples, seed)``, so a baseline shared by many
            comparisons is resampled once.
    Returns:
        :class:`Interval` of the mean over seeds of (mean over languages of ``metric(a) − metric(b)``), with
        ``detail = {"seeds": [...], "languages": {lang: {estimate, low, high, significant}}}``.
    Raises:
        ValueError: no common seed or language, or different example counts.
    """
    seeds = [s for s in a if s in b]
    if not seeds:
        raise ValueError("no seed in common between the two systems")
    langs = sorted(set.intersection(*(set(a[s]) & set(b[s]) for s in seeds)))
    if not langs:
        raise ValueError("no language with per-example statistics in common")
    metrics = metric if isinstance(metric, Mapping) else {lang: metric for lang in langs}
    per_lang_reps: dict[str, np.ndarray] = {}
    per_lang_point: dict[str, float] = {}
    for lang in langs:
        m = metrics[lang]
        point = 0.0
        jobs: dict = {}  # (seed, side) -> stats, for the replicates not in the cache
        got: dict = {}
        for s in seeds:
            sa, sb = a[s][lang], b[s][lang]
            if len(sa) != len(sb):
                raise ValueError(f"{key}{lang}: {len(sa)} vs {len(sb)} examples; a paired bootstrap needs the same "
                                 f"test set")
            point += m(sa) - m(sb)
            for side, stats, idmap in ((0, sa, ids[0] if ids else None), (1, sb, ids[1] if ids else None)):
                ck = (idmap[s], key, lang, n_resamples, seed) if cache is not None and idmap and s in idmap else None
                if ck is not None and ck in cache:
                    got[(s, side)] = cache[ck]
                else:
                    jobs[(s, side)] = (stats, ck)
        if jobs:
            reps_list = shared_replicates([(st_, m) for st_, _ in jobs.values()], n_resamples, seed, f"{key}{lang}")
            for (js, (_, ck)), rep in zip(jobs.items(), reps_list):
                got[js] = rep
                if ck is not None:
                    cache[ck] = rep
        per_lang_reps[lang] = sum(got[(s, 0)] - got[(s, 1)] for s in seeds) / len(seeds)
        per_lang_point[lang] = point / len(seeds)
    total = np.mean(np.stack([per_lang_reps[lang] for lang in langs]), axis=0)
    estimate = float(np.mean([per_lang_point[lang] for lang in langs]))
    lo, hi = percentile_interval(total, confidence)
    detail_langs = {}
    for lang in langs:
        llo, lhi = percentile_interval(per_lang_reps[lang], confidence)
        detail_langs[lang] = {"estimate": per_lang_point[lang], "low": llo, "high": lhi,
                              "significant": llo > 0 or lhi < 0, "p_value": bootstrap_p_value(per_lang_reps[lang])}
    return Interval(estimate, lo, hi, confidence, n_resamples, "paired bootstrap over examples",
                    {"seeds": list(seeds), "languages": detail_langs, "p_value": bootstrap_p_value(total)})


def bootstrap_p_value(replicates: Sequence[float] | np.ndarray) -> float:
    """Two-sided p-value of "the difference is 0" from bootstrap replicates of a difference: twice the smaller
    share of replicates on either side of 0 (each counting 0), with the usual +1 of a Monte Carlo p-value (Davison &
    Hinkley 1997, *Bootstrap Methods and their Application*, eq. 4.11): ``min(1, 2 (min(#≤0, #≥0) + 1) / (B + 1))``.
    Below the level 1 − c exactly when the percentile interval of confidence c excludes 0 (up to the +1)."""
    r = np.asarray(replicates, dtype=np.float64)
    if r.size == 0:
        raise ValueError("no bootstrap replicates")
    below, above = int((r <= 0).sum()), int((r >= 0).sum())
    return min(1.0, 2.0 * (min(below, above) + 1) / (r.size + 1))


def sign_flip_test(differences: Sequence[float] | np.ndarray, exact_max: int = EXACT_SIGN_FLIP_MAX,
                   n_resamples: int = SIGN_FLIP_RESAMPLES, seed: int = 0) -> dict:
    """Two-sided sign-flip permutation test of paired differences (Fisher 1935; the paired-samples permutation test,
    ``scipy.stats.permutation_test(..., permutation_type="samples")``): under "no difference" each difference is as
    likely to have either sign, so the p-value is the share of the 2^n sign flips whose mean is at least as far
    from 0 as the observed mean (ties within a relative 1e-9 count).

    Args:
        differences: the n paired differences (e.g. one per seed).
        exact_max: enumerate all 2^n flips up to this n (exact p-value); beyond, *n_resamples* random flips with
            the Monte Carlo p-value ``(hits + 1) / (n_resamples + 1)``, reproducible from *seed*.
    Returns:
        ``{"p_value", "exact", "n", "flips", "min_p"}`` (``min_p`` = 2 / 2^n, the smallest p-value an exact test of n
        differences can give).
    Raises:
        ValueError: no difference.
    """
    d = np.asarray(differences, dtype=np.float64)
    n = d.size
    if n == 0:
        raise ValueError("no paired differences")
    obs = abs(float(d.mean()))
    tol = 1e-9 * max(obs, float(np.abs(d).max()), 1e-300)
    if n <= exact_max:
        bits = (np.arange(2 ** n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)) & 1
        signs = 1.0 - 2.0 * bits
        means = np.abs(signs @ d) / n
        p = float((means >= obs - tol).sum()) / (2 ** n)
        flips, exact = 2 ** n, True
    else:
        rng = _rng(seed, "sign-flip", n)
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(n_resamples, n))
        means = np.abs(signs @ d) / n
        p = (float((means >= obs - tol).sum()) + 1.0) / (n_resamples + 1)
        flips, exact = n_resamples, False
    return {"p_value": min(1.0, p), "exact": exact, "n": int(n), "flips": int(flips),
            "min_p": min(1.0, 2.0 / 2 ** n) if n <= 1023 else 0.0}


def paired_t_test(a: Sequence[float], b: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Paired two-sided t-test of ``a − b`` (``scipy.stats.ttest_rel``) with the t confidence interval of the mean
    difference: ``{"estimate", "t", "df", "p_value", "low", "high", "zero_spread"}``.

    All differences equal: scipy's answer (t = ±inf and p = 0 for a non-zero difference; for no difference at all, t
    = 0 and p = 1 here instead of scipy's nan), flagged ``zero_spread``.

    Raises:
        ValueError: fewer than 2 pairs, or a and b of different lengths.
    """
    from scipy import stats as sps

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("paired samples must have the same length")
    if x.size < 2:
        raise ValueError("a paired t-test needs at least 2 pairs")
    d = x - y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = sps.ttest_rel(x, y)
        ci = r.confidence_interval(confidence)
    t, p = float(r.statistic), float(r.pvalue)
    lo, hi = float(ci.low), float(ci.high)
    zero = bool(np.ptp(d) == 0)
    if math.isnan(p) and zero:  # every difference 0: no evidence of any difference
        t, p, lo, hi = 0.0, 1.0, 0.0, 0.0
    return {"estimate": float(d.mean()), "t": t, "df": int(r.df), "p_value": p, "low": lo, "high": hi,
            "zero_spread": zero}


def paired_seeds_test(a: Mapping[object, float], b: Mapping[object, float], confidence: float = DEFAULT_CONFIDENCE,
                      seed: int = 0) -> Interval:
    """Paired tests over seeds of ``mean_s (a[s] − b[s])``: the t-test's confidence interval as the interval, with
    the t-test's and the sign-flip test's p-values (:func:`paired_t_test`, :func:`sign_flip_test`).

    Args:
        a, b: ``{seed: score}`` of the two systems; the seeds both have are used, paired.
    Returns:
        :class:`Interval` (``method = "paired t-test over seeds"``, ``n_resamples = 0``; significant ⇔ the t
        interval excludes 0 ⇔ t-test p < 1 − confidence) with ``detail = {"seeds", "differences", "t", "df",
        "p_value" (t-test), "sign_flip_p", "sign_flip_exact", "sign_flip_min_p", "zero_spread"}``.
    Raises:
        ValueError: fewer than 2 seeds in common.
    """
    seeds = [s for s in a if s in b]
    if len(seeds) < 2:
        raise ValueError(f"a paired test over seeds needs at least 2 seeds in common, got {len(seeds)}")
    x = [float(a[s]) for s in seeds]
    y = [float(b[s]) for s in seeds]
    t = paired_t_test(x, y, confidence)
    sf = sign_flip_test(np.subtract(x, y), seed=seed)
    return Interval(t["estimate"], t["low"], t["high"], confidence, 0, "paired t-test over seeds",
                    {"seeds": list(seeds), "differences": np.subtract(x, y).tolist(), "t": t["t"], "df": t["df"],
                     "p_value": t["p_value"], "sign_flip_p": sf["p_value"], "sign_flip_exact": sf["exact"],
                     "sign_flip_min_p": sf["min_p"], "zero_spread": t["zero_spread"]})


def bh_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control(ps, method="bh")``) of the given
    p-values, in their order; ``None`` (or nan) entries are not tests: they stay ``None`` and do not count in the
    number of tests. Rejecting where the adjusted p-value is below q controls the false discovery rate at q (for
    independent or positively dependent tests)."""
    from scipy import stats as sps

    idx = [i for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    if not idx:
        return out
    adj = sps.false_discovery_control(np.asarray([p_values[i] for i in idx], dtype=np.float64), method="bh")
    for i, q in zip(idx, np.atleast_1d(adj)):
        out[i] = float(q)
    return out


def paired_seeds_interval(a: Mapping[object, float], b: Mapping[object, float], n_resamples: int = DEFAULT_RESAMPLES,
                          confidence: float = DEFAULT_CONFIDENCE, seed: int = 0, key: str = "seeds") -> Interval:
    """Paired bootstrap over seeds of ``mean_s (a[s] − b[s])`` (not used by the reports: with 3 to 5 seeds it has
    10 to 126 distinct resamples; they use :func:`paired_seeds_test`).

    Args:
        a, b: ``{seed: score}`` of the two systems; the seeds both have are used, paired.
    Returns:
        :class:`Interval` with ``detail = {"seeds": [...], "differences": [...]}``. With one seed the interval is
        the single difference (no spread: not evidence of anything).
    Raises:
        ValueError: no seed in common.
    """
    seeds = [s for s in a if s in b]
    if not seeds:
        raise ValueError("no seed in common between the two systems")
    diffs = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    rng = _rng(seed, key, len(diffs))
    idx = rng.integers(0, len(diffs), size=(n_resamples, len(diffs)))
    reps = diffs[idx].mean(axis=1)
    lo, hi = percentile_interval(reps, confidence)
    return Interval(float(diffs.mean()), lo, hi, confidence, n_resamples, "paired bootstrap over seeds",
                    {"seeds": list(seeds), "differences": diffs.tolist()})


def fit_log_curve(sizes: Sequence[float], scores: Sequence[float]) -> dict:
    """Least-squares fit of ``score = a + b * ln(n)``.

    Returns:
        ``{"a", "b", "r2", "gain_per_10x"}`` (``gain_per_10x = b * ln 10``, the fitted gain of a tenfold increase).
    Raises:
        ValueError: fewer than two distinct sizes, or a size that is not positive.
    """
    x = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    if x.shape != y.shape or x.size < 2 or np.unique(x).size < 2:
        raise ValueError("a log fit needs at least two distinct sizes")
    if (x <= 0).any():
        raise ValueError("sizes must be positive for a log fit")
    lx = np.log(x)
    b, a = np.polyfit(lx, y, 1)
    pred = a + b * lx
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"a": float(a), "b": float(b), "r2": r2, "gain_per_10x": float(b * math.log(10))}


def diminishing_returns_point(b: float, threshold: float = 0.1, per: float = 1000.0) -> float | None:
    """The data size after which the fitted curve ``a + b ln(n)`` gains less than *threshold* points per *per* more
    examples: its slope ``b / n`` equals ``threshold / per`` at ``n* = b * per / threshold``.

    A log curve gains the same ``b ln 10`` for every tenfold increase, so the returns diminish per example: at
    ``n*`` another ``per`` examples (1,000 by default) buy ``threshold`` points (0.1 by default) and less after.
    ``None`` when ``b <= 0`` (more data does not help at all)."""
    if threshold <= 0 or per <= 0:
        raise ValueError("threshold and per must be positive")
    if b <= 0:
        return None
    return b * per / threshold
