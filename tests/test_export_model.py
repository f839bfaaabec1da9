"""``xstilts export-model``: a target phase as a transformers ``AutoModelFor…`` folder that reproduces the phase's
predictions, an intermediate phase as an ``AutoModel`` encoder, a model card with the scores, and a push through
``huggingface_hub`` (a fake hub API)."""

import json

import pytest
import torch
from typer.testing import CliRunner

from fixtures import write_pawsx
from xstilts.cli import app
from xstilts.config import validate_config
from xstilts.experiment import run as run_experiment


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("export")
    pawsx = write_pawsx(tmp / "pawsx", langs=("en", "de"), n_train=96, n_test=16)
    kjv = tmp / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / ("train.tsv" if split == "train" else "dev_2k.tsv"))
                                          .read_text())
    cfg = validate_config({
        "name": "ex", "output_dir": str(tmp / "runs"), "seeds": [1], "with_baseline": False, "trackers": [],
        "model": {"name_or_path": str(tiny_model), "max_length": 32},
        "intermediate": {"tasks": [{"task": "kjv-web-paraphrase", "data_dir": str(kjv)}], "max_steps": 4,
                         "batch_size": 16, "lr": 1e-3},
        "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]}], "max_steps": 6,
                   "batch_size": 16, "lr": 1e-3}})
    run_experiment(cfg)
    return tmp / "runs" / "ex" / "stilts-seed1", pawsx


def test_target_phase_loads_as_sequence_classification_with_the_same_predictions(run_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run, pawsx = run_dir
    out = tmp_path / "model"
    r = CliRunner().invoke(app, ["export-model", str(run), "--out", str(out)])
    assert r.exit_code == 0, r.output
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    rows = [line.split("\t") for line in (pawsx / "de" / "test_2k.tsv").read_text().splitlines()[1:]]
    with torch.no_grad():
        enc = tok([r[1] for r in rows], [r[2] for r in rows], truncation=True, max_length=32, padding=True,
                  return_tensors="pt")
        pred = model(**enc).logits.argmax(-1).tolist()
    phase = (run / "phases" / "target-pawsx").resolve()
    saved = (phase / "predictions" / "pawsx" / "test-de.tsv").read_text().split()
    assert [str(p) for p in pred] == saved
    assert model.config.id2label == {0: "0", 1: "1"}
    # the card: base model, tasks, per-language scores as model-index results
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    m = json.loads((phase / "metrics.json").read_text())
    results = {(e.dataset_config, e.dataset_split): e.metric_value for e in card.data.eval_results}
    assert results[("de", "test")] == pytest.approx(m["languages"]["de"]["accuracy"])
    assert ("en", "dev") in results and card.data.base_model and "intermediate-kjv-web-paraphrase" in card.data.tags
    assert "kjv-web-paraphrase" in card.text and "| test | de | accuracy |" in card.text


def test_intermediate_phase_exports_the_encoder(run_dir, tmp_path):
    from transformers import AutoModel

    run, _ = run_dir
    out = tmp_path / "enc"
    r = CliRunner().invoke(app, ["export-model", str(run), "--phase", "intermediate", "--out", str(out)])
    assert r.exit_code == 0, r.output
    enc = AutoModel.from_pretrained(out)
    from safetensors.torch import load_file

    saved = load_file(str(run / "phases" / "intermediate" / "checkpoint" / "encoder" / "model.safetensors"))
    name = next(k for k in saved if k.endswith("query.weight"))
    assert torch.equal(enc.state_dict()[name], saved[name])
    r = CliRunner().invoke(app, ["export-model", str(run), "--phase", "target-xnli", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "no trained phase 'target-xnli'" in r.output


def test_push_uses_huggingface_hub(run_dir, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw.get("private"), kw.get("exist_ok")))

        def upload_folder(self, folder_path, repo_id, **kw):
            files = sorted(p.name for p in __import__("pathlib").Path(folder_path).iterdir())
            calls.append(("upload_folder", repo_id, files))
            return type("Info", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    run, _ = run_dir
    r = CliRunner().invoke(app, ["export-model", str(run), "--out", str(tmp_path / "m"), "--push", "me/pawsx-x"])
    assert r.exit_code == 0, r.output
    assert calls[1] == ("create_repo", "me/pawsx-x", True, True)
    assert calls[2][0] == "upload_folder" and {"README.md", "config.json", "model.safetensors"} <= set(calls[2][2])

    def refuse(self, *a, **k):
        raise ConnectionError("hub unreachable")

    monkeypatch.setattr(FakeApi, "create_repo", refuse)
    r = CliRunner().invoke(app, ["export-model", str(run), "--out", str(tmp_path / "m2"), "--push", "me/x"])
    assert r.exit_code == 2 and "pushing" in r.output and "ConnectionError" in r.output
