"""Study reports: tables checked against hand-computed means/std/deltas, paired bootstrap intervals, per-example
statistics of every task family, plots and the markdown/CSV/LaTeX outputs. No model is trained: the study folder
(results.sqlite, run folders with run.json and per-example files) is synthetic."""

from __future__ import annotations

import csv
import json
import math
import random
import sqlite3
import statistics

import numpy as np
import pytest

from xstilts import stats as st
from xstilts.reports.analysis import Analysis
from xstilts.reports.cells import DEFAULT_LOW_RESOURCE, load_cells, order_model_sizes
from xstilts.reports.study import build_report
from xstilts.tasks import get_family, get_task

SCHEMA = """
CREATE TABLE runs (cell_id TEXT PRIMARY KEY, study TEXT, variant TEXT, status TEXT,
  error TEXT, config_hash TEXT, model TEXT, model_size TEXT, family TEXT, intermediate TEXT,
  intermediate_size INTEGER, budget_steps INTEGER, budget_tokens INTEGER, target TEXT, seed INTEGER, axes TEXT,
  run_dir TEXT, spent TEXT, started REAL, finished REAL, seconds REAL);
CREATE TABLE scores (cell_id TEXT, task TEXT, language TEXT, metric TEXT, value REAL,
  PRIMARY KEY (cell_id, task, language, metric));
"""
PNG = b"\x89PNG\r\n\x1a\n"


def make_study(root, cells):
    """A study folder: results.sqlite plus, per cell, a run folder whose run.json points to a target phase folder
    holding ``per_example/<task>/test-<lang>.jsonl`` when the cell gives ``stats``.

    Each cell: ``id, inter (list), seed, target, scores {lang: {metric: v}} (avg added), metric, task`` and optional
    ``status, error, model, size, isize, steps, spent, stats {lang: [...]}``."""
    folder = root / "study"
    folder.mkdir(parents=True)
    con = sqlite3.connect(folder / "results.sqlite")
    con.executescript(SCHEMA)
    for c in cells:
        run_dir = folder / c["id"] / "run"
        run_dir.mkdir(parents=True)
        phase = folder / "phases" / f"target-{c['target']}-{c['id']}"
        phase.mkdir(parents=True)
        langs = {lang: dict(v) for lang, v in c["scores"].items()}
        for lang, lines in (c.get("stats") or {}).items():
            f = phase / "per_example" / c.get("task", c["target"]) / f"test-{lang}.jsonl"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("".join(json.dumps(x) + "\n" for x in lines))
        metric = c["metric"]
        avg = statistics.fmean(v[metric] for v in langs.values())
        (run_dir / "run.json").write_text(json.dumps({
            "variant": "stilts" if c["inter"] else "baseline", "seed": c["seed"], "run_dir": str(run_dir),
            "phases": [{"phase": "target", "task": c["target"], "dir": str(phase)}],
            "tasks": {c["target"]: {"task": c.get("task", c["target"]), "metric": metric, "languages": langs,
                                    "average": avg}}}))
        model = c.get("model", "org/tiny-encoder")
        size = c.get("size", "small")
        axes = {"model": model, "model_size": size, "model_label": size, "family": "encoder",
                "intermediate": c["inter"], "intermediate_size": c.get("isize"),
                "budget": {"steps": c["steps"]} if c.get("steps") else None, "target": c["target"], "seed": c["seed"]}
        con.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            c["id"], "demo", "stilts" if c["inter"] else "baseline", c.get("status", "done"), c.get("error"), "h",
            model, size, "encoder", json.dumps(c["inter"]), c.get("isize"), c.get("steps"), None, c["target"],
            c["seed"], json.dumps(axes), str(run_dir), json.dumps(c["spent"]) if c.get("spent") else None, 0.0, 1.0,
            1.0))
        if c.get("status", "done") == "done":
            for lang, ms in list(langs.items()) + [("avg", {metric: avg, **{
                    k: statistics.fmean(v[k] for v in langs.values()) for k in next(iter(langs.values()))}})]:
                for k, v in ms.items():
                    con.execute("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?)", (c["id"], c["target"], lang, k, v))
    con.commit()
    con.close()
    return folder


# ------------------------------------------------------------------------------------------- the main study
SEEDS = (1, 2, 3)
XNLI_LANGS = ("en", "de", "sw")
P_CORRECT = {(): 0.55, ("mnli",): 0.85, ("mnli", "squad"): 0.55}
PAWSX = {(): [70.0, 72.0, 71.0], ("mnli",): [74.0, 75.0, 79.0], ("mnli", "squad"): [69.0, 70.0, 74.0]}


def _correct(inter, seed, lang, n=60):
    rng = random.Random(f"{inter}-{seed}-{lang}")
    return [int(rng.random() < P_CORRECT[inter]) for _ in range(n)]


@pytest.fixture
def main_study(tmp_path):
    cells = []
    for inter in P_CORRECT:
        for seed in SEEDS:
            stats = {lang: [{"correct": x} for x in _correct(inter, seed, lang)] for lang in XNLI_LANGS}
            scores = {lang: {"accuracy": 100.0 * statistics.fmean(x["correct"] for x in s), "n": len(s)}
                      for lang, s in stats.items()}
            name = "+".join(inter) or "base"
            cells.append({"id": f"x-{name}-{seed}", "inter": list(inter), "seed": seed, "target": "xnli",
                          "metric": "accuracy", "scores": scores, "stats": stats})
            pv = PAWSX[inter][seed - 1]
            cells.append({"id": f"p-{name}-{seed}", "inter": list(inter), "seed": seed, "target": "pawsx",
                          "metric": "accuracy", "scores": {"en": {"accuracy": pv + 1}, "de": {"accuracy": pv - 1}}})
    cells.append({"id": "broken", "inter": ["qqp"], "seed": 1, "target": "xnli", "metric": "accuracy",
                  "scores": {"en": {"accuracy": 0.0}}, "status": "failed", "error": "RuntimeError: out of memory\n..."})
    return make_study(tmp_path, cells)


def _xnli_avg(inter, seed):
    return statistics.fmean(100.0 * statistics.fmean(_correct(inter, seed, lang)) for lang in XNLI_LANGS)


def test_main_table_numbers_match_hand_computation(main_study, tmp_path):
    an = Analysis(load_cells(main_study / "results.sqlite"), resamples=200, seed=0)
    assert len(an.groups) == 1
    g = an.groups[0]
    assert list(g.rows) == [(), ("mnli",), ("mnli", "squad")]
    for inter in P_CORRECT:
        vals = [_xnli_avg(inter, s) for s in SEEDS]
        e = an.main[(0, inter, "xnli")]
        assert e.mean == pytest.approx(statistics.fmean(vals))
        assert e.std == pytest.approx(statistics.stdev(vals))
        p = an.main[(0, inter, "pawsx")]
        assert p.mean == pytest.approx(statistics.fmean(PAWSX[inter]))
        assert p.std == pytest.approx(statistics.stdev(PAWSX[inter]))
        if inter:
            base = [_xnli_avg((), s) for s in SEEDS]
            assert e.delta == pytest.approx(statistics.fmean(v - b for v, b in zip(vals, base)))
            assert p.delta == pytest.approx(statistics.fmean(PAWSX[inter]) - statistics.fmean(PAWSX[()]))
            # the bootstrap's point estimate (metric_from_stats on the per-example files) equals the table's delta
            assert e.ci_examples.estimate == pytest.approx(e.delta)
            assert p.ci_examples is None and p.ci_examples_note == "no per-example statistics"
            assert p.ci_seeds is not None  # BUCC-like: intervals over seeds only
    # best per target
    assert an.main[(0, ("mnli",), "xnli")].best and not an.main[(0, (), "xnli")].best
    assert an.main[(0, ("mnli",), "pawsx")].best
    # mnli is much better (p 0.85 vs 0.55): significant over examples and over seeds; mnli+squad is not
    assert an.main[(0, ("mnli",), "xnli")].ci_examples.significant
    assert an.main[(0, ("mnli",), "xnli")].ci_seeds.significant
    assert not an.main[(0, ("mnli", "squad"), "xnli")].ci_examples.significant
    # per language: hand-computed means and deltas, sw is in the low-resource view
    de = an.languages[(0, ("mnli",), "xnli")]["de"]
    want = [100.0 * statistics.fmean(_correct(("mnli",), s, "de")) for s in SEEDS]
    base = [100.0 * statistics.fmean(_correct((), s, "de")) for s in SEEDS]
    assert de.mean == pytest.approx(statistics.fmean(want))
    assert de.delta == pytest.approx(statistics.fmean(want) - statistics.fmean(base))
    low = an.low[(0, ("mnli",), "xnli")]
    assert low.note == "sw"
    sw = [100.0 * statistics.fmean(_correct(("mnli",), s, "sw")) for s in SEEDS]
    assert low.mean == pytest.approx(statistics.fmean(sw))
    # the XTREME column: not all nine tasks
    x = an.xtreme[(0, ("mnli",))]
    assert x.mean is None and x.note.startswith("n/a (missing: ") and "udpos" in x.note and "xnli" not in x.note


def test_report_outputs(main_study):
    w = build_report(main_study, resamples=100)
    out = main_study / "report"
    md = (out / "report.md").read_text()
    assert w["markdown"] == str(out / "report.md")
    assert "Main results" in md and "| mnli |" in md and "| mnli+squad |" in md
    assert "n/a (missing: " in md
    assert "Failed cells" in md and "out of memory" in md and "broken" in md
    # the best mean of the xnli column is bold, with its delta
    mnli = statistics.fmean(_xnli_avg(("mnli",), s) for s in SEEDS)
    sd = statistics.stdev(_xnli_avg(("mnli",), s) for s in SEEDS)
    assert f"**{mnli:.2f} ± {sd:.2f} (+" in md
    assert "Per-language results" in md and "Low-resource languages" in md and "Confidence intervals" in md
    tex = (out / "report.tex").read_text()
    assert "\\begin{tabular}" in tex and "\\toprule" in tex and "mnli+squad" in tex and "\\textbf{" in tex
    assert "$\\pm$" in tex
    rows = list(csv.DictReader(open(out / "main.csv")))
    row = next(r for r in rows if r["setting"] == "mnli" and r["target"] == "xnli")
    assert float(row["mean"]) == pytest.approx(mnli) and row["best"] == "True"
    assert row["ci_examples_significant"] == "True" and float(row["ci_examples_low"]) > 0
    assert any(r["target"] == "XTREME" for r in rows)
    langs = list(csv.DictReader(open(out / "per_language.csv")))
    assert {r["language"] for r in langs} == set(XNLI_LANGS) | {"en", "de"}
    low = list(csv.DictReader(open(out / "low_resource.csv")))
    assert {(r["target"], r["languages"]) for r in low} == {("xnli", "sw")}  # pawsx has no low-resource language
    for name in w["images"]:
        assert open(name, "rb").read(8) == PNG
    assert any("heatmap" in n for n in w["images"]) and any("languages-" in n for n in w["images"])


def test_cli_report_from_study_file(main_study, tmp_path):
    from typer.testing import CliRunner

    from xstilts.cli import app

    spec = tmp_path / "demo.yaml"
    spec.write_text(f"name: study\noutput_dir: {tmp_path}\nlow_resource_languages: [sw, de]\n")
    res = CliRunner().invoke(app, ["report", str(spec), "--resamples", "50", "--out", str(tmp_path / "rep"),
                                   "--no-plots"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Low-resource languages: sw de" in md
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "no such study" in res.output


def test_report_from_study_folder_reads_the_stored_study_file(main_study, tmp_path):
    """`xstilts report FOLDER` honours the study's low_resource_languages: from the study.yaml that `study run`
    copies into the folder (the same as when given the study file)."""
    from typer.testing import CliRunner

    from xstilts.cli import app

    (main_study / "study.yaml").write_text("name: renamed-demo\noutput_dir: elsewhere\n"
                                           "low_resource_languages: [de, sw]\n")
    res = CliRunner().invoke(app, ["report", str(main_study), "--resamples", "0", "--out", str(tmp_path / "rep"),
                                   "--no-plots"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Low-resource languages: de sw" in md and "# Study report: renamed-demo" in md
    low = list(csv.DictReader(open(tmp_path / "rep" / "low_resource.csv")))
    assert {(r["target"], r["languages"]) for r in low} == {("xnli", "de, sw"), ("pawsx", "de")}
    # with --db and the folder, too; --low-resource still wins over the file
    w = build_report(main_study, tmp_path / "rep2", db=main_study / "results.sqlite", resamples=0, plots=False,
                     low_resource=["en"])
    assert "Low-resource languages: en." in w["markdown_text"]
    w = build_report(main_study, tmp_path / "rep3", db=main_study / "results.sqlite", resamples=0, plots=False)
    assert "Low-resource languages: de sw." in w["markdown_text"]
    # a folder without study.yaml: the default list
    (main_study / "study.yaml").unlink()
    w = build_report(main_study, tmp_path / "rep4", resamples=0, plots=False)
    assert f"Low-resource languages: {' '.join(DEFAULT_LOW_RESOURCE)}." in w["markdown_text"]


def test_report_skips_inactive_cells_unless_all_cells(tmp_path):
    """Cells no longer in the study file (runs.active = 0) are left out by default; --all-cells includes them."""
    from typer.testing import CliRunner

    from xstilts.cli import app

    cells = []
    for seed in (1, 2):
        cells.append({"id": f"b{seed}", "inter": [], "seed": seed, "target": "xnli", "metric": "accuracy",
                      "scores": {"en": {"accuracy": 50.0 + seed}}})
        cells.append({"id": f"m{seed}", "inter": ["mnli"], "seed": seed, "target": "xnli", "metric": "accuracy",
                      "scores": {"en": {"accuracy": 55.0 + seed}}})
        cells.append({"id": f"q{seed}", "inter": ["qqp"], "seed": seed, "target": "xnli", "metric": "accuracy",
                      "scores": {"en": {"accuracy": 40.0 + seed}}})  # qqp was dropped from the study file
    cells.append({"id": "q-failed", "inter": ["qqp"], "seed": 3, "target": "xnli", "metric": "accuracy",
                  "scores": {"en": {"accuracy": 0.0}}, "status": "failed", "error": "RuntimeError: old failure"})
    folder = make_study(tmp_path, cells)
    con = sqlite3.connect(folder / "results.sqlite")
    con.execute("ALTER TABLE runs ADD COLUMN active INTEGER")
    con.execute("UPDATE runs SET active = CASE WHEN cell_id LIKE 'q%' THEN 0 ELSE 1 END")
    con.commit()
    con.close()
    assert {c.id: c.active for c in load_cells(folder / "results.sqlite")}["q1"] == 0
    w = build_report(folder, resamples=0, plots=False)
    md = w["markdown_text"]
    assert "| mnli |" in md and "| qqp |" not in md and "old failure" not in md
    assert "cells: 4 done (of 4); 3 cell(s) no longer in the study file left out (--all-cells to include them)" in md
    rows = list(csv.DictReader(open(folder / "report" / "main.csv")))
    assert {r["setting"] for r in rows} == {"baseline", "mnli"}
    res = CliRunner().invoke(app, ["report", str(folder), "--resamples", "0", "--no-plots", "--all-cells"])
    assert res.exit_code == 0, res.output
    assert "| qqp |" in res.output and "old failure" in res.output and "no longer in the study file" not in res.output
    rows = list(csv.DictReader(open(folder / "report" / "main.csv")))
    qqp = next(r for r in rows if r["setting"] == "qqp")
    assert float(qqp["mean"]) == pytest.approx(41.5) and float(qqp["delta"]) == pytest.approx(-10.0)
    # every cell inactive: an error that says why, not an empty report
    con = sqlite3.connect(folder / "results.sqlite")
    con.execute("UPDATE runs SET active = 0")
    con.commit()
    con.close()
    res = CliRunner().invoke(app, ["report", str(folder), "--resamples", "0", "--no-plots"])
    assert res.exit_code == 2 and "--all-cells" in res.output


def test_two_seeds_that_agree_are_not_marked(tmp_path):
    """Two seeds whose deltas agree in sign are no 95% evidence: the paired t-test over 2 seeds (1 degree of freedom)
    gives a wide interval, the sign-flip test p = 2/4 (a bootstrap interval would have been their range)."""
    cells = []
    for seed, (b, m) in ((1, (50.0, 53.0)), (2, (51.0, 52.0))):
        cells.append({"id": f"b{seed}", "inter": [], "seed": seed, "target": "xnli", "metric": "accuracy",
                      "scores": {"en": {"accuracy": b}}})
        cells.append({"id": f"m{seed}", "inter": ["mnli"], "seed": seed, "target": "xnli", "metric": "accuracy",
                      "scores": {"en": {"accuracy": m}}})
    an = Analysis(load_cells(make_study(tmp_path, cells) / "results.sqlite"), resamples=200)
    e = an.main[(0, ("mnli",), "xnli")]
    assert e.delta == pytest.approx(2.0) and e.ci_seeds is not None and not e.ci_seeds.significant
    assert e.ci_seeds.method == "paired t-test over seeds" and e.ci_seeds.low < 0 < e.ci_seeds.high
    assert e.ci_seeds.detail["sign_flip_p"] == pytest.approx(0.5) and e.ci_seeds.detail["sign_flip_exact"]
    # one seed: no test
    one = [c for c in cells if c["seed"] == 1]
    an = Analysis(load_cells(make_study(tmp_path / "one", one) / "results.sqlite"), resamples=0)
    e = an.main[(0, ("mnli",), "xnli")]
    assert e.ci_seeds is None and e.ci_seeds_note == "needs ≥ 2 paired seeds"


def test_xtreme_column_with_all_tasks(tmp_path):
    vals = {"xnli": {"accuracy": 70.0}, "pawsx": {"accuracy": 80.0}, "udpos": {"f1": 60.0}, "panx": {"f1": 50.0},
            "bucc2018": {"f1": 40.0}, "tatoeba": {"accuracy@1": 30.0},
            "xquad": {"exact_match": 60.0, "f1": 70.0}, "mlqa": {"exact_match": 50.0, "f1": 60.0},
            "tydiqa": {"exact_match": 40.0, "f1": 50.0}}
    lang = {"bucc2018": "de", "tatoeba": "de", "tydiqa": "en"}
    cells = []
    for inter, shift in (((), 0.0), (("mnli",), 2.0)):
        for t, ms in vals.items():
            cells.append({"id": f"{t}-{len(inter)}", "inter": list(inter), "seed": 1, "target": t,
                          "metric": next(iter(ms)) if t not in ("xquad", "mlqa", "tydiqa") else "f1",
                          "scores": {lang.get(t, "en"): {k: v + shift for k, v in ms.items()}}})
    folder = make_study(tmp_path, cells)
    an = Analysis(load_cells(folder / "results.sqlite"), resamples=0)
    want = statistics.fmean([70, 80, 60, 50, 40, 30, 65, 55, 45])
    assert an.xtreme[(0, ())].mean == pytest.approx(want)
    assert an.xtreme[(0, ("mnli",))].mean == pytest.approx(want + 2)
    assert an.xtreme[(0, ("mnli",))].delta == pytest.approx(2.0) and an.xtreme[(0, ("mnli",))].best


# ------------------------------------------------------------------------------------------- data size, plots
def test_data_size_curve_fit_and_plots(tmp_path):
    a, b = 40.0, 3.0
    cells = []
    for seed in (1, 2):
        cells.append({"id": f"b{seed}", "inter": [], "seed": seed, "target": "xnli", "metric": "accuracy",
                      "scores": {"en": {"accuracy": 50.0 + seed}}})
        for n in (100, 1000, 10000, 100000):
            noise = 0.5 if seed == 1 else -0.5  # symmetric: the per-size means are exactly a + b ln n
            cells.append({"id": f"s{n}-{seed}", "inter": ["mnli"], "seed": seed, "target": "xnli",
                          "metric": "accuracy", "isize": n, "steps": 100,
                          "spent": {"mnli": {"steps": 100, "examples": 800, "tokens": 12345 + n}},
                          "scores": {"en": {"accuracy": a + b * math.log(n) + noise}}})
    folder = make_study(tmp_path, cells)
    w = build_report(folder, resamples=50, dr_threshold=0.1)
    fit = next(csv.DictReader(open(folder / "report" / "data_size_fit.csv")))
    assert float(fit["a"]) == pytest.approx(a) and float(fit["b"]) == pytest.approx(b)
    assert float(fit["r2"]) == pytest.approx(1.0)
    assert float(fit["gain_per_10x"]) == pytest.approx(b * math.log(10))
    assert float(fit["n_star"]) == pytest.approx(1000 * b / 0.1)  # 30,000 examples
    assert fit["n_star_reached"] == "True"
    names = [n.rsplit("/", 1)[-1] for n in w["images"]]
    assert any(n.startswith("data-size-") for n in names) and any(n.startswith("heatmap-") for n in names)
    for n in w["images"]:
        assert open(n, "rb").read(8) == PNG
    md = (folder / "report" / "report.md").read_text()
    assert "Intermediate data size" in md and "![" in md
    # the budget axis is used: the compute spent per task is stated
    assert "Compute budget spent" in md and "12,445" in md
    # one main table per data size, each with the baseline row
    an = Analysis(load_cells(folder / "results.sqlite"), resamples=0)
    assert [g.intermediate_size for g in an.groups] == [100, 1000, 10000, 100000]
    assert all(() in g.rows for g in an.groups)


def test_token_budget_settings_share_a_table_and_the_sampler_is_stated(tmp_path):
    """A token budget converts to different step counts per task set: its settings still share one table (the
    budget is the token count); the budget table states the sampler (from cells.json) and each task's share."""
    cells = [{"id": "b1", "inter": [], "seed": 1, "target": "xnli", "metric": "accuracy",
              "scores": {"en": {"accuracy": 50.0}}}]
    spent = {"a": {"steps": 40, "examples": 320, "tokens": 9000, "estimated": False},
             "b": {"steps": 60, "examples": 480, "tokens": 11000, "estimated": False}}
    for inter, steps, acc in ((["a"], 98, 52.0), (["a", "b"], 100, 55.0)):
        cells.append({"id": "+".join(inter), "inter": inter, "seed": 1, "target": "xnli", "metric": "accuracy",
                      "steps": steps, "scores": {"en": {"accuracy": acc}},
                      "spent": {"a": {"steps": 98, "examples": 784, "tokens": 20000, "estimated": False}}
                      if inter == ["a"] else spent})
    folder = make_study(tmp_path, cells)
    con = sqlite3.connect(folder / "results.sqlite")
    con.execute("UPDATE runs SET budget_tokens = 200000 WHERE cell_id != 'b1'")
    con.commit()
    con.close()
    (folder / "cells.json").write_text(json.dumps([
        {"id": "a+b", "config": {"intermediate": {"tasks": [{"task": "a"}, {"task": "b"}], "sampling": "uniform"}}},
        {"id": "a", "config": {"intermediate": {"tasks": [{"task": "a"}], "sampling": "uniform"}}}]))
    w = build_report(folder, resamples=0, plots=False)
    an = Analysis(load_cells(folder / "results.sqlite"), resamples=0)
    assert len(an.groups) == 1 and list(an.groups[0].rows) == [(), ("a",), ("a", "b")]
    assert an.main[(0, ("a", "b"), "xnli")].delta == pytest.approx(5.0)
    md = w["markdown_text"]
    assert "Compute budget spent" in md
    rows = list(csv.DictReader(open(folder / "report" / "budget.csv")))
    ab = [r for r in rows if r["setting"] == "a+b"]
    assert [(r["task"], r["sampling"], r["spent_steps"], r["spent_step_share"]) for r in ab] == [
        ("a", "uniform", "40", "40.0"), ("b", "uniform", "60", "60.0")]
    assert next(r for r in rows if r["setting"] == "a")["sampling"] == ""  # one task: nothing to sample
    assert "| 200,000 tokens = 100 steps | uniform | b |" in md and "| % of steps |" in md


def test_model_size_curve(tmp_path):
    cells = []
    for size, model, base in (("base", "org/enc-base", 60.0), ("small", "org/enc-small", 50.0)):
        for seed in (1, 2):
            cells.append({"id": f"{size}-b{seed}", "inter": [], "seed": seed, "target": "xnli", "metric": "accuracy",
                          "model": model, "size": size, "scores": {"en": {"accuracy": base + seed}}})
            cells.append({"id": f"{size}-s{seed}", "inter": ["mnli"], "seed": seed, "target": "xnli",
                          "metric": "accuracy", "model": model, "size": size,
                          "scores": {"en": {"accuracy": base + 3 + seed}}})
    folder = make_study(tmp_path, cells)
    w = build_report(folder, resamples=0)
    assert any("model-size-" in n for n in w["images"])
    rows = list(csv.DictReader(open(folder / "report" / "model_size.csv")))
    assert [r["model_size"] for r in rows if r["setting"] == "mnli"] == ["small", "base"]
    an = Analysis(load_cells(folder / "results.sqlite"), resamples=0)
    assert [g.model_label for g in an.groups] == ["small", "base"]  # by model size, not alphabetically
    assert all(an.main[(i, ("mnli",), "xnli")].delta == pytest.approx(3.0) for i in range(2))


def test_order_model_sizes_and_default_low_resource():
    assert order_model_sizes(["7B", "1.3b", "350M"]) == ["350M", "1.3b", "7B"]
    assert order_model_sizes(["large", "base", "small"]) == ["small", "base", "large"]
    assert order_model_sizes(["x", "a"]) == ["x", "a"]
    # the 10 XTREME languages with the least CC-100 data (XLM-R, Table 6)
    assert set(DEFAULT_LOW_RESOURCE) == {"yo", "jv", "af", "sw", "my", "eu", "mr", "tl", "te", "ur"}


# ------------------------------------------------------------------------------------------- bootstrap
def _acc(stats):
    n = sum(s.get("_examples", 1) for s in stats)
    return 100.0 * sum(s["correct"] for s in stats) / n


def test_bootstrap_always_right_vs_always_wrong():
    a = {1: {"en": [{"correct": 1}] * 30, "de": [{"correct": 1}] * 20}}
    b = {1: {"en": [{"correct": 0}] * 30, "de": [{"correct": 0}] * 20}}
    iv = st.paired_examples_interval(a, b, _acc, n_resamples=300)
    assert iv.estimate == 100.0 and iv.low == 100.0 and iv.high == 100.0 and iv.significant


def test_bootstrap_identical_and_similar_systems_contain_zero():
    rng = random.Random(0)
    s = [{"correct": int(rng.random() < 0.7)} for _ in range(200)]
    iv = st.paired_examples_interval({1: {"en": s}}, {1: {"en": list(s)}}, _acc)
    assert iv.estimate == 0 and iv.low == 0 and iv.high == 0 and not iv.significant
    a = [{"correct": int(rng.random() < 0.7)} for _ in range(200)]
    b = [{"correct": int(rng.random() < 0.7)} for _ in range(200)]
    iv = st.paired_examples_interval({1: {"en": a}}, {1: {"en": b}}, _acc, n_resamples=1000)
    assert iv.low < 0 < iv.high and not iv.significant
    assert iv.low < iv.estimate < iv.high and abs(iv.estimate) < 10


def test_bootstrap_is_deterministic_and_paired():
    rng = random.Random(1)
    a = {s: {"en": [{"correct": int(rng.random() < 0.6)} for _ in range(80)]} for s in (1, 2)}
    b = {s: {"en": [{"correct": int(rng.random() < 0.5)} for _ in range(80)]} for s in (1, 2)}
    one = st.paired_examples_interval(a, b, _acc, n_resamples=500, seed=3)
    two = st.paired_examples_interval(a, b, _acc, n_resamples=500, seed=3)
    other = st.paired_examples_interval(a, b, _acc, n_resamples=500, seed=4)
    assert (one.low, one.high) == (two.low, two.high) and (one.low, one.high) != (other.low, other.high)
    # the same indices for both systems: a system minus itself is exactly 0 in every replicate
    r1 = st.bootstrap_replicates(a[1]["en"], _acc, 100, seed=3, key="en")
    r2 = st.bootstrap_replicates(a[1]["en"], _acc, 100, seed=3, key="en")
    assert np.array_equal(r1, r2)
    # fast path (aggregated sums) and slow path (metric on every resampled list) give the same replicates
    slow = st.bootstrap_replicates(a[1]["en"], lambda s: 100.0 * sum(x["correct"] for x in s) / len(s), 100, 3, "en")
    assert st.decomposes(a[1]["en"], _acc) and not st.decomposes(
        a[1]["en"], lambda s: 100.0 * sum(x["correct"] for x in s) / len(s))
    assert np.allclose(r1, slow)
    with pytest.raises(ValueError, match="same test set"):
        st.paired_examples_interval({1: {"en": a[1]["en"]}}, {1: {"en": a[1]["en"][:5]}}, _acc)


def test_bootstrap_over_three_seeds():
    iv = st.paired_seeds_interval({1: 71.0, 2: 72.0, 3: 73.0}, {1: 70.0, 2: 70.0, 3: 70.0}, n_resamples=1000)
    assert iv.estimate == pytest.approx(2.0)
    assert 1.0 <= iv.low <= iv.estimate <= iv.high <= 3.0 and iv.significant
    assert iv.detail["differences"] == [1.0, 2.0, 3.0]
    iv = st.paired_seeds_interval({1: 69.0, 2: 70.0, 3: 71.0, 4: 99.0}, {1: 70.0, 2: 70.0, 3: 70.0}, n_resamples=1000)
    assert iv.detail["seeds"] == [1, 2, 3] and iv.low < 0 < iv.high and not iv.significant
    assert st.paired_seeds_interval({1: 1.0, 2: 2.0, 3: 3.0}, {1: 0.0, 2: 0.0, 3: 0.0}, seed=5).low == \
        st.paired_seeds_interval({1: 1.0, 2: 2.0, 3: 3.0}, {1: 0.0, 2: 0.0, 3: 0.0}, seed=5).low


def test_log_fit_exact_and_diminishing_returns():
    f = st.fit_log_curve([10, 100, 1000], [5 + 2 * math.log(n) for n in (10, 100, 1000)])
    assert f["a"] == pytest.approx(5) and f["b"] == pytest.approx(2) and f["r2"] == pytest.approx(1)
    assert st.diminishing_returns_point(2.0, threshold=0.1) == pytest.approx(20000)
    assert st.diminishing_returns_point(-1.0) is None
    with pytest.raises(ValueError):
        st.fit_log_curve([10, 10], [1, 2])


# ------------------------------------------------------------------------------------------- per-example stats
def test_qa_example_stats_reproduce_f1():
    from xstilts.tasks.families.qa import QAExample

    fam = get_family("span_qa")
    golds = [("The cat", "cat"), ("in 1990",), ("a red house",), ("",), ("Paris, France",), ("zwei Hunde",)]
    preds = ["cat", "1990", "red house of", "something", "", "Hunde"]
    for name, lang in (("squad", "en"), ("xquad", "en"), ("mlqa", "de"), ("squad2", "en"), ("tydiqa", "en")):
        task = get_task(name)
        exs = [QAExample(str(i), "q?", "ctx " + " ".join(g), tuple(x for x in g if x or name == "squad2"),
                         tuple(0 for x in g if x or name == "squad2"), lang) for i, g in enumerate(golds)]
        if name != "squad2":
            exs, ps = [e for e in exs if e.answers], [p for e, p in zip(exs, preds) if e.answers]
        else:
            ps = preds
        s = fam.example_stats(task, ps, exs)
        scores = fam.score(task, ps, exs)
        assert fam.metric_from_stats(task, s) == pytest.approx(scores["f1"], abs=1e-9)
        assert 100 * statistics.fmean(x["em"] for x in s) == pytest.approx(scores["exact_match"], abs=1e-9)
        assert all(x["em"] in (0, 1) and 0 <= x["f1"] <= 1 for x in s)
    zh = get_task("mlqa")
    exs = [QAExample("1", "q", "c", ("北京大学",), (0,), "zh"), QAExample("2", "q", "c", ("上海",), (0,), "zh")]
    s = fam.example_stats(zh, ["北京", "上海市"], exs)
    assert fam.metric_from_stats(zh, s) == pytest.approx(fam.score(zh, ["北京", "上海市"], exs)["f1"])


UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X")


def _tagged(tags_list):
    from xstilts.tasks.families.tagging import TaggedExample

    return [TaggedExample(str(i), tuple(f"w{j}" for j in range(len(t))), tuple(t)) for i, t in enumerate(tags_list)]


@pytest.mark.parametrize("seed", range(12))
def test_tagging_stats_reproduce_seqeval_f1(seed):
    """PAN-X (IOB2) and XTREME's UD-POS seqeval F1, including the cross-sentence X chunks: the per-sentence counts
    sum to the corpus counts exactly."""
    rng = random.Random(seed)
    fam = get_family("tagging")
    ner_tags = ("O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
    pos_tags = UPOS + ("X", "X", "X", "NOUN", "CCONJ", "SCONJ")  # many X and CONJ to hit the quirks
    for name, tags in (("panx", ner_tags), ("udpos", pos_tags)):
        task = get_task(name)
        gold = [[rng.choice(tags) for _ in range(rng.randint(1, 7))] for _ in range(rng.randint(1, 40))]
        pred = [[t if rng.random() < 0.6 else rng.choice(tags) for t in s] for s in gold]
        exs = _tagged(gold)
        s = fam.example_stats(task, pred, exs)
        assert len(s) == len(exs)
        assert fam.metric_from_stats(task, s) == pytest.approx(fam.score(task, pred, exs)["f1"], abs=1e-9)


def test_tagging_stats_pos_quirk_cases_and_ccg():
    fam = get_family("tagging")
    task = get_task("udpos")
    cases = [  # X ending a sentence merged with X starting the next; X starting a sentence after another chunk
        ([["NOUN", "X"], ["X", "VERB"], ["X", "NOUN"]], [["NOUN", "X"], ["X", "VERB"], ["ADJ", "NOUN"]]),
        ([["X"], ["X"], ["X", "NOUN"]], [["X"], ["NOUN"], ["X", "NOUN"]]),
        ([["CCONJ", "SCONJ", "X"]], [["SCONJ", "CCONJ", "X"]]),
    ]
    for gold, pred in cases:
        exs = _tagged(gold)
        assert fam.metric_from_stats(task, fam.example_stats(task, pred, exs)) == pytest.approx(
            fam.score(task, pred, exs)["f1"], abs=1e-9)
    ccg = get_task("ccg")
    gold = [["N", "S/N", "N"], ["NP"]]
    pred = [["N", "N", "N"], ["NP"]]
    s = fam.example_stats(ccg, pred, _tagged(gold))
    assert s == [{"correct": 2, "total": 3}, {"correct": 1, "total": 1}]
    assert fam.metric_from_stats(ccg, s) == pytest.approx(fam.score(ccg, pred, _tagged(gold))["accuracy"])


def test_multiple_choice_and_classification_stats():
    from xstilts.tasks.families.multiple_choice import MCExample

    fam = get_family("multiple_choice")
    task = get_task("xcopa")
    exs = [MCExample(str(i), "c", "q", ("a", "b"), i % 2) for i in range(7)]
    preds = [0, 0, 0, 1, 1, 1, 0]
    s = fam.example_stats(task, preds, exs)
    assert fam.metric_from_stats(task, s) == pytest.approx(fam.score(task, preds, exs)["accuracy"])


def test_ranking_stats_reproduce_map():
    from xstilts.metrics.ranking import mean_avg_prec_at_k, mewslix_map_at_k

    fam = get_family("retrieval_ranking")
    rng = random.Random(0)
    relevant = [set(rng.sample(range(30), rng.randint(1, 4))) for _ in range(25)]
    rankings = [rng.sample(range(30), 20) for _ in range(25)]
    lareqa = get_task("lareqa")
    s = fam.example_stats(lareqa, rankings, relevant)
    assert fam.metric_from_stats(lareqa, s) == pytest.approx(mean_avg_prec_at_k(relevant, rankings, 20))
    mx = get_task("mewslix")
    gold = {f"m{i}": [f"Q{rng.randint(0, 40)}"] for i in range(25)}
    preds = {k: [f"Q{j}" for j in rng.sample(range(41), 20)] for k in gold}
    s = fam.example_stats(mx, [preds[k] for k in gold], list(gold.values()))
    assert fam.metric_from_stats(mx, s) == pytest.approx(mewslix_map_at_k(gold, preds, 20))


def _fake_embed(table):
    import torch

    def embed(texts, prefix=None):
        return torch.tensor([table(t) for t in texts], dtype=torch.float32)

    return embed


def test_retrieval_evaluate_returns_stats(tmp_path):
    """Tatoeba: ``evaluate`` gives per-sentence stats reproducing accuracy@1; BUCC gives none. LAReQA: per-query AP
    reproducing mAP@20."""
    fam = get_family("retrieval")
    task = get_task("tatoeba")
    src = ["eins", "zwei", "drei", "vier"]
    tgt = ["one", "two", "three", "four"]
    (tmp_path / "tatoeba.deu-eng.deu").write_text("\n".join(src) + "\n")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("\n".join(tgt) + "\n")
    vec = {"eins": [1, 0, 0], "zwei": [0, 1, 0], "drei": [0, 1, 0.1], "vier": [0, 0, 1],
           "one": [1, 0, 0], "two": [0, 1, 0], "three": [1, 0.2, 0], "four": [0, 0, 1]}
    scores, lines, stats = fam.evaluate(task, ["de"], lambda sp, lang: task.read(tmp_path, sp, lang),
                                        _fake_embed(lambda t: vec[t]), {})
    assert [x["correct"] for x in stats["de"]] == [1, 1, 0, 1]
    assert fam.metric_from_stats(task, stats["de"]) == pytest.approx(scores["de"]["accuracy@1"]) == 75.0
    assert fam.example_stats(get_task("bucc2018"), [], None) is None

    rank = get_family("retrieval_ranking")
    lareqa = get_task("lareqa")
    folder = tmp_path / "lareqa" / "xquad-r"
    folder.mkdir(parents=True)
    paras = {"en": ("alpha beta. gamma delta.", [[0, 11], [12, 24]],
                    [("q1", "what alpha", 0), ("q2", "what gamma", 12)]),
             "de": ("eins zwei. drei vier.", [[0, 10], [11, 21]], [("q1", "was eins", 0), ("q2", "was drei", 11)])}
    for lang, (ctx, breaks, qas) in paras.items():
        para = {"context": ctx, "sentence_breaks": breaks, "qas": [
            {"id": q, "question": t, "answers": [{"text": ctx[s:s + 4], "answer_start": s}]} for q, t, s in qas]}
        (folder / f"{lang}.json").write_text(json.dumps({"version": "1.1", "data": [{"title": "t",
                                                                                     "paragraphs": [para]}]}))
    cands = {"eins zwei.": [1, 0, 0], "drei vier.": [0, 1, 0], "alpha beta.": [1, 0.1, 0], "gamma delta.": [0, 0, 1]}

    def table(text):
        for sent, v in cands.items():
            if text.startswith(sent):
                return v
        return {"what alpha": [1, 0, 0], "what gamma": [0, 1, 1], "was eins": [0, 0, 1], "was drei": [0, 1, 0]}[text]

    scores, _, stats = rank.evaluate(lareqa, ["en", "de"], lambda sp, lang: lareqa.read(tmp_path / "lareqa", sp, lang),
                                     _fake_embed(table), {})
    for lang in ("en", "de"):
        assert len(stats[lang]) == 2
        assert rank.metric_from_stats(lareqa, stats[lang]) == pytest.approx(scores[lang]["map@20"])
    assert scores["de"]["map@20"] < 100


def test_tests_over_seeds_and_bh_marks_per_language(main_study):
    """Over seeds: the paired t-test (scipy) and the exact sign-flip p per target and for the average over targets;
    per-language marks: Benjamini–Hochberg over the table's (setting, language) tests; the notes say so."""
    from scipy import stats as sps

    from xstilts.reports.tables import _lang_marks

    an = Analysis(load_cells(main_study / "results.sqlite"), resamples=200, seed=0)
    e = an.main[(0, ("mnli",), "xnli")]
    base = [_xnli_avg((), s) for s in SEEDS]
    mine = [_xnli_avg(("mnli",), s) for s in SEEDS]
    assert e.ci_seeds.detail["p_value"] == pytest.approx(float(sps.ttest_rel(mine, base).pvalue))
    assert e.ci_seeds.detail["sign_flip_p"] == pytest.approx(0.25)  # 3 seeds, all better: 2 of 8 flips
    # the average over the two targets, per seed, tested the same way
    avg = an.average[(0, ("mnli",))]
    want = [(_xnli_avg(("mnli",), s) + PAWSX[("mnli",)][s - 1]) / 2 for s in SEEDS]
    want_b = [(_xnli_avg((), s) + PAWSX[()][s - 1]) / 2 for s in SEEDS]
    assert avg.mean == pytest.approx(statistics.fmean(want))
    assert avg.ci_seeds.detail["p_value"] == pytest.approx(float(sps.ttest_rel(want, want_b).pvalue))
    # BH over the xnli table: 2 settings x 3 languages, examples and seeds separately
    entries = [an.languages[(0, i, "xnli")][lang] for i in (("mnli",), ("mnli", "squad")) for lang in XNLI_LANGS]
    pe = [x.ci_examples["p_value"] for x in entries]
    ps = [x.ci_seeds.detail["p_value"] for x in entries]
    assert [x.q_examples for x in entries] == pytest.approx(list(sps.false_discovery_control(pe)))
    assert [x.q_seeds for x in entries] == pytest.approx(list(sps.false_discovery_control(ps)))
    assert an.language_tests[(0, "xnli")] == {"examples": 6, "seeds": 6}
    for x in entries:
        assert ("†" in _lang_marks(x, 0.05)) == (x.q_examples < 0.05)
        assert ("‡" in _lang_marks(x, 0.05)) == (x.q_seeds < 0.05)
    # a raw p below 0.05 whose adjusted p is not: unmarked
    x = entries[0]
    x.q_examples, x.q_seeds = 0.07, 0.2
    assert _lang_marks(x, 0.05) == ""
    w = build_report(main_study, resamples=100, plots=False)
    md = w["markdown_text"]
    assert "Benjamini–Hochberg adjusted p < 0.05" in md and "(6 tests)" in md
    assert "paired t-test over seeds, two-sided p < 0.05" in md and "not corrected for multiple comparisons" in md
    assert "| avg (targets) |" in md and "p (sign-flip)" in md and "0.250" in md
    rows = list(csv.DictReader(open(main_study / "report" / "tests.csv")))
    r = next(r for r in rows if r["setting"] == "mnli" and r["target"] == "xnli")
    assert float(r["p_seeds_ttest"]) == pytest.approx(e.ci_seeds.detail["p_value"])
    assert float(r["p_seeds_sign_flip"]) == pytest.approx(0.25) and r["sign_flip_exact"] == "True"
    langs = list(csv.DictReader(open(main_study / "report" / "per_language.csv")))
    assert all("q_examples_bh" in r for r in langs)
