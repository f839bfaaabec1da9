"""The training loop really learns: a tiny random encoder on a learnable pair task (loss falls, accuracy rises)."""

import random

import pytest
import torch

from fixtures import cpu_accelerator, toy_pair
from xstilts.config import TrainConfig
from xstilts.models.backbone import load_encoder, load_tokenizer
from xstilts.tasks import get_family, get_task
from xstilts.tasks.families.classification import PairExample
from xstilts.train import MultiTaskModel, TaskData, predict, total_steps, train




def _data(tokenizer, n, seed, label="pawsx"):
    rng = random.Random(seed)
    ex = [PairExample(str(i), *toy_pair(rng)) for i in range(n)]
    task = get_task("pawsx")
    fam = get_family(task.kind)
    return TaskData(label, task, fam, fam.featurize(task, ex, tokenizer, 32, "", {}), ex)


def test_tiny_encoder_learns_pair_task(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    train_data, test_data = _data(tok, 480, 1), _data(tok, 200, 2)
    torch.manual_seed(0)
    enc = load_encoder(str(tiny_model))
    model = MultiTaskModel(enc, {"pawsx": train_data.family.build_head(train_data.task, 32, 0.0)})
    acc = cpu_accelerator()

    def accuracy():
        out = predict(model, test_data, batch_size=64, accelerator=acc, pad_id=tok.pad_token_id)
        preds = test_data.family.decode(test_data.task, out, test_data.features, test_data.examples)
        return test_data.family.score(test_data.task, preds, test_data.examples)["accuracy"]

    before = accuracy()
    hp = TrainConfig(epochs=8, lr=1e-3, batch_size=16, warmup_ratio=0.1, dropout=0.0, log_every=10)
    hist = train(model, [train_data], hp, seed=0, accelerator=acc, pad_id=tok.pad_token_id)
    after = accuracy()
    curve = [loss for _, loss in hist["loss_curve"]]
    assert hist["steps"] == total_steps([480], hp) == 240
    assert curve[-1] < 0.5 * curve[0], curve
    assert after >= 90.0 and after > before + 20, (before, after)


def test_multitask_sampling_uses_every_task(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    a, b = _data(tok, 300, 1, "a"), _data(tok, 100, 2, "b")
    enc = load_encoder(str(tiny_model))
    model = MultiTaskModel(enc, {d.label: d.family.build_head(d.task, 32, 0.1) for d in (a, b)})
    hp = TrainConfig(max_steps=80, lr=1e-4, batch_size=8)
    hist = train(model, [a, b], hp, seed=0, accelerator=cpu_accelerator(), pad_id=tok.pad_token_id)
    share = hist["task_steps"]["a"] / 80
    assert hist["steps"] == 80 and sum(hist["task_steps"].values()) == 80
    assert 0.6 < share < 0.9  # proportional to size: expected 0.75


def test_nan_loss_stops_with_step(tiny_model, monkeypatch):
    from xstilts.errors import XstiltsError

    tok = load_tokenizer(str(tiny_model))
    d = _data(tok, 64, 1)
    model = MultiTaskModel(load_encoder(str(tiny_model)), {"pawsx": d.family.build_head(d.task, 32, 0.1)})
    fam = d.family
    orig = type(fam).loss
    monkeypatch.setattr(type(fam), "loss", lambda self, h, hid, b: (orig(self, h, hid, b)[0] * float("nan"), None))
    with pytest.raises(XstiltsError, match="optimizer step 5"):
        train(model, [d], TrainConfig(max_steps=20, log_every=5, batch_size=8), seed=0, accelerator=cpu_accelerator(),
              pad_id=tok.pad_token_id)
