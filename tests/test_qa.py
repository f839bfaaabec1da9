"""Extractive QA: readers of the official layouts, windowing and span decoding, learning, and a pipeline run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from fixtures import WORDS, make_tiny_model
from xstilts.errors import DataFormatError, MissingDataError
from xstilts.tasks import get_family, get_task
from xstilts.tasks.families.qa import QAExample, QAOptions

FAM = get_family("span_qa")


# ------------------------------------------------------------------------------------------------ helpers
def qa(qid, question, context, *answers, impossible=None):
    """A SQuAD ``qas`` entry; each answer is a text found in *context* (its first occurrence)."""
    out = {"id": qid, "question": question,
           "answers": [{"text": a, "answer_start": context.index(a)} for a in answers]}
    if impossible is not None:
        out["is_impossible"] = impossible
    return out


def squad_doc(paragraphs, version="1.1", title="T"):
    """``{"version", "data": [{"title", "paragraphs": [{"context", "qas"}]}]}`` from ``[(context, [qa...])]``."""
    return {"version": version, "data": [{"title": title, "paragraphs": [{"context": c, "qas": q}
                                                                       for c, q in paragraphs]}]}


def write_json(path: Path, obj, indent=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def toy_example(rng: random.Random, qid: str) -> tuple[str, str, str]:
    """A learnable span: the answer is the word right after 'yes' in the context."""
    words = rng.choices(WORDS[:30], k=rng.randint(6, 14))
    ans = rng.choice(WORDS[:30])
    k = rng.randint(0, len(words))
    words[k:k] = ["yes", ans]
    return " ".join(rng.choices(WORDS[30:40], k=3)), " ".join(words), ans


def toy_paragraphs(rng, n, prefix):
    out = []
    for i in range(n):
        q, c, a = toy_example(rng, f"{prefix}{i}")
        start = c.index("yes " + a) + 4
        out.append((c, [{"id": f"{prefix}{i}", "question": q, "answers": [{"text": a, "answer_start": start}]}]))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tok(tiny):
    from xstilts.models.backbone import load_tokenizer

    return load_tokenizer(str(tiny))




# ------------------------------------------------------------------------------------------------ readers
def test_read_squad_v1_and_v2(tmp_path):
    c1, c2 = "The cat sat on the mat.", "Dogs bark at night and sleep by day."
    write_json(tmp_path / "train-v1.1.json", squad_doc([(c1, [qa("q1", "Who sat?", c1, "cat"),
                                                              qa("q2", "Where?", c1, "the mat", "mat")]),
                                                         (c2, [qa("q3", "When?", c2, "at night")])]))
    exs = get_task("squad").read(tmp_path, "train", "en")
    assert [e.guid for e in exs] == ["q1", "q2", "q3"]
    assert exs[1].answers == ("the mat", "mat") and exs[1].answer_starts == (15, 19)
    assert exs[2].context == c2 and exs[0].title == "T" and exs[0].language == "en"
    # dev and test both read the dev file (there is no public test set)
    write_json(tmp_path / "dev-v1.1.json", squad_doc([(c1, [qa("d1", "Who?", c1, "cat")])]))
    assert [e.guid for e in get_task("squad").read(tmp_path, "test", "en")] == ["d1"]

    v2 = squad_doc([(c1, [qa("a", "Who sat?", c1, "cat", impossible=False),
                          {"id": "b", "question": "Who flew?", "answers": [], "is_impossible": True,
                           "plausible_answers": [{"text": "cat", "answer_start": 4}]}])], version="v2.0")
    write_json(tmp_path / "dev-v2.0.json", v2)
    a, b = get_task("squad2").read(tmp_path, "dev", "en")
    assert not a.is_impossible and a.answers == ("cat",)
    assert b.is_impossible and b.answers == () and b.answer_starts == ()


def test_read_target_layouts(tmp_path):
    c = "Berlin ist die Hauptstadt von Deutschland."
    doc = squad_doc([(c, [qa("x1", "Was?", c, "Berlin")])])
    squad = write_json(tmp_path / "squad" / "train-v1.1.json", squad_doc([(c, [qa("s1", "Was?", c, "Deutschland")])]))
    # XQuAD: xquad.{lang}.json; train = SQuAD v1.1 from the sibling ``squad`` folder (XTREME's download layout)
    write_json(tmp_path / "xquad" / "xquad.de.json", doc)
    xq = get_task("xquad")
    assert [(e.guid, e.language) for e in xq.read(tmp_path / "xquad", "test", "de")] == [("x1", "de")]
    assert [e.guid for e in xq.read(tmp_path / "xquad", "train", "en")] == ["s1"]
    assert xq.discover_languages(tmp_path / "xquad") == ["de"]
    # ... or from a ``squad`` subfolder
    write_json(tmp_path / "xq2" / "squad" / "train-v1.1.json", squad_doc([(c, [qa("s2", "Was?", c, "ist")])]))
    assert [e.guid for e in xq.read(tmp_path / "xq2", "train", "en")] == ["s2"]
    with pytest.raises(MissingDataError, match="xquad.el.json"):
        xq.read(tmp_path / "xquad", "test", "el")

    # MLQA: MLQA_V1/{dev,test}/{split}-context-{lang}-question-{lang}.json
    write_json(tmp_path / "mlqa" / "MLQA_V1" / "test" / "test-context-de-question-de.json", doc)
    write_json(tmp_path / "mlqa" / "MLQA_V1" / "dev" / "dev-context-de-question-de.json",
               squad_doc([(c, [qa("m-dev", "Was?", c, "Hauptstadt")])]))
    write_json(tmp_path / "mlqa" / "MLQA_V1" / "test" / "test-context-de-question-en.json", doc)  # cross-lingual
    ml = get_task("mlqa")
    assert [e.guid for e in ml.read(tmp_path / "mlqa", "test", "de")] == ["x1"]
    assert [e.guid for e in ml.read(tmp_path / "mlqa", "dev", "de")] == ["m-dev"]
    assert [e.guid for e in ml.read(tmp_path / "mlqa", "train", "en")] == ["s1"]
    assert ml.discover_languages(tmp_path / "mlqa") == ["de"]
    with pytest.raises(MissingDataError, match="test-context-zh-question-zh.json"):
        ml.read(tmp_path / "mlqa", "test", "zh")

    # TyDiQA-GoldP, XTREME layout (dev files serve as the test set)
    ty = get_task("tydiqa")
    root = tmp_path / "tydiqa"
    write_json(root / "tydiqa-goldp-v1.1-train" / "tydiqa.en.train.json", squad_doc([(c, [qa("t1", "W?", c, "von")])]))
    write_json(root / "tydiqa-goldp-v1.1-dev" / "tydiqa.sw.dev.json", doc)
    assert [e.guid for e in ty.read(root, "train", "en")] == ["t1"]
    assert [(e.guid, e.language) for e in ty.read(root, "test", "sw")] == [("x1", "sw")]
    assert ty.discover_languages(root) == ["sw"]
    # the original release's names: one training file for all languages (ids prefixed by the language's name)
    orig = tmp_path / "tydiqa-orig"
    write_json(orig / "tydiqa-goldp-v1.1-train.json",
               squad_doc([(c, [qa("english-1", "W?", c, "von"), qa("finnish-2", "W?", c, "ist")])]))
    write_json(orig / "tydiqa-goldp-v1.1-dev" / "tydiqa-goldp-dev-finnish.json", doc)
    assert [e.guid for e in ty.read(orig, "train", "en")] == ["english-1"]
    assert [e.guid for e in ty.read(orig, "test", "fi")] == ["x1"]
    with pytest.raises(MissingDataError, match="tydiqa.ko.dev.json"):
        ty.read(root, "test", "ko")
    assert squad.is_file()


def test_malformed_files(tmp_path):
    sq = get_task("squad")
    c = "The cat sat on the mat."
    good = squad_doc([(c, [qa("q1", "Who?", c, "cat"), qa("q2", "Where?", c, "mat")])])

    # invalid JSON: the line of the error is named
    text = json.dumps(good, indent=2).splitlines()
    k = next(i for i, line in enumerate(text) if '"q2"' in line)
    text[k] = text[k].rstrip(",")  # drop a comma -> syntax error right after this line
    (tmp_path / "train-v1.1.json").write_text("\n".join(text), encoding="utf-8")
    with pytest.raises(DataFormatError) as e:
        sq.read(tmp_path, "train", "en")
    assert e.value.path.endswith("train-v1.1.json") and e.value.line == k + 2 and "invalid JSON" in str(e.value)

    def expect(doc, pattern, line=None):
        path = write_json(tmp_path / "train-v1.1.json", doc, indent=2)
        with pytest.raises(DataFormatError, match=pattern) as err:
            sq.read(tmp_path, "train", "en")
        assert err.value.path == str(path)
        if line is not None:
            assert err.value.line == line
        return err.value

    # answer_start that does not point at the answer text
    bad = json.loads(json.dumps(good))
    bad["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 3
    lines = json.dumps(bad, indent=2).splitlines()
    err = expect(bad, r"question 'q2' .*answer 'mat' is not at answer_start 3 .*' ca'")
    assert err.line == next(i for i, line in enumerate(lines, 1) if '"id": "q2"' in line)
    # missing keys
    bad = json.loads(json.dumps(good))
    del bad["data"][0]["paragraphs"][0]["qas"][0]["question"]
    expect(bad, r"question 'q1' \(data\[0\].paragraphs\[0\].qas\[0\]\): missing key 'question'")
    bad = json.loads(json.dumps(good))
    del bad["data"][0]["paragraphs"][0]["context"]
    expect(bad, r"data\[0\].paragraphs\[0\]: missing key 'context'")
    bad = json.loads(json.dumps(good))
    del bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"]
    expect(bad, r"answers\[0\]: missing key 'answer_start'")
    bad = json.loads(json.dumps(good))
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = "4"
    expect(bad, r"'answer_start' should be a int, got str")
    expect({"version": "1.1"}, r'"data" list')
    # a v1.1 question without answers, a repeated id, no questions at all
    bad = json.loads(json.dumps(good))
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    expect(bad, "no answers; a SQuAD v1.1-format file needs at least one")
    bad = json.loads(json.dumps(good))
    bad["data"][0]["paragraphs"][0]["qas"][1]["id"] = "q1"
    expect(bad, "question id used twice")
    expect(squad_doc([]), "no questions found")
    (tmp_path / "train-v1.1.json").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty file"):
        sq.read(tmp_path, "train", "en")
    with pytest.raises(MissingDataError, match="dev-v1.1.json"):
        sq.read(tmp_path, "dev", "en")


# ------------------------------------------------------------------------------------------------ windowing
def _gold_logits(feats):
    """Per-feature outputs with high logits at the labelled start/end (when the window holds the answer)."""
    outs = []
    for i, ids in enumerate(feats["input_ids"]):
        o = torch.full((len(ids), 2), -5.0)
        s, e = feats["start_positions"][i], feats["end_positions"][i]
        if s:
            o[s, 0] = o[e, 1] = 5.0
        outs.append(o)
    return outs


@pytest.mark.parametrize("prefix", ["", "passage: "])
def test_windows_keep_the_answer_and_decode_recovers_it(tok, prefix):
    task = get_task("squad")
    words = [f"w{i % 100}" for i in range(1000)]
    words[700:700] = ["yes", "red", "cat"]
    ctx = " ".join(words)
    start = ctx.index("yes red") + 4
    long_ex = QAExample("long", "alpha beta gamma", ctx, ("red cat",), (start,))
    short_ex = QAExample("short", "what", "cat dog bird", ("dog",), (4,))
    feats = FAM.featurize(task, [long_ex, short_ex], tok, 64, prefix, {"doc_stride": 16})
    n = len(feats["input_ids"])
    assert all(len(ids) <= 64 for ids in feats["input_ids"])
    assert feats["example_index"].count(0) > 50 and feats["example_index"].count(1) == 1
    holding = [i for i in range(n) if feats["example_index"][i] == 0 and feats["start_positions"][i] > 0]
    assert holding  # the answer is whole in at least one window
    for i in holding:
        ids = feats["input_ids"][i]
        s, e = feats["start_positions"][i], feats["end_positions"][i]
        assert tok.convert_ids_to_tokens(ids[s:e + 1]) == ["red", "cat"]
    # windows start doc_stride context tokens apart, and overlapping tokens have the same offsets
    first = [i for i in range(n) if feats["example_index"][i] == 0]
    for a, b in zip(first, first[1:]):
        step = feats["window_start"][b] - feats["window_start"][a]
        assert step == 16
        oa, ob = feats["offsets"][a], feats["offsets"][b]
        assert (oa[step:] == ob[: len(oa) - step]).all()
    preds = FAM.decode(task, _gold_logits(feats), feats, [long_ex, short_ex])
    assert preds == ["red cat", "dog"]
    assert FAM.score(task, preds, [long_ex, short_ex]) == {"exact_match": 100.0, "f1": 100.0, "em_f1_mean": 100.0}
    if prefix:  # the prefix's own tokens are never part of an answer
        k = feats["context_start"][n - 1]
        assert (feats["offsets"][n - 1][: len(tok(prefix, add_special_tokens=False)["input_ids"])] == -1).all()
        assert feats["input_ids"][n - 1][k] == tok(prefix, add_special_tokens=False)["input_ids"][0]


def test_question_cut_and_collate(tok):
    task = get_task("squad")
    ex = QAExample("q", " ".join(["alpha"] * 100), "cat dog bird", ("dog",), (4,))
    feats = FAM.featurize(task, [ex], tok, 128, "", {"max_query_length": 10})
    ids = feats["input_ids"][0]
    assert ids[:12] == [tok.cls_token_id] + [tok.convert_tokens_to_ids("alpha")] * 10 + [tok.sep_token_id]
    # a question longer than half the room is cut to leave space for the context
    feats2 = FAM.featurize(task, [ex], tok, 24, "", {})
    assert tok.convert_ids_to_tokens(feats2["input_ids"][0]).count("alpha") == (24 - 3) // 2
    both = FAM.featurize(task, [ex, QAExample("r", "red", "cat", ("cat",), (0,))], tok, 128, "", {})
    batch = FAM.collate(both, [0, 1], tok.pad_token_id)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, len(both["input_ids"][0]))
    assert batch["start_positions"].tolist() == both["start_positions"] and batch["attention_mask"][1].sum() == 5
    assert FAM.feature_length(both, 1) == 5
    assert QAOptions().model_dump() == {"doc_stride": 128, "max_query_length": 64, "n_best_size": 20,
                                        "max_answer_length": 30, "version_2_with_negative": None,
                                        "null_score_diff_threshold": 0.0}


def test_head_shapes_and_loss(tok):
    task = get_task("squad")
    head = FAM.build_head(task, 8, 0.1)
    hidden = torch.randn(2, 5, 8)
    batch = {"attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
             "start_positions": torch.tensor([1, 0]), "end_positions": torch.tensor([2, 0])}
    out = FAM.logits(head, hidden, batch)
    assert out.shape == (2, 5, 2) and (out[1, 3:] < -1e8).all()
    loss, logits = FAM.loss(head, hidden, batch)
    want = (torch.nn.functional.cross_entropy(out[..., 0], batch["start_positions"])
            + torch.nn.functional.cross_entropy(out[..., 1], batch["end_positions"])) / 2
    assert torch.allclose(loss, want) and logits.shape == (2, 5, 2)


def test_decode_max_answer_length_and_max_context(tok):
    task = get_task("squad")
    ctx = " ".join(f"w{i}" for i in range(60))
    ex = QAExample("q", "red", ctx, ("w1",), (ctx.index("w1"),))
    feats = FAM.featurize(task, [ex], tok, 32, "", {"doc_stride": 8, "max_answer_length": 3})
    n = len(feats["input_ids"])
    assert n > 3
    cs = feats["context_start"]
    outs = [torch.full((len(ids), 2), -5.0) for ids in feats["input_ids"]]
    # window 0: best start w2, best end w9 (span too long: 8 tokens); second best end w4 -> "w2 w3 w4"
    outs[0][cs[0] + 2, 0] = 4.0
    outs[0][cs[0] + 9, 1] = 5.0
    outs[0][cs[0] + 4, 1] = 3.0
    assert FAM.decode(task, outs, feats, [ex]) == ["w2 w3 w4"]
    # a start scored high in window 1 near its left edge, where window 0 gives the token more context, is skipped
    g = feats["window_start"][1] + 1  # global token index of the 2nd context token of window 1 (= w9)
    outs[1][cs[1] + 1, 0] = 9.0
    outs[1][cs[1] + 2, 1] = 9.0
    assert FAM.decode(task, outs, feats, [ex]) == ["w2 w3 w4"]
    # ... but taken in the middle of window 1, where it has the most context
    mid = (len(feats["offsets"][1])) // 2
    outs[1][cs[1] + mid, 0] = 9.0
    outs[1][cs[1] + mid, 1] = 9.0
    assert FAM.decode(task, outs, feats, [ex]) == [f"w{feats['window_start'][1] + mid}"]
    assert g == 9


def test_decode_squad2_null_threshold(tok):
    ctx = "cat dog bird fish"
    ex = QAExample("q", "red", ctx, (), (), is_impossible=True)
    task = get_task("squad2")
    feats = FAM.featurize(task, [ex], tok, 64, "", {})
    assert feats["start_positions"] == [0] and feats["qa_options"][0]["version_2_with_negative"] is True
    cs = feats["context_start"][0]
    out = torch.full((len(feats["input_ids"][0]), 2), -5.0)
    out[0, :] = 2.0  # null score 4
    out[cs + 1, 0] = out[cs + 1, 1] = 1.5  # best span "dog" scores 3
    assert FAM.decode(task, [out], feats, [ex]) == [""]  # 4 - 3 > 0
    feats_t = FAM.featurize(task, [ex], tok, 64, "", {"null_score_diff_threshold": 1.5})
    assert FAM.decode(task, [out], feats_t, [ex]) == ["dog"]  # 4 - 3 <= 1.5
    # SQuAD v1.1 never predicts "no answer"; v2 behaviour can be forced with the option
    v1 = get_task("squad")
    assert FAM.decode(v1, [out], FAM.featurize(v1, [ex], tok, 64, "", {}), [ex]) == ["dog"]
    forced = FAM.featurize(v1, [ex], tok, 64, "", {"version_2_with_negative": True})
    assert FAM.decode(v1, [out], forced, [ex]) == [""]
    scores = FAM.score(task, [""], [ex])
    assert scores["exact_match"] == scores["f1"] == 100.0 and scores["no_ans_total"] == 1


def test_decode_across_featurize_chunks(tok):
    """The pipeline featurizes in chunks and concatenates: example_index restarts; decode still maps by id."""
    task = get_task("squad")
    exs = [QAExample(f"q{i}", "red", "cat dog bird", ("dog",), (4,)) for i in range(3)]
    a, b = FAM.featurize(task, exs[:2], tok, 64, "", {}), FAM.featurize(task, exs[2:], tok, 64, "", {})
    feats = {k: a[k] + b[k] for k in a}
    assert feats["example_index"] == [0, 1, 0]
    assert FAM.decode(task, _gold_logits(feats), feats, exs) == ["dog"] * 3
    dup = [QAExample("same", "red", "cat dog bird", ("dog",), (4,)) for _ in range(3)]  # ids not unique
    assert FAM.decode(task, _gold_logits(feats), {**feats, "example_id": ["same"] * 3}, dup) == ["dog"] * 3


def test_prediction_file():
    task = get_task("xquad")
    exs = [QAExample("a1", "q", "c", ("c",), (0,)), QAExample("a2", "q", "c", ("c",), (0,))]
    name, content = FAM.prediction_file(task, "test", "de", ["Straße", ""], exs)
    assert name == "test-de.json" and json.loads(content) == {"a1": "Straße", "a2": ""}


def test_mlqa_scores_with_the_language():
    ex = QAExample("z", "q", "北京大学医学部", ("北京大学医学部",), (0,), language="zh")
    out = FAM.score(get_task("mlqa"), ["北京大学"], [ex])
    assert out["f1"] == pytest.approx(100 * 8 / 11) and out["exact_match"] == 0.0


# ------------------------------------------------------------------------------------------------ learning
def test_tiny_encoder_learns_toy_spans(tiny, tok, one_thread):
    from accelerate import Accelerator

    from xstilts.config import TrainConfig
    from xstilts.models.backbone import load_encoder
    from xstilts.train import MultiTaskModel, TaskData, predict, train

    task = get_task("squad")
    rng = random.Random(0)

    def examples(n, tag):
        out = []
        for i in range(n):
            q, c, a = toy_example(rng, f"{tag}{i}")
            out.append(QAExample(f"{tag}{i}", q, c, (a,), (c.index("yes " + a) + 4,)))
        return out

    train_ex, test_ex = examples(600, "tr"), examples(100, "te")
    ftr = FAM.featurize(task, train_ex, tok, 64, "", {})
    fte = FAM.featurize(task, test_ex, tok, 64, "", {})
    torch.manual_seed(0)
    model = MultiTaskModel(load_encoder(str(tiny)), {"squad": FAM.build_head(task, 32, 0.1)})
    acc = Accelerator(cpu=True)

    def f1():
        out = predict(model, TaskData("squad", task, FAM, fte, test_ex), batch_size=64, accelerator=acc, pad_id=0)
        return FAM.score(task, FAM.decode(task, out, fte, test_ex), test_ex)["f1"]

    before = f1()
    # random batches: 600 examples are fewer than one length-grouping mega-batch (50 batches), so grouped batches
    # would repeat the same length bands every epoch (see xstilts.data.length_grouped_order)
    hp = TrainConfig(max_steps=300, lr=5e-3, batch_size=32, warmup_ratio=0.1, weight_decay=0.0, log_every=20,
                     batching="random")
    hist = train(model, [TaskData("squad", task, FAM, ftr, train_ex)], hp, seed=1, accelerator=acc, pad_id=0)
    after = f1()
    curve = [loss for _, loss in hist["loss_curve"]]
    assert curve[-1] < 0.6 * curve[0], curve
    assert after > 60 and after > before + 40, (before, after)


# ------------------------------------------------------------------------------------------------ pipeline
def test_pipeline_squad_then_xquad(tmp_path, tiny, monkeypatch, one_thread):
    from xstilts.config import validate_config
    from xstilts.io import read_json
    from xstilts.experiment import run as run_experiment

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    rng = random.Random(1)
    data = tmp_path / "data"
    write_json(data / "squad" / "train-v1.1.json", squad_doc(toy_paragraphs(rng, 200, "s")))
    write_json(data / "squad" / "dev-v1.1.json", squad_doc(toy_paragraphs(rng, 30, "sd")))
    for lang in ("en", "de"):
        write_json(data / "xquad" / f"xquad.{lang}.json", squad_doc(toy_paragraphs(rng, 25, f"x{lang}")))
    cfg = validate_config({
        "name": "qa", "output_dir": str(tmp_path / "runs"), "seeds": [3], "with_baseline": False, "device": "cpu",
        "num_threads": 1,
        "model": {"name_or_path": str(tiny), "max_length": 48},
        "intermediate": {"tasks": [{"task": "squad", "data_dir": str(data / "squad"), "max_eval_examples": 20}],
                         "max_steps": 30, "lr": 3e-3, "batch_size": 16, "log_every": 10},
        "target": {"tasks": [{"task": "xquad", "data_dir": str(data / "xquad"), "languages": ["en", "de"],
                              "options": {"doc_stride": 16, "max_answer_length": 5}}],
                   "max_steps": 30, "lr": 3e-3, "batch_size": 16, "log_every": 10},
    })
    assert cfg.target.tasks[0].options["doc_stride"] == 16
    run_experiment(cfg)
    run = read_json(tmp_path / "runs" / "qa" / "stilts-seed3" / "run.json")
    m = run["tasks"]["xquad"]
    assert m["metric"] == "f1" and set(m["languages"]) == {"en", "de"}
    for lang, s in m["languages"].items():
        assert set(s) >= {"exact_match", "f1", "em_f1_mean", "n"} and s["n"] == 25 and 0 <= s["f1"] <= 100
    assert m["average"] == pytest.approx((m["languages"]["en"]["f1"] + m["languages"]["de"]["f1"]) / 2)
    inter = Path(run["phases"][0]["dir"])
    assert "f1" in read_json(inter / "metrics.json")["dev"]["squad"]["en"]
    assert json.loads((inter / "predictions" / "squad" / "dev-en.json").read_text()).keys() == \
        {f"sd{i}" for i in range(20)}
    target = Path(run["phases"][1]["dir"])
    preds = json.loads((target / "predictions" / "xquad" / "test-de.json").read_text(encoding="utf-8"))
    assert set(preds) == {f"xde{i}" for i in range(25)} and all(isinstance(v, str) for v in preds.values())


def test_config_rejects_bad_qa_options(tiny):
    from xstilts.config import validate_config
    from xstilts.errors import ConfigError

    with pytest.raises(ConfigError, match="options.doc_stride"):
        validate_config({"model": {"name_or_path": str(tiny)},
                         "target": {"tasks": [{"task": "mlqa", "options": {"doc_stride": 0}}]}})
    with pytest.raises(ConfigError, match="options.n_best"):
        validate_config({"model": {"name_or_path": str(tiny)},
                         "target": {"tasks": [{"task": "tydiqa", "options": {"n_best": 3}}]}})
