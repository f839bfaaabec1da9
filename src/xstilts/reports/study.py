"""Study reports (``xstilts report STUDY``): the paper's tables, per-language and low-resource views, paired bootstrap
confidence intervals for every delta, plots, in markdown, CSV and LaTeX.

Input: the study's ``results.sqlite`` (``runs`` and ``scores``, see :mod:`xstilts.study.db`) and, for confidence
intervals over examples, the per-example statistics that target phases write (``per_example/<task>/<split>-<lang>
.jsonl``, see ``Family.example_stats``), found through each cell's ``run_dir/run.json``.

Definitions used in every table:

* A **cell** is one run: (model, intermediate task set, intermediate data size, budget, target, seed). Only cells
  with status ``done`` are reported; failed ones are listed with their error. Cells no longer in the study file
  (``runs.active = 0``, left from an earlier version of it) are left out unless ``--all-cells``.
* A **setting** is a row: the intermediate task set (``a+b`` for multi-task training; ``baseline`` for no
  intermediate training). Tables are split by model (and by intermediate data size and budget when those vary).
* **Split**: every table shows one split, ``--split dev`` (the default: the paper's table is on dev sets, with the
  checkpoint selected on English dev) or ``test``. A target without scores of that split in its evaluation
  languages (Tatoeba has no dev data; XQuAD's only dev score is SQuAD's English dev set; a run from before dev
  evaluation) shows its other split, marked in the column header (``tatoeba (accuracy@1, test)``).
* **Score**: the target's headline metric (the registry task's ``metric``: accuracy, F1, accuracy@1, mAP@20; F1 for
  QA), averaged over the target's evaluation languages (``scores.language = 'avg'``); ``mean ± std`` over seeds
  (sample standard deviation, n − 1; 0 for one seed).
* **The paper's table** (first section): rows = intermediate settings (baseline, each task, ``multi-task (n
  tasks)`` when the table has one multi-task set), columns = targets, the score (mean over seeds) with its Δ, and
  ``avg`` = the mean over the targets shown (the XTREME average of the paper's table; with its Δ). ``--reference
  x-stilts`` (:mod:`xstilts.study.reference`) adds published rows below, each labelled ``published (...), not
  measured, <split>``, with Δ vs the published baseline of the same split and their sources in the note.
* **Delta** (Δ): setting − baseline of the same model, model size, family, other axes and target, paired by seed
  (mean over the seeds both have of the per-seed differences; when they share no seed, the difference of means,
  marked ``unpaired``, without intervals). The best mean per target within a table is in bold.
* **Confidence intervals and tests** (:mod:`xstilts.stats`). Over examples: 95% percentile intervals of 1,000
  paired bootstrap replicates (configurable; same resampled examples of the split shown for both systems and every
  seed; per-language metric recomputed with ``metric_from_stats``, averaged over languages, per seed, then over
  seeds), and the bootstrap p-value. Over seeds (not a bootstrap: 3 to 5 seeds have 10 to 126 distinct resamples):
  the paired t-test of the per-seed differences (two-sided, ``scipy.stats.ttest_rel``) with its 95% t interval, and
  the exact sign-flip permutation test (all 2^n sign flips; its smallest possible p is 2 / 2^n, so with ≤ 5 seeds
  it cannot reach 0.05), from :data:`MIN_SEEDS_TEST` = 2 paired seeds; per target, for the average over the targets
  and for the XTREME score. Marks in the main and low-resource tables: ``†`` the interval over examples excludes 0,
  ``‡`` the t-test over seeds has p < 0.05 (one test per cell, not corrected). In the per-language tables the
  same marks are controlled for multiple comparisons: Benjamini–Hochberg adjusted p < 0.05 over all the
  (setting, language) tests of the table (false discovery rate 5%; ``scipy.stats.false_discovery_control``). Tasks
  without per-example statistics (BUCC) get tests over seeds only. The level is 1 − ``--confidence``.
* **XTREME score**: :func:`xstilts.xtreme.benchmark.xtreme_score` of a setting's targets for each seed (mean of the nine
  task scores, QA as (EM + F1) / 2); ``n/a (missing: ...)`` when the targets do not cover XTREME.
* **Low-resource view**: the languages of ``low_resource_languages`` in the study file (else
  :data:`DEFAULT_LOW_RESOURCE`: the 10 XTREME languages with the least CC-100 data, :data:`CC100_GIB`); a task's
  low-resource score is the mean over those of its languages.
* **Data-size curve**: score vs ``intermediate_size`` (log x axis, error bars = std over seeds) with the fit
  ``score = a + b ln(n)`` on the per-size means. A log curve gains ``b ln 10`` per tenfold increase, so the
  **point of diminishing returns** is defined per example: the size ``n* = 1000 b / τ`` at which the fitted
  marginal gain falls below τ points per 1,000 more examples (τ = 0.1 by default, ``--dr-threshold``);
  :func:`xstilts.stats.diminishing_returns_point`.
* **Model-size curve**: score vs the ``model_size`` labels (ordered by parsed size: 110M < 1.3B, or tiny < mini <
  small < base < medium < large < xl < xxl, else by first appearance), error bars = std over seeds.
* **Budget**: when the study has a budget axis, the compute actually spent per intermediate task (``runs.spent``:
  steps, examples, tokens) is tabulated per setting and seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any


from ..errors import XstiltsError
from ..io import atomic_write_json, atomic_write_text
from ..study.reference import load_reference
from .cells import (DAGGER, DDAGGER, MIN_SEEDS_TEST, resolve_study, setting_label, load_cells, select_split, attach_sampling, Group)
from .analysis import (Entry, Analysis)
from .tables import (_f, _sig, _lo_hi, _pval, _marks, _lang_marks, _p, _cell_text, Table, latex_escape, slug)


# ---------------------------------------------------------------------------------------------- the report
class Report:
    """Builds the tables, CSV rows and plots of an :class:`Analysis` and writes them."""

    def __init__(self, an: Analysis, title: str, out: Path, plots: bool = True, inactive: int = 0,
                 split: str = "dev", fallback: dict | None = None, references: list[dict] | None = None):
        self.an, self.title, self.out, self.want_plots = an, title, Path(out), plots
        self.split = split  # the split the tables show
        self.fallback = dict(fallback or {})  # target -> the other split, shown where it has no `split` scores
        self.references = list(references or [])  # published figures (xstilts.study.reference)
        self.inactive = inactive  # cells left out because they are no longer in the study file (runs.active = 0)
        self.tables: list[tuple[str, Table]] = []  # (section, table)
        self.csv: dict[str, list[dict]] = {}
        self.images: list[tuple[str, str, str, float]] = []  # (section, caption, PNG file name, width in inches)
        self.figure_colors: dict[str, dict[str, str]] = {}  # figure stem -> {legend label: colour}
        self.palette = None  # figures.Palette, made once per report (_plots)
        self.labels: dict[tuple, str] = {}  # setting -> its label in the figures
        self.texts: list[tuple[str, str]] = []  # (section, markdown paragraph)

    # ------------------------------------------------------------------------------------------ tables
    def build(self) -> None:
        an = self.an
        for gi, g in enumerate(an.groups):
            self._paper_table(gi, g)
        for gi, g in enumerate(an.groups):
            self._main_table(gi, g)
        for gi, g in enumerate(an.groups):
            self._ci_table(gi, g)
        for gi, g in enumerate(an.groups):
            for t in an.targets(g):
                self._language_table(gi, g, t)
        for gi, g in enumerate(an.groups):
            self._low_table(gi, g)
        self._budget_table()
        self._curves()
        if self.want_plots:
            self._plots()

    def _settings(self, g: Group) -> list[tuple]:
        return list(g.rows)

    def _main_table(self, gi: int, g: Group) -> None:
        an = self.an
        targets = an.targets(g)
        header = ["intermediate"] + [f"{t} ({an.tasks[t].metric}{self._split_mark(t)})" for t in targets] + ["XTREME"]
        rows = []
        notes = {an.xtreme[(gi, i)].note for i in self._settings(g) if (gi, i) in an.xtreme
                 and an.xtreme[(gi, i)].mean is None}
        shared = len(notes) == 1 and all((gi, i) in an.xtreme and an.xtreme[(gi, i)].mean is None
                                         for i in self._settings(g))
        for inter in self._settings(g):
            r = [(setting_label(inter), False)]
            for t in targets:
                r.append(_cell_text(an.main.get((gi, inter, t))))
            x = an.xtreme.get((gi, inter))
            if x is not None and x.mean is not None:
                r.append(_cell_text(x))
            else:
                r.append(("n/a" if shared else (x.note if x else "—"), False))
            rows.append(r)
            for t in targets:
                e = an.main.get((gi, inter, t))
                if e is None:
                    continue
                self.csv.setdefault("main", []).append(self._csv_row(g, inter, t, an.tasks[t].metric, e))
            if x is not None:
                self.csv.setdefault("main", []).append(self._csv_row(g, inter, "XTREME", "xtreme_score", x))
        seeds = sorted({s for row in g.rows.values() for by in row.values() for s in by})
        note = (f"mean ± std over seeds ({', '.join(map(str, seeds))}); (Δ vs baseline, paired by seed); bold: best "
                f"per column; {self._marks_note()}"
                + (f" XTREME score: {notes.pop()}." if shared else "") + self._split_note(targets))
        self.tables.append(("Main results", Table(f"Main results ({self.split}) — {an.label(g)}", header, rows,
                                                  note)))

    def _marks_note(self, corrected: bool = False, family: int | None = None) -> str:
        """What the marks mean: test, level, correction."""
        an = self.an
        pct, a = f"{an.confidence * 100:g}%", f"{an.alpha:g}"
        if not corrected:
            return (f"{DAGGER}: the {pct} paired bootstrap interval over examples excludes 0 ({an.resamples:,} "
                    f"resamples); {DDAGGER}: paired t-test over seeds, two-sided p < {a} (≥ {MIN_SEEDS_TEST} paired "
                    f"seeds); one test per cell, not corrected for multiple comparisons.")
        fam = f" ({family} tests)" if family else ""
        return (f"Per-language marks, controlled for multiple comparisons: Benjamini–Hochberg adjusted p < {a} (false "
                f"discovery rate {a}) over all (setting, language) tests of this table{fam}, per kind of test; "
                f"{DAGGER}: paired bootstrap over examples (two-sided bootstrap p-value, {an.resamples:,} resamples), "
                f"{DDAGGER}: paired t-test over seeds (two-sided). The avg row's marks are the task-level tests, not "
                f"corrected.")

    # ------------------------------------------------------------------------------------------ the paper's table
    def _split_mark(self, t: str) -> str:
        return f", {self.fallback[t]}" if t in self.fallback else ""

    def _split_note(self, targets: list[str]) -> str:
        fb = [t for t in targets if t in self.fallback]
        text = f" Scores on the {self.split} split"
        if fb:
            text += (f"; {', '.join(fb)}: no {self.split} scores in the target languages, the "
                     f"{self.fallback[fb[0]]} split is shown (marked in the header)")
        return text + "."

    def _paper_table(self, gi: int, g: Group) -> None:
        """The paper's layout (Phang et al. 2020, Table 2): rows = intermediate settings (baseline, each task,
        multi-task), columns = targets, the score (mean over seeds) with Δ vs the baseline, and the average over
        the targets shown; published reference rows (``--reference``) below, labelled as not measured."""
        an = self.an
        targets = an.targets(g)
        if not targets:
            return
        settings = self._settings(g)
        multi = [i for i in settings if len(i) > 1]
        header = ["intermediate"] + [f"{t}{self._split_mark(t)}" for t in targets] + ["avg"]
        rows: list[list[tuple[str, bool]]] = []

        def label(inter: tuple) -> str:
            if len(inter) > 1 and len(multi) == 1:
                return f"multi-task ({len(inter)} tasks)"
            return setting_label(inter)

        def avg_of(vals: dict[str, float | None]) -> tuple[float | None, int]:
            have = [v for v in vals.values() if v is not None]
            return (statistics.fmean(have) if have else None), len(have)

        base_vals = {t: (an.main[(gi, (), t)].mean if (gi, (), t) in an.main else None) for t in targets}
        base_avg, base_n = avg_of(base_vals)
        measured_avg: dict[tuple, float | None] = {}
        for inter in settings:
            vals = {t: (an.main[(gi, inter, t)].mean if (gi, inter, t) in an.main else None) for t in targets}
            avg, n = avg_of(vals)
            measured_avg[inter] = avg
            r = [(label(inter), False)]
            for t in targets:
                e = an.main.get((gi, inter, t))
                if e is None or e.mean is None:
                    r.append(("—", False))
                    continue
                txt = f"{e.mean:.1f}"
                if inter and e.delta is not None:
                    txt += f" ({e.delta:+.1f}{'' if e.paired else '*'})"
                r.append((txt, e.best))
            if avg is None:
                r.append(("—", False))
            else:
                txt = f"{avg:.1f}" + (f" of {n}" if n < len(targets) else "")
                comparable = n == len(targets) and base_n == len(targets)
                if inter and base_avg is not None and comparable:
                    txt += f" ({avg - base_avg:+.1f})"
                r.append((txt, False))
            rows.append(r)
            self.csv.setdefault("paper", []).append(
                {"model": g.model_label, "setting": label(inter), "intermediate": setting_label(inter),
                 "source": "measured", "split": self.split,
                 **{t: vals[t] for t in targets}, "avg": avg,
                 **{f"delta_{t}": (an.main[(gi, inter, t)].delta if (gi, inter, t) in an.main else None)
                    for t in targets}})
        top = max((v for v in measured_avg.values() if v is not None), default=None)
        if top is not None:
            for r, inter in zip(rows, settings):
                if measured_avg[inter] is not None and math.isclose(measured_avg[inter], top, abs_tol=1e-9):
                    r[-1] = (r[-1][0], True)
        notes = [f"{an.tasks[t].metric} for {t}" for t in targets]
        seeds = sorted({s for row in g.rows.values() for by in row.values() for s in by})
        note = (f"The paper's layout: {self.split} scores averaged over each target's languages, mean over seeds "
                f"({', '.join(map(str, seeds))}); (Δ vs baseline, paired by seed; * unpaired); bold: best per column; "
                f"avg: mean over the targets shown ('of n': over the n targets the row has), its Δ vs the "
                f"baseline's. Metrics: {', '.join(notes)}." + self._split_note(targets))
        ref_rows, ref_notes = self._reference_rows(g, settings, targets, label)
        rows += ref_rows
        if ref_notes:
            note += " " + " ".join(ref_notes)
        self.tables.append(("Intermediate task × target (the paper's table)", Table(
            f"Intermediate task × target, {self.split} — {an.label(g)}", header, rows, note)))

    def _reference_rows(self, g: Group, settings: list[tuple], targets: list[str], label) -> tuple[list, list[str]]:
        """Rows of published figures (``--reference``): those of the table's settings in the table's order, then
        the reference's other rows; each labelled ``published (<publication>), not measured, <split>: <label>``,
        with Δ vs the reference's baseline row of the same split. Returns the rows and the notes (sources)."""
        from ..study.reference import row_key

        out, notes = [], []
        names = {t: self.an.tasks[t].name for t in targets}
        for ref in self.references:
            who = ref["title"].split(",")[0].strip() or ref["name"]
            order: list[tuple[dict, str]] = []
            matched: set[int] = set()
            for inter in settings:
                key = row_key(inter, ref)
                for i, r in enumerate(ref["rows"]):
                    if key is not None and r["setting"] == key and i not in matched:
                        order.append((r, label(inter) if r["label"] == key else r["label"]))
                        matched.add(i)
            order += [(r, r["label"]) for i, r in enumerate(ref["rows"]) if i not in matched]
            empty, sources = [], []
            for r, text in order:
                vals = {t: r["scores"].get(names[t]) for t in targets}
                if all(v is None for v in vals.values()) and r["scores"].get("avg") is None:
                    empty.append(r["label"])
                    continue
                base = next((b for b in ref["rows"] if b["setting"] == "baseline" and b["split"] == r["split"]
                             and b is not r), None)
                row = [(f"published ({who}), not measured, {r['split']}: {text}", False)]
                for t in targets:
                    v = vals[t]
                    b = (base or {}).get("scores", {}).get(names[t]) if base is not None else None
                    row.append(("—" if v is None else f"{v:.1f}" + (f" ({v - b:+.1f})" if b is not None else ""),
                                False))
                row.append(("—" if r["scores"].get("avg") is None else f"{r['scores']['avg']:.1f}", False))
                out.append(row)
                sources.append(f"{r['label']} ({r['split']}): {r['source'].rstrip('.')}")
                self.csv.setdefault("paper", []).append(
                    {"model": ref.get("model"), "setting": r["setting"], "label": r["label"],
                     "source": f"published: {ref['name']}", "split": r["split"], **vals,
                     "avg": r["scores"].get("avg")})
            n = f"Published rows ({ref['name']}: {ref['title']}), not measured by xstilts"
            splits = sorted({r["split"] for r, _ in order if r["label"] not in empty})
            if splits and splits != [self.split]:
                n += f"; they are on the {' and '.join(splits)} split (this table: {self.split})"
            n += ("; Δ vs the published baseline row of the same split; their avg is the one the publication prints, "
                  "not recomputed here")
            metric_diff = [f"{t} ({ref['metrics'][names[t]]} there, {self.an.tasks[t].metric} here)"
                           for t in targets if names[t] in ref["metrics"]
                           and ref["metrics"][names[t]] != self.an.tasks[t].metric]
            if metric_diff:
                n += "; metrics differ for " + ", ".join(metric_diff)
            if sources:
                n += ". Sources: " + "; ".join(sources)
            if empty:
                n += f". No published figures for the columns shown in: {', '.join(empty)} (left out)"
            if ref["note"]:
                n += f". Note of the reference file: {ref['note']}"
            notes.append(n + ".")
        return out, notes

    def _csv_row(self, g: Group, inter: tuple, target: str, metric: str, e: Entry, **extra) -> dict:
        elo, ehi = _lo_hi(e.ci_examples)
        slo, shi = _lo_hi(e.ci_seeds)
        return {"model": g.model_label, "model_name": g.model, "model_size": g.model_size, "family": g.family,
                "intermediate_size": g.intermediate_size, "budget_steps": g.budget_steps,
                "budget_tokens": g.budget_tokens, **{k: json.loads(v) for k, v in g.other},
                "setting": setting_label(inter), **extra, "target": target, "metric": metric,
                "n_seeds": len(e.values), "seeds": " ".join(map(str, sorted(e.values))), "mean": e.mean,
                "std": e.std, "delta": e.delta, "paired": e.paired, "best": e.best,
                "ci_examples_low": elo, "ci_examples_high": ehi, "ci_examples_significant": _sig(e.ci_examples)
                if e.ci_examples is not None else None,
                "p_examples": _pval(e.ci_examples),
                "ci_seeds_low": slo, "ci_seeds_high": shi,
                "ci_seeds_significant": _sig(e.ci_seeds) if e.ci_seeds is not None else None,
                "p_seeds_ttest": _pval(e.ci_seeds),
                "p_seeds_sign_flip": e.ci_seeds.detail.get("sign_flip_p") if e.ci_seeds is not None else None,
                **({"q_examples_bh": e.q_examples, "q_seeds_bh": e.q_seeds} if "language" in extra else {}),
                "note": e.note}

    def _ci_table(self, gi: int, g: Group) -> None:
        """Per setting: each target's Δ, the average over the targets and the XTREME score, with the interval and
        p-value over examples (paired bootstrap) and the tests over seeds (t interval, t-test and sign-flip
        p-values)."""
        an = self.an
        rows = []
        pct = f"{an.confidence * 100:g}%"
        min_p: set[float] = set()
        for inter in self._settings(g):
            if not inter:
                continue
            for t in an.targets(g) + ["avg", "XTREME"]:
                if t == "XTREME":
                    e = an.xtreme.get((gi, inter))
                elif t == "avg":
                    e = an.average.get((gi, inter))
                else:
                    e = an.main.get((gi, inter, t))
                if e is None or e.delta is None:
                    continue
                ex_note = e.ci_examples_note or ("n/a" if t in ("XTREME", "avg") else "")
                sd = e.ci_seeds.detail if e.ci_seeds is not None else {}
                if sd:
                    min_p.add(sd["sign_flip_min_p"])
                sf = "—" if not sd else _p(sd["sign_flip_p"]) + ("" if sd["sign_flip_exact"] else " (random flips)")
                tp = "—" if not sd else _p(sd["p_value"]) + (" (no spread)" if sd.get("zero_spread") else "")
                rows.append([(setting_label(inter), False),
                             ("avg (targets)" if t == "avg" else t, False), (_f(e.delta, True), False),
                             (self._ci_text(e.ci_examples, ex_note), False),
                             (_p(_pval(e.ci_examples)) if e.ci_examples is not None else "—", False),
                             (str(len(sd.get("seeds", []))) if sd else "—", False),
                             (self._ci_text(e.ci_seeds, e.ci_seeds_note), False), (tp, False), (sf, False)])
                self.csv.setdefault("tests", []).append(
                    {**self._csv_row(g, inter, t, "average" if t == "avg" else
                                     ("xtreme_score" if t == "XTREME" else an.tasks[t].metric), e),
                     "t": sd.get("t"), "df": sd.get("df"), "sign_flip_exact": sd.get("sign_flip_exact"),
                     "differences": " ".join(f"{d:.4g}" for d in sd.get("differences", []))})
        if rows:
            floor = (f" With n seeds the sign-flip test's smallest possible p is 2/2^n ("
                     + ", ".join(f"{m:.3g}" for m in sorted(min_p, reverse=True)) + " here), so it cannot reject at "
                     f"{an.alpha:g} with few seeds.") if min_p else ""
            note = (f"Over examples: {pct} percentile interval of {an.resamples:,} paired bootstrap replicates (seed "
                    f"{an.seed}) and its two-sided bootstrap p-value. Over seeds: the per-seed differences' paired "
                    f"t-test (two-sided; its {pct} t interval) and exact sign-flip permutation test (all 2^n sign "
                    f"flips, two-sided). * = the interval excludes 0 (p < {an.alpha:g}); no correction for multiple "
                    f"comparisons. avg (targets): the mean over the table's targets per seed.{floor}")
            self.tables.append(("Confidence intervals and tests", Table(
                f"Deltas vs baseline: confidence intervals and tests — {an.label(g)}",
                ["intermediate", "target", "Δ", f"{pct} CI over examples", "p (bootstrap)", "seeds",
                 f"{pct} CI over seeds (t)", "p (t-test)", "p (sign-flip)"], rows, note, align="llrlrrlrr")))

    @staticmethod
    def _ci_text(iv: Any, note: str) -> str:
        if iv is None:
            return note or "—"
        lo, hi = _lo_hi(iv)
        return f"[{_f(lo, True)}, {_f(hi, True)}]" + (" *" if _sig(iv) else "")

    def _language_table(self, gi: int, g: Group, t: str) -> None:
        an = self.an
        info = an.tasks[t]
        settings = [i for i in self._settings(g) if (gi, i, t) in an.languages]
        langs: list[str] = []
        for i in settings:
            for lang in an.languages[(gi, i, t)]:
                if lang not in langs:
                    langs.append(lang)
        if not langs:
            return
        order = {x: k for k, x in enumerate(info.languages)}
        langs.sort(key=lambda x: order.get(x, len(order)))
        header = ["language"] + [setting_label(i) for i in settings]
        rows = []
        for lang in langs + ["avg"]:
            r = [(lang, False)]
            for i in settings:
                e = an.languages[(gi, i, t)].get(lang) if lang != "avg" else an.main.get((gi, i, t))
                if e is None or e.mean is None:
                    r.append(("—", False))
                    continue
                txt = f"{e.mean:.2f}"
                if e.delta is not None:
                    txt += f" ({_f(e.delta, True)}{_marks(e) if lang == 'avg' else _lang_marks(e, an.alpha)})"
                r.append((txt, False))
                if lang != "avg":
                    self.csv.setdefault("per_language", []).append(
                        self._csv_row(g, i, t, info.metric, e, language=lang,
                                      low_resource=lang in an.low_resource))
            rows.append(r)
        # bold: best setting per language
        for r, lang in zip(rows, langs + ["avg"]):
            vals = []
            for k, i in enumerate(settings, 1):
                e = an.languages[(gi, i, t)].get(lang) if lang != "avg" else an.main.get((gi, i, t))
                vals.append(e.mean if e is not None and e.mean is not None else None)
            top = max((v for v in vals if v is not None), default=None)
            for k, v in enumerate(vals, 1):
                if v is not None and top is not None and math.isclose(v, top, abs_tol=1e-9):
                    r[k] = (r[k][0], True)
        fam = an.language_tests.get((gi, t), {})
        n_tests = max(fam.get("examples", 0), fam.get("seeds", 0)) or None
        note = (f"{info.metric} per language, mean over seeds (Δ vs baseline); bold: best per language. "
                + self._marks_note(corrected=True, family=n_tests))
        self.tables.append(("Per-language results", Table(f"{t} per language — {an.label(g)}", header, rows, note)))

    def _low_table(self, gi: int, g: Group) -> None:
        an = self.an
        targets = [t for t in an.targets(g) if any(an.low.get((gi, i, t)) is not None and an.low[(gi, i, t)].mean
                                                   is not None for i in g.rows)]
        if not targets:
            return
        header = ["intermediate"] + [f"{t} ({an.tasks[t].metric})" for t in targets]
        rows = []
        for inter in self._settings(g):
            r = [(setting_label(inter), False)]
            for t in targets:
                e = an.low.get((gi, inter, t))
                r.append(_cell_text(e))
                if e is not None and e.mean is not None:
                    self.csv.setdefault("low_resource", []).append(
                        self._csv_row(g, inter, t, an.tasks[t].metric, e, languages=e.note))
            rows.append(r)
        for k, t in enumerate(targets, 1):
            vals = [(an.low.get((gi, i, t)).mean if an.low.get((gi, i, t)) is not None else None) for i in g.rows]
            top = max((v for v in vals if v is not None), default=None)
            for r, v in zip(rows, vals):
                if v is not None and math.isclose(v, top, abs_tol=1e-9):
                    r[k] = (r[k][0], True)
        cover_parts = []
        for t in targets:
            langs = sorted({x for i in g.rows if (gi, i, t) in an.low for x in an.low[(gi, i, t)].note.split(", ")
                            if x})
            cover_parts.append(f"{t}: {', '.join(langs) or 'none'}")
        cover = "; ".join(cover_parts)
        note = (f"mean over the low-resource languages each target has ({cover}); low-resource list: "
                f"{' '.join(an.low_resource)}. (Δ vs baseline) " + self._marks_note())
        self.tables.append(("Low-resource languages", Table(f"Low-resource languages — {an.label(g)}", header, rows,
                                                            note)))

    def _budget_table(self) -> None:
        rows = self.an.budget_rows()
        if not rows:
            return
        self.csv["budget"] = rows
        keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k.startswith("spent")]
        header = (["table", "intermediate", "seed", "budget", "sampling", "task"]
                  + [k.replace("spent_", "").replace("step_share", "% of steps") for k in keys])
        out = []
        for r in rows:
            bud = (f"{r['budget_tokens']:,} tokens" + (f" = {r['budget_steps']:,} steps"
                                                       if r.get("budget_steps") is not None else "")
                   if r.get("budget_tokens") is not None else
                   f"{r['budget_steps']:,} steps" if r.get("budget_steps") is not None else "—")
            out.append([(r["group"], False), (r["setting"], False), (str(r["seed"]), False), (bud, False),
                        (r.get("sampling") or "—", False),
                        ({"": "—", "_total": "all tasks"}.get(r["task"], r["task"]), False)]
                       + [(_num(r.get(k)), False) for k in keys])
        self.tables.append(("Compute budget spent", Table(
            "Intermediate compute actually spent per task", header, out,
            "from runs.spent: what each intermediate task received of the budget (batches drawn = steps, examples, "
            "tokens; estimated = not counted during training); sampling: the intermediate task sampler; a token "
            "budget is converted to optimizer steps per cell.",
            align="llllll" + "r" * len(keys))))

    def _curves(self) -> None:
        an = self.an
        self.size_curves = an.data_size_curves()
        rows = []
        for c in self.size_curves:
            for inter, f in c["fits"].items():
                nstar = f["n_star"]
                where = "—" if nstar is None else (f"{nstar:,.0f}" + ("" if f["n_star_reached"] else
                                                                      " (beyond the largest size)"))
                rows.append([(an.label(c["group"]).split(", intermediate size")[0], False),
                             (setting_label(inter), False), (c["target"], False), (f"{f['a']:.2f}", False),
                             (f"{f['b']:.3f}", False), (f"{f['gain_per_10x']:+.2f}", False), (f"{f['r2']:.3f}", False),
                             (where, False)])
                self.csv.setdefault("data_size_fit", []).append(
                    {"model": c["group"].model_label, "budget_steps": c["group"].budget_steps,
                     "budget_tokens": c["group"].budget_tokens, "setting": setting_label(inter),
                     "target": c["target"], "a": f["a"], "b": f["b"], "gain_per_10x": f["gain_per_10x"],
                     "r2": f["r2"], "n_star": nstar, "n_star_reached": f["n_star_reached"],
                     "threshold_points_per_1000": an.dr_threshold, "sizes": " ".join(map(str, f["sizes"]))})
            for inter, pts in c["series"].items():
                for size, mean, std, n in pts:
                    self.csv.setdefault("data_size", []).append(
                        {"model": c["group"].model_label, "setting": setting_label(inter), "target": c["target"],
                         "intermediate_size": size, "mean": mean, "std": std, "n_seeds": n})
        if rows:
            self.tables.append(("Intermediate data size", Table(
                "Fitted data-size curves score = a + b ln(n)",
                ["model", "intermediate", "target", "a", "b", "gain per 10×", "R²", "diminishing returns n*"], rows,
                f"n*: the size at which the fitted gain falls below τ = {an.dr_threshold:g} points per 1,000 more "
                f"examples (n* = 1000 b / τ).", align="lllrrrrr")))
        self.model_curves = an.model_size_curves()
        for c in self.model_curves:
            for inter, pts in c["series"].items():
                for lab in c["labels"]:
                    if lab in pts:
                        mean, std, n = pts[lab]
                        self.csv.setdefault("model_size", []).append(
                            {"setting": setting_label(inter), "target": c["target"], "model_size": lab, "mean": mean,
                             "std": std, "n_seeds": n})

    # ------------------------------------------------------------------------------------------ plots
    def _display_labels(self) -> dict[tuple, str]:
        """Setting → the label the figures show: the setting label, or ``multi-task (n tasks)`` for a long task set
        (the paper's name; the caption gives the tasks), made unique."""
        settings: list[tuple] = [()]
        for g in self.an.groups:
            for inter in g.rows:
                if inter not in settings:
                    settings.append(inter)
        out: dict[tuple, str] = {}
        for inter in settings:
            lab = setting_label(inter)
            if len(lab) > 24 and len(inter) > 1:
                lab = f"multi-task ({len(inter)} tasks)"
                if lab in out.values():
                    lab = f"multi-task ({len(inter)} tasks, {setting_label(inter)[:12]}…)"
            out[inter] = lab
        return out

    def _long_names(self, settings) -> str:
        """The caption's key of shortened setting labels (``multi-task (9 tasks) = a+b+...``)."""
        parts = [f"{self.labels[i]} = {setting_label(i)}" for i in settings if self.labels.get(i, "") !=
                 setting_label(i)]
        return (" " + "; ".join(parts) + ".") if parts else ""

    def _plots(self) -> None:
        from . import figures

        an = self.an
        self.labels = self._display_labels()
        self.palette = figures.Palette(self.labels.values())  # one colour per setting for every figure
        with figures.style():
            for gi, g in enumerate(an.groups):
                targets = an.targets(g)
                settings = [i for i in g.rows if i]
                if () in g.rows and settings and targets:
                    self._heatmap(gi, g, settings, targets)
                for t in targets:
                    self._language_plot(gi, g, settings, t)
            for c in self.size_curves:
                self._size_plot(c)
            for c in self.model_curves:
                self._model_plot(c)

    def _save(self, fig, stem: str, section: str, caption: str) -> None:
        """Write ``<stem>.pdf`` and ``<stem>.png`` (300 dpi) and list the figure with its caption."""
        from . import figures

        width = float(fig.get_size_inches()[0])
        self.figure_colors[stem] = figures.legend_colors(fig)
        figures.save(fig, self.out / stem)
        self.images.append((section, caption, f"{stem}.png", width))

    def _heatmap(self, gi: int, g: Group, settings: list, targets: list[str]) -> None:
        from . import figures
        import numpy as np

        an = self.an
        cols = targets + (["XTREME"] if any(an.xtreme.get((gi, i)) is not None and an.xtreme[(gi, i)].delta
                                            is not None for i in settings) else [])
        mat = np.full((len(settings), len(cols)), np.nan)
        notes = [[""] * len(cols) for _ in settings]
        for r, i in enumerate(settings):
            for k, t in enumerate(cols):
                e = an.main.get((gi, i, t)) if t != "XTREME" else an.xtreme.get((gi, i))
                if e is not None and e.delta is not None:
                    mat[r, k] = e.delta
                    notes[r][k] = f"{e.delta:+.1f}{_marks(e)}"
        fig = figures.delta_heatmap(mat, [self.labels[i] for i in settings], cols, notes,
                                    "Δ vs baseline (points)")
        if fig is None:
            return
        self._save(fig, f"heatmap-{slug(an.label(g))}", "Plots",
                   f"Δ vs the baseline per intermediate setting (rows) and target (columns), {self.split} scores — "
                   f"{an.label(g)}. Blue: better than the baseline, red: worse; n/a: no Δ. {self._marks_note()}"
                   + self._long_names(settings))

    def _language_plot(self, gi: int, g: Group, settings: list, t: str) -> None:
        """Per-language Δ of every setting: a dot plot sorted by Δ, wrapped into panels of ≤ 40 languages."""
        from . import figures

        an = self.an
        raw = [(i, an.languages.get((gi, i, t), {})) for i in settings]
        kind = ("examples" if any(le.ci_examples is not None for _, per in raw for le in per.values())
                else "seeds" if any(le.ci_seeds is not None for _, per in raw for le in per.values()) else None)
        series = []
        for i, per in raw:
            pts = {}
            for lang, le in per.items():
                if le.delta is None:
                    continue
                iv = le.ci_examples if kind == "examples" else le.ci_seeds if kind == "seeds" else None
                lo, hi = _lo_hi(iv)
                pts[lang] = figures.LanguagePoint(le.delta, lo, hi)
            if pts:
                series.append((self.labels[i], pts))
        if not series:
            return
        means = {}
        if len(series) <= 3:  # the task-level Δ of each setting as a dashed line (more would clutter)
            means = {self.labels[i]: an.main[(gi, i, t)].delta for i, _ in raw
                     if (gi, i, t) in an.main and an.main[(gi, i, t)].delta is not None}
        fig, info = figures.language_dot_plot(series, self.palette, f"Δ {an.tasks[t].metric} vs baseline (points)",
                                              mean_lines=means)
        if fig is None:
            return
        pct = f"{an.confidence * 100:g}%"
        what = {"examples": f"lines: {pct} paired bootstrap intervals over examples",
                "seeds": f"lines: {pct} t intervals over seeds",
                None: "no intervals (no per-example statistics and fewer than 2 paired seeds)"}[kind]
        miss = (f"; open dots: no interval for that language ({info['missing']} of "
                f"{info['missing'] + info['with_interval']})" if info["missing"] and kind else "")
        if info.get("cut"):
            miss += f"; {info['cut']} interval end(s) beyond the axis run to the panel's edge"
        lay = info["layout"]
        wrap = (f" {lay.n} languages in {lay.ncols * lay.nrows} panels, read left to right"
                + (", then the next row of panels." if lay.nrows > 1 else ".") if lay.ncols * lay.nrows > 1 else "")
        self._save(fig, f"languages-{slug(an.label(g))}-{slug(t)}", "Plots",
                   f"{t}: Δ vs the baseline per language, {self.split} scores, languages sorted by Δ (largest first) — "
                   f"{an.label(g)}. Dots: Δ (mean over seeds); {what}, not corrected for multiple comparisons{miss}"
                   + ("; dashed: the task-level Δ (mean over languages)" if means else "") + "." + wrap
                   + self._long_names(settings))

    def _size_plot(self, c: dict) -> None:
        from . import figures
        import numpy as np

        an = self.an
        pal = self.palette
        fig, ax = figures.figure(figures.COLUMN_WIDTH, 2.6 + 0.2 * math.ceil((len(c["series"]) + 1) / 2))
        handles = []
        nstars = []
        single = False
        for inter, pts in c["series"].items():
            lab = self.labels.get(inter, setting_label(inter))
            stl = pal[lab]
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            lo = [p[1] - p[2] if p[3] > 1 else None for p in pts]
            hi = [p[1] + p[2] if p[3] > 1 else None for p in pts]
            _, wo = figures.points(ax, xs, ys, lo, hi, stl)
            single = single or wo > 0
            f = c["fits"].get(inter)
            if f is not None:
                grid = np.geomspace(min(xs), max(xs), 100)
                ax.plot(grid, f["a"] + f["b"] * np.log(grid), color=stl.color, linewidth=1.0)
                if f["n_star"] is not None and min(xs) <= f["n_star"] <= max(xs):
                    ax.axvline(f["n_star"], color=stl.color, linestyle=":", linewidth=1.0)
                    nstars.append(f"{lab}: n* = {f['n_star']:,.0f}")
            handles.append(figures.setting_handle(lab, stl))
        if c["baseline"] is not None:
            m, sd = c["baseline"]
            ax.axhline(m, color=figures.BASELINE_COLOR, linestyle="--", linewidth=1.0)
            if sd:
                ax.axhspan(m - sd, m + sd, color="0.85", linewidth=0, zorder=0)
            from matplotlib.lines import Line2D

            handles.insert(0, Line2D([], [], color=pal["baseline"].color, linestyle="--", linewidth=1.0,
                                     label=self.labels[()]))
        ax.set_xscale("log")
        ax.set_xlabel("intermediate training examples (log scale)")
        ax.set_ylabel(f"{c['target']} {an.tasks[c['target']].metric}")
        figures.figure_legend(fig, handles, ncol=2)
        lab = an.label(c["group"]).split(", intermediate size")[0]
        self._save(fig, f"data-size-{slug(lab)}-{slug(c['target'])}", "Plots",
                   f"{c['target']}: score vs intermediate data size (log scale), {self.split} scores — {lab}. Dots: "
                   f"mean over seeds, lines through them: ± 1 std over seeds"
                   + ("; open dots: one seed, no spread to show" if single else "")
                   + "; solid curves: the fit a + b ln n (table above); dotted: the point of diminishing returns n*"
                   + (f" ({'; '.join(nstars)})" if nstars else "")
                   + ("; dashed: the baseline (grey band: ± 1 std)" if c["baseline"] is not None else "") + "."
                   + self._long_names(list(c["series"])))

    def _model_plot(self, c: dict) -> None:
        from . import figures

        an = self.an
        pal = self.palette
        labels = c["labels"]
        series = list(c["series"].items())
        fig, ax = figures.figure(figures.COLUMN_WIDTH if len(labels) <= 6 else figures.MAX_WIDTH,
                                 2.6 + 0.2 * math.ceil(len(series) / 2))
        handles, single = [], False
        step = min(0.12, 0.5 / max(len(series), 1))
        for k, (inter, pts) in enumerate(series):
            lab = self.labels.get(inter, setting_label(inter))
            stl = pal[lab]
            idx = [j for j, x in enumerate(labels) if x in pts]
            xs = [j + (k - (len(series) - 1) / 2) * step for j in idx]
            ys = [pts[labels[j]][0] for j in idx]
            lo = [pts[labels[j]][0] - pts[labels[j]][1] if pts[labels[j]][2] > 1 else None for j in idx]
            hi = [pts[labels[j]][0] + pts[labels[j]][1] if pts[labels[j]][2] > 1 else None for j in idx]
            ax.plot(xs, ys, color=stl.color, linewidth=0.8, alpha=0.6)
            _, wo = figures.points(ax, xs, ys, lo, hi, stl)
            single = single or wo > 0
            handles.append(figures.setting_handle(lab, stl))
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("model size")
        ax.set_ylabel(f"{c['target']} {an.tasks[c['target']].metric}")
        figures.figure_legend(fig, handles, ncol=2)
        g = c["group"]
        extra = []
        if g.intermediate_size is not None:
            extra.append(f"intermediate size {g.intermediate_size}")
        if g.budget_steps is not None or g.budget_tokens is not None:
            extra.append(f"budget {g.budget_steps or g.budget_tokens}")
        tail = f" ({', '.join(extra)})" if extra else ""
        self._save(fig, f"model-size-{slug(c['target'])}{'-' + slug(tail) if tail else ''}", "Plots",
                   f"{c['target']}: score vs model size{tail}, {self.split} scores. Dots: mean over seeds, lines "
                   f"through them: ± 1 std over seeds" + ("; open dots: one seed, no spread to show" if single else "")
                   + "." + self._long_names([i for i, _ in series]))

    # ------------------------------------------------------------------------------------------ output
    def header_lines(self) -> list[str]:
        an = self.an
        status: dict[str, int] = {}
        for c in an.cells:
            status[c.status] = status.get(c.status, 0) + 1
        lines = [f"# {self.title}", "",
                 "cells: " + ", ".join(f"{n} {s}" for s, n in sorted(status.items())) + f" (of {len(an.cells)})"
                 + (f"; {self.inactive} cell(s) no longer in the study file left out (--all-cells to include them)"
                    if self.inactive else ""), ""]
        lines += [f"Over examples: paired bootstrap, {an.resamples:,} resamples, {an.confidence * 100:g}% percentile "
                  f"intervals, seed {an.seed}. Over seeds: paired t-test and exact sign-flip test (level "
                  f"{an.alpha:g}); per-language marks Benjamini–Hochberg corrected. Low-resource languages: "
                  f"{' '.join(an.low_resource)}.", ""]
        failed = [c for c in an.cells if c.status == "failed"]
        if failed:
            lines += ["**Failed cells** (not in the tables):", ""]
            for c in failed:
                err = (c.error or "").strip().splitlines()[0][:200] if c.error else "no error recorded"
                lines.append(f"- `{c.id}` {c.model_label} {c.setting} → {c.target}, seed {c.seed}: {err}")
            lines.append("")
        if an.notes.get("unmatched_baseline"):
            lines += ["No baseline cells for: " + "; ".join(an.notes["unmatched_baseline"]) + " (no deltas).", ""]
        return lines

    def write(self) -> dict:
        out = self.out
        out.mkdir(parents=True, exist_ok=True)
        md = self.header_lines()
        sections: list[str] = []
        for sec, _ in self.tables:
            if sec not in sections:
                sections.append(sec)
        for sec, *_ in self.images:
            if sec not in sections:
                sections.append(sec)
        for sec in sections:
            md += [f"## {sec}", ""]
            for s, t in self.tables:
                if s == sec:
                    md += [t.markdown()]
            for s, cap, name, _ in self.images:
                if s == sec:
                    md += [f"![{name.rsplit('.', 1)[0]}]({name})", "", f"*{cap}*", "",
                           f"(vector: [{name.rsplit('.', 1)[0]}.pdf]({name.rsplit('.', 1)[0]}.pdf))", ""]
        md += ["## Definitions", "", _DEFINITIONS.format(
            threshold=self.an.dr_threshold, pct=f"{self.an.confidence * 100:g}%", alpha=f"{self.an.alpha:g}"), ""]
        md_text = "\n".join(md)
        paths = {"markdown": atomic_write_text(out / "report.md", md_text)}
        tex = [r"\documentclass{article}", r"\usepackage[margin=2cm]{geometry}", r"\usepackage{booktabs}",
               r"\usepackage{graphicx}", r"\usepackage[utf8]{inputenc}", r"\begin{document}",
               f"\\section*{{{latex_escape(self.title)}}}"]
        for sec in sections:
            tex.append(f"\\subsection*{{{latex_escape(sec)}}}")
            for s, t in self.tables:
                if s == sec:
                    tex.append(t.latex())
            for s, cap, name, width in self.images:
                if s == sec:  # the PDF at its own size (8 pt text), scaled down only where wider than the text
                    size = f"width={width:.2f}in" if width <= 6.5 else r"width=\linewidth"
                    tex += [r"\begin{figure}[ht]", r"\centering",
                            f"\\includegraphics[{size}]{{{name.rsplit('.', 1)[0]}.pdf}}",
                            f"\\caption{{{latex_escape(cap)}}}", r"\end{figure}"]
            tex.append(r"\clearpage")
        tex.append(r"\end{document}")
        paths["latex"] = atomic_write_text(out / "report.tex", "\n".join(tex) + "\n")
        csvs = {}
        for name, rows in self.csv.items():
            if not rows:
                continue
            cols = list(dict.fromkeys(k for r in rows for k in r))
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
            csvs[name] = str(atomic_write_text(out / f"{name}.csv", buf.getvalue()))
        pdfs = [n.rsplit(".", 1)[0] + ".pdf" for _, _, n, _ in self.images]
        paths["json"] = atomic_write_json(out / "report.json", {
            "title": self.title, "csv": csvs, "images": [n for _, _, n, _ in self.images], "pdf": pdfs,
            "captions": {n: cap for _, cap, n, _ in self.images},
            "setting_colors": self.palette.as_dict() if self.palette is not None else {},
            "low_resource_languages": self.an.low_resource})
        return {**{k: str(v) for k, v in paths.items()}, "csv": csvs,
                "images": [str(out / n) for _, _, n, _ in self.images], "pdf": [str(out / n) for n in pdfs],
                "figure_colors": self.figure_colors, "markdown_text": md_text}


def _num(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
    return str(v)


_DEFINITIONS = (
    "- Score: the target's headline metric averaged over its evaluation languages; mean ± std over seeds (sample "
    "std).\n"
    "- Δ: setting − baseline (same model, size, family and other axes), mean of the per-seed differences.\n"
    "- " + DAGGER + ": the {pct} paired bootstrap interval over examples excludes 0 (Koehn 2004; Berg-Kirkpatrick et "
    "al. 2012; percentile intervals, Efron & Tibshirani 1993): test examples of each language resampled with "
    "replacement, the same for both systems and every seed, metric recomputed from per-example statistics, averaged "
    "over languages, then over seeds; its p-value is twice the smaller share of replicates on either side of 0.\n"
    "- " + DDAGGER + ": the paired t-test over seeds (per-seed differences setting − baseline, two-sided, "
    "scipy.stats.ttest_rel) has p < {alpha}, i.e. its {pct} t interval excludes 0 (≥ 2 paired seeds). Beside it, the "
    "exact sign-flip permutation test (all 2^n sign flips of the differences; no normality assumed, but its p is "
    "never below 2/2^n: 0.25 with 3 seeds, 0.0625 with 5). The bootstrap over seeds is not used: 3 to 5 seeds have "
    "only 10 to 126 distinct resamples.\n"
    "- Main, low-resource and test tables: one test per cell, not corrected for multiple comparisons. Per-language "
    "tables: the marks are Benjamini–Hochberg adjusted p < {alpha} (false discovery rate {alpha}; Benjamini & "
    "Hochberg 1995, scipy.stats.false_discovery_control) over all the (setting, language) tests of the table, per "
    "kind of test.\n"
    "- Figures: PDF (vector) and PNG (300 dpi) side by side; one colour per setting for the whole report (Okabe–Ito "
    "colour-blind-safe palette; baseline black); per-language plots: dots with {pct} intervals over examples "
    "(uncorrected), an open dot where a language has no interval.\n"
    "- XTREME: mean of the nine XTREME task scores (QA: (EM + F1) / 2), n/a when the targets do not cover it.\n"
    "- Data-size fit: score = a + b ln(n) on the per-size means; gain per 10× = b ln 10; point of diminishing "
    "returns n* = 1000 b / τ, where the fitted gain falls below τ = {threshold:g} points per 1,000 more examples.\n"
    "- Low-resource languages: from the study file (`low_resource_languages`), else the 10 XTREME languages with the "
    "least CC-100 data in XLM-R's pre-training corpus (Conneau et al. 2020, Table 6).")


def build_report(study: Path, out: Path | None = None, *, db: Path | None = None, resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0, low_resource: list[str] | None = None,
                 dr_threshold: float = 0.1, plots: bool = True, all_cells: bool = False, split: str = "dev",
                 references: list[str] | None = None) -> dict:
    """Write the report of a study (file or folder) into ``out`` (default ``<study folder>/report``).

    The tables show the *split* scores (``dev``, the paper's view, by default; a target without them shows its other
    split, marked). *references* (names such as ``x-stilts`` or JSON files, :mod:`xstilts.study.reference`) add
    published rows to the paper-shaped table, labelled as not measured.

    Cells that are no longer in the study file (``runs.active = 0``: left from an earlier version of it) are left
    out unless *all_cells*. The study file's settings (``low_resource_languages``, ``name``) come from the file, or
    for a folder from the copy that ``xstilts study run`` keeps in it (``study.yaml``).

    Returns:
        the written paths (``markdown``, ``latex``, ``json``, ``csv`` {name: path}, ``images``) and
        ``markdown_text``.
    Raises:
        XstiltsError: no study database, no finished cell, or bad options.
    """
    folder, db_path, raw = resolve_study(Path(study), db)
    if not 0 < confidence < 1:
        raise XstiltsError(f"--confidence {confidence}: expected a number between 0 and 1")
    if dr_threshold <= 0:
        raise XstiltsError(f"--dr-threshold {dr_threshold}: expected a positive number")
    refs = [load_reference(r) for r in references or []]
    cells = load_cells(db_path)
    fallback = select_split(cells, split)
    attach_sampling(cells, folder)
    inactive = 0
    if not all_cells:
        kept = [c for c in cells if c.active != 0]
        inactive = len(cells) - len(kept)
        cells = kept
    if not any(c.status == "done" and c.scores for c in cells):
        left = f", {inactive} more no longer in the study file (--all-cells)" if inactive else ""
        raise XstiltsError(f"{db_path}: no finished cell with scores yet ({len(cells)} cells recorded{left}); run "
                           f"`xstilts study run` first")
    lr = low_resource or raw.get("low_resource_languages") or None
    an = Analysis(cells, resamples=resamples, confidence=confidence, seed=seed, low_resource=lr,
                  dr_threshold=dr_threshold)
    name = raw.get("name") or folder.name
    done_targets = {t for c in cells if c.status == "done" for t in c.scores}
    rep = Report(an, f"Study report: {name}", Path(out) if out is not None else folder / "report", plots=plots,
                 inactive=inactive, split=split,
                 fallback={t: sp for t, sp in fallback.items() if t in done_targets}, references=refs)
    rep.build()
    return rep.write()
