"""Data-parallel training: 2 CPU processes (gloo, launched with ``torch.distributed.run`` as ``accelerate launch``
does) give the same loss curve, weights and predictions as one process with the same global batch.

Each global batch is cut into one slice per process (uneven slices, a slice left empty in mixed batches); DDP
averages the gradients of share-weighted slice losses. Dropout is off, since each process draws its own masks;
masked-LM masks are seeded per batch, so they are the same. A whole pipeline run (intermediate, target and
retrieval phases) in 2 processes writes the same files and metrics as in one, each file once.
The same file is the worker: ``python -m torch.distributed.run --nproc_per_node 2 tests/test_ddp.py MODEL OUT
WORKDIR [PIPELINE_CONFIG]``.
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
    # masked LM: random masks drawn in collate (seeded per batch, the global batch collated then sliced)
    "mlm": {"family": "mlm", "tasks": [("m", 50)], "hp": {"max_steps": 5, "batch_size": 7}},
    # tagging: a token-level loss; each process's slice weighted by its labelled tokens
    "tagging": {"family": "panx", "tasks": [("t", 40)], "hp": {"max_steps": 5, "batch_size": 7}},
    # FSDP2: parameters, gradients and optimizer states sharded over the 2 processes (per transformer layer)
    "fsdp": {"tasks": [("a", 90)], "hp": {"max_steps": 8, "batch_size": 7, "grad_accum": 2}, "distributed": "fsdp"},
    "fsdp-mlm": {"family": "mlm", "tasks": [("m", 50)], "hp": {"max_steps": 5, "batch_size": 7},
                 "distributed": "fsdp"},
}




def _setup(model_dir: str, spec: dict):
    from transformers import AutoModel

    from fixtures import toy_pair
    from xstilts.config import TrainConfig
    from xstilts.models.backbone import load_tokenizer
    from xstilts.tasks import get_family, get_task
    from xstilts.tasks.families.classification import PairExample
    from xstilts.train import MultiTaskModel, TaskData

    tok = load_tokenizer(model_dir)
    task = get_task(spec.get("family", "pawsx"))
    fam = get_family(task.kind)
    datas = []
    for n, (label, size) in enumerate(spec["tasks"]):
        rng = random.Random(n + 1)
        if fam.kind == "tagging":
            from fixtures import WORDS
            from xstilts.tasks.families.tagging import TaggedExample

            ex = []
            for i in range(size):
                words = tuple(rng.choices(WORDS[:30], k=rng.randint(2, 12)))
                ex.append(TaggedExample(str(i), words, tuple(rng.choice(task.labels) for _ in words)))
        elif fam.kind == "masked_lm":
            from xstilts.tasks.families.mlm import TextExample

            ex = [TextExample(str(i), " ".join(rng.choices(["alpha", "beta", "gamma", "w1", "w2", "w3", "cat"],
                                                           k=rng.randint(4, 14)))) for i in range(size)]
        else:
            ex = [PairExample(str(i), *toy_pair(rng)) for i in range(size)]
        datas.append(TaskData(label, task, fam, fam.featurize(task, ex, tok, 32, "", {}), ex))
    enc = AutoModel.from_pretrained(model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                    add_pooling_layer=False)
    torch.manual_seed(0)
    model = MultiTaskModel(enc, {d.label: fam.build_head(task, 32, 0.0) for d in datas})
    for d in datas:
        if hasattr(fam, "bind"):
            fam.bind(model.heads[d.label], enc)
    hp = TrainConfig(lr=1e-3, warmup_ratio=0.2, log_every=1, **spec["hp"])
    return model, datas, hp, tok.pad_token_id


def _run(model_dir: str, spec: dict, state_dir: str | None = None, stop_at: int | None = None) -> dict:
    from xstilts import train as tr
    from xstilts.train import parallel as loop  # where _fsdp is looked up (Replicas)

    model, datas, hp, pad = _setup(model_dir, spec)
    acc = cpu_accelerator()
    sharded = []  # FSDP units of each sharded model (the encoder's 2 layers and the root)
    real_fsdp = loop._fsdp

    def spy(module, *a):
        out = real_fsdp(module, *a)
        sharded.append(sum(type(x).__name__.startswith("FSDP") for x in out.modules()))
        return out

    loop._fsdp = spy

    def progress(step, loss):  # called on the main process only: the others learn of the stop request
        if step == stop_at:
            tr.STOP["requested"] = True

    try:
        hist = tr.train(model, datas, hp, seed=3, accelerator=acc, pad_id=pad, mixed_batches=spec.get("mixed", False),
                        progress=progress, state_dir=Path(state_dir) if state_dir else None,
                        distributed=spec.get("distributed"))
    except tr.Preempted:
        tr.STOP["requested"] = False
        return {"preempted": True}
    finally:
        loop._fsdp = real_fsdp
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
            "outputs": [[o.tolist() for o in out] for out in outs], "world": acc.num_processes,
            "sharded": sharded}


def _worker(model_dir: str, out: str, workdir: str, pipeline_cfg: str | None = None) -> None:
    torch.set_num_threads(1)
    res = {}
    for name, spec in SCENARIOS.items():
        res[name] = _run(model_dir, spec)
    # stop at step 3 (requested on the main process only), resume from its checkpoint in a fresh model
    state = os.path.join(workdir, "state")
    res["stopped"] = _run(model_dir, SCENARIOS["single"], state, stop_at=3)
    res["resumed"] = _run(model_dir, SCENARIOS["single"], state)
    state = os.path.join(workdir, "state-fsdp")
    res["fsdp-stopped"] = _run(model_dir, SCENARIOS["fsdp"], state, stop_at=3)
    res["fsdp-resumed"] = _run(model_dir, SCENARIOS["fsdp"], state)
    if pipeline_cfg:  # every process runs the whole pipeline, as `accelerate launch -m xstilts run` does
        from xstilts.config import validate_config
        from xstilts.experiment import run as run_experiment

        outcome = run_experiment(validate_config(json.loads(Path(pipeline_cfg).read_text())))
        res["pipeline_written"] = sorted(outcome.written)
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


def _pipeline_config(root: Path, tiny_model: Path) -> dict:
    """A small experiment on a copy of the tiny model without dropout: intermediate, target and retrieval phases."""
    import shutil

    from fixtures import write_pawsx, write_tatoeba

    model = root / "model-nodropout"
    if not model.exists():
        shutil.copytree(tiny_model, model)
        conf = json.loads((model / "config.json").read_text())
        conf.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        (model / "config.json").write_text(json.dumps(conf))
    pawsx = write_pawsx(root / "pawsx", langs=("en", "de", "fr"), n_train=90, n_test=25)
    kjv = root / "kjv"
    kjv.mkdir(exist_ok=True)
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    sents = ["alpha beta gamma", "cat dog bird", "red green tree", "river stone house", "pi rho sigma"]
    tat = write_tatoeba(root / "tatoeba", {"deu": (sents, sents[::-1]), "fra": (sents, sents)})
    hp = {"epochs": 1, "lr": 1e-3, "batch_size": 9, "dropout": 0.0, "log_every": 1, "eval_batch_size": 8}
    return {"name": "ddp", "output_dir": str(root / "runs"), "seeds": [1], "device": "cpu", "with_baseline": False,
            "model": {"name_or_path": str(model), "max_length": 32},
            "intermediate": {"tasks": [{"task": "kjv-web-paraphrase", "data_dir": str(kjv), "max_examples": 40,
                                        "max_eval_examples": 15}], **hp},
            "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de", "fr"]},
                                 {"task": "tatoeba", "data_dir": str(tat), "languages": "all"}], **hp},
            "evaluation": {"retrieval_layer": "last"}}


@pytest.fixture(scope="module")
def two_process_run(tiny_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("ddp")
    out = work / "result.json"
    cfg = _pipeline_config(work, tiny_model)
    cfg["output_dir"] = str(work / "ddp-runs")
    (work / "pipeline.json").write_text(json.dumps(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(Path(__file__).parent)] + sys.path),
               XSTILTS_CACHE=str(work / "cache"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).resolve()), str(tiny_model), str(out), str(work), str(work / "pipeline.json")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {**json.loads(out.read_text()), "work": str(work), "config": cfg}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_two_processes_equal_one(two_process_run, tiny_model, name):
    torch.set_num_threads(1)
    got = two_process_run[name]
    want = json.loads(json.dumps(_run(str(tiny_model), SCENARIOS[name])))
    assert got["world"] == 2 and want["world"] == 1
    assert len(got["curve"]) == SCENARIOS[name]["hp"]["max_steps"]
    assert got["sharded"] == ([3] if SCENARIOS[name].get("distributed") == "fsdp" else []) and want["sharded"] == []
    for key in ("task_steps", "task_examples", "task_tokens"):
        assert got[key] == want[key], key
    _close(got["curve"], want["curve"], path="curve")
    _close(got["params"], want["params"], path="params")
    _close(got["outputs"], want["outputs"], path="outputs")


@pytest.mark.parametrize("name", ["single", "fsdp"])
def test_two_processes_stop_together_and_resume_exactly(two_process_run, name):
    prefix = "" if name == "single" else name + "-"
    assert two_process_run[prefix + "stopped"] == {"preempted": True}
    res, full = two_process_run[prefix + "resumed"], two_process_run[name]
    assert res["resumed_from"].endswith("step-00000003")
    assert res["curve"] == full["curve"] and res["params"] == full["params"]
    assert res["task_examples"] == full["task_examples"] and res["task_tokens"] == full["task_tokens"]


def _files(root: Path) -> dict[str, bytes]:
    """Every file under *root*, links as their targets (tracker logs, named by the time, left out)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if "/logs/" in rel:
            continue
        if p.is_symlink():
            out[rel] = os.readlink(p).encode()
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


def test_two_process_pipeline_writes_what_one_process_writes(two_process_run, tmp_path, one_thread):
    from xstilts.config import validate_config
    from xstilts.experiment import run as run_experiment

    cfg = dict(two_process_run["config"], output_dir=str(tmp_path / "single-runs"))
    written = run_experiment(validate_config(cfg)).written
    assert two_process_run["pipeline_written"] == sorted(written)
    got, want = _files(Path(two_process_run["config"]["output_dir"])), _files(tmp_path / "single-runs")
    assert sorted(got) == sorted(want)  # the same files, each once, no work folder left behind
    assert not [f for f in got if "/." in "/" + f or f.endswith(".tmp")]
    for name in got:
        if name.endswith("metrics.json"):
            a, b = json.loads(got[name]), json.loads(want[name])
            # provenance: the same model and data, the device as it was (two processes here, one there)
            assert a["provenance"]["device"].get("processes") == 2 and "processes" not in b["provenance"]["device"]
            assert a["provenance"]["model"] == b["provenance"]["model"]
            assert a["provenance"]["data"] == b["provenance"]["data"]
            for m in (a, b):
                m.pop("seconds", None)
                m.pop("provenance", None)
                for k in ("seconds", "resumed_from"):
                    (m.get("train") or {}).pop(k, None)
            _close(a, b, tol=1e-5, path=name)  # languages, loss curves, example and token counts
        elif "/predictions/" in name or "/per_example/" in name:
            assert got[name] == want[name], name
    target = json.loads(next(v for k, v in got.items() if k.startswith("phases/target-pawsx")
                              and k.endswith("metrics.json")))
    assert set(target["languages"]) == {"en", "de", "fr"} and len(target["train"]["loss_curve"]) == 10


if __name__ == "__main__":
    _worker(*sys.argv[1:5])
