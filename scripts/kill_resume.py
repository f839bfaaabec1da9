#!/usr/bin/env python3
"""Kill an xstilts run with SIGKILL at random moments, resume it, and check the result is identical.

A tiny random encoder and small official-format files are written to a temporary folder; a reference run goes
uninterrupted; then each trial starts the same run in a fresh output folder, kills it (SIGKILL) after a random
delay, runs it again to completion, and compares every phase's metrics (per-language scores and the loss curve)
with the reference. Prints ``N/N identical`` and exits non-zero if any trial differs.

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
    pawsx = write_pawsx(work / "pawsx", langs=("en", "de"), n_train=160, n_test=40)
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
target:
  tasks: [{{task: pawsx, data_dir: {pawsx}, languages: [en, de]}}]
  epochs: 2
  lr: 1.0e-3
  batch_size: 8
  checkpoint_every: 1
""")
    return cfg


def run(cfg: Path, out: Path, env: dict, kill_after: float | None = None) -> tuple[int, float]:
    cmd = [sys.executable, "-m", "xstilts", "run", str(cfg), "--set", f"output_dir={out}"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return -9, time.time() - t0
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {err[-2000:]}")
    return proc.returncode, time.time() - t0


def results(out: Path) -> dict:
    res = {}
    for m in sorted((out / "phases").glob("*/metrics.json")):
        d = json.loads(m.read_text())
        res[m.parent.name] = {"dev": d.get("dev"), "languages": d.get("languages"),
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
        _, ref_time = run(cfg, work / "ref", env)
        ref = results(work / "ref")
        print(f"reference run: {ref_time:.1f} s, phases: {', '.join(ref)}", flush=True)
        same = 0
        for i in range(args.trials):
            out = work / f"trial{i}"
            delay = rng.uniform(1.0, ref_time)
            code, _ = run(cfg, out, env, kill_after=delay)
            state = "killed" if code == -9 else "finished before the kill"
            partial = [p.name for p in (out / "phases").glob(".*")] if (out / "phases").is_dir() else []
            run(cfg, out, env)
            ok = results(out) == ref
            same += ok
            print(f"trial {i + 1:2d}: {state} at {delay:5.1f} s ({len(partial)} partial phase folder(s)) -> "
                  f"{'identical' if ok else 'DIFFERENT'}", flush=True)
        print(f"{same}/{args.trials} identical")
        return 0 if same == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
