"""Issue 12, the study side: study files that extend others, one phase store shared by plain runs and studies, the
x-stilts grid's plan (cells, phase keys, per-target settings, estimate), scores by split in the results database,
the paper-shaped report table and the published reference row."""

import csv
import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xstilts.cli import app
from xstilts.errors import ConfigError
from xstilts.study import ResultsDB, expand, load_study

ROOT = Path(__file__).resolve().parent.parent


def _dump(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------------- extends
def test_extends_merges_relative_to_each_file_and_errors_name_the_file(tmp_path, tiny_model):
    tat = tmp_path / "tatoeba"
    _dump(tmp_path / "configs" / "exp.yaml", {"model": {"name_or_path": str(tiny_model)}, "seeds": [3],
                                              "target": {"tasks": [{"task": "tatoeba", "data_dir": str(tat)}]}})
    parent = _dump(tmp_path / "studies" / "paper.yaml", {
        "name": "paper", "base": "../configs/exp.yaml", "fixed": {"target": {"lr": 3e-5, "batch_size": 8}},
        "axes": {"intermediate": [["kjv-web-paraphrase"], ["kjv-web-paraphrase-hard"]], "seed": [1, 2]}})
    child = _dump(tmp_path / "studies" / "small" / "mini.yaml", {
        "name": "mini", "extends": "../paper.yaml", "fixed": {"target": {"lr": 1e-4}},
        "axes": {"seed": [7]}})
    study = load_study(child)
    assert study.name == "mini" and study.spec.base.resolve() == (tmp_path / "configs" / "exp.yaml").resolve()
    cells = expand(study)
    assert sorted((c.variant, "+".join(c.intermediate), c.seed) for c in cells) == [
        ("baseline", "", 7), ("stilts", "kjv-web-paraphrase", 7), ("stilts", "kjv-web-paraphrase-hard", 7)]
    # mappings merged key by key, lists (an axis) replaced as a whole
    assert all(c.config.target.lr == 1e-4 and c.config.target.batch_size == 8 for c in cells)

    # an error names the file that wrote the key, and its line
    _dump(parent, {**yaml.safe_load(parent.read_text()), "axes": {"intermediate": [["nosuchtask"]]}})
    with pytest.raises(ConfigError, match=r"paper\.yaml:\d+: axes\.intermediate\.0\.0: unknown task"):
        expand(load_study(child))
    _dump(parent, {**yaml.safe_load(parent.read_text()), "axes": {"intermediate": [["kjv-web-paraphrase"]]}})
    _dump(child, {**yaml.safe_load(child.read_text()), "fixed": {"target": {"lr": -1}}})
    with pytest.raises(ConfigError, match=r"mini\.yaml:\d+: fixed\.target\.lr: "):
        expand(load_study(child))
    _dump(child, {**yaml.safe_load(child.read_text()), "axes": {"sed": [1]}})
    with pytest.raises(ConfigError, match=r"mini\.yaml:\d+: axes\.sed: unknown key"):
        load_study(child)
    # missing and circular files
    _dump(child, {"name": "mini", "extends": "../nothere.yaml"})
    with pytest.raises(ConfigError, match=r"mini\.yaml:2: extends: .*nothere\.yaml: study file not found"):
        load_study(child)
    _dump(parent, {"name": "paper", "extends": "small/mini.yaml"})
    _dump(child, {"name": "mini", "extends": "../paper.yaml"})
    with pytest.raises(ConfigError, match="a cycle"):
        load_study(child)


# ---------------------------------------------------------------------------------------------------- one store
@pytest.mark.usefixtures("one_thread")
def test_a_plain_run_then_a_study_of_the_same_cells_trains_nothing(tmp_path, tiny_model, monkeypatch):
    """Runs and studies with the same output folder share ``<output_dir>/phases``: the study's cells (the STILTs
    cell and its baseline) find every phase the plain run built, and train and evaluate nothing."""
    from fixtures import write_pawsx, write_tatoeba

    from xstilts.config import validate_config
    from xstilts.experiment import run as run_experiment
    from xstilts.study.executors import run_study

    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=32, n_test=8)
    kjv = tmp_path / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    sents = ["alpha beta gamma", "cat dog bird", "red green tree"]
    tat = write_tatoeba(tmp_path / "tatoeba", {"deu": (sents, sents)})
    out = tmp_path / "runs"
    common = {"num_threads": 1, "device": "cpu", "trackers": [],
              "model": {"name_or_path": str(tiny_model), "max_length": 24},
              "intermediate": {"max_steps": 2, "lr": 1e-3, "batch_size": 8, "eval_every": 1},
              "target": {"max_steps": 2, "lr": 1e-3, "batch_size": 8, "eval_every": 1},
              "evaluation": {"retrieval_layer": "last"}}
    inter = [{"task": "kjv-web-paraphrase", "data_dir": str(kjv), "max_eval_examples": 8}]
    targets = [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]},
               {"task": "tatoeba", "data_dir": str(tat), "languages": ["de"]}]
    plain = {**common, "name": "plain", "output_dir": str(out), "seeds": [1], "with_baseline": True,
             "intermediate": {**common["intermediate"], "tasks": inter},
             "target": {**common["target"], "tasks": targets}}
    run_experiment(validate_config(plain))
    store = out / "phases"
    before = {p.name: (p / "metrics.json").stat().st_mtime_ns for p in store.iterdir() if not p.name.startswith(".")}
    assert {n.split("-")[0] for n in before} == {"intermediate", "target", "eval"}

    study = _dump(tmp_path / "study.yaml", {
        "name": "same", "output_dir": str(out), "fixed": common,
        "axes": {"intermediate": [inter], "target": targets, "seed": [1]}})
    st = load_study(study)
    assert st.store == out / "phases"
    cells = expand(st)
    assert len(cells) == 4 and all(c.config.phase_store == store.resolve() for c in cells)
    # the plan names exactly the plain run's phase folders
    assert {p for c in cells for p in c.phases} == set(before)

    from xstilts.experiment import phases

    def no(*a, **k):
        raise AssertionError("a phase was built again")

    monkeypatch.setattr(phases, "fit", no)
    monkeypatch.setattr(phases, "evaluate_languages", no)
    res = run_study(st, cells, log=lambda m: None)
    assert res["ran"] == 4 and all(r["status"] == "done" for r in res["results"]), res
    after = {p.name: (p / "metrics.json").stat().st_mtime_ns for p in store.iterdir() if not p.name.startswith(".")}
    assert after == before  # no new phase folder, none rewritten
    assert not (st.folder / "phases").exists()
    assert (store / ".locks").is_dir()
    runs = ResultsDB(st.db_path).runs()
    assert all(r["headline"] is not None for r in runs)


# ---------------------------------------------------------------------------------------------------- splits
def test_scores_by_split_and_migration_of_an_old_database(tmp_path):
    from xstilts.study.executors import cell_scores

    path = tmp_path / "results.sqlite"
    con = sqlite3.connect(path)  # the schema before splits
    con.executescript("""
        CREATE TABLE runs (cell_id TEXT PRIMARY KEY, study TEXT, variant TEXT, status TEXT, error TEXT,
          config_hash TEXT, model TEXT, model_size TEXT, family TEXT, intermediate TEXT, intermediate_size INTEGER,
          budget_steps INTEGER, budget_tokens INTEGER, target TEXT, seed INTEGER, axes TEXT, run_dir TEXT,
          spent TEXT, started REAL, finished REAL, seconds REAL);
        CREATE TABLE scores (cell_id TEXT, task TEXT, language TEXT, metric TEXT, value REAL,
          PRIMARY KEY (cell_id, task, language, metric));
        INSERT INTO runs (cell_id, study, status, intermediate, target, seed) VALUES ('a', 's', 'done', '[]', 'x', 1);
        INSERT INTO scores VALUES ('a', 'xnli', 'de', 'accuracy', 70.0), ('a', 'xnli', 'avg', 'accuracy', 70.0);
    """)
    con.commit()
    con.close()
    # the report reads an old database as it is (read-only): its scores are test scores
    from xstilts.reports.cells import load_cells

    cells = load_cells(path)
    assert cells[0].by_split == {"test": {"xnli": {"de": {"accuracy": 70.0}, "avg": {"accuracy": 70.0}}}}
    assert cells[0].used_split == {"xnli": "test"}
    db = ResultsDB(path)
    rows = db.scores()
    assert {(r["split"], r["language"], r["value"]) for r in rows} == {("test", "de", 70.0), ("test", "avg", 70.0)}
    assert db.integrity_check() == "ok"

    metrics = {"task": "xnli", "metric": "accuracy", "split": "test", "average": 60.0,
               "languages": {"de": {"accuracy": 60.0, "n": 5}},
               "splits": {"dev": {"languages": {"de": {"accuracy": 55.0, "n": 5}, "en": {"accuracy": 65.0, "n": 5}},
                                  "average": 60.0},
                          "test": {"languages": {"de": {"accuracy": 60.0, "n": 5}}, "average": 60.0}}}
    tat = {"task": "tatoeba", "metric": "accuracy@1", "split": "test", "average": 90.0,
           "languages": {"de": {"accuracy@1": 90.0, "n": 3}},
           "splits": {"test": {"languages": {"de": {"accuracy@1": 90.0, "n": 3}}, "average": 90.0}}}
    rows, head, metric, split = cell_scores({"tasks": {"xnli": metrics}})
    assert (head, metric, split) == (60.0, "accuracy", "dev")
    assert ("xnli", "dev", "en", "accuracy", 65.0) in rows and ("xnli", "test", "avg", "accuracy", 60.0) in rows
    assert not [r for r in rows if r[3] == "n"]
    rows2, head, metric, split = cell_scores({"tasks": {"xnli": metrics, "tatoeba": tat}})
    assert (head, metric, split) == (75.0, "mixed", "mixed")
    # an old phase (no "splits"): its scores under "split"
    old = {"task": "xnli", "metric": "accuracy", "average": 50.0, "languages": {"de": {"accuracy": 50.0}}}
    assert cell_scores({"tasks": {"xnli": old}})[0] == [("xnli", "test", "de", "accuracy", 50.0),
                                                         ("xnli", "test", "avg", "accuracy", 50.0)]
    db.record_scores("a", rows2)
    assert {r["split"] for r in db.scores(cell_id="a", task="xnli")} == {"dev", "test"}
    assert [r["value"] for r in db.scores(cell_id="a", task="xnli", split="dev", language="avg")] == [60.0]
    with pytest.raises(ValueError, match="unknown split"):
        db.record_scores("a", [("xnli", "train", "de", "accuracy", 1.0)])


# ---------------------------------------------------------------------------------------------------- report
NINE = ["anli", "mnli", "qqp", "squad", "squad2", "hellaswag", "cosmosqa", "commonsenseqa", "ccg"]


def _reference_file(tmp_path) -> Path:
    row = {t: None for t in ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")}
    rows = {"baseline": {**row, "xnli": 80.1, "tatoeba": 60.0, "avg": 70.0},
            **{t: dict(row, avg=None) for t in NINE},
            "mnli": {**row, "xnli": 82.0, "tatoeba": 75.5, "avg": 73.0},
            "multi-task": {**row, "xnli": 81.0, "avg": 72.5}}
    ref = {"name": "fixture", "title": "Phang et al. 2020, English intermediate-task training", "source": "Table 2",
           "model": "xlm-roberta-large", "split": "dev",
           "metrics": {"xnli": "accuracy", "tatoeba": "accuracy@1"}, "note": "a test fixture", "rows": rows,
           "extra_rows": {"leaderboard": {**row, "xnli": 80.4, "split": "test"}}}
    f = tmp_path / "ref.json"
    f.write_text(json.dumps(ref))
    return f


def _study_db(tmp_path) -> Path:
    folder = tmp_path / "study"
    db = ResultsDB(folder / "results.sqlite")
    settings = {(): 0.0, ("mnli",): 2.0, ("squad",): -1.0, tuple(NINE): 1.0}
    for inter, gain in settings.items():
        for seed in (1, 2):
            for target, metric in (("xnli", "accuracy"), ("tatoeba", "accuracy@1")):
                cid = f"{'+'.join(inter) or 'base'}-{target}-{seed}"
                db.record_run(cid, study="x", variant="stilts" if inter else "baseline", status="done",
                              model="m", model_size="large", family="encoder", intermediate=list(inter),
                              target=target, seed=seed, axes={"model_label": "large"}, active=1)
                rows = []
                for split in (("dev", "test") if target == "xnli" else ("test",)):
                    base = 70.0 if split == "dev" else 60.0
                    de, sw = base + gain + seed, base + gain - seed + 2
                    rows += [(target, split, "de", metric, de), (target, split, "sw", metric, sw),
                             (target, split, "avg", metric, (de + sw) / 2)]
                db.record_scores(cid, rows)
    return folder


def test_report_paper_table_dev_split_and_reference_rows(tmp_path):
    from xstilts.reports.study import build_report

    folder = _study_db(tmp_path)
    ref = _reference_file(tmp_path)
    w = build_report(folder, resamples=0, plots=False, references=[str(ref)])
    md = w["markdown_text"]
    section = md.split("## Intermediate task × target (the paper's table)")[1].split("\n## ")[0]
    lines = [x for x in section.splitlines() if x.startswith("| ")]
    assert lines[0] == "| intermediate | xnli | tatoeba, test | avg |"
    body = {x.split(" | ")[0][2:]: x for x in lines[1:]}
    # dev scores of xnli (mean over seeds 1 and 2 of the language means: 71 + gain), tatoeba from test, marked
    assert body["baseline"] == "| baseline | 71.0 | 61.0 | 66.0 |"
    assert body["mnli"] == "| mnli | **73.0 (+2.0)** | **63.0 (+2.0)** | **68.0 (+2.0)** |"
    assert body["squad"].startswith("| squad | 70.0 (-1.0) | 60.0 (-1.0) | 65.0 (-1.0)")
    assert body["multi-task (9 tasks)"].startswith("| multi-task (9 tasks) | 72.0 (+1.0) |")
    # published rows, labelled, with Δ vs the published baseline; all-null rows left out and said so
    pub = "published (Phang et al. 2020), not measured, dev"
    assert list(body)[4:] == [f"{pub}: baseline", f"{pub}: mnli", f"{pub}: multi-task (9 tasks)",
                              "published (Phang et al. 2020), not measured, test: leaderboard"]
    assert body[f"{pub}: baseline"] == f"| {pub}: baseline | 80.1 | 60.0 | 70.0 |"
    assert body[f"{pub}: mnli"] == f"| {pub}: mnli | 82.0 (+1.9) | 75.5 (+15.5) | 73.0 |"
    assert body[f"{pub}: multi-task (9 tasks)"].startswith(f"| {pub}: multi-task (9 tasks) | 81.0 (+0.9) | — |")
    assert "| published (Phang et al. 2020), not measured, test: leaderboard | 80.4 | — | — |" in section
    assert "Sources: baseline (dev): Table 2" in section and "a test fixture" in section
    assert "No published figures for the columns shown in: squad, anli, qqp, squad2, hellaswag" in section
    assert "tatoeba: no dev scores in the target languages, the test split is shown" in section
    # the main table says its split too; the CSV has the paper rows
    assert "Main results (dev)" in md and "tatoeba (accuracy@1, test)" in md
    with open(w["csv"]["paper"]) as f:
        rows = list(csv.DictReader(f))
    assert {r["source"] for r in rows} == {"measured", "published: fixture"}

    # --split test: the test scores, no mark
    md = build_report(folder, resamples=0, plots=False, split="test")["markdown_text"]
    section = md.split("## Intermediate task × target (the paper's table)")[1].split("\n## ")[0]
    assert "| intermediate | xnli | tatoeba | avg |" in section and "| baseline | 61.0 | 61.0 | 61.0 |" in section

    r = CliRunner().invoke(app, ["report", str(folder), "--no-plots", "--resamples", "0", "--reference", "nosuch"])
    assert r.exit_code == 2 and "--reference nosuch: no such reference" in r.output
    r = CliRunner().invoke(app, ["report", str(folder), "--no-plots", "--resamples", "0", "--split", "train"])
    assert r.exit_code == 2 and "--split train" in r.output


def test_shipped_reference_loads(tmp_path):
    from xstilts.study.reference import available, load_reference

    assert "x-stilts" in available()
    ref = load_reference("x-stilts")
    assert ref["title"].startswith("Phang et al. 2020") and ref["rows"]
    assert any(r["setting"] == "baseline" for r in ref["rows"])
    for r in ref["rows"]:
        assert r["split"] in ("dev", "test") and r["source"] and r["label"]
        assert all(v is None or isinstance(v, float) for v in r["scores"].values())
    # in a report, every shipped row is labelled as published and not measured
    folder = _study_db(tmp_path)
    r = CliRunner().invoke(app, ["report", str(folder), "--no-plots", "--resamples", "0", "--reference", "x-stilts"])
    assert r.exit_code == 0, r.output
    shown = [x for x in r.output.splitlines() if x.startswith("| published")]
    assert shown and all("not measured" in x for x in shown)


# ---------------------------------------------------------------------------------------------------- the x-stilts plan
TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
#: Issue 12's table: target -> (epochs, effective batch, max length, doc stride); None: retrieval, no training.
PROTOCOL = {"xnli": (2, 32, 256, None), "pawsx": (5, 32, 256, None), "udpos": (10, 32, 256, None),
            "panx": (10, 32, 256, None), "xquad": (2, 16, 384, 128), "mlqa": (2, 16, 384, 128),
            "tydiqa": (2, 16, 384, 128), "bucc2018": None, "tatoeba": None}


def test_x_stilts_plan_cells_phases_and_protocol(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data, no model: the plan needs neither
    r = CliRunner().invoke(app, ["study", "plan", str(ROOT / "studies" / "x-stilts.yaml"), "--json"])
    assert r.exit_code == 0, r.output
    plan = json.loads(r.output)
    cells = plan["cells"]
    settings = {tuple(c["intermediate"]) for c in cells}
    assert len(cells) == 99 and len(settings) == 11 and () in settings and tuple(NINE) in settings
    assert {(tuple(c["intermediate"]), c["target"]) for c in cells} == {(s, t) for s in settings for t in TARGETS}
    assert all(set(c) >= {"id", "variant", "seed", "intermediate", "target", "phases", "settings"} for c in cells)
    # one intermediate phase per setting, shared by its nine targets; none for the baseline
    inter = {}
    for c in cells:
        key = c["phases"]["intermediate"]
        assert (key is None) == (c["variant"] == "baseline") == (c["intermediate"] == [])
        if key:
            assert key.startswith("intermediate-") and c["settings"]["intermediate"]["lr"] == 1e-5
            inter.setdefault(key, set()).add(c["target"])
        assert c["phases"]["target"].startswith("eval-" if PROTOCOL[c["target"]] is None else "target-")
    assert len(inter) == 10 and all(v == set(TARGETS) for v in inter.values())
    assert plan["estimate"]["intermediate_phases"] == 10
    assert plan["estimate"]["intermediate_phases_per_seed"] == {"1": 10}
    assert len({c["phases"]["target"] for c in cells}) == 99
    # the per-target settings of the protocol, the same whatever the intermediate setting
    for c in cells:
        st, want = c["settings"]["target"], PROTOCOL[c["target"]]
        if want is None:
            assert st["training"] is None and st["max_length"] == 512 and st["pooling"] == "mean"
            assert str(st["layer"]).startswith("auto (14")
            continue
        epochs, batch, length, stride = want
        assert (st["epochs"], st["batch_size"] * st["grad_accum"], st["max_length"]) == (epochs, batch, length)
        assert st["lr"] == 1e-5 and st["warmup_ratio"] == 0.1 and st.get("doc_stride") == stride
        assert (st["selection"], st["eval_every"], st["patience"], st["selection_examples"]) == ("en-dev", 1000, 30,
                                                                                                 500)
    multi = next(c for c in cells if len(c["intermediate"]) == 9)["settings"]["intermediate"]
    assert multi["max_length"]["squad"] == 384 and multi["max_length"]["mnli"] == 256
    est = plan["estimate"]
    assert est["complete"] and est["gpu_hours"] > 0 and "H100" in est["assumptions"]["text"]

    # the table form: cells, the distinct intermediate phases and the GPU-hours estimate with its assumptions
    r = CliRunner().invoke(app, ["study", "plan", str(ROOT / "studies" / "x-stilts.yaml")])
    assert r.exit_code == 0, r.output
    assert "99 cells (90 with intermediate training, 9 baselines)" in r.output
    assert "10 distinct intermediate phase(s) (seed 1: 10)" in r.output
    assert "2 ep, 32x1, lr 1e-05, len 256, en-dev/1000" in r.output
    assert "2 ep, 16x1, lr 1e-05, len 384, stride 128, en-dev/1000" in r.output
    assert "GPU-hours on one H100" in r.output and "5e+13 FLOP/s" in r.output


def test_x_stilts_extended_with_seeds(tmp_path, monkeypatch):
    """A study that extends the paper's file: two seeds double the cells and the intermediate phases."""
    monkeypatch.chdir(tmp_path)
    f = _dump(tmp_path / "two-seeds.yaml", {"name": "x-stilts-2", "extends": str(ROOT / "studies" / "x-stilts.yaml"),
                                            "axes": {"seed": [1, 2]}})
    plan = json.loads(CliRunner().invoke(app, ["study", "plan", str(f), "--json"]).output)
    assert len(plan["cells"]) == 198
    assert plan["estimate"]["intermediate_phases_per_seed"] == {"1": 10, "2": 10}


def test_x_stilts_mini_extends_the_paper_grid(tmp_path, monkeypatch):
    """The offline miniature is the paper's grid with another model, data and sizes: the same 99 cells and 10
    intermediate phases, the protocol's lengths, its own step counts."""
    monkeypatch.chdir(tmp_path)  # the example data need not be there to plan
    r = CliRunner().invoke(app, ["study", "plan", str(ROOT / "studies" / "offline" / "x-stilts-mini.yaml"), "--json"])
    assert r.exit_code == 0, r.output
    plan = json.loads(r.output)
    assert plan["study"] == "x-stilts-mini" and len(plan["cells"]) == 99
    assert plan["estimate"]["intermediate_phases"] == 10
    for c in plan["cells"]:
        st = c["settings"]["target"]
        if PROTOCOL[c["target"]] is None:
            assert st["max_length"] == 512
            continue
        assert st["max_steps"] == 40 and st["eval_every"] == 10 and st["max_length"] == PROTOCOL[c["target"]][2]
    study = load_study(ROOT / "studies" / "offline" / "x-stilts-mini.yaml")
    assert study.spec.axes.target == load_study(ROOT / "studies" / "x-stilts.yaml").spec.axes.target
    assert all(cell.config.model.name_or_path == "examples/tiny-model" for cell in expand(study))
