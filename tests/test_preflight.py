"""Every input is read and checked before anything trains (issue 14, item 1), and a late failure leaves no orphan:
a defect in any split of any task a run touches fails it before the first optimizer step with nothing in the phase
store; a failure after training leaves a work folder that the same inputs resume, and ``xstilts gc`` removes the
ones no input can resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from xstilts.errors import XstiltsError

# (task, role, splits): one task per reader; targets are read in every split, retrieval tasks in the splits they score
CASES = [
    ("mnli", "intermediate", ("train", "dev")), ("qqp", "intermediate", ("train", "dev")),
    ("anli", "intermediate", ("train", "dev")), ("squad", "intermediate", ("train", "dev")),
    ("hellaswag", "intermediate", ("train", "dev")), ("cosmosqa", "intermediate", ("train", "dev")),
    ("commonsenseqa", "intermediate", ("train", "dev")), ("siqa", "intermediate", ("train", "dev")),
    ("ccg", "intermediate", ("train", "dev")), ("kjv-web-paraphrase", "intermediate", ("train", "dev")),
    ("xnli", "target", ("train", "dev", "test")), ("pawsx", "target", ("train", "dev", "test")),
    ("udpos", "target", ("train", "dev", "test")), ("panx", "target", ("train", "dev", "test")),
    ("xquad", "target", ("train", "test")), ("mlqa", "target", ("train", "dev", "test")),
    ("tydiqa", "target", ("train", "dev", "test")), ("xcopa", "target", ("train", "dev", "test")),
    ("tatoeba", "retrieval", ("test",)), ("tatoeba-xtreme-r", "retrieval", ("test",)),
    ("bucc2018", "retrieval", ("test",)), ("lareqa", "retrieval", ("test",)), ("mewslix", "retrieval", ("test",)),
]
PARAMS = [(t, role, split) for t, role, splits in CASES for split in splits]


@pytest.fixture(scope="module")
def example_data(tmp_path_factory):
    """Every task's example folder and the tiny model (written once for the module)."""
    from xstilts.provision.examples import write_examples, write_tiny_model

    root = tmp_path_factory.mktemp("examples")
    write_examples(root / "data")
    write_tiny_model(root / "model")
    return root


def _spec(task: str, data: Path) -> dict:
    from xstilts.provision.examples import task_languages

    entry = {"task": task, "data_dir": str(data / task)}
    languages = task_languages()  # the example data's languages (provision/examples.py's and task modules')
    if task in languages:
        entry["languages"] = list(languages[task])
    return entry


def _config(tmp: Path, model: Path, data: Path, inter: list[str], targets: list[str], **extra) -> dict:
    return {"name": "pf", "output_dir": str(tmp / "out"), "seeds": [1, 2], "with_baseline": True, "device": "cpu",
            "num_threads": 1, "trackers": [], "model": {"name_or_path": str(model), "max_length": 64},
            "intermediate": {"tasks": [_spec(t, data) for t in inter], "max_steps": 2, "batch_size": 4},
            "target": {"tasks": [_spec(t, data) for t in targets], "max_steps": 2, "batch_size": 4}, **extra}


def _files_of(spec_dict: dict, split: str) -> list[Path]:
    """The files the reader opens for *split* (first language that has it: the training language, then the
    evaluated ones)."""
    from xstilts.config import TaskSpec
    from xstilts.errors import MissingDataError
    from xstilts.loading import clear_cache, load_examples
    from xstilts.tasks import get_task
    from xstilts.tasks.base import recording

    spec = TaskSpec.model_validate(spec_dict)
    task = get_task(spec.task)
    name = {"train": task.train_split, "dev": task.dev_split, "test": task.test_split}[split]
    langs = [task.train_language] if split == "train" else [*(spec.languages or []), task.train_language]
    for lang in langs:
        clear_cache()
        with recording() as files:
            try:
                load_examples(spec, name, lang)
            except MissingDataError:
                continue
        if files:
            return list(dict.fromkeys(files))
    raise AssertionError(f"{spec.task}: no {split} file found")


@pytest.mark.parametrize("task,role,split", PARAMS, ids=[f"{t}-{s}" for t, _, s in PARAMS])
def test_a_bad_file_fails_before_training_with_nothing_stored(task, role, split, example_data, tmp_path,
                                                             monkeypatch):
    from xstilts.experiment import run as run_experiment, training
    from xstilts.config import validate_config
    from xstilts.loading import clear_cache
    from xstilts.provision.examples import task_depends

    data = tmp_path / "data"
    good = "pawsx" if task == "xnli" else "xnli"
    for name in {task, "mnli", good, *task_depends().get(task, ())}:
        shutil.copytree(example_data / "data" / name, data / name)
    # the defective task comes last: an intermediate task before a good target, a target after a good one
    inter = [task] if role == "intermediate" else ["mnli"]
    targets = [good] if role == "intermediate" else [good, task]
    raw = _config(tmp_path, example_data / "model", data, inter, targets)
    entry = (raw["intermediate"] if role == "intermediate" else raw["target"])["tasks"][-1]
    files = _files_of(entry, split)
    with open(files[-1], "ab") as f:  # invalid UTF-8 at the end of the file the reader opens last
        f.write(b"\n\xff\xfe\n")

    def no_training(*a, **k):
        raise AssertionError("trained before the defect was found")

    monkeypatch.setattr(training, "train", no_training)
    clear_cache()
    cfg = validate_config(raw)
    with pytest.raises(XstiltsError) as e:
        run_experiment(cfg)
    assert str(files[-1]) in str(e.value) and "UTF-8" in str(e.value), str(e.value)
    assert "\n" not in str(e.value)
    store = tmp_path / "out" / "phases"
    assert not store.exists() or not any(store.iterdir()), list(store.iterdir())
    assert not (tmp_path / "out" / "pf").exists()  # no run folder either


def test_the_phases_reuse_what_the_checks_read(example_data, tmp_path, monkeypatch):
    """The phases reuse the examples the checks parsed: no data file is opened after the checks."""
    from xstilts.experiment import run as run_experiment, runner
    from xstilts.config import validate_config
    from xstilts.loading import clear_cache
    from xstilts.tasks import base

    data = tmp_path / "data"
    for name in ("mnli", "xnli", "tatoeba"):
        shutil.copytree(example_data / "data" / name, data / name)
    raw = _config(tmp_path, example_data / "model", data, ["mnli"], ["xnli", "tatoeba"], with_baseline=False)
    raw["seeds"] = [1]
    opened: list[Path] = []
    real = base.read_bytes

    def counting(path, what):
        opened.append(Path(path))
        return real(path, what)

    monkeypatch.setattr(base, "read_bytes", counting)
    clear_cache()
    cfg = validate_config(raw)
    checked = []
    real_check = runner.check_inputs

    def check(*a, **k):
        real_check(*a, **k)
        checked.extend(opened)
        opened.clear()

    monkeypatch.setattr(runner, "check_inputs", check)
    run_experiment(cfg)
    assert {p.relative_to(data).parts[0] for p in checked} == {"mnli", "xnli", "tatoeba"}
    assert opened == []


def _pawsx_config(tmp_path: Path, model: Path) -> tuple[dict, Path]:
    from fixtures import write_pawsx

    data = write_pawsx(tmp_path / "pawsx", langs=("en", "de"), n_train=40, n_test=12)
    return {"name": "late", "output_dir": str(tmp_path / "out"), "seeds": [3], "with_baseline": False,
            "device": "cpu", "num_threads": 1, "trackers": [], "model": {"name_or_path": str(model), "max_length": 32},
            "target": {"tasks": [{"task": "pawsx", "data_dir": str(data), "languages": ["en", "de"]}],
                       "max_steps": 3, "batch_size": 8, "eval_every": 3, "selection": "last"}}, data


def test_a_late_failure_leaves_a_resumable_folder_or_nothing(tiny_model, tmp_path, monkeypatch, one_thread):
    from xstilts.experiment import phases, run as run_experiment, training
    from xstilts.config import validate_config
    from xstilts.gc import scan
    from xstilts.loading import clear_cache
    from xstilts.experiment.preflight import WORK_LOCK, WORK_RECORD

    raw, data = _pawsx_config(tmp_path, tiny_model)
    cfg = validate_config(raw)
    store = tmp_path / "out" / "phases"

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(phases, "evaluate_languages", disk_full)
        with pytest.raises(OSError):
            run_experiment(cfg)
    work = [p for p in store.iterdir() if p.name.endswith(".partial")]
    assert len(work) == 1 and (work[0] / "train_state").is_dir() and (work[0] / WORK_RECORD).is_file()
    items = scan(store)
    assert [(i.path, i.remove) for i in items] == [(work[0], False)] and "resumable" in items[0].reason

    # the same inputs resume it: no training step again, and nothing left over
    def no_training(*a, **k):
        raise AssertionError("trained again instead of resuming")

    clear_cache()
    monkeypatch.setattr(training, "train", lambda *a, **k: _resume_only(no_training, *a, **k))
    run_experiment(cfg)
    assert sorted(p.name for p in store.iterdir()) == [work[0].name.removeprefix(".").removesuffix(".partial")]
    done = store / work[0].name.removeprefix(".").removesuffix(".partial")
    assert not (done / WORK_RECORD).exists() and not (done / WORK_LOCK).exists()


def _resume_only(fail, model, datas, hp, **kw):
    """``training.train`` when its checkpoint is at the last step (the loop only loads it), else *fail*."""
    from xstilts import train as training
    from xstilts.checkpoint import list_checkpoints

    if not list_checkpoints(kw["state_dir"]):
        fail()
    return training.train(model, datas, hp, **kw)


def test_gc_removes_what_no_input_can_resume(tiny_model, tmp_path, monkeypatch, one_thread):
    from xstilts.experiment import phases, run as run_experiment
    from xstilts.cli import app
    from xstilts.config import validate_config
    from xstilts.loading import clear_cache
    from typer.testing import CliRunner

    raw, data = _pawsx_config(tmp_path, tiny_model)
    cfg = validate_config(raw)
    store = tmp_path / "out" / "phases"

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(phases, "evaluate_languages", disk_full)
    with pytest.raises(OSError):
        run_experiment(cfg)
    (work,) = [p for p in store.iterdir() if p.name.endswith(".partial")]
    # leftovers of other kinds: a killed retrieval evaluation, a folder without checkpoint, a stale lock
    temp = store / ".eval-tatoeba-0123456789ab.x1y2z3.partial"
    empty = store / ".target-xnli-0123456789ab.partial"
    for d in (temp, empty):
        d.mkdir()
        (d / "predictions").mkdir()
    (store / ".locks").mkdir()
    (store / ".locks" / "abc.lock").write_text("")

    runner = CliRunner()
    res = runner.invoke(app, ["gc", str(tmp_path / "out"), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert temp.exists() and empty.exists() and work.exists()
    assert "would remove" in res.output and "kept" in res.output
    res = runner.invoke(app, ["gc", "--store", str(store)])
    assert res.exit_code == 0, res.output
    assert not temp.exists() and not empty.exists() and not (store / ".locks" / "abc.lock").exists()
    assert work.exists()  # resumable by the same config

    # the training data changes: the folder's inputs no longer hash to it, so no run can resume it
    with open(data / "en" / "train.tsv", "a", encoding="utf-8") as f:
        f.write("999\talpha beta\tgamma yes\t1\n")
    clear_cache()
    res = runner.invoke(app, ["gc", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert not work.exists() and "inputs changed" in res.output


def test_gc_keeps_a_folder_in_use(tmp_path):
    from xstilts.gc import scan
    from xstilts.experiment.preflight import hold_work_dir

    work = tmp_path / ".target-xnli-0123456789ab.partial"
    with hold_work_dir(work, {"config": {}, "seed": 1}):
        (item,) = scan(tmp_path)
        assert not item.remove and "in use" in item.reason
        with pytest.raises(XstiltsError, match="another process is building"):
            with hold_work_dir(work):
                pass
    (item,) = scan(tmp_path)
    assert item.remove  # no checkpoint in it


# ---------------------------------------------------------------------------------------------- CLI: one line, exit 2
def _cli(args):
    from typer.testing import CliRunner

    from xstilts.cli import app

    return CliRunner().invoke(app, args)


def _one_line_exit_2(res, *fragments):
    assert res.exit_code == 2, res.output
    out = res.output.strip()
    assert len(out.splitlines()) == 1 and "Traceback" not in out, out
    for frag in fragments:
        assert frag in out, out


def test_duplicate_key_names_both_lines(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  name_or_path: m\ntarget:\n  tasks: [xnli]\n  max_steps: 60\n  max_steps: 3\n")
    _one_line_exit_2(_cli(["run", str(cfg)]), f"{cfg}:6", "duplicate key max_steps", "line 5")


def test_duplicate_key_in_a_study_file(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text("name: s\nfixed:\n  model: {name_or_path: m}\n  seeds: [1]\n  seeds: [2]\n")
    _one_line_exit_2(_cli(["study", "plan", str(study)]), f"{study}:5", "duplicate key seeds", "line 4")


def test_a_directory_as_config(tmp_path):
    _one_line_exit_2(_cli(["run", str(tmp_path)]), str(tmp_path), "is a directory")


@pytest.mark.parametrize("name", ["./no-such-model", "/no/such/model", "~/no-such-model-xstilts", "runs/a/b"])
def test_missing_model_path_is_a_config_error(tmp_path, name):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: x\nmodel:\n  max_length: 32\n  name_or_path: {name}\ntarget:\n  tasks: [xnli]\n")
    _one_line_exit_2(_cli(["run", str(cfg)]), f"{cfg}:4", "model.name_or_path", "does not exist")


def test_conllu_empty_sentence_fails_the_run_before_training(example_data, tmp_path):
    data = tmp_path / "udpos"
    shutil.copytree(example_data / "data" / "udpos", data)
    test = next(data.rglob("de_*-ud-test.conllu"))
    lines = test.read_text(encoding="utf-8").split("\n")
    blank = lines.index("")  # after the first sentence: a second blank line (an empty sentence)
    test.write_text("\n".join(lines[:blank] + [""] + lines[blank:]), encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "u", "output_dir": str(tmp_path / "out"), "with_baseline": False, "device": "cpu", "trackers": [],
        "model": {"name_or_path": str(example_data / "model"), "max_length": 32},
        "target": {"tasks": [{"task": "udpos", "data_dir": str(data), "languages": ["en", "de"]}], "max_steps": 2}}))
    _one_line_exit_2(_cli(["run", str(cfg)]), f"{test}:{blank + 2}", "empty sentence")
    assert not (tmp_path / "out" / "phases").exists()


def test_minor_messages():
    from xstilts.errors import DataFormatError
    from xstilts.tasks.base import parse_json

    with pytest.raises(DataFormatError) as e:
        parse_json(Path("f.json"), '{"a": "b\x01c"}')
    assert "at at" not in str(e.value) and "column" in str(e.value)


def test_empty_tsv_header_message(tmp_path):
    from xstilts.errors import DataFormatError
    from xstilts.tasks.base import iter_tsv

    f = tmp_path / "t.tsv"
    f.write_text("")
    with pytest.raises(DataFormatError) as e:
        list(iter_tsv(f, header=["id", "label"]))
    assert "[" not in str(e.value) and "id<TAB>label" in str(e.value)
