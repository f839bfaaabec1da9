"""The three X-STILTs phases, each a pure function of its resolved config and inputs, keyed by a hash.

1. **Pretrained model**: any Hugging Face encoder (hub id or local folder).
2. **Intermediate training** on English task(s); the encoder is saved, the heads are not passed on.
3. **Target fine-tuning** on each target task's English training set, then **zero-shot evaluation** in every
   language; retrieval tasks (Tatoeba, BUCC) are scored from sentence embeddings without training.

Every phase lives in ``<output_dir>/phases/<phase>-<label>-<hash>/`` and is built under a temporary name and renamed
when complete, so a finished phase is found and reused by any run or study whose inputs hash the same, and an
interrupted one leaves nothing half-written. A run folder ``<output_dir>/<name>/<variant>-seed<seed>/`` holds the
resolved config, ``run.json`` (its phases), links to the phase folders and the result tables.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from . import __version__
from .config import (OPTIMIZATION_KEYS, ExperimentConfig, TaskSpec, dump_config, resolve_settings,
                     task_max_length)
from .console import console, progress_bar
from .checkpoint import save_heads
from .data import code_fingerprint, examples_digest, tokenize_cached, tokenizer_fingerprint
from .errors import MissingDataError, XstiltsError
from .selection import Selector
from .io import atomic_dir, atomic_write_json, atomic_write_text, read_json, resumable_dir
from .loading import eval_languages, load_examples, subsample, task_data_dir
from .models.backbone import (available_memory, build_backbone, count_parameters, estimate_memory, hidden_size,
                       load_tokenizer, model_source, pick_device, save_backbone, set_threads)
from .paths import cache_dir
# phase keys live in xstilts.phases; the names stay importable from here (xstilts.pipeline.phase_keys, ...)
from .phases import (NOT_HASHED, PHASE_VERSION, _data_fingerprint, intermediate_key,  # noqa: F401
                     intermediate_label, model_identity, phase_keys, pretrained_key, retrieval_key,
                     retrieval_settings, target_key)
from .preflight import check_inputs, hold_work_dir, phase_provenance, run_provenance, work_record
from .reports.run import write_comparison, write_results
from .tasks import get_family, get_task
from .trackers import end_trackers, log_eval_metrics, resolve_trackers, start_trackers
from .train import MultiTaskModel, TaskData, eval_all_languages, seed_everything, total_steps, train


@dataclass
class EncoderRef:
    """Where a phase's starting encoder comes from: the pretrained checkpoint or an intermediate phase (*revision*:
    the hub commit to load *path* at, for a hub model loaded from the hub)."""

    path: str
    key: str
    revision: str | None = None

    @property
    def pretrained(self) -> bool:
        """Whether this is the pretrained checkpoint (not a previous phase's saved encoder)."""
        return self.key.startswith("pretrained")


@dataclass
class Trained:
    """What :meth:`Pipeline._train` hands to the evaluation of a phase: the trained model (unwrapped), the
    accelerator it ran on, the tokenizer's pad id and the training history (steps, losses, ``selection``)."""

    model: torch.nn.Module
    accelerator: object
    pad_id: int
    history: dict


def _accelerator(cfg: ExperimentConfig, logs: Path | None = None):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    device = pick_device(cfg.device)
    # trackers: training curves of the phase in *logs* (<phase folder>/logs); see xstilts.trackers.resolve_trackers

    trackers = resolve_trackers(cfg.trackers) if logs is not None else []
    return Accelerator(cpu=device.type == "cpu", mixed_precision=cfg.mixed_precision, log_with=trackers or None,
                       project_dir=str(logs) if trackers else None)


def _rank_world() -> tuple[int, int]:
    """This process's rank and the number of processes of a data-parallel run (``0, 1`` in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process writes files: always, except in the non-main processes of a data-parallel run."""
    return _rank_world()[0] == 0


def wait_for_everyone() -> None:
    """A barrier among the processes of a data-parallel run (as ``accelerator.wait_for_everyone()``); a no-op in a
    single process."""
    import torch.distributed as dist

    if _rank_world()[1] > 1:
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


@contextlib.contextmanager
def _main_writes(final: Path, record: dict | None = None):
    """:func:`~xstilts.io.resumable_dir` for the main process, held by it while it builds (``xstilts gc`` leaves a
    held folder alone; *record*: the inputs that can resume it, :func:`~xstilts.preflight.hold_work_dir`); the other
    processes of a data-parallel run get the same work folder (training checkpoints are read by every process) but
    neither create nor rename it, and wait until the main process has renamed it to *final*."""
    if is_main_process():
        with resumable_dir(final) as work, hold_work_dir(work, record):
            yield work
    else:
        yield final.parent / f".{final.name}.partial"
    wait_for_everyone()


def phase_config(cfg: ExperimentConfig, phase: str, specs: list[TaskSpec], settings: dict) -> str:
    """The config a phase writes to its ``config.yaml``: *cfg* with the phase section's optimisation settings and
    each task entry's ``max_length`` replaced by the values the phase used (:func:`resolve_settings`)."""
    data = cfg.model_dump(mode="json")
    section = data[phase]
    section.update({k: settings[k] for k in OPTIMIZATION_KEYS})
    lengths = settings["max_length"]
    labels = {s.label for s in specs}
    for entry, spec in zip(section["tasks"], getattr(cfg, phase).tasks):
        if spec.label in labels:
            entry["max_length"] = lengths[spec.label] if isinstance(lengths, dict) else lengths
    if not isinstance(lengths, dict):
        section["max_length"] = lengths
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return (f"# the resolved config of this {phase} phase: its {phase} section and task entries show the settings it "
            f"used\n# (task entry > {phase} section > the task's protocol defaults > global defaults)\n" + text)


def effective_hp(section, settings: dict):
    """The phase section with the resolved optimisation settings filled in (what the training loop reads)."""
    return section.model_copy(update={k: settings[k] for k in OPTIMIZATION_KEYS})


class Pipeline:
    """Runs an experiment config: every seed, the STILTs variant and (optionally) the no-intermediate baseline."""

    def __init__(self, cfg: ExperimentConfig):
        self.cfg = cfg
        self.out = Path(cfg.output_dir).expanduser()
        self.phase_root = Path(cfg.phase_store).expanduser() if cfg.phase_store else self.out / "phases"
        self.features_cache = cache_dir() / "features"
        set_threads(cfg.num_threads)

    # ------------------------------------------------------------------------------------------ identity
    def model_identity(self, cfg: ExperimentConfig) -> dict:
        return model_identity(cfg)

    def pretrained_ref(self, cfg: ExperimentConfig) -> EncoderRef:
        src = model_source(cfg.model.name_or_path, cfg.model.revision)
        return EncoderRef(src.path, pretrained_key(cfg), src.revision)

    # ------------------------------------------------------------------------------------------ checks
    def preflight(self, cfg: ExperimentConfig) -> None:
        """Fail before loading any model when data that a phase needs is missing."""
        specs = list(cfg.intermediate.tasks) + list(cfg.target.tasks)
        for spec in specs:
            task = get_task(spec.task)
            folder = task_data_dir(spec)
            if not folder.is_dir() and (spec.data_dir is not None or task.hf is None):
                hint = " (run `xstilts prepare`)" if task.data_subdir.startswith(("bible", "udhr")) else ""
                raise MissingDataError(f"{folder}: data folder for task {task.name!r} not found{hint}")
        for spec in cfg.target.tasks:
            if task_data_dir(spec).is_dir():
                eval_languages(spec)
                family = get_family(get_task(spec.task).kind)
                if hasattr(family, "finetune_check"):  # the English pairs of retrieval fine-tuning (LAReQA, Mewsli-X)
                    family.finetune_check(get_task(spec.task), spec, task_data_dir(spec))

        resolve_trackers(cfg.trackers)  # a tracker asked for by name but not installed: fail now
        # the model resolves, and every split of every task a phase still to build reads is read and checked (kept in
        # memory for the phases), so that a bad file fails the run before the first optimizer step
        check_inputs(cfg, self.phase_root)

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> dict:
        """Run every seed of the experiment (and its baseline); write tables and the comparison. Returns the paths.

        Data parallel (``accelerate launch`` / ``torchrun``, one process per device): every process runs the same
        phases in step, training and evaluation are shared among them, and only the main process writes files (the
        others wait for it at the end of each phase, and print nothing); the other processes return ``{}``.
        """
        cfg = self.cfg
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and _rank_world()[1] == 1:
            _accelerator(cfg)  # joins the process group before the first phase, whose checks every process makes
        quiet = console.quiet
        console.quiet = quiet or not is_main_process()
        try:
            return self._run_variants(cfg)
        finally:
            console.quiet = quiet

    def _run_variants(self, cfg: ExperimentConfig) -> dict:
        variants = [("stilts" if cfg.intermediate.tasks else "baseline", cfg)]
        if cfg.intermediate.tasks and cfg.with_baseline:
            variants.append(("baseline", cfg.baseline()))
        for _, v in variants:
            self.preflight(v)
        exp_dir = self.out / cfg.name
        results: dict[str, list[dict]] = {}
        for seed in cfg.seeds:
            for name, vcfg in variants:
                console.rule(f"[bold]{cfg.name}: {name}, seed {seed}")
                res = self.run_one(vcfg, name, seed)
                results.setdefault(name, []).append(res)
        self.results = results  # {variant: [run result per seed]} (the Python API reads them)
        written: dict = {}
        if not is_main_process():
            return written
        for name, runs in results.items():
            written[name] = write_results(exp_dir / name, runs, title=f"{cfg.name} — {name}")
            console.print(written[name]["markdown_text"], markup=False)
        if "stilts" in results and "baseline" in results:
            written["comparison"] = write_comparison(exp_dir / "comparison", results["baseline"], results["stilts"],
                                                     title=f"{cfg.name}: intermediate training vs baseline")
            console.print(written["comparison"]["markdown_text"], markup=False)
        return written

    def run_one(self, cfg: ExperimentConfig, variant: str, seed: int) -> dict:
        """One seed of one variant: intermediate phase (if any), then every target task. Returns its results."""
        run_dir = self.out / cfg.name / f"{variant}-seed{seed}"
        main = is_main_process()  # data parallel: the other processes run the phases but write nothing
        if main:
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
        phases = []
        start = self.pretrained_ref(cfg)
        if cfg.intermediate.tasks:
            inter_dir = self.intermediate_phase(cfg, start, seed)
            phases.append({"phase": "intermediate", "dir": str(inter_dir)})
            inter = EncoderRef(str(inter_dir / "checkpoint" / "encoder"), inter_dir.name)
        else:
            inter = start
        tasks = {}
        for spec in cfg.target.tasks:
            task = get_task(spec.task)
            if not task.trainable:
                src = inter if cfg.evaluation.retrieval_from == "intermediate" else start
                pdir = self.retrieval_phase(cfg, spec, src, seed)
            else:
                pdir = self.target_phase(cfg, spec, inter, seed)
            phases.append({"phase": "target", "task": spec.label, "dir": str(pdir)})
            tasks[spec.label] = read_json(pdir / "metrics.json")
        result = {"variant": variant, "seed": seed, "run_dir": str(run_dir), "phases": phases, "tasks": tasks,
                  "xstilts_version": __version__, "provenance": run_provenance(cfg, [p["dir"] for p in phases])}
        if not main:
            return result
        links = run_dir / "phases"
        links.mkdir(exist_ok=True)
        for ph in phases:
            link = links / (ph["phase"] + ("-" + ph["task"] if "task" in ph else ""))
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(os.path.relpath(ph["dir"], links), link)
        atomic_write_json(run_dir / "run.json", result)
        write_results(run_dir, [result], title=f"{cfg.name} — {variant}, seed {seed}")
        return result

    # ------------------------------------------------------------------------------------------ phases
    def _phase_dir(self, kind: str, label: str, key: str) -> Path:
        return self.phase_root / f"{kind}-{label}-{key}"

    def _features(self, spec: TaskSpec, split: str, lang: str, examples: list, tokenizer, cfg: ExperimentConfig,
                  max_length: int, limit: int | None = None):
        task = get_task(spec.task)
        family = get_family(task.kind)
        key = {"task": task.name, "split": split, "lang": lang, "n": len(examples), "data": _data_fingerprint(spec),
               "max_examples": spec.max_examples if split == task.train_split else limit,
               "tokenizer": tokenizer_fingerprint(tokenizer), "max_length": max_length,
               "prefix": cfg.model.text_prefix, "kind": task.kind, "options": spec.options,
               "code": code_fingerprint(family)}  # the featurisation code: no PHASE_VERSION bump needed
        if not task_data_dir(spec).is_dir():  # hub data: no file listing, so the examples are the data revision
            key["examples"] = examples_digest(examples)

        def build():
            with progress_bar(f"tokenize {spec.label} {split} {lang}", len(examples)) as adv:
                feats: dict = {}
                for s in range(0, len(examples), 2000):
                    part = family.featurize(task, examples[s:s + 2000], tokenizer, max_length,
                                            cfg.model.text_prefix, spec.options)
                    if "example_index" in part:  # chunk-local -> global example numbers
                        part["example_index"] = [x + s for x in part["example_index"]]
                    for k, v in part.items():
                        feats.setdefault(k, []).extend(v)
                    adv(len(examples[s:s + 2000]))
            return feats

        if _rank_world()[1] == 1:
            return tokenize_cached(self.features_cache, key, build)
        # data parallel: the main process tokenizes and caches, the others then read its cache file
        feats = tokenize_cached(self.features_cache, key, build) if is_main_process() else None
        wait_for_everyone()
        return feats if feats is not None else tokenize_cached(self.features_cache, key, build)

    def _train_data(self, spec: TaskSpec, tokenizer, cfg: ExperimentConfig, max_length: int | None = None,
                    phase: str = "intermediate") -> TaskData:
        task = get_task(spec.task)
        if max_length is None:
            max_length = task_max_length(cfg, phase, spec)
        lang = spec.train_language or task.train_language
        examples = subsample(load_examples(spec, task.train_split, lang), spec.max_examples)
        feats = self._features(spec, task.train_split, lang, examples, tokenizer, cfg, max_length)
        return TaskData(spec.label, task, get_family(task.kind), feats, examples)

    def _eval_data(self, spec: TaskSpec, split: str, lang: str, tokenizer, cfg: ExperimentConfig, max_length: int,
                   limit: int | None = None) -> TaskData:
        """One split and language of *spec*, featurized: its first *limit* examples (and at most
        ``max_eval_examples``)."""
        task = get_task(spec.task)
        examples = load_examples(spec, split, lang)
        limits = [n for n in (limit, spec.max_eval_examples) if n]
        limit = min(limits) if limits else None
        if limit is not None and limit >= len(examples):
            limit = None  # all of them: the same features as the full split's
        if limit:
            examples = examples[:limit]
        if not examples:
            raise MissingDataError(f"{task_data_dir(spec)}: no {split} examples of task {task.name!r} for language "
                                   f"{lang!r}")
        feats = self._features(spec, split, lang, examples, tokenizer, cfg, max_length, limit)
        return TaskData(spec.label, task, get_family(task.kind), feats, examples)

    def _eval_sets(self, spec: TaskSpec, langs: list[str], tokenizer, cfg: ExperimentConfig,
                   max_length: int) -> tuple[dict[str, dict[str, TaskData]], list[str]]:
        """Every split a target phase evaluates, read and featurized before training (a bad file fails the phase
        before its first step): ``({"dev": {lang: data}, "test": {lang: data}}, languages without dev data)``.
        The test split is required in every language; a language whose dev file does not exist (XQuAD's
        non-English languages, some UD treebanks) is evaluated on test only and listed."""
        task = get_task(spec.task)
        sets: dict[str, dict[str, TaskData]] = {"dev": {}, "test": {}}
        no_dev = []
        for lang in langs:
            try:
                sets["dev"][lang] = self._eval_data(spec, task.dev_split, lang, tokenizer, cfg, max_length)
            except MissingDataError:
                no_dev.append(lang)
            sets["test"][lang] = self._eval_data(spec, task.test_split, lang, tokenizer, cfg, max_length)
        return sets, no_dev

    def _selection_data(self, spec: TaskSpec, hp, tokenizer, cfg: ExperimentConfig, max_length: int,
                        langs: list[str]) -> list[TaskData]:
        """The dev data model selection scores: the first ``selection_examples`` dev examples of the training
        language (``en-dev``), or of every evaluated language (``all-dev``); none for ``last``."""
        task = get_task(spec.task)
        if hp.selection == "last":
            return []
        train_lang = spec.train_language or task.train_language
        chosen = [train_lang] if hp.selection == "en-dev" else langs
        out = []
        for lang in chosen:
            try:
                out.append(self._eval_data(spec, task.dev_split, lang, tokenizer, cfg, max_length,
                                           hp.selection_examples))
            except MissingDataError as e:
                if hp.selection == "all-dev" and lang != train_lang:
                    continue
                raise MissingDataError(f"{e} (needed for model selection `selection: {hp.selection}`; set "
                                       f"selection: last to keep the final weights instead)") from None
        return out

    def _train(self, cfg, hp, phase: str, start: EncoderRef, datas: list[TaskData], tokenizer, seed: int,
               sampling: str, state_dir: Path, max_length: int,
               selection: list[list[TaskData]] | None = None) -> Trained:
        seed_everything(seed)
        pretrained = start.pretrained
        encoder, architecture = build_backbone(cfg.model, start.path, pretrained=pretrained, revision=start.revision,
                                               seed=seed)
        h = hidden_size(encoder)
        if hp.freeze_embeddings:
            encoder.get_input_embeddings().weight.requires_grad_(False)
        heads = {d.label: d.family.build_head(d.task, h, hp.dropout) for d in datas}
        for d in datas:  # heads that share encoder weights (the masked-LM output layer)
            if hasattr(d.family, "bind"):
                d.family.bind(heads[d.label], encoder)
        summary = {"decoder": "last", "bilstm": "mean"}.get(architecture)
        if summary:  # sentence-level heads: last non-pad token of a causal model, mean of BiLSTM states
            for head in heads.values():
                if hasattr(head, "summary"):
                    head.summary = summary
        model = MultiTaskModel(encoder, heads)
        acc = _accelerator(cfg, state_dir.parent / "logs")

        start_trackers(acc, state_dir.parent.name.removeprefix(".").removesuffix(".partial"), {
            "phase": phase, "tasks": "+".join(d.label for d in datas),
            "seed": seed, "sampling": sampling, "model": cfg.model.model_dump(mode="json"),
            "train": hp.model_dump(mode="json", exclude={"tasks"})})
        total, trainable = count_parameters(model)
        mem = estimate_memory(model, hp.batch_size, max_length, cfg.model.gradient_checkpointing,
                              cfg.mixed_precision != "no")
        avail = available_memory(acc.device)
        console.print(f"  {architecture} {type(encoder).__name__}: {total / 1e6:,.1f}M parameters, "
                      f"{trainable / 1e6:,.2f}M trainable; memory estimate {mem['total'] / 2**30:.2f} GiB (weights "
                      f"{mem['weights'] / 2**30:.2f}, gradients {mem['gradients'] / 2**30:.2f}, optimizer "
                      f"{mem['optimizer'] / 2**30:.2f}, activations at batch {hp.batch_size} x length "
                      f"{max_length} {mem['activations'] / 2**30:.2f}) of {avail / 2**30:.1f} GiB free")
        if mem["total"] > avail:
            raise XstiltsError(f"training needs about {mem['total'] / 2**30:.1f} GiB but {acc.device} has "
                               f"{avail / 2**30:.1f} GiB free: lower batch_size or max_length, use lora, "
                               f"gradient_checkpointing or mixed_precision")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        from .checkpoint import list_checkpoints, required_bytes

        steps = total_steps([d.size for d in datas], hp)
        state_dir.mkdir(parents=True, exist_ok=True)
        need, free = required_bytes(model, hp.keep_checkpoints), shutil.disk_usage(state_dir).free
        if free < need:
            raise XstiltsError(f"{state_dir}: {free / 2**30:.1f} GiB free, but the training checkpoints of this "
                               f"phase need about {need / 2**30:.1f} GiB; free some space or lower keep_checkpoints")
        if list_checkpoints(state_dir):
            console.print(f"  resuming from {list_checkpoints(state_dir)[0]}")
        selector = None
        if selection and any(selection):
            groups = selection
            metrics = [d.task.metric for d in datas]
            selector = Selector(hp.selection, hp.eval_every, hp.patience, evaluate=lambda: float("nan"),
                                metric="/".join(dict.fromkeys(metrics)), examples=hp.selection_examples)

            def evaluate() -> float:
                task_scores = []
                for group in groups:
                    if not group:
                        continue
                    metric = group[0].task.metric
                    outs = eval_all_languages(model, group, batch_size=hp.eval_batch_size, accelerator=acc,
                                              pad_id=pad)
                    vals = [d.family.score(d.task, d.family.decode(d.task, out, d.features, d.examples),
                                           d.examples)[metric] for d, out in zip(group, outs)]
                    task_scores.append(sum(vals) / len(vals))
                return sum(task_scores) / len(task_scores) if task_scores else float("nan")

            selector.evaluate = evaluate
        console.print(f"  training on {', '.join(f'{d.label} ({d.size:,} examples)' for d in datas)}: {steps} steps "
                      f"of batch {hp.batch_size} on {acc.device}"
                      + (f"; {hp.selection} selection every {hp.eval_every} steps" if selector else ""))
        with progress_bar("train", steps) as adv:
            def on_step(step, loss):
                adv(1, info="" if loss != loss else f"loss {loss:.4f}")
                if loss == loss and not console.is_terminal:
                    console.print(f"    step {step}/{steps}  loss {loss:.4f}")

            probs = None
            if len(datas) > 1:
                from .sampling import task_probabilities

                probs = task_probabilities([d.label for d in datas], [d.size for d in datas], sampling,
                                           temperature=getattr(hp, "sampling_temperature", 1.0),
                                           cap=getattr(hp, "sampling_cap", None),
                                           probabilities=getattr(hp, "sampling_probabilities", None))
                console.print("  task sampling: " + ", ".join(f"{d.label} {p:.3f}" for d, p in zip(datas, probs)))
            try:
                history = train(model, datas, hp, seed=seed, accelerator=acc, pad_id=pad, probabilities=probs,
                                mixed_batches=getattr(hp, "mixed_batches", False), progress=on_step,
                                state_dir=state_dir, distributed=getattr(cfg, "distributed", None),
                                selector=selector)
            except BaseException:
                end_trackers(acc)  # close the trackers' files; the work folder is kept for resuming
                raise
        sel = history.get("selection")
        if sel:
            console.print(f"  selected step {sel['selected_step']} of {sel['steps_trained']} ({sel['mode']}, "
                          f"{sel['metric']} {sel['best_score']:.2f})"
                          + (" — stopped early" if sel["stopped_early"] else ""))
        return Trained(acc.unwrap_model(model), acc, pad, history)

    def _evaluate(self, spec: TaskSpec, split: str, lang: str, pred_dir: Path, data: TaskData,
                  outputs: list) -> dict:
        """Score one language from its head *outputs*: decode, write the predictions, gold labels and per-example
        statistics (main process only) and return the metrics."""
        preds = data.family.decode(data.task, outputs, data.features, data.examples)
        scores = data.family.score(data.task, preds, data.examples)
        if is_main_process():
            fname, content = data.family.prediction_file(data.task, split, lang, preds, data.examples)
            atomic_write_text(pred_dir / data.task.name / fname, content)
            gold = data.family.label_file(data.task, split, lang, data.examples)
            if gold is not None:  # the label file evaluate.py compares it with (xstilts export --labels)
                atomic_write_text(pred_dir.parent / "labels" / data.task.name / gold[0], gold[1])
            stats = data.family.example_stats(data.task, preds, data.examples)
            if stats is not None:  # for paired bootstrap over examples in reports
                atomic_write_text(pred_dir.parent / "per_example" / data.task.name / f"{split}-{lang}.jsonl",
                                  "".join(json.dumps(x) + "\n" for x in stats))
        return {**scores, "n": len(data.examples)}

    def _evaluate_languages(self, model, spec: TaskSpec, split: str, datas: dict[str, TaskData], acc, pad,
                            pred_dir: Path, batch_size: int) -> dict:
        """Every language of a task in one pass (:func:`~xstilts.train.eval_all_languages`: all features sorted
        by length into large batches), then each language scored and written by :meth:`_evaluate`; equal to
        evaluating language by language."""
        langs = list(datas)
        if not langs:
            return {}
        with progress_bar(f"evaluate {spec.label} {split} ({len(langs)} languages)",
                          sum(d.size for d in datas.values())) as adv:
            outputs = eval_all_languages(model, list(datas.values()), batch_size=batch_size, accelerator=acc,
                                         pad_id=pad, advance=adv)
        return {lang: self._evaluate(spec, split, lang, pred_dir, datas[lang], out)
                for lang, out in zip(langs, outputs)}

    def intermediate_phase(self, cfg: ExperimentConfig, start: EncoderRef, seed: int) -> Path:
        """Phase 2: train the encoder on the intermediate task(s), selecting on their English dev sets; save it
        (the heads are kept but not passed on). Every dev set is read before the first training step."""
        ic = cfg.intermediate
        settings = resolve_settings(cfg, "intermediate", ic.tasks)
        hp = effective_hp(ic, settings)
        key = intermediate_key(cfg, seed)
        label = intermediate_label(cfg)
        final = self._phase_dir("intermediate", label, key)
        if (final / "metrics.json").is_file():
            console.print(f"  [green]✓[/] intermediate phase {label} already complete: {final}")
            return final
        console.print(f"  intermediate phase: {label}")
        t0 = time.time()
        lengths = {s.label: task_max_length(cfg, "intermediate", s) for s in ic.tasks}
        with _main_writes(final, work_record(cfg, seed)) as tmp:
            tokenizer = load_tokenizer(start.path, start.revision)
            datas = [self._train_data(s, tokenizer, cfg, lengths[s.label]) for s in ic.tasks]
            devs, selection = {}, []
            for spec in ic.tasks:
                task = get_task(spec.task)
                lang = spec.train_language or task.train_language
                devs[spec.label] = (lang, self._eval_data(spec, task.dev_split, lang, tokenizer, cfg,
                                                          lengths[spec.label]))
                selection.append(self._selection_data(spec, hp, tokenizer, cfg, lengths[spec.label], [lang]))
            trained = self._train(cfg, hp, "intermediate", start, datas, tokenizer, seed, ic.sampling,
                                  tmp / "train_state", max(lengths.values()), selection)
            model, acc, pad, history = trained.model, trained.accelerator, trained.pad_id, trained.history
            dev = {}
            for spec in ic.tasks:
                lang, data = devs[spec.label]
                dev[spec.label] = self._evaluate_languages(model, spec, "dev", {lang: data}, acc, pad,
                                                           tmp / "predictions", ic.eval_batch_size)
            selection_record = history.pop("selection") or _last_record(history)
            if selection_record["mode"] == "en-dev":
                selection_record["language"] = {label: lang for label, (lang, _) in devs.items()}
            self._finish_phase(tmp, acc, model, tokenizer, cfg, start, "dev", dev, history["steps_trained"], lambda: {
                "phase": "intermediate", "key": key, "seed": seed, "tasks": [s.label for s in ic.tasks], "dev": dev,
                "train_languages": {label: lang for label, (lang, _) in devs.items()},
                "settings": settings, "selection": selection_record, "train": history,
                "seconds": time.time() - t0, "provenance": phase_provenance(cfg, ic.tasks, start.key)},
                phase_config(cfg, "intermediate", ic.tasks, settings))
        shown = []
        for spec in ic.tasks:
            task = get_task(spec.task)
            lang = spec.train_language or task.train_language
            shown.append(f"{spec.label} {task.metric} {dev[spec.label][lang][task.metric]:.2f}")
        console.print(f"  [green]✓[/] intermediate phase done in {time.time() - t0:.0f} s; English dev: "
                      + ", ".join(shown))
        return final

    @staticmethod
    def _finish_phase(tmp: Path, acc, model, tokenizer, cfg: ExperimentConfig, start: EncoderRef, split: str,
                      scores: dict, steps: int, metrics, config_text: str | None = None) -> None:
        """End of a training phase: log *scores* ({task label: {language: metrics}}) of *split* to the trackers and
        close them (before the work folder is renamed); on the main process, write the checkpoint (encoder, heads),
        the config and ``metrics()`` into *tmp*."""
        log_eval_metrics(acc, split, scores, steps)
        end_trackers(acc)
        if is_main_process():
            ckpt = tmp / "checkpoint"
            save_backbone(model.encoder, ckpt / "encoder", tokenizer, cfg.model, start.path)
            save_heads(ckpt, dict(model.heads), _head_tasks(cfg, list(model.heads)))  # safetensors + JSON
            atomic_write_text(tmp / "config.yaml", config_text or dump_config(cfg))
            atomic_write_json(tmp / "metrics.json", metrics())

    def target_phase(self, cfg: ExperimentConfig, spec: TaskSpec, start: EncoderRef, seed: int) -> Path:
        """Phase 3 for a trainable task: fine-tune on English (model selection on its English dev set), then
        evaluate zero-shot the dev and test splits in every language. All evaluation data are read before the first
        training step."""
        task = get_task(spec.task)
        tc = cfg.target
        settings = resolve_settings(cfg, "target", [spec])
        hp = effective_hp(tc, settings)
        max_length = settings["max_length"]
        langs = eval_languages(spec)
        key = target_key(cfg, spec, start.key, seed)
        final = self._phase_dir("target", spec.label, key)
        if (final / "metrics.json").is_file():
            console.print(f"  [green]✓[/] target phase {spec.label} already complete: {final}")
            return final
        console.print(f"  target phase: {spec.label} (fine-tune on {spec.train_language or task.train_language}, "
                      f"evaluate {len(langs)} languages)")
        t0 = time.time()
        with _main_writes(final, work_record(cfg, seed)) as tmp:
            tokenizer = load_tokenizer(start.path, start.revision)
            train_data = self._train_data(spec, tokenizer, cfg, max_length)
            sets, no_dev = self._eval_sets(spec, langs, tokenizer, cfg, max_length)
            selection = self._selection_data(spec, hp, tokenizer, cfg, max_length, list(sets["dev"]))
            trained = self._train(cfg, hp, "target", start, [train_data], tokenizer, seed, "proportional",
                                  tmp / "train_state", max_length, [selection])
            model, acc, pad, history = trained.model, trained.accelerator, trained.pad_id, trained.history
            splits = {}
            for split, datas in sets.items():
                per_lang = self._evaluate_languages(model, spec, split, datas, acc, pad, tmp / "predictions",
                                                    tc.eval_batch_size)
                if per_lang:
                    splits[split] = {"languages": per_lang, "average": _mean_metric(per_lang, task.metric)}
            selection_record = history.pop("selection") or _last_record(history)
            if selection_record["mode"] == "en-dev":  # the training language's dev set (translate-train: its own)
                selection_record["language"] = spec.train_language or task.train_language

            def metrics():
                m = _task_metrics(spec, task, splits["test"]["languages"], key, history, time.time() - t0)
                m.update(split="test", splits=splits, selection=selection_record, settings=settings,
                         no_dev_languages=no_dev, train_language=spec.train_language or task.train_language,
                         provenance=phase_provenance(cfg, [spec], start.key))
                return m

            if "dev" in splits:  # the dev scores to the trackers too (the test scores: _finish_phase)
                log_eval_metrics(acc, "dev", {spec.label: splits["dev"]["languages"]}, history["steps_trained"])
            self._finish_phase(tmp, acc, model, tokenizer, cfg, start, "test", {spec.label: splits["test"]["languages"]},
                               history["steps_trained"], metrics, phase_config(cfg, "target", [spec], settings))
        return final

    def retrieval_phase(self, cfg: ExperimentConfig, spec: TaskSpec, start: EncoderRef,
                        seed: int | None = None) -> Path:
        """Phase 3 for a retrieval task: embed both sides with the encoder and score (LAReQA and Mewsli-X fine-tune a
        dual encoder at *seed* first, XTREME-R's protocol). In a data-parallel run the main process does it while
        the others wait."""
        if _rank_world()[1] == 1:
            return self._retrieval_phase(cfg, spec, start, seed=seed)
        if is_main_process():
            try:
                return self._retrieval_phase(cfg, spec, start, seed=seed)
            finally:
                wait_for_everyone()
        wait_for_everyone()
        return self._retrieval_phase(cfg, spec, start, compute=False, seed=seed)

    def _retrieval_phase(self, cfg: ExperimentConfig, spec: TaskSpec, start: EncoderRef, compute: bool = True,
                         seed: int | None = None) -> Path:
        from .models import embeddings

        task = get_task(spec.task)
        ev = cfg.evaluation
        langs = eval_languages(spec)
        settings = retrieval_settings(cfg, spec, seed)
        key = retrieval_key(cfg, spec, start.key, seed)
        final = self._phase_dir("eval", spec.label, key)
        if (final / "metrics.json").is_file():
            console.print(f"  [green]✓[/] retrieval evaluation {spec.label} already complete: {final}")
            return final
        if not compute:
            raise XstiltsError(f"{final}: the main process did not complete this retrieval evaluation")
        t0 = time.time()
        device = pick_device(cfg.device)
        family = get_family(task.kind)
        ft = settings.get("finetune")
        if ft:  # a copy of the start encoder fine-tuned as a dual encoder embeds queries and candidates
            from .dual_encoder import finetune_for_retrieval

            embed, embed_query, ft_record = finetune_for_retrieval(cfg, spec, start, ft, device)
            layer = "fine-tuned"
            console.print(f"  retrieval evaluation: {spec.label}, {len(langs)} languages, fine-tuned dual encoder "
                          f"({ft_record['representation_used']} encoding)")
        else:
            tokenizer = load_tokenizer(start.path, start.revision)
            pretrained = start.pretrained
            encoder, _ = build_backbone(cfg.model.model_copy(update={"lora": None, "gradient_checkpointing": False}),
                                        start.path, pretrained=pretrained, revision=start.revision, seed=0)
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
            m = _task_metrics(spec, task, per_lang, key, ft_record["history"] if ft else None, time.time() - t0)
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


def _head_tasks(cfg: ExperimentConfig, labels: list[str]) -> dict[str, dict]:
    """``{label: {"task", "kind"}}`` of a phase's heads (the intermediate section's entries when the labels are
    theirs, else the target section's), for ``heads.json``."""
    inter = {s.label: s for s in cfg.intermediate.tasks}
    specs = inter if set(labels) <= set(inter) else {s.label: s for s in cfg.target.tasks}
    return {label: {"task": specs[label].task, "kind": get_task(specs[label].task).kind}
            for label in labels if label in specs}


def _mean_metric(per_lang: dict, metric: str) -> float:
    vals = [v[metric] for v in per_lang.values()]
    return sum(vals) / len(vals)


def _last_record(history: dict) -> dict:
    """The selection record of a phase that kept its final weights (``selection: last``)."""
    return {"mode": "last", "selected_step": history["steps_trained"], "steps_trained": history["steps_trained"],
            "curve": [], "stopped_early": False}


def _task_metrics(spec: TaskSpec, task, per_lang: dict, key: str, history, seconds: float) -> dict:
    metric = task.metric
    vals = [v[metric] for v in per_lang.values()]
    return {"task": task.name, "label": spec.label, "metric": metric, "key": key, "languages": per_lang,
            "average": sum(vals) / len(vals), "train": history, "seconds": seconds}


def evaluate_only(cfg: ExperimentConfig) -> dict:
    """``xstilts eval``: score the model as configured (no training) on the config's retrieval target tasks.

    Raises:
        XstiltsError: a target task needs fine-tuning (run ``xstilts run`` instead).
    """
    trainable = [s.label for s in cfg.target.tasks if get_task(s.task).trainable]
    if trainable:
        raise XstiltsError(f"target task(s) {', '.join(trainable)} need fine-tuning before they can be evaluated; "
                           f"use `xstilts run`, or list only retrieval tasks for `xstilts eval`")
    if not cfg.target.tasks:
        raise XstiltsError("the config lists no target tasks to evaluate (target.tasks)")
    data = cfg.model_dump(exclude_unset=True)  # unwritten settings keep resolving to the protocol defaults
    data.setdefault("intermediate", {})["tasks"] = []
    data["with_baseline"] = False
    cfg = ExperimentConfig.model_validate(data)
    return Pipeline(cfg).run()
