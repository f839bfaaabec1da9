"""True model identity (issue 14, item 3) and revisions in phase keys (item 4): the 4-bit rebuild has its own id, a
hub id means the hub model or the user's Hugging Face cache of it and never the stand-in, and a new hub commit (of
the model or of hub data) is a new phase."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from xstilts.errors import XstiltsError

REBUILD = "xstilts/multilingual-e5-small-4bit-rebuild"
HUB = "intfloat/multilingual-e5-small"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rebuild_only(tiny_model, tmp_path, monkeypatch):
    """The rebuild in the xstilts cache (the tiny model stands in for it), an empty Hugging Face cache, offline."""
    from xstilts.paths import model_cache_path

    shutil.copytree(tiny_model, model_cache_path(REBUILD))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return model_cache_path(REBUILD)


def _eval_config(tmp_path: Path, model: str) -> Path:
    from fixtures import write_tatoeba

    data = write_tatoeba(tmp_path / "tatoeba", {"deu": (["alpha beta", "gamma delta", "red cat"],
                                                       ["alpha beta", "gamma delta", "red cat"])})
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "ident", "output_dir": str(tmp_path / "out"), "device": "cpu", "num_threads": 1, "trackers": [],
        "with_baseline": False, "model": {"name_or_path": model, "max_length": 16},
        "target": {"tasks": [{"task": "tatoeba", "data_dir": str(data), "languages": ["de"]}]}}))
    return cfg


def test_the_hub_id_offline_with_only_the_rebuild_fails_naming_the_rebuild(rebuild_only, tmp_path):
    from typer.testing import CliRunner

    from xstilts.cli import app
    from xstilts.models.backbone import model_source

    with pytest.raises(XstiltsError, match=REBUILD):
        model_source(HUB)
    for command in ("eval", "run"):
        res = CliRunner().invoke(app, [command, str(_eval_config(tmp_path, HUB))])
        assert res.exit_code == 2, res.output
        out = res.output.strip()
        assert len(out.splitlines()) == 1 and HUB in out and REBUILD in out and "Traceback" not in out, out
    assert not (tmp_path / "out" / "phases").exists()


def test_the_rebuild_id_works_offline(rebuild_only, tmp_path, one_thread):
    from typer.testing import CliRunner

    from xstilts.cli import app
    from xstilts.io import read_json
    from xstilts.models.backbone import model_source

    src = model_source(REBUILD)
    assert src.kind == "rebuild" and Path(src.path) == rebuild_only
    res = CliRunner().invoke(app, ["eval", str(_eval_config(tmp_path, REBUILD))])
    assert res.exit_code == 0, res.output
    run = read_json(tmp_path / "out" / "ident" / "baseline-seed13" / "run.json")
    assert run["provenance"]["model"]["name"] == REBUILD and run["provenance"]["model"]["kind"] == "rebuild"


def test_online_a_hub_id_is_the_hub_model_even_with_the_rebuild_in_the_cache(rebuild_only, monkeypatch):
    from xstilts.models import backbone as modeling

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(modeling, "_hub_commit_online", lambda repo, rev, kind: "c" * 40)
    src = modeling.model_source(HUB)
    assert (src.kind, src.path, src.revision, src.commit) == ("hub", HUB, "c" * 40, "c" * 40)

    class RepositoryNotFoundError(Exception):
        pass

    def missing(repo, rev, kind):
        raise RepositoryNotFoundError("404")

    monkeypatch.setattr(modeling, "_hub_commit_online", missing)
    with pytest.raises(XstiltsError, match="no such model repository"):
        modeling.model_source("org/nothing-here")


def _snapshot(hf: Path, repo: str, commit: str, model: Path) -> Path:
    folder = hf / "hub" / f"models--{repo.replace('/', '--')}"
    shutil.copytree(model, folder / "snapshots" / commit, dirs_exist_ok=True)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return folder / "snapshots" / commit


def test_a_hub_model_offline_is_the_hf_cache_snapshot_and_its_commit_is_in_the_phase_key(tiny_model, tmp_path,
                                                                                        monkeypatch):
    from xstilts.config import validate_config
    from xstilts.models.backbone import model_source
    from xstilts.experiment.keys import phase_keys

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    repo, a, b = "org/encoder", "a" * 40, "b" * 40
    snap = _snapshot(tmp_path / "hf", repo, a, tiny_model)
    src = model_source(repo)
    assert (src.kind, Path(src.path), src.commit) == ("hub", snap, a)
    cfg = validate_config({"model": {"name_or_path": repo}, "intermediate": {"tasks": ["mnli"]},
                           "target": {"tasks": ["xnli"]}})
    first = phase_keys(cfg, 1)
    assert phase_keys(cfg, 1) == first  # stable while nothing changes
    _snapshot(tmp_path / "hf", repo, b, tiny_model)  # the same files at a new commit: a new model all the same
    second = phase_keys(cfg, 1)
    assert second["intermediate"] != first["intermediate"] and second["targets"] != first["targets"]
    pinned = validate_config({"model": {"name_or_path": repo, "revision": a}, "intermediate": {"tasks": ["mnli"]},
                              "target": {"tasks": ["xnli"]}})
    assert phase_keys(pinned, 1) == first


def test_a_new_commit_of_hub_data_is_a_new_phase(monkeypatch, tiny_model):
    from xstilts.models import backbone as modeling
    from xstilts.config import validate_config
    from xstilts.experiment.keys import phase_keys

    commit = {"value": "1" * 40}
    real = modeling.hub_commit

    def fake(repo, revision=None, repo_type="model"):
        return (commit["value"], "hub") if repo_type == "dataset" else real(repo, revision, repo_type)

    monkeypatch.setattr(modeling, "hub_commit", fake)
    cfg = validate_config({"model": {"name_or_path": str(tiny_model)}, "target": {"tasks": ["pawsx"]}})  # no local data
    first = phase_keys(cfg, 1)["targets"]["pawsx"]
    assert phase_keys(cfg, 1)["targets"]["pawsx"] == first
    commit["value"] = "2" * 40
    assert phase_keys(cfg, 1)["targets"]["pawsx"] != first


def test_a_local_model_is_named_by_its_content(tiny_model, tmp_path):
    from xstilts.config import validate_config
    from xstilts.experiment.keys import model_identity

    moved = shutil.copytree(tiny_model, tmp_path / "elsewhere")
    ident = [model_identity(validate_config({"model": {"name_or_path": str(p)}})) for p in (tiny_model, moved)]
    assert ident[0] == ident[1] and len(ident[0]["sha256"]) == 64
    with open(moved / "config.json", "a") as f:
        f.write(" ")
    assert model_identity(validate_config({"model": {"name_or_path": str(moved)}}))["sha256"] != ident[0]["sha256"]


def test_prepare_puts_the_rebuild_under_its_own_id_and_moves_an_old_build(tmp_path):
    import json

    from xstilts import provision
    from xstilts.models.backbone import REBUILDS
    from xstilts.paths import model_cache_path
    from xstilts.provision import e5

    assert e5.REBUILD_ID == REBUILD and REBUILDS[REBUILD][0] == e5.UPSTREAM == HUB
    assert provision.model_dir() == model_cache_path(REBUILD)
    old = model_cache_path(HUB)
    old.mkdir(parents=True)
    marker = e5.marker("float32")
    del marker["id"]
    (old / e5.MARKER).write_text(json.dumps(marker))
    (old / "config.json").write_text("{}")
    provision._move_old_model_folder(lambda m: None)
    assert not old.exists() and e5.is_complete(provision.model_dir(), "float32")


@pytest.mark.parametrize("path", ["configs/demo.yaml", "configs/eval_udhr.yaml"])
def test_presets_name_the_rebuild(path):
    data = yaml.safe_load((ROOT / path).read_text())
    assert data["model"]["name_or_path"] == REBUILD


def test_no_study_names_the_hub_id_for_the_rebuild():
    for f in (ROOT / "studies").rglob("*.yaml"):
        assert f"name_or_path: {HUB}" not in f.read_text(), f


def test_the_family_and_adapters_are_part_of_the_model_identity(tiny_model):
    from xstilts.config import validate_config
    from xstilts.experiment.keys import phase_keys

    def keys(**model):
        return phase_keys(validate_config({"model": {"name_or_path": str(tiny_model), **model},
                                           "intermediate": {"tasks": ["mnli"]}, "target": {"tasks": ["xnli"]}}), 1)

    variants = [keys(), keys(family="bilstm"), keys(family="bilstm", bilstm={"layers": 2}), keys(lora={"r": 4}),
                keys(size="small")]
    assert len({v["intermediate"] for v in variants[:4]}) == 4
    assert variants[4] == variants[0]  # a label only
