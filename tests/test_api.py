"""The Python API: ``xstilts.run`` gives the CLI's scores as a DataFrame, ``load_results`` reads experiment and
study folders, ``evaluate`` scores a model without training, and the example notebook in docs/ executes."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import xstilts
from fixtures import write_pawsx, write_tatoeba

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path, tiny_model):
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=64, n_test=12)
    return {"name": "api", "output_dir": str(tmp_path / "runs"), "seeds": [1, 2], "with_baseline": False,
            "trackers": [], "model": {"name_or_path": str(tiny_model), "max_length": 32},
            "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]}],
                       "max_steps": 4, "batch_size": 16, "lr": 1e-3}}


def test_run_returns_the_cli_scores_as_a_dataframe(config, tmp_path):
    import yaml

    from xstilts.cli import app

    res = xstilts.run(config, target__lr=2e-3)
    assert list(res.scores.columns) == ["task", "language", "split", "metric", "value", "variant", "seed"]
    df = res.scores
    # every language and the average, dev and test, each seed
    assert set(df.language) == {"en", "de", "avg"} and set(df.split) == {"dev", "test"} and set(df.seed) == {1, 2}
    assert set(df.metric) == {"accuracy"} and len(df) == 2 * 2 * 3
    # the same experiment through the CLI, in another folder: the same scores
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(dict(config, output_dir=str(tmp_path / "cli"))))
    r = CliRunner().invoke(app, ["run", str(path), "--set", "target.lr=2e-3"])
    assert r.exit_code == 0, r.output
    for seed in (1, 2):
        cli = json.loads((tmp_path / "cli" / "api" / f"baseline-seed{seed}" / "run.json").read_text())
        m = cli["tasks"]["pawsx"]
        got = df[(df.seed == seed) & (df.split == "test")].set_index("language").value
        assert got["en"] == m["languages"]["en"]["accuracy"] and got["avg"] == m["average"]
    assert res.summary().loc["pawsx", "baseline"] == pytest.approx(df[(df.split == "test") & (df.language == "avg")]
                                                                   .value.mean())
    # load_results on the experiment folder and on one run folder
    again = xstilts.load_results(res.folder)
    assert again.sort_values(list(again.columns)).reset_index(drop=True).equals(
        df.sort_values(list(df.columns)).reset_index(drop=True))
    assert len(xstilts.load_results(res.folder / "baseline-seed1", split="dev")) == 3
    assert all(p.is_dir() for p in res.phases.values())


def test_load_config_overrides_and_errors(config):
    cfg = xstilts.load_config(config, target__lr=5e-4, seeds=[7])
    assert cfg.target.lr == 5e-4 and cfg.seeds == [7]
    with pytest.raises(xstilts.api.ConfigError, match="target.lr"):
        xstilts.load_config(config, target__lr=-1)


def test_evaluate_scores_retrieval_without_training(tmp_path, tiny_model):
    sents = ["alpha beta gamma", "cat dog bird", "red green tree", "river stone house"]
    tat = write_tatoeba(tmp_path / "tat", {"deu": (sents, sents)})
    res = xstilts.evaluate(tiny_model, [{"task": "tatoeba", "data_dir": str(tat), "languages": ["de"]}],
                           output_dir=tmp_path / "runs", evaluation__retrieval_layer="last", model__max_length=16)
    row = res.scores[(res.scores.language == "de")].iloc[0]
    assert (row.task, row.split, row.metric, row.value) == ("tatoeba", "test", "accuracy@1", 100.0)


def test_load_results_of_a_study_has_one_row_per_score(tmp_path, tiny_model):
    import sqlite3

    import yaml

    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=64, n_test=12)
    base = {"name": "b", "model": {"name_or_path": str(tiny_model), "max_length": 32}, "trackers": [],
            "target": {"max_steps": 2, "batch_size": 16}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    study = {"name": "s", "output_dir": str(tmp_path / "studies"), "base": "base.yaml",
             "axes": {"target": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]}],
                      "seed": [1, 2]},
             "executor": {"kind": "local", "parallel": 1}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    st = xstilts.Study(tmp_path / "s.yaml")
    plan = st.plan()
    assert len(plan) == 2 and set(plan.seed) == {1, 2} and all(p.startswith("target-pawsx-")
                                                              for ps in plan.target_phases for p in ps)
    df = st.run()
    with sqlite3.connect(st.folder / "results.sqlite") as con:
        n = con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    assert len(df) == n > 0 and {"task", "language", "split", "metric", "value", "variant", "seed", "cell_id"} <= \
        set(df.columns)
    assert not df.duplicated(["cell_id", "task", "language", "split", "metric"]).any()
    assert xstilts.load_results(tmp_path / "s.yaml").shape == df.shape


def test_the_example_notebook_executes(tmp_path):
    import nbclient
    import nbformat

    nb = nbformat.read(ROOT / "docs" / "api.ipynb", as_version=4)
    env = {"XSTILTS_ROOT": str(ROOT), "XSTILTS_NOTEBOOK_OUT": str(tmp_path / "nb")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    outputs = "".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "Traceback" not in outputs and "xnli" in outputs and "tatoeba" in outputs


def test_piped_output_keeps_whole_names():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "xstilts", "tasks"], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "80", "TERM": "dumb"}).stdout
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["task", "kind", "role", "metric"]
    names = {line.split()[0] for line in lines[2:]}
    assert {"commonsenseqa", "tatoeba-xtreme-r", "kjv-web-paraphrase-hard"} <= names
    assert any("intermediate" in line.split() for line in lines) and "│" not in out
