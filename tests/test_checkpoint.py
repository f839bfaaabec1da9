"""Checkpoints and task heads without pickles: safetensors + JSON round trips (optimizer, scheduler, RNG states,
sampler positions, model selection), exact resumption, and refusal of any pickle found in a checkpoint folder."""

import math
import pickle
import random

import numpy as np
import pytest
import torch

from xstilts import checkpoint as ck
from xstilts.errors import XstiltsError


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything unpickles (torch.load, pickle.load(s))."""
    def refuse(*a, **k):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


def _same(a, b) -> bool:
    """Deep equality that keeps types: tuples stay tuples, int keys stay ints, tensors and arrays match exactly."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):  # (an OrderedDict state dict comes back as a dict, which load_state_dict takes)
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _model():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(11, 4)
    head = torch.nn.Linear(4, 11)
    head.weight = emb.weight  # tied weights: one storage, two state-dict entries
    return torch.nn.ModuleDict({"emb": emb, "head": head, "cls": torch.nn.Linear(4, 3).to(torch.bfloat16)})


def _step(model, opt, sched):
    x = torch.randint(0, 11, (5,))
    loss = model["head"](model["emb"](x)).logsumexp(-1).mean() + model["cls"].weight.float().square().sum()
    loss.backward()
    opt.step()
    sched.step()
    opt.zero_grad()


def test_training_state_round_trips_exactly_without_unpickling(tmp_path, no_unpickling):
    from transformers import get_linear_schedule_with_warmup

    from xstilts.train.resume import _restore_rng, _rng_states

    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = get_linear_schedule_with_warmup(opt, 2, 10)
    for _ in range(3):
        _step(model, opt, sched)
    rng, gen = random.Random(7), torch.Generator().manual_seed(7)
    rng.random(), torch.randperm(5, generator=gen), random.random(), np.random.rand(), torch.rand(2)
    state = {"step": 3, "curve": [(1, 0.5), (2, float("nan")), (3, float("inf"))], "rng": _rng_states(rng, gen),
             "streams": [{"epoch": 1, "perm": list(range(1000))[::-1], "pos": 16}],
             "selection": {"curve": [[2, 61.5]], "best_step": 2, "best_score": -math.inf, "bad": 0},
             "odd": {1: "int key", (2, 3): "tuple key", "__tensor__": "a tag-like key"}, "none": None, "flag": True}
    payload = {"model": model.state_dict(), "optim": {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()},
               "state": state, "best": {k: v.clone() for k, v in model.state_dict().items()}}
    ck.save_checkpoint(tmp_path, 3, payload)
    (folder,) = ck.list_checkpoints(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["MANIFEST.json"] + [f"{n}.{ext}" for n in payload for ext in ("json", "safetensors")])

    path, loaded = ck.load_latest(tmp_path)
    assert path == folder and set(loaded) == set(payload)
    for name in payload:
        assert _same(payload[name], loaded[name]), name

    # resuming from the loaded state continues exactly like the uninterrupted run
    want_rng = _rng_states(rng, gen)
    expected = [random.random(), float(np.random.rand()), float(torch.rand(1)), rng.random(),
                torch.randperm(9, generator=gen).tolist()]
    rng2, gen2 = random.Random(0), torch.Generator()
    _restore_rng(loaded["state"]["rng"], rng2, gen2)
    assert _same(_rng_states(rng2, gen2), loaded["state"]["rng"])
    _restore_rng(want_rng, rng2, gen2)
    assert expected == [random.random(), float(np.random.rand()), float(torch.rand(1)), rng2.random(),
                        torch.randperm(9, generator=gen2).tolist()]

    model2 = _model()
    model2.load_state_dict(loaded["model"])
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    sched2 = get_linear_schedule_with_warmup(opt2, 2, 10)
    opt2.load_state_dict(loaded["optim"]["optimizer"])
    sched2.load_state_dict(loaded["optim"]["scheduler"])
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        torch.manual_seed(1)
        for _ in range(3):
            _step(m, o, s)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_unstorable_objects_fail_loudly(tmp_path):
    with pytest.raises(TypeError, match="part 'state': cannot store a builtin_function_or_method at fn"):
        ck.save_checkpoint(tmp_path, 1, {"state": {"fn": print}})
    assert not ck.list_checkpoints(tmp_path)  # nothing half-written


def test_a_pickle_in_a_checkpoint_folder_is_refused(tmp_path):
    # a checkpoint of an older xstilts: torch.save pickles and a manifest without a format
    old = tmp_path / "old" / "step-00000005"
    old.mkdir(parents=True)
    torch.save({"w": torch.ones(2)}, old / "model.pt")
    (old / "MANIFEST.json").write_text('{"step": 5, "files": {}}')
    with pytest.raises(XstiltsError, match=r"model\.pt: this training checkpoint holds a pickle") as e:
        ck.load_latest(tmp_path / "old")
    assert "\n" not in str(e.value) and str(e.value).endswith(f"delete {tmp_path / 'old'} to start it again")

    # a valid checkpoint with a planted pickle, by name or by content
    for name in ("extra.bin", "notes.txt"):
        folder = tmp_path / name
        ck.save_checkpoint(folder, 1, {"state": {"step": 1}})
        (folder / "step-00000001" / name).write_bytes(pickle.dumps({"x": 1}))
        with pytest.raises(XstiltsError, match="holds a pickle"):
            ck.load_latest(folder)
    # torch.save's zip format, under an innocent name
    folder = tmp_path / "zip"
    ck.save_checkpoint(folder, 1, {"state": {"step": 1}})
    torch.save(torch.ones(1), folder / "step-00000001" / "readme")
    with pytest.raises(XstiltsError, match="holds a pickle"):
        ck.load_latest(folder)


def test_heads_round_trip_and_old_pickled_heads_are_refused(tmp_path, no_unpickling):
    heads = {"xnli": torch.nn.Linear(4, 3), "udpos": torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(4, 17))}
    ck.save_heads(tmp_path / "checkpoint", heads, {"xnli": {"task": "xnli", "kind": "pair_classification"},
                                                  "udpos": {"task": "udpos", "kind": "tagging"}})
    loaded, desc = ck.load_heads(tmp_path / "checkpoint")
    assert set(loaded) == {"xnli", "udpos"}
    for label, head in heads.items():
        assert _same(dict(head.state_dict()), loaded[label])
    assert desc["heads"]["udpos"] == {"task": "udpos", "kind": "tagging", "tensors": {
        "1.weight": {"shape": [17, 4], "dtype": "float32"}, "1.bias": {"shape": [17], "dtype": "float32"}}}

    old = tmp_path / "phase" / "checkpoint"
    old.mkdir(parents=True)
    (old / "heads.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(XstiltsError, match=r"heads\.pt: task heads of an older xstilts, pickled"):
        ck.load_heads(old)


def test_feature_cache_round_trips_without_pickles(tmp_path, no_unpickling):
    from xstilts.data import load_features, save_features, tokenize_cached

    feats = {"input_ids": [[0, 5, 2], [], [0, 7, 8, 9, 2]], "label": [1, 0, 2], "score": [0.5, 1.0, -2.0],
             "mc": [[[1, 2], [3]], [[4]], [[], [5, 6]]], "offsets": [np.zeros((3, 2), np.int32), np.ones((0, 2), np.int32),
                                                                 np.arange(10, dtype=np.int32).reshape(5, 2)],
             "example_id": ["a", "b", "b"], "opts": [{"n_best_size": 20, "null": 0.0}] * 3, "tt": [None, [0], None],
             "flags": [True, False, True]}
    save_features(tmp_path / "f.safetensors", feats)
    got = load_features(tmp_path / "f.safetensors")
    assert _same(feats, got)
    builds = []
    key = {"task": "t", "split": "test"}
    assert _same(tokenize_cached(tmp_path / "cache", key, lambda: builds.append(1) or feats), feats)
    assert _same(tokenize_cached(tmp_path / "cache", key, lambda: builds.append(1) or feats), feats)
    assert builds == [1]
    (cached,) = (tmp_path / "cache").iterdir()
    assert cached.suffix == ".safetensors"


def test_no_pickle_loading_in_the_package():
    """No torch.load / pickle.load anywhere in src/xstilts (the acceptance check `grep weights_only=False`)."""
    from pathlib import Path

    import xstilts

    offenders = []
    for path in Path(xstilts.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("weights_only=False", "torch.load(", "pickle.load", "pickle.loads"):
            if needle in text:
                offenders.append(f"{path.name}: {needle}")
    assert not offenders, offenders
