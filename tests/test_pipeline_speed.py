"""The pipeline's speed paths give the results of the plain ones: every language of a task evaluated in one pass
equals evaluating language by language, and tokenized features are computed once and reused by every later run,
phase and seed (tiny model, small PAWS-X files)."""

from __future__ import annotations

import json

import pytest

from fixtures import write_pawsx
from xstilts.config import validate_config
from xstilts.experiment import run as run_experiment

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def experiment(tmp_path, tiny_model):
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de", "fr"), n_train=64, n_test=30)
    return {"name": "t", "output_dir": str(tmp_path / "runs"), "seeds": [1], "with_baseline": False,
            "model": {"name_or_path": str(tiny_model), "max_length": 32},
            "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de", "fr"]}],
                       "epochs": 1, "lr": 1e-3, "batch_size": 16, "eval_batch_size": 7}}


def _target(root):
    folder = next((root / "phases").glob("target-pawsx-*"))
    preds = {p.name: p.read_text() for p in (folder / "predictions" / "pawsx").iterdir()}
    return json.loads((folder / "metrics.json").read_text()), preds


def test_one_pass_evaluation_equals_language_by_language(experiment, tmp_path, monkeypatch):
    from xstilts.experiment import phases, training
    from xstilts import train as tr

    calls = []
    real = phases.eval_all_languages

    def spy(model, datas, **kw):
        calls.append([d.size for d in datas])
        return real(model, datas, **kw)

    monkeypatch.setattr(phases, "eval_all_languages", spy)  # dev and test evaluation of the phase
    monkeypatch.setattr(training, "eval_all_languages", spy)  # English dev for model selection, during training
    run_experiment(validate_config(experiment))
    # English dev for model selection (during training), then dev and test: each split's languages in one call
    assert calls == [[30], [30, 30, 30], [30, 30, 30]]
    together, preds_together = _target(tmp_path / "runs")

    def per_language(model, datas, **kw):
        return [tr.predict(model, d, batch_size=3, accelerator=kw["accelerator"], pad_id=kw["pad_id"])
                for d in datas]

    monkeypatch.setattr(phases, "eval_all_languages", per_language)
    monkeypatch.setattr(training, "eval_all_languages", per_language)
    run_experiment(validate_config(dict(experiment, output_dir=str(tmp_path / "alone"))))
    alone, preds_alone = _target(tmp_path / "alone")
    assert together["languages"] == alone["languages"] and together["average"] == alone["average"]
    assert together["splits"] == alone["splits"]
    assert preds_together == preds_alone and sorted(preds_alone) == [f"{split}-{lang}.tsv" for split in ("dev", "test")
                                                                      for lang in ("de", "en", "fr")]


def test_features_are_tokenized_once_for_all_runs(experiment, tmp_path, monkeypatch):
    from xstilts.paths import cache_dir
    from xstilts.tasks import get_family

    fam = type(get_family("pair_classification"))
    real = fam.featurize
    calls = []
    monkeypatch.setattr(fam, "featurize", lambda self, *a, **k: calls.append(len(a[1])) or real(self, *a, **k))
    run_experiment(validate_config(experiment))
    assert sorted(calls) == [30] * 6 + [64]  # train (en), dev and test (3 languages; selection shares en dev)
    cached = sorted((cache_dir() / "features").glob("*.safetensors"))
    assert len(cached) == 7
    first, _ = _target(tmp_path / "runs")

    # another run (other output folder, other seed, other training settings) tokenizes nothing
    monkeypatch.setattr(fam, "featurize", lambda *a, **k: pytest.fail("tokenized again"))
    other = dict(experiment, output_dir=str(tmp_path / "other"), seeds=[1, 2])
    other["target"] = dict(experiment["target"], lr=5e-4)
    run_experiment(validate_config(other))
    assert sorted((cache_dir() / "features").glob("*.safetensors")) == cached
    # a changed max length is another cache entry
    monkeypatch.setattr(fam, "featurize", lambda self, *a, **k: calls.append(len(a[1])) or real(self, *a, **k))
    longer = dict(other, model=dict(experiment["model"], max_length=24), seeds=[1])
    calls.clear()
    run_experiment(validate_config(longer))
    assert sorted(calls) == [30] * 6 + [64]
    assert len(list((cache_dir() / "features").glob("*.safetensors"))) == 14
