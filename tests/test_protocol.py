"""The paper's protocol in a config: per-task settings and their precedence, one intermediate phase for targets of
any length, dev evaluation in every language, and model selection on the English dev set with early stopping."""

import json

import pytest
import torch

from fixtures import write_pawsx
from xstilts.config import resolve_settings, validate_config
from xstilts.errors import ConfigError
from xstilts.experiment import phase_keys, run as run_experiment
from xstilts.tasks import get_task


def _cfg(**kw):
    data = {"model": {"name_or_path": "m"}, "intermediate": {"tasks": ["mnli"]}, "target": {"tasks": ["xnli"]}}
    for key, value in kw.items():
        node = data
        *path, last = key.split("__")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return validate_config(data)


# ------------------------------------------------------------------------------------------------ precedence
def test_task_protocol_defaults_apply_when_the_config_is_silent():
    cfg = _cfg()
    xnli, mnli = get_task("xnli").protocol, get_task("mnli").protocol
    t = resolve_settings(cfg, "target", cfg.target.tasks)
    assert (t["epochs"], t["batch_size"], t["lr"], t["max_length"]) == (2, 32, 1e-5, 256) == (
        xnli["epochs"], xnli["batch_size"], xnli["lr"], xnli["max_length"])
    i = resolve_settings(cfg, "intermediate", cfg.intermediate.tasks)
    assert (i["epochs"], i["batch_size"], i["lr"]) == (mnli["epochs"], mnli["batch_size"], mnli["lr"])
    # the selection protocol: English dev every 1,000 steps on 500 examples, patience 30
    assert (t["selection"], t["eval_every"], t["selection_examples"], t["patience"]) == ("en-dev", 1000, 500, 30)
    # QA: 384 tokens, stride 128; a task without declared defaults: the global defaults
    q = _cfg(target__tasks=["xquad"])
    s = resolve_settings(q, "target", q.target.tasks)
    assert (s["max_length"], s["doc_stride"], s["batch_size"]) == (384, 128, 16)
    k = _cfg(target__tasks=["kjv-web-paraphrase"])
    s = resolve_settings(k, "target", k.target.tasks)
    assert (s["epochs"], s["lr"], s["batch_size"], s["max_length"]) == (3.0, 2e-5, 32, 128)


def test_phase_section_beats_task_defaults_and_task_entry_beats_both():
    cfg = _cfg(target__epochs=4, target__lr=3e-5, target__max_length=200)
    s = resolve_settings(cfg, "target", cfg.target.tasks)
    assert (s["epochs"], s["lr"], s["max_length"], s["batch_size"]) == (4, 3e-5, 200, 32)  # batch: xnli's default
    cfg = _cfg(target__epochs=4, target__lr=3e-5, target__max_length=200,
               target__tasks=[{"task": "xnli", "epochs": 1, "lr": 5e-6, "max_length": 64, "batch_size": 8,
                               "grad_accum": 4, "warmup_ratio": 0.2}])
    s = resolve_settings(cfg, "target", cfg.target.tasks)
    assert (s["epochs"], s["lr"], s["max_length"], s["batch_size"], s["grad_accum"], s["warmup_ratio"]) == \
        (1, 5e-6, 64, 8, 4, 0.2)
    # an explicit model.max_length counts as a phase-wide value; the phase's own max_length beats it
    cfg = _cfg(model__max_length=96)
    assert resolve_settings(cfg, "target", cfg.target.tasks)["max_length"] == 96
    cfg = _cfg(model__max_length=96, intermediate__max_length=300)
    assert resolve_settings(cfg, "intermediate", cfg.intermediate.tasks)["max_length"] == 300
    assert resolve_settings(cfg, "target", cfg.target.tasks)["max_length"] == 96
    # epochs on the task entry beat a phase-wide max_steps
    cfg = _cfg(target__max_steps=50, target__tasks=[{"task": "xnli", "epochs": 1}])
    s = resolve_settings(cfg, "target", cfg.target.tasks)
    assert (s["epochs"], s["max_steps"]) == (1, None)


def test_multi_task_phase_takes_lengths_per_task_and_optimisation_from_the_section():
    cfg = _cfg(intermediate__tasks=["mnli", "squad"], intermediate__lr=2e-5)
    s = resolve_settings(cfg, "intermediate", cfg.intermediate.tasks)
    assert s["max_length"] == {"mnli": 256, "squad": 384} and s["doc_stride"] == 128
    assert s["lr"] == 2e-5 and s["epochs"] == 3  # both tasks declare 3 epochs
    with pytest.raises(ConfigError, match=r"intermediate\.tasks\.1: lr cannot be set per task in a multi-task phase"):
        _cfg(intermediate__tasks=["mnli", {"task": "squad", "lr": 1e-4}])
    with pytest.raises(ConfigError, match="takes no doc_stride"):
        _cfg(target__tasks=[{"task": "xnli", "doc_stride": 64}])
    cfg = _cfg(target__tasks=[{"task": "mlqa", "doc_stride": 64}])
    assert cfg.target.tasks[0].options["doc_stride"] == 64


def test_intermediate_key_ignores_every_target_setting():
    a = _cfg(target__tasks=[{"task": "xnli", "max_length": 128}], target__lr=1e-4)
    b = _cfg(target__tasks=[{"task": "udpos", "max_length": 64}], target__epochs=9, target__selection="last")
    ka, kb = phase_keys(a, 13), phase_keys(b, 13)
    assert ka["intermediate"] == kb["intermediate"] and ka["intermediate"].startswith("intermediate-mnli-")
    assert ka["targets"]["xnli"] != phase_keys(_cfg(), 13)["targets"]["xnli"]
    c = _cfg(intermediate__tasks=[{"task": "mnli", "max_length": 128}])
    assert phase_keys(c, 13)["intermediate"] != ka["intermediate"]
    assert phase_keys(a, 14)["intermediate"] != ka["intermediate"]


# ------------------------------------------------------------------------------------------------ end to end
@pytest.fixture
def toy(tmp_path, tiny_model):
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de", "fr"), n_train=160, n_test=24)
    (pawsx / "fr" / "dev_2k.tsv").unlink()  # a language without dev data: evaluated on test only
    kjv = tmp_path / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / ("train.tsv" if split == "train" else "dev_2k.tsv"))
                                          .read_text())
    return {"name": "p", "output_dir": str(tmp_path / "runs"), "seeds": [1], "with_baseline": False,
            "trackers": [], "model": {"name_or_path": str(tiny_model)},
            "intermediate": {"tasks": [{"task": "kjv-web-paraphrase", "data_dir": str(kjv)}], "max_steps": 6,
                             "lr": 1e-3, "batch_size": 16, "eval_every": 3},
            "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de", "fr"],
                                  "max_length": 32}],
                       "max_steps": 8, "lr": 1e-3, "batch_size": 16, "eval_every": 2, "checkpoint_every": 1,
                       "keep_checkpoints": 20}}


def _phase(runs, prefix):
    found = sorted(p for p in (runs / "phases").iterdir() if p.name.startswith(prefix))
    assert len(found) == 1, found
    return found[0]


def test_targets_of_different_lengths_share_one_intermediate_phase(toy, tmp_path, monkeypatch):
    from xstilts.experiment import training

    spec = toy["target"]["tasks"][0]
    toy["target"]["tasks"] = [spec, {**spec, "name": "pawsx-long", "max_length": 48}]
    trained = []
    real_train = training.train
    monkeypatch.setattr(training, "train", lambda model, datas, *a, **k: trained.append(datas[0].label)
                        or real_train(model, datas, *a, **k))
    run_experiment(validate_config(toy))
    assert trained == ["kjv-web-paraphrase", "pawsx", "pawsx-long"]
    runs = tmp_path / "runs"
    inter = _phase(runs, "intermediate-")
    # another target length and learning rate later: the intermediate phase is found, only the target trains
    toy["target"]["tasks"] = [{**spec, "max_length": 40}]
    toy["target"]["lr"] = 2e-3
    trained.clear()
    run_experiment(validate_config(toy))
    assert trained == ["pawsx"] and _phase(runs, "intermediate-") == inter
    short = json.loads((runs / "phases" / sorted(p.name for p in (runs / "phases").iterdir()
                                                 if p.name.startswith("target-pawsx-"))[0] / "metrics.json")
                       .read_text())
    assert short["settings"]["max_length"] in (32, 40)
    cfg_text = (inter / "config.yaml").read_text()
    assert "max_steps: 6" in cfg_text and "max_length: 128" in cfg_text  # the values the phase used


def _scripted_scores(monkeypatch, scores):
    """Make the selection score of every evaluation follow *scores* (the pipeline's evaluate() averages the
    headline metric, so the family's score is replaced while selection evaluations run)."""
    import xstilts.selection as selection

    calls = iter(scores)
    real_observe = selection.Selector.observe
    snapshots = []  # (step, weights) at every evaluation

    def observe(self, step, model):
        self.evaluate = lambda: next(calls)
        snapshots.append((step, {k: v.detach().clone() for k, v in model.state_dict().items()}))
        return real_observe(self, step, model)

    monkeypatch.setattr(selection.Selector, "observe", observe)
    return snapshots


def test_en_dev_selection_keeps_the_best_step_and_records_dev_and_test(toy, tmp_path, monkeypatch):
    # the intermediate phase evaluates at steps 3 and 6; the target at 2, 4, 6, 8: the target's best is step 4
    snapshots = _scripted_scores(monkeypatch, [50.0, 60.0] + [70.0, 90.0, 80.0, 85.0])
    run_experiment(validate_config(toy))
    runs = tmp_path / "runs"
    target = _phase(runs, "target-pawsx-")
    m = json.loads((target / "metrics.json").read_text())
    sel = m["selection"]
    assert sel["mode"] == "en-dev" and sel["selected_step"] == 4 and sel["steps_trained"] == 8
    assert sel["curve"] == [[2, 70.0], [4, 90.0], [6, 80.0], [8, 85.0]] and not sel["stopped_early"]
    assert sel["examples"] == 500 and sel["language"] == "en"
    # the saved encoder has the weights of step 4, not those of the last step
    from safetensors.torch import load_file

    saved = load_file(str(next((target / "checkpoint" / "encoder").glob("*.safetensors"))))
    weights = dict(snapshots[2:])  # the target phase's evaluations (after the intermediate phase's two)
    assert sorted(weights) == [2, 4, 6, 8]
    names = [k for k in saved if k.endswith(".weight")]
    assert names and all(torch.equal(saved[k], weights[4]["encoder." + k]) for k in names)
    assert not all(torch.equal(saved[k], weights[8]["encoder." + k]) for k in names)
    # dev in every language that has it, test in every language; fr has no dev file
    assert set(m["splits"]["dev"]["languages"]) == {"en", "de"} and m["no_dev_languages"] == ["fr"]
    assert set(m["splits"]["test"]["languages"]) == {"en", "de", "fr"} and m["languages"] == \
        m["splits"]["test"]["languages"]
    for split in ("dev", "test"):
        assert (target / "predictions" / "pawsx" / f"{split}-de.tsv").is_file()
    inter = json.loads((_phase(runs, "intermediate-") / "metrics.json").read_text())
    assert inter["selection"]["selected_step"] == 6 and inter["selection"]["curve"] == [[3, 50.0], [6, 60.0]]


def test_patience_stops_early_and_selection_last_keeps_the_final_step(toy, tmp_path, monkeypatch):
    toy["target"].update(patience=2, eval_every=1)
    _scripted_scores(monkeypatch, [50.0, 60.0] + [70.0, 75.0, 74.0, 75.0])
    run_experiment(validate_config(toy))
    runs = tmp_path / "runs"
    sel = json.loads((_phase(runs, "target-pawsx-") / "metrics.json").read_text())["selection"]
    assert sel["stopped_early"] and sel["steps_trained"] == 4 and sel["selected_step"] == 2
    assert sel["curve"] == [[1, 70.0], [2, 75.0], [3, 74.0], [4, 75.0]]  # a tie is no improvement

    toy["output_dir"] = str(tmp_path / "runs-last")
    toy["target"]["selection"] = "last"
    monkeypatch.undo()
    _scripted_scores(monkeypatch, [50.0, 60.0])  # the intermediate phase's; `last` evaluates nothing
    run_experiment(validate_config(toy))
    sel = json.loads((_phase(tmp_path / "runs-last", "target-pawsx-") / "metrics.json").read_text())["selection"]
    assert sel["mode"] == "last" and sel["selected_step"] == sel["steps_trained"] == 8 and sel["curve"] == []


def test_bad_dev_file_fails_before_training(toy, tmp_path, monkeypatch):
    from xstilts.experiment import training

    pawsx = tmp_path / "pawsx"
    (pawsx / "de" / "dev_2k.tsv").write_text("id\tsentence1\tsentence2\tlabel\n1\ta\tb\n")
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained before reading the dev files"))
    toy["intermediate"]["tasks"] = []
    from xstilts.errors import DataFormatError

    with pytest.raises(DataFormatError, match=r"dev_2k\.tsv:2"):
        run_experiment(validate_config(toy))


def test_the_baseline_keeps_resolving_protocol_defaults():
    cfg = _cfg()
    base = cfg.baseline()
    assert base.intermediate.tasks == []
    assert resolve_settings(base, "target", base.target.tasks) == resolve_settings(cfg, "target", cfg.target.tasks)
    cfg = _cfg(target__lr=3e-5)
    assert resolve_settings(cfg.baseline(), "target", cfg.target.tasks)["lr"] == 3e-5
    assert phase_keys(cfg.baseline(), 1)["targets"]["xnli"] == phase_keys(
        _cfg(target__lr=3e-5, intermediate__tasks=[]), 1)["targets"]["xnli"]


def test_token_budgets_convert_with_the_resolved_batch_size(monkeypatch):
    import math

    import xstilts.study.grid as grid

    monkeypatch.setattr(grid, "train_lengths", lambda cfg: {"mnli": {"features": 100, "mean_length": 10.0}})
    cfg = _cfg()  # MNLI's declared intermediate batch: 4
    assert grid.tokens_to_steps(cfg, 4000)["steps"] == math.ceil(4000 / (get_task("mnli").protocol["batch_size"] * 10))
    cfg = _cfg(intermediate__batch_size=16, intermediate__grad_accum=2)
    assert grid.tokens_to_steps(cfg, 4000)["steps"] == math.ceil(4000 / (16 * 2 * 10))


def test_hub_loading_uses_the_pinned_revision(monkeypatch):
    import datasets

    from xstilts.config import TaskSpec
    from xstilts.loading import load_examples

    seen = []

    def fake_load(path, config=None, split=None, revision=None, **kw):
        seen.append((path, config, split, revision))
        return [{"id": "english-1", "question": "q?", "context": "a b c", "title": "",
                 "answers": {"text": ["b"], "answer_start": [2]}}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    pin = get_task("tydiqa").hf.revision
    assert pin and len(pin) == 40
    got = load_examples(TaskSpec(task="tydiqa", data_dir=None), "test", "en")
    assert [e.guid for e in got] == ["english-1"] and seen[0][0] == "google/xtreme" and seen[0][3] == pin


def test_a_resume_right_after_the_best_evaluation_keeps_its_weights(toy, tmp_path, monkeypatch):
    """Killed just after the checkpoint of the step whose evaluation is the best (its weights are the checkpoint's
    own, not saved twice), the resumed run still ends with that step's weights, as an uninterrupted run does."""
    import xstilts.train as tr

    toy["intermediate"]["tasks"] = []
    toy["target"].update(max_steps=6, eval_every=2, checkpoint_every=2, patience=None)
    scores = [80.0, 70.0, 60.0]  # evaluations at steps 2, 4, 6: the best is step 2
    _scripted_scores(monkeypatch, list(scores))
    run_experiment(validate_config(toy))
    ref = json.loads((_phase(tmp_path / "runs", "target-pawsx-") / "metrics.json").read_text())
    assert ref["selection"]["selected_step"] == 2

    # the same run, stopped (as by SIGTERM) right after step 2's checkpoint, then resumed
    toy["output_dir"] = str(tmp_path / "runs2")
    monkeypatch.undo()
    _scripted_scores(monkeypatch, list(scores))
    real_train = tr.train
    calls = {"n": 0}

    def stop_after_step_2(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            prog = k["progress"]

            def progress(step, loss):
                prog(step, loss)
                if step == 2:
                    tr.request_stop()
            k["progress"] = progress
        return real_train(*a, **k)

    from xstilts.experiment import training

    monkeypatch.setattr(training, "train", stop_after_step_2)
    with pytest.raises(tr.Preempted):
        run_experiment(validate_config(toy))
    tr.STOP["requested"] = False
    run_experiment(validate_config(toy))
    got = json.loads((_phase(tmp_path / "runs2", "target-pawsx-") / "metrics.json").read_text())
    assert got["selection"]["selected_step"] == 2 and got["selection"]["curve"] == ref["selection"]["curve"]
    assert got["splits"] == ref["splits"]  # the step-2 weights, evaluated: identical scores
    from safetensors.torch import load_file

    def encoder(root):
        return load_file(str(next((_phase(root, "target-pawsx-") / "checkpoint" / "encoder").glob("*.safetensors"))))

    a, b = encoder(tmp_path / "runs"), encoder(tmp_path / "runs2")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the step-2 weights, bit for bit
