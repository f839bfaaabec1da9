"""Config validation: every mistake gives one clear message with the key path (and YAML line); nothing runs."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts.config import load_config, validate_config
from xstilts.errors import ConfigError

GOOD = """\
name: t
model:
  name_or_path: some/model
intermediate:
  tasks: [mnli]
target:
  tasks:
    - task: xnli
      languages: [de, fr]
    - tatoeba
"""


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_fills_defaults(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert [s.task for s in cfg.intermediate.tasks] == ["mnli"]
    assert cfg.target.tasks[0].languages == ["de", "fr"]
    assert cfg.target.tasks[1].label == "tatoeba"
    assert cfg.seeds == [13] and cfg.intermediate.lr == 2e-5
    base = cfg.baseline()
    assert base.intermediate.tasks == [] and base.target.tasks == cfg.target.tasks


@pytest.mark.parametrize("text, expected", [
    (GOOD.replace("name_or_path", "name_or_pth"), ["c.yaml:3", "model.name_or_pth: unknown key"]),
    (GOOD.replace("tasks: [mnli]", "tasks: [mnil]"), ["c.yaml:5", "intermediate.tasks.0", "unknown task 'mnil'",
                                                      "did you mean 'mnli'"]),
    (GOOD + "  lr: -0.1\n", ["target.lr", "greater than 0"]),
    (GOOD.replace("[de, fr]", "[de, xx]"), ["target.tasks.0", "no language(s) xx"]),
    (GOOD.replace("tasks: [mnli]", "tasks: [xnli]"), ["intermediate.tasks", "not an intermediate task"]),
    (GOOD.replace("    - tatoeba\n", "    - mnli\n"), ["target.tasks", "not a target task"]),
    (GOOD + "seeds: [1, x]\n", ["seeds.1", "integer"]),
    (GOOD.replace("name: t", "name: t\nbatch_size: 3"), ["batch_size: unknown key"]),
    ("model: [1, 2\n", ["invalid YAML"]),
    (GOOD.replace("    - tatoeba\n", "    - {task: tatoeba, options: {x: 1}}\n"), ["takes no options"]),
])
def test_bad_configs_name_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    for piece in expected:
        assert piece in str(err.value), (piece, str(err.value))


def test_overrides(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), ["target.lr=1e-5", "intermediate.tasks.0.max_examples=100",
                                              "seeds=[1, 2]"])
    assert cfg.target.lr == 1e-5 and cfg.intermediate.tasks[0].max_examples == 100 and cfg.seeds == [1, 2]
    with pytest.raises(ConfigError, match="key=value"):
        load_config(write(tmp_path, GOOD), ["target.lr"])
    with pytest.raises(ConfigError, match="target.epochz: unknown key"):
        load_config(write(tmp_path, GOOD), ["target.epochz=3"])


def test_open_language_tasks_accept_iso_codes_only():
    base = {"model": {"name_or_path": "m"}}
    ok = validate_config({**base, "target": {"tasks": [{"task": "tatoeba-udhr", "languages": ["gsw", "de"]}]}})
    assert ok.target.tasks[0].languages == ["gsw", "de"]
    with pytest.raises(ConfigError, match="not an ISO 639 code"):
        validate_config({**base, "target": {"tasks": [{"task": "tatoeba", "languages": ["German"]}]}})


def test_duplicate_target_labels_rejected():
    with pytest.raises(ConfigError, match="used twice"):
        validate_config({"model": {"name_or_path": "m"}, "target": {"tasks": ["tatoeba", "tatoeba"]}})


def test_cli_typo_fails_fast_with_one_line(tmp_path):
    cfg = write(tmp_path, GOOD.replace("name_or_path", "name_or_pth"))
    t0 = time.time()
    res = subprocess.run([sys.executable, "-m", "xstilts", "run", str(cfg)], capture_output=True, text=True)
    assert time.time() - t0 < 5
    assert res.returncode == 2
    assert "model.name_or_pth: unknown key" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    out = tmp_path / "runs"
    assert not out.exists()


def test_cli_debug_shows_traceback(tmp_path):
    cfg = write(tmp_path, GOOD.replace("[mnli]", "[mnil]"))
    res = subprocess.run([sys.executable, "-m", "xstilts", "--debug", "run", str(cfg)], capture_output=True, text=True)
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_help_on_every_command():
    for cmd in ([], ["run"], ["eval"], ["tasks"], ["prepare"], ["compare"]):
        res = subprocess.run([sys.executable, "-m", "xstilts", *cmd, "--help"], capture_output=True, text=True)
        assert res.returncode == 0 and "Usage" in res.stdout, cmd
