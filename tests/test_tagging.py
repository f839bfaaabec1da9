"""Token tagging (UD-POS, PAN-X, CCG): metrics against hand-computed values, readers on official-format and malformed
files, windowing of long sentences, learning on a toy task, and an end-to-end CCG -> PAN-X run."""

from __future__ import annotations

import json
import random

import pytest
import torch

from fixtures import WORDS
from xstilts.errors import DataFormatError, MissingDataError, XstiltsError
from xstilts.metrics.tagging import ner_f1, token_accuracy, xtreme_pos_f1
from xstilts.tasks import get_family, get_task
from xstilts.tasks.ccg import ccg_labels, read_ccg
from xstilts.tasks.families.tagging import UNKNOWN_TAG, UPOS_LABELS, TaggedExample, read_conllu
from xstilts.tasks.panx import LABELS as PANX_LABELS, read_panx
from xstilts.tasks.udpos import read_udpos

VOCAB = list(WORDS) + [f"w{i}" for i in range(100)]


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _approx(d, **expected):
    for k, v in expected.items():
        assert d[k] == pytest.approx(v), (k, d)


# ------------------------------------------------------------------------------------------------ metrics
def test_ner_f1_conlleval_mode_counts_i_as_begin():
    # gold PER(0,1) LOC(3,3); the prediction starts both entities with I-: conlleval (seqeval's default) reads them
    # as the same entities, seqeval's strict mode would not
    _approx(ner_f1([["B-PER", "I-PER", "O", "B-LOC"]], [["I-PER", "I-PER", "O", "I-LOC"]]),
            f1=100.0, precision=100.0, recall=100.0)
    # a gold span that itself starts with I-
    _approx(ner_f1([["O", "I-ORG", "I-ORG", "O"]], [["O", "B-ORG", "I-ORG", "O"]]), f1=100.0)


def test_ner_f1_adjacent_and_contained_entities_hand_computed():
    gold = [["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC"],  # PER(0,1) PER(2,2) LOC(4,5)
            ["O", "B-ORG", "I-ORG", "I-PER"]]  # ORG(1,2) PER(3,3): I- of a new type begins an entity
    pred = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "O"],  # PER(0,2) (swallows the adjacent one) LOC(4,4)
            ["O", "I-ORG", "I-ORG", "B-PER"]]  # ORG(1,2) PER(3,3)
    # 2 of 4 predicted entities are right, 2 of 5 gold entities found: P 50, R 40, F1 = 2*.5*.4/.9
    _approx(ner_f1(gold, pred), precision=50.0, recall=40.0, f1=100 * 0.4 / 0.9)


def test_ner_f1_all_o_is_zero_like_seqeval():
    _approx(ner_f1([["O", "O"], ["O"]], [["O", "O"], ["O"]]), f1=0.0, precision=0.0, recall=0.0)
    _approx(ner_f1([["O", "O"]], [["B-PER", "O"]]), f1=0.0, precision=0.0, recall=0.0)
    with pytest.raises(ValueError, match="sentence 0"):
        ner_f1([["O", "O"]], [["O"]])


def test_pos_f1_follows_xtremes_seqeval_formula():
    # seqeval reads NOUN as prefix N + type OUN: a run of equal tags is one chunk; S-initial tags (SCONJ, SYM) are
    # singletons; CCONJ and SCONJ share the type CONJ, so CCONJ directly before SCONJ disappears.
    gold = [["NOUN", "NOUN", "VERB", "CCONJ", "SCONJ", "PUNCT"]]  # chunks OUN(0,1) ERB(2,2) CONJ(4,4) UNCT(5,5)
    pred = [["NOUN", "VERB", "VERB", "CCONJ", "SCONJ", "PUNCT"]]  # chunks OUN(0,0) ERB(1,2) CONJ(4,4) UNCT(5,5)
    _approx(xtreme_pos_f1(gold, pred), precision=50.0, recall=50.0, f1=50.0)
    assert token_accuracy(gold, pred) == pytest.approx(500 / 6)
    # one wrong word: a two-word NOUN run loses its only chunk (F1 0), two SYM singletons keep one of two (F1 50)
    _approx(xtreme_pos_f1([["NOUN", "NOUN"]], [["NOUN", "ADJ"]]), f1=0.0)
    _approx(xtreme_pos_f1([["SYM", "SYM"]], [["SYM", "NOUN"]]), precision=50.0, recall=50.0, f1=50.0)
    # X has seqeval's type "_", like the O appended after each sentence: a sentence-final X chunk is never closed,
    # so the wrong prediction below is not even counted (P 1/1, R 1/2, F1 2/3)
    _approx(xtreme_pos_f1([["SYM", "SYM"]], [["SYM", "X"]]), precision=100.0, recall=50.0, f1=200 / 3)
    _approx(xtreme_pos_f1([["DET", "NOUN", "PUNCT"]], [["DET", "NOUN", "PUNCT"]]), f1=100.0)


def test_ccg_accuracy_unknown_gold_tags_are_wrong():
    fam, task = get_family("tagging"), get_task("ccg")
    ex = [TaggedExample("0", ("a", "b"), ("N", "S\\NP")), TaggedExample("1", ("c",), ("NEVER_SEEN",))]
    assert fam.score(task, [["N", "NP"], [UNKNOWN_TAG]], ex) == {"accuracy": pytest.approx(100 / 3)}


def test_prediction_file_reads_back_as_xtreme_evaluate_does(tmp_path):
    fam, task = get_family("tagging"), get_task("panx")
    preds = [["B-PER", "O"], ["O"], ["B-LOC", "I-LOC", "O"]]
    name, content = fam.prediction_file(task, "test", "de", preds, [])
    assert name == "test-de.tsv" and content == "B-PER\nO\n\nO\n\nB-LOC\nI-LOC\nO\n"
    # evaluate.py read_tag: strip each line; a blank line ends a sentence; a last sentence without one is kept
    sents, cur = [], []
    for line in content.splitlines():
        if line.strip():
            cur.append(line.strip())
        else:
            sents.append(cur)
            cur = []
    sents.append(cur) if cur else None
    assert sents == preds


# ------------------------------------------------------------------------------------------------ readers
def test_udpos_xtreme_tsv_and_conllu(tmp_path):
    d = tmp_path / "udpos"
    _write(d / "train-en.tsv", "The\tDET\ncat\tNOUN\n\nRuns\tVERB\n.\tPUNCT")
    ex = read_udpos(d, "train", "en")
    assert [e.words for e in ex] == [("The", "cat"), ("Runs", ".")]
    assert [e.tags for e in ex] == [("DET", "NOUN"), ("VERB", "PUNCT")]
    # XTREME's test files have no tags: the CoNLL-U files of the UD release are used instead
    _write(d / "test-fr.tsv", "Il\nmange\n")
    conllu = ("# sent_id = 1\n# text = Il mange du pain.\n"
              "1\tIl\til\tPRON\t_\t_\t2\tnsubj\t_\t_\n"
              "2\tmange\tmanger\tVERB\t_\t_\t0\troot\t_\t_\n"
              "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
              "3\tde\tde\tADP\t_\t_\t5\tcase\t_\t_\n"
              "4\tle\tle\tDET\t_\t_\t5\tdet\t_\t_\n"
              "4.1\tnull\t_\t_\t_\t_\t_\t_\t_\t_\n"
              "5\tpain\tpain\tNOUN\t_\t_\t2\tobj\t_\t_\n"
              "6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_\n\n"
              "1\t_\t_\tNOUN\t_\t_\t0\troot\t_\t_\n2\t_\t_\tVERB\t_\t_\t1\tdep\t_\t_\n\n"  # no text: dropped
              "1\tsinh viên\t_\tNOUN\t_\t_\t0\troot\t_\t_\n2\tab\u200cc\t_\tX\t_\t_\t1\tdep\t_\t_\n")
    _write(d / "UD_French-GSD" / "fr_gsd-ud-test.conllu", conllu)
    ex = read_udpos(d, "test", "fr")
    assert [e.words for e in ex] == [("Il", "mange", "de", "le", "pain", "."), ("sinhviên", "abc")]
    assert ex[0].tags == ("PRON", "VERB", "ADP", "DET", "NOUN", "PUNCT")
    # without CoNLL-U, an unlabelled test file is an error naming its first line
    with pytest.raises(DataFormatError, match=r"test-de\.tsv:1: expected 2 tab-separated columns"):
        _write(d / "test-de.tsv", "Er\nisst\n")
        read_udpos(d, "test", "de")
    with pytest.raises(MissingDataError, match="test-ja"):
        read_udpos(d, "test", "ja")


@pytest.mark.parametrize("body, line, message", [
    ("1\tA\ta\tNOUN\t_\t_\t0\troot\t_\n", 1, "expected 10 tab-separated CoNLL-U columns"),
    ("1\tA\ta\tNOUN\t_\t_\t0\troot\t_\t_\nx\tB\tb\tNOUN\t_\t_\t1\tdep\t_\t_\n", 2, "bad ID 'x'"),
    ("# c\n1\tA\ta\tNOUN\t_\t_\t0\troot\t_\t_\n3\tB\tb\tNOUN\t_\t_\t1\tdep\t_\t_\n", 3, "out of sequence"),
    ("1\tA\ta\tNOUN\t_\t_\t0\troot\t_\t_\n\n1\tB\tb\tNN\t_\t_\t0\troot\t_\t_\n", 3, "unknown UPOS tag 'NN'"),
])
def test_conllu_errors_name_file_and_line(tmp_path, body, line, message):
    path = _write(tmp_path / "x.conllu", body)
    with pytest.raises(DataFormatError, match=message) as e:
        read_conllu(path)
    assert f"x.conllu:{line}:" in str(e.value)


def test_empty_files_are_errors(tmp_path):
    _write(tmp_path / "u" / "train-en.tsv", "\n\n")
    _write(tmp_path / "p" / "dev-en.tsv", "")
    _write(tmp_path / "c.conllu", "# only a comment\n\n")
    _write(tmp_path / "g" / "ccg.train", "\n")
    for read in (lambda: read_udpos(tmp_path / "u", "train", "en"), lambda: read_panx(tmp_path / "p", "dev", "en"),
                 lambda: read_conllu(tmp_path / "c.conllu"), lambda: read_ccg(tmp_path / "g", "train", "en")):
        with pytest.raises(DataFormatError, match="empty file"):
            read()


def test_panx_processed_and_raw_files(tmp_path):
    d = tmp_path / "panx"
    _write(d / "train-en.tsv", "-DOCSTART-\tO\n\nJohn\tB-PER\nSmith\tI-PER\nvisited\tO\nParis\tB-LOC\n\nOK\tO\n")
    ex = read_panx(d, "train", "en")
    assert [e.words for e in ex] == [("John", "Smith", "visited", "Paris"), ("OK",)]
    assert ex[0].tags == ("B-PER", "I-PER", "O", "B-LOC")
    # raw WikiANN file with lang: prefixes (the prefix is stripped, a colon inside the token is kept)
    _write(d / "de-test", "de:Angela\tB-PER\nde:Merkel\tI-PER\nde:a:b\tO\n\nde:Bonn\tB-LOC\n")
    ex = read_panx(d, "test", "de")
    assert [e.words for e in ex] == [("Angela", "Merkel", "a:b"), ("Bonn",)]
    assert get_task("panx").discover_languages(d) == ["de"]


@pytest.mark.parametrize("name, body, line, message", [
    ("train-en.tsv", "John\tB-PER\nSmith\tI-PER\tx\n", 2, "expected 2 tab-separated columns"),
    ("train-en.tsv", "John\tB-PER\n\nSmith\tB-MISC\n", 3, "unknown tag 'B-MISC'"),
    ("en-train", "en:John\tB-PER\nSmith\tO\n", 2, "expected a token of the form en:token"),
])
def test_panx_errors_name_file_and_line(tmp_path, name, body, line, message):
    _write(tmp_path / name, body)
    with pytest.raises(DataFormatError, match=message) as e:
        read_panx(tmp_path, "train", "en")
    assert f"{name}:{line}:" in str(e.value)


def test_ccg_formats_label_inventory_and_unknown_eval_tags(tmp_path, tiny_model):
    from xstilts.models.backbone import load_tokenizer

    d = tmp_path / "ccg"
    # jiant's words<TAB>supertags lines, and C&C's word|POS|supertag tokens with a header comment
    _write(d / "ccg.train", "alpha cat runs\tN/N N S\\NP\ncat runs\tN S\\NP\nalpha\tN/N\nbeta\tN/N\n")
    _write(d / "dev.stagged", "# this file was generated by the following command(s):\n\n"
                              "alpha|JJ|N/N cat|NN|N runs|VBZ|(S\\NP)/NP\n")
    train = read_ccg(d, "train", "en")
    assert train[0].words == ("alpha", "cat", "runs") and train[0].tags == ("N/N", "N", "S\\NP")
    # frequency order (N/N 3, N 2, S\NP 2 -> alphabetical), the reserved label last
    assert ccg_labels(d) == ("N/N", "N", "S\\NP", UNKNOWN_TAG)
    dev = read_ccg(d, "dev", "en")
    assert dev[0].tags == ("N/N", "N", "(S\\NP)/NP")
    task, fam = get_task("ccg"), get_family("tagging")
    assert fam.build_head(task, 32, 0.1).classifier.out_features == 4
    feats = fam.featurize(task, dev, load_tokenizer(str(tiny_model)), 32, "", {})
    assert [x for x in feats["labels"][0] if x != -100] == [0, 1, 3]  # the unseen supertag -> reserved id
    # an explicit tags_to_id.json fixes the ids; a training supertag missing from it is an error
    _write(d / "tags_to_id.json", json.dumps({"N": 0, "N/N": 1}))
    assert ccg_labels(d) == ("N", "N/N", UNKNOWN_TAG)
    with pytest.raises(DataFormatError, match=r"ccg\.train:1: supertag 'S\\\\NP' is not in tags_to_id.json"):
        read_ccg(d, "train", "en")


@pytest.mark.parametrize("body, line, message", [
    ("a b\tN\n", 1, "2 words but 1 supertags"),
    ("a\tN\nb\tN\tx\n", 2, "expected 2 tab-separated columns"),
    ("a|DT|NP/N b|NN\n", 1, "expected word|POS|supertag tokens, got 'b|NN'"),
])
def test_ccg_errors_name_file_and_line(tmp_path, body, line, message):
    _write(tmp_path / "ccg.train", body)
    with pytest.raises(DataFormatError, match=message) as e:
        read_ccg(tmp_path, "train", "en")
    assert f"ccg.train:{line}:" in str(e.value)


# ------------------------------------------------------------------------------------------------ windowing
def _fake_outputs(feats, n_labels):
    """Per-feature logits whose argmax at word w's first sub-word is w mod n_labels."""
    outs = []
    for ids, start, pos in zip(feats["input_ids"], feats["word_start"], feats["word_positions"]):
        o = torch.zeros(len(ids) + 3, n_labels)  # padded wider, as predict's rows are
        for k, p in enumerate(pos):
            o[p, (start + k) % n_labels] = 1.0
        outs.append(o)
    return outs


@pytest.mark.parametrize("prefix", ["", "passage: "])
def test_long_sentence_gets_one_prediction_per_word_in_order(tiny_model, prefix):
    from xstilts.models.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    task, fam = get_task("panx"), get_family("tagging")
    rng = random.Random(0)
    words = [rng.choice(VOCAB) for _ in range(1000)]
    words[500] = ".".join(["alpha"] * 40)  # one word of 79 sub-words, longer than a window
    long_ex = TaggedExample("long", tuple(words), tuple(rng.choice(PANX_LABELS) for _ in words))
    short = TaggedExample("short", ("cat", "dog"), ("B-PER", "O"))
    examples = [short, long_ex, short]
    feats = fam.featurize(task, examples, tok, 32, prefix, {})
    assert max(len(x) for x in feats["input_ids"]) <= 32
    assert all(len(i) == len(lab) for i, lab in zip(feats["input_ids"], feats["labels"]))
    # windows of whole words cover the long sentence exactly once, in order
    spans = [(a, b) for e, a, b in zip(feats["example_index"], feats["word_start"], feats["word_end"]) if e == 1]
    assert spans[0][0] == 0 and spans[-1][1] == 1000 and all(x[1] == y[0] for x, y in zip(spans, spans[1:]))
    assert (500, 501) in spans  # the over-long word is a window of its own, truncated
    budget = 30 - (2 if prefix else 0)  # [CLS] [SEP], and "passage" ":" as two unlabelled tokens
    assert all(b - a <= budget for a, b in spans) and len(spans) <= 1000 // budget + 4
    # one label per word, on its first sub-word; prefix tokens and specials are ignored
    for lab, pos, a, b in zip(feats["labels"], feats["word_positions"], feats["word_start"], feats["word_end"]):
        assert [i for i, x in enumerate(lab) if x != -100] == pos and len(pos) == b - a
        assert pos[0] == (3 if prefix else 1)
    preds = fam.decode(task, _fake_outputs(feats, len(PANX_LABELS)), feats, examples)
    assert [len(p) for p in preds] == [2, 1000, 2]
    assert preds[1] == [PANX_LABELS[w % len(PANX_LABELS)] for w in range(1000)]
    # featurising in several calls (as the pipeline does, 2,000 examples at a time) decodes the same
    parts = [fam.featurize(task, part, tok, 32, prefix, {}) for part in (examples[:2], examples[2:])]
    joined = {k: parts[0][k] + parts[1][k] for k in parts[0]}
    assert fam.decode(task, _fake_outputs(joined, 7), joined, examples) == preds


def test_label_all_subwords_and_collate(tiny_model):
    from xstilts.config import TaskSpec
    from xstilts.models.backbone import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    task, fam = get_task("panx"), get_family("tagging")
    ex = [TaggedExample("0", ("cat", "alpha.beta", "dog"), ("O", "B-PER", "O")),
          TaggedExample("1", ("w1",), ("B-LOC",))]
    first = fam.featurize(task, ex, tok, 32, "", {})
    every = fam.featurize(task, ex, tok, 32, "", TaskSpec(task="panx", options={"label_all_subwords": True}).options)
    b_per, o = PANX_LABELS.index("B-PER"), 0
    assert first["labels"][0] == [-100, o, b_per, -100, -100, o, -100]  # [CLS] cat alpha . beta dog [SEP]
    assert every["labels"][0] == [-100, o, b_per, b_per, b_per, o, -100]
    assert every["word_positions"] == first["word_positions"] == [[1, 2, 5], [1]]
    batch = fam.collate(first, [1, 0], 0)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape == (2, 7)
    assert batch["labels"][0].tolist() == [-100, PANX_LABELS.index("B-LOC"), -100, -100, -100, -100, -100]
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 0, 0, 0, 0]
    with pytest.raises(Exception, match="label_all_subword"):
        TaskSpec(task="panx", options={"label_all_subword": True})


# ------------------------------------------------------------------------------------------------ learning
def _toy_sentences(n, seed):
    """Tag B-PER for words starting with 'w' (w0..w99, white), else O."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [rng.choice(VOCAB[:30]) if rng.random() < 0.6 else f"w{rng.randrange(100)}"
                 for _ in range(rng.randint(4, 10))]
        out.append(TaggedExample(str(i), tuple(words), tuple("B-PER" if w.startswith("w") else "O" for w in words)))
    return out




def test_tiny_encoder_learns_toy_tagging(tiny_model, one_thread):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from xstilts.config import TrainConfig
    from xstilts.models.backbone import load_encoder, load_tokenizer
    from xstilts.train import MultiTaskModel, TaskData, predict, train

    AcceleratorState._reset_state(True)
    acc = Accelerator(cpu=True)
    tok = load_tokenizer(str(tiny_model))
    task, fam = get_task("panx"), get_family("tagging")

    def data(n, seed):
        ex = _toy_sentences(n, seed)
        return TaskData("panx", task, fam, fam.featurize(task, ex, tok, 32, "", {}), ex)

    train_data, test_data = data(96, 1), data(100, 2)
    torch.manual_seed(0)
    model = MultiTaskModel(load_encoder(str(tiny_model)), {"panx": fam.build_head(task, 32, 0.0)})

    def f1():
        out = predict(model, test_data, batch_size=64, accelerator=acc, pad_id=tok.pad_token_id)
        return fam.score(task, fam.decode(task, out, test_data.features, test_data.examples), test_data.examples)["f1"]

    before = f1()
    hist = train(model, [train_data], TrainConfig(epochs=4, lr=5e-3, batch_size=16, dropout=0.0, log_every=6),
                 seed=0, accelerator=acc, pad_id=tok.pad_token_id)
    after = f1()
    curve = [loss for _, loss in hist["loss_curve"]]
    assert len(curve) == 4 and curve[-1] < 0.5 * curve[0], curve
    assert after >= 90.0 and after > before + 30, (before, after)


# ------------------------------------------------------------------------------------------------ end to end
def _ccg_tag(w):
    return "N" if w in WORDS[:24] else "N/N" if w in WORDS[24:29] else "S\\NP" if w.startswith("w") else "NP"


def test_pipeline_ccg_then_panx(tmp_path, tiny_model, one_thread):
    from xstilts.config import validate_config
    from xstilts.experiment import run as run_experiment

    ccg = tmp_path / "ccg"
    rng = random.Random(3)
    lines = []
    for _ in range(120):
        words = [rng.choice(VOCAB) for _ in range(rng.randint(3, 8))]
        lines.append(" ".join(words) + "\t" + " ".join(_ccg_tag(w) for w in words))
    _write(ccg / "ccg.train", "\n".join(lines) + "\n")
    _write(ccg / "ccg.dev", "\n".join(lines[:20]) + "\ncat w1\tN UNSEEN\n")
    _write(ccg / "ccg.test", "\n".join(lines[:20]) + "\n")

    panx = tmp_path / "panx"

    def block(sents, raw_lang=None):
        return "\n".join("".join(f"{raw_lang + ':' if raw_lang else ''}{w}\t{t}\n" for w, t in zip(s.words, s.tags))
                         for s in sents)

    _write(panx / "train-en.tsv", block(_toy_sentences(200, 1)))
    _write(panx / "dev-en.tsv", block(_toy_sentences(30, 2)))
    _write(panx / "test-en.tsv", block(_toy_sentences(30, 3)))
    _write(panx / "de-test", block(_toy_sentences(25, 4), raw_lang="de"))  # raw WikiANN layout

    cfg = validate_config({
        "name": "tag", "output_dir": str(tmp_path / "runs"), "seeds": [1], "with_baseline": False, "num_threads": 1,
        "model": {"name_or_path": str(tiny_model), "max_length": 16},
        "intermediate": {"tasks": [{"task": "ccg", "data_dir": str(ccg)}], "epochs": 2, "lr": 2e-3, "batch_size": 16},
        "target": {"tasks": [{"task": "panx", "data_dir": str(panx), "languages": ["en", "de"]}],
                   "epochs": 3, "lr": 2e-3, "batch_size": 16},
    })
    run_experiment(cfg)
    run = tmp_path / "runs" / "tag" / "stilts-seed1"
    inter = json.loads((run / "phases" / "intermediate" / "metrics.json").read_text())
    assert 0.0 <= inter["dev"]["ccg"]["en"]["accuracy"] < 100.0  # the unseen dev supertag is always wrong
    assert inter["dev"]["ccg"]["en"]["n"] == 21
    m = json.loads((run / "phases" / "target-panx" / "metrics.json").read_text())
    assert m["metric"] == "f1" and set(m["languages"]) == {"en", "de"}
    assert {"f1", "precision", "recall", "n"} <= set(m["languages"]["de"]) and m["languages"]["de"]["n"] == 25
    assert m["languages"]["en"]["f1"] > 50.0, m["languages"]
    pred = (run / "phases" / "target-panx" / "predictions" / "panx" / "test-de.tsv").read_text()
    sents = [s.split("\n") for s in pred.rstrip("\n").split("\n\n")]
    assert [len(s) for s in sents] == [len(s.words) for s in _toy_sentences(25, 4)]
    assert {t for s in sents for t in s} <= set(PANX_LABELS)
    # a task needing UPOS tags validates its labels too
    assert get_task("udpos").labels == UPOS_LABELS


def test_missing_ccg_labels_are_reported(monkeypatch):
    import xstilts.tasks.families.tagging as tg

    monkeypatch.setattr(tg, "ACTIVE_LABELS", {})
    with pytest.raises(XstiltsError, match="come from its training data"):
        get_family("tagging").build_head(get_task("ccg"), 32, 0.1)
