"""The research-question presets (issue 13, item 4): ``studies/rq*.yaml`` plan offline with real hub models and real
XTREME / XTREME-R targets, and state the GPU-hours they plan; the small versions in ``studies/offline/`` still plan.

"Offline" here is strict: ``HF_HUB_OFFLINE=1``, an empty Hugging Face cache and an empty xstilts cache, no data
folders, the working directory an empty folder, and any attempt to open a network connection fails the test. A plan
loads no model: a hub id that is not cached must not be needed for it.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xstilts.xtreme.benchmark import XTREME, XTREME_LANGUAGES, XTREME_R, XTREME_R_LANGUAGES
from xstilts.cli import app
from xstilts.study import expand, load_study

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"

#: XTREME's nine target tasks and XTREME-R's ten, by registry name (XTREME-R's Tatoeba is tatoeba-xtreme-r).
XTREME_TASKS = {t for ts in XTREME.categories.values() for t in ts}
XTREME_R_TASKS = {("tatoeba-xtreme-r" if t == "tatoeba" else t) for ts in XTREME_R.categories.values() for t in ts}
#: A hub id: ``owner/name``, nothing that looks like a local folder.
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")

#: preset -> (cells, hub model ids, targets, intermediate phases per seed)
REAL = {
    "rq1_model_scale": (270, {"FacebookAI/xlm-roberta-base", "FacebookAI/xlm-roberta-large"}, XTREME_TASKS, 8),
    "rq2_data_size": (459, {"FacebookAI/xlm-roberta-large"}, XTREME_TASKS, 16),
    "rq3_architectures": (360, {"FacebookAI/xlm-roberta-base", "microsoft/mdeberta-v3-base", "Qwen/Qwen2.5-0.5B"},
                          XTREME_R_TASKS, 8),
    "rq4_tasks_vs_budget": (243, {"FacebookAI/xlm-roberta-large"}, XTREME_TASKS, 8),
    "rq5_llm_size": (180, {"Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-14B"}, XTREME_R_TASKS, 4),
}
#: The offline versions (moved to studies/offline/) and the other presets that plan without a GPU.
OFFLINE = ["offline/model_size", "offline/data_size", "offline/architecture", "offline/task_count_budget",
           "offline/llm_size", "offline/x-stilts-mini", "demo", "x-stilts"]


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty working directory, empty caches, the hub offline and no network at all."""
    hf = tmp_path / "hf-home"
    (hf / "hub").mkdir(parents=True)
    for key, value in {"HF_HOME": hf, "HF_HUB_CACHE": hf / "hub", "HUGGINGFACE_HUB_CACHE": hf / "hub",
                       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}.items():
        monkeypatch.setenv(key, str(value))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    real_connect = socket.socket.connect

    def no_network(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"study plan tried to open a network connection to {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", no_network)
    yield work
    assert not any((hf / "hub").iterdir()), "planning put something in the Hugging Face cache"


def _plan(path: Path) -> dict:
    r = CliRunner().invoke(app, ["study", "plan", str(path), "--json"])
    assert r.exit_code == 0, f"{path.name} does not plan offline:\n{r.output}"
    return json.loads(r.output)


@pytest.mark.parametrize("preset", sorted(REAL))
def test_real_presets_plan_offline_with_hub_models_and_benchmark_targets(preset, offline):
    cells_n, models, targets, inter_per_seed = REAL[preset]
    path = STUDIES / f"{preset}.yaml"
    plan = _plan(path)
    cells = plan["cells"]
    assert len(cells) == cells_n
    # real hub models of the expected families, not local folders
    named = {c["axes"]["model"] for c in cells}
    assert named == models
    for name in named:
        assert HUB_ID.fullmatch(name), name
        assert not (offline / name).exists() and not (ROOT / name).exists()
    # the benchmark's target tasks, every one of them in every setting
    assert {c["target"] for c in cells} == targets
    def setting(c):
        a = c["axes"]
        return a["model_label"], tuple(c["intermediate"]), a["intermediate_size"], json.dumps(a["budget"]), c["seed"]

    per_setting: dict = {}
    for c in cells:
        per_setting.setdefault(setting(c), set()).add(c["target"])
    assert all(v == targets for v in per_setting.values())
    seeds = sorted({c["seed"] for c in cells})
    assert seeds == [1, 2, 3]
    assert plan["estimate"]["intermediate_phases_per_seed"] == {str(s): inter_per_seed for s in seeds}
    # the GPU-hours the plan computes are the ones the file states (update the comment when the plan changes)
    gpu = plan["estimate"]["gpu_hours"]
    stated = re.search(r"([\d.]+) GPU-hours for the 3 seeds", path.read_text(encoding="utf-8"))
    assert stated, f"{path.name} states no GPU-hours"
    assert gpu > 0 and abs(float(stated.group(1)) - gpu) <= 0.05 * gpu, (float(stated.group(1)), gpu)


@pytest.mark.parametrize("preset", sorted(REAL))
def test_real_presets_evaluate_the_benchmark_languages(preset, offline):
    """XTREME targets in XTREME's test languages, XTREME-R targets in XTREME-R's (50-language UD-POS / PAN-X, XQuAD
    with Romanian, XTREME-R's Tatoeba)."""
    from xstilts.loading import eval_languages

    study = load_study(STUDIES / f"{preset}.yaml")
    xtreme_r = REAL[preset][2] == XTREME_R_TASKS
    want = XTREME_R_LANGUAGES if xtreme_r else XTREME_LANGUAGES
    seen = set()
    for cell in expand(study):
        for spec in cell.config.target.tasks:
            key = "tatoeba" if spec.task == "tatoeba-xtreme-r" else spec.task
            assert set(eval_languages(spec)) == set(want[key]), (spec.task, eval_languages(spec))
            seen.add(spec.task)
    assert seen == REAL[preset][2]


def test_rq1_low_resource_languages_are_the_least_cc100_xtreme_languages():
    """RQ1's low-resource view: the 10 of XTREME's 40 languages with the least CC-100 text (Conneau et al. 2020,
    Table 6, as transcribed in the report module), which is also the report's default."""
    from xstilts.reports.cells import CC100_GIB, CC100_TOKENS_M, DEFAULT_LOW_RESOURCE

    xtreme_langs = {lang for langs in XTREME_LANGUAGES.values() for lang in langs}
    least = sorted(xtreme_langs, key=lambda x: (CC100_GIB[x], CC100_TOKENS_M[x], x))[:10]
    for preset in ("rq1_model_scale", "rq4_tasks_vs_budget"):
        assert load_study(STUDIES / f"{preset}.yaml").spec.low_resource_languages == least
    assert list(DEFAULT_LOW_RESOURCE) == least


def test_rq2_compares_english_and_translate_train_at_matched_token_budgets(offline):
    from xstilts.study.grid import phase_settings

    cells = [c for c in expand(load_study(STUDIES / "rq2_data_size.yaml")) if c.variant == "stilts"]
    assert {c.axes["intermediate_size"] for c in cells} == {1000, 10000, 100000, None}
    assert {json.dumps(c.budget) for c in cells} == {'{"tokens": 1000000}', '{"tokens": 20000000}'}
    arms = {tuple((s.task, s.train_language) for s in c.config.intermediate.tasks) for c in cells}
    assert arms == {(("mnli", None),),
                    tuple(("xnli", lang) for lang in ("de", "ru", "ar", "hi", "zh", "sw"))}
    for c in cells:
        # both arms take steps of the same written batch size, so a token budget means the same compute in each
        ic = c.config.intermediate
        assert {"batch_size", "grad_accum"} <= ic.model_fields_set and (ic.batch_size, ic.grad_accum) == (32, 1)
        st = phase_settings(c.config, "intermediate", list(ic.tasks))
        assert (st["batch_size"], st["grad_accum"]) == (32, 1)
        assert all(s.max_examples == c.axes["intermediate_size"] for s in ic.tasks)


def test_rq3_four_architectures(offline):
    cells = expand(load_study(STUDIES / "rq3_architectures.yaml"))
    models = {(c.config.model.name_or_path, c.config.model.family): c.config.model for c in cells}
    assert set(models) == {("FacebookAI/xlm-roberta-base", "encoder"), ("microsoft/mdeberta-v3-base", "encoder"),
                           ("FacebookAI/xlm-roberta-base", "bilstm"), ("Qwen/Qwen2.5-0.5B", "decoder")}
    assert models[("Qwen/Qwen2.5-0.5B", "decoder")].lora is not None
    assert models[("FacebookAI/xlm-roberta-base", "bilstm")].lora is None
    assert {tuple(c.intermediate) for c in cells} == {(), ("mnli",), ("squad",)}


def test_rq4_task_counts_at_fixed_step_and_token_budgets(offline):
    cells = [c for c in expand(load_study(STUDIES / "rq4_tasks_vs_budget.yaml")) if c.variant == "stilts"]
    assert {len(c.intermediate) for c in cells} == {1, 2, 4, 9}
    assert {json.dumps(c.budget) for c in cells} == {'{"steps": 10000}', '{"tokens": 20000000}'}
    sets = sorted({tuple(c.intermediate) for c in cells}, key=len)
    assert all(set(a) < set(b) for a, b in zip(sets, sets[1:]))  # nested
    for c in cells:
        assert c.config.intermediate.sampling == "uniform" and c.config.intermediate.batch_size == 32
        if "steps" in c.budget:
            assert c.config.intermediate.max_steps == 10000


def test_rq5_qlora_pair_of_one_family(offline):
    cells = expand(load_study(STUDIES / "rq5_llm_size.yaml"))
    assert {c.config.model.name_or_path for c in cells} == {"Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-14B"}
    for c in cells:
        m = c.config.model
        assert m.family == "decoder" and m.load_in_4bit and m.lora is not None and m.lora.r == 16
        for spec in c.config.target.tasks:
            if spec.task in ("lareqa", "mewslix"):  # a 4-bit model cannot be fine-tuned as a full dual encoder
                assert spec.options["finetune"] is False
    arms = {tuple((s.task, s.train_language) for s in c.config.intermediate.tasks) for c in cells}
    assert (("mnli", None),) in arms and any(len(a) > 1 and all(t == "xnli" and lang for t, lang in a) for a in arms)
    assert {c.axes["model_size"] for c in cells} == {"7B", "14B"}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """The local models the offline versions name (runs/models/tiny-deberta, tiny-llama), built with
    scripts/make_tiny_model.py around the tests' word-level tokenizer: since model paths are checked when a study is
    validated, a study that names a local folder plans only once the folder is there."""
    import importlib.util
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from fixtures import make_tiny_model

    spec = importlib.util.spec_from_file_location("make_tiny_model", ROOT / "scripts" / "make_tiny_model.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    root = tmp_path_factory.mktemp("offline-models")
    tok = make_tiny_model(root / "tokenizer")
    script.build("deberta-v2", str(tok), root / "runs" / "models" / "tiny-deberta", 32, 2, 2, None)
    script.build("llama", str(tok), root / "runs" / "models" / "tiny-llama", 32, 2, 2, None)
    return root / "runs"


@pytest.mark.parametrize("preset", OFFLINE)
def test_offline_presets_still_plan(preset, offline, tiny_models):
    (offline / "runs").symlink_to(tiny_models, target_is_directory=True)
    path = STUDIES / f"{preset}.yaml"
    r = CliRunner().invoke(app, ["study", "plan", str(path)])
    assert r.exit_code == 0, r.output
    assert "cells" in r.output and "Rough time" in r.output
    if preset.startswith("offline/") and preset != "offline/x-stilts-mini":
        text = path.read_text(encoding="utf-8")
        real = re.search(r"\.\./(rq\d_\w+\.yaml)", text)
        assert real and (STUDIES / real.group(1)).is_file(), "the offline version names its real study"
