"""Dependencies: optional packages come from named extras, a missing one is a one-line error naming the extra, and
pyproject's bounds are satisfied by what is installed and each has its reason beside it."""

import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from typer.testing import CliRunner

from xstilts.deps import EXTRAS, MissingExtra, require

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def _missing(monkeypatch, *modules):
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)  # `import m` raises ImportError


def test_require_names_the_extra(monkeypatch):
    _missing(monkeypatch, "peft")
    with pytest.raises(MissingExtra) as e:
        require("peft", why="model.lora (LoRA training)")
    msg = str(e.value)
    assert msg == ("model.lora (LoRA training) needs the optional package `peft`, which is not installed: "
                   "pip install 'xstilts[lora]'")
    assert require("json").dumps({}) == "{}"
    with pytest.raises(MissingExtra, match=r"pip install 'xstilts\[qlora\]'"):
        require("no_such_module_xyz", extra="qlora")


def test_lora_without_peft_fails_naming_the_extra(monkeypatch):
    from xstilts.config import LoraConfig
    from xstilts.models.backbone import add_lora

    _missing(monkeypatch, "peft")
    with pytest.raises(MissingExtra, match=r"^model\.lora \(LoRA training\) needs .* pip install 'xstilts\[lora\]'$"):
        add_lora(object(), LoraConfig())


def test_a_study_on_submitit_without_it_is_one_line_naming_the_extra(tmp_path, tiny_model, monkeypatch):
    from xstilts.cli import app

    _missing(monkeypatch, "submitit")
    study = {"name": "s", "output_dir": str(tmp_path / "studies"),
             "fixed": {"model": {"name_or_path": str(tiny_model)}},
             "axes": {"intermediate": [[]], "target": [{"task": "tatoeba", "data_dir": str(tmp_path / "none")}],
                      "seed": [1]},
             "executor": {"kind": "submitit", "cluster": "local"}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study))
    res = CliRunner().invoke(app, ["study", "run", str(path)])
    last = res.output.strip().splitlines()[-1]
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "executor.kind: submitit needs the optional package `submitit`" in last
    assert "pip install 'xstilts[slurm]'" in last


def test_pyproject_bounds_are_installed_and_explained():
    text = PYPROJECT.read_text()
    meta = tomllib.loads(text)
    assert "setuptools>=77" in meta["build-system"]["requires"]  # SPDX `license = "MIT"`
    project = meta["project"]
    assert project["license"] == "MIT"
    reqs = [Requirement(r) for r in project["dependencies"]]
    extras = project["optional-dependencies"]
    assert set(extras) >= {"slurm", "provision", "lora", "qlora", "tracking", "test"}
    for name, (dist, extra) in EXTRAS.items():  # the helper's extras are the ones pyproject declares
        assert extra in extras and any(Requirement(r).name.lower() == dist.lower() for r in extras[extra]
                                       if not r.startswith("xstilts")) or dist == "tensorboardX", name
    assert {Requirement(r).name for r in extras["test"]} >= {"pytest", "hypothesis", "xstilts"}
    assert "slurm" in Requirement(next(r for r in extras["test"] if r.startswith("xstilts"))).extras
    lines = text.splitlines()
    for req in reqs + [Requirement(r) for e in extras.values() for r in e if not r.startswith("xstilts")]:
        ops = {s.operator for s in req.specifier}
        assert ">=" in ops and "<" in ops, f"{req}: needs a lower and an upper bound"
        upper = next(s.version for s in req.specifier if s.operator == "<")
        lower = next(s.version for s in req.specifier if s.operator == ">=")
        assert int(upper.split(".")[0]) > int(lower.split(".")[0]) or upper.startswith("1") and \
            lower.startswith("0"), f"{req}: the upper bound is the next major version"
        # each core dependency has its reason in a comment above it or beside it
        if req in reqs:
            i = next(i for i, line in enumerate(lines) if line.strip().startswith(f'"{req.name}'))
            assert lines[i - 1].strip().startswith("#") or "#" in lines[i], f"{req.name}: no reason given"
        try:
            installed = version(req.name)
        except Exception:  # an extra that is not installed here (bitsandbytes, tensorboard, pysword)
            continue
        assert req.specifier.contains(re.sub(r"\+.*", "", installed), prereleases=True), (req, installed)
    torch = next(r for r in reqs if r.name == "torch")
    assert torch.specifier.contains("2.13.0")  # the on-disk CPU build stays
