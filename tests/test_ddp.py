"""Data-parallel training: 2 CPU processes (gloo, launched with ``torch.distributed.run`` as ``accelerate launch``
does) give the same loss curve, weights and predictions as one process with the same global batch.

Each global batch is cut into one slice per process (uneven slices, a slice left empty in mixed batches); DDP
averages the gradients of share-weighted slice losses. Dropout is off, since each process draws its own masks.
The same file is the worker: ``python -m torch.distributed.run --nproc_per_node 2 tests/test_ddp.py SPEC OUT``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from fixtures import cpu_accelerator  # noqa: E402

SCENARIOS = {
    # batch 7 over 2 processes: slices of 3 and 4; 2 micro-batches per step
    "single": {"tasks": [("a", 90)], "hp": {"max_steps": 8, "batch_size": 7, "grad_accum": 2}},
    # two tasks drawn per example: parts of 1 example leave one process a stand-in row of weight 0
    "mixed": {"tasks": [("a", 60), ("b", 20)], "hp": {"max_steps": 6, "batch_size": 5}, "mixed": True},
    # length-grouped batches padded to buckets
    "grouped": {"tasks": [("a", 60)], "hp": {"max_steps": 5, "batch_size": 6, "batching": "length_grouped",
                                              "length_buckets": [8, 16, 32]}},
}




def _setup(model_dir: str, spec: dict):
    from transformers import AutoModel

    from fixtures import toy_pair
    from xstilts.config import TrainConfig
    from xstilts.modeling import load_tokenizer
    from xstilts.tasks import get_family, get_task
    from xstilts.tasks.classification import PairExample
    from xstilts.training import MultiTaskModel, TaskData

    tok = load_tokenizer(model_dir)
    task = get_task("pawsx")
    fam = get_family(task.kind)
    datas = []
    for n, (label, size) in enumerate(spec["tasks"]):
        rng = random.Random(n + 1)
        ex = [PairExample(str(i), *toy_pair(rng)) for i in range(size)]
        datas.append(TaskData(label, task, fam, fam.featurize(task, ex, tok, 32, "", {}), ex))
    enc = AutoModel.from_pretrained(model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                    add_pooling_layer=False)
    torch.manual_seed(0)
    model = MultiTaskModel(enc, {d.label: fam.build_head(task, 32, 0.0) for d in datas})
    hp = TrainConfig(lr=1e-3, warmup_ratio=0.2, log_every=1, **spec["hp"])
    return model, datas, hp, tok.pad_token_id


def _run(model_dir: str, spec: dict, state_dir: str | None = None, stop_at: int | None = None) -> dict:
    from xstilts import training as tr

    model, datas, hp, pad = _setup(model_dir, spec)
    acc = cpu_accelerator()

    def progress(step, loss):  # called on the main process only: the others learn of the stop request
        if step == stop_at:
            tr.STOP["requested"] = True

    try:
        hist = tr.train(model, datas, hp, seed=3, accelerator=acc, pad_id=pad, mixed_batches=spec.get("mixed", False),
                        progress=progress, state_dir=Path(state_dir) if state_dir else None)
    except tr.Preempted:
        tr.STOP["requested"] = False
        return {"preempted": True}
    # the first task's data as two "languages" in one pass, then each other task
    first = datas[0]
    half = first.size // 2
    langs = [tr.TaskData(first.label, first.task, first.family, {k: v[a:b] for k, v in first.features.items()})
             for a, b in ((0, half), (half, first.size))]
    outs = tr.eval_all_languages(model, langs, batch_size=16, accelerator=acc, pad_id=pad)
    outs += [tr.predict(model, d, batch_size=16, accelerator=acc, pad_id=pad) for d in datas[1:]]
    return {"curve": hist["loss_curve"], "task_steps": hist["task_steps"], "task_examples": hist["task_examples"],
            "task_tokens": hist["task_tokens"], "resumed_from": hist["resumed_from"],
            "params": {k: v.tolist() for k, v in model.state_dict().items()},
            "outputs": [[o.tolist() for o in out] for out in outs], "world": acc.num_processes}


def _worker(model_dir: str, out: str, workdir: str) -> None:
    torch.set_num_threads(1)
    res = {}
    for name, spec in SCENARIOS.items():
        res[name] = _run(model_dir, spec)
    # stop at step 3 (requested on the main process only), resume from its checkpoint in a fresh model
    state = os.path.join(workdir, "state")
    res["stopped"] = _run(model_dir, SCENARIOS["single"], state, stop_at=3)
    res["resumed"] = _run(model_dir, SCENARIOS["single"], state)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(out).write_text(json.dumps(res))


def _close(a, b, tol=1e-5, path="") -> None:
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, tol, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], tol, f"{path}.{k}")
    elif isinstance(a, float):
        assert abs(a - b) <= tol, (path, a, b)
    else:
        assert a == b, (path, a, b)


@pytest.fixture(scope="module")
def two_process_run(tiny_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("ddp")
    out = work / "result.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(Path(__file__).parent)] + sys.path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).resolve()), str(tiny_model), str(out), str(work)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_two_processes_equal_one(two_process_run, tiny_model, name):
    torch.set_num_threads(1)
    got = two_process_run[name]
    want = json.loads(json.dumps(_run(str(tiny_model), SCENARIOS[name])))
    assert got["world"] == 2 and want["world"] == 1
    assert len(got["curve"]) == SCENARIOS[name]["hp"]["max_steps"]
    for key in ("task_steps", "task_examples", "task_tokens"):
        assert got[key] == want[key], key
    _close(got["curve"], want["curve"], path="curve")
    _close(got["params"], want["params"], path="params")
    _close(got["outputs"], want["outputs"], path="outputs")


def test_two_processes_stop_together_and_resume_exactly(two_process_run):
    assert two_process_run["stopped"] == {"preempted": True}
    res, full = two_process_run["resumed"], two_process_run["single"]
    assert res["resumed_from"].endswith("step-00000003")
    assert res["curve"] == full["curve"] and res["params"] == full["params"]
    assert res["task_examples"] == full["task_examples"] and res["task_tokens"] == full["task_tokens"]


if __name__ == "__main__":
    _worker(*sys.argv[1:4])
