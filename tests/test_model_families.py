"""Every model family runs every head kind: tiny random BERT, XLM-R, DeBERTa-v2, Llama- and BLOOM-style decoders and
the BiLSTM baseline; LoRA trains only its adapters; save/load and the intermediate -> target hand-off work."""

import json
import random
from pathlib import Path

import pytest
import torch

from fixtures import cpu_accelerator, WORDS, make_tiny_model, toy_pair, write_pawsx
from xstilts.checkpoint import load_heads
from xstilts.config import LoraConfig, ModelConfig, TrainConfig, validate_config
from xstilts.models.backbone import build_backbone, load_encoder, load_tokenizer, save_backbone
from xstilts.tasks import get_family, get_task
from xstilts.tasks.families.classification import PairExample
from xstilts.tasks.families.multiple_choice import MCExample
from xstilts.tasks.families.qa import QAExample
from xstilts.tasks.families.tagging import TaggedExample
from xstilts.train import MultiTaskModel, TaskData, predict, train

FAMILIES = ["bert", "xlm-roberta", "deberta-v2", "llama", "bloom", "bilstm"]


def _make(kind: str, folder: Path) -> Path:
    """A tiny random checkpoint of *kind* sharing the fixtures' word-level tokenizer."""
    from transformers import (BloomConfig, BloomModel, DebertaV2Config, DebertaV2Model, LlamaConfig, LlamaModel,
                              XLMRobertaConfig, XLMRobertaModel)

    make_tiny_model(folder)  # tokenizer (+ a BERT, replaced below)
    vocab = load_tokenizer(str(folder)).vocab_size + 5
    torch.manual_seed(0)
    if kind in ("bert", "bilstm"):
        return folder
    for f in folder.glob("model*.safetensors"):
        f.unlink()
    common = dict(vocab_size=vocab, hidden_size=32, num_attention_heads=2, pad_token_id=0)
    if kind == "xlm-roberta":
        model = XLMRobertaModel(XLMRobertaConfig(num_hidden_layers=2, intermediate_size=64,
                                                 max_position_embeddings=300, **common), add_pooling_layer=False)
    elif kind == "deberta-v2":
        model = DebertaV2Model(DebertaV2Config(num_hidden_layers=2, intermediate_size=64, max_position_embeddings=256,
                                               relative_attention=True, position_buckets=32,
                                               pos_att_type=["p2c", "c2p"], **common))
    elif kind == "llama":
        model = LlamaModel(LlamaConfig(num_hidden_layers=2, intermediate_size=64, num_key_value_heads=2,
                                       max_position_embeddings=256, **common))
    elif kind == "bloom":
        model = BloomModel(BloomConfig(n_layer=2, n_head=2, vocab_size=vocab, hidden_size=32, pad_token_id=0))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return {k: _make(k, tmp_path_factory.mktemp(k)) for k in FAMILIES}


def _model_cfg(kind, path, **kw):
    return ModelConfig(name_or_path=str(path), max_length=48, family="bilstm" if kind == "bilstm" else "auto", **kw)




def _examples(kind: str, n: int, seed: int):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b, y = toy_pair(rng)
        if kind == "pair":
            out.append(PairExample(str(i), a, b, y))
        elif kind == "qa":
            ctx = f"{a} yes red {b}"
            out.append(QAExample(str(i), "which colour", ctx, ("red",), (ctx.index("yes red") + 4,)))
        elif kind == "tag":
            words = a.split()
            out.append(TaggedExample(str(i), tuple(words), tuple("B-PER" if w in WORDS[:10] else "O" for w in words)))
        else:
            out.append(MCExample(str(i), a, "", (b, "cat dog", "tree house"), 0 if y else 1))
    return out


HEADS = {"pair": "pawsx", "qa": "xquad", "tag": "panx", "mc": "xcopa"}


def _task_data(kind: str, tok, n: int, seed: int) -> TaskData:
    task = get_task(HEADS[kind])
    fam = get_family(task.kind)
    ex = _examples(kind, n, seed)
    opts = fam.options_model().model_dump() if fam.options_model else {}
    return TaskData(task.name, task, fam, fam.featurize(task, ex, tok, 48, "", opts), ex)


@pytest.mark.parametrize("kind", FAMILIES)
def test_every_head_kind_runs_and_pair_task_is_learned(kind, checkpoints):
    path = checkpoints[kind]
    tok = load_tokenizer(str(path))
    enc, family = build_backbone(_model_cfg(kind, path), str(path), pretrained=True, seed=0)
    assert family == {"llama": "decoder", "bloom": "decoder", "bilstm": "bilstm"}.get(kind, "encoder")
    datas = {k: _task_data(k, tok, 8, 1) for k in HEADS}
    heads = {d.label: d.family.build_head(d.task, 32, 0.0) for d in datas.values()}
    summary = {"decoder": "last", "bilstm": "mean"}.get(family)
    if summary:  # as the pipeline sets it
        for h in heads.values():
            if hasattr(h, "summary"):
                h.summary = summary
    model = MultiTaskModel(enc, heads)
    for k, d in datas.items():  # forward shapes of every head kind
        batch = d.family.collate(d.features, list(range(4)), tok.pad_token_id)
        hidden = model(batch)
        assert hidden.shape[:2] == batch["input_ids"].shape and hidden.shape[-1] == 32
        loss, _ = d.family.loss(model.heads[d.label], hidden, batch)
        out = d.family.logits(model.heads[d.label], hidden, batch)
        assert torch.isfinite(loss) and out.shape[0] == 4, k
        loss.backward()
    # a learnable pair task: loss falls, accuracy rises
    train_d, test_d = _task_data("pair", tok, 320, 2), _task_data("pair", tok, 120, 3)
    model = MultiTaskModel(enc, {"pawsx": train_d.family.build_head(train_d.task, 32, 0.0)})
    if summary:
        model.heads["pawsx"].summary = summary
    acc = cpu_accelerator()
    hist = train(model, [train_d], TrainConfig(epochs=6, lr=2e-3, batch_size=16, log_every=10), seed=0,
                 accelerator=acc, pad_id=tok.pad_token_id)
    curve = [v for _, v in hist["loss_curve"]]
    out = predict(model, test_d, batch_size=64, accelerator=acc, pad_id=tok.pad_token_id)
    accuracy = test_d.family.score(test_d.task, test_d.family.decode(test_d.task, out, test_d.features,
                                                                      test_d.examples), test_d.examples)["accuracy"]
    assert curve[-1] < 0.7 * curve[0], curve
    assert accuracy > 75, accuracy


@pytest.mark.parametrize("kind", FAMILIES)
def test_save_load_round_trip(kind, checkpoints, tmp_path):
    path = checkpoints[kind]
    tok = load_tokenizer(str(path))
    mcfg = _model_cfg(kind, path)
    enc, _ = build_backbone(mcfg, str(path), pretrained=True, seed=0)
    save_backbone(enc, tmp_path / "enc", tok, mcfg, str(path))
    again = load_encoder(str(tmp_path / "enc"))
    ids = torch.tensor([[2, 7, 8, 9, 3, 0, 0], [2, 10, 11, 12, 13, 14, 3]])
    mask = (ids != 0).long()
    enc.eval(), again.eval()
    assert torch.allclose(enc(input_ids=ids, attention_mask=mask).last_hidden_state,
                          again(input_ids=ids, attention_mask=mask).last_hidden_state, atol=1e-5)


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_lora_trains_only_adapters_and_merge_is_exact(kind, checkpoints, tmp_path):
    path = checkpoints[kind]
    tok = load_tokenizer(str(path))
    mcfg = _model_cfg(kind, path, lora=LoraConfig(r=4, alpha=8, dropout=0.0))
    enc, _ = build_backbone(mcfg, str(path), pretrained=True, seed=0)
    base_before = {n: p.detach().clone() for n, p in enc.named_parameters() if "lora_" not in n}
    d = _task_data("pair", tok, 64, 1)
    model = MultiTaskModel(enc, {"pawsx": d.family.build_head(d.task, 32, 0.0)})
    train(model, [d], TrainConfig(max_steps=10, lr=1e-2, batch_size=16), seed=0, accelerator=cpu_accelerator(),
          pad_id=tok.pad_token_id)
    changed = [n for n, p in enc.named_parameters() if "lora_" not in n and not torch.equal(p, base_before[n])]
    assert changed == []
    lora_params = [p for n, p in enc.named_parameters() if "lora_B" in n]
    assert lora_params and any(p.abs().sum() > 0 for p in lora_params)  # adapters moved from their zero init
    ids = torch.tensor([[2, 7, 8, 9, 3, 0], [2, 10, 11, 12, 13, 3]])
    mask = (ids != 0).long()
    enc.eval()
    unmerged = enc(input_ids=ids, attention_mask=mask).last_hidden_state
    save_backbone(enc, tmp_path / "merged", tok, mcfg, str(path))
    merged = load_encoder(str(tmp_path / "merged")).eval()
    assert torch.allclose(unmerged, merged(input_ids=ids, attention_mask=mask).last_hidden_state, atol=1e-5)


@pytest.mark.parametrize("kind, handoff", [("bert", None), ("deberta-v2", None), ("llama", "merge"),
                                           ("bloom", "stack"), ("bilstm", None)])
def test_intermediate_to_target_handoff(kind, handoff, checkpoints, tmp_path, monkeypatch):
    import xstilts.models.backbone as modeling
    from xstilts.experiment import run as run_experiment

    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=64, n_test=16)
    model = {"name_or_path": str(checkpoints[kind]), "max_length": 32}
    if kind == "bilstm":
        model["family"] = "bilstm"
    if handoff:
        model["lora"] = {"r": 4, "handoff": handoff}
    cfg = validate_config({
        "name": "h", "output_dir": str(tmp_path / "runs"), "with_baseline": False, "model": model,
        "intermediate": {"tasks": [{"task": "kjv-web-paraphrase-hard", "data_dir": str(pawsx / "en"),
                                    "max_eval_examples": 8}], "max_steps": 3, "batch_size": 8},
        "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]}], "max_steps": 3,
                   "batch_size": 8},
    })
    for split in ("train", "dev", "test"):  # the paraphrase reader wants {split}.tsv
        (pawsx / "en" / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    loaded = []
    real = modeling.load_encoder
    monkeypatch.setattr(modeling, "load_encoder", lambda p, *a, **k: loaded.append(str(p)) or real(p, *a, **k))
    run_experiment(cfg)
    enc_dir = next((tmp_path / "runs" / "phases").glob("intermediate-*")) / "checkpoint" / "encoder"
    assert str(enc_dir) in loaded or any(str(enc_dir) in p for p in loaded)  # target phase started from it
    heads, desc = load_heads(enc_dir.parent)  # safetensors + JSON, no pickle
    assert list(heads) == ["kjv-web-paraphrase-hard"]  # the intermediate head stays behind
    assert desc["heads"]["kjv-web-paraphrase-hard"]["task"] == "kjv-web-paraphrase-hard"
    assert all(list(t.shape) == desc["heads"]["kjv-web-paraphrase-hard"]["tensors"][n]["shape"]
               for n, t in heads["kjv-web-paraphrase-hard"].items())
    if handoff == "stack":
        chain = json.loads((enc_dir / "xstilts_lora_chain.json").read_text())["chain"]
        assert chain == [str(checkpoints[kind]), "."] and (enc_dir / "adapter_config.json").is_file()
    m = json.loads(next((tmp_path / "runs" / "phases").glob("target-*/metrics.json")).read_text())
    assert set(m["languages"]) == {"en", "de"}
