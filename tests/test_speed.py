"""Speed options must not change results: background prefetch is bit-identical, length buckets only add masked
padding (equal within 1e-5 without dropout), length-grouped batching trains as well as random batches, and an
interrupted run resumes to identical results with every option on. Tiny model, 1 torch thread."""

from __future__ import annotations

import random

import pytest
import torch

from fixtures import cpu_accelerator, toy_pair
from xstilts.config import TrainConfig, validate_config
from xstilts.data import bucket_length, length_grouped_order, length_sorted_batches, pad_to_bucket
from xstilts.errors import ConfigError
from xstilts.models.backbone import load_tokenizer
from xstilts.tasks import get_family, get_task
from xstilts.tasks.families.classification import PairExample
from xstilts import train as tr
from xstilts.train.loop import _make_optimizer


pytestmark = pytest.mark.usefixtures("one_thread")




def _data(tok, n, seed, label="pawsx"):
    rng = random.Random(seed)
    ex = [PairExample(str(i), *toy_pair(rng)) for i in range(n)]
    task = get_task("pawsx")
    fam = get_family(task.kind)
    return tr.TaskData(label, task, fam, fam.featurize(task, ex, tok, 32, "", {}), ex)


def _model(path, datas, dropout: bool):
    from transformers import AutoModel

    kw = {} if dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    enc = AutoModel.from_pretrained(str(path), add_pooling_layer=False, **kw)
    torch.manual_seed(0)
    return tr.MultiTaskModel(enc, {d.label: d.family.build_head(d.task, 32, 0.1 if dropout else 0.0)
                                   for d in datas})


def _train(path, datas, dropout=True, state_dir=None, mixed=False, **hp):
    model = _model(path, datas, dropout)
    hp = TrainConfig(**{"max_steps": 12, "lr": 1e-3, "batch_size": 8, "log_every": 2, **hp})
    hist = tr.train(model, datas, hp, seed=5, accelerator=cpu_accelerator(), pad_id=0, state_dir=state_dir,
                    mixed_batches=mixed)
    return hist, {k: v.clone() for k, v in model.state_dict().items()}, model


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


# ---------------------------------------------------------------------------------------------- data helpers
def test_pad_to_bucket_pads_masked_positions_only():
    batch = {"input_ids": torch.tensor([[5, 6, 7], [5, 6, 0]]), "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
             "labels": torch.tensor([[1, 2, 3], [1, -100, -100]]), "label": torch.tensor([0, 1])}
    out = pad_to_bucket(batch, [2, 8, 16], pad_id=0)
    assert out["input_ids"].shape == (2, 8) and out["input_ids"][0].tolist() == [5, 6, 7, 0, 0, 0, 0, 0]
    assert out["attention_mask"][:, 3:].sum() == 0 and (out["labels"][:, 3:] == -100).all()
    assert torch.equal(out["label"], batch["label"])
    assert pad_to_bucket(batch, [2], 0) is batch and pad_to_bucket(batch, None, 0) is batch  # above the largest
    odd = dict(batch, word_mask=torch.ones(2, 3))  # an unknown per-token field: keep the batch as it is
    assert pad_to_bucket(odd, [8], 0) is odd
    assert bucket_length(9, [8, 16]) == 16 and bucket_length(17, [8, 16]) == 17


def test_length_grouped_order_groups_lengths_and_is_seeded():
    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(1003)]
    a = length_grouped_order(lengths, 16, torch.Generator().manual_seed(1), group=8)
    b = length_grouped_order(lengths, 16, torch.Generator().manual_seed(1), group=8)
    c = length_grouped_order(lengths, 16, torch.Generator().manual_seed(2), group=8)
    assert a == b != c and sorted(a) == list(range(1003))
    spread = lambda order: sum(max(lengths[i] for i in order[s:s + 16]) - min(lengths[i] for i in order[s:s + 16])
                               for s in range(0, len(order), 16))
    rand = torch.randperm(1003, generator=torch.Generator().manual_seed(1)).tolist()
    assert spread(a) < 0.25 * spread(rand)
    assert len(a) % 16 != 0  # the short batch is the last slice


def test_length_sorted_batches_token_budget():
    lengths = [10, 50, 20, 20, 5, 5, 5, 5]
    assert list(length_sorted_batches(lengths, 3)) == [[1, 2, 3], [0, 4, 5], [6, 7]]
    batches = list(length_sorted_batches(lengths, 8, max_tokens=40))
    assert batches[0] == [1] and sorted(i for b in batches for i in b) == list(range(8))
    assert all(len(b) * max(lengths[i] for i in b) <= 40 for b in batches[1:])


def test_speed_options_validate():
    base = {"model": {"name_or_path": "x"}}
    cfg = validate_config({**base, "target": {"length_buckets": [32, 64], "batching": "length_grouped",
                                              "compile": True, "fused_adamw": False}})
    assert cfg.target.length_buckets == [32, 64] and cfg.target.prefetch is True
    with pytest.raises(ConfigError, match="length_buckets"):
        validate_config({**base, "target": {"length_buckets": [64, 32]}})


# ---------------------------------------------------------------------------------------------- training
def test_prefetch_is_bit_identical_with_dropout(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    datas = [_data(tok, 100, 1, "a"), _data(tok, 40, 2, "b")]
    h1, p1, _ = _train(tiny_model, datas, prefetch=True, grad_accum=2)
    h2, p2, _ = _train(tiny_model, datas, prefetch=False, grad_accum=2)
    assert h1["loss_curve"] == h2["loss_curve"] and _max_diff(p1, p2) == 0.0
    assert h1["task_tokens"] == h2["task_tokens"] and h1["task_examples"] == h2["task_examples"]


def test_length_buckets_only_add_masked_padding(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    datas = [_data(tok, 100, 1)]
    h1, p1, _ = _train(tiny_model, datas, dropout=False)
    h2, p2, _ = _train(tiny_model, datas, dropout=False, length_buckets=[16, 24, 32, 64])
    for (s1, l1), (s2, l2) in zip(h1["loss_curve"], h2["loss_curve"]):
        assert s1 == s2 and abs(l1 - l2) <= 1e-5
    assert _max_diff(p1, p2) <= 1e-5
    assert h1["task_tokens"] == h2["task_tokens"]  # real tokens, not padding


def test_optimised_path_gives_the_plain_results(tiny_model):
    """Speed must not change results: length buckets, background prefetch, fused AdamW and padding-free packing
    together give the plain loop's loss curve and weights on a fixed seed (dropout off: the same computation up to
    float rounding)."""
    tok = load_tokenizer(str(tiny_model))
    datas = [_data(tok, 100, 1)]
    plain, p1, _ = _train(tiny_model, datas, dropout=False, max_steps=25, log_every=1, prefetch=False,
                          fused_adamw=False)
    hp = TrainConfig(max_steps=25, lr=1e-3, batch_size=8, log_every=1, prefetch=True, fused_adamw=True,
                     length_buckets=[16, 24, 32])
    fast = {}
    for packing in (False, True):
        model = _model(tiny_model, datas, dropout=False)
        h = tr.train(model, datas, hp.model_copy(update={"packing": packing}), seed=5, accelerator=cpu_accelerator(),
                     pad_id=0)
        fast[packing] = (h, {k: v.clone() for k, v in model.state_dict().items()})
    for h, p2 in fast.values():
        assert [s for s, _ in h["loss_curve"]] == [s for s, _ in plain["loss_curve"]]
        assert max(abs(a - b) for (_, a), (_, b) in zip(plain["loss_curve"], h["loss_curve"])) <= 1e-5
        assert _max_diff(p1, p2) <= 1e-5
        assert h["task_tokens"] == plain["task_tokens"]


def test_length_grouped_trains_as_well_with_less_padding(tiny_model, monkeypatch):
    tok = load_tokenizer(str(tiny_model))
    datas = [_data(tok, 240, 1)]
    widths = []
    collate = type(datas[0].family).collate

    def spy(self, features, idx, pad_id):
        out = collate(self, features, idx, pad_id)
        widths.append(out["input_ids"].numel())
        return out

    monkeypatch.setattr(type(datas[0].family), "collate", spy)
    hr, _, _ = _train(tiny_model, datas, max_steps=90, batch_size=16, log_every=15, lr=2e-3, batching="random")
    padded_random, widths[:] = sum(widths), []
    hg, _, _ = _train(tiny_model, datas, max_steps=90, batch_size=16, log_every=15, lr=2e-3,
                      batching="length_grouped")
    padded_grouped = sum(widths)
    cr, cg = [x for _, x in hr["loss_curve"]], [x for _, x in hg["loss_curve"]]
    assert cr[-1] < 0.6 * cr[0] and cg[-1] < 0.6 * cg[0], (cr, cg)  # both learn the toy task
    assert abs(cr[-1] - cg[-1]) < 0.15, (cr, cg)
    assert hr["task_tokens"] == hg["task_tokens"]  # 90 x 16 = 6 epochs of the same examples
    assert padded_grouped < 0.9 * padded_random


@pytest.mark.parametrize("options", [
    {"prefetch": True},
    {"prefetch": True, "batching": "length_grouped", "length_buckets": [16, 32], "grad_accum": 2},
])
def test_resume_with_speed_options_is_exact(tiny_model, tmp_path, options):
    tok = load_tokenizer(str(tiny_model))
    datas = [_data(tok, 60, 1, "a"), _data(tok, 30, 2, "b")]
    full, pf, _ = _train(tiny_model, datas, mixed=True, **options)
    real_step = torch.optim.AdamW.step
    count = {"n": 0}

    def step_then_stop(self, *a, **k):
        count["n"] += 1
        if count["n"] == 7:
            tr.STOP["requested"] = True
        return real_step(self, *a, **k)

    torch.optim.AdamW.step = step_then_stop
    try:
        with pytest.raises(tr.Preempted, match="step 7/12"):
            _train(tiny_model, datas, mixed=True, state_dir=tmp_path, checkpoint_every=3, **options)
    finally:
        torch.optim.AdamW.step = real_step
        tr.STOP["requested"] = False
    res, pr, _ = _train(tiny_model, datas, mixed=True, state_dir=tmp_path, checkpoint_every=3, **options)
    assert res["resumed_from"].endswith("step-00000007")
    assert res["loss_curve"] == full["loss_curve"] and _max_diff(pf, pr) == 0.0
    assert res["task_examples"] == full["task_examples"] and res["task_tokens"] == full["task_tokens"]


def test_random_collate_family_is_identical_with_prefetch(tiny_model, tmp_path):
    """Masked LM draws its masks in collate from torch's RNG: it is collated on the main thread, in order."""
    from xstilts.tasks.families.mlm import TextExample

    tok = load_tokenizer(str(tiny_model))
    task = get_task("mlm")
    fam = get_family(task.kind)
    rng = random.Random(0)
    ex = [TextExample(str(i), " ".join(rng.choices(["alpha", "beta", "gamma", "w1", "w2", "w3"], k=rng.randint(4, 12))))
          for i in range(64)]
    data = tr.TaskData("mlm", task, fam, fam.featurize(task, ex, tok, 32, "", {}), ex)

    def run(prefetch):
        from transformers import AutoModel

        enc = AutoModel.from_pretrained(str(tiny_model), add_pooling_layer=False)
        torch.manual_seed(0)
        head = fam.build_head(task, 32, 0.1)
        fam.bind(head, enc)
        model = tr.MultiTaskModel(enc, {"mlm": head})
        hist = tr.train(model, [data], TrainConfig(max_steps=6, lr=1e-3, batch_size=8, log_every=1,
                                                   prefetch=prefetch), seed=1, accelerator=cpu_accelerator(), pad_id=0)
        return hist["loss_curve"], torch.get_rng_state()

    (c1, r1), (c2, r2) = run(True), run(False)
    assert c1 == c2 and torch.equal(r1, r2)


# ---------------------------------------------------------------------------------------------- evaluation
def test_eval_all_languages_equals_per_language_predict(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    langs = [_data(tok, n, seed) for n, seed in ((37, 1), (50, 2), (9, 3))]
    model = _model(tiny_model, langs[:1], dropout=True)
    acc = cpu_accelerator()
    together = tr.eval_all_languages(model, langs, batch_size=16, accelerator=acc, pad_id=0)
    budget = tr.eval_all_languages(model, langs, batch_size=64, accelerator=acc, pad_id=0, max_tokens=200,
                                   prefetch=False)
    for d, out, out2 in zip(langs, together, budget):
        alone = tr.predict(model, d, batch_size=7, accelerator=acc, pad_id=0)
        assert len(out) == d.size == len(out2)
        assert torch.allclose(torch.stack(out), torch.stack(alone), atol=1e-5)
        assert torch.allclose(torch.stack(out2), torch.stack(alone), atol=1e-5)
    assert not model.training


def test_fused_adamw_auto_is_on_on_cpu_too(tiny_model):
    """``fused_adamw: auto`` takes torch's fused kernel on the CPU as on CUDA (the HF Trainer's default optimizer);
    ``false`` the per-tensor loop."""
    model = torch.nn.Linear(3, 3)
    opt = _make_optimizer(model, TrainConfig(), torch.device("cpu"))
    assert opt.defaults.get("fused")
    opt = _make_optimizer(model, TrainConfig(fused_adamw=False), torch.device("cpu"))
    assert not opt.defaults.get("fused")


def test_default_length_grouped_batching_matches_random_batches_in_dev_accuracy(tiny_model):
    """The default (length_grouped) changes which examples share a batch, not how well a run trains: on a small run
    with varied lengths, over 6 seeds, final dev accuracy and dev loss are within noise of random batching (mean
    paired difference under 2 standard errors plus a small floor: 2 accuracy points, 0.05 nats)."""
    import statistics

    import torch.nn.functional as F

    assert TrainConfig().batching == "length_grouped"
    tok = load_tokenizer(str(tiny_model))
    train, dev = _data(tok, 192, 11), _data(tok, 96, 12, label="dev")
    fam = train.family

    def dev_scores(batching, seed):
        model = _model(tiny_model, [train], dropout=True)
        hp = TrainConfig(max_steps=56, lr=2e-3, batch_size=16, log_every=56, batching=batching)
        tr.train(model, [train], hp, seed=seed, accelerator=cpu_accelerator(), pad_id=0)
        head_data = tr.TaskData("pawsx", dev.task, fam, dev.features, dev.examples)
        out = tr.eval_all_languages(model, [head_data], batch_size=64, accelerator=cpu_accelerator(), pad_id=0)[0]
        preds = fam.decode(dev.task, out, dev.features, dev.examples)
        nll = float(F.cross_entropy(torch.stack(out), torch.tensor([e.label for e in dev.examples])))
        return fam.score(dev.task, preds, dev.examples)["accuracy"], nll

    runs = [(dev_scores("length_grouped", s), dev_scores("random", s)) for s in range(1, 7)]
    assert statistics.fmean(r[0] for _, r in runs) > 60, runs  # random batches learn the toy task
    for k, floor in ((0, 2.0), (1, 0.05)):
        diffs = [g[k] - r[k] for g, r in runs]
        se = statistics.stdev(diffs) / len(diffs) ** 0.5
        assert abs(statistics.fmean(diffs)) <= 2 * se + floor, (k, runs)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_embeddings_of_a_middle_layer_equal_the_full_models(tiny_model, layer):
    """Retrieval runs only the layers up to the one it pools: the vectors equal those of the full model's
    ``hidden_states[layer]``."""
    from transformers import AutoModel

    from xstilts.models import embeddings as retrieval

    tok = load_tokenizer(str(tiny_model))
    enc = AutoModel.from_pretrained(str(tiny_model), add_pooling_layer=False).eval()
    texts = ["alpha beta gamma delta", "cat dog", "red green blue river stone house tree"]
    got = retrieval.embed(enc, tok, texts, layer=layer, pooling="mean", max_length=16, batch_size=2)
    assert len(enc.encoder.layer) == 2  # restored
    with torch.no_grad():
        b = tok(texts, padding=True, return_tensors="pt")
        hs = enc(**b, output_hidden_states=True).hidden_states[layer]
    m = b["attention_mask"].unsqueeze(-1).float()
    want = (hs * m).sum(1) / m.sum(1)
    assert torch.allclose(got, want, atol=1e-5)
