"""Issue 12, the study side: study files that extend others, one phase store shared by plain runs and studies, the
x-stilts grid's plan (cells, phase keys, per-target settings, estimate), scores by split in the results database,
the paper-shaped report table and the published reference row."""

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xstilts.cli import app
from xstilts.errors import ConfigError
from xstilts.study import ResultsDB, expand, load_study

ROOT = Path(__file__).resolve().parent.parent


def _dump(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------------- extends
def test_extends_merges_relative_to_each_file_and_errors_name_the_file(tmp_path, tiny_model):
    tat = tmp_path / "tatoeba"
    _dump(tmp_path / "configs" / "exp.yaml", {"model": {"name_or_path": str(tiny_model)}, "seeds": [3],
                                              "target": {"tasks": [{"task": "tatoeba", "data_dir": str(tat)}]}})
    parent = _dump(tmp_path / "studies" / "paper.yaml", {
        "name": "paper", "base": "../configs/exp.yaml", "fixed": {"target": {"lr": 3e-5, "batch_size": 8}},
        "axes": {"intermediate": [["kjv-web-paraphrase"], ["kjv-web-paraphrase-hard"]], "seed": [1, 2]}})
    child = _dump(tmp_path / "studies" / "small" / "mini.yaml", {
        "name": "mini", "extends": "../paper.yaml", "fixed": {"target": {"lr": 1e-4}},
        "axes": {"seed": [7]}})
    study = load_study(child)
    assert study.name == "mini" and study.spec.base.resolve() == (tmp_path / "configs" / "exp.yaml").resolve()
    cells = expand(study)
    assert sorted((c.variant, "+".join(c.intermediate), c.seed) for c in cells) == [
        ("baseline", "", 7), ("stilts", "kjv-web-paraphrase", 7), ("stilts", "kjv-web-paraphrase-hard", 7)]
    # mappings merged key by key, lists (an axis) replaced as a whole
    assert all(c.config.target.lr == 1e-4 and c.config.target.batch_size == 8 for c in cells)

    # an error names the file that wrote the key, and its line
    _dump(parent, {**yaml.safe_load(parent.read_text()), "axes": {"intermediate": [["nosuchtask"]]}})
    with pytest.raises(ConfigError, match=r"paper\.yaml:\d+: axes\.intermediate\.0\.0: unknown task"):
        expand(load_study(child))
    _dump(parent, {**yaml.safe_load(parent.read_text()), "axes": {"intermediate": [["kjv-web-paraphrase"]]}})
    _dump(child, {**yaml.safe_load(child.read_text()), "fixed": {"target": {"lr": -1}}})
    with pytest.raises(ConfigError, match=r"mini\.yaml:\d+: fixed\.target\.lr: "):
        expand(load_study(child))
    _dump(child, {**yaml.safe_load(child.read_text()), "axes": {"sed": [1]}})
    with pytest.raises(ConfigError, match=r"mini\.yaml:\d+: axes\.sed: unknown key"):
        load_study(child)
    # missing and circular files
    _dump(child, {"name": "mini", "extends": "../nothere.yaml"})
    with pytest.raises(ConfigError, match=r"mini\.yaml:2: extends: .*nothere\.yaml: study file not found"):
        load_study(child)
    _dump(parent, {"name": "paper", "extends": "small/mini.yaml"})
    _dump(child, {"name": "mini", "extends": "../paper.yaml"})
    with pytest.raises(ConfigError, match="a cycle"):
        load_study(child)
