"""Provenance in every run.json and metrics.json (issue 14, item 4): the model's commit or file digests, the data's
revisions or file digests, library versions (and the git commit of a checkout), device and dtype."""

from __future__ import annotations

import os
from pathlib import Path

from xstilts.io import read_json

LIBRARIES = ("python", "torch", "transformers", "datasets", "accelerate", "peft", "xstilts")


def _check(prov: dict, model: Path, labels: set[str]) -> None:
    assert prov["model"]["kind"] == "local" and len(prov["model"]["sha256"]) == 64
    assert {"config.json", "model.safetensors"} <= set(prov["model"]["files"])
    assert set(prov["data"]) == labels
    for d in prov["data"].values():
        assert d["source"] == "local" and d["files"] and all(len(f["sha256"]) == 64 for f in d["files"])
    env = prov["environment"]
    assert all(k in env for k in LIBRARIES) and env["python"] and env["torch"] and env["xstilts"]
    assert "git" in env  # a commit from a checkout, else None
    assert prov["device"]["type"] == "cpu" and prov["dtype"] == "float32" and prov["mixed_precision"] == "no"


def test_run_and_phase_provenance(tiny_model, tmp_path, one_thread):
    from fixtures import write_pawsx, write_tatoeba

    from xstilts.config import validate_config
    from xstilts.experiment import run as run_experiment

    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=24, n_test=8)
    tatoeba = write_tatoeba(tmp_path / "tatoeba", {"deu": (["alpha beta", "red cat"], ["alpha beta", "red cat"])})
    cfg = validate_config({
        "name": "prov", "output_dir": str(tmp_path / "out"), "seeds": [1], "with_baseline": False, "device": "cpu",
        "num_threads": 1, "trackers": [], "model": {"name_or_path": str(tiny_model), "max_length": 32},
        "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]},
                             {"task": "tatoeba", "data_dir": str(tatoeba), "languages": ["de"]}],
                   "max_steps": 2, "batch_size": 8, "selection": "last"}})
    run_experiment(cfg)
    run = read_json(tmp_path / "out" / "prov" / "baseline-seed1" / "run.json")
    _check(run["provenance"], tiny_model, {"pawsx", "tatoeba"})
    for phase in run["phases"]:
        m = read_json(Path(phase["dir"]) / "metrics.json")
        _check(m["provenance"], tiny_model, {phase["task"]})
        assert m["provenance"]["start"].startswith("pretrained-")
    names = {f["path"] for f in run["provenance"]["data"]["pawsx"]["files"]}
    assert names == {"en/train.tsv", "en/dev_2k.tsv", "en/test_2k.tsv", "de/dev_2k.tsv", "de/test_2k.tsv"}

    # a second run reuses every phase and records the same provenance
    again = run_experiment(cfg).written
    assert again
    run2 = read_json(tmp_path / "out" / "prov" / "baseline-seed1" / "run.json")
    assert run2["provenance"]["data"] == run["provenance"]["data"]


def test_file_digests_are_computed_once_per_file_version(tmp_path, monkeypatch):
    import hashlib

    from xstilts import provenance

    f = tmp_path / "w.bin"
    f.write_bytes(b"weights" * 1000)
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    assert provenance.file_sha256(f) == want
    provenance._MEMO.clear()  # a new process: the digest comes from <cache>/digests
    calls = []
    monkeypatch.setattr(provenance, "open", lambda *a, **k: calls.append(a[0]) or open(*a, **k), raising=False)
    assert provenance.file_sha256(f) == want and not calls
    f.write_bytes(b"other" * 1000)
    os.utime(f, ns=(1, 1))
    assert provenance.file_sha256(f) == hashlib.sha256(b"other" * 1000).hexdigest() and calls


def test_hub_data_provenance_names_the_commits(monkeypatch):
    from xstilts.models import backbone as modeling
    from xstilts.config import TaskSpec
    from xstilts.experiment.preflight import data_provenance

    monkeypatch.setattr(modeling, "hub_commit", lambda repo, rev=None, kind="model": ("f" * 40, "hub"))
    prov = data_provenance(TaskSpec(task="pawsx"))  # no local folder: the hub
    assert prov["source"] == "hub" and set(prov["datasets"].values()) == {"f" * 40}
