#!/usr/bin/env python
"""Run every task's example config end to end on the CPU (issue 3): one config per task in configs/tasks/.

Writes the tiny random encoder (examples/tiny-model) and the small official-format data folders (examples/data/<task>),
then runs ``python -m xstilts run configs/tasks/<task>.yaml --set output_dir=<runs>/<task>`` for each config (``eval``
for a config that only evaluates retrieval tasks), each in its own subprocess so that one failure does not stop the
rest, and prints a table: task, status, headline score (from the phase metrics.json files), seconds. Exit status 1
if any config failed.

    .venv/bin/python scripts/run_task_examples.py                  # every config
    .venv/bin/python scripts/run_task_examples.py xquad panx -j 2  # some, two at a time
    .venv/bin/python scripts/run_task_examples.py --runs /tmp/runs --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "tasks"


def command(config: Path) -> str:
    """``eval`` for a config with no intermediate tasks and only untrainable (retrieval) target tasks, else ``run``."""
    from xstilts.config import load_config
    from xstilts.tasks import get_task

    cfg = load_config(config)
    if not cfg.intermediate.tasks and cfg.target.tasks and not any(get_task(s.task).trainable
                                                                   for s in cfg.target.tasks):
        return "eval"
    return "run"


def headline(config: Path, out: Path) -> str:
    """The config's own task's score, read from the metrics.json of the phases under ``<out>/phases``: a target task
    by its average over languages, an intermediate-only task by its English dev score."""
    from xstilts.config import load_config
    from xstilts.tasks import get_task

    cfg = load_config(config)
    task = get_task(config.stem).name
    phases = out / "phases"
    for spec in cfg.target.tasks:
        if get_task(spec.task).name == task:
            for kind in ("target", "eval"):
                for m in sorted(phases.glob(f"{kind}-{spec.label}-*/metrics.json")):
                    d = json.loads(m.read_text(encoding="utf-8"))
                    return f"{d['metric']} {d['average']:.1f} ({len(d['languages'])} langs)"
    for spec in cfg.intermediate.tasks:
        if get_task(spec.task).name == task:
            for m in sorted(phases.glob("intermediate-*/metrics.json")):
                d = json.loads(m.read_text(encoding="utf-8"))
                per_lang = (d.get("dev") or {}).get(spec.label) or {}
                for lang, scores in per_lang.items():
                    metric = get_task(spec.task).metric
                    if metric in scores:
                        return f"{metric} {scores[metric]:.1f} ({lang} dev)"
                return "trained (no dev score)"
    return "?"


def run_one(config: Path, runs: Path, timeout: float) -> dict:
    out = runs / config.stem
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    cmd = [sys.executable, "-m", "xstilts", command(config), str(config.relative_to(ROOT)),
           "--set", f"output_dir={out}"]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        rc, log = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        rc, log = -1, f"timed out after {timeout:.0f} s\n{e.stdout or ''}{e.stderr or ''}"
    secs = time.monotonic() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.txt").write_text(log if isinstance(log, str) else str(log), encoding="utf-8")
    row = {"task": config.stem, "status": "ok" if rc == 0 else f"FAILED ({rc})", "score": "", "seconds": secs}
    if rc == 0:
        try:
            row["score"] = headline(config, out)
        except Exception as e:  # noqa: BLE001 - the table still gets a row
            row["score"] = f"? ({type(e).__name__}: {e})"
    else:
        last = [line for line in log.strip().splitlines() if line.strip()][-1:] or [""]
        row["score"] = last[0][:100]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tasks", nargs="*", help="config names (default: every configs/tasks/*.yaml)")
    ap.add_argument("--runs", type=Path, default=ROOT / "examples" / "runs", help="output_dir root (one per task)")
    ap.add_argument("--examples", type=Path, default=ROOT / "examples", help="where data/ and tiny-model/ go")
    ap.add_argument("--no-write", action="store_true", help="reuse the example data and model already written")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="configs run at the same time")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per config")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT / "src"))
    if not args.no_write:
        from xstilts.provision.examples import write_examples, write_tiny_model

        write_examples(args.examples / "data")
        write_tiny_model(args.examples / "tiny-model")
        print(f"wrote {args.examples}/data and {args.examples}/tiny-model", flush=True)
    configs = sorted(CONFIGS.glob("*.yaml"))
    if args.tasks:
        configs = [CONFIGS / f"{t}.yaml" for t in args.tasks]
    runs = args.runs.resolve()
    runs.mkdir(parents=True, exist_ok=True)

    rows = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for row in pool.map(lambda c: run_one(c, runs, args.timeout), configs):
            print(f"  {row['task']:<26} {row['status']:<12} {row['seconds']:6.1f} s  {row['score']}", flush=True)
            rows.append(row)

    w = max(len("task"), *(len(r["task"]) for r in rows))
    print()
    print(f"| {'task':<{w}} | status | headline score | seconds |")
    print(f"|{'-' * (w + 2)}|---|---|---:|")
    for r in rows:
        print(f"| {r['task']:<{w}} | {r['status']} | {r['score']} | {r['seconds']:.1f} |")
    failed = [r["task"] for r in rows if r["status"] != "ok"]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    print(f"logs: {runs}/<task>/log.txt")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
