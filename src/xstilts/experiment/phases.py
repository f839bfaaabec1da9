"""The three X-STILTs phases, each a function of the run's context and its starting encoder, keyed by a hash.

1. **Pretrained model**: any Hugging Face encoder (hub id or local folder).
2. **Intermediate training** on English task(s) (:func:`intermediate`); the encoder is saved, the heads are not
   passed on.
3. **Target fine-tuning** on each target task's English training set, then **zero-shot evaluation** in every
   language (:func:`target`); retrieval tasks (Tatoeba, BUCC, ...) are scored from sentence embeddings without
   training (:func:`retrieval`).

Each phase returns its folder in the phase store (:mod:`.store`): found complete and reused, or built (under the
store's lock, in a work folder renamed when complete).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

from ..config import OPTIMIZATION_KEYS, TaskSpec, dump_config, resolve_settings, task_max_length
from ..console import console, progress_bar
from ..errors import XstiltsError
from ..io import atomic_dir, atomic_write_json, atomic_write_text
from ..loading import eval_languages, load_examples
from ..models.backbone import build_backbone, load_tokenizer, pick_device
from .preflight import hold_work_dir, phase_provenance, work_record
from ..tasks import get_family, get_task
from ..trackers import log_eval_metrics
from ..train import TaskData, eval_all_languages
from .context import EncoderRef, RunContext, Trained
from .data import Featurizer
from .keys import Phase, intermediate_key, intermediate_label, retrieval_key, retrieval_settings, target_key
from .store import is_main_process, phase_config, rank_world, wait_for_everyone
from .training import Training, fit, save_phase


def effective_hp(section, settings: dict):
    """The phase section with the resolved optimisation settings filled in (what the training loop reads)."""
    return section.model_copy(update={k: settings[k] for k in OPTIMIZATION_KEYS})


# ---------------------------------------------------------------------------------------------- intermediate
def intermediate(ctx: RunContext, start: EncoderRef) -> Path:
    """Phase 2: train the encoder on the intermediate task(s), selecting on their English dev sets; save it
    (the heads are kept but not passed on). Every dev set is read before the first training step."""
    cfg, ic = ctx.cfg, ctx.cfg.intermediate
    settings = resolve_settings(cfg, "intermediate", ic.tasks)
    hp = effective_hp(ic, settings)
    key, label = intermediate_key(cfg, ctx.seed), intermediate_label(cfg)
    final = ctx.store.folder(Phase.INTERMEDIATE, label, key)
    with ctx.store.lock(Phase.INTERMEDIATE, key, "the intermediate phase"):
        if ctx.store.complete(final):
            console.print(f"  [green]✓[/] intermediate phase {label} already complete: {final}")
            return final
        console.print(f"  intermediate phase: {label}")
        t0 = time.time()
        lengths = {s.label: task_max_length(cfg, "intermediate", s) for s in ic.tasks}
        langs = {s.label: s.train_language or get_task(s.task).train_language for s in ic.tasks}
        with ctx.store.build(final, work_record(cfg, ctx.seed)) as work:
            tokenizer = load_tokenizer(start.path, start.revision)
            data = Featurizer(cfg, tokenizer, ctx.features)
            datas = [data.train_data(s, lengths[s.label]) for s in ic.tasks]
            devs, selection = {}, []
            for s in ic.tasks:
                devs[s.label] = data.eval_data(s, get_task(s.task).dev_split, langs[s.label], lengths[s.label])
                selection.append(data.selection_data(s, hp, lengths[s.label], [langs[s.label]]))
            trained = fit(ctx, start, Training(Phase.INTERMEDIATE, hp, datas, selection, ic.sampling,
                                               max(lengths.values())), tokenizer, work)
            dev = {s.label: evaluate_languages(trained, "dev", {langs[s.label]: devs[s.label]}, work / "predictions",
                                               ic.eval_batch_size) for s in ic.tasks}
            selection_record = trained.selection
            if selection_record["mode"] == "en-dev":
                selection_record = {**selection_record, "language": langs}
            log_eval_metrics(trained.accelerator, "dev", dev, trained.history["steps_trained"])
            save_phase(ctx, trained, Phase.INTERMEDIATE, tokenizer, start, work,
                       phase_config(cfg, Phase.INTERMEDIATE, ic.tasks, settings), lambda: {
                           "phase": "intermediate", "key": key, "seed": ctx.seed, "tasks": [s.label for s in ic.tasks],
                           "dev": dev, "train_languages": langs, "settings": settings, "selection": selection_record,
                           "train": trained.history, "seconds": time.time() - t0,
                           "provenance": phase_provenance(cfg, ic.tasks, start.key)})
    shown = [f"{s.label} {get_task(s.task).metric} {dev[s.label][langs[s.label]][get_task(s.task).metric]:.2f}"
             for s in ic.tasks]
    console.print(f"  [green]✓[/] intermediate phase done in {time.time() - t0:.0f} s; English dev: "
                  + ", ".join(shown))
    return final


# ---------------------------------------------------------------------------------------------- target
def target(ctx: RunContext, spec: TaskSpec, start: EncoderRef) -> Path:
    """Phase 3 for a trainable task: fine-tune on English (model selection on its English dev set), then
    evaluate zero-shot the dev and test splits in every language. All evaluation data are read before the first
    training step."""
    cfg, tc, task = ctx.cfg, ctx.cfg.target, get_task(spec.task)
    settings = resolve_settings(cfg, "target", [spec])
    hp = effective_hp(tc, settings)
    max_length = settings["max_length"]
    langs = eval_languages(spec)
    train_language = spec.train_language or task.train_language
    key = target_key(cfg, spec, start.key, ctx.seed)
    final = ctx.store.folder(Phase.TARGET, spec.label, key)
    with ctx.store.lock(Phase.TARGET, key, f"target phase {spec.label}"):
        if ctx.store.complete(final):
            console.print(f"  [green]✓[/] target phase {spec.label} already complete: {final}")
            return final
        console.print(f"  target phase: {spec.label} (fine-tune on {train_language}, evaluate {len(langs)} languages)")
        t0 = time.time()
        with ctx.store.build(final, work_record(cfg, ctx.seed)) as work:
            tokenizer = load_tokenizer(start.path, start.revision)
            data = Featurizer(cfg, tokenizer, ctx.features)
            train_data = data.train_data(spec, max_length)
            sets = data.eval_sets(spec, langs, max_length)
            selection = data.selection_data(spec, hp, max_length, list(sets.dev))
            trained = fit(ctx, start, Training(Phase.TARGET, hp, [train_data], [selection], "proportional",
                                               max_length), tokenizer, work)
            splits = {}
            for split, datas in sets.splits().items():
                per_lang = evaluate_languages(trained, split, datas, work / "predictions", tc.eval_batch_size)
                if per_lang:
                    splits[split] = {"languages": per_lang, "average": _mean_metric(per_lang, task.metric)}
            selection_record = trained.selection
            if selection_record["mode"] == "en-dev":  # the training language's dev set (translate-train: its own)
                selection_record = {**selection_record, "language": train_language}

            def metrics():
                m = _task_metrics(spec, splits["test"]["languages"], key, trained.history, time.time() - t0)
                m.update(split="test", splits=splits, selection=selection_record, settings=settings,
                         no_dev_languages=sets.no_dev, train_language=train_language,
                         provenance=phase_provenance(cfg, [spec], start.key))
                return m

            steps = trained.history["steps_trained"]
            if "dev" in splits:
                log_eval_metrics(trained.accelerator, "dev", {spec.label: splits["dev"]["languages"]}, steps)
            log_eval_metrics(trained.accelerator, "test", {spec.label: splits["test"]["languages"]}, steps)
            save_phase(ctx, trained, Phase.TARGET, tokenizer, start, work,
                       phase_config(cfg, Phase.TARGET, [spec], settings), metrics)
    return final


# ---------------------------------------------------------------------------------------------- retrieval
def retrieval(ctx: RunContext, spec: TaskSpec, start: EncoderRef) -> Path:
    """Phase 3 for a retrieval task: embed both sides with the encoder and score (LAReQA and Mewsli-X fine-tune a
    dual encoder at the run's seed first, XTREME-R's protocol). In a data-parallel run the main process does it
    while the others wait, then find it complete."""
    key = retrieval_key(ctx.cfg, spec, start.key, ctx.seed)
    with ctx.store.lock(Phase.RETRIEVAL, key, f"retrieval evaluation {spec.label}"):
        if rank_world()[1] == 1:
            return _retrieval(ctx, spec, start, key)
        if is_main_process():
            try:
                return _retrieval(ctx, spec, start, key)
            finally:
                wait_for_everyone()
        wait_for_everyone()
        return _retrieval(ctx, spec, start, key, compute=False)


def _retrieval(ctx: RunContext, spec: TaskSpec, start: EncoderRef, key: str, compute: bool = True) -> Path:
    from ..models import embeddings

    cfg, seed = ctx.cfg, ctx.seed
    task = get_task(spec.task)
    ev = cfg.evaluation
    langs = eval_languages(spec)
    settings = retrieval_settings(cfg, spec, seed)
    final = ctx.store.folder(Phase.RETRIEVAL, spec.label, key)
    if ctx.store.complete(final):
        console.print(f"  [green]✓[/] retrieval evaluation {spec.label} already complete: {final}")
        return final
    if not compute:
        raise XstiltsError(f"{final}: the main process did not complete this retrieval evaluation")
    t0 = time.time()
    device = pick_device(cfg.device)
    family = get_family(task.kind)
    ft = settings.get("finetune")
    if ft:  # a copy of the start encoder fine-tuned as a dual encoder embeds queries and candidates
        from ..dual_encoder import finetune_for_retrieval

        embed, embed_query, ft_record = finetune_for_retrieval(cfg, spec, start, ft, device)
        layer = "fine-tuned"
        console.print(f"  retrieval evaluation: {spec.label}, {len(langs)} languages, fine-tuned dual encoder "
                      f"({ft_record['representation_used']} encoding)")
    else:
        tokenizer = load_tokenizer(start.path, start.revision)
        encoder, _ = build_backbone(cfg.model.model_copy(update={"lora": None, "gradient_checkpointing": False}),
                                    start.path, pretrained=start.pretrained, revision=start.revision, seed=0)
        encoder = encoder.to(device)
        layer = embeddings.resolve_layer(ev.retrieval_layer, encoder, cfg.model.name_or_path)
        console.print(f"  retrieval evaluation: {spec.label}, {len(langs)} languages, layer {layer}, "
                      f"{ev.pooling} pooling, max length {settings['max_length']}")

        def embed(texts, prefix=None):
            with progress_bar(f"embed {spec.label} ({len(texts):,} distinct texts)", len(texts)) as adv:
                return embeddings.embed(encoder, tokenizer, texts, layer=layer, pooling=ev.pooling,
                                        max_length=settings["max_length"], batch_size=ev.batch_size,
                                        prefix=cfg.model.text_prefix if prefix is None else prefix, device=device,
                                        advance=adv)

    # each split and language read once: evaluation and the gold label files share it
    load = functools.cache(lambda sp, lang: load_examples(spec, sp, lang))
    with atomic_dir(final) as tmp, hold_work_dir(tmp):
        res = family.evaluate(task, langs, load, embed, settings, **({"embed_query": embed_query} if ft else {}))
        per_lang, lines = res.scores, res.predictions
        for lang, stats in res.stats.items():  # per-example statistics, where the family has them
            atomic_write_text(tmp / "per_example" / task.name / f"{task.test_split}-{lang}.jsonl",
                              "".join(json.dumps(x) + "\n" for x in stats))
        for lang, (fname, content) in lines.items():
            atomic_write_text(tmp / "predictions" / task.name / fname, content)
        for lang, (fname, content) in family.label_files(task, langs, load).items():
            atomic_write_text(tmp / "labels" / task.name / fname, content)
        atomic_write_text(tmp / "config.yaml", dump_config(cfg))
        m = _task_metrics(spec, per_lang, key, ft_record["history"] if ft else None, time.time() - t0)
        m.update(split=task.test_split, splits={"test": {"languages": per_lang,
                                                         "average": _mean_metric(per_lang, task.metric)}})
        m["retrieval"] = {**settings, "layer": layer, "encoder": start.key}
        m["provenance"] = phase_provenance(cfg, [spec], start.key)
        if ft:  # what the fine-tuning did: settings, data, steps, loss curve, selection
            m["finetune"] = {k: v for k, v in ft_record.items() if k != "history"}
        atomic_write_json(tmp / "metrics.json", m)
    console.print(f"  [green]✓[/] {spec.label}: mean {task.metric} {m['average']:.2f} over {len(langs)} languages "
                  f"({time.time() - t0:.0f} s)")
    return final


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_languages(trained: Trained, split: str, datas: dict[str, TaskData], folder: Path,
                       batch_size: int) -> dict:
    """Every language of a task (*datas*: ``{language: data}``) in one pass (:func:`~xstilts.train.
    eval_all_languages`: all features sorted by length into large batches), then each language scored and written
    under *folder* (``<phase>/predictions``) by :func:`score_language`; equal to evaluating language by language."""
    langs = list(datas)
    if not langs:
        return {}
    label = datas[langs[0]].label
    with progress_bar(f"evaluate {label} {split} ({len(langs)} languages)",
                      sum(d.size for d in datas.values())) as adv:
        outputs = eval_all_languages(trained.model, list(datas.values()), batch_size=batch_size,
                                     accelerator=trained.accelerator, pad_id=trained.pad_id, advance=adv)
    return {lang: score_language(datas[lang], split, lang, out, folder) for lang, out in zip(langs, outputs)}


def score_language(data: TaskData, split: str, lang: str, outputs: list, folder: Path) -> dict:
    """Score one language from its head *outputs*: decode, write the predictions (under *folder*), gold labels and
    per-example statistics (beside it; main process only) and return the metrics."""
    family, task = data.family, data.task
    preds = family.decode(task, outputs, data.features, data.examples)
    scores = family.score(task, preds, data.examples)
    if is_main_process():
        fname, content = family.prediction_file(task, split, lang, preds, data.examples)
        atomic_write_text(folder / task.name / fname, content)
        gold = family.label_file(task, split, lang, data.examples)
        if gold is not None:  # the label file evaluate.py compares it with (xstilts export --labels)
            atomic_write_text(folder.parent / "labels" / task.name / gold[0], gold[1])
        stats = family.example_stats(task, preds, data.examples)
        if stats is not None:  # for paired bootstrap over examples in reports
            atomic_write_text(folder.parent / "per_example" / task.name / f"{split}-{lang}.jsonl",
                              "".join(json.dumps(x) + "\n" for x in stats))
    return {**scores, "n": len(data.examples)}


def _mean_metric(per_lang: dict, metric: str) -> float:
    vals = [v[metric] for v in per_lang.values()]
    return sum(vals) / len(vals)


def _task_metrics(spec: TaskSpec, per_lang: dict, key: str, history, seconds: float) -> dict:
    task = get_task(spec.task)
    return {"task": task.name, "label": spec.label, "metric": task.metric, "key": key, "languages": per_lang,
            "average": _mean_metric(per_lang, task.metric), "train": history, "seconds": seconds}
