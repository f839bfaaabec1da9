#!/usr/bin/env python
"""Score the recorded random submissions with the real XTREME ``evaluate.py`` and with ``xstilts official-eval``; compare.

    python scripts/check_official_eval.py --xtreme PATH/TO/google-research/xtreme [--squad-v2 evaluate-v2.0.py]
        [--retrieval] [--write-golden FILE] [--runs FOLDER...]

PATH is a checkout of google-research/xtreme (``evaluate.py`` with ``--xtreme_version``, commit da430dd or later, and
its ``third_party/evaluate_squad.py``, ``evaluate_mlqa.py``, ``utils_mewslix.py``); seqeval must be importable by this
Python. Each case of :data:`xstilts.xtreme.submissions.CASES` is written to a temporary folder and scored by

* the official command line, run as a subprocess in PATH: ``python evaluate.py --prediction_folder P --label_folder L
  --xtreme_version V --output_file OUT`` (``PYTHONHASHSEED=0``, UTF-8 mode), and
* :func:`xstilts.xtreme.official.evaluate`,

and every number of the official ``--output_file`` must equal ours to 1e-9. With ``--squad-v2`` (the official SQuAD
v2.0 ``evaluate-v2.0.py``), random SQuAD v2.0 dev files with unanswerable questions are also scored by it (``-o``)
and by :func:`xstilts.metrics.qa.squad_v2_scores`. Where the official script fails, the
exit status and its last stderr line are shown. ``--write-golden`` records the official outputs (numbers only, no
code), the official task and group tables, the input digests and the seqeval version, which is what
``tests/test_official_eval.py`` checks against.

``--retrieval`` (needs faiss, e.g. ``pip install faiss-cpu``) also checks LAReQA's mAP@20 (``utils_lareqa``'s
``average_precision_at_k`` over ``mean_avg_prec_at_k``'s ranking) against :func:`xstilts.metrics.ranking.rank_by_cosine`
and :func:`~xstilts.metrics.ranking.mean_avg_prec_at_k`, and the embedding-level procedures on seeded random
embeddings (:func:`xstilts.xtreme.submissions.retrieval_case`) against the checkout's
``third_party/utils_retrieve.py``: Tatoeba ``similarity_search`` predictions against
:func:`xstilts.metrics.tatoeba_accuracy`, and BUCC ``mine_bitext`` + ``bucc_eval`` (candidates with their margin
scores, the F1-optimal threshold, precision, recall, F1) against :func:`xstilts.tasks.families.retrieval.bucc_candidates`,
:func:`xstilts.metrics.bucc_optimize` and :func:`xstilts.metrics.bucc_scores`.

``--runs`` also checks what xstilts reported in real runs: under each FOLDER, every phase's predictions
(``<phase>/predictions/<task>/test-<lang>.<ext>``) are scored against the gold labels the phase wrote beside them
(``<phase>/labels/...``) with the official ``evaluate_one_task`` of the checkout, and every official number must equal
the phase's ``metrics.json`` to 1e-9.

Exit status: 0 when everything agrees, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path


def official_module(xtreme: Path):
    """The checkout's ``evaluate.py`` as a module (its ``third_party`` imports resolved from the checkout)."""
    sys.path.insert(0, str(xtreme))
    try:
        spec = importlib.util.spec_from_file_location("xtreme_official_evaluate", xtreme / "evaluate.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(xtreme))
    return mod


def official_tables(xtreme: Path) -> dict:
    mod = official_module(xtreme)
    return {v: {"task2langs": mod.XTREME_VERSIONS_LANG_DICT[v], "group2task": mod.XTREME_VERSIONS_GROUP_DICT[v]}
            for v in ("xtreme", "xtreme-r")}


def run_official(xtreme: Path, pred: Path, label: Path, version: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONUTF8": "1"}
    p = subprocess.run([sys.executable, "evaluate.py", "--prediction_folder", str(pred), "--label_folder", str(label),
                        "--xtreme_version", version, "--output_file", str(out)],
                       cwd=xtreme, env=env, capture_output=True, text=True)
    err = [x for x in p.stderr.strip().splitlines() if x.strip()]
    return {"returncode": p.returncode, "error": err[-1] if p.returncode and err else None,
            "output": json.loads(out.read_text(encoding="utf-8")) if out.exists() else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--xtreme", type=Path, required=True, help="google-research/xtreme checkout")
    ap.add_argument("--squad-v2", type=Path, help="the official SQuAD v2.0 evaluate-v2.0.py")
    ap.add_argument("--retrieval", action="store_true", help="also check Tatoeba and BUCC against utils_retrieve.py")
    ap.add_argument("--runs", type=Path, nargs="*", default=[], help="run or output folders to re-score")
    ap.add_argument("--write-golden", type=Path, help="record the official outputs here (JSON)")
    args = ap.parse_args()
    xtreme = args.xtreme.resolve()
    if not (xtreme / "evaluate.py").is_file():
        ap.error(f"{xtreme}/evaluate.py: not found (expected a google-research/xtreme checkout)")

    import seqeval

    from xstilts.errors import XstiltsError
    from xstilts.xtreme.official import evaluate, official_json
    from xstilts.xtreme.submissions import CASES, build_case, compare, digest

    golden = {"about": "Outputs of google-research/xtreme evaluate.py on xstilts.xtreme.submissions.CASES; "
                       "written by scripts/check_official_eval.py",
              "seqeval": seqeval.__version__ if hasattr(seqeval, "__version__") else _dist_version("seqeval"),
              "python": platform.python_version(), "tables": official_tables(xtreme), "cases": {}}
    bad = 0
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in CASES.items():
            root = Path(tmp) / name
            pred, label = build_case(root, name)
            off = run_official(xtreme, pred, label, case["version"], root / "official.json")
            rec = {"digest": digest(pred, label), **off}
            golden["cases"][name] = rec
            try:
                ours = official_json(evaluate(pred, label, case["version"]))
                ours_err = None
            except XstiltsError as e:
                ours, ours_err = None, str(e)
            if off["output"] is None:
                print(f"{name:24s} official: exit {off['returncode']}, no output ({off['error']}); "
                      f"ours: {'error: ' + ours_err if ours_err else 'scored'}")
                continue
            if ours is None:
                print(f"{name:24s} official scored it; ours failed: {ours_err}")
                bad += 1
                continue
            n, worst, problems = compare(ours, off["output"])
            total += n
            status = "equal" if not problems else f"{len(problems)} DIFFERENCES"
            tail = f" (official exit {off['returncode']}: {off['error']})" if off["returncode"] else ""
            print(f"{name:24s} {n:4d} numbers, max |diff| {worst:.3g}: {status}{tail}")
            for p in problems[:20]:
                print("    " + p)
            bad += bool(problems)
        if args.squad_v2:
            from xstilts.metrics.qa import squad_v2_scores
            from xstilts.xtreme.submissions import SQUAD_V2_KEYS, SQUAD_V2_SEEDS, squad_v2_lists, write_squad_v2

            golden["squad_v2"] = {}
            for seed in SQUAD_V2_SEEDS:
                root = Path(tmp) / f"squad_v2-{seed}"
                data_file, pred_file = write_squad_v2(root, seed)
                out = Path(tmp) / f"squad_v2-{seed}-eval.json"
                p = subprocess.run([sys.executable, str(args.squad_v2.resolve()), str(data_file), str(pred_file),
                                    "-o", str(out)], capture_output=True, text=True,
                                   env={**os.environ, "PYTHONUTF8": "1"})
                if p.returncode:
                    print(f"squad_v2 seed {seed}: official exit {p.returncode}: {p.stderr.strip()[-300:]}")
                    bad += 1
                    continue
                off = json.loads(out.read_text(encoding="utf-8"))
                golden["squad_v2"][str(seed)] = {"digest": digest(root), "output": off}
                preds, golds = squad_v2_lists(data_file, pred_file)
                ours = {**squad_v2_scores(preds, golds), "total": len(golds)}
                problems, worst = [], 0.0
                for k, v in off.items():
                    mine = ours[SQUAD_V2_KEYS[k] or "total"]
                    worst = max(worst, abs(mine - v))
                    if abs(mine - v) > 1e-9:
                        problems.append(f"{k}: ours {mine!r}, official {v!r}")
                total += len(off)
                print(f"{'squad_v2-' + str(seed):24s} {len(off):4d} numbers, max |diff| {worst:.3g}: "
                      f"{'equal' if not problems else problems}")
                bad += bool(problems)
        if args.retrieval:
            n, b, golden["retrieval"] = check_retrieval(xtreme, Path(tmp))
            total += n
            bad += b
    for folder in args.runs:
        n, b = check_runs(xtreme, folder)
        total += n
        bad += b
    print(f"{total} numbers compared over {len(CASES) + len(golden.get('squad_v2', {}))} cases; {'all equal' if not bad else f'{bad} cases differ'} "
          f"(seqeval {golden['seqeval']}, Python {golden['python']})")
    if args.write_golden:
        args.write_golden.parent.mkdir(parents=True, exist_ok=True)
        args.write_golden.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.write_golden}")
    return 1 if bad else 0


def check_retrieval(xtreme: Path, tmp: Path) -> tuple[int, int, dict]:
    """Tatoeba and BUCC from embeddings: XTREME's utils_retrieve.py vs xstilts; returns (numbers, failures, record)."""
    import numpy as np
    import torch

    from xstilts.metrics import bucc_optimize, bucc_scores, tatoeba_accuracy
    from xstilts.metrics.ranking import mean_avg_prec_at_k, rank_by_cosine
    from xstilts.xtreme.submissions import RETRIEVAL_SEEDS, lareqa_case, retrieval_case
    from xstilts.tasks.families.retrieval import ParallelData, bucc_candidates

    sys.path.insert(0, str(xtreme / "third_party"))
    try:
        import utils_retrieve as ur
        try:
            import utils_lareqa as lareqa  # needs scikit-learn for its other functions
        except ImportError:
            import utils_lareqa_scoring as lareqa
    finally:
        sys.path.remove(str(xtreme / "third_party"))
    record, n, bad = {}, 0, 0
    for seed in RETRIEVAL_SEEDS:
        c = retrieval_case(seed)
        d = c["tatoeba_src"].shape[1]
        with contextlib.redirect_stdout(io.StringIO()):
            pred = ur.similarity_search(c["tatoeba_src"].copy(), c["tatoeba_tgt"].copy(), d, normalize=True)
        off_pred = [int(p) for p in pred[:, 0]]
        off_acc = 100.0 * sum(p == i for i, p in enumerate(off_pred)) / len(off_pred)
        acc, ours_pred = tatoeba_accuracy(torch.from_numpy(c["tatoeba_src"]), torch.from_numpy(c["tatoeba_tgt"]))
        n += len(off_pred) + 1
        problems = [] if ours_pred == off_pred and abs(acc - off_acc) <= 1e-9 else [
            f"tatoeba: ours {acc} {ours_pred}, official {off_acc} {off_pred}"]
        # BUCC: the files run_retrieval.py gives mine_bitext and bucc_eval
        root = tmp / f"bucc-{seed}"
        root.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, lines in (("src.txt", c["src_texts"]), ("src.id", c["src_ids"]), ("tgt.txt", c["tgt_texts"]),
                            ("tgt.id", c["tgt_ids"]), ("gold", [f"{a}\t{b}" for a, b in c["gold"]])):
            files[name] = root / name
            files[name].write_text("".join(x + "\n" for x in lines), encoding="utf-8")
        cand_file = root / "candidates.tsv"
        with contextlib.redirect_stdout(io.StringIO()):
            ur.mine_bitext(c["bucc_src"].copy(), c["bucc_tgt"].copy(), str(files["src.txt"]), str(files["tgt.txt"]),
                           str(cand_file))
            off = ur.bucc_eval(str(cand_file), str(files["gold"]), str(files["src.txt"]), str(files["tgt.txt"]),
                               str(files["src.id"]), str(files["tgt.id"]), str(root / "pred.tsv"))
            off_c = ur.read_candidate2score(str(cand_file), str(files["src.txt"]), str(files["tgt.txt"]),
                                            str(files["src.id"]), str(files["tgt.id"]))
        data = ParallelData(c["src_ids"], c["src_texts"], c["tgt_ids"], c["tgt_texts"], c["gold"])
        ours_c = bucc_candidates(data, torch.from_numpy(c["bucc_src"]), torch.from_numpy(c["bucc_tgt"]), k=4)
        thr = bucc_optimize(ours_c, c["gold"])
        s = bucc_scores(ours_c, c["gold"], thr)
        if set(ours_c) != set(off_c):
            problems.append(f"bucc candidates: only ours {sorted(set(ours_c) - set(off_c))[:5]}, only official "
                            f"{sorted(set(off_c) - set(ours_c))[:5]}")
        worst = max((abs(ours_c[k] - v) for k, v in off_c.items() if k in ours_c), default=0.0)
        if worst > 1e-5:
            problems.append(f"bucc candidate scores differ by up to {worst:.3g}")
        if abs(thr - off["best-threshold"]) > 1e-5:
            problems.append(f"bucc threshold: ours {thr!r}, official {off['best-threshold']!r}")
        for ours_k, off_k in (("precision", "precision"), ("recall", "recall"), ("f1", "F1")):
            if abs(s[ours_k] - off[off_k]) > 1e-9:
                problems.append(f"bucc {ours_k}: ours {s[ours_k]!r}, official {off[off_k]!r}")
        n += len(off_c) + 4
        print(f"{'retrieval-' + str(seed):24s} Tatoeba {len(off_pred)} predictions (acc {off_acc:.2f}), BUCC "
              f"{len(off_c)} candidates (max score diff {worst:.2g}), F1 {off['F1']:.2f}: "
              f"{'equal' if not problems else problems}")
        bad += bool(problems)
        record[str(seed)] = {"tatoeba_predictions": off_pred, "tatoeba_accuracy": off_acc,
                             "bucc_candidates": sorted([a, b, v] for (a, b), v in off_c.items()), "bucc": off}
        # LAReQA: mean_avg_prec_at_k's ranking (dot product, argsort()[::-1]) and average_precision_at_k
        lq = lareqa_case(seed)
        scores = lq["questions"].dot(lq["candidates"].T)
        off_ap = [lareqa.average_precision_at_k(np.array(r), scores[i].argsort()[::-1], 20)
                  for i, r in enumerate(lq["relevant"])]
        off_map = 100.0 * float(np.mean(off_ap))
        _, idx = rank_by_cosine(torch.from_numpy(lq["questions"]), torch.from_numpy(lq["candidates"]), 20,
                                device="cpu")
        ours_map = mean_avg_prec_at_k(lq["relevant"], idx.tolist(), 20)
        n += 1
        ok = abs(ours_map - off_map) <= 1e-9
        print(f"{'lareqa-' + str(seed):24s} mAP@20 over {len(off_ap)} questions: official {off_map:.4f}, ours "
              f"{ours_map:.4f}: {'equal' if ok else 'DIFFERENT'}")
        bad += not ok
        record[str(seed)]["lareqa_map20"] = off_map
    return n, bad, record


def check_runs(xtreme: Path, folder: Path) -> tuple[int, int]:
    """Re-score every phase under *folder* with the official ``evaluate_one_task``; returns (numbers, failures)."""
    from xstilts.xtreme.benchmark import BENCHMARKS
    from xstilts.xtreme.official import reported_metric

    mod = official_module(xtreme)
    official_folder = {**BENCHMARKS["xtreme-r"].folders, **BENCHMARKS["xtreme"].folders}
    n = bad = files = 0
    worst = 0.0
    for metrics_file in sorted(folder.rglob("metrics.json")):
        phase = metrics_file.parent
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        for task_dir in sorted((phase / "predictions").glob("*/")):
            official_task = official_folder.get(task_dir.name)
            if official_task is None or official_task == "lareqa" or "languages" not in metrics:
                continue
            for pred in sorted(task_dir.glob("test-*.*")):
                lang = pred.stem.split("-", 1)[1]
                gold = phase / "labels" / task_dir.name / pred.name
                if not gold.is_file():
                    print(f"{pred}: no gold labels beside it ({gold})")
                    bad += 1
                    continue
                with warnings.catch_warnings():  # seqeval: "NOUN seems not to be NE tag" for UD-POS, as in XTREME
                    warnings.simplefilter("ignore")
                    off = mod.evaluate_one_task(str(pred), str(gold), official_task, language=lang)
                ours = metrics["languages"][lang]
                files += 1
                for metric, value in off.items():
                    mine = ours[reported_metric(official_task, metric)]
                    n += 1
                    worst = max(worst, abs(mine - value))
                    if abs(mine - value) > 1e-9:
                        print(f"{pred}: {metric}: reported {mine!r}, official {value!r}")
                        bad += 1
    print(f"{str(folder):24s} {n:4d} numbers in {files} prediction files, max |diff| {worst:.3g}: "
          f"{'equal' if not bad else f'{bad} DIFFERENCES'}")
    return n, bad


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
