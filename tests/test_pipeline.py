"""End to end on a tiny encoder and small official-format files: phases, files, reuse, atomicity, comparison."""

import json

import pytest

from fixtures import write_pawsx, write_tatoeba
from xstilts.config import validate_config
from xstilts.experiment import evaluate_only, run as run_experiment


@pytest.fixture
def experiment(tmp_path, tiny_model):
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=200, n_test=40)
    kjv = tmp_path / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    sents = ["alpha beta gamma", "cat dog bird", "red green tree", "river stone house", "pi rho sigma"]
    tat = write_tatoeba(tmp_path / "tatoeba", {"deu": (sents, sents), "fra": (sents[::-1], sents[::-1])})
    return {
        "name": "t", "output_dir": str(tmp_path / "runs"), "seeds": [1],
        "model": {"name_or_path": str(tiny_model), "max_length": 32},
        "intermediate": {"tasks": [{"task": "kjv-web-paraphrase", "data_dir": str(kjv), "max_examples": 64,
                                    "max_eval_examples": 20}],
                         "epochs": 1, "lr": 1e-3, "batch_size": 16},
        "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]},
                             {"task": "tatoeba", "data_dir": str(tat), "languages": "all"}],
                   "epochs": 1, "lr": 1e-3, "batch_size": 16},
        "evaluation": {"retrieval_layer": "last"},
    }


def test_three_phases_write_everything_and_rerun_skips(experiment, tmp_path, monkeypatch):
    import xstilts.models.backbone as modeling
    from xstilts.experiment import phases as experiment_phases, training

    loaded_from = []
    real_load = modeling.load_encoder
    monkeypatch.setattr(modeling, "load_encoder",
                        lambda path, *a, **k: loaded_from.append(str(path)) or real_load(path, *a, **k))
    written = run_experiment(validate_config(experiment)).written
    runs = tmp_path / "runs"
    assert set(written) == {"stilts", "baseline", "comparison"}

    stilts = json.loads((runs / "t" / "stilts-seed1" / "run.json").read_text())
    assert [p["phase"] for p in stilts["phases"]] == ["intermediate", "target", "target"]
    inter = runs / "t" / "stilts-seed1" / "phases" / "intermediate"
    assert (inter / "checkpoint" / "encoder" / "config.json").is_file()
    assert (inter / "checkpoint" / "heads.safetensors").is_file() and not (inter / "checkpoint" / "heads.pt").exists()
    heads = json.loads((inter / "checkpoint" / "heads.json").read_text())["heads"]
    assert heads["kjv-web-paraphrase"]["task"] == "kjv-web-paraphrase"
    assert (inter / "config.yaml").is_file() and (inter / "metrics.json").is_file()
    # the encoder (not the head) passes on: the STILTs target phase starts from the intermediate checkpoint
    assert any(p.endswith("checkpoint/encoder") for p in loaded_from)
    target = runs / "t" / "stilts-seed1" / "phases" / "target-pawsx"
    m = json.loads((target / "metrics.json").read_text())
    assert set(m["languages"]) == {"en", "de"} and m["metric"] == "accuracy"
    assert m["average"] == pytest.approx((m["languages"]["en"]["accuracy"] + m["languages"]["de"]["accuracy"]) / 2)
    for lang in ("en", "de"):
        lines = (target / "predictions" / "pawsx" / f"test-{lang}.tsv").read_text().splitlines()
        assert len(lines) == 40 and set(lines) <= {"0", "1"}
    tat = json.loads((runs / "t" / "stilts-seed1" / "phases" / "target-tatoeba" / "metrics.json").read_text())
    assert set(tat["languages"]) == {"de", "fr"}  # discovered from the folder, 3-letter codes mapped to XTREME's
    assert tat["languages"]["de"]["accuracy@1"] == 100.0  # identical texts on both sides

    # baseline: same config without the intermediate phase
    base = json.loads((runs / "t" / "baseline-seed1" / "run.json").read_text())
    assert [p["phase"] for p in base["phases"]] == ["target", "target"]
    for name in ("results.md", "results.json", "results.csv"):
        assert (runs / "t" / "stilts" / name).is_file() and (runs / "t" / "stilts-seed1" / name).is_file()
    comp = json.loads((runs / "t" / "comparison" / "comparison.json").read_text())
    c = comp["tasks"]["pawsx"]
    assert c["mean_delta"] == pytest.approx(c["stilts_average"] - c["baseline_average"])
    assert c["languages"]["de"]["delta"] == pytest.approx(c["languages"]["de"]["stilts"] - c["languages"]["de"]["baseline"])
    png = runs / "t" / "comparison" / "delta-pawsx.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| de |" in (runs / "t" / "comparison" / "comparison.md").read_text()

    # a re-run finds every finished phase and trains nothing
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("a finished phase was run again"))
    for module in (training, experiment_phases):
        monkeypatch.setattr(module, "build_backbone",
                            lambda *a, **k: pytest.fail("a model was loaded for a finished phase"))
    run_experiment(validate_config(experiment))
    # a changed target setting re-runs only the target phases
    experiment["target"]["lr"] = 5e-4
    with pytest.raises(pytest.fail.Exception, match="run again|loaded"):
        run_experiment(validate_config(experiment))


def test_killed_phase_leaves_no_result_and_rerun_resumes(experiment, tmp_path, monkeypatch):
    from xstilts.experiment import phases as experiment_phases, training

    experiment["target"]["tasks"] = experiment["target"]["tasks"][:1]
    experiment["with_baseline"] = False
    real_eval = experiment_phases.score_language
    calls = {"n": 0}

    def eval_then_die(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # intermediate dev, target en, then die during target de
            raise KeyboardInterrupt("killed")
        return real_eval(*a, **k)

    monkeypatch.setattr(experiment_phases, "score_language", eval_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(validate_config(experiment))
    phases = tmp_path / "runs" / "phases"
    finished = sorted(p.name.split("-")[0] for p in phases.iterdir() if not p.name.startswith("."))
    assert finished == ["intermediate"]  # the target phase left no result
    partial = [p for p in phases.iterdir() if p.name.startswith(".")]
    assert len(partial) == 1 and not (partial[0] / "metrics.json").exists()
    assert list((partial[0] / "train_state").glob("step-*"))  # only its resumable training state
    monkeypatch.setattr(experiment_phases, "score_language", real_eval)
    monkeypatch.setattr(training, "train", _no_retrain(training.train))
    run_experiment(validate_config(experiment))
    target = tmp_path / "runs" / "t" / "stilts-seed1" / "phases" / "target-pawsx"
    m = json.loads((target / "metrics.json").read_text())
    assert m["train"]["resumed_from"].endswith("step-00000013")
    assert not (target / "train_state").exists() and not [p for p in phases.iterdir() if p.name.startswith(".")]


def _no_retrain(real):
    def wrapped(*a, **k):
        res = real(*a, **k)
        assert res["resumed_from"], "training started again from scratch"
        return res
    return wrapped


def test_interrupted_training_resumes_to_identical_metrics(experiment, tmp_path, monkeypatch):
    """Stop the target phase's training mid-way (as SIGTERM does), resume: metrics equal the uninterrupted run."""
    import xstilts.train as tr
    import torch

    experiment["intermediate"]["tasks"] = []
    experiment["target"]["tasks"] = experiment["target"]["tasks"][:1]
    experiment["target"]["epochs"] = 2
    experiment["target"]["checkpoint_every"] = 5
    full = dict(experiment, output_dir=str(tmp_path / "full"))
    run_experiment(validate_config(full))
    want = json.loads(next((tmp_path / "full" / "phases").glob("target-*/metrics.json")).read_text())

    real_step = torch.optim.AdamW.step
    count = {"n": 0}

    def step_then_stop(self, *a, **k):
        count["n"] += 1
        if count["n"] == 12:
            tr.STOP["requested"] = True
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_stop)
    with pytest.raises(tr.Preempted, match="step 12/26"):
        run_experiment(validate_config(experiment))
    tr.STOP["requested"] = False
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    run_experiment(validate_config(experiment))
    got = json.loads(next((tmp_path / "runs" / "phases").glob("target-*/metrics.json")).read_text())
    assert got["train"]["resumed_from"].endswith("step-00000012")
    assert got["train"]["loss_curve"] == want["train"]["loss_curve"]
    assert got["languages"] == want["languages"]


def test_corrupt_latest_checkpoint_falls_back_to_previous(experiment, tmp_path):
    import warnings

    import torch

    from xstilts import checkpoint as ck

    folder = tmp_path / "states"
    for step in (5, 10):
        ck.save_checkpoint(folder, step, {"model": {"w": torch.full((3,), float(step))}, "state": {"step": step}})
    latest = folder / "step-00000010" / "model.safetensors"
    latest.write_bytes(latest.read_bytes()[:-7])  # truncated
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path, payload = ck.load_latest(folder)
    assert path.name == "step-00000005" and payload["state"]["step"] == 5
    assert any("step-00000010" in str(w.message) and "bytes" in str(w.message) for w in caught)
    for step in (15, 20, 25):
        ck.save_checkpoint(folder, step, {"state": {"step": step}}, keep=2)
    assert [p.name for p in ck.list_checkpoints(folder)] == ["step-00000025", "step-00000020"]


def test_eval_only_scores_raw_encoder(experiment, tmp_path):
    experiment["target"]["tasks"] = experiment["target"]["tasks"][1:]
    written = evaluate_only(validate_config(experiment)).written
    res = json.loads((tmp_path / "runs" / "t" / "baseline" / "results.json").read_text())
    assert res["tasks"]["tatoeba"]["average"]["mean"] == 100.0 and "baseline" in written


def test_eval_only_refuses_tasks_that_need_training(experiment):
    from xstilts.errors import XstiltsError

    with pytest.raises(XstiltsError, match="need fine-tuning"):
        evaluate_only(validate_config(experiment))


def test_missing_data_fails_before_loading_a_model(experiment, tmp_path, monkeypatch):
    from xstilts.experiment import training
    from xstilts.errors import MissingDataError

    monkeypatch.setattr(training, "build_backbone", lambda *a, **k: pytest.fail("model loaded before the data check"))
    experiment["target"]["tasks"][0]["data_dir"] = str(tmp_path / "nowhere")
    with pytest.raises(MissingDataError, match="nowhere"):
        run_experiment(validate_config(experiment))


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    """Atomically written results are readable by the group/others as the umask allows (not mkstemp's 0600)."""
    import os

    from xstilts.io import _UMASK, atomic_write_text

    f = atomic_write_text(tmp_path / "metrics.json", "{}")
    assert f.stat().st_mode & 0o777 == 0o666 & ~_UMASK
    assert os.access(f, os.R_OK)


def test_short_disk_fails_before_training_and_writes_no_result(experiment, tmp_path, monkeypatch):
    """Too little free disk for the phase's checkpoints: one clear error before the first step, no result files."""
    import shutil
    from collections import namedtuple

    from xstilts.errors import XstiltsError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - 1000, 1000))
    experiment["intermediate"]["tasks"] = []
    with pytest.raises(XstiltsError, match=r"GiB free, but the training checkpoints of this phase need about"):
        run_experiment(validate_config(experiment))
    runs = tmp_path / "runs"
    assert not list(runs.rglob("metrics.json")) and not list(runs.rglob("run.json"))
