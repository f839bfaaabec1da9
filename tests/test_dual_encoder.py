"""Dual-encoder fine-tuning (XTREME-R's LAReQA / Mewsli-X protocol): the in-batch loss, the training loop (loss falls,
seeded, dev-loss selection), and on a toy set where the answer is learnable a fine-tuned tiny encoder's mAP@20 rises
far above its raw embeddings', directly and through the pipeline."""

from __future__ import annotations

import json
import random

import pytest
import torch

from xstilts.dual_encoder import (DualEncoder, FinetuneSettings, embed_texts, make_pooler, resolve_representation,
                                  tokenize_pairs, total_steps, train_dual_encoder)

#: Query key word ``w{i}`` retrieves the candidate with key word ``w{KEY_SHIFT + i}``: no word is shared between a
#: query and its answer, so raw (random) embeddings rank at chance, but the mapping is learnable from pairs.
N_KEYS, KEY_SHIFT = 20, 50
FILLERS = {"en": "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron".split(),
           "de": "pi rho sigma tau upsilon phi chi psi omega red green blue black white cat".split()}
FILLERS["mixed"] = FILLERS["en"] + FILLERS["de"]


@pytest.fixture(scope="module")
def tiny_dual(tiny_model, tmp_path_factory):
    """The tiny random BERT without dropout: its ``[CLS]`` states differ across inputs by ~1e-5 before training, so
    dropout noise would drown them (a pretrained encoder has no such problem)."""
    import shutil

    folder = tmp_path_factory.mktemp("tiny-dual") / "model"
    shutil.copytree(tiny_model, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _text(rng, key: str, fillers: list[str]) -> str:
    words = rng.choices(fillers, k=rng.randint(2, 4))
    words.insert(rng.randint(0, len(words)), key)
    return " ".join(words)


def _toy_pairs(rng, n_per_key: int, lang: str = "en"):
    qs, cs = [], []
    for _ in range(n_per_key):
        for i in range(N_KEYS):
            qs.append(_text(rng, f"w{i}", FILLERS[lang]))
            cs.append(_text(rng, f"w{KEY_SHIFT + i}", FILLERS[lang]))
    return qs, cs


def _model(tiny_model, representation="pooler", seed=0):
    from xstilts.models.backbone import load_encoder

    torch.manual_seed(seed)
    enc = load_encoder(str(tiny_model))
    pooler = make_pooler(enc.config.hidden_size, None) if representation == "pooler" else None
    return DualEncoder(enc, representation, pooler)


def _map20(q_emb, c_emb, relevant):
    from xstilts.metrics.ranking import mean_avg_prec_at_k, rank_by_cosine

    _, idx = rank_by_cosine(q_emb, c_emb, 20)
    return mean_avg_prec_at_k(relevant, [r.tolist() for r in idx], 20)


# ------------------------------------------------------------------------------------------------- units
def test_in_batch_loss_is_cross_entropy_over_scaled_cosines():
    class Fixed(torch.nn.Module):  # "encoder" returning the input ids as one-token hidden states
        def forward(self, input_ids, attention_mask):
            return type("O", (), {"last_hidden_state": input_ids.float().unsqueeze(1)})()

    m = DualEncoder(Fixed(), "cls", logit_scale=10.0)
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    c = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    ones = torch.ones(2, 1, dtype=torch.long)
    loss = m(q, ones, c, ones).detach()
    qn, cn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(c, dim=1)
    expected = torch.nn.functional.cross_entropy(10 * qn @ cn.T, torch.tensor([0, 1]))
    assert float(loss) == pytest.approx(float(expected))
    assert m.logit_scale.requires_grad  # learnable, as XTREME-R's BertForRetrieval


def test_representations_and_steps():
    assert resolve_representation("auto", "encoder", "xlm-roberta") == "pooler"
    assert resolve_representation("auto", "encoder", "bert") == "pooler"
    assert resolve_representation("auto", "encoder", "deberta-v2") == "cls"
    assert resolve_representation("auto", "decoder", "llama") == "last"
    assert resolve_representation("auto", "bilstm", None) == "mean"
    assert resolve_representation("mean", "encoder", "bert") == "mean"
    # XTREME-R's LAReQA: 87,599 SQuAD questions (fewer after skips), 4 x 4 per step, 3 epochs
    s = FinetuneSettings(epochs=3.0, batch_size=4, grad_accum=4)
    assert total_steps(80_000, s) == 15_000
    assert total_steps(80_000, FinetuneSettings(max_steps=7)) == 7
    with pytest.raises(ValueError):
        DualEncoder(torch.nn.Identity(), "pooler")


def test_finetuning_learns_a_mapping_raw_embeddings_cannot(tiny_dual, one_thread):
    """mAP@20 of the fine-tuned encodings rises far above the raw embeddings' (the zero-shot mode) and the loss falls;
    the same seed gives the same run."""
    from xstilts.models import embeddings as retrieval
    from xstilts.models.backbone import load_encoder, load_tokenizer

    tiny_model = tiny_dual
    tok = load_tokenizer(str(tiny_model))
    rng = random.Random(0)
    train_q, train_c = _toy_pairs(rng, 12)
    test_q, test_c = _toy_pairs(random.Random(1), 1)
    relevant = [{i} for i in range(N_KEYS)]
    raw = load_encoder(str(tiny_model))
    raw_map = _map20(retrieval.embed(raw, tok, test_q, layer=2), retrieval.embed(raw, tok, test_c, layer=2), relevant)

    data = tokenize_pairs(tok, train_q, train_c, query_max_length=16, candidate_max_length=16)
    settings = FinetuneSettings(lr=3e-3, max_steps=150, batch_size=16, grad_accum=1)
    model = _model(tiny_model)
    hist = train_dual_encoder(model, data, settings, seed=3, pad_id=tok.pad_token_id)
    tuned_map = _map20(embed_texts(model, tok, test_q, max_length=16), embed_texts(model, tok, test_c, max_length=16),
                       relevant)
    assert raw_map < 40 and tuned_map > 90 and tuned_map > raw_map + 50, (raw_map, tuned_map)
    curve = [loss for _, loss in hist["loss_curve"]]
    assert hist["steps"] == hist["steps_trained"] == 150 and len(curve) >= 10
    assert curve[-1] < 0.3 * curve[0]
    assert hist["examples"] == len(train_q) and hist["selection"]["mode"] == "last"
    # seeded: the same seed repeats the run exactly; another seed differs
    again = train_dual_encoder(_model(tiny_model), data, FinetuneSettings(lr=2e-3, max_steps=10, batch_size=16,
                                                                          grad_accum=2), seed=5, pad_id=0)
    same = train_dual_encoder(_model(tiny_model), data, FinetuneSettings(lr=2e-3, max_steps=10, batch_size=16,
                                                                         grad_accum=2), seed=5, pad_id=0)
    other = train_dual_encoder(_model(tiny_model), data, FinetuneSettings(lr=2e-3, max_steps=10, batch_size=16,
                                                                          grad_accum=2), seed=6, pad_id=0)
    assert again["loss_curve"] == same["loss_curve"] != other["loss_curve"]


def test_dev_loss_selection_restores_the_best_weights(tiny_model, one_thread):
    from xstilts.dual_encoder import mean_batch_loss
    from xstilts.models.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    qs, cs = _toy_pairs(random.Random(0), 4)
    data = tokenize_pairs(tok, qs, cs, query_max_length=16, candidate_max_length=16)
    dev = tokenize_pairs(tok, *_toy_pairs(random.Random(2), 1), query_max_length=16, candidate_max_length=16)
    # a learning rate so high that training diverges after a few steps: the best dev loss is early
    model = _model(tiny_model, "cls")
    hist = train_dual_encoder(model, data, FinetuneSettings(lr=0.5, max_steps=12, batch_size=8, grad_accum=1,
                                                           selection="dev-loss", eval_every=3), seed=0, pad_id=0,
                              dev=dev)
    sel = hist["selection"]
    steps = [s for s, _ in sel["curve"]]
    assert steps == [3, 6, 9, 12] and sel["dev_pairs"] == len(dev)
    best = min(sel["curve"], key=lambda x: x[1])
    assert sel["selected_step"] == best[0] and sel["best_score"] == pytest.approx(best[1])
    # the model now holds the selected weights
    assert mean_batch_loss(model, dev, batch_size=8, pad_id=0, device="cpu") == pytest.approx(best[1], rel=1e-5)
    with pytest.raises(Exception, match="dev pairs"):
        train_dual_encoder(_model(tiny_model), data, FinetuneSettings(max_steps=1, selection="dev-loss"), seed=0,
                           pad_id=0)


def test_pretrained_pooler_is_read_where_the_checkpoint_has_one(tmp_path):
    from transformers import BertConfig, BertModel

    from xstilts.dual_encoder import pretrained_pooler

    cfg = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    torch.manual_seed(0)
    BertModel(cfg, add_pooling_layer=True).save_pretrained(tmp_path / "with")
    BertModel(cfg, add_pooling_layer=False).save_pretrained(tmp_path / "without")
    w, b = pretrained_pooler(str(tmp_path / "with"))
    ref = BertModel.from_pretrained(tmp_path / "with").pooler.dense
    assert torch.equal(w, ref.weight) and torch.equal(b, ref.bias)
    assert pretrained_pooler(str(tmp_path / "without")) is None
    layer = make_pooler(8, (w, b))
    assert torch.equal(layer.weight, w)


# ------------------------------------------------------------------------------------------------ pipeline
def _toy_lareqa(root, rng):
    """XQuAD-R files (en, de) with one-sentence paragraphs and the SQuAD v1.1 training file, all with the key
    mapping: question ``...w{i}...`` → answer sentence ``...w{50+i}...``."""
    def para(context, qid, question):
        return {"context": context, "sentence_breaks": [[0, len(context)]],
                "qas": [{"id": qid, "question": question, "answers": [{"text": context[:2], "answer_start": 0}]}]}

    for lang in ("en", "de"):
        paras = [para(_text(rng, f"w{KEY_SHIFT + i}", FILLERS[lang]), f"q{i}", _text(rng, f"w{i}", FILLERS[lang]))
                 for i in range(N_KEYS)]
        (root / "xquad-r").mkdir(parents=True, exist_ok=True)
        (root / "xquad-r" / f"{lang}.json").write_text(json.dumps({"version": "1.1", "data": [
            {"title": "t", "paragraphs": paras}]}))
    qs, cs = _toy_pairs(rng, 10, "mixed")  # (toy) fillers of any language on either side: only the keys matter
    squad = [{"context": c, "qas": [{"id": f"s{k}", "question": q, "answers": [{"text": c[:2], "answer_start": 0}]}]}
             for k, (q, c) in enumerate(zip(qs, cs))]
    (root / "squad").mkdir(exist_ok=True)
    (root / "squad" / "train-v1.1.json").write_text(json.dumps({"version": "1.1", "data": [
        {"title": "t", "paragraphs": squad}]}))
    return root


def test_pipeline_finetunes_lareqa_and_beats_zero_shot(tmp_path, tiny_dual, one_thread):
    from xstilts.config import validate_config
    from xstilts.experiment import phase_keys, run as run_experiment

    data = _toy_lareqa(tmp_path / "lareqa", random.Random(0))

    def run(name, options, seeds=(1,), **entry):
        cfg = validate_config({
            "name": name, "output_dir": str(tmp_path / "runs"), "seeds": list(seeds), "with_baseline": False,
            "device": "cpu", "num_threads": 1, "model": {"name_or_path": str(tiny_dual), "max_length": 32},
            "target": {"tasks": [{"task": "lareqa", "data_dir": str(data), "languages": ["en", "de"],
                                  "options": options, **entry}]},
            "evaluation": {"retrieval_layer": "last"}})
        run_experiment(cfg)
        out = []
        for seed in seeds:
            phase = tmp_path / "runs" / name / f"baseline-seed{seed}" / "phases" / "target-lareqa"
            assert phase.resolve().name == phase_keys(cfg, seed)["targets"]["lareqa"]
            out.append(json.loads((phase / "metrics.json").read_text()))
        return out

    [zero] = run("zs", {"finetune": False})
    ft = dict(lr=3e-3, max_steps=200, batch_size=16, grad_accum=1)
    tuned, tuned2 = run("ft", {"selection": "last", "candidate_text": "sentence"}, seeds=(1, 2), **ft)
    assert "finetune" not in zero and zero["train"] is None
    assert zero["average"] < 40 and tuned["average"] > 80, (zero["average"], tuned["average"])
    rec = tuned["finetune"]
    assert rec["lr"] == 3e-3 and rec["batch_size"] == 16 and rec["query_max_length"] == 96 \
        and rec["candidate_max_length"] == 256 and rec["selection"] == "last" and rec["seed"] == 1
    assert rec["representation_used"] == "pooler" and rec["pooler_init"] == "fresh"  # the tiny BERT has no pooler
    assert rec["train_pairs"] == rec["train_pairs_read"] == 10 * N_KEYS and rec["train_pairs_skipped"] == 0
    assert tuned2["average"] > 80
    train = tuned["train"]
    assert train["steps"] == 200 and train["loss_curve"][-1][1] < train["loss_curve"][0][1]
    assert tuned["retrieval"]["layer"] == "fine-tuned" and "pooling" not in tuned["retrieval"]
    # each seed fine-tunes its own dual encoder (its own phase)
    assert tuned2["finetune"]["seed"] == 2 and tuned2["key"] != tuned["key"]
    assert tuned2["train"]["loss_curve"] != train["loss_curve"]


def test_pipeline_checks_the_training_files_before_any_phase(tmp_path, tiny_model):
    from xstilts.config import validate_config
    from xstilts.errors import MissingDataError
    from xstilts.experiment import run as run_experiment

    data = _toy_lareqa(tmp_path / "lareqa", random.Random(0))
    base = {"name": "x", "output_dir": str(tmp_path / "runs"), "seeds": [1], "with_baseline": False, "device": "cpu",
            "model": {"name_or_path": str(tiny_model)}}
    # LAReQA selects on SQuAD dev by default (XTREME-R), which the toy folder lacks
    cfg = validate_config({**base, "target": {"tasks": [{"task": "lareqa", "data_dir": str(data)}]}})
    with pytest.raises(MissingDataError, match="dev-v1.1.json.*selection: last"):
        run_experiment(cfg)
    (data / "squad" / "train-v1.1.json").unlink()
    cfg = validate_config({**base, "target": {"tasks": [{"task": "lareqa", "data_dir": str(data),
                                                         "options": {"selection": "last"}}]}})
    with pytest.raises(MissingDataError, match="train-v1.1.json.*finetune: false"):
        run_experiment(cfg)
    assert not (tmp_path / "runs" / "phases").exists()
