"""Multi-task samplers, compute budget, mixed batches, translate-train / multilingual intermediate data, MLM."""

import json
import math
import random

import pytest
import torch

from fixtures import WORDS, toy_pair, write_pawsx
from xstilts.config import IntermediateConfig, TrainConfig, validate_config
from xstilts.errors import ConfigError
from xstilts.sampling import task_probabilities


pytestmark = pytest.mark.usefixtures("one_thread")


def test_probabilities_by_hand():
    labels, sizes = ["a", "b", "c"], [100, 400, 10000]
    assert task_probabilities(labels, sizes, "uniform") == [1 / 3] * 3
    assert task_probabilities(labels, sizes, "proportional") == pytest.approx([100 / 10500, 400 / 10500, 10000 / 10500])
    assert task_probabilities(labels, sizes, "proportional", cap=1000) == pytest.approx([0.1 / 1.5, 0.4 / 1.5, 1 / 1.5])
    t = [x ** 0.5 for x in (100, 400, 1000)]  # T = 2, cap 1000: 10, 20, 31.62
    assert task_probabilities(labels, sizes, "temperature", temperature=2, cap=1000) == pytest.approx(
        [x / sum(t) for x in t])
    assert task_probabilities(labels, sizes, "explicit", probabilities={"a": .5, "b": .25, "c": .25}) == [.5, .25, .25]
    with pytest.raises(ValueError, match="sum to 1"):
        task_probabilities(labels, sizes, "explicit", probabilities={"a": .5, "b": .25, "c": .5})
    with pytest.raises(ValueError, match="exactly"):
        task_probabilities(labels, sizes, "explicit", probabilities={"a": 1.0})


def test_explicit_sampler_validated_in_config():
    with pytest.raises(ConfigError, match="sum to 1"):
        validate_config({"model": {"name_or_path": "m"}, "intermediate": {
            "tasks": ["mnli", "qqp"], "sampling": "explicit", "sampling_probabilities": {"mnli": 0.9, "qqp": 0.3}}})
    with pytest.raises(ConfigError, match="used twice"):
        validate_config({"model": {"name_or_path": "m"}, "intermediate": {"tasks": ["mnli", "mnli"]}})


def _tasks(tiny_model, sizes):
    from xstilts.models.backbone import load_tokenizer
    from xstilts.tasks import get_family, get_task
    from xstilts.tasks.families.classification import PairExample
    from xstilts.train import TaskData

    tok = load_tokenizer(str(tiny_model))
    task = get_task("pawsx")
    fam = get_family(task.kind)
    out = []
    for j, n in enumerate(sizes):
        rng = random.Random(j)
        ex = [PairExample(str(i), *toy_pair(rng)) for i in range(n)]
        out.append(TaskData(f"t{j}", task, fam, fam.featurize(task, ex, tok, 24, "", {}), ex))
    return tok, out


def _run(tiny_model, sizes, probs, mixed=False, steps=300, batch=4):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from xstilts.models.backbone import load_encoder
    from xstilts.train import MultiTaskModel, train

    tok, datas = _tasks(tiny_model, sizes)
    model = MultiTaskModel(load_encoder(str(tiny_model)),
                           {d.label: d.family.build_head(d.task, 32, 0.1) for d in datas})
    AcceleratorState._reset_state(True)
    return train(model, datas, TrainConfig(max_steps=steps, lr=1e-4, batch_size=batch, log_every=50), seed=0,
                 accelerator=Accelerator(cpu=True), pad_id=tok.pad_token_id, probabilities=probs,
                 mixed_batches=mixed)


def test_empirical_task_frequencies_match_and_budget_is_exact(tiny_model):
    probs = [0.6, 0.3, 0.1]
    hist = _run(tiny_model, [40, 40, 40], probs, steps=400)
    counts = [hist["task_steps"][f"t{j}"] for j in range(3)]
    assert hist["steps"] == 400 and sum(counts) == 400  # the step budget, exactly
    chi2 = sum((c - 400 * p) ** 2 / (400 * p) for c, p in zip(counts, probs))
    assert chi2 < 13.8  # chi-square, 2 d.o.f., p = 0.001
    assert sum(hist["task_examples"].values()) == 400 * 4
    assert all(hist["task_tokens"][k] > hist["task_examples"][k] for k in hist["task_tokens"])


def test_mixed_batches_mix_tasks_per_example(tiny_model):
    hist = _run(tiny_model, [30, 30], [0.5, 0.5], mixed=True, steps=100, batch=8)
    assert sum(hist["task_examples"].values()) == 100 * 8
    assert hist["task_steps"]["t0"] + hist["task_steps"]["t1"] > 100  # most steps touched both heads
    assert abs(hist["task_examples"]["t0"] / 800 - 0.5) < 0.08


def test_mlm_and_translate_train_as_intermediate_phases(tiny_model, tmp_path):
    from xstilts.experiment import run as run_experiment

    text = tmp_path / "text"
    text.mkdir()
    rng = random.Random(0)
    # learnable text: a line repeats one word, so a masked word is given by its neighbours
    lines = [" ".join([w] * n) for w in WORDS[:24] for n in range(4, 17)]
    rng.shuffle(lines)
    (text / "de.txt").write_text("".join(x + "\n" for x in lines))
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=64, n_test=16)
    (pawsx / "de" / "translated_train.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    cfg = validate_config({
        "name": "m", "output_dir": str(tmp_path / "runs"), "with_baseline": False, "num_threads": 1,
        "model": {"name_or_path": str(tiny_model), "max_length": 24},
        "intermediate": {"tasks": [{"task": "mlm", "data_dir": str(text)},
                                   {"task": "pawsx", "name": "pawsx-de", "data_dir": str(pawsx),
                                    "train_language": "de"}],
                         "max_steps": 300, "lr": 2e-3, "batch_size": 16, "sampling": "explicit",
                         "sampling_probabilities": {"mlm": 0.8, "pawsx-de": 0.2}, "log_every": 20},
        "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]}], "max_steps": 4,
                   "batch_size": 8},
    })
    run_experiment(cfg)
    m = json.loads(next((tmp_path / "runs" / "phases").glob("intermediate-*/metrics.json")).read_text())
    assert set(m["dev"]) == {"mlm", "pawsx-de"} and "de" in m["dev"]["pawsx-de"]
    curve = [v for _, v in m["train"]["loss_curve"]]
    assert curve[-1] < curve[0]
    assert m["dev"]["mlm"]["multi"]["accuracy"] > 30  # guessing among the 24 words gives 4.2
    assert sum(m["train"]["task_steps"].values()) == 300
