"""Studies: grid expansion, budgets, validation, executors (local, parallel, submitit), failures and re-runs, phase
reuse, the results database under concurrent writers, and the CLI (plan, status, results)."""

import json
import multiprocessing as mp
import sqlite3

import pytest
import yaml
from typer.testing import CliRunner

from fixtures import write_pawsx, write_tatoeba
from xstilts.cli import app
from xstilts.errors import ConfigError
from xstilts.study import ResultsDB, expand, load_study
from xstilts.study.executors import run_study
from xstilts.study.grid import groups, tokens_to_steps
from xstilts.study.spec import study_from_dict


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data(tmp_path):
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=48, n_test=16)
    kjv = tmp_path / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    sents = ["alpha beta gamma", "cat dog bird", "red green tree", "river stone house", "pi rho sigma"]
    tat = write_tatoeba(tmp_path / "tatoeba", {"deu": (sents, sents), "fra": (sents[::-1], sents)})
    return {"pawsx": pawsx, "kjv": kjv, "tatoeba": tat}


def _study(tmp_path, tiny_model, data, **over) -> dict:
    s = {
        "name": "s", "output_dir": str(tmp_path / "studies"),
        "fixed": {"num_threads": 1, "device": "cpu",
                  "model": {"name_or_path": str(tiny_model), "max_length": 24},
                  "intermediate": {"epochs": 1, "lr": 1e-3, "batch_size": 8, "log_every": 1},
                  "target": {"epochs": 1, "lr": 1e-3, "batch_size": 8, "max_steps": 2},
                  "evaluation": {"retrieval_layer": "last"}},
        "task_defaults": {"kjv-web-paraphrase": {"data_dir": str(data["kjv"]), "max_eval_examples": 8},
                          "kjv-web-paraphrase-hard": {"data_dir": str(data["kjv"]), "max_eval_examples": 8},
                          "pawsx": {"data_dir": str(data["pawsx"]), "languages": ["en", "de"]},
                          "tatoeba": {"data_dir": str(data["tatoeba"]), "languages": "all"}},
        "axes": {"intermediate": [["kjv-web-paraphrase"]], "intermediate_size": [16], "budget": [{"steps": 2}],
                 "target": ["pawsx", "tatoeba"], "seed": [1]},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(s.get(k), dict):
            s[k] = {**s[k], **v}
        else:
            s[k] = v
    return s


def _write(tmp_path, study: dict, name="study.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------------- expansion
def test_grid_expansion_baselines_sizes_and_budgets(tmp_path, tiny_model, data):
    s = _study(tmp_path, tiny_model, data, axes={
        "model": [{"size": "a"}, {"size": "b", "max_length": 16}],
        "intermediate": [["kjv-web-paraphrase"], ["kjv-web-paraphrase", "kjv-web-paraphrase-hard"]],
        "intermediate_size": [10, 20, None], "budget": [{"steps": 7}, {"tokens": 5000}],
        "target": ["pawsx", ["tatoeba", {"task": "pawsx", "name": "pawsx-de", "languages": ["de"]}]],
        "seed": [1, 2]})
    cells = expand(study_from_dict(s))
    stilts = [c for c in cells if c.variant == "stilts"]
    base = [c for c in cells if c.variant == "baseline"]
    assert len(stilts) == 2 * 2 * 3 * 2 * 2 * 2
    assert len(base) == 2 * 2 * 2  # once per (model, target, seed), shared by every intermediate setting
    assert cells[: len(base)] == base  # baselines first
    assert len({c.id for c in cells}) == len(cells)
    assert {(c.axes["model_size"], c.target, c.seed) for c in base} == {
        (m, t, sd) for m in "ab" for t in ("pawsx", "tatoeba+pawsx-de") for sd in (1, 2)}
    for c in cells:
        cfg = c.config
        assert cfg.with_baseline is False and cfg.seeds == [c.seed] and cfg.name == f"cell-{c.id}"
        assert cfg.output_dir == (tmp_path / "studies" / "s").resolve()
        if c.variant == "baseline":
            assert cfg.intermediate.tasks == [] and c.budget is None
            continue
        size = c.axes["intermediate_size"]
        assert all(t.max_examples == size for t in cfg.intermediate.tasks)
        assert all(t.max_eval_examples == 8 and t.data_dir == data["kjv"] for t in cfg.intermediate.tasks)
        if "steps" in c.budget:
            assert cfg.intermediate.max_steps == 7
        else:
            assert cfg.intermediate.max_steps is None and c.budget == {"tokens": 5000}
    assert {c.config.model.max_length for c in cells} == {24, 16}
    # cells sharing an intermediate phase form one group, in order; baselines are groups of their own
    gs = groups(cells)
    assert len(gs) == len(base) + 2 * 2 * 3 * 2 * 2
    assert all(len({c.target for c in g}) == len(g) for g in gs)
    # ids are stable: expanding again gives the same cells, and so does spelling out a default value
    assert [c.id for c in expand(study_from_dict(s))] == [c.id for c in cells]
    s["fixed"]["target"]["weight_decay"] = 0.01
    assert [c.id for c in expand(study_from_dict(s))] == [c.id for c in cells]


def test_nested_subsets():
    from xstilts.loading import subsample

    data = list(range(1000))
    small, mid, full = subsample(data, 100), subsample(data, 300), subsample(data, None)
    assert set(small) < set(mid) < set(full) and len(small) == 100 and full == data


def test_token_budget_to_steps(tmp_path, tiny_model, data):
    s = _study(tmp_path, tiny_model, data, axes={
        "intermediate": [["kjv-web-paraphrase", "kjv-web-paraphrase-hard"]], "intermediate_size": [20],
        "budget": [{"tokens": 3000}], "target": ["pawsx"], "seed": [1]})
    cell = [c for c in expand(study_from_dict(s)) if c.variant == "stilts"][0]
    conv = tokens_to_steps(cell.config, 3000)
    # by hand: the tiny tokenizer gives one token per word, plus [CLS] a [SEP] b [SEP]
    from xstilts.loading import subsample
    from xstilts.tasks.kjv_web_paraphrase import read_kjv_web

    ex = subsample(read_kjv_web(data["kjv"], "train", "en"), 20)
    lengths = [min(24, len(e.text_a.split()) + len(e.text_b.split()) + 3) for e in ex]
    mean = sum(lengths) / len(lengths)
    assert conv["mean_length"] == pytest.approx(mean)
    assert conv["tasks"]["kjv-web-paraphrase"]["p"] == pytest.approx(0.5)
    import math

    assert conv["steps"] == math.ceil(3000 / (8 * mean))


@pytest.mark.parametrize("change, expect", [
    ({"axes": {"modle": [1]}}, r"study\.yaml:\d+: axes\.modle: unknown key"),
    ({"axes": {"model": [{"size": "x"}, {"max_length": -3}]}}, r"study\.yaml:\d+: axes\.model\.1\.max_length: "),
    ({"axes": {"intermediate": [["kjv-web-paraphrase"], ["kjv-web-paraphrase", "nosuchtask"]]}},
     r"study\.yaml:\d+: axes\.intermediate\.1\.1: unknown task .nosuchtask"),
    ({"axes": {"intermediate": ["pawsx"]}}, r"axes\.intermediate\.0: .*not an intermediate task"),
    ({"axes": {"budget": [{"steps": 5, "tokens": 10}]}}, r"axes\.budget\.0: .*exactly one of steps or tokens"),
    ({"axes": {"intermediate_size": [0]}}, r"axes\.intermediate_size: .*positive"),
    ({"fixed": {"target": {"lr": -1}}}, r"study\.yaml:\d+: fixed\.target\.lr: "),
    ({"executor": {"kind": "slurm"}}, r"executor\.kind: "),
    ({"fixed": {"intermediate": {"sampling": "explicit", "sampling_probabilities": {"kjv-web-paraphrase": 1.0}}},
      "axes": {"intermediate": [["kjv-web-paraphrase"], ["kjv-web-paraphrase", "kjv-web-paraphrase-hard"]]}},
     r"study\.yaml:\d+: fixed\.intermediate: .*sampling_probabilities.* \(in cell model=\S+ "
     r"intermediate=kjv-web-paraphrase\+kjv-web-paraphrase-hard "),
])
def test_validation_errors_name_the_key(tmp_path, tiny_model, data, change, expect):
    s = _study(tmp_path, tiny_model, data)
    for k, v in change.items():
        s[k] = {**s.get(k, {}), **v} if isinstance(v, dict) else v
    path = _write(tmp_path, s)
    with pytest.raises(ConfigError, match=expect):
        expand(load_study(path))


def test_base_config_relative_to_study_file(tmp_path, tiny_model, data):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "exp.yaml").write_text(yaml.safe_dump({
        "model": {"name_or_path": str(tiny_model)}, "seeds": [3, 4],
        "target": {"tasks": [{"task": "tatoeba", "data_dir": str(data["tatoeba"])}], "lr": 3e-5}}))
    (tmp_path / "studies").mkdir()
    path = tmp_path / "studies" / "x.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "base": "../configs/exp.yaml", "fixed": {"target": {"lr": 1e-4}},
                                    "axes": {"intermediate": [["kjv-web-paraphrase"]]}}))
    cells = expand(load_study(path))
    assert sorted((c.variant, c.seed) for c in cells) == [("baseline", 3), ("baseline", 4), ("stilts", 3),
                                                          ("stilts", 4)]
    assert all(c.config.target.lr == 1e-4 for c in cells)
    bad = dict(yaml.safe_load(path.read_text()), base="../configs/none.yaml")
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="none.yaml: base experiment config"):
        load_study(path)


# ---------------------------------------------------------------------------------------------------- running
def by_dev(rows):
    return {r["language"]: r["value"] for r in rows if r["metric"] == "accuracy" and r["split"] == "dev"}


def _phase_dirs(store, kind):
    return sorted(p.name for p in store.glob(f"{kind}-*") if not p.name.startswith("."))


def test_local_study_failure_rerun_and_phase_reuse(tmp_path, tiny_model, data, monkeypatch):
    import xstilts.study.executors as ex

    broken = tmp_path / "pawsx-later"
    s = _study(tmp_path, tiny_model, data, axes={
        "intermediate": [["kjv-web-paraphrase"]], "intermediate_size": [16], "budget": [{"steps": 2}],
        "target": ["pawsx", "tatoeba", {"task": "pawsx", "name": "pawsx-b", "data_dir": str(broken)}],
        "seed": [1]})
    path = _write(tmp_path, s)
    study = load_study(path)
    cells = expand(study)
    assert len(cells) == 6
    ran = []
    real = ex.execute_cell
    monkeypatch.setattr(ex, "execute_cell", lambda p, *a, **k: ran.append(p["id"]) or real(p, *a, **k))
    res = run_study(study, cells, log=lambda m: None)
    assert res["ran"] == 6 and len(ran) == 6
    db = ResultsDB(study.db_path)
    runs = {r["cell_id"]: r for r in db.runs()}
    failed = {c.id for c in cells if c.target == "pawsx-b"}
    assert {k for k, r in runs.items() if r["status"] == "failed"} == failed
    for cid in failed:
        assert "pawsx-later" in runs[cid]["error"] and "not found" in runs[cid]["error"]
        assert "Traceback" in (study.folder / f"cell-{cid}" / "error.log").read_text()
    done = [r for r in runs.values() if r["status"] == "done"]
    assert len(done) == 4 and all(r["seconds"] > 0 and r["headline"] is not None for r in done)
    # one intermediate checkpoint served every target that starts from it
    assert len(_phase_dirs(study.store, "intermediate")) == 1
    assert len(_phase_dirs(study.store, "target")) == 2 and len(_phase_dirs(study.store, "eval")) == 2
    stilts_paws = next(r for r in done if r["variant"] == "stilts" and r["target"] == "pawsx")
    assert stilts_paws["intermediate"] == ["kjv-web-paraphrase"] and stilts_paws["intermediate_size"] == 16
    assert stilts_paws["budget_steps"] == 2 and stilts_paws["train_steps"] == 2
    spent = stilts_paws["spent"]["kjv-web-paraphrase"]
    assert spent["steps"] == 2 and spent["examples"] == 16 and spent["tokens"] > 16
    sc = db.scores(cell_id=stilts_paws["cell_id"])
    langs = {(r["task"], r["split"], r["language"], r["metric"]) for r in sc}
    assert {("pawsx", sp, lang, "accuracy") for sp in ("dev", "test") for lang in ("en", "de", "avg")} <= langs
    for sp in ("dev", "test"):
        by = {(r["language"]): r["value"] for r in sc if r["metric"] == "accuracy" and r["split"] == sp}
        assert by["avg"] == pytest.approx((by["en"] + by["de"]) / 2)
    # the headline: the dev split's average (the report's default view)
    assert by_dev(sc)["avg"] == pytest.approx(stilts_paws["headline"]) and stilts_paws["headline_split"] == "dev"
    tat = db.scores(task="tatoeba", variant="baseline", language="avg")
    assert len(tat) == 1 and tat[0]["metric"] == "accuracy@1" and tat[0]["split"] == "test"

    # nothing to do for finished cells; fixing the data runs only the failed cells, reusing the intermediate phase
    write_pawsx(broken, langs=("en", "de"), n_train=48, n_test=16, seed=1)
    ran.clear()
    from xstilts.experiment import phases

    real_inter = phases.intermediate
    built = []

    def inter(ctx, start):
        before = set(_phase_dirs(study.store, "intermediate"))
        out = real_inter(ctx, start)
        built.append(set(_phase_dirs(study.store, "intermediate")) - before)
        return out

    monkeypatch.setattr(phases, "intermediate", inter)
    res = run_study(load_study(path), expand(load_study(path)), log=lambda m: None)
    assert sorted(ran) == sorted(failed) and res["skipped"] == 4
    assert built == [set()]  # the stilts cell found the intermediate checkpoint
    runs2 = {r["cell_id"]: r for r in db.runs()}
    assert all(r["status"] == "done" for r in runs2.values())
    for cid, r in runs.items():
        if cid not in failed:
            assert runs2[cid]["started"] == r["started"]  # not re-run
    assert len(_phase_dirs(study.store, "intermediate")) == 1
    assert db.integrity_check() == "ok"

    # a cell removed from the study file stays in the database, marked inactive
    s["axes"]["target"] = ["pawsx", "tatoeba"]
    path = _write(tmp_path, s)
    ran.clear()
    res = run_study(load_study(path), expand(load_study(path)), log=lambda m: None)
    assert res["ran"] == 0 and ran == []
    active = {r["cell_id"]: r["active"] for r in db.runs()}
    assert {k for k, v in active.items() if v == 0} == failed and len(active) == 6

    # `xstilts results` lists only the active cells unless --all-cells
    import json as _json

    from typer.testing import CliRunner

    from xstilts.cli import app

    def listed(*extra):
        r = CliRunner().invoke(app, ["results", "--study", str(study.folder), "--runs", "--format", "json", *extra])
        assert r.exit_code == 0, r.output
        return {row["cell_id"] for row in _json.loads(r.stdout)}

    assert listed() == {k for k, v in active.items() if v == 1}
    assert listed("--all-cells") == set(active)


def test_phase_lock_is_exclusive(tmp_path):
    import threading
    import time

    from xstilts.study.executors import phase_lock

    inside, overlap = [], []

    def worker():
        with phase_lock(tmp_path / "locks", ("target", "x")):
            inside.append(1)
            if len(inside) > 1:
                overlap.append(1)
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlap


def test_submitit_debug_and_local_executors(tmp_path, tiny_model, data):
    s = _study(tmp_path, tiny_model, data, axes={
        "intermediate": [["kjv-web-paraphrase"]], "intermediate_size": [16], "budget": [{"steps": 2}],
        "target": ["tatoeba", {"task": "tatoeba", "name": "tat-de", "languages": ["de"]}], "seed": [1]},
        executor={"kind": "submitit", "cluster": "debug"})
    study = study_from_dict(s)
    cells = expand(study)
    res = run_study(study, cells, log=lambda m: None)
    assert res["ran"] == 4 and all(r["status"] == "done" for r in res["results"]), res
    assert (study.folder / "submitit").is_dir()

    s["name"] = "s-local"  # a subprocess job per group of cells; here one group: the two stilts cells
    s["baseline"] = False
    s["executor"] = {"kind": "submitit", "cluster": "local", "slurm": {"timeout_min": 10}}
    study = study_from_dict(s)
    cells = expand(study)
    assert len(groups(cells)) == 1
    res = run_study(study, cells, log=lambda m: None)
    assert res["ran"] == 2
    runs = ResultsDB(study.db_path).runs()
    assert [r["status"] for r in runs] == ["done"] * 2, [r.get("error") for r in runs]
    assert len(_phase_dirs(study.store, "intermediate")) == 1
    assert list((study.folder / "submitit").glob("*_log.out"))


def test_local_parallel_subprocesses(tmp_path, tiny_model, data):
    s = _study(tmp_path, tiny_model, data, axes={
        "intermediate": [[{"task": "kjv-web-paraphrase", "data_dir": str(tmp_path / "nowhere")}]],
        "intermediate_size": [16], "budget": [{"steps": 2}], "target": ["tatoeba"], "seed": [1]},
        executor={"kind": "local", "parallel": 2, "gpus": "none"})
    study = study_from_dict(s)
    cells = expand(study)
    res = run_study(study, cells, log=lambda m: None)
    status = {r["id"]: r["status"] for r in res["results"]}
    assert {c.variant: status[c.id] for c in cells} == {"baseline": "done", "stilts": "failed"}
    rows = {r["cell_id"]: r for r in ResultsDB(study.db_path).runs()}
    for c in cells:
        assert rows[c.id]["status"] == status[c.id]
        assert c.id in (study.folder / f"cell-{c.id}" / "cell.log").read_text()
        if c.variant == "stilts":
            assert "nowhere" in rows[c.id]["error"]
            assert "MissingDataError" in (study.folder / f"cell-{c.id}" / "error.log").read_text()


# ---------------------------------------------------------------------------------------------------- database
def _writer(path, who, n):
    db = ResultsDB(path)
    for i in range(n):
        cid = f"{who}-{i}"
        db.record_run(cid, study="x", variant="stilts", status="running", seed=i, intermediate=["a", "b"])
        db.record_scores(cid, {"t": {"de": {"accuracy": float(i)}, "avg": {"accuracy": float(i)}}})
        db.record_run(cid, status="done", seconds=0.1)


def test_two_processes_write_one_database(tmp_path):
    path = tmp_path / "results.sqlite"
    ctx = mp.get_context("fork")  # separate processes, separate connections, no re-import
    n = 200
    procs = [ctx.Process(target=_writer, args=(path, w, n)) for w in ("p", "q")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    db = ResultsDB(path)
    runs = db.runs()
    assert len(runs) == 2 * n and all(r["status"] == "done" for r in runs)
    assert len(db.scores()) == 2 * n * 2
    assert db.scores(cell_id="q-7", language="de")[0]["value"] == 7.0
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_db_filters():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        db = ResultsDB(Path(d) / "r.sqlite")
        db.record_run("a", study="s", variant="baseline", intermediate=[], seed=1, status="done")
        db.record_run("b", study="s", variant="stilts", intermediate=["x", "y"], seed=2, status="done")
        db.record_run("c", study="s", variant="stilts", intermediate=["x"], seed=1, status="failed")
        assert [r["cell_id"] for r in db.runs(intermediate="x+y")] == ["b"]
        assert [r["cell_id"] for r in db.runs(intermediate=["x"])] == ["c"]
        assert [r["cell_id"] for r in db.runs(intermediate="baseline")] == ["a"]
        assert sorted(r["cell_id"] for r in db.runs(seed=[1, 2], status="done")) == ["a", "b"]
        assert db.runs(seed="1", variant="stilts")[0]["cell_id"] == "c"
        with pytest.raises(ValueError, match="unknown filter"):
            db.runs(colour="red")
        with pytest.raises(ValueError, match="unknown runs column"):
            db.record_run("a", colour="red")


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_plan_status_results(tmp_path, tiny_model, data, monkeypatch):
    s = _study(tmp_path, tiny_model, data, axes={
        "intermediate": [["kjv-web-paraphrase"]], "intermediate_size": [16], "budget": [{"steps": 2}],
        "target": ["pawsx"], "seed": [1, 2]})
    path = _write(tmp_path, s)
    runner = CliRunner()
    r = runner.invoke(app, ["study", "plan", str(path)])
    assert r.exit_code == 0, r.output
    assert "4 cells (2 with intermediate training, 2 baselines)" in r.output and "rough" in r.output.lower()
    r = runner.invoke(app, ["study", "plan", str(path), "--json"])
    plan = json.loads(r.output)
    inter = [p for p in plan["estimate"]["phases"].values() if p["kind"] == "intermediate"]
    assert len(inter) == 2 and all(p["steps"] == 2 and p["train_examples"] == 16 for p in inter)
    r = runner.invoke(app, ["study", "status", str(path)])
    assert r.exit_code == 0 and "4 missing of 4 cells" in r.output

    r = runner.invoke(app, ["study", "run", str(path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["study", "status", str(path), "--json"])
    rows = json.loads(r.output)
    assert [x["status"] for x in rows] == ["done"] * 4 and all(x["headline"] is not None for x in rows)
    r = runner.invoke(app, ["study", "status", str(path)])
    assert "4 done of 4 cells" in r.output

    r = runner.invoke(app, ["results", "--study", str(path), "--where", "variant=stilts", "--language", "avg",
                            "--format", "json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert len(got) == 4 and {(x["seed"], x["split"]) for x in got} == {(1, "dev"), (2, "dev"), (1, "test"),
                                                                        (2, "test")}
    assert all(x["language"] == "avg" and x["intermediate"] == ["kjv-web-paraphrase"] for x in got)
    r = runner.invoke(app, ["results", "--study", str(path), "--where", "variant=stilts", "--language", "avg",
                            "--split", "dev", "--format", "json"])
    assert {(x["seed"], x["split"]) for x in json.loads(r.output)} == {(1, "dev"), (2, "dev")}
    r = runner.invoke(app, ["results", "--study", str(path), "--split", "train"])
    assert r.exit_code == 2 and "--split train: expected dev or test" in r.output
    r = runner.invoke(app, ["results", "--study", str(tmp_path / "studies" / "s"), "--where", "seed=2",
                            "--where", "intermediate=baseline", "--task", "pawsx", "--split", "test", "--format",
                            "csv"])
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("cell_id,task,split,language,metric,value,study,variant")
    assert len(lines) == 1 + 3 and all(",baseline," in x and ",test," in x for x in lines[1:])  # en, de, avg
    r = runner.invoke(app, ["results", "--study", str(path), "--runs", "--format", "csv", "--where", "seed=1,2"])
    assert len(r.output.strip().splitlines()) == 5
    r = runner.invoke(app, ["results", "--study", str(path), "--where", "colour=red"])
    assert r.exit_code == 2 and "unknown column 'colour'" in r.output
    r = runner.invoke(app, ["results", "--study", str(path)])
    assert r.exit_code == 0 and "pawsx" in r.output
    r = runner.invoke(app, ["study", "run", str(path)])
    assert r.exit_code == 0 and "4 already done" in r.output

    bad = _write(tmp_path, {**s, "axes": {"model": [{"max_length": "long"}]}}, "bad.yaml")
    r = runner.invoke(app, ["study", "plan", str(bad)])
    assert r.exit_code == 2 and "axes.model.0.max_length" in r.output and "Traceback" not in r.output


def test_study_run_refuses_a_named_tracker_that_is_not_installed(tmp_path, tiny_model, data, monkeypatch):
    """One line before any cell runs (not a failed cell per cell); the cell ids do not depend on trackers."""
    monkeypatch.setattr("xstilts.trackers._installed", lambda name: name != "wandb")
    s = _study(tmp_path, tiny_model, data, fixed={"trackers": ["wandb"]})
    path = _write(tmp_path, s)
    r = CliRunner().invoke(app, ["study", "run", str(path)])
    assert r.exit_code == 2 and "trackers: wandb is not installed (pip install wandb)" in r.output, r.output
    assert not [x for x in ResultsDB(tmp_path / "studies" / "s" / "results.sqlite").runs() if x["status"] != "pending"]
    plain = _write(tmp_path, _study(tmp_path, tiny_model, data), "plain.yaml")
    assert [c.id for c in expand(load_study(path))] == [c.id for c in expand(load_study(plain))]


def test_auto_parallel_shares_gpus_among_small_runs(tmp_path):
    """``executor.parallel: auto``: one cell at a time on a CPU; several small runs per GPU; fewer for big models."""
    import json as _json
    from types import SimpleNamespace

    from xstilts.config import ModelConfig
    from xstilts.study.executors import auto_parallel

    def model_dir(name, hidden, layers):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(_json.dumps({"model_type": "xlm-roberta", "hidden_size": hidden,
                                                    "num_hidden_layers": layers, "intermediate_size": 4 * hidden}))
        return str(d)

    def cell(path, lora=None):
        return SimpleNamespace(config=SimpleNamespace(model=ModelConfig(name_or_path=path, lora=lora)))

    base, huge = model_dir("base", 768, 12), model_dir("huge", 4096, 32)  # 85M and 6.4B non-embedding
    assert auto_parallel([cell(base)], []) == 1
    assert auto_parallel([cell(base)], [0]) == 4
    assert auto_parallel([cell(base)], [0, 1]) == 8
    assert auto_parallel([cell(base, lora={"r": 8})], [0]) == 2
    assert auto_parallel([cell(base), cell(huge)], [0]) == 1
