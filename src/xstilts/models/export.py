"""Share a trained phase as a Hugging Face model folder with a model card (``xstilts export-model``).

An intermediate phase exports its encoder (``AutoModel``); a target phase exports the encoder with its task head as
the matching ``AutoModelFor…`` class, whose head has the same layers as xstilts' head, so it gives the phase's
predictions:

==================== ======================================== ==================================================
task kind            transformers class                       head weights (BERT / XLM-R / DeBERTa-v2)
==================== ======================================== ==================================================
pair_classification  ``AutoModelForSequenceClassification``  dense + tanh on the first token, then a projection:
                                                              ``pooler.dense`` + ``classifier`` (BERT, DeBERTa-v2
                                                              with ``pooler_hidden_act: tanh``), ``classifier.dense``
                                                              + ``classifier.out_proj`` (RoBERTa / XLM-R)
tagging              ``AutoModelForTokenClassification``     ``classifier`` on every token
span_qa              ``AutoModelForQuestionAnswering``       ``qa_outputs`` (start / end logits)
multiple_choice      ``AutoModelForMultipleChoice``          ``pooler.dense`` + ``classifier`` (one score a choice)
==================== ======================================== ==================================================

The model card (``huggingface_hub.ModelCard``) names the base model, the intermediate and target tasks, the training
data sizes and settings, the per-language scores as ``model-index`` results and the provenance recorded by the run.
``--push REPO`` uploads the folder with ``huggingface_hub`` (a token from ``huggingface-cli login`` or ``HF_TOKEN``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from ..errors import XstiltsError
from ..io import atomic_dir, read_json
from ..tasks import get_task

#: transformers class for each task kind that has one.
AUTO_CLASSES = {"pair_classification": "AutoModelForSequenceClassification",
                "tagging": "AutoModelForTokenClassification", "span_qa": "AutoModelForQuestionAnswering",
                "multiple_choice": "AutoModelForMultipleChoice"}
#: Hub pipeline tag of each task kind (model card metadata).
PIPELINE_TAGS = {"pair_classification": "text-classification", "tagging": "token-classification",
                 "span_qa": "question-answering", "multiple_choice": "multiple-choice", None: "feature-extraction"}
_ROBERTA_TYPES = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"}


def resolve_phase(path: str | Path, phase: str | None = None) -> Path:
    """The phase folder to export: *path* itself (a phase folder, with ``metrics.json`` and ``checkpoint/``), or the
    phase of a run folder (``run.json``) named *phase* (``intermediate`` or ``target-<task>``; default: the only
    target phase, else the intermediate phase).

    Raises:
        XstiltsError: no such phase, or several targets and no *phase*.
    """
    p = Path(path).expanduser()
    if (p / "metrics.json").is_file() and (p / "checkpoint").is_dir():
        return p
    if not (p / "run.json").is_file():
        raise XstiltsError(f"{p}: neither a phase folder (metrics.json + checkpoint/) nor a run folder (run.json)")
    phases = {ph["phase"] + (f"-{ph['task']}" if "task" in ph else ""): Path(ph["dir"])
              for ph in read_json(p / "run.json")["phases"]}
    trained = {k: v for k, v in phases.items() if (v / "checkpoint").is_dir()}
    if phase is not None:
        if phase not in trained:
            raise XstiltsError(f"{p}: no trained phase {phase!r} (it has {', '.join(trained) or 'none'})")
        return trained[phase]
    targets = [k for k in trained if k.startswith("target-")]
    if len(targets) == 1:
        return trained[targets[0]]
    if not targets and "intermediate" in trained:
        return trained["intermediate"]
    raise XstiltsError(f"{p}: several trained phases ({', '.join(trained)}); choose one with --phase")


def _heads(ckpt: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    try:
        from ..checkpoint import load_heads
    except ImportError:  # pragma: no cover - older layout
        load_heads = None
    if load_heads is not None and ((ckpt / "heads.safetensors").is_file() or not (ckpt / "heads.pt").is_file()):
        return load_heads(ckpt)
    raise XstiltsError(f"{ckpt}: task heads in a pickle (heads.pt) from an older xstilts; re-run the phase")


def _head_weights(kind: str, model_type: str, prefix: str, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """xstilts head state dict -> the transformers task model's head keys (see the module docstring)."""
    if kind == "pair_classification":
        if model_type in _ROBERTA_TYPES:
            return {"classifier.dense.weight": sd["dense.weight"], "classifier.dense.bias": sd["dense.bias"],
                    "classifier.out_proj.weight": sd["out_proj.weight"],
                    "classifier.out_proj.bias": sd["out_proj.bias"]}
        pooler = "pooler.dense" if model_type.startswith("deberta") else f"{prefix}.pooler.dense"
        return {f"{pooler}.weight": sd["dense.weight"], f"{pooler}.bias": sd["dense.bias"],
                "classifier.weight": sd["out_proj.weight"], "classifier.bias": sd["out_proj.bias"]}
    if kind == "tagging":
        return {"classifier.weight": sd["classifier.weight"], "classifier.bias": sd["classifier.bias"]}
    if kind == "span_qa":
        return {"qa_outputs.weight": sd["qa_outputs.weight"], "qa_outputs.bias": sd["qa_outputs.bias"]}
    if kind == "multiple_choice":
        if "dense.weight" not in sd:
            raise XstiltsError("a multiple-choice head without its pooler layer has no transformers class")
        pooler = "pooler.dense" if model_type.startswith("deberta") else f"{prefix}.pooler.dense"
        return {f"{pooler}.weight": sd["dense.weight"], f"{pooler}.bias": sd["dense.bias"],
                "classifier.weight": sd["scorer.weight"], "classifier.bias": sd["scorer.bias"]}
    raise XstiltsError(f"task kind {kind!r} has no transformers class; export the encoder (an intermediate phase)")


def _labels(task, n: int) -> list[str]:
    if task.labels and len(task.labels) == n:
        return list(task.labels)
    return [f"LABEL_{i}" for i in range(n)]


def _task_model(encoder_dir: Path, kind: str, task, head: dict[str, torch.Tensor]):
    """The transformers task model: the encoder's weights plus the head's, mapped by :func:`_head_weights`."""
    import transformers
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(encoder_dir)
    model_type = config.model_type
    if model_type not in _ROBERTA_TYPES | {"bert", "deberta-v2", "electra"} and kind != "span_qa" \
            and kind != "tagging":
        raise XstiltsError(f"exporting a {kind} head on a {model_type!r} model as {AUTO_CLASSES[kind]} is not "
                           f"supported (BERT, RoBERTa / XLM-R and DeBERTa-v2 are); export the encoder instead")
    kw: dict[str, Any] = {}
    if kind in ("pair_classification", "tagging"):
        n = (head.get("out_proj.weight") if kind == "pair_classification" else head["classifier.weight"]).shape[0]
        labels = _labels(task, n)
        kw = {"num_labels": n, "id2label": dict(enumerate(labels)), "label2id": {x: i for i, x in enumerate(labels)}}
    if model_type.startswith("deberta"):
        kw.update(pooler_hidden_act="tanh", pooler_hidden_size=config.hidden_size)  # xstilts' dense + tanh
    cls = getattr(transformers, AUTO_CLASSES[kind])
    model = cls.from_pretrained(encoder_dir, **kw)
    prefix = model.base_model_prefix
    state = _head_weights(kind, model_type, prefix, head)
    own = model.state_dict()
    missing = [k for k in state if k not in own]
    if missing:
        raise XstiltsError(f"{type(model).__name__} has no parameter(s) {', '.join(missing)}; cannot map the head")
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v.to(own[k].dtype))
    return model


def _card(phase: Path, metrics: dict, cfg: dict, kind: str | None, label: str | None, base_model: str):
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    task_name = metrics.get("task")
    inter = [t.get("task") if isinstance(t, dict) else t for t in (cfg.get("intermediate") or {}).get("tasks", [])]
    results = []
    if task_name:
        task = get_task(task_name)
        hf = task.hf.path if task.hf else task.name
        for split, part in (metrics.get("splits") or {"test": {"languages": metrics.get("languages", {})}}).items():
            for lang, scores in part["languages"].items():
                for metric, value in scores.items():
                    if metric == "n" or not isinstance(value, (int, float)):
                        continue
                    results.append(EvalResult(task_type=PIPELINE_TAGS.get(kind, "other"), dataset_type=hf,
                                              dataset_name=f"{task.name} ({lang})", dataset_config=lang,
                                              dataset_split=split, metric_type=metric, metric_value=float(value)))
    data = ModelCardData(base_model=base_model, library_name="transformers", pipeline_tag=PIPELINE_TAGS.get(kind),
                         tags=["xstilts", "stilts", "zero-shot-cross-lingual"] + [f"intermediate-{t}" for t in inter],
                         model_name=phase.name, eval_results=results or None, license=None)
    train = metrics.get("train") or {}
    examples = train.get("task_examples") or {}
    settings = metrics.get("settings") or {}
    sel = metrics.get("selection") or {}
    lines = [f"# {phase.name}", "",
             f"Trained with xstilts (STILTs intermediate-task training and zero-shot cross-lingual transfer) from "
             f"`{base_model}`.", "",
             f"- **Intermediate task(s)**: {', '.join(inter) if inter else 'none (the no-intermediate baseline)'}",
             f"- **Target task**: {task_name or '— (this is the intermediate-trained encoder)'}"
             + (f" ({label})" if label and label != task_name else ""),
             f"- **Training examples seen**: {', '.join(f'{k} {v:,}' for k, v in examples.items()) or '—'}",
             f"- **Optimizer steps**: {train.get('steps_trained', train.get('steps', '—'))}; selected step "
             f"{sel.get('selected_step', '—')} ({sel.get('mode', '—')} selection)",
             f"- **Settings**: `{json.dumps(settings, sort_keys=True)}`", ""]
    if task_name:
        lines += ["## Scores (%, zero-shot in every language but the training one)", "",
                  "| split | language | metric | value |", "|---|---|---|---:|"]
        lines += [f"| {r.dataset_split} | {r.dataset_config} | {r.metric_type} | {r.metric_value:.2f} |"
                  for r in results]
        lines.append("")
    prov = metrics.get("provenance")
    if prov:
        lines += ["## Provenance", "", "```json", json.dumps(prov, indent=2, sort_keys=True, default=str), "```", ""]
    lines += ["## How to load", "", "```python",
              f"from transformers import {AUTO_CLASSES.get(kind, 'AutoModel')}, AutoTokenizer",
              f"model = {AUTO_CLASSES.get(kind, 'AutoModel')}.from_pretrained(PATH_OR_REPO)",
              "tokenizer = AutoTokenizer.from_pretrained(PATH_OR_REPO)", "```", ""]
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines))


def export_model(path: str | Path, out: str | Path, *, phase: str | None = None, push: str | None = None,
                 private: bool = True, token: str | None = None) -> Path:
    """Write a phase as a Hugging Face model folder *out* (see the module docstring); optionally push it to the hub
    repository *push*. Returns *out*.

    Raises:
        XstiltsError: not a phase or run folder, a head with no transformers class, or a failed upload.
    """
    ph = resolve_phase(path, phase)
    metrics = read_json(ph / "metrics.json")
    cfg_text = (ph / "config.yaml").read_text(encoding="utf-8") if (ph / "config.yaml").is_file() else "{}"
    cfg = yaml.safe_load(cfg_text) or {}
    base_model = (cfg.get("model") or {}).get("name_or_path", "unknown")
    encoder_dir = ph / "checkpoint" / "encoder"
    if not (encoder_dir / "config.json").is_file():
        raise XstiltsError(f"{encoder_dir}: no encoder checkpoint (a LoRA adapter stack or a BiLSTM cannot be "
                           f"exported as a transformers model)")
    out = Path(out).expanduser()
    kind = label = None
    with atomic_dir(out) as tmp:
        if metrics.get("phase") == "intermediate" or "task" not in metrics:
            from transformers import AutoModel

            AutoModel.from_pretrained(encoder_dir).save_pretrained(tmp)
        else:
            task = get_task(metrics["task"])
            kind, label = task.kind, metrics.get("label", task.name)
            heads, _ = _heads(ph / "checkpoint")
            if label not in heads:
                raise XstiltsError(f"{ph}: no head {label!r} in the checkpoint (it has {', '.join(heads)})")
            if kind not in AUTO_CLASSES:
                raise XstiltsError(f"task {task.name!r} ({kind}) has no transformers class; export an intermediate "
                                   f"phase's encoder instead")
            _task_model(encoder_dir, kind, task, heads[label]).save_pretrained(tmp)
        for f in encoder_dir.iterdir():  # tokenizer files
            if f.name.startswith(("tokenizer", "special_tokens", "sentencepiece", "vocab", "merges", "spm")):
                shutil.copy2(f, tmp / f.name)
        card = _card(ph, metrics, cfg, kind, label, base_model)
        card.save(tmp / "README.md")
        (tmp / "xstilts_phase.json").write_text(json.dumps({"phase": ph.name, "metrics": metrics}, indent=2,
                                                           default=str) + "\n", encoding="utf-8")
    if push:
        push_folder(out, push, private=private, token=token)
    return out


def push_folder(folder: Path, repo_id: str, *, private: bool = True, token: str | None = None) -> str:
    """Create the hub model repository *repo_id* if needed and upload *folder*; returns the commit URL.

    Raises:
        XstiltsError: the hub could not be reached or refused the upload (one line).
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                 commit_message="Upload model exported by xstilts")
    except Exception as e:  # network, auth, permissions: one line
        raise XstiltsError(f"pushing {folder} to {repo_id} failed ({type(e).__name__}: {' '.join(str(e).split())[:200]})") \
            from None
    return str(getattr(info, "commit_url", info))
