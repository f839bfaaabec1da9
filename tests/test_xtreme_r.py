"""XTREME-R retrieval: mAP@k as XTREME's utils_lareqa/utils_mewslix, LAReQA and Mewsli-X readers and scoring, the
41-language Tatoeba, and an end-to-end run on a tiny encoder."""

import json
import random

import pytest
import torch

from xstilts.errors import DataFormatError, MissingDataError
from xstilts.metrics.ranking import (average_precision_at_k, mean_avg_prec_at_k, mewslix_map_at_k,
                                     rank_by_cosine)
from xstilts.tasks import get_family, get_task
from xstilts.tasks.lareqa import read_lareqa
from xstilts.tasks.mewslix import preprocess_entity_description, preprocess_mention, read_mewslix


# ----------------------------------------------------------------------------------------------------- metric
def test_average_precision_hand_computed():
    # several relevant: hits at ranks 1, 3, 5 -> (1/1 + 2/3 + 3/5) / min(3, 20)
    ap = average_precision_at_k({"a", "b", "c"}, ["a", "x", "b", "y", "c"], 20)
    assert ap == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # the divisor is min(#relevant, k): two of three relevant in the top 2 is perfect at k=2
    assert average_precision_at_k({"a", "b", "c"}, ["a", "b", "c"], 2) == pytest.approx(1.0)
    # none in the top k
    assert average_precision_at_k({"a"}, ["x", "a"], 1) == 0.0
    assert average_precision_at_k({"a"}, ["x", "a"], 2) == pytest.approx(0.5)
    # a repeated prediction counts once
    assert average_precision_at_k({"a", "b"}, ["a", "a", "b"], 3) == pytest.approx((1 + 2 / 3) / 2)
    # k=None: the whole ranking, divisor #relevant
    assert average_precision_at_k({"a", "b", "c"}, ["a", "x", "b"], None) == pytest.approx((1 + 2 / 3) / 3)
    # the Kaggle test cases quoted next to the reference implementation
    assert average_precision_at_k(range(1, 6), [6, 4, 7, 1, 2], 2) == pytest.approx(0.25)
    assert average_precision_at_k(range(1, 6), [1, 1, 1, 1, 1], 5) == pytest.approx(0.2)
    assert average_precision_at_k(range(1, 101), list(range(1, 21)) + list(range(200, 601)), 20) == pytest.approx(1)
    assert average_precision_at_k([1, 3], range(1, 6), 3) == pytest.approx(5 / 6)
    assert mean_avg_prec_at_k([{"a"}, {"b"}], [["a"], ["x", "b"]], 20) == pytest.approx(75.0)
    with pytest.raises(ValueError):
        average_precision_at_k(set(), ["a"], 20)
    with pytest.raises(ValueError):
        mean_avg_prec_at_k([{"a"}], [], 20)


def test_ap_without_cutoff_equals_sklearn_average_precision():
    """With no cut-off and no ties, AP is sklearn's average_precision_score, which utils_lareqa.mean_avg_prec uses."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(3)
    for _ in range(50):
        n = rng.randint(2, 30)
        scores = rng.sample(range(1000), n)
        y = [0] * n
        for i in rng.sample(range(n), rng.randint(1, n)):
            y[i] = 1
        ranking = sorted(range(n), key=lambda i: -scores[i])
        ours = average_precision_at_k({i for i in range(n) if y[i]}, ranking, None)
        assert ours == pytest.approx(sklearn_metrics.average_precision_score(y, scores))


def test_mewslix_map_is_mrr_over_top_k():
    gold = {"e1": ["Q1"], "e2": ["Q2"], "e3": ["Q3"], "e4": ["Q4"]}
    preds = {"e1": ["Q1", "Q9"], "e2": ["Q9", "Q2"], "e4": [f"X{i}" for i in range(20)] + ["Q4"], "extra": ["Q1"]}
    # e3 has no prediction (0), e4's gold is 21st (0)
    assert mewslix_map_at_k(gold, preds, 20) == pytest.approx(100 * (1 + 0.5) / 4)
    # single gold: equals mAP@20
    ids = list(gold)
    assert mewslix_map_at_k(gold, preds, 20) == pytest.approx(
        mean_avg_prec_at_k([gold[i] for i in ids], [preds.get(i, []) for i in ids], 20))


def test_rank_by_cosine_ties_and_chunks():
    cands = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 0.0], [0.5, 0.5], [3.0, 0.0]])
    q = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    s, i = rank_by_cosine(q, cands, 3)
    assert i[0].tolist() == [0, 2, 3]  # a four-way tie at cosine 1 (0, 2, 3, 5): lowest indices first
    assert i[1].tolist() == [1, 4, 0]  # then the tie at 0 between 0, 2, 3, 5
    assert s[0].tolist() == pytest.approx([1.0, 1.0, 1.0])
    for qc, cc in ((1, 2), (1, 1), (2, 4)):
        s2, i2 = rank_by_cosine(q, cands, 3, query_chunk=qc, candidate_chunk=cc)
        assert torch.equal(i2, i) and torch.allclose(s2, s)
    g = torch.Generator().manual_seed(0)
    qs, cs = torch.randn(7, 5, generator=g), torch.randn(50, 5, generator=g)
    _, full = rank_by_cosine(qs, cs, 50)
    _, top = rank_by_cosine(qs, cs, 20, query_chunk=3, candidate_chunk=7)
    assert torch.equal(top, full[:, :20])
    ref = torch.nn.functional.normalize(qs, dim=1) @ torch.nn.functional.normalize(cs, dim=1).T
    assert torch.equal(full, torch.argsort(ref, dim=1, descending=True, stable=True))


# ----------------------------------------------------------------------------------------------------- LAReQA
def _para(context, breaks, qas):
    return {"context": context, "sentence_breaks": breaks, "qas": [
        {"id": qid, "question": q, "answers": [{"text": context[s:s + 4], "answer_start": s}]} for qid, q, s in qas]}


LAREQA = {
    "en": _para("alpha beta. gamma delta.", [[0, 11], [12, 24]],
                [("q1", "what alpha", 0), ("q2", "what gamma", 12)]),
    "de": _para("eins zwei. drei vier.", [[0, 10], [11, 21]], [("q1", "was eins", 0), ("q2", "was drei", 11)]),
}


def write_lareqa(root, paras=LAREQA, sub="xquad-r"):
    folder = root / sub
    folder.mkdir(parents=True, exist_ok=True)
    for lang, para in paras.items():
        (folder / f"{lang}.json").write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
            para]}]}, indent=1, ensure_ascii=False), encoding="utf-8")
    return root


def test_read_lareqa(tmp_path):
    paras = dict(LAREQA)
    paras["en"] = _para("alpha beta. gamma delta.", [[0, 11], [12, 24]],
                        [("q1", "what alpha", 0), ("q2", "what gamma", 12), ("q3", "between", 11)])
    d = read_lareqa(write_lareqa(tmp_path, paras), "test", "en")
    assert [p.sentences for p in d.paragraphs] == [["alpha beta.", "gamma delta."]]
    assert [(q.id, q.text, q.answer) for q in d.questions] == [("q1", "what alpha", "alpha beta."),
                                                               ("q2", "what gamma", "gamma delta.")]
    assert d.skipped == 1  # answer_start 11 is in no sentence: skipped, as XTREME
    assert get_task("lareqa").discover_languages(tmp_path) == ["de", "en"]
    with pytest.raises(MissingDataError):
        read_lareqa(tmp_path, "test", "fr")
    with pytest.raises(MissingDataError):
        read_lareqa(tmp_path, "train", "en")


def _opening_line(lines, marker, last=False):
    """1-based line of the ``{`` that opens the JSON object containing the line with *marker*."""
    hits = [i for i, x in enumerate(lines) if marker in x]
    i = hits[-1] if last else hits[0]
    while lines[i].strip() != "{":
        i -= 1
    return i + 1


@pytest.mark.parametrize("old, new, words, marker", [
    ('"sentence_breaks"', '"breaks"', "missing key 'sentence_breaks'", '"context"'),
    ('"answer_start": 12', '"answer_start": "12"', "'answer_start' must be int", '"answer_start": "12"'),
    ('"id": "q2"', '"id": "q1"', "duplicate question id", None),
    ('"question": "what gamma",', '"question": "what gamma",,', "invalid JSON", None),
])
def test_read_lareqa_malformed_names_file_and_line(tmp_path, old, new, words, marker):
    write_lareqa(tmp_path)
    path = tmp_path / "xquad-r" / "en.json"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    lines = path.read_text().splitlines()
    with pytest.raises(DataFormatError, match=words) as e:
        read_lareqa(tmp_path, "test", "en")
    assert e.value.path == str(path)
    if "duplicate" in words:
        expected = _opening_line(lines, '"id": "q1"', last=True)
    elif "invalid" in words:
        expected = next(i for i, x in enumerate(lines, 1) if ",," in x)
    else:
        expected = _opening_line(lines, marker)
    assert e.value.line == expected


def test_read_lareqa_two_answers(tmp_path):
    write_lareqa(tmp_path)
    path = tmp_path / "xquad-r" / "en.json"
    obj = json.loads(path.read_text())
    qa = obj["data"][0]["paragraphs"][0]["qas"][1]
    qa["answers"].append(dict(qa["answers"][0]))
    path.write_text(json.dumps(obj, indent=1))
    with pytest.raises(DataFormatError, match="2 answers") as e:
        read_lareqa(tmp_path, "test", "en")
    assert '"id": "q2"' in "\n".join(path.read_text().splitlines()[e.value.line - 1:e.value.line + 12])


class FakeEmbed:
    """``embed(texts, prefix=None)`` from a table of hand-made vectors; records the calls."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __call__(self, texts, prefix=None):
        self.calls.append((list(texts), prefix))
        return torch.tensor([self.table(t) for t in texts], dtype=torch.float32)


def _lareqa_vectors(text):
    cands = {"eins zwei.": [1, 0, 0], "drei vier.": [0, 1, 0], "alpha beta.": [1, 0.1, 0], "gamma delta.": [0, 0, 1]}
    for sent, v in cands.items():
        if text.startswith(sent):
            return v
    return {"what alpha": [1, 0, 0], "what gamma": [0, 1, 1], "was eins": [0, 0, 1], "was drei": [0, 1, 0]}[text]


def test_lareqa_scoring_with_known_embeddings(tmp_path):
    root = write_lareqa(tmp_path)
    task, family = get_task("lareqa"), get_family("retrieval_ranking")
    embed = FakeEmbed(_lareqa_vectors)
    scores, files, _ = family.evaluate(task, ["en", "de"], lambda sp, lang: task.read(root, sp, lang), embed,
                                    {"query_prefix": "query: "})
    # pool order de, en -> candidates de_1_0, de_1_1, en_1_0, en_1_1; q1 is relevant to {0, 2}, q2 to {1, 3}
    # en: both questions rank their two answers first (AP 1); de q1: [3, 0, 1, 2] -> (1/2 + 2/4)/2; de q2: [1, 2, 0, 3]
    assert scores["en"]["map@20"] == pytest.approx(100.0)
    assert scores["de"]["map@20"] == pytest.approx(100 * ((1 / 2 + 2 / 4) / 2 + (1 + 2 / 4) / 2) / 2)
    assert scores["de"]["n"] == 2 and scores["de"]["candidates"] == 4 and scores["de"]["pool_languages"] == 2
    name, content = files["de"]
    assert name == "test-de.json"
    assert json.loads(content) == {"q1": ["en_1_1", "de_1_0", "de_1_1", "en_1_0"],
                                   "q2": ["de_1_1", "en_1_0", "de_1_0", "en_1_1"]}
    # candidates are "sentence + context" (XTREME-R), embedded with the model's prefix; questions with the query prefix
    cand_call = next(c for c in embed.calls if any("." in t for t in c[0]))
    assert cand_call[1] is None and "alpha beta.alpha beta. gamma delta." in cand_call[0]
    q_call = next(c for c in embed.calls if "what alpha" in c[0])
    assert q_call[1] == "query: "
    # the sentence alone as candidate text
    embed2 = FakeEmbed(_lareqa_vectors)
    family.evaluate(task, ["en"], lambda sp, lang: task.read(root, sp, lang), embed2,
                    {"options": {"candidate_text": "sentence"}})
    assert "alpha beta." in embed2.calls[0][0] and embed2.calls[1][1] is None
    # evaluating one language still pools every language present in the folder
    s3, _, _ = family.evaluate(task, ["en"], lambda sp, lang: task.read(root, sp, lang), FakeEmbed(_lareqa_vectors), {})
    assert set(s3) == {"en"} and s3["en"]["candidates"] == 4 and s3["en"]["map@20"] == pytest.approx(100.0)


# ----------------------------------------------------------------------------------------------------- Mewsli-X
def _entity(eid, desc, spans):
    return {"entity_id": eid, "title": eid, "description": desc, "description_language": "en",
            "description_url": f"https://en.wikipedia.org/wiki/{eid}",
            "sentence_spans": [{"start": s, "end": e} for s, e in spans]}


def _article(lang, text, spans, mentions):
    return {"context": {"document_title": "t", "document_url": "u", "document_id": f"d-{lang}", "language": lang,
                        "text": text, "sentence_spans": [{"start": s, "end": e} for s, e in spans]},
            "mentions": [{"example_id": ex, "entity_id": q, "mention_span": {"start": text.index(m),
                                                                              "end": text.index(m) + len(m), "text": m}}
                         for ex, q, m in mentions]}


def write_mewslix(root, entities, articles, split="test"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "candidate_set_entities.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entities))
    (root / f"wikinews_mentions-{split}.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles))
    return root


def test_mewslix_preprocessing_mirrors_utils_mewslix():
    text = "First sentence.\nThe {verdict} came back for Smith, who\nstepped down."
    spans = [(0, 15), (16, len(text))]
    start = text.index("Smith")
    assert preprocess_mention(text, spans, start, start + 5, "Smith") == \
        "Smith: The (verdict) came back for { Smith } , who stepped down."
    assert preprocess_mention(text, spans, 10, 20, text[10:20]) is None  # crosses a sentence boundary
    assert preprocess_entity_description("Line one.\nLine two.  Extra", [(0, 9), (10, 19)]) == "Line one. Line two."


def test_read_mewslix_and_malformed(tmp_path):
    ents = [_entity("Q1", "Red cat.", [(0, 8)]), _entity("Q2", "Blue dog.", [(0, 9)])]
    arts = [_article("de", "Die red cat.", [(0, 12)], [("m1", "Q1", "cat")]),
            _article("en", "A blue dog. A red cat.", [(0, 11), (12, 22)], [("m2", "Q2", "dog"), ("m3", "Q1", "red")])]
    root = write_mewslix(tmp_path / "mx", ents, arts)
    d = read_mewslix(root, "test", "en")
    assert [(m.example_id, m.entity_id, m.query) for m in d.mentions] == [
        ("m2", "Q2", "dog: A blue { dog } ."), ("m3", "Q1", "red: A { red } cat.")]
    assert d.candidates.ids == ["Q1", "Q2"] and d.candidates.texts == ["Red cat.", "Blue dog."]
    assert [m.example_id for m in read_mewslix(root, "test", "de").mentions] == ["m1"]
    with pytest.raises(MissingDataError):
        read_mewslix(root, "dev", "en")

    bad = dict(arts[1])
    bad["mentions"] = [dict(bad["mentions"][0], mention_span={"start": 2, "end": 6, "text": "dog"})]
    write_mewslix(tmp_path / "b1", ents, [arts[0], bad])
    with pytest.raises(DataFormatError, match="does not match") as e:
        read_mewslix(tmp_path / "b1", "test", "en")
    assert e.value.line == 2 and e.value.path.endswith("wikinews_mentions-test.jsonl")

    no_text = _article("en", "", [], [])
    no_text["context"]["sentence_spans"] = [{"start": 0, "end": 5}]
    write_mewslix(tmp_path / "b2", ents, [no_text])
    with pytest.raises(DataFormatError, match="no_text") as e:
        read_mewslix(tmp_path / "b2", "test", "en")
    assert e.value.line == 1

    root3 = write_mewslix(tmp_path / "b3", ents, arts)
    with open(root3 / "candidate_set_entities.jsonl", "a") as f:
        f.write('{"entity_id": "Q3",\n')
    with pytest.raises(DataFormatError, match="invalid JSON") as e:
        read_mewslix(root3, "test", "en")
    assert e.value.line == 3 and e.value.path.endswith("candidate_set_entities.jsonl")

    write_mewslix(tmp_path / "b4", ents + [_entity("Q1", "Again.", [(0, 6)])], arts)
    with pytest.raises(DataFormatError, match="duplicate entity_id") as e:
        read_mewslix(tmp_path / "b4", "test", "en")
    assert e.value.line == 3


def test_mewslix_scoring_with_known_embeddings(tmp_path):
    ents = [_entity("Q1", "Red cat.", [(0, 8)]), _entity("Q2", "Blue dog.", [(0, 9)]), _entity("Q3", "Tree.", [(0, 5)])]
    arts = [_article("en", "A red cat.", [(0, 10)], [("m1", "Q1", "cat")]),
            _article("de", "Ein dog. Ein tree.", [(0, 8), (9, 18)], [("m2", "Q2", "dog"), ("m3", "Q3", "tree")])]
    root = write_mewslix(tmp_path / "mx", ents, arts)
    vec = {"Red cat.": [1, 0, 0], "Blue dog.": [0, 1, 0], "Tree.": [0, 0, 1],
           "cat: A red { cat } .": [1, 0.1, 0],       # Q1 first
           "dog: Ein { dog } .": [1, 0.5, 0],         # Q1, then Q2 (rank 2)
           "tree: Ein { tree } .": [1, 0.5, 0.2]}     # Q1, Q2, then Q3 (rank 3)
    task, family = get_task("mewslix"), get_family("retrieval_ranking")
    embed = FakeEmbed(lambda t: vec[t])
    scores, files, _ = family.evaluate(task, ["en", "de"], lambda sp, lang: task.read(root, sp, lang), embed,
                                    {"query_prefix": "query: "})
    assert scores["en"]["map@20"] == pytest.approx(100.0)
    assert scores["de"]["map@20"] == pytest.approx(100 * (1 / 2 + 1 / 3) / 2)
    assert files["de"][0] == "test-de.json"
    assert json.loads(files["de"][1]) == {"m2": ["Q1", "Q2", "Q3"], "m3": ["Q1", "Q2", "Q3"]}
    assert [c[1] for c in embed.calls] == [None, "query: "]

    arts[0]["mentions"][0]["entity_id"] = "Q404"
    root2 = write_mewslix(tmp_path / "mx2", ents, arts)
    with pytest.raises(DataFormatError, match="Q404") as e:
        family.evaluate(task, ["en"], lambda sp, lang: task.read(root2, sp, lang), embed, {})
    assert e.value.line == 1


# ----------------------------------------------------------------------------------------------------- Tatoeba
def test_tatoeba_xtreme_r_languages_and_reader(tmp_path):
    from fixtures import write_tatoeba

    task = get_task("tatoeba-xtreme-r")
    assert len(task.languages) == 41 and {"az", "lt", "pl", "ro", "uk"} <= set(task.languages)
    assert set(get_task("tatoeba").languages) < set(task.languages)
    assert task.kind == "retrieval" and task.metric == "accuracy@1" and not task.trainable
    root = write_tatoeba(tmp_path / "tat", {"aze": (["cat dog", "red tree"], ["cat dog", "red tree"])})
    assert task.discover_languages(root) == ["az"]
    assert task.read(root, "test", "az").src == ["cat dog", "red tree"]


# ----------------------------------------------------------------------------------------------------- pipeline
def test_pipeline_runs_lareqa_and_mewslix_end_to_end(tmp_path, tiny_model):
    from xstilts.config import validate_config
    from xstilts.experiment import run as run_experiment

    paras = {
        "en": _para("alpha beta gamma. delta epsilon. cat dog bird.", [[0, 17], [18, 32], [33, 46]],
                    [("q1", "alpha beta", 0), ("q2", "delta", 18), ("q3", "cat bird", 33)]),
        "de": _para("red green blue. black white. river stone.", [[0, 15], [16, 28], [29, 41]],
                    [("q1", "red green", 0), ("q2", "black", 16), ("q3", "river", 29)]),
        "es": _para("w1 w2 w3. w4 w5. w6 w7.", [[0, 9], [10, 16], [17, 23]],
                    [("q1", "w1", 0), ("q2", "w4", 10), ("q3", "w6", 17)]),
    }
    lareqa = write_lareqa(tmp_path / "lareqa", paras)
    ents = [_entity(f"Q{i}", f"w{i} w{i + 1} tree.", [(0, len(f"w{i} w{i + 1} tree."))]) for i in range(30)]
    arts = [_article("en", "the w3 river.", [(0, 13)], [("m1", "Q3", "w3")]),
            _article("de", "w7 stone. w9 house.", [(0, 9), (10, 19)], [("m2", "Q7", "w7"), ("m3", "Q9", "w9")])]
    mewslix = write_mewslix(tmp_path / "mx", ents, arts)
    cfg = validate_config({
        "name": "xr", "output_dir": str(tmp_path / "runs"), "seeds": [1], "with_baseline": False, "device": "cpu",
        "model": {"name_or_path": str(tiny_model), "max_length": 32},
        "target": {"tasks": [{"task": "lareqa", "data_dir": str(lareqa), "languages": ["en", "de"],
                              "options": {"finetune": False}},  # zero-shot: the raw embeddings, no training data
                             {"task": "mewslix", "data_dir": str(mewslix), "languages": ["en", "de"],
                              "options": {"finetune": False}}]},
        "evaluation": {"retrieval_layer": "last"},
    })
    run_experiment(cfg)
    run = tmp_path / "runs" / "xr" / "baseline-seed1"
    for task, n in (("lareqa", {"en": 3, "de": 3}), ("mewslix", {"en": 1, "de": 2})):
        phase = run / "phases" / f"target-{task}"
        m = json.loads((phase / "metrics.json").read_text())
        assert m["metric"] == "map@20" and set(m["languages"]) == {"en", "de"}
        for lang in ("en", "de"):
            assert 0 < m["languages"][lang]["map@20"] <= 100 and m["languages"][lang]["n"] == n[lang]
            preds = json.loads((phase / "predictions" / task / f"test-{lang}.json").read_text())
            assert len(preds) == n[lang] and all(len(v) == (9 if task == "lareqa" else 20) for v in preds.values())
        assert m["average"] == pytest.approx((m["languages"]["en"]["map@20"] + m["languages"]["de"]["map@20"]) / 2)
    lq = json.loads((run / "phases" / "target-lareqa" / "metrics.json").read_text())
    assert lq["languages"]["en"]["pool_languages"] == 3 and lq["languages"]["en"]["candidates"] == 9
    assert (tmp_path / "runs" / "xr" / "baseline" / "results.md").is_file()


# ------------------------------------------------------------------------------- fine-tuning (XTREME-R protocol)
def test_squad_sentence_breaks_follow_xtremes_sb_sed():
    from xstilts.tasks.lareqa import squad_sentence_breaks

    def sents(text):
        return [text[s:e] for s, e in squad_sentence_breaks(text)]

    assert sents("The cat sat. It was 1990. Dr. Smith came  home! \"Why?\" she asked.") == [
        "The cat sat.", "It was 1990.", "Dr. Smith came  home!", "\"Why?\" she asked."]
    # initials, e.g./i.e., citations, lower-case starts (no split), existing newlines, the SQuAD-specific rules
    assert sents("J. R. R. Tolkien wrote it. He used e.g. Elvish.[citation needed] Then more.") == [
        "J. R. R. Tolkien wrote it.", "He used e.g. Elvish.[citation needed]", "Then more."]
    assert sents("one. two.\nThree.") == ["one. two.", "Three."]
    assert sents("Born in Washington, D.C. He left. the U.S. 100 dollars.") == [
        "Born in Washington, D.C.", "He left. the U.S. 100 dollars."]
    text = "  Leading space. And trailing.  "
    assert [text[s:e] for s, e in squad_sentence_breaks(text)] == ["Leading space.", "And trailing."]


def _squad(path, paragraphs):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": c, "qas": [{"id": f"{i}-{k}", "question": q, "answers": [{"text": c[s:s + 3], "answer_start": s}]}
                               for k, (q, s) in enumerate(qas)]} for i, (c, qas) in enumerate(paragraphs)]}]}))


def test_read_lareqa_pairs_as_xtremes_retrieval_squad_processor(tmp_path):
    from xstilts.tasks.lareqa import read_lareqa_pairs

    ctx = "Alpha beta.  Gamma\ndelta."
    _squad(tmp_path / "squad" / "train-v1.1.json", [(ctx, [("q one", 0), ("q two", 11), ("q three", 13)])])
    lareqa = tmp_path / "lareqa"
    lareqa.mkdir()
    p = read_lareqa_pairs(lareqa, "train")  # XTREME's layout: ../squad beside lareqa/
    # the answer at 11 starts in the whitespace between the sentences: skipped, as XTREME
    assert p.queries == ["q one", "q three"] and p.skipped == 1
    assert p.candidates == ["Alpha beta." + ctx.replace("\n", ""), "Gamma\ndelta.".replace("\n", "") +
                            ctx.replace("\n", "")]
    assert read_lareqa_pairs(lareqa, "train", "sentence").candidates == ["Alpha beta.", "Gammadelta."]
    assert p.path == tmp_path / "squad" / "train-v1.1.json"
    with pytest.raises(MissingDataError, match="dev-v1.1.json"):
        read_lareqa_pairs(lareqa, "dev")
    # inside the folder wins over the sibling
    _squad(lareqa / "squad" / "train-v1.1.json", [("Other text.", [("q", 0)])])
    assert read_lareqa_pairs(lareqa, "train").queries == ["q"]


def _pair_line(text, spans, start, end, eid="Q1", desc="An entity. Described.", dspans=((0, 10), (11, 21))):
    return {"contextual_mention": {
        "context": {"document_title": "d", "document_url": "u", "document_id": "Q0", "language": "en", "text": text,
                    "sentence_spans": [{"start": s, "end": e} for s, e in spans], "section_title": "s"},
        "mention": {"example_id": "x1", "entity_id": eid,
                    "mention_span": {"start": start, "end": end, "text": text[start:end]}}},
        "entity": {"entity_id": eid, "title": "E", "description": desc, "description_language": "en",
                   "description_url": "u", "sentence_spans": [{"start": s, "end": e} for s, e in dspans]}}


def test_read_mewslix_pairs_and_malformed(tmp_path):
    from xstilts.tasks.mewslix import read_mewslix_pairs

    text = "First one. Then Smith {x} came."
    good = _pair_line(text, [(0, 10), (11, 31)], 16, 21)
    (tmp_path / "wikipedia_pairs-train.jsonl").write_text(json.dumps(good) + "\n")
    p = read_mewslix_pairs(tmp_path, "train")
    assert p.queries == [preprocess_mention(text, [(0, 10), (11, 31)], 16, 21, "Smith")] == [
        "Smith: Then { Smith } (x) came."]
    assert p.candidates == ["An entity. Described."]
    bad = _pair_line(text, [(0, 10), (11, 31)], 8, 16)  # crosses the sentence boundary
    (tmp_path / "wikipedia_pairs-dev.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataFormatError, match="no single sentence") as e:
        read_mewslix_pairs(tmp_path, "dev")
    assert e.value.line == 2
    (tmp_path / "wikipedia_pairs-dev.jsonl").write_text(json.dumps({"entity": {}}) + "\n")
    with pytest.raises(DataFormatError, match="contextual_mention"):
        read_mewslix_pairs(tmp_path, "dev")
    with pytest.raises(MissingDataError, match="wikipedia_pairs-train.jsonl"):
        read_mewslix_pairs(tmp_path / "nowhere", "train")


def test_finetune_settings_published_and_overrides(tmp_path):
    from xstilts.config import TaskSpec, validate_config
    from xstilts.experiment.keys import retrieval_key, retrieval_settings

    fam = get_family("retrieval_ranking")
    lq = fam.finetune_settings(get_task("lareqa"), TaskSpec(task="lareqa"), "xlm-roberta-large")
    assert {k: lq[k] for k in ("lr", "epochs", "batch_size", "grad_accum", "query_max_length",
                               "candidate_max_length", "selection", "eval_every", "warmup_ratio", "weight_decay",
                               "max_grad_norm", "logit_scale", "representation")} == {
        "lr": 2e-5, "epochs": 3.0, "batch_size": 4, "grad_accum": 4, "query_max_length": 96,
        "candidate_max_length": 256, "selection": "dev-loss", "eval_every": 1000, "warmup_ratio": 0.0,
        "weight_decay": 0.0, "max_grad_norm": 1.0, "logit_scale": 100.0, "representation": "auto"}
    mx = fam.finetune_settings(get_task("mewslix"), TaskSpec(task="mewslix"), "xlm-roberta-large")
    assert (mx["lr"], mx["epochs"], mx["batch_size"], mx["grad_accum"], mx["query_max_length"], mx["selection"],
            mx["eval_every"]) == (1e-5, 2.0, 8, 4, 64, "last", None)
    mb = fam.finetune_settings(get_task("mewslix"), TaskSpec(task="mewslix"), "/m/bert-base-multilingual-cased/")
    assert (mb["lr"], mb["batch_size"]) == (2e-5, 64)
    spec = TaskSpec(task="lareqa", lr=1e-5, max_steps=50, batch_size=8, max_length=128,
                    options={"selection": "last", "representation": "cls"})
    o = fam.finetune_settings(get_task("lareqa"), spec, "x")
    assert (o["lr"], o["max_steps"], o["batch_size"], o["query_max_length"], o["candidate_max_length"],
            o["selection"], o["eval_every"], o["representation"]) == (1e-5, 50, 8, 128, 128, "last", None, "cls")
    assert fam.finetune_settings(get_task("lareqa"), TaskSpec(task="lareqa", options={"finetune": False}), "x") is None
    # fine-tuning options without fine-tuning are a config error
    with pytest.raises(ValueError, match="selection only apply with finetune: true"):
        TaskSpec(task="lareqa", options={"finetune": False, "selection": "last"})

    # retrieval keys: zero-shot keys ignore the seed; fine-tuning hashes its settings and the seed
    _squad(tmp_path / "lareqa" / "squad" / "train-v1.1.json", [("A b.", [("q", 0)])])
    base = {"name": "x", "output_dir": str(tmp_path), "seeds": [1, 2],
            "model": {"name_or_path": "bert-base-multilingual-cased"}}

    def cfg(**entry):
        return validate_config({**base, "target": {"tasks": [{"task": "lareqa", "data_dir": str(tmp_path / "lareqa"),
                                                              **entry}]}})

    zs = cfg(options={"finetune": False})
    spec = zs.target.tasks[0]
    assert "finetune" not in retrieval_settings(zs, spec, 1)
    assert retrieval_key(zs, spec, "s", 1) == retrieval_key(zs, spec, "s", 2)
    ft = cfg(options={"selection": "last"})
    spec = ft.target.tasks[0]
    st = retrieval_settings(ft, spec, 2)
    assert st["finetune"]["seed"] == 2 and "pooling" not in st and "layer" not in st
    assert st["finetune"]["data"][0][0].endswith("train-v1.1.json")
    assert retrieval_settings(ft, spec)["finetune"]["seed"] == 1  # the first of seeds
    keys = {retrieval_key(ft, spec, "s", 1), retrieval_key(ft, spec, "s", 2),
            retrieval_key(cfg(options={"selection": "last"}, lr=1e-5), spec.model_copy(update={"lr": 1e-5}), "s", 1)}
    assert len(keys) == 3
    pooled = validate_config({**ft.model_dump(mode="json"), "evaluation": {"pooling": "cls"}})
    assert retrieval_key(pooled, pooled.target.tasks[0], "s", 1) == retrieval_key(ft, spec, "s", 1)


def test_example_data_fine_tunes_mewslix_end_to_end(tmp_path, one_thread):
    """The example writer's Mewsli-X folder carries wikipedia_pairs-{train,dev}.jsonl and the LAReQA folder SQuAD;
    a fine-tuning run on them records the fine-tuning in metrics.json."""
    from xstilts.config import validate_config
    from xstilts.experiment import run as run_experiment
    from xstilts.provision.examples import write_examples, write_tiny_model
    from xstilts.tasks.lareqa import read_lareqa_pairs
    from xstilts.tasks.mewslix import read_mewslix_pairs

    written = write_examples(tmp_path / "data", ["lareqa", "mewslix"])
    model = write_tiny_model(tmp_path / "tiny")
    assert len(read_lareqa_pairs(written["lareqa"], "train").queries) > 50
    assert len(read_lareqa_pairs(written["lareqa"], "dev").queries) > 10
    assert len(read_mewslix_pairs(written["mewslix"], "train").queries) > 50
    assert len(read_mewslix_pairs(written["mewslix"], "dev").queries) > 10
    cfg = validate_config({
        "name": "mx", "output_dir": str(tmp_path / "runs"), "seeds": [3], "with_baseline": False, "device": "cpu",
        "num_threads": 1, "model": {"name_or_path": str(model)},
        "target": {"tasks": [{"task": "mewslix", "data_dir": str(written["mewslix"]), "languages": ["en", "de"],
                              "max_steps": 3, "options": {"selection": "dev-loss", "eval_every": 2,
                                                          "dev_examples": 8}}]}})
    run_experiment(cfg)
    m = json.loads((tmp_path / "runs" / "mx" / "baseline-seed3" / "phases" / "target-mewslix" / "metrics.json")
                   .read_text())
    ft = m["finetune"]
    assert ft["seed"] == 3 and ft["lr"] == 1e-5 and ft["batch_size"] == 8 and ft["query_max_length"] == 64
    assert ft["train_file"].endswith("wikipedia_pairs-train.jsonl") and ft["dev_pairs"] == 8
    assert m["train"]["steps"] == 3 and [s for s, _ in m["train"]["selection"]["curve"]] == [2, 3]
    assert set(m["languages"]) == {"en", "de"} and all(0 <= v["map@20"] <= 100 for v in m["languages"].values())
