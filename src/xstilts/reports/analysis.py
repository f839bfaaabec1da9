"""The statistics of a study report: means over seeds, deltas against the baseline paired by seed, confidence
intervals and tests over examples and over seeds (the definitions: :mod:`xstilts.reports.study`; the tests themselves
are in :mod:`xstilts.stats`)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any


from ..errors import XstiltsError
from .cells import (DEFAULT_LOW_RESOURCE, MIN_SEEDS_TEST, Cell, setting_label, TaskInfo, task_info, cell_score, cell_language_scores, load_example_stats, Group, build_groups, group_label, _varying, order_model_sizes)


# ---------------------------------------------------------------------------------------------- statistics
def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class Entry:
    """One table cell: a setting on a target (or on the XTREME score) in one group."""

    values: dict  # seed -> score
    mean: float | None = None
    std: float | None = None
    delta: float | None = None
    paired: bool = True
    ci_examples: Any = None
    ci_examples_note: str = ""
    ci_seeds: Any = None  # the paired t-test over seeds (an Interval: t interval, detail: p-values)
    ci_seeds_note: str = ""
    best: bool = False
    note: str = ""
    q_examples: float | None = None  # Benjamini–Hochberg adjusted p-values (per-language entries only)
    q_seeds: float | None = None

    def __post_init__(self):
        if self.values:
            self.mean, self.std = _mean_std(list(self.values.values()))


def _delta(values: dict, base: dict) -> tuple[float | None, bool]:
    common = [s for s in values if s in base]
    if common:
        return statistics.fmean(values[s] - base[s] for s in common), True
    if values and base:
        return statistics.fmean(values.values()) - statistics.fmean(base.values()), False
    return None, True


class Analysis:
    """Everything the report shows, computed once from the cells."""

    def __init__(self, cells: list[Cell], *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                 low_resource: list[str] | None = None, dr_threshold: float = 0.1):
        self.cells = cells
        self.resamples, self.confidence, self.seed = resamples, confidence, seed
        self.low_resource = list(low_resource) if low_resource else list(DEFAULT_LOW_RESOURCE)
        self.dr_threshold = dr_threshold
        self.groups, self.notes = build_groups(cells)
        self.varying = _varying(self.groups)
        done = [c for c in cells if c.status == "done"]
        labels: list[str] = []
        for c in done:
            for t in c.target_tasks():
                if t not in labels:
                    labels.append(t)
        self.tasks = {t: task_info(t, [c for c in done if t in c.scores]) for t in labels}
        self._stats_cache: dict = {}
        self._boot_cache: dict = {}
        self.main: dict = {}  # (group index, intermediate, target) -> Entry
        self.xtreme: dict = {}  # (group index, intermediate) -> Entry
        self.languages: dict = {}  # (group index, intermediate, target) -> {lang: Entry}
        self.low: dict = {}  # (group index, intermediate, target) -> Entry
        self.average: dict = {}  # (group index, intermediate) -> Entry: mean over the group's targets
        self.language_tests: dict = {}  # (group index, target) -> number of per-language tests (BH family size)
        self._compute()

    # ------------------------------------------------------------------------------------------ helpers
    def label(self, g: Group) -> str:
        return group_label(g, self.varying)

    def targets(self, g: Group) -> list[str]:
        seen: list[str] = []
        for row in g.rows.values():
            for t in row:
                if t not in seen:
                    seen.append(t)
        return [t for t in self.tasks if t in seen]

    def _stats(self, cell: Cell, info: TaskInfo) -> dict[str, list]:
        k = (cell.id, info.label)
        if k not in self._stats_cache:
            self._stats_cache[k] = load_example_stats(cell, info)
        return self._stats_cache[k]

    def _metric(self, info: TaskInfo):
        fam, task = info.family, info.task

        def metric(stats):
            return fam.metric_from_stats(task, stats)

        return metric

    def _examples_ci(self, info: TaskInfo, row: dict, base: dict, langs: list[str] | None = None):
        """Paired bootstrap over examples for one (setting, target); ``(Interval | None, note)``."""
        from .. import stats as st

        if self.resamples <= 0:
            return None, "not computed (--resamples 0)"
        if info.family is None:
            return None, "task not in the registry"
        seeds = [s for s in row if s in base]
        if not seeds:
            return None, "no seed in common with the baseline"
        want = langs if langs is not None else info.languages
        a, b = {}, {}
        missing = set()
        for s in seeds:
            sa, sb = self._stats(row[s], info), self._stats(base[s], info)
            la = {lang: sa[lang] for lang in want if lang in sa and lang in sb and len(sa[lang]) == len(sb[lang])
                  and sa[lang]}
            missing |= {lang for lang in want if lang not in la}
            a[s], b[s] = la, {lang: sb[lang] for lang in la}
        if missing:
            if len(missing) == len(want):
                return None, "no per-example statistics"
            return None, f"per-example statistics missing for {', '.join(sorted(missing))}"
        try:
            iv = st.paired_examples_interval(a, b, self._metric(info), self.resamples, self.confidence, self.seed,
                                             key=f"{info.label}/", cache=self._boot_cache,
                                             ids=({s: row[s].id for s in seeds}, {s: base[s].id for s in seeds}))
        except (ValueError, NotImplementedError, KeyError, TypeError) as e:
            return None, f"failed: {e}"
        return iv, ""

    def _seeds_ci(self, values: dict, base: dict, key: str = ""):
        """Paired tests over seeds (t-test with its interval, sign-flip p-value); ``(Interval | None, note)``."""
        from .. import stats as st

        common = [s for s in values if s in base]
        if len(common) < MIN_SEEDS_TEST:
            return None, f"needs ≥ {MIN_SEEDS_TEST} paired seeds"
        return st.paired_seeds_test({s: values[s] for s in common}, {s: base[s] for s in common}, self.confidence,
                                    self.seed), ""

    # ------------------------------------------------------------------------------------------ compute
    def _compute(self) -> None:
        from ..xtreme.benchmark import xtreme_score

        for gi, g in enumerate(self.groups):
            base_row = g.rows.get((), {})
            for inter, row in g.rows.items():
                for t, by_seed in row.items():
                    info = self.tasks.get(t)
                    if info is None:
                        continue
                    vals = {s: v for s, c in by_seed.items() if (v := cell_score(c, info)) is not None}
                    e = Entry(vals)
                    per_lang: dict[str, Entry] = {}
                    langs_all = {lang for c in by_seed.values() for lang in cell_language_scores(c, info)}
                    for lang in [x for x in info.languages if x in langs_all]:
                        lv = {s: cell_language_scores(c, info)[lang] for s, c in by_seed.items()
                              if lang in cell_language_scores(c, info)}
                        per_lang[lang] = Entry(lv)
                    low_langs = [x for x in per_lang if x in self.low_resource]
                    lowv = {}
                    for s, c in by_seed.items():
                        ls = cell_language_scores(c, info)
                        if low_langs and all(x in ls for x in low_langs):
                            lowv[s] = statistics.fmean(ls[x] for x in low_langs)
                    low = Entry(lowv, note=", ".join(low_langs))
                    if inter and t in base_row:
                        bcells = base_row[t]
                        bvals = {s: v for s, c in bcells.items() if (v := cell_score(c, info)) is not None}
                        e.delta, e.paired = _delta(vals, bvals)
                        if e.paired:
                            e.ci_examples, e.ci_examples_note = self._examples_ci(info, by_seed, bcells)
                            e.ci_seeds, e.ci_seeds_note = self._seeds_ci(vals, bvals, f"{info.name}/seeds")
                        else:
                            e.ci_examples_note = e.ci_seeds_note = "unpaired (no common seed)"
                        ex_langs = (e.ci_examples.detail.get("languages", {}) if e.ci_examples is not None else {})
                        for lang, le in per_lang.items():
                            blv = {s: ls[lang] for s, c in bcells.items()
                                   if lang in (ls := cell_language_scores(c, info))}
                            le.delta, le.paired = _delta(le.values, blv)
                            if lang in ex_langs:
                                le.ci_examples = ex_langs[lang]
                            if le.paired:
                                le.ci_seeds, le.ci_seeds_note = self._seeds_ci(le.values, blv,
                                                                               f"{info.name}/{lang}/seeds")
                        if low_langs:
                            blow = {}
                            for s, c in bcells.items():
                                ls = cell_language_scores(c, info)
                                if all(x in ls for x in low_langs):
                                    blow[s] = statistics.fmean(ls[x] for x in low_langs)
                            low.delta, low.paired = _delta(lowv, blow)
                            if low.paired and lowv:
                                low.ci_examples, low.ci_examples_note = self._examples_ci(info, by_seed, bcells,
                                                                                          low_langs)
                                low.ci_seeds, low.ci_seeds_note = self._seeds_ci(lowv, blow,
                                                                                 f"{info.name}/low/seeds")
                    self.main[(gi, inter, t)] = e
                    self.languages[(gi, inter, t)] = per_lang
                    self.low[(gi, inter, t)] = low
            # best per target
            for t in self.targets(g):
                entries = [self.main[(gi, i, t)] for i in g.rows if (gi, i, t) in self.main
                           and self.main[(gi, i, t)].mean is not None]
                if entries:
                    top = max(x.mean for x in entries)
                    for x in entries:
                        x.best = math.isclose(x.mean, top, rel_tol=0, abs_tol=1e-9)
            # XTREME score per setting
            xvals: dict = {}
            for inter, row in g.rows.items():
                by_seed: dict[int, dict] = {}
                for t, cells in row.items():
                    info = self.tasks.get(t)
                    if info is None:
                        continue
                    for s, c in cells.items():
                        langs = {lang: m for lang, m in c.scores.get(t, {}).items() if lang != "avg"}
                        by_seed.setdefault(s, {})[t] = {"task": info.name, "metric": info.metric,
                                                        "languages": langs}
                vals, missing = {}, None
                for s, tasks in by_seed.items():
                    try:
                        r = xtreme_score(tasks)
                    except XstiltsError as err:
                        missing = [str(err)]
                        continue
                    if r["overall"] is not None:
                        vals[s] = r["overall"]
                    elif missing is None:
                        missing = r["missing"]
                e = Entry(vals, note="" if vals else f"n/a (missing: {', '.join(missing or ['all tasks'])})")
                xvals[inter] = e
            if () in xvals:
                for inter, e in xvals.items():
                    if inter and e.values and xvals[()].values:
                        e.delta, e.paired = _delta(e.values, xvals[()].values)
                        if e.paired:
                            e.ci_seeds, e.ci_seeds_note = self._seeds_ci(e.values, xvals[()].values, "xtreme/seeds")
            with_vals = [e for e in xvals.values() if e.mean is not None]
            if with_vals:
                top = max(e.mean for e in with_vals)
                for e in with_vals:
                    e.best = math.isclose(e.mean, top, rel_tol=0, abs_tol=1e-9)
            for inter, e in xvals.items():
                self.xtreme[(gi, inter)] = e
            self._average_over_targets(gi, g)
        self._adjust_languages()

    def _average_over_targets(self, gi: int, g: Group) -> None:
        """Per setting: the mean over the group's targets of each seed's scores (seeds with every target), its Δ vs
        the baseline's and the tests over seeds (the "avg" column of the paper's table, tested)."""
        targets = self.targets(g)
        if len(targets) < 2:
            return
        per: dict[tuple, dict] = {}
        for inter in g.rows:
            vals = {}
            entries = [self.main.get((gi, inter, t)) for t in targets]
            if any(e is None or not e.values for e in entries):
                continue
            for s in set.intersection(*(set(e.values) for e in entries)):
                vals[s] = statistics.fmean(e.values[s] for e in entries)
            per[inter] = vals
        base = per.get(())
        for inter, vals in per.items():
            e = Entry(vals, note=f"mean over {len(targets)} targets")
            if inter and base and vals:
                e.delta, e.paired = _delta(vals, base)
                if e.paired:
                    e.ci_seeds, e.ci_seeds_note = self._seeds_ci(vals, base)
                else:
                    e.ci_seeds_note = "unpaired (no common seed)"
            self.average[(gi, inter)] = e

    def _adjust_languages(self) -> None:
        """Benjamini–Hochberg over the per-language tests of each per-language table (a group and a target: every
        setting × language), separately for the tests over examples and over seeds (:attr:`Entry.q_examples`,
        :attr:`Entry.q_seeds`)."""
        from .. import stats as st

        tables: dict[tuple, list[Entry]] = {}
        for (gi, inter, t), per in self.languages.items():
            if inter:
                tables.setdefault((gi, t), []).extend(per.values())
        self.language_tests: dict[tuple, dict] = {}
        for key, entries in tables.items():
            pe = [(e.ci_examples or {}).get("p_value") if isinstance(e.ci_examples, dict) else None for e in entries]
            ps = [e.ci_seeds.detail.get("p_value") if e.ci_seeds is not None else None for e in entries]
            for e, q in zip(entries, st.bh_adjust(pe)):
                e.q_examples = q
            for e, q in zip(entries, st.bh_adjust(ps)):
                e.q_seeds = q
            self.language_tests[key] = {"examples": sum(p is not None for p in pe),
                                        "seeds": sum(p is not None for p in ps)}

    @property
    def alpha(self) -> float:
        """The level of the tests: 1 − confidence."""
        return 1.0 - self.confidence

    # ------------------------------------------------------------------------------------------ curves
    def data_size_curves(self) -> list[dict]:
        """Per (model/budget/other key, setting, target): the points over intermediate sizes and the log fit."""
        from .. import stats as st

        buckets: dict = {}
        for gi, g in enumerate(self.groups):
            if g.intermediate_size is None:
                continue
            ck = (g.model, g.model_size, g.family, g.other, g.budget_steps, g.budget_tokens)
            for inter in g.rows:
                if not inter:
                    continue
                for t in self.targets(g):
                    e = self.main.get((gi, inter, t))
                    if e is None or e.mean is None:
                        continue
                    buckets.setdefault((ck, t), {"group": g, "target": t, "series": {}, "baseline": None})
                    buckets[(ck, t)]["series"].setdefault(inter, []).append(
                        (g.intermediate_size, e.mean, e.std, len(e.values)))
                    b = self.main.get((gi, (), t))
                    if b is not None and b.mean is not None and buckets[(ck, t)]["baseline"] is None:
                        buckets[(ck, t)]["baseline"] = (b.mean, b.std)
        out = []
        for (ck, t), bk in buckets.items():
            sizes = {p[0] for pts in bk["series"].values() for p in pts}
            if len(sizes) < 2:
                continue
            fits = {}
            for inter, pts in bk["series"].items():
                pts.sort()
                if len({p[0] for p in pts}) >= 2:
                    f = st.fit_log_curve([p[0] for p in pts], [p[1] for p in pts])
                    nstar = st.diminishing_returns_point(f["b"], self.dr_threshold)
                    f["n_star"] = nstar
                    f["n_star_reached"] = nstar is None or nstar <= max(p[0] for p in pts)
                    f["sizes"] = [p[0] for p in pts]
                    fits[inter] = f
            out.append({**bk, "fits": fits})
        return out

    def model_size_curves(self) -> list[dict]:
        """Per (family/size/budget/other key, target): points per model-size label for every setting."""
        buckets: dict = {}
        for gi, g in enumerate(self.groups):
            ck = (g.family, g.other, g.intermediate_size, g.budget_steps, g.budget_tokens)
            for inter in g.rows:
                for t in self.targets(g):
                    e = self.main.get((gi, inter, t))
                    if e is None or e.mean is None:
                        continue
                    bk = buckets.setdefault((ck, t), {"group": g, "target": t, "series": {}, "labels": []})
                    lab = g.model_size or g.model_label
                    if lab not in bk["labels"]:
                        bk["labels"].append(lab)
                    bk["series"].setdefault(inter, {})[lab] = (e.mean, e.std, len(e.values))
        out = []
        for bk in buckets.values():
            if len(bk["labels"]) < 2:
                continue
            bk["labels"] = order_model_sizes(bk["labels"])
            out.append(bk)
        return out

    def budget_rows(self) -> list[dict]:
        """What each (setting, seed) spent per intermediate task, when the study has a budget axis."""
        if not any(c.budget_steps is not None or c.budget_tokens is not None for c in self.cells):
            return []
        rows, seen = [], set()
        for gi, g in enumerate(self.groups):
            for inter, row in g.rows.items():
                if not inter:
                    continue
                for t, by_seed in row.items():
                    for s, c in sorted(by_seed.items()):
                        if (gi, inter, s) in seen:
                            continue
                        seen.add((gi, inter, s))
                        spent = c.spent if isinstance(c.spent, dict) else {}
                        if not spent:
                            rows.append({"group": self.label(g), "setting": setting_label(inter), "seed": s,
                                         "task": "", "budget_steps": c.budget_steps,
                                         "budget_tokens": c.budget_tokens, "sampling": c.sampling})
                        steps = {k: v.get("steps") for k, v in spent.items() if isinstance(v, dict)}
                        total = sum(x for x in steps.values() if isinstance(x, (int, float)))
                        for task, v in spent.items():
                            rec = {"group": self.label(g), "setting": setting_label(inter), "seed": s, "task": task,
                                   "budget_steps": c.budget_steps, "budget_tokens": c.budget_tokens,
                                   "sampling": c.sampling}
                            if isinstance(v, dict):
                                rec.update({f"spent_{k}": x for k, x in v.items()})
                                if total and isinstance(steps.get(task), (int, float)):
                                    rec["spent_step_share"] = round(100.0 * steps[task] / total, 1)
                            else:
                                rec["spent"] = v
                            rows.append(rec)
        return rows
