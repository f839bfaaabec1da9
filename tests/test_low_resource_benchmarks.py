"""SIB-200, Belebele and FLORES-200 bitext retrieval: one task module each (``xstilts/tasks/{sib200,belebele,
flores200}.py``). Their languages (the data sets' codes and the mapping to XTREME's), readers of the official
layouts, hub conversions, the both-directions bitext scoring, and a tiny run of each example config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from xstilts.config import TaskSpec, load_config
from xstilts.errors import DataFormatError, MissingDataError
from xstilts.languages import flores_code, xtreme_code
from xstilts.provision.examples import headline, write_examples, write_tiny_model
from xstilts.tasks import get_family, get_task

REPO = Path(__file__).resolve().parents[1]
NEW = ("sib200", "belebele", "flores200")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("low-resource")
    written = write_examples(root / "examples" / "data", list(NEW))
    write_tiny_model(root / "examples" / "tiny-model")
    return root, written


# ---------------------------------------------------------------------------------------------- languages
def test_languages_are_the_data_sets_codes():
    counts = {t: len(get_task(t).languages) for t in NEW}
    assert counts == {"sib200": 205, "belebele": 122, "flores200": 203}  # FLORES-200's 204 less the English pivot
    for t in NEW:
        langs = get_task(t).languages
        assert len(set(langs)) == len(langs)
        assert all(re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", x) for x in langs), t
    assert "nqo_Nkoo" in get_task("sib200").languages and "eng_Latn" not in get_task("flores200").languages
    assert {"hin_Latn", "urd_Latn", "zho_Hant"} <= set(get_task("belebele").languages)
    # the mapping rule: XTREME's code of the language in its usual script, macrolanguages by their code
    assert [xtreme_code(x) for x in ("deu_Latn", "arb_Arab", "swh_Latn", "zho_Hans", "zho_Hant", "hin_Latn")] == \
        ["de", "ar", "sw", "zh", "zho_Hant", "hin_Latn"]
    assert flores_code("de") == "deu_Latn" and flores_code("yue_Hant") == "yue_Hant"
    TaskSpec(task="sib200", languages=["deu_Latn", "nqo_Nkoo"])
    with pytest.raises(ValueError, match="nqo_Nkoo"):  # not a Belebele language
        TaskSpec(task="belebele", languages=["nqo_Nkoo"])


# ------------------------------------------------------------------------------------------------ readers
def test_sib200_reads_the_release_layout(data):
    root, written = data
    folder = written["sib200"]
    task = get_task("sib200")
    train = task.read(folder, "train", "eng_Latn")
    assert len(train) == 56 and all(e.text_b is None for e in train)
    assert task.read(folder, "test", "de") == task.read(folder, "test", "deu_Latn")  # XTREME code mapped
    assert task.read(folder / "data" / "annotated", "dev", "swh_Latn")  # annotated/ given directly
    assert task.discover_languages(folder) == ["deu_Latn", "eng_Latn", "swh_Latn", "zho_Hans"]
    bad = folder / "data" / "annotated" / "deu_Latn" / "test.tsv"
    bad.write_text("index_id\tcategory\ttext\n1\tcooking\tDas Haus.\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"test.tsv:2: unknown label 'cooking'"):
        task.read(folder, "test", "deu_Latn")
    with pytest.raises(MissingDataError, match="SIB-200 fra_Latn test"):
        task.read(folder, "test", "fra_Latn")
    write_examples(root / "examples" / "data", ["sib200"])  # restore


def test_belebele_reads_the_release_and_trains_on_cosmos_qa(data):
    _, written = data
    folder = written["belebele"]
    task = get_task("belebele")
    test = task.read(folder, "test", "zho_Hans")
    assert len(test) == 20 and all(len(e.choices) == 4 and 0 <= e.label < 4 for e in test)
    assert test[0].guid.startswith("https://") and "#" in test[0].guid
    assert len(task.read(folder, "train", "eng_Latn")) == 48  # Cosmos QA beside the folder
    assert len(task.read(folder, "dev", "eng_Latn")) == 16
    with pytest.raises(MissingDataError, match="only a test split"):
        task.read(folder, "dev", "deu_Latn")
    (folder / "xxx_Latn.jsonl").write_text('{"link": "l", "question_number": 1, "flores_passage": "p", "question": '
                                           '"q", "mc_answer1": "a", "mc_answer2": "b", "mc_answer3": "c", '
                                           '"mc_answer4": "d", "correct_answer_num": "5"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"xxx_Latn.jsonl:1: correct_answer_num '5'"):
        task.read(folder, "test", "xxx_Latn")
    (folder / "xxx_Latn.jsonl").unlink()


def test_flores200_reads_both_splits(data):
    _, written = data
    folder = written["flores200"]
    task = get_task("flores200")
    dev, devtest = task.read(folder, "dev", "swh_Latn"), task.read(folder, "devtest", "sw")
    assert (len(dev.src), len(devtest.src)) == (16, 24) and dev.gold[0] == ("0", "0")
    assert task.read(folder, "test", "deu_Latn").src == task.read(folder / "flores200_dataset", "devtest", "de").src
    assert task.discover_languages(folder) == ["deu_Latn", "swh_Latn", "zho_Hans"]


# ------------------------------------------------------------------------------------------ hub conversions
def test_hub_rows_convert():
    sib, bele, flores = (get_task(t).hf for t in NEW)
    assert (sib.path, sib.config.format(lang="deu_Latn"), sib.splits["dev"]) == ("Davlan/sib200", "deu_Latn",
                                                                                   "validation")
    e = sib.convert({"index_id": 5, "category": "travel", "text": "A trip."}, 0)
    assert (e.guid, e.text_a, e.text_b, e.label) == ("5", "A trip.", None, 1)
    assert (bele.path, bele.splits) == ("facebook/belebele", {"test": "test"})
    m = bele.convert({"link": "u", "question_number": 2, "flores_passage": "P", "question": "Q", "mc_answer1": "a",
                      "mc_answer2": "b", "mc_answer3": "c", "mc_answer4": "d", "correct_answer_num": "3"}, 0)
    assert (m.guid, m.context, m.question, m.choices, m.label) == ("u#2", "P", "Q", ("a", "b", "c", "d"), 2)
    assert flores.config.format(lang="deu_Latn") == "deu_Latn-eng_Latn"
    pairs = [flores.convert({"id": i, "sentence_deu_Latn": f" de{i}", "sentence_eng_Latn": f"en{i} "}, i)
             for i in range(2)]
    d = flores.collect(pairs)
    assert d.src == ["de0", "de1"] and d.tgt == ["en0", "en1"] and d.gold == [("0", "0"), ("1", "1")]


# ---------------------------------------------------------------------------------------------- bitext scoring
def test_bitext_scores_both_directions_and_their_mean():
    from xstilts.tasks.families.retrieval import ParallelData

    task = get_task("flores200")
    ids = ["0", "1", "2", "3"]
    d = ParallelData(ids, ["a", "b", "c", "d"], ids, ["A", "B", "C", "D"], list(zip(ids, ids)))
    vec = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1], "d": [0, 0, 1],
           "A": [1, 0, 0], "B": [0, 1, 0], "C": [0, 0, 1], "D": [0, 0.1, 1]}

    def embed(texts, prefix=None):
        return torch.tensor([vec[t] for t in texts], dtype=torch.float32)

    scores, lines, stats = get_family("retrieval").evaluate(task, ["deu_Latn"], lambda sp, lang: d, embed, {})
    s = scores["deu_Latn"]
    # xx->en: d's nearest English line is C (a tie with D goes to C? no: D leans to B) -> a, b, c right, d wrong
    assert s["accuracy@1 xx-en"] == 75.0 and s["accuracy@1 en-xx"] == 75.0
    assert s["accuracy@1"] == 75.0 and s["error rate xx-en"] == 25.0 and s["n"] == 4
    assert lines["deu_Latn"][0] == "devtest-deu_Latn.tsv"
    fam = get_family("retrieval")
    assert fam.metric_from_stats(task, stats["deu_Latn"]) == pytest.approx(s["accuracy@1"])


# ----------------------------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("task", NEW)
def test_example_config_runs(data, tmp_path, monkeypatch, one_thread, task):
    from xstilts.experiment import run as run_experiment

    root, _ = data
    monkeypatch.chdir(root)
    out = tmp_path / "runs"
    config = REPO / "configs" / "tasks" / f"{task}.yaml"
    run_experiment(load_config(config, [f"output_dir={out}"]))
    h = headline(config, out)
    assert h["task"] == task and h["languages"] == 3 and h["metric"] == get_task(task).metric
    assert 0.0 <= h["score"] <= 100.0
