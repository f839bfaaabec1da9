"""Training curves through accelerate's trackers (config ``trackers``): TensorBoard event files under each training
phase's ``logs`` folder, off without a tracker, an error for a named tracker that is not installed, and no effect on
phase hashes or study cell ids."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import pytest

from fixtures import write_pawsx
from xstilts.config import validate_config
from xstilts.errors import XstiltsError
from xstilts.experiment import run as run_experiment


@pytest.fixture
def experiment(tmp_path, tiny_model):
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=64, n_test=20)
    kjv = tmp_path / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    return {
        "name": "t", "output_dir": str(tmp_path / "runs"), "seeds": [1], "with_baseline": False,
        "model": {"name_or_path": str(tiny_model), "max_length": 32},
        "intermediate": {"tasks": [{"task": "kjv-web-paraphrase", "data_dir": str(kjv), "max_examples": 64,
                                    "max_eval_examples": 20}],
                         "epochs": 1, "lr": 1e-3, "batch_size": 16, "log_every": 2},
        "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en", "de"]}],
                   "epochs": 1, "lr": 1e-3, "batch_size": 16, "log_every": 2},
    }


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value)]}`` of the scalar summaries in every TensorBoard event file under *folder* (TFRecord
    framing: length u64, its CRC u32, an ``Event`` protobuf, its CRC u32)."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event
    except ImportError:
        from tensorboardX.proto.event_pb2 import Event
    out: dict[str, list[tuple[int, float]]] = {}
    for f in sorted(folder.rglob("events.out.tfevents.*")):
        data = f.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            ev = Event.FromString(data[pos + 12:pos + 12 + n])
            pos += 12 + n + 4
            for v in ev.summary.value:
                if v.WhichOneof("value") == "simple_value":
                    out.setdefault(v.tag, []).append((ev.step, v.simple_value))
    return out


def _phases(runs: Path) -> dict[str, Path]:
    return {p.name.split("-")[0]: p for p in (runs / "phases").iterdir() if not p.name.startswith(".")}


def test_training_writes_event_files_under_the_phase_logs(experiment, tmp_path, one_thread):
    if importlib.util.find_spec("tensorboard") is None:
        pytest.importorskip("tensorboardX")  # in the `test` extra
    run_experiment(validate_config(experiment))  # default trackers: auto = tensorboard, installed here
    phases = _phases(tmp_path / "runs")
    assert set(phases) == {"intermediate", "target"}
    for kind, folder in phases.items():
        assert list((folder / "logs" / "xstilts").glob("events.out.tfevents.*")), kind
        ev = read_events(folder / "logs")
        steps = [s for s, _ in ev["train/loss"]]
        assert steps == [2, 4], (kind, ev.keys())  # 64 examples / 16 = 4 steps, log_every 2
        assert [s for s, _ in ev["train/lr"]] == [2, 4] and ev["train/step"] == [(2, 2.0), (4, 4.0)]
        assert all(v > 0 for _, v in ev["train/loss"])
    inter = read_events(phases["intermediate"] / "logs")
    assert [s for s, _ in inter["dev/kjv-web-paraphrase/en/accuracy"]] == [4]
    target = read_events(phases["target"] / "logs")
    metrics = json.loads((phases["target"] / "metrics.json").read_text())
    for lang in ("en", "de"):
        (step, value), = target[f"test/pawsx/{lang}/accuracy"]
        assert step == 4 and value == pytest.approx(metrics["languages"][lang]["accuracy"])
    # the loss curve of metrics.json is the one logged
    curve = metrics["train"]["loss_curve"]
    assert [(s, pytest.approx(v, rel=1e-5)) for s, v in curve] == target["train/loss"]
    # the run's hyperparameters are stored with it
    assert list((phases["target"] / "logs" / "xstilts").rglob("hparams.yml"))


def test_trackers_do_not_change_phase_hashes(experiment, tmp_path, monkeypatch, one_thread):
    from xstilts.experiment import training

    experiment["trackers"] = []
    run_experiment(validate_config(experiment))
    phases = _phases(tmp_path / "runs")
    assert not any((p / "logs").exists() for p in phases.values())  # off: nothing written
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("a finished phase was run again"))
    for trackers in (["auto"], ["tensorboard"], "all"):
        experiment["trackers"] = trackers
        monkeypatch.setattr("xstilts.trackers._installed", lambda name: True)
        run_experiment(validate_config(experiment))
    assert _phases(tmp_path / "runs") == phases


def test_default_without_tensorboard_is_silent_and_a_named_missing_tracker_fails(experiment, tmp_path,
                                                                                  monkeypatch, one_thread):
    from typer.testing import CliRunner

    from xstilts.cli import app
    from xstilts.trackers import resolve_trackers

    monkeypatch.setattr("xstilts.trackers._installed", lambda name: False)
    assert resolve_trackers(["auto"]) == [] and resolve_trackers(["all"]) == [] and resolve_trackers([]) == []
    with pytest.raises(XstiltsError, match=r"trackers: tensorboard is not installed \(pip install "
                                           r"'xstilts\[tracking\]'\)"):
        resolve_trackers(["tensorboard"])
    experiment["intermediate"]["tasks"] = []
    run_experiment(validate_config(experiment))  # auto, nothing installed: trains without logs
    (target,) = _phases(tmp_path / "runs").values()
    assert (target / "metrics.json").is_file() and not (target / "logs").exists()
    # asked for by name: one line, before any model is loaded
    from xstilts.experiment import training

    monkeypatch.setattr(training, "build_backbone", lambda *a, **k: pytest.fail("a model was loaded"))
    experiment["trackers"] = ["wandb"]
    experiment["output_dir"] = str(tmp_path / "other")
    with pytest.raises(XstiltsError, match="trackers: wandb is not installed"):
        run_experiment(validate_config(experiment))
    import yaml

    cfg_file = tmp_path / "exp.yaml"
    cfg_file.write_text(yaml.safe_dump(experiment))
    res = CliRunner().invoke(app, ["run", str(cfg_file), "--set", "trackers=mlflow"])
    assert res.exit_code == 2 and "trackers: mlflow is not installed (pip install mlflow)" in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output


def test_trackers_config_values(tiny_model):
    base = {"model": {"name_or_path": str(tiny_model)}}
    assert validate_config(base).trackers == ["auto"]
    for value, want in ((None, []), ("none", []), (False, []), ([], []), ("wandb", ["wandb"]),
                        (["tensorboard", "mlflow", "tensorboard"], ["tensorboard", "mlflow"]), ("all", ["all"])):
        assert validate_config({**base, "trackers": value}).trackers == want, value
    with pytest.raises(Exception, match="unknown tracker.*'tensorbord'"):
        validate_config({**base, "trackers": ["tensorbord"]})


def test_trackers_keep_study_cell_ids(tmp_path):
    from xstilts.study.grid import expand
    from xstilts.study.spec import study_from_dict

    def ids(fixed: dict) -> list[str]:
        study = study_from_dict({"name": "s", "output_dir": str(tmp_path), "fixed": {
            "model": {"name_or_path": "org/some-encoder"}, **fixed},
            "axes": {"intermediate": [["mnli"]], "target": ["xnli"], "seed": [1, 2]}})
        return sorted(c.id for c in expand(study))

    assert ids({}) == ids({"trackers": []}) == ids({"trackers": ["wandb", "tensorboard"]})
