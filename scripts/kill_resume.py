#!/usr/bin/env python3
"""Kill an xstilts run with SIGKILL at random moments, resume it, and check the result is identical.

A tiny random encoder and small official-format files are written to a temporary folder; a reference run goes
uninterrupted; then each trial starts the same run in a fresh output folder, kills it (SIGKILL) after a random
delay, runs it again to completion, and compares every phase's metrics (per-language dev and test scores, the loss
curve and the model-selection record: scores every 10 steps, selected step, early stop) with the reference. Prints ``N/N identical`` and exits non-zero if any trial differs.

The kill moments are drawn by *progress*, not by clock (which other load on the machine would skew): the reference
run's progress events (every training checkpoint written, every phase finished) are counted, and each trial is
killed a random 0-50 ms after a uniformly drawn event, so kills land throughout intermediate training, between
phases, in target training and in evaluation. Each trial prints what the kill left behind (finished phases, the
partial phase and its newest checkpoint step) before resuming.

    python scripts/kill_resume.py            # 20 trials
    python scripts/kill_resume.py --trials 3 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def build(work: Path) -> Path:
    from fixtures import make_tiny_model, write_pawsx

    make_tiny_model(work / "model")
    pawsx = write_pawsx(work / "pawsx", langs=("en", "de"), n_train=320, n_test=40)
    kjv = work / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    cfg = work / "exp.yaml"
    cfg.write_text(f"""\
name: kr
output_dir: OUT
with_baseline: false
num_threads: 1
model: {{name_or_path: {work / 'model'}, max_length: 32}}
intermediate:
  tasks: [{{task: kjv-web-paraphrase, data_dir: {kjv}, max_eval_examples: 40}}]
  epochs: 2
  lr: 1.0e-3
  batch_size: 8
  checkpoint_every: 1
  eval_every: 10        # model selection on English dev every 10 steps, early stop after 3 without improvement
  patience: 3
target:
  tasks: [{{task: pawsx, data_dir: {pawsx}, languages: [en, de]}}]
  epochs: 2
  lr: 1.0e-3
  batch_size: 8
  checkpoint_every: 1
  eval_every: 10
  patience: 3
""")
    return cfg


def _events(out: Path, seen: set) -> set:
    """Add the progress events visible in *out* to *seen*: every training checkpoint (phase, step) and every
    finished phase (its metrics.json). Folder renames (``.x.partial`` -> ``x``) do not create new events."""
    phases = out / "phases"
    for root, dirs, files in os.walk(phases, onerror=lambda e: None):  # the run renames and deletes as we look
        rel = Path(root).relative_to(phases).parts
        if not rel:
            continue
        phase = rel[0].lstrip(".").removesuffix(".partial")
        if len(rel) == 1 and "metrics.json" in files:
            seen.add((phase, "metrics"))
        seen.update((phase, d) for d in dirs if d.startswith("step-") and not d.endswith(".partial"))
    return seen


def run(cfg: Path, out: Path, env: dict, kill_at: int | None = None, jitter: float = 0.0) -> tuple[int, float, int]:
    """Run ``xstilts run``. With *kill_at*, SIGKILL it *jitter* s after the *kill_at*-th progress event (see
    :func:`_events`). Returns (exit code, seconds, number of progress events seen)."""
    cmd = [sys.executable, "-m", "xstilts", "run", str(cfg), "--set", f"output_dir={out}"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: set = set()
    while proc.poll() is None:
        _events(out, seen)
        if kill_at is not None and len(seen) >= kill_at:
            time.sleep(jitter)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return -9, time.time() - t0, len(seen)
        time.sleep(0.01)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {err[-2000:]}")
    return proc.returncode, time.time() - t0, len(_events(out, seen))


def left_behind(out: Path) -> str:
    """What a killed run left: finished phases and the partial one with its newest checkpoint step."""
    phases = out / "phases"
    if not phases.is_dir():
        return "nothing yet"
    done = [p.name.split("-")[0] for p in sorted(phases.iterdir()) if (p / "metrics.json").is_file()]
    parts = []
    for p in sorted(phases.glob(".*.partial")):
        steps = sorted(int(c.name.split("-")[1]) for c in p.rglob("step-*")
                       if c.is_dir() and not c.name.endswith(".partial") and c.name.split("-")[1].isdigit())
        parts.append(f"{p.name[1:].split('-')[0]} partial, newest checkpoint step {steps[-1] if steps else 'none'}")
    return ", ".join([f"{len(done)} phase(s) done"] + parts)


def results(out: Path) -> dict:
    res = {}
    for m in sorted((out / "phases").glob("*/metrics.json")):
        d = json.loads(m.read_text())
        res[m.parent.name] = {"dev": d.get("dev"), "languages": d.get("languages"), "splits": d.get("splits"),
                              "selection": d.get("selection"),
                              "loss_curve": (d.get("train") or {}).get("loss_curve")}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="xstilts-kill-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, XSTILTS_CACHE=str(work / "cache"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        cfg = build(work)
        _, ref_time, n_events = run(cfg, work / "ref", env)
        ref = results(work / "ref")
        print(f"reference run: {ref_time:.1f} s, {n_events} progress events (checkpoints + finished phases), "
              f"phases: {', '.join(ref)}", flush=True)
        same = 0
        for i in range(args.trials):
            out = work / f"trial{i}"
            kill_at, jitter = rng.randint(1, n_events), rng.uniform(0.0, 0.05)
            code, secs, _ = run(cfg, out, env, kill_at=kill_at, jitter=jitter)
            state = (f"killed after event {kill_at:3d}/{n_events} + {jitter * 1000:2.0f} ms ({secs:4.1f} s): "
                     f"{left_behind(out)}") if code == -9 else f"finished before the kill (event {kill_at})"
            run(cfg, out, env)
            ok = results(out) == ref
            same += ok
            print(f"trial {i + 1:2d}: {state} -> {'identical' if ok else 'DIFFERENT'}", flush=True)
        print(f"{same}/{args.trials} identical")
        return 0 if same == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
