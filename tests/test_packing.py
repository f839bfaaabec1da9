"""Padding-free packing (``train.packing``): several sequences share a row of the encoder's input, kept apart by a
block-diagonal attention mask (eager / SDPA, any device; flash-attention's varlen layout on CUDA). A packed batch
gives the padded batch's loss and gradients (within float rounding) on BERT and XLM-R, and training with packing
follows the padded run's loss curve. Tiny models, 1 thread, dropout off."""

from __future__ import annotations

import random

import pytest
import torch

from fixtures import cpu_accelerator, toy_pair
from xstilts import train as tr
from xstilts.config import TrainConfig
from xstilts.data import pack_batch
from xstilts.errors import XstiltsError
from xstilts.models.backbone import load_tokenizer, packing_layout
from xstilts.tasks import get_family, get_task
from xstilts.tasks.families.classification import PairExample

pytestmark = pytest.mark.usefixtures("one_thread")


def _hp(**kw) -> TrainConfig:
    """A TrainConfig with ``packing`` (set without validation while the config schema may not list it yet)."""
    packing = kw.pop("packing", False)
    hp = TrainConfig(**{"max_steps": 8, "lr": 1e-3, "batch_size": 8, "log_every": 1, **kw})
    return hp if "packing" in TrainConfig.model_fields and not packing else hp.model_copy(update={"packing": packing})


def test_pack_batch_layouts():
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0], [12, 13, 14, 0]])
    batch = {"input_ids": ids, "attention_mask": (ids != 0).long(), "label": torch.arange(4)}
    out = pack_batch(batch, pad_id=0)
    # first-fit decreasing into rows of width 4: [5 6 7 8], [12 13 14 11], [9 10 - -]
    assert out["packed_input_ids"].tolist() == [[5, 6, 7, 8], [12, 13, 14, 11], [9, 10, 0, 0]]
    assert out["packed_position_ids"].tolist() == [[0, 1, 2, 3], [0, 1, 2, 0], [0, 1, 0, 0]]
    assert out["packed_segments"].tolist() == [[0, 0, 0, 0], [3, 3, 3, 2], [1, 1, -1, -1]]
    flat = torch.cat([out["packed_input_ids"].reshape(-1), torch.tensor([0])])
    assert torch.equal(flat[out["pack_index"]], ids)  # unpacking gives the batch back, padding included
    assert torch.equal(out["label"], batch["label"])
    var = pack_batch(batch, pad_id=0, varlen=True)
    assert var["packed_input_ids"].tolist() == [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14]]
    assert var["cu_seq_lens"].tolist() == [0, 4, 6, 7, 10] and var["cu_seq_lens"].dtype == torch.int32
    flat = torch.cat([var["packed_input_ids"].reshape(-1), torch.tensor([0])])
    assert torch.equal(flat[var["pack_index"]], ids)
    with pytest.raises(ValueError, match="right-padded"):
        pack_batch({"input_ids": ids, "attention_mask": torch.tensor([[0, 1, 1, 1]] * 4)}, 0)


def _pair_data(tok, n, seed):
    rng = random.Random(seed)
    ex = [PairExample(str(i), *toy_pair(rng)) for i in range(n)]
    task = get_task("pawsx")
    fam = get_family(task.kind)
    return tr.TaskData("pawsx", task, fam, fam.featurize(task, ex, tok, 32, "", {}), ex)


def _xlmr(attn: str):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=80, pad_token_id=1, type_vocab_size=1,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation=attn)
    return XLMRobertaModel(cfg, add_pooling_layer=False)


def _bert(path, attn: str):
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(path), add_pooling_layer=False, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0, attn_implementation=attn)


@pytest.mark.parametrize("model", ["bert", "xlmr"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_batch_gives_the_padded_loss_and_gradients(tiny_model, model, attn):
    tok = load_tokenizer(str(tiny_model))
    data = _pair_data(tok, 24, 1)
    pad = 1 if model == "xlmr" else 0
    if model == "xlmr":  # the same sentences as XLM-R ids (pad 1; positions start at 2)
        data.features["input_ids"] = [[i + 2 for i in s] for s in data.features["input_ids"]]
        data.features.pop("token_type_ids", None)
    for i in range(1, 24, 2):  # some short sequences, so that rows hold several
        for k in ("input_ids", "token_type_ids"):
            if k in data.features:
                data.features[k][i] = data.features[k][i][:3 + i % 5]
    enc = _xlmr(attn) if model == "xlmr" else _bert(tiny_model, attn)
    torch.manual_seed(0)
    m = tr.MultiTaskModel(enc, {"pawsx": data.family.build_head(data.task, 32, 0.0)})
    layout, m.position_offset = packing_layout(enc, torch.device("cpu"))
    assert layout == "block" and m.position_offset == (2 if model == "xlmr" else 0)
    batch = data.family.collate(data.features, list(range(24)), pad)
    packed = pack_batch(batch, pad)
    assert packed["packed_input_ids"].numel() < 0.75 * batch["input_ids"].numel()  # fewer token slots
    assert max(len(set(row.tolist()) - {-1}) for row in packed["packed_segments"]) >= 2  # shared rows

    def loss_and_grads(b):
        m.zero_grad()
        loss, _ = data.family.loss(m.heads["pawsx"], m(b), b)
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}

    (l1, g1), (l2, g2) = loss_and_grads(batch), loss_and_grads(packed)
    assert abs(l1 - l2) <= 1e-5
    assert g1.keys() == g2.keys()
    for n in g1:
        assert torch.allclose(g1[n], g2[n], atol=1e-5), n
    m.eval()
    with torch.no_grad():
        mask = batch["attention_mask"].unsqueeze(-1).bool()
        assert torch.allclose(m(batch).masked_fill(~mask, 0), m(packed), atol=1e-5)  # states at real tokens


def test_training_with_packing_follows_the_padded_run(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    datas = [_pair_data(tok, 80, 2)]

    def run(**kw):
        enc = _bert(tiny_model, "sdpa")
        torch.manual_seed(0)
        model = tr.MultiTaskModel(enc, {"pawsx": datas[0].family.build_head(datas[0].task, 32, 0.0)})
        hist = tr.train(model, datas, _hp(**kw), seed=3, accelerator=cpu_accelerator(), pad_id=0)
        return hist, {k: v.clone() for k, v in model.state_dict().items()}

    (h1, p1), (h2, p2) = run(), run(packing=True)
    for (s1, a), (s2, b) in zip(h1["loss_curve"], h2["loss_curve"]):
        assert s1 == s2 and abs(a - b) <= 1e-5
    assert max(float((p1[k] - p2[k]).abs().max()) for k in p1) <= 1e-5
    assert h1["task_tokens"] == h2["task_tokens"]


def test_packing_refuses_unsupported_models():
    from transformers import GPT2Config, GPT2Model

    gpt = GPT2Model(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=50, n_positions=32))
    with pytest.raises(XstiltsError, match="gpt2 models are not supported"):
        packing_layout(gpt, torch.device("cpu"))
    enc = _xlmr("sdpa")
    enc.config._attn_implementation = "flash_attention_2"  # as loaded with attn_implementation: flash_attention_2
    with pytest.raises(XstiltsError, match="CUDA only"):
        packing_layout(enc, torch.device("cpu"))
    assert packing_layout(enc, torch.device("cuda")) == ("varlen", 2)
