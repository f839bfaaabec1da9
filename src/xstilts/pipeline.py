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

from . import __version__
from .config import ExperimentConfig, TaskSpec, dump_config
from .console import console, progress_bar
from .data import tokenize_cached, tokenizer_fingerprint
from .errors import MissingDataError, XstiltsError
from .io import atomic_dir, atomic_write_json, atomic_write_text, read_json, resumable_dir, stable_hash
from .loading import eval_languages, load_examples, subsample, task_data_dir
from .modeling import (available_memory, build_backbone, count_parameters, estimate_memory, hidden_size,
                       load_tokenizer, pick_device, resolve_model_path, save_backbone, set_threads)
from .paths import cache_dir
from .report import write_comparison, write_results
from .tasks import get_family, get_task
from .training import (MultiTaskModel, TaskData, end_trackers, eval_all_languages, log_eval_metrics,
                       resolve_trackers, seed_everything, start_trackers, total_steps, train)

#: Bumped when a change alters what a phase computes, so that old phase folders are not reused.
PHASE_VERSION = 1
#: Settings that do not change what a phase computes, left out of its hash.
NOT_HASHED = ("checkpoint_every", "keep_checkpoints", "log_every", "prefetch", "compile", "compile_mode", "fused_adamw",
              "length_buckets", "packing")


@dataclass
class EncoderRef:
    """Where a phase's starting encoder comes from: the pretrained checkpoint or an intermediate phase."""

    path: str
    key: str


def _data_fingerprint(spec: TaskSpec) -> dict:
    folder = task_data_dir(spec)
    if not folder.is_dir():
        return {"source": "hub", "task": spec.task}
    files = sorted(p for p in folder.rglob("*") if p.is_file())[:5000]
    return {"folder": str(folder.resolve()), "files": stable_hash([(str(p.relative_to(folder)), p.stat().st_size,
                                                                    int(p.stat().st_mtime)) for p in files])}


def _accelerator(cfg: ExperimentConfig, logs: Path | None = None):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    device = pick_device(cfg.device)
    # trackers: training curves of the phase in *logs* (<phase folder>/logs); see xstilts.training.resolve_trackers

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
def _main_writes(final: Path):
    """:func:`~xstilts.io.resumable_dir` for the main process; the other processes of a data-parallel run get the
    same work folder (training checkpoints are read by every process) but neither create nor rename it, and wait
    until the main process has renamed it to *final*."""
    if is_main_process():
        with resumable_dir(final) as work:
            yield work
    else:
        yield final.parent / f".{final.name}.partial"
    wait_for_everyone()


class Pipeline:
    """Runs an experiment config: every seed, the STILTs variant and (optionally) the no-intermediate baseline."""

    def __init__(self, cfg: ExperimentConfig):
        self.cfg = cfg
        self.out = Path(cfg.output_dir).expanduser()
        self.phase_root = self.out / "phases"
        self.features_cache = cache_dir() / "features"
        set_threads(cfg.num_threads)

    # ------------------------------------------------------------------------------------------ identity
    def model_identity(self, cfg: ExperimentConfig) -> dict:
        m = cfg.model
        path = resolve_model_path(m.name_or_path)
        ident = Path(path).resolve() if Path(path).is_dir() else path
        return {"model": str(ident), "revision": m.revision, "dtype": m.dtype, "max_length": m.max_length,
                "prefix": m.text_prefix}

    def pretrained_ref(self, cfg: ExperimentConfig) -> EncoderRef:
        return EncoderRef(resolve_model_path(cfg.model.name_or_path), "pretrained-" + stable_hash(self.model_identity(cfg)))

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

        resolve_trackers(cfg.trackers)  # a tracker asked for by name but not installed: fail now

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
                pdir = self.retrieval_phase(cfg, spec, src)
            else:
                pdir = self.target_phase(cfg, spec, inter, seed)
            phases.append({"phase": "target", "task": spec.label, "dir": str(pdir)})
            tasks[spec.label] = read_json(pdir / "metrics.json")
        result = {"variant": variant, "seed": seed, "run_dir": str(run_dir), "phases": phases, "tasks": tasks,
                  "xstilts_version": __version__}
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

    def _features(self, spec: TaskSpec, split: str, lang: str, examples: list, tokenizer, cfg: ExperimentConfig):
        task = get_task(spec.task)
        family = get_family(task.kind)
        key = {"task": task.name, "split": split, "lang": lang, "n": len(examples), "data": _data_fingerprint(spec),
               "max_examples": spec.max_examples if split == task.train_split else spec.max_eval_examples,
               "tokenizer": tokenizer_fingerprint(tokenizer), "max_length": cfg.model.max_length,
               "prefix": cfg.model.text_prefix, "kind": task.kind, "options": spec.options, "v": PHASE_VERSION}

        def build():
            with progress_bar(f"tokenize {spec.label} {split} {lang}", len(examples)) as adv:
                feats: dict = {}
                for s in range(0, len(examples), 2000):
                    part = family.featurize(task, examples[s:s + 2000], tokenizer, cfg.model.max_length,
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

    def _train_data(self, spec: TaskSpec, tokenizer, cfg: ExperimentConfig) -> TaskData:
        task = get_task(spec.task)
        lang = spec.train_language or task.train_language
        examples = subsample(load_examples(spec, task.train_split, lang), spec.max_examples)
        feats = self._features(spec, task.train_split, lang, examples, tokenizer, cfg)
        return TaskData(spec.label, task, get_family(task.kind), feats, examples)

    def _eval_data(self, spec: TaskSpec, split: str, lang: str, tokenizer, cfg: ExperimentConfig) -> TaskData:
        task = get_task(spec.task)
        examples = load_examples(spec, split, lang)
        if spec.max_eval_examples:
            examples = examples[: spec.max_eval_examples]
        if not examples:
            raise MissingDataError(f"{task_data_dir(spec)}: no {split} examples of task {task.name!r} for language "
                                   f"{lang!r}")
        feats = self._features(spec, split, lang, examples, tokenizer, cfg)
        return TaskData(spec.label, task, get_family(task.kind), feats, examples)

    def _train(self, cfg, hp, start: EncoderRef, specs: list[TaskSpec], seed: int, sampling: str, state_dir: Path):
        tokenizer = load_tokenizer(start.path, cfg.model.revision if start.key.startswith("pretrained") else None)
        datas = [self._train_data(s, tokenizer, cfg) for s in specs]
        seed_everything(seed)
        pretrained = start.key.startswith("pretrained")
        encoder, family = build_backbone(cfg.model, start.path, pretrained=pretrained,
                                         revision=cfg.model.revision if pretrained else None, seed=seed)
        h = hidden_size(encoder)
        if hp.freeze_embeddings:
            encoder.get_input_embeddings().weight.requires_grad_(False)
        heads = {d.label: d.family.build_head(d.task, h, hp.dropout) for d in datas}
        for d in datas:  # heads that share encoder weights (the masked-LM output layer)
            if hasattr(d.family, "bind"):
                d.family.bind(heads[d.label], encoder)
        summary = {"decoder": "last", "bilstm": "mean"}.get(family)
        if summary:  # sentence-level heads: last non-pad token of a causal model, mean of BiLSTM states
            for head in heads.values():
                if hasattr(head, "summary"):
                    head.summary = summary
        model = MultiTaskModel(encoder, heads)
        acc = _accelerator(cfg, state_dir.parent / "logs")

        start_trackers(acc, state_dir.parent.name.removeprefix(".").removesuffix(".partial"), {
            "phase": "intermediate" if hp is cfg.intermediate else "target", "tasks": "+".join(s.label for s in specs),
            "seed": seed, "sampling": sampling, "model": cfg.model.model_dump(mode="json"),
            "train": hp.model_dump(mode="json", exclude={"tasks"})})
        total, trainable = count_parameters(model)
        mem = estimate_memory(model, hp.batch_size, cfg.model.max_length, cfg.model.gradient_checkpointing,
                              cfg.mixed_precision != "no")
        avail = available_memory(acc.device)
        console.print(f"  {family} {type(encoder).__name__}: {total / 1e6:,.1f}M parameters, {trainable / 1e6:,.2f}M "
                      f"trainable; memory estimate {mem['total'] / 2**30:.2f} GiB (weights "
                      f"{mem['weights'] / 2**30:.2f}, gradients {mem['gradients'] / 2**30:.2f}, optimizer "
                      f"{mem['optimizer'] / 2**30:.2f}, activations at batch {hp.batch_size} x length "
                      f"{cfg.model.max_length} {mem['activations'] / 2**30:.2f}) of {avail / 2**30:.1f} GiB free")
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
        console.print(f"  training on {', '.join(f'{d.label} ({d.size:,} examples)' for d in datas)}: {steps} steps "
                      f"of batch {hp.batch_size} on {acc.device}")
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
                                state_dir=state_dir, distributed=getattr(cfg, "distributed", None))
            except BaseException:
                end_trackers(acc)  # close the trackers' files; the work folder is kept for resuming
                raise
        model = acc.unwrap_model(model)
        return model, tokenizer, acc, pad, history

    def _evaluate(self, model, spec: TaskSpec, split: str, lang: str, tokenizer, cfg, acc, pad, pred_dir: Path,
                  batch_size: int, data: TaskData | None = None, outputs: list | None = None) -> dict:
        """Score one language: decode the head outputs (computed here unless *outputs* are given, with *data*),
        write the predictions (main process only) and return the metrics."""
        if data is None:
            data = self._eval_data(spec, split, lang, tokenizer, cfg)
        if outputs is None:
            with progress_bar(f"evaluate {spec.label} {split} {lang}", data.size) as adv:
                outputs = eval_all_languages(model, [data], batch_size=batch_size, accelerator=acc, pad_id=pad,
                                             advance=adv)[0]
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

    def _evaluate_languages(self, model, spec: TaskSpec, split: str, langs: list[str], tokenizer, cfg, acc, pad,
                            pred_dir: Path, batch_size: int) -> dict:
        """Every language of a task in one pass (:func:`~xstilts.training.eval_all_languages`: all features sorted
        by length into large batches), then each language scored and written as :meth:`_evaluate` does; equal to
        evaluating language by language."""
        datas = [self._eval_data(spec, split, lang, tokenizer, cfg) for lang in langs]
        with progress_bar(f"evaluate {spec.label} {split} ({len(langs)} languages)", sum(d.size for d in datas)) \
                as adv:
            outputs = eval_all_languages(model, datas, batch_size=batch_size, accelerator=acc, pad_id=pad,
                                         advance=adv)
        return {lang: self._evaluate(model, spec, split, lang, tokenizer, cfg, acc, pad, pred_dir, batch_size,
                                     data=d, outputs=out) for lang, d, out in zip(langs, datas, outputs)}

    def intermediate_phase(self, cfg: ExperimentConfig, start: EncoderRef, seed: int) -> Path:
        """Phase 2: train the encoder on the intermediate task(s); save it (the heads are kept but not passed on)."""
        ic = cfg.intermediate
        hp = ic.model_dump(exclude={"tasks", *NOT_HASHED})
        key = stable_hash({"phase": "intermediate", "v": PHASE_VERSION, "start": start.key,
                           "model": self.model_identity(cfg), "hp": hp, "seed": seed,
                           "tasks": [{**s.model_dump(mode="json"), "data": _data_fingerprint(s)} for s in ic.tasks]})
        label = "+".join(s.label for s in ic.tasks)
        final = self._phase_dir("intermediate", label, key)
        if (final / "metrics.json").is_file():
            console.print(f"  [green]✓[/] intermediate phase {label} already complete: {final}")
            return final
        console.print(f"  intermediate phase: {label}")
        t0 = time.time()
        with _main_writes(final) as tmp:
            model, tokenizer, acc, pad, history = self._train(cfg, ic, start, ic.tasks, seed, ic.sampling,
                                                              tmp / "train_state")
            dev = {}
            for spec in ic.tasks:
                task = get_task(spec.task)
                lang = spec.train_language or task.train_language
                dev[spec.label] = {lang: self._evaluate(model, spec, task.dev_split, lang, tokenizer, cfg, acc, pad,
                                                        tmp / "predictions", ic.eval_batch_size)}
            self._finish_phase(tmp, acc, model, tokenizer, cfg, start, "dev", dev, history["steps"], lambda: {
                "phase": "intermediate", "key": key, "seed": seed, "tasks": [s.label for s in ic.tasks], "dev": dev,
                "train": history, "seconds": time.time() - t0})
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
                      scores: dict, steps: int, metrics) -> None:
        """End of a training phase: log *scores* ({task label: {language: metrics}}) of *split* to the trackers and
        close them (before the work folder is renamed); on the main process, write the checkpoint (encoder, heads),
        the config and ``metrics()`` into *tmp*."""
        log_eval_metrics(acc, split, scores, steps)
        end_trackers(acc)
        if is_main_process():
            ckpt = tmp / "checkpoint"
            save_backbone(model.encoder, ckpt / "encoder", tokenizer, cfg.model, start.path)
            torch.save({k: v.state_dict() for k, v in model.heads.items()}, ckpt / "heads.pt")
            atomic_write_text(tmp / "config.yaml", dump_config(cfg))
            atomic_write_json(tmp / "metrics.json", metrics())

    def target_phase(self, cfg: ExperimentConfig, spec: TaskSpec, start: EncoderRef, seed: int) -> Path:
        """Phase 3 for a trainable task: fine-tune on English, evaluate zero-shot in every language."""
        task = get_task(spec.task)
        tc = cfg.target
        hp = tc.model_dump(exclude={"tasks", *NOT_HASHED})
        langs = eval_languages(spec)
        key = stable_hash({"phase": "target", "v": PHASE_VERSION, "start": start.key, "model": self.model_identity(cfg),
                           "hp": hp, "seed": seed, "task": {**spec.model_dump(mode="json"), "languages": langs,
                                                            "data": _data_fingerprint(spec)}})
        final = self._phase_dir("target", spec.label, key)
        if (final / "metrics.json").is_file():
            console.print(f"  [green]✓[/] target phase {spec.label} already complete: {final}")
            return final
        console.print(f"  target phase: {spec.label} (fine-tune on {task.train_language}, evaluate {len(langs)} "
                      f"languages)")
        t0 = time.time()
        with _main_writes(final) as tmp:
            model, tokenizer, acc, pad, history = self._train(cfg, tc, start, [spec], seed, "proportional",
                                                              tmp / "train_state")
            per_lang = self._evaluate_languages(model, spec, task.test_split, langs, tokenizer, cfg, acc, pad,
                                                tmp / "predictions", tc.eval_batch_size)
            self._finish_phase(tmp, acc, model, tokenizer, cfg, start, "test", {spec.label: per_lang},
                               history["steps"], lambda: _task_metrics(spec, task, per_lang, key, history,
                                                                       time.time() - t0))
        return final

    def retrieval_phase(self, cfg: ExperimentConfig, spec: TaskSpec, start: EncoderRef) -> Path:
        """Phase 3 for a retrieval task: embed both sides with the encoder and score (no training). In a
        data-parallel run the main process does it while the others wait."""
        if _rank_world()[1] == 1:
            return self._retrieval_phase(cfg, spec, start)
        if is_main_process():
            try:
                return self._retrieval_phase(cfg, spec, start)
            finally:
                wait_for_everyone()
        wait_for_everyone()
        return self._retrieval_phase(cfg, spec, start, compute=False)

    def _retrieval_phase(self, cfg: ExperimentConfig, spec: TaskSpec, start: EncoderRef, compute: bool = True) -> Path:
        from . import retrieval

        task = get_task(spec.task)
        ev = cfg.evaluation
        langs = eval_languages(spec)
        settings = {"layer": ev.retrieval_layer, "pooling": ev.pooling, "max_length": ev.max_length or cfg.model.max_length,
                    "k": ev.bucc_k, "prefix": cfg.model.text_prefix, "query_prefix": ev.query_prefix,
                    "options": spec.options}
        if task.extra.get("mode") == "nearest":  # Tatoeba-style tasks only, so other retrieval keys do not change
            settings["direction"] = ev.tatoeba_direction
        if task.extra.get("mode") == "margin":
            settings["bucc_threshold"] = ev.bucc_threshold
        key = stable_hash({"phase": "retrieval", "v": PHASE_VERSION, "start": start.key, "settings": settings,
                           "task": {**spec.model_dump(mode="json"), "languages": langs, "data": _data_fingerprint(spec)}})
        final = self._phase_dir("eval", spec.label, key)
        if (final / "metrics.json").is_file():
            console.print(f"  [green]✓[/] retrieval evaluation {spec.label} already complete: {final}")
            return final
        if not compute:
            raise XstiltsError(f"{final}: the main process did not complete this retrieval evaluation")
        t0 = time.time()
        device = pick_device(cfg.device)
        tokenizer = load_tokenizer(start.path)
        pretrained = start.key.startswith("pretrained")
        encoder, _ = build_backbone(cfg.model.model_copy(update={"lora": None, "gradient_checkpointing": False}),
                                    start.path, pretrained=pretrained, seed=0)
        encoder = encoder.to(device)
        layer = retrieval.resolve_layer(ev.retrieval_layer, encoder, cfg.model.name_or_path)
        console.print(f"  retrieval evaluation: {spec.label}, {len(langs)} languages, layer {layer}, {ev.pooling} "
                      f"pooling, max length {settings['max_length']}")
        family = get_family(task.kind)

        def embed(texts, prefix=None):
            with progress_bar(f"embed {spec.label} ({len(texts):,} distinct texts)", len(texts)) as adv:
                return retrieval.embed(encoder, tokenizer, texts, layer=layer, pooling=ev.pooling,
                                       max_length=settings["max_length"], batch_size=ev.batch_size,
                                       prefix=cfg.model.text_prefix if prefix is None else prefix, device=device,
                                       advance=adv)

        # each split and language read once: evaluation and the gold label files share it
        load = functools.cache(lambda sp, lang: load_examples(spec, sp, lang))
        with atomic_dir(final) as tmp:
            res = family.evaluate(task, langs, load, embed, settings)
            per_lang, lines = res[0], res[1]
            for lang, stats in (res[2] if len(res) > 2 else {}).items():  # optional per-example statistics
                atomic_write_text(tmp / "per_example" / task.name / f"{task.test_split}-{lang}.jsonl",
                                  "".join(json.dumps(x) + "\n" for x in stats))
            for lang, (fname, content) in lines.items():
                atomic_write_text(tmp / "predictions" / task.name / fname, content)
            for lang, (fname, content) in family.label_files(task, langs, load).items():
                atomic_write_text(tmp / "labels" / task.name / fname, content)
            atomic_write_text(tmp / "config.yaml", dump_config(cfg))
            m = _task_metrics(spec, task, per_lang, key, None, time.time() - t0)
            m["retrieval"] = {**settings, "layer": layer, "encoder": start.key}
            atomic_write_json(tmp / "metrics.json", m)
        console.print(f"  [green]✓[/] {spec.label}: mean {task.metric} {m['average']:.2f} over {len(langs)} languages "
                      f"({time.time() - t0:.0f} s)")
        return final


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
    data = cfg.model_dump()
    data["intermediate"]["tasks"] = []
    data["with_baseline"] = False
    cfg = ExperimentConfig.model_validate(data)
    return Pipeline(cfg).run()
