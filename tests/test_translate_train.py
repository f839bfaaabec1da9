"""translate-train: ``train_language`` reads XTREME's machine-translated training files (XNLI, PAWS-X, SQuAD for XQuAD
and MLQA, TyDiQA-GoldP); a task without such data is a config error before anything runs."""

import json

import pytest

from xstilts.config import TaskSpec, validate_config
from xstilts.errors import ConfigError
from xstilts.loading import load_examples
from xstilts.provision import examples as ex


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tt")
    for name in ("xnli", "pawsx", "squad", "xquad", "mlqa", "tydiqa"):
        ex.task_writers()[name](root / name)
    return root


def _train(task, folder, lang):
    return load_examples(TaskSpec(task=task, data_dir=folder, train_language=lang), "train", lang)


def test_xnli_reads_xtremes_translate_train_file(data):
    rows = [line.split("\t") for line in (data / "xnli" / "translate-train" / "en-de-translated.tsv")
            .read_text().splitlines()]
    got = _train("xnli", data / "xnli", "de")
    assert [(e.text_a, e.text_b) for e in got] == [(r[2], r[3]) for r in rows]  # the translated columns
    labels = {"entailment": 0, "neutral": 1, "contradictory": 2}
    assert [e.label for e in got] == [labels[r[4]] for r in rows]
    english = _train("xnli", data / "xnli", "en")
    assert len(english) != len(got) or [e.text_a for e in english] != [e.text_a for e in got]


def test_xnli_mt_release_layout_is_read_too(tmp_path):
    folder = tmp_path / "xnli" / "XNLI-MT-1.0" / "multinli"
    folder.mkdir(parents=True)
    (folder / "multinli.train.fr.tsv").write_text("premise\thypo\tlabel\nun chat\tun chien\tcontradictory\n"
                                                  "le ciel\tle bleu\tentailment\n", encoding="utf-8")
    got = _train("xnli", tmp_path / "xnli", "fr")
    assert [(e.text_a, e.text_b, e.label) for e in got] == [("un chat", "un chien", 2), ("le ciel", "le bleu", 0)]


@pytest.mark.parametrize("task,lang,file", [
    ("xquad", "de", "squad/translate-train/squad.translate.train.en-de.json"),
    ("mlqa", "zh", "squad/translate-train/squad.translate.train.en-zh.json"),
    ("tydiqa", "sw", "tydiqa/translate-train/tydiqa.translate.train.en-sw.json"),
])
def test_qa_readers_read_the_translated_squad_format_files(data, task, lang, file):
    doc = json.loads((data / file).read_text())
    ids = [q["id"] for a in doc["data"] for p in a["paragraphs"] for q in p["qas"]]
    got = _train(task, data / task, lang)
    assert [e.guid for e in got] == ids and {e.language for e in got} == {lang}
    assert [e.guid for e in _train(task, data / task, "en")] != ids  # English: the English training set


def test_pawsx_translated_train(data):
    lines = (data / "pawsx" / "de" / "translated_train.tsv").read_text().splitlines()[1:]
    assert [e.text_a for e in _train("pawsx", data / "pawsx", "de")] == [x.split("\t")[1] for x in lines]


@pytest.mark.parametrize("task", ["udpos", "panx", "xcopa", "squad", "mnli"])
def test_train_language_without_translate_train_data_is_a_config_error(task):
    section = "target" if task in ("udpos", "panx", "xcopa") else "intermediate"
    with pytest.raises(ConfigError, match=rf"{section}\.tasks\.0: task '{task}' has no training data in 'de'"):
        validate_config({"model": {"name_or_path": "m"}, section: {"tasks": [{"task": task, "train_language": "de"}]}})
    with pytest.raises(ConfigError, match="its translate-train languages are ar, bg"):
        validate_config({"model": {"name_or_path": "m"}, "target": {"tasks": [{"task": "xnli",
                                                                                "train_language": "ja"}]}})


def test_a_phase_records_the_language_it_trained_on(tmp_path, tiny_model, data):
    from xstilts.experiment import run as run_experiment

    cfg = validate_config({"name": "tt", "output_dir": str(tmp_path / "runs"), "with_baseline": False, "trackers": [],
                           "model": {"name_or_path": str(tiny_model), "max_length": 32},
                           "target": {"tasks": [{"task": "pawsx", "data_dir": str(data / "pawsx"),
                                                 "train_language": "de", "languages": ["en", "de"]}],
                                      "max_steps": 2, "batch_size": 8}})
    run_experiment(cfg)
    m = json.loads(next((tmp_path / "runs" / "phases").glob("target-pawsx-*/metrics.json")).read_text())
    assert m["train_language"] == "de" and m["selection"]["language"] == "de"
    assert m["train"]["task_examples"]["pawsx"] == 16  # the 16 German translated pairs, 2 steps of 8
