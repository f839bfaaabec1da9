"""Multiple-choice tasks: readers on small official-format files, featurisation and collation, a tiny encoder that
learns a toy task, and an end-to-end run (intermediate CommonsenseQA, target XCOPA)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from xstilts.experiment import run as run_experiment, training

from fixtures import WORDS
from xstilts.config import TaskSpec, TrainConfig, validate_config
from xstilts.errors import ConfigError, DataFormatError, MissingDataError, XstiltsError
from xstilts.tasks import get_family, get_task
from xstilts.tasks.families.multiple_choice import MCExample
from xstilts.tasks.xcopa import discover_xcopa_languages

FAM = get_family("multiple_choice")


def read(task: str, data_dir: Path, split: str, language: str = "en", **kw):
    return get_task(task).read(data_dir, split, language, **kw)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


# --------------------------------------------------------------------------- toy data in the official formats
def _words(rng, k=(2, 5)):
    return " ".join(rng.choices(WORDS[:30], k=rng.randint(*k)))


def toy_mc(rng: random.Random, n_choices: int) -> tuple[str, list[str], int]:
    """A learnable item: the correct choice is the one that contains 'yes' (the others contain 'no')."""
    label = rng.randrange(n_choices)
    choices = []
    for c in range(n_choices):
        w = _words(rng).split()
        w.insert(rng.randint(0, len(w)), "yes" if c == label else "no")
        choices.append(" ".join(w))
    return _words(rng, (3, 6)), choices, label


def write_csqa(root: Path, n_train=200, n_dev=40, seed=0) -> Path:
    rng = random.Random(seed)
    for name, n in (("train_rand_split.jsonl", n_train), ("dev_rand_split.jsonl", n_dev)):
        rows = []
        for i in range(n):
            q, ch, y = toy_mc(rng, 5)
            rows.append({"answerKey": "ABCDE"[y], "id": f"q{i}",
                         "question": {"question_concept": "x", "stem": q,
                                      "choices": [{"label": k, "text": t} for k, t in zip("ABCDE", ch)]}})
        write(root / name, jsonl(rows))
    return root


def copa_rows(rng, n, lang="en"):
    rows = []
    for i in range(n):
        p, ch, y = toy_mc(rng, 2)
        rows.append({"premise": p, "choice1": ch[0], "choice2": ch[1], "question": rng.choice(["cause", "effect"]),
                     "label": y, "idx": i, **({"changed": False} if lang != "en" else {})})
    return rows


def write_xcopa(root: Path, langs=("et", "sw"), n_copa=120, n_siqa=120, n_test=40, seed=0) -> Path:
    """cambridgeltl/xcopa layout (data/{lang}/{val,test}.{lang}.jsonl), COPA as XTREME-R renames it
    (train.en.jsonl, val.en.jsonl) and SIQa (socialiqa-train-dev) in a sibling folder siqa/ as in XTREME-R's
    download/ folder."""
    rng = random.Random(seed)
    xc = root / "xcopa"
    for lang in langs:
        for split in ("val", "test"):
            write(xc / "data" / lang / f"{split}.{lang}.jsonl", jsonl(copa_rows(rng, n_test, lang)))
    write(xc / "train.en.jsonl", jsonl(copa_rows(rng, n_copa)))
    write(xc / "val.en.jsonl", jsonl(copa_rows(rng, 20)))
    rows, labels = [], []
    for _ in range(n_siqa):
        c, ch, y = toy_mc(rng, 3)
        rows.append({"context": c, "question": _words(rng), "answerA": ch[0], "answerB": ch[1], "answerC": ch[2]})
        labels.append(str(y + 1))
    write(root / "siqa" / "socialiqa-train-dev" / "train.jsonl", jsonl(rows))
    write(root / "siqa" / "socialiqa-train-dev" / "train-labels.lst", "".join(x + "\n" for x in labels))
    return xc


# ------------------------------------------------------------------------------------------------- readers
def test_hellaswag_reader(tmp_path):
    row = {"ind": 4, "activity_label": "Removing ice", "ctx_a": "A man is on a roof.", "ctx_b": "he",
           "ctx": "A man is on a roof. he", "split": "val", "split_type": "indomain", "label": 3,
           "endings": ["a", "b", "c", "d"], "source_id": "x"}
    write(tmp_path / "hellaswag_val.jsonl", jsonl([row, {**row, "ind": 5, "ctx_b": "", "label": 0}]))
    ex = read("hellaswag", tmp_path, "dev")
    assert ex[0] == MCExample("4", "A man is on a roof.", "", ("he a", "he b", "he c", "he d"), 3)
    assert ex[0].prompt == "A man is on a roof."
    assert ex[1].choices == ("a", "b", "c", "d") and ex[1].label == 0
    # the concatenated text is ctx + " " + ending, as in the official preprocessing
    assert f"{ex[0].prompt} {ex[0].choices[2]}" == row["ctx"] + " c"
    test_row = {k: v for k, v in row.items() if k != "label"}
    write(tmp_path / "hellaswag_test.jsonl", jsonl([test_row]))
    assert read("hellaswag", tmp_path, "test")[0].label == -1

    write(tmp_path / "hellaswag_train.jsonl", jsonl([row, {**row, "endings": ["a", "b", "c"]}]))
    with pytest.raises(DataFormatError, match=r"hellaswag_train\.jsonl:2: expected 4 endings, got 3"):
        read("hellaswag", tmp_path, "train")
    write(tmp_path / "hellaswag_train.jsonl", jsonl([row, row, {**row, "label": 4}]))
    with pytest.raises(DataFormatError, match=r"hellaswag_train\.jsonl:3: label 4 is not a choice"):
        read("hellaswag", tmp_path, "train")
    write(tmp_path / "hellaswag_train.jsonl", jsonl([row, '{"ctx_a": "x", ']))
    with pytest.raises(DataFormatError, match=r"hellaswag_train\.jsonl:2: invalid JSON"):
        read("hellaswag", tmp_path, "train")
    write(tmp_path / "hellaswag_train.jsonl", jsonl([test_row]))
    with pytest.raises(DataFormatError, match=r":1: missing key\(s\) label"):
        read("hellaswag", tmp_path, "train")
    with pytest.raises(MissingDataError, match="hellaswag_val.jsonl"):
        read("hellaswag", tmp_path / "nothing", "dev")


COSMOS_HEADER = "id,context,question,answer0,answer1,answer2,answer3,label"


def test_cosmosqa_csv_reader(tmp_path):
    text = (COSMOS_HEADER + "\n"
            'a1,"It was late, and ""cold"".\nWe left.",Why?,None of the above choices .,b,c,d,2\n'
            "a2,ctx,q,w,x,y,z,0\n")
    write(tmp_path / "train.csv", text)
    ex = read("cosmosqa", tmp_path, "train")
    (tmp_path / "crlf").mkdir()
    (tmp_path / "crlf" / "train.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert [e.guid for e in read("cosmosqa", tmp_path / "crlf", "train")] == ["a1", "a2"]
    assert ex[0] == MCExample("a1", 'It was late, and "cold".\nWe left.', "Why?",
                              ("None of the above choices .", "b", "c", "d"), 2)
    assert ex[0].prompt == 'It was late, and "cold".\nWe left. Why?'
    assert ex[1].label == 0
    # record 3 starts on line 5 (record 1 spans lines 2-3): errors name the line where the record starts
    write(tmp_path / "valid.csv", text + "a3,ctx,q,w,x,y,z,4\n")
    with pytest.raises(DataFormatError, match=r"valid\.csv:5: label 4 is not a choice number from 0 to 3"):
        read("cosmosqa", tmp_path, "dev")
    write(tmp_path / "valid.csv", text + "a3,ctx,q,w,x,y,0\n")
    with pytest.raises(DataFormatError, match=r"valid\.csv:5: expected 8 comma-separated fields"):
        read("cosmosqa", tmp_path, "dev")
    write(tmp_path / "valid.csv", text + 'a3,"ctx,q,w,x,y,z,0\n')
    with pytest.raises(DataFormatError, match=r"valid\.csv:5: malformed CSV"):
        read("cosmosqa", tmp_path, "dev")
    write(tmp_path / "valid.csv", "id,context,question,answer0\n")
    with pytest.raises(DataFormatError, match=r"valid\.csv:1: expected a header .* missing answer1"):
        read("cosmosqa", tmp_path, "dev")
    (tmp_path / "valid.csv").write_bytes(COSMOS_HEADER.encode() + b"\na,\xff,q,w,x,y,z,0\n")
    with pytest.raises(DataFormatError, match=r"valid\.csv:2: invalid UTF-8"):
        read("cosmosqa", tmp_path, "dev")


def test_cosmosqa_jsonl_variant(tmp_path):
    row = {"id": "t1", "context": "c", "question": "q", "answer0": "a", "answer1": "b", "answer2": "c",
           "answer3": "d"}
    write(tmp_path / "test.jsonl", jsonl([row]))
    assert read("cosmosqa", tmp_path, "test")[0] == MCExample("t1", "c", "q", ("a", "b", "c", "d"), -1)
    write(tmp_path / "valid.jsonl", jsonl([{**row, "label": 1}]))
    assert read("cosmosqa", tmp_path, "dev")[0].label == 1
    write(tmp_path / "valid.jsonl", jsonl([{**row, "label": 1}, row]))
    with pytest.raises(DataFormatError, match=r"valid\.jsonl:2: missing label"):
        read("cosmosqa", tmp_path, "dev")


def test_commonsenseqa_reader(tmp_path):
    q = {"answerKey": "B", "id": "x1", "question": {"question_concept": "c", "stem": "Where?", "choices": [
        {"label": "A", "text": "a"}, {"label": "B", "text": "b"}, {"label": "C", "text": "c"},
        {"label": "D", "text": "d"}, {"label": "E", "text": "e"}]}}
    write(tmp_path / "dev_rand_split.jsonl", jsonl([q]))
    assert read("commonsenseqa", tmp_path, "dev") == [MCExample("x1", "", "Where?", ("a", "b", "c", "d", "e"), 1)]
    assert read("csqa", tmp_path, "dev")[0].prompt == "Where?"
    test = {k: v for k, v in q.items() if k != "answerKey"}
    write(tmp_path / "test_rand_split_no_answers.jsonl", jsonl([test]))
    assert read("commonsenseqa", tmp_path, "test")[0].label == -1
    write(tmp_path / "train_rand_split.jsonl", jsonl([q, {**q, "answerKey": "F"}]))
    with pytest.raises(DataFormatError, match=r"train_rand_split\.jsonl:2: answerKey 'F'"):
        read("commonsenseqa", tmp_path, "train")
    four = {**q, "question": {**q["question"], "choices": q["question"]["choices"][:4]}}
    write(tmp_path / "train_rand_split.jsonl", jsonl([four]))
    with pytest.raises(DataFormatError, match=r"train_rand_split\.jsonl:1: expected 5 choices, got 4"):
        read("commonsenseqa", tmp_path, "train")
    write(tmp_path / "train_rand_split.jsonl", jsonl([q, test]))
    with pytest.raises(DataFormatError, match=r":2: answerKey None"):
        read("commonsenseqa", tmp_path, "train")


def test_siqa_reader_both_layouts(tmp_path):
    row = {"context": "Tracy went out.", "question": "Why?", "answerA": "a", "answerB": "b", "answerC": "c"}
    d = tmp_path / "official"
    write(d / "socialiqa-train-dev" / "dev.jsonl", jsonl([row, row]))
    write(d / "socialiqa-train-dev" / "dev-labels.lst", "3\n1\n")
    ex = read("siqa", d, "dev")
    assert [e.label for e in ex] == [2, 0] and ex[0].prompt == "Tracy went out. Why?"
    assert ex[0].choices == ("a", "b", "c")
    write(d / "socialiqa-train-dev" / "dev-labels.lst", "3\n4\n")
    with pytest.raises(DataFormatError, match=r"dev-labels\.lst:2: label 4 is not a choice number from 1 to 3"):
        read("siqa", d, "dev")
    write(d / "socialiqa-train-dev" / "dev-labels.lst", "3\n")
    with pytest.raises(DataFormatError, match=r"dev\.jsonl:2: 1 labels for 2 examples"):
        read("siqa", d, "dev")
    v14 = tmp_path / "v14"
    write(v14 / "socialIQa_v1.4_trn.jsonl", jsonl([{**row, "correct": "B"}, {**row, "correct": "D"}]))
    with pytest.raises(DataFormatError, match=r"socialIQa_v1\.4_trn\.jsonl:2: 'correct' 'D'"):
        read("siqa", v14, "train")
    write(v14 / "socialIQa_v1.4_trn.jsonl", jsonl([{**row, "correct": "B"}]))
    assert read("siqa", v14, "train")[0].label == 1
    with pytest.raises(MissingDataError, match="Social IQa"):
        read("siqa", tmp_path / "none", "train")


def test_xcopa_reader_layouts_and_training_sources(tmp_path):
    xc = write_xcopa(tmp_path, langs=("et", "qu"), n_copa=7, n_siqa=5, n_test=4)
    et = read("xcopa", xc, "test", "et")
    assert len(et) == 4 and all(len(e.choices) == 2 for e in et)
    row = json.loads((xc / "data" / "et" / "test.et.jsonl").read_text().splitlines()[0])
    # run_xcopa.py: first segment f"{premise} What was the {question}?"
    assert et[0].prompt == f"{row['premise']} What was the {row['question']}?"
    assert et[0].choices == (row["choice1"], row["choice2"]) and et[0].label == row["label"]
    assert len(read("xcopa", xc, "dev", "qu")) == 4
    assert len(read("xcopa", xc, "dev", "en")) == 20  # COPA validation set
    # training data: SIQa and/or COPA
    assert len(read("xcopa", xc, "train")) == 12  # default siqa+copa
    assert len(read("xcopa", xc, "train", options={"train_on": "copa"})) == 7
    siqa = read("xcopa", xc, "train", options={"train_on": "siqa"})
    assert len(siqa) == 5 and {len(e.choices) for e in siqa} == {3}
    # XTREME-R's flat download/xcopa layout and SuperGLUE's COPA/ folder
    flat = tmp_path / "other" / "flat"
    write(flat / "test.tr.jsonl", (xc / "data" / "et" / "test.et.jsonl").read_text())
    write(flat / "COPA" / "train.jsonl", (xc / "train.en.jsonl").read_text())
    assert len(read("xcopa", flat, "test", "tr")) == 4
    assert len(read("xcopa", flat, "train", options={"train_on": "copa"})) == 7
    with pytest.raises(MissingDataError, match="train_on: copa"):
        read("xcopa", flat, "train")
    assert discover_xcopa_languages(xc) == ["et", "qu"] and discover_xcopa_languages(flat) == ["tr"]
    with pytest.raises(MissingDataError, match=r"test\.sw\.jsonl"):
        read("xcopa", xc, "test", "sw")


@pytest.mark.parametrize("change, message", [
    ({"label": 2}, r"test\.et\.jsonl:3: label 2 is not a choice number from 0 to 1"),
    ({"question": "why"}, r"test\.et\.jsonl:3: question 'why' is not 'cause' or 'effect'"),
    ({"choice3": "x"}, r"test\.et\.jsonl:3: expected 2 choices"),
    ({"choice2": None}, r"test\.et\.jsonl:3: 'choice2' must be a string"),
])
def test_xcopa_malformed(tmp_path, change, message):
    xc = write_xcopa(tmp_path, langs=("et",), n_copa=2, n_siqa=2, n_test=4)
    path = xc / "data" / "et" / "test.et.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[2].update(change)
    write(path, jsonl(rows))
    with pytest.raises(DataFormatError, match=message):
        read("xcopa", xc, "test", "et")


def test_xcopa_declaration_and_options():
    t = get_task("xcopa")
    assert t.languages == tuple("et ht id it qu sw ta th tr vi zh".split()) and t.metric == "accuracy"
    spec = TaskSpec(task="xcopa", options={"train_on": "copa"})
    assert spec.options == {"train_on": "copa"}
    with pytest.raises(Exception, match="train_on"):
        TaskSpec(task="xcopa", options={"train_on": "swag"})
    with pytest.raises(Exception, match="doc_stride"):
        TaskSpec(task="xcopa", options={"doc_stride": 3})


# --------------------------------------------------------------------------------------- features and batches
def test_featurize_and_collate_shapes(tiny_model):
    from xstilts.models.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    assert "token_type_ids" not in FAM.featurize(get_task("hellaswag"), [MCExample("a", "x", "", ("y", "z"), 0)],
                                                 tok, 64, "", {})
    tok.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]  # as BERT tokenizers: segment ids
    task = get_task("hellaswag")
    rng = random.Random(0)
    ex = []
    for i in range(5):
        p, ch, y = toy_mc(rng, 4)
        ex.append(MCExample(str(i), p, "", tuple(ch), y))
    feats = FAM.featurize(task, ex, tok, 64, "", {})
    assert len(feats["input_ids"]) == 5 and all(len(g) == 4 for g in feats["input_ids"])
    assert feats["input_ids"][1][2] == tok(ex[1].prompt, ex[1].choices[2])["input_ids"]
    assert FAM.feature_length(feats, 1) == max(len(s) for s in feats["input_ids"][1])
    b = FAM.collate(feats, [0, 3, 4], tok.pad_token_id)
    L = max(len(s) for i in (0, 3, 4) for s in feats["input_ids"][i])
    assert b["input_ids"].shape == b["attention_mask"].shape == b["token_type_ids"].shape == (12, L)
    assert b["label"].tolist() == [ex[i].label for i in (0, 3, 4)] and b["choice_mask"].all()
    assert b["num_choices"].tolist() == [4, 4, 4]
    # row r*C + c is choice c of example r, right-padded
    s = feats["input_ids"][3][1]
    assert b["input_ids"][4 + 1, : len(s)].tolist() == s and b["attention_mask"][5].sum() == len(s)
    assert b["token_type_ids"][5, : len(s)].tolist() == tok(ex[3].prompt, ex[3].choices[1])["token_type_ids"]
    # truncation is longest-first over (prompt, choice): the short choice survives whole
    long = MCExample("l", " ".join(["alpha"] * 100), "", ("yes cat", "no dog"), 0)
    f = FAM.featurize(task, [long], tok, 16, "", {})
    assert all(len(s) == 16 for s in f["input_ids"][0])
    assert f["input_ids"][0][0][-3:] == tok("yes cat", add_special_tokens=False)["input_ids"] + [tok.sep_token_id]
    with pytest.raises(ConfigError, match="train_on"):
        FAM.featurize(task, ex, tok, 64, "", {"train_on": "copa"})


def test_xcopa_and_siqa_encoding_match_run_xcopa(tmp_path, tiny_model):
    """The sequences equal XTREME-R's run_xcopa.py preprocess_function: tokenizer(first_sentences,
    second_sentences, truncation=True, max_length=...) with f"{premise} What was the {question}?" (xcopa) and
    f"{context} {question}" (siqa) repeated per choice."""
    from xstilts.models.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    xc = write_xcopa(tmp_path, langs=("et",), n_copa=3, n_siqa=3, n_test=5)
    rows = [json.loads(x) for x in (xc / "data" / "et" / "test.et.jsonl").read_text().splitlines()]
    firsts = [f"{r['premise']} What was the {r['question']}?" for r in rows for _ in range(2)]
    seconds = [r[k] for r in rows for k in ("choice1", "choice2")]
    want = tok(firsts, seconds, truncation=True, max_length=12)["input_ids"]
    feats = FAM.featurize(get_task("xcopa"), read("xcopa", xc, "test", "et"), tok, 12, "", {})
    assert [s for g in feats["input_ids"] for s in g] == want
    siqa_rows = [json.loads(x) for x in (tmp_path / "siqa" / "socialiqa-train-dev" / "train.jsonl").read_text()
                 .splitlines()]
    firsts = [f"{r['context']} {r['question']}" for r in siqa_rows for _ in range(3)]
    seconds = [r[k] for r in siqa_rows for k in ("answerA", "answerB", "answerC")]
    want = tok(firsts, seconds, truncation=True, max_length=16)["input_ids"]
    ex = read("xcopa", xc, "train", options={"train_on": "siqa"})
    assert [s for g in FAM.featurize(get_task("xcopa"), ex, tok, 16, "", {})["input_ids"] for s in g] == want


def test_hugging_face_conversions():
    conv = {name: get_task(name).hf.convert for name in ("hellaswag", "cosmosqa", "commonsenseqa", "siqa", "xcopa")}
    h = conv["hellaswag"]({"ind": 7, "ctx_a": "A man.", "ctx_b": "he", "ctx": "A man. he", "endings": list("abcd"),
                           "label": "2"}, 0)
    assert h == MCExample("7", "A man.", "", ("he a", "he b", "he c", "he d"), 2)
    assert conv["hellaswag"]({"ctx_a": "x", "ctx_b": "", "endings": list("abcd"), "label": ""}, 3).label == -1
    c = conv["cosmosqa"]({"id": "i", "context": "c", "question": "q", "answer0": "a", "answer1": "b",
                          "answer2": "c", "answer3": "d", "label": 3}, 0)
    assert c == MCExample("i", "c", "q", ("a", "b", "c", "d"), 3)
    q = conv["commonsenseqa"]({"id": "j", "question": "Where?", "question_concept": "x", "answerKey": "C",
                               "choices": {"label": list("ABCDE"), "text": list("vwxyz")}}, 0)
    assert q == MCExample("j", "", "Where?", tuple("vwxyz"), 2)
    s = conv["siqa"]({"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c",
                      "label": "3"}, 5)
    assert s.label == 2 and s.prompt == "c q"
    x = conv["xcopa"]({"premise": "p", "choice1": "a", "choice2": "b", "question": "effect", "label": 1, "idx": 9}, 0)
    assert x == MCExample("9", "p", "What was the effect?", ("a", "b"), 1)


def test_mixed_choice_counts_are_padded_and_masked(tiny_model):
    from xstilts.models.backbone import load_encoder, load_tokenizer
    from xstilts.train import MultiTaskModel

    tok = load_tokenizer(str(tiny_model))
    task = get_task("xcopa")
    ex = [MCExample("a", "cat dog", "", ("yes red", "no blue"), 0),
          MCExample("b", "tree", "", ("no house", "no river stone", "yes pi"), 2),
          MCExample("c", "bird", "", ("no mu", "yes nu"), 1)]
    feats = FAM.featurize(task, ex, tok, 32, "", {})
    b = FAM.collate(feats, [0, 1, 2], tok.pad_token_id)
    assert b["input_ids"].shape[0] == 9 and b["choice_mask"].tolist() == [[True, True, False], [True] * 3,
                                                                          [True, True, False]]
    assert b["num_choices"].tolist() == [2, 3, 2]
    torch.manual_seed(0)
    model = MultiTaskModel(load_encoder(str(tiny_model)), {"x": FAM.build_head(task, 32, 0.1)}).eval()
    head = model.heads["x"]
    with torch.no_grad():
        logits = FAM.logits(head, model(b), b)
        loss, _ = FAM.loss(head, model(b), b)
    assert logits.shape == (3, 3) and torch.isinf(logits[0, 2]) and torch.isinf(logits[2, 2])
    assert torch.isfinite(logits[1]).all() and torch.isfinite(loss)
    # same scores and loss as each example on its own (padding changes nothing)
    singles = []
    for i in range(3):
        bi = FAM.collate(feats, [i], tok.pad_token_id)
        with torch.no_grad():
            li, si = FAM.loss(head, model(bi), bi)
        assert torch.allclose(si[0], logits[i, : len(ex[i].choices)], atol=1e-5)
        singles.append(li)
    assert torch.allclose(loss, torch.stack(singles).mean(), atol=1e-5)
    # gradients stay finite through the masked choices
    model.train()
    loss, _ = FAM.loss(head, model(b), b)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert FAM.decode(task, list(logits), feats, ex) == [int(logits[i].argmax()) for i in range(3)]


def test_head_summary_token():
    from xstilts.models.heads.multiple_choice import MultipleChoiceHead

    head = MultipleChoiceHead(4, 0.0, pooler=False).eval()
    hidden = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1]])
    assert torch.allclose(head(hidden, mask), head.scorer(hidden[:, 0]).squeeze(-1))
    head.summary = "last"  # decoders: the last non-pad token, right or left padding
    assert torch.allclose(head(hidden, mask), head.scorer(torch.stack([hidden[0, 2], hidden[1, 4]])).squeeze(-1))


def test_score_and_prediction_files():
    xc, cs = get_task("xcopa"), get_task("commonsenseqa")
    ex = [MCExample(str(i), "", "", ("a", "b"), y) for i, y in enumerate([0, 1, 1, 0])]
    assert FAM.score(xc, [0, 1, 0, 0], ex) == {"accuracy": 75.0}
    name, text = FAM.prediction_file(xc, "test", "et", [0, 1, 0, 0], ex)
    assert name == "test-et.jsonl" and [json.loads(x) for x in text.splitlines()] == [{"label": 0}, {"label": 1},
                                                                                     {"label": 0}, {"label": 0}]
    name, text = FAM.prediction_file(cs, "dev", "en", [4, 0], ex[:2])
    assert name == "dev-en.tsv" and text == "4\n0\n"
    with pytest.raises(XstiltsError, match="no gold answer"):
        FAM.score(cs, [0], [MCExample("u", "", "q", ("a", "b"), -1)])


# ------------------------------------------------------------------------------------------------- learning


def test_tiny_encoder_learns_toy_multiple_choice(tiny_model, one_thread):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from xstilts.models.backbone import load_encoder, load_tokenizer
    from xstilts.train import MultiTaskModel, TaskData, predict, train

    tok = load_tokenizer(str(tiny_model))
    task = get_task("cosmosqa")

    def data(n, seed):
        rng = random.Random(seed)
        ex = []
        for i in range(n):
            p, ch, y = toy_mc(rng, 4)
            ex.append(MCExample(str(i), p, _words(rng, (1, 2)), tuple(ch), y))
        return TaskData("mc", task, FAM, FAM.featurize(task, ex, tok, 48, "", {}), ex)

    train_data, test_data = data(192, 1), data(120, 2)
    torch.manual_seed(0)
    model = MultiTaskModel(load_encoder(str(tiny_model)), {"mc": FAM.build_head(task, 32, 0.0)})
    AcceleratorState._reset_state(True)
    acc = Accelerator(cpu=True)

    def accuracy():
        out = predict(model, test_data, batch_size=64, accelerator=acc, pad_id=tok.pad_token_id)
        assert all(o.shape == (4,) for o in out)
        preds = FAM.decode(task, out, test_data.features, test_data.examples)
        return FAM.score(task, preds, test_data.examples)["accuracy"]

    before = accuracy()
    hp = TrainConfig(epochs=4, lr=2e-3, batch_size=16, warmup_ratio=0.1, dropout=0.0, log_every=10)
    hist = train(model, [train_data], hp, seed=0, accelerator=acc, pad_id=tok.pad_token_id)
    after = accuracy()
    curve = [loss for _, loss in hist["loss_curve"]]
    assert curve[-1] < 0.5 * curve[0], curve
    assert after >= 70.0 and after > before + 25, (before, after)


# ---------------------------------------------------------------------------------------------- end to end
def _forward_options(monkeypatch):
    """Until xstilts.loading passes ``spec.options`` to readers that declare ``read_options`` (requested change),
    route them here, exactly as proposed, so that the end-to-end run exercises the option."""
    import inspect

    from xstilts import loading

    if "read_options" in inspect.getsource(loading.load_examples):
        return
    real = loading.load_examples

    def load_examples(spec, split, language):
        task = get_task(spec.task)
        folder = loading.task_data_dir(spec)
        if task.read_options and folder.is_dir():
            return task.read(folder, split, language, options=spec.options)
        return real(spec, split, language)

    monkeypatch.setattr(pl, "load_examples", load_examples)


@pytest.mark.parametrize("train_on, n_train", [(None, 160), ("copa", 100)])
def test_pipeline_commonsenseqa_then_xcopa(tmp_path, tiny_model, monkeypatch, one_thread, train_on, n_train):
    _forward_options(monkeypatch)
    csqa = write_csqa(tmp_path / "csqa", n_train=120, n_dev=30)
    xc = write_xcopa(tmp_path / "download", langs=("et", "zh"), n_copa=100, n_siqa=60, n_test=30)
    target = {"task": "xcopa", "data_dir": str(xc), "languages": ["et", "zh"]}
    if train_on:
        target["options"] = {"train_on": train_on}
    cfg = validate_config({
        "name": "mc", "output_dir": str(tmp_path / "runs"), "seeds": [3], "with_baseline": False, "device": "cpu",
        "num_threads": 1,
        "model": {"name_or_path": str(tiny_model), "max_length": 48},
        "intermediate": {"tasks": [{"task": "commonsenseqa", "data_dir": str(csqa)}],
                         "max_steps": 15, "lr": 1e-3, "batch_size": 16, "log_every": 5},
        "target": {"tasks": [target], "max_steps": 15, "lr": 1e-3, "batch_size": 16, "log_every": 5},
    })
    sizes = {}
    real_train = training.train
    monkeypatch.setattr(training, "train", lambda model, datas, *a, **k: sizes.update({d.label: d.size for d in datas})
                        or real_train(model, datas, *a, **k))
    run_experiment(cfg)
    # the training sets the phases used: SIQa + COPA by default for xcopa, COPA alone with train_on: copa
    assert sizes == {"commonsenseqa": 120, "xcopa": n_train}
    run = json.loads((tmp_path / "runs" / "mc" / "stilts-seed3" / "run.json").read_text())
    assert [p["phase"] for p in run["phases"]] == ["intermediate", "target"]
    phases = tmp_path / "runs" / "mc" / "stilts-seed3" / "phases"
    inter = json.loads((phases / "intermediate" / "metrics.json").read_text())
    dev = inter["dev"]["commonsenseqa"]["en"]
    assert 0 <= dev["accuracy"] <= 100 and dev["n"] == 30
    dev_preds = (phases / "intermediate" / "predictions" / "commonsenseqa" / "dev-en.tsv").read_text().splitlines()
    assert len(dev_preds) == 30 and set(dev_preds) <= set("01234")
    m = json.loads((phases / "target-xcopa" / "metrics.json").read_text())
    assert set(m["languages"]) == {"et", "zh"} and m["metric"] == "accuracy"
    assert m["average"] == pytest.approx(sum(v["accuracy"] for v in m["languages"].values()) / 2)
    for lang in ("et", "zh"):
        preds = [json.loads(x) for x in (phases / "target-xcopa" / "predictions" / "xcopa" / f"test-{lang}.jsonl")
                 .read_text().splitlines()]
        assert len(preds) == 30 and {p["label"] for p in preds} <= {0, 1}
        gold = [json.loads(x)["label"] for x in (xc / "data" / lang / f"test.{lang}.jsonl").read_text().splitlines()]
        acc = 100 * sum(p["label"] == g for p, g in zip(preds, gold)) / 30
        assert m["languages"][lang]["accuracy"] == pytest.approx(acc)
    steps = m["train"]["task_steps"]
    assert sum(steps.values()) == 15
