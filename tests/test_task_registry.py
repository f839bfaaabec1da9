"""Adding a task is adding a module: a tiny task module written here, in a folder the registry discovers (the
``$XSTILTS_TASK_PATH`` folders, or :func:`xstilts.tasks.discover`), is listed by ``xstilts tasks --json``,
configured, trained, evaluated and exported (``xstilts export-model``) with nothing else edited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TOY = textwrap.dedent('''
    """A toy sentence-pair task: everything about it in one module."""
    from pathlib import Path

    from xstilts.tasks import TARGET, ExampleData, Task, register
    from xstilts.tasks.base import iter_tsv, require_file
    from xstilts.tasks.families.classification import PairExample

    LABELS = ("no", "yes")


    def read(data_dir: Path, split: str, language: str):
        path = require_file(data_dir / f"{split}.{language}.tsv", "a toy-pairs file")
        task = get_task_once()
        return [PairExample(c[0], c[1], c[2], task.label_id(c[3], path, line)) for line, c in iter_tsv(path, 4)]


    def get_task_once():
        return TOY


    def write(root: Path) -> Path:
        from xstilts.tasks import _synthetic as ex

        rng = ex._rng("toy-pairs")
        for split, lang, n in (("train", "en", 64), ("dev", "en", 16), ("test", "en", 16), ("test", "de", 16)):
            rows = []
            for i in range(n):
                a, b, y = ex._pair(rng, lang, LABELS)
                rows.append(f"{i}\\t{a}\\t{b}\\t{LABELS[y]}")
            ex._write(root / f"{split}.{lang}.tsv", "\\n".join(rows) + "\\n")
        return root


    TOY = register(Task(
        name="toy-pairs", kind="pair_classification", roles=(TARGET,), languages=("en", "de"), metric="accuracy",
        labels=LABELS, read=read, data_subdir="toy-pairs", description="a toy paraphrase task",
        examples=ExampleData(write, ("en", "de")),
    ))
''')


@pytest.fixture
def toy_folder(tmp_path):
    folder = tmp_path / "task_modules"
    folder.mkdir()
    (folder / "toy_pairs.py").write_text(TOY, encoding="utf-8")
    return folder


@pytest.fixture
def toy_registered(toy_folder):
    """The toy module discovered in this process; removed from the registry afterwards."""
    from xstilts import tasks

    assert tasks.discover(toy_folder) == ["toy-pairs"]
    assert tasks.discover(toy_folder) == []  # a file is imported once
    yield tasks.get_task("toy-pairs")
    tasks.REGISTRY.pop("toy-pairs")
    tasks._LOADED_FILES.discard(str((toy_folder / "toy_pairs.py").resolve()))
    sys.modules.pop("xstilts_task_modules.toy_pairs", None)


def test_a_module_in_the_task_path_is_listed(toy_folder):
    env = {**os.environ, "XSTILTS_TASK_PATH": str(toy_folder),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "xstilts", "tasks", "--json"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    toy = next(t for t in json.loads(out.stdout) if t["name"] == "toy-pairs")
    assert toy["kind"] == "pair_classification" and toy["languages"] == ["en", "de"]


def test_a_task_module_is_all_it_takes(toy_registered, tmp_path, tiny_model, one_thread):
    from typer.testing import CliRunner

    from xstilts.cli import app
    from xstilts.config import validate_config
    from xstilts.experiment import run as run_experiment
    from xstilts.provision.examples import write_examples

    written = write_examples(tmp_path / "data", ["toy-pairs"])
    assert list(written) == ["toy-pairs"]
    cfg = validate_config({
        "name": "toy", "output_dir": str(tmp_path / "runs"), "seeds": [1], "with_baseline": False, "trackers": [],
        "device": "cpu", "model": {"name_or_path": str(tiny_model), "max_length": 32},
        "target": {"tasks": [{"task": "toy-pairs", "data_dir": str(written["toy-pairs"]), "languages": ["en", "de"]}],
                   "max_steps": 40, "batch_size": 8, "lr": 5e-3, "warmup_ratio": 0.0}})
    run_experiment(cfg)
    run = tmp_path / "runs" / "toy" / "baseline-seed1"
    result = json.loads((run / "run.json").read_text())
    scores = result["tasks"]["toy-pairs"]
    assert set(scores["languages"]) == {"en", "de"} and scores["metric"] == "accuracy"
    phase = (run / "phases" / "target-toy-pairs").resolve()
    assert (phase / "predictions" / "toy-pairs" / "test-de.tsv").read_text().split()[0] in ("no", "yes")
    r = CliRunner().invoke(app, ["export-model", str(run), "--out", str(tmp_path / "model")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "model" / "config.json").read_text())["id2label"] == {"0": "no", "1": "yes"}
