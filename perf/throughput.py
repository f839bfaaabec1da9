#!/usr/bin/env python3
"""xstilts' trainer against the Hugging Face Trainer, side by side in one process, on XNLI-shaped work.

Sections (``--sections``, default all), each printing JSON lines (one per measurement):

* ``train``: XNLI-like synthetic pair data (pre-tokenized, the same examples for every trainer), random-init XLM-R
  base / large shapes, batch 32, AdamW lr 2e-5, weight decay 0.01, linear schedule with 10% warmup, gradient
  clipping 1.0, bf16 autocast on CUDA. The Hugging Face ``Trainer`` runs as ``run_xnli.py`` does by default
  (``pad_to_max_length``: every example padded to 128 tokens; ``XLMRobertaForSequenceClassification``; its default
  fused AdamW); ``hf-longest`` pads each batch to its longest example instead. xstilts runs in several
  configurations (``--configs``). Then one ``ratio`` line per xstilts configuration: its examples/s over the HF
  Trainer's.
* ``eval``: zero-shot evaluation of 15 languages x 5,010 XNLI-shaped test examples with XLM-R large
  (``eval_all_languages``: one length-sorted pass, large batches, bf16, no gradient), against a per-language loop.
* ``concurrent``: N (8) xstilts XLM-R base runs at once as separate processes (sharing the GPU; CUDA MPS if its
  daemon runs) against one run alone: aggregate examples/s.
* ``sweep``: xstilts' examples/s and MFU for XLM-R large at batch sizes 32..512; the best batch size for MFU.
* ``profile`` (``--profile``): torch.profiler over a few measured steps of one xstilts run: Chrome trace, operator
  table, and the time per step of the trainer's regions (collate, wait for batches, forward, backward, optimizer).

Figures: ``examples_per_s`` (steady state: after ``--warmup`` steps, until the last step, with a device
synchronisation at both ends); ``real_tokens_per_s`` (examples/s x the mean real, non-pad, length of the data);
``padded_tokens_per_s`` (tokens the encoder processed, padding included, measured from the batches built);
``model_tflops`` = 6 x N x real tokens/s, where N is the number of non-embedding parameters (the matmul weights:
embedding lookups cost no FLOPs; attention-score FLOPs, ~3% at these lengths, are not counted) and
``padded_tflops`` the same over padded tokens (the figure the issue's 3.5% / 8% MFU corresponds to); ``mfu`` =
model_tflops / ``--peak-tflops`` (989: H100 SXM dense BF16) and ``mfu_padded``; ``peak_mem_gib`` (CUDA: peak
allocated during the run; CPU: the process's peak RSS so far).

Synthetic XNLI lengths: total pair length (with special tokens) ~ round(LogNormal(mu = ln 50 - 0.125, sigma =
0.5)), clipped to [8, 128]: mean ~ 50, median ~ 44, 95th percentile ~ 100, ~1.5% at the 128 cap; premise ~ 2/3
of the tokens. Token ids are uniform over the vocabulary (minus the special ids); labels uniform over 3 classes.

    python perf/throughput.py                              # GPU (H100): everything, base and large
    python perf/throughput.py --sections train --models large
    python perf/throughput.py --device cpu --tiny          # CPU check of every section on tiny shapes
    python perf/throughput.py --sections profile --models large   # what bounds an xstilts step
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
H100_BF16_TFLOPS = 989.0

SHAPES = {  # XLMRobertaConfig sizes of xlm-roberta-base / -large
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
}
VOCAB = {"base": 250002, "large": 250002, "tiny": 1000}
BUCKETS = [32, 48, 64, 80, 96, 128]

#: xstilts configurations (TrainConfig speed options on top of the same optimisation settings)
CONFIGS = {
    "xstilts": {},  # defaults: length-grouped batches, dynamic padding, background prefetch on CUDA, fused AdamW on CUDA
    "xstilts-random": {"batching": "random"},  # the old default: uniformly random batches
    "xstilts-grouped": {"batching": "length_grouped"},
    "xstilts-buckets": {"batching": "length_grouped", "length_buckets": BUCKETS},
    "xstilts-compiled": {"batching": "length_grouped", "length_buckets": BUCKETS, "compile": True},
    "xstilts-cudagraphs": {"batching": "length_grouped", "length_buckets": BUCKETS, "compile": True,
                           "compile_mode": "reduce-overhead"},
    # padding-free: several sequences per row, block-diagonal attention mask (SDPA); flash-attention's varlen
    # layout when the model is loaded with attn_implementation=flash_attention_2 (--attn flash_attention_2)
    "xstilts-packed": {"packing": True},
}
GPU_CONFIGS = ["xstilts", "xstilts-random", "xstilts-packed", "xstilts-cudagraphs", "hf", "hf-longest"]
CPU_CONFIGS = ["xstilts", "xstilts-random", "hf", "hf-longest"]


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


# ------------------------------------------------------------------------------------------------ data and models
def xnli_lengths(n: int, seed: int, max_length: int = 128) -> list[int]:
    rng = random.Random(seed)
    mu = math.log(50) - 0.125
    return [min(max_length, max(8, round(rng.lognormvariate(mu, 0.5)))) for _ in range(n)]


def synthetic_pairs(n: int, vocab: int, seed: int) -> dict:
    """Pre-tokenized XLM-R-style pairs ``<s> A </s></s> B </s>`` with XNLI-like lengths, labels in {0, 1, 2}."""
    rng = random.Random(seed + 1)
    ids, labels = [], []
    for length in xnli_lengths(n, seed):
        body = length - 4
        a = max(1, round(body * 2 / 3))
        toks = [rng.randrange(5, vocab) for _ in range(body)]
        ids.append([0] + toks[:a] + [2, 2] + toks[a:] + [2])
        labels.append(rng.randrange(3))
    return {"input_ids": ids, "label": labels}


def xlmr_config(size: str, attn: str | None = None):
    from transformers import XLMRobertaConfig

    extra = {"attn_implementation": attn} if attn else {}
    return XLMRobertaConfig(vocab_size=VOCAB[size], max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                            bos_token_id=0, eos_token_id=2, num_labels=3, **SHAPES[size], **extra)


def train_config(**options):
    """A TrainConfig; options the installed config schema does not list yet (``packing``) are set unvalidated."""
    from xstilts.config import TrainConfig

    known = {k: v for k, v in options.items() if k in TrainConfig.model_fields}
    extra = {k: v for k, v in options.items() if k not in TrainConfig.model_fields}
    hp = TrainConfig(**known)
    return hp.model_copy(update=extra) if extra else hp


def packed_slots(lengths: list[int], width: int, varlen: bool) -> int:
    """Token slots of a packed batch (as :func:`xstilts.data.pack_batch`): first-fit-decreasing rows of *width*."""
    if varlen:
        return sum(lengths)
    fill: list[int] = []
    for n in sorted(lengths, reverse=True):
        r = next((r for r, used in enumerate(fill) if used + n <= width), None)
        if r is None:
            fill.append(n)
        else:
            fill[r] += n
    return len(fill) * width


def non_embedding_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def device_sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def accelerator(device: torch.device, bf16: bool):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    return Accelerator(cpu=device.type == "cpu", mixed_precision="bf16" if bf16 else "no")


def sig(x: float, digits: int = 4) -> float:
    """*x* rounded to significant digits (MFU of tiny CPU runs is ~1e-6)."""
    return float(f"{x:.{digits}g}")


def figures(name: str, size: str, batch: int, ex_s: float, mean_len: float, padded_per_ex: float, n_params: int,
            peak: float, args, **extra) -> dict:
    real, padded = ex_s * mean_len, ex_s * padded_per_ex
    tf, tf_pad = 6 * n_params * real / 1e12, 6 * n_params * padded / 1e12
    return {"bench": "train", "trainer": name, "model": size, "batch": batch, "device": args.device_name,
            "examples_per_s": round(ex_s, 2), "real_tokens_per_s": round(real, 1),
            "padded_tokens_per_s": round(padded, 1), "non_embedding_params": n_params,
            "model_tflops": sig(tf), "padded_tflops": sig(tf_pad),
            "mfu": sig(tf / args.peak_tflops), "mfu_padded": sig(tf_pad / args.peak_tflops),
            "peak_mem_gib": round(peak, 3), **extra}


# ------------------------------------------------------------------------------------------------ xstilts
def run_xstilts(size: str, batch: int, options: dict, args, data: dict, name: str = "xstilts",
                on_measure_start=None, on_step=None) -> dict:
    from transformers import XLMRobertaModel

    from xstilts.tasks import get_family, get_task
    from xstilts.train import MultiTaskModel, TaskData, train

    device = torch.device(args.device)
    task = get_task("xnli")
    fam = get_family(task.kind)
    torch.manual_seed(0)
    enc = XLMRobertaModel(xlmr_config(size, args.attn), add_pooling_layer=False)
    model = MultiTaskModel(enc, {"xnli": fam.build_head(task, enc.config.hidden_size, 0.1)})
    n_params = non_embedding_params(model)
    total = args.warmup + args.steps
    n = batch * total
    feats = {k: v[:n] for k, v in data.items()}
    td = TaskData("xnli", task, fam, feats)
    padded = {"tokens": 0, "examples": 0}
    collate = type(fam).collate

    def spy(self, features, idx, pad_id):  # padded tokens of the batches built (bucket padding included below)
        out = collate(self, features, idx, pad_id)
        width = out["input_ids"].shape[1]
        for b in options.get("length_buckets") or ():
            if b >= width:
                width = b
                break
        if options.get("packing"):  # the packed rows' token slots (one row of all tokens with flash varlen)
            padded["tokens"] += packed_slots(out["attention_mask"].sum(1).tolist(), width,
                                             (args.attn or "").startswith("flash"))
        else:
            padded["tokens"] += len(idx) * width
        padded["examples"] += len(idx)
        return out

    hp = train_config(max_steps=total, lr=2e-5, batch_size=batch, warmup_ratio=0.1, weight_decay=0.01,
                      max_grad_norm=1.0, log_every=total, **options)
    marks = {}

    def progress(step, loss):
        if on_step:
            on_step(step)
        if step == args.warmup:
            device_sync(device)
            if on_measure_start:
                on_measure_start()
            marks["t0"] = time.perf_counter()
        if step == total:
            device_sync(device)
            marks["t1"] = time.perf_counter()

    acc = accelerator(device, args.bf16)
    reset_peak(device)
    type(fam).collate = spy
    try:
        t_start = time.perf_counter()
        train(model, [td], hp, seed=0, accelerator=acc, pad_id=1, progress=progress)
        wall = time.perf_counter() - t_start
    finally:
        type(fam).collate = collate
    ex_s = args.steps * batch / (marks["t1"] - marks["t0"])
    mean_len = sum(map(len, feats["input_ids"])) / n
    rec = figures(name, size, batch, ex_s, mean_len, padded["tokens"] / max(1, padded["examples"]), n_params,
                  peak_gib(device), args, options=options, steps=args.steps, warmup_steps=args.warmup,
                  seconds_total=round(wall, 2), t0=marks["t0"], t1=marks["t1"])
    del model, enc
    return rec


# ------------------------------------------------------------------------------------------------ Hugging Face
def run_hf(size: str, batch: int, padding: str, args, data: dict) -> dict:
    from transformers import Trainer, TrainerCallback, TrainingArguments, XLMRobertaForSequenceClassification

    device = torch.device(args.device)
    total = args.warmup + args.steps
    n = batch * total
    ids, labels = data["input_ids"][:n], data["label"][:n]
    padded = {"tokens": 0, "examples": 0}

    class PairData(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return {"input_ids": ids[i], "labels": labels[i]}

    def collate(rows):  # run_xnli: padding="max_length" (128) + default_data_collator; or pad to the longest
        width = 128 if padding == "max_length" else max(len(r["input_ids"]) for r in rows)
        x = torch.full((len(rows), width), 1, dtype=torch.long)
        m = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            x[r, :len(row["input_ids"])] = torch.tensor(row["input_ids"])
            m[r, :len(row["input_ids"])] = 1
        padded["tokens"] += x.numel()
        padded["examples"] += len(rows)
        return {"input_ids": x, "attention_mask": m, "labels": torch.tensor([r["labels"] for r in rows])}

    marks = {}

    class Timer(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            if state.global_step == args.warmup:
                device_sync(device)
                marks["t0"] = time.perf_counter()
            if state.global_step == total:
                device_sync(device)
                marks["t1"] = time.perf_counter()

    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(xlmr_config(size))
    n_params = non_embedding_params(model)
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch, learning_rate=2e-5, weight_decay=0.01,
            lr_scheduler_type="linear", warmup_steps=int(0.1 * total), max_grad_norm=1.0, max_steps=total,
            bf16=args.bf16, use_cpu=device.type == "cpu", logging_steps=10**9, save_strategy="no", report_to="none",
            disable_tqdm=True, seed=0, data_seed=0, remove_unused_columns=False)
        trainer = Trainer(model=model, args=targs, train_dataset=PairData(), data_collator=collate,
                          callbacks=[Timer()])
        reset_peak(device)
        t_start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its summary; keep stdout JSON lines
            trainer.train()
        wall = time.perf_counter() - t_start
    ex_s = args.steps * batch / (marks["t1"] - marks["t0"])
    mean_len = sum(map(len, ids)) / n
    name = "hf" if padding == "max_length" else "hf-longest"
    rec = figures(name, size, batch, ex_s, mean_len, padded["tokens"] / max(1, padded["examples"]), n_params,
                  peak_gib(device), args, padding=padding, optim=str(targs.optim), steps=args.steps,
                  warmup_steps=args.warmup, seconds_total=round(wall, 2))
    del trainer, model
    return rec


# ------------------------------------------------------------------------------------------------ sections
def section_train(args) -> None:
    for size in args.models:
        data = synthetic_pairs(args.batch * (args.warmup + args.steps), VOCAB[size], seed=1)
        results = {}
        for name in args.configs:
            try:
                if name.startswith("hf"):
                    rec = run_hf(size, args.batch, "max_length" if name == "hf" else "longest", args, data)
                else:
                    rec = run_xstilts(size, args.batch, CONFIGS[name], args, data, name=name)
            except Exception as e:  # report and go on with the others
                rec = {"bench": "train", "trainer": name, "model": size, "error": f"{type(e).__name__}: {e}"[:500]}
            emit(rec)
            results[name] = rec
        hf = results.get("hf", {}).get("examples_per_s")
        for name, rec in results.items():
            if name.startswith("xstilts") and hf and "examples_per_s" in rec:
                emit({"bench": "ratio", "model": size, "batch": args.batch, "trainer": name, "versus": "hf",
                      "examples_per_s_ratio": round(rec["examples_per_s"] / hf, 3),
                      "real_tokens_per_s_ratio": round(rec["real_tokens_per_s"] / results["hf"]["real_tokens_per_s"],
                                                       3)})


def section_eval(args) -> None:
    from transformers import XLMRobertaModel

    from xstilts.tasks import get_family, get_task
    from xstilts.train import MultiTaskModel, TaskData, eval_all_languages, predict

    size = "tiny" if args.tiny else "large"
    device = torch.device(args.device)
    task = get_task("xnli")
    fam = get_family(task.kind)
    torch.manual_seed(0)
    enc = XLMRobertaModel(xlmr_config(size), add_pooling_layer=False)
    model = MultiTaskModel(enc, {"xnli": fam.build_head(task, enc.config.hidden_size, 0.1)}).to(device)
    per_lang = args.eval_examples
    datas = [TaskData("xnli", task, fam, synthetic_pairs(per_lang, VOCAB[size], seed=100 + k)) for k in range(15)]
    acc = accelerator(device, args.bf16)
    n_params = non_embedding_params(model)
    real = sum(len(x) for d in datas for x in d.features["input_ids"])
    eval_all_languages(model, datas[:1], batch_size=args.eval_batch, accelerator=acc, pad_id=1)  # warm-up
    reset_peak(device)
    for mode in ("one-pass", "per-language"):
        device_sync(device)
        t0 = time.perf_counter()
        if mode == "one-pass":
            outs = eval_all_languages(model, datas, batch_size=args.eval_batch, accelerator=acc, pad_id=1,
                                      max_tokens=args.eval_max_tokens)
        else:
            outs = [predict(model, d, batch_size=args.eval_batch, accelerator=acc, pad_id=1,
                            max_tokens=args.eval_max_tokens) for d in datas]
        device_sync(device)
        sec = time.perf_counter() - t0
        assert sum(map(len, outs)) == 15 * per_lang
        emit({"bench": "eval", "mode": mode, "model": size, "device": args.device_name, "languages": 15,
              "examples": 15 * per_lang, "batch": args.eval_batch, "max_tokens": args.eval_max_tokens,
              "seconds": round(sec, 3), "examples_per_s": round(15 * per_lang / sec, 1),
              "model_tflops": sig(2 * n_params * real / sec / 1e12),
              "mfu": sig(2 * n_params * real / sec / 1e12 / args.peak_tflops),
              "peak_mem_gib": round(peak_gib(device), 3)})


def _worker_cmd(args, index: int, n: int, barrier: str) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--device", args.device, "--batch",
           str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup), "--barrier", barrier,
           "--index", str(index), "--n-workers", str(n), "--worker-config", args.worker_config]
    return cmd + (["--tiny"] if args.tiny else []) + (["--no-bf16"] if not args.bf16 else []) + \
        (["--attn", args.attn] if args.attn else [])


def run_workers(args, n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="xstilts-bench-") as barrier:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
        if args.device == "cpu":
            env["OMP_NUM_THREADS"] = "1"
        procs = [subprocess.Popen(_worker_cmd(args, i, n, barrier), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for i in range(n)]
        recs = []
        for p in procs:
            out, err = p.communicate()
            lines = [x for x in out.splitlines() if x.startswith("{")]
            if p.returncode != 0 or not lines:
                raise RuntimeError(f"worker failed ({p.returncode}): {err[-1500:]}")
            recs.append(json.loads(lines[-1]))
    span = max(r["t1"] for r in recs) - min(r["t0"] for r in recs)
    examples = sum(r["examples_per_s"] * (r["t1"] - r["t0"]) for r in recs)
    return {"runs": n, "aggregate_examples_per_s": round(examples / span, 2),
            "per_run_examples_per_s": [r["examples_per_s"] for r in recs],
            "peak_mem_gib_per_run": [r["peak_mem_gib"] for r in recs]}


def section_concurrent(args) -> None:
    mps = bool(os.environ.get("CUDA_MPS_PIPE_DIRECTORY")) or Path("/tmp/nvidia-mps").exists()
    one = run_workers(args, 1)
    many = run_workers(args, args.concurrent)
    emit({"bench": "concurrent", "model": "tiny" if args.tiny else "base", "batch": args.batch,
          "device": args.device_name, "config": args.worker_config, "mps_detected": mps, "one": one, "many": many,
          "aggregate_ratio": round(many["aggregate_examples_per_s"] / one["aggregate_examples_per_s"], 3)})


def section_sweep(args) -> None:
    size = "tiny" if args.tiny else "large"
    best = None
    for batch in args.sweep:
        data = synthetic_pairs(batch * (args.warmup + args.steps), VOCAB[size], seed=2)
        try:
            rec = run_xstilts(size, batch, CONFIGS[args.sweep_config], args, data, name=args.sweep_config)
        except torch.cuda.OutOfMemoryError as e:
            emit({"bench": "sweep", "model": size, "batch": batch, "error": f"out of memory: {e}"[:300]})
            break
        rec["bench"] = "sweep"
        emit(rec)
        if best is None or rec["mfu"] > best["mfu"]:
            best = rec
        if device_type(args) == "cuda":
            torch.cuda.empty_cache()
    if best:
        emit({"bench": "sweep-best", "model": size, "config": args.sweep_config, "batch": best["batch"],
              "mfu": best["mfu"], "examples_per_s": best["examples_per_s"]})


def section_profile(args) -> None:
    """torch.profiler over the measured steps of one xstilts run (``--profile-config``, first model): a Chrome trace
    (``trace.json``, open in Perfetto / chrome://tracing) and a table of the operators with the most self time
    (``summary.txt``), plus the step's labelled regions (collate, wait_for_batches, forward, backward, optimizer)."""
    from torch.profiler import ProfilerActivity, profile, schedule

    from xstilts.train import batching as training  # where the step's profiler regions are switched on

    gpu = device_type(args) == "cuda"
    size = args.models[0]
    out = Path(args.profile_dir or ROOT / "runs" / "profiles" / time.strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    active = min(args.steps, args.profile_steps)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    data = synthetic_pairs(args.batch * (args.warmup + args.steps), VOCAB[size], seed=4)
    training.PROFILE_REGIONS = True
    try:
        with profile(activities=acts, schedule=schedule(wait=max(0, args.warmup - 1), warmup=1, active=active,
                                                        repeat=1), record_shapes=False, with_stack=False) as prof:
            rec = run_xstilts(size, args.batch, CONFIGS[args.profile_config], args, data, name=args.profile_config,
                              on_step=lambda step: prof.step())
    finally:
        training.PROFILE_REGIONS = False
    prof.export_chrome_trace(str(out / "trace.json"))
    key = "self_device_time_total" if gpu else "self_cpu_time_total"
    averages = prof.key_averages()
    (out / "summary.txt").write_text(averages.table(sort_by=key, row_limit=40) + "\n")
    attr = "self_device_time_total" if gpu else "self_cpu_time_total"

    def ms(e, name):
        return round(getattr(e, name, 0.0) / 1000 / active, 3)

    top = sorted(averages, key=lambda e: -getattr(e, attr, 0.0))[:12]
    regions = {e.key.removeprefix("xstilts."): {"cpu_ms_per_step": ms(e, "cpu_time_total"),
                                                "device_ms_per_step": ms(e, "device_time_total")}
               for e in averages if e.key.startswith("xstilts.")}
    emit({"bench": "profile", "model": size, "config": args.profile_config, "batch": args.batch,
          "device": args.device_name, "profiled_steps": active, "examples_per_s": rec["examples_per_s"],
          "trace": str(out / "trace.json"), "summary": str(out / "summary.txt"), "regions": regions,
          "top_ops": [{"op": e.key, "self_ms_per_step": ms(e, attr), "calls_per_step": round(e.count / active, 1)}
                      for e in top]})


def device_type(args) -> str:
    return torch.device(args.device).type


def worker(args) -> None:
    """One run of the ``concurrent`` section: wait until every worker has warmed up, then measure."""
    size = "tiny" if args.tiny else "base"
    if args.device == "cpu":
        torch.set_num_threads(1)
    data = synthetic_pairs(args.batch * (args.warmup + args.steps), VOCAB[size], seed=3 + args.index)

    def barrier():
        Path(args.barrier, f"ready-{args.index}").touch()
        deadline = time.time() + 1800
        while len(list(Path(args.barrier).glob("ready-*"))) < args.n_workers and time.time() < deadline:
            time.sleep(0.01)

    rec = run_xstilts(size, args.batch, CONFIGS[args.worker_config], args, data, name=args.worker_config,
                      on_measure_start=barrier)
    # wall-clock times for the aggregate over workers (perf_counter is per process)
    shift = time.time() - time.perf_counter()
    rec["t0"], rec["t1"] = rec["t0"] + shift, rec["t1"] + shift
    emit(rec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (2 layers, hidden 64, vocab 1000), few steps")
    ap.add_argument("--sections", default="train,eval,concurrent,sweep")
    ap.add_argument("--models", default=None, help="base,large (default; tiny with --tiny)")
    ap.add_argument("--configs", default=None,
                    help=f"trainers to compare: {', '.join(list(CONFIGS) + ['hf', 'hf-longest'])}")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=None, help="measured steps (default 40; --tiny 8)")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured first steps (default 20; --tiny 3)")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="fp32 on CUDA (bf16 autocast is default)")
    ap.add_argument("--peak-tflops", type=float, default=H100_BF16_TFLOPS)
    ap.add_argument("--eval-examples", type=int, default=None, help="per language (default 5010; --tiny 200)")
    ap.add_argument("--eval-batch", type=int, default=512)
    ap.add_argument("--eval-max-tokens", type=int, default=None, help="token budget per evaluation batch")
    ap.add_argument("--concurrent", type=int, default=8)
    ap.add_argument("--worker-config", default=None, help="xstilts configuration of the concurrent runs")
    ap.add_argument("--sweep", default=None, help="batch sizes (default 32,64,128,256,512; --tiny 32,64,128)")
    ap.add_argument("--sweep-config", default=None)
    ap.add_argument("--attn", default=None, help="attention implementation of the xstilts model (sdpa, eager, "
                                                 "flash_attention_2); default: transformers' choice (sdpa)")
    ap.add_argument("--profile", action="store_true", help="also profile one xstilts run (torch.profiler): Chrome "
                                                           "trace and operator table under --profile-dir")
    ap.add_argument("--profile-config", default=None, help="xstilts configuration to profile (default: the fast one)")
    ap.add_argument("--profile-dir", default=None, help="default runs/profiles/<date-time> (git-ignored)")
    ap.add_argument("--profile-steps", type=int, default=5, help="steps recorded (after the warm-up)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default on CPU: every core, as "
                                                                 "a training run uses them)")
    # internal: one run of the concurrent section
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--barrier", help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--n-workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()

    gpu = torch.device(args.device).type == "cuda"
    args.bf16 = args.bf16 and gpu
    # CPU: few, long steps (XLM-R base at batch 32 runs a few examples per second on 2 cores)
    args.steps = args.steps or (8 if args.tiny else 40 if gpu else 12)
    args.warmup = args.warmup or (3 if args.tiny else 20 if gpu else 3)
    args.models = (args.models or ("tiny" if args.tiny else "base,large")).split(",")
    args.configs = (args.configs or ",".join(GPU_CONFIGS if gpu else CPU_CONFIGS)).split(",")
    args.eval_examples = args.eval_examples or (200 if args.tiny else 5010)
    args.sweep = [int(x) for x in (args.sweep or ("32,64,128" if args.tiny else "32,64,128,256,512")).split(",")]
    fast = "xstilts-cudagraphs" if gpu else "xstilts-buckets"
    args.sweep_config = args.sweep_config or fast
    args.worker_config = args.worker_config or fast
    args.profile_config = args.profile_config or fast
    if args.profile and "profile" not in args.sections.split(","):
        args.sections += ",profile"
    args.device_name = torch.cuda.get_device_name(torch.device(args.device)) if gpu else f"cpu ({os.cpu_count()} cores)"
    if args.threads or not gpu:
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.worker:
        return worker(args)
    import transformers

    emit({"bench": "setup", "device": args.device_name, "torch": torch.__version__,
          "transformers": transformers.__version__, "bf16": args.bf16, "batch": args.batch, "steps": args.steps,
          "warmup": args.warmup, "peak_tflops": args.peak_tflops, "torch_threads": torch.get_num_threads(),
          "mean_length": round(sum(xnli_lengths(20000, 1)) / 20000, 2)})
    sections = {"train": section_train, "eval": section_eval, "concurrent": section_concurrent,
                "sweep": section_sweep, "profile": section_profile}
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        sections[name](args)
        emit({"bench": "section-done", "section": name, "seconds": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()
