"""The XTREME and XTREME-R benchmark scores of a run, and its predictions in the leaderboard submission layout.

Definitions (from XTREME's ``evaluate.py``, the version with ``--xtreme_version {xtreme,xtreme-r}``, and the papers):

* A task's score is the mean over the benchmark's test languages of its metric: accuracy (XNLI, PAWS-X, XCOPA,
  Tatoeba), F1 (UD-POS and PAN-X/WikiANN with seqeval, BUCC 2018), mAP@20 (Mewsli-X, LAReQA); for QA (XQuAD, MLQA,
  TyDiQA-GoldP) ``(mean EM + mean F1) / 2`` (``avg_metric`` in ``evaluate.py``). English is included wherever the task
  has an English test set (XNLI, PAWS-X, POS, NER, QA, Mewsli-X, LAReQA); BUCC and Tatoeba pair xx with English and
  XCOPA has no English test set. The language lists are ``evaluate.py``'s ``XTREME_TASK2LANGS`` /
  ``XTREME_R_TASK2LANGS`` (LAReQA, which that script cannot score from files, uses XQuAD-R's 11 languages).
* **XTREME** (Hu et al. 2020): the score is the mean of the nine task scores (``all_task`` in ``evaluate.py``, which
  reproduces the paper's "Avg" column from its per-task scores), with category means shown alongside:
  classification (XNLI, PAWS-X), structured prediction (UD-POS, PAN-X), question answering (XQuAD, MLQA,
  TyDiQA-GoldP), retrieval (BUCC, Tatoeba).
* **XTREME-R** (Ruder et al. 2021): categories classification (XNLI, XCOPA), structured prediction (UD-POS,
  WikiANN-NER), question answering (XQuAD, MLQA, TyDiQA-GoldP) and language-agnostic retrieval (Tatoeba, Mewsli-X,
  LAReQA); the score is the mean of the four category means, the rule that reproduces the paper's "Avg" column
  (Table 3) from its per-task scores, and the leaderboard's. ``task_average`` (the mean of the ten task scores, the
  rule of ``evaluate.py``'s ``all_task``) is reported too. XTREME-R drops PAWS-X and BUCC and adds languages to
  UD-POS (38), PAN-X (48), Tatoeba (41) and XQuAD (12, with Romanian).

A run that lacks tasks gets scores for what it has: task scores, the categories whose tasks are all present, and the
overall score only when every task is there; ``missing`` lists the absent tasks. A task evaluated on only some of the
benchmark's languages is scored on those and marked incomplete (``missing_languages``), which also marks the overall
score incomplete (not comparable to the leaderboard).

Registry tasks are matched by their ``task`` name (``metrics.json``'s ``task`` field, else the key): XTREME's
Tatoeba is ``tatoeba`` (else the 36 languages of ``tatoeba-xtreme-r``), XTREME-R's is ``tatoeba-xtreme-r`` (else
``tatoeba``, then missing 5 languages).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import XstiltsError
from ..io import atomic_write_bytes

#: The benchmark's data on the Hugging Face hub: ``google/xtreme`` at its "Delete loading script" commit (the data
#: converted to Parquet, loadable by datasets >= 4); the task modules of XTREME's tasks load it at this commit.
GOOGLE_XTREME = "google/xtreme"
GOOGLE_XTREME_REVISION = "21f88c0ff5bf413a83c854eb00050e75d245161f"
QA_TASKS = ("xquad", "mlqa", "tydiqa")

_LANGS = {
    "pawsx": "de,en,es,fr,ja,ko,zh",
    "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
    "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,"
            "kk,tr,et,fi,hu",
    "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh",
    "bucc2018": "de,fr,ru,zh",
    "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,"
               "fi,hu",
    "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi",
    "mlqa": "en,es,de,ar,hi,vi,zh",
    "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
}
#: XTREME's test languages per task (``evaluate.py`` XTREME_TASK2LANGS).
XTREME_LANGUAGES: dict[str, tuple[str, ...]] = {t: tuple(v.split(",")) for t, v in _LANGS.items()}
#: XTREME-R's test languages per task (``evaluate.py`` XTREME_R_TASK2LANGS; LAReQA: XQuAD-R's languages).
XTREME_R_LANGUAGES: dict[str, tuple[str, ...]] = {
    "xnli": XTREME_LANGUAGES["xnli"],
    "xcopa": tuple("et,ht,id,it,qu,sw,ta,th,tr,vi,zh".split(",")),
    "udpos": XTREME_LANGUAGES["udpos"] + ("lt", "pl", "uk", "wo", "ro"),
    "panx": XTREME_LANGUAGES["panx"] + ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro"),
    "xquad": XTREME_LANGUAGES["xquad"] + ("ro",),
    "mlqa": XTREME_LANGUAGES["mlqa"],
    "tydiqa": XTREME_LANGUAGES["tydiqa"],
    "tatoeba": XTREME_LANGUAGES["tatoeba"] + ("az", "lt", "pl", "uk", "ro"),
    "mewslix": tuple("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk".split(",")),
    "lareqa": tuple("ar,de,el,en,es,hi,ru,th,tr,vi,zh".split(",")),
}

#: XTREME's nine tasks (Hu et al. 2020) and XTREME-R's ten (Ruder et al. 2021) as registry names (XTREME-R's Tatoeba
#: is the task tatoeba-xtreme-r), in the order ``xstilts download`` lists them.
XTREME_TASKS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")
XTREME_R_TASKS = ("xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba-xtreme-r", "mewslix",
                  "lareqa")
#: The nine English intermediate tasks of X-STILTs (Phang et al. 2020, Table 1); ``xstilts download intermediate``.
X_STILTS_INTERMEDIATE_TASKS = ("anli", "mnli", "qqp", "squad", "squad2", "hellaswag", "cosmosqa", "commonsenseqa",
                               "ccg")
#: ``XTREME_R_TASK2LANGS`` of ``evaluate.py``: XTREME-R's tasks in the order the script reports them.
XTREME_R_EVAL_ORDER = ("xnli", "panx", "udpos", "tatoeba", "xcopa", "lareqa", "mewslix", "xquad", "mlqa", "tydiqa")

#: Per-language metric keys to look for, in order (the registry's headline metric names first).
METRIC_KEYS = {"xnli": ("accuracy",), "pawsx": ("accuracy",), "xcopa": ("accuracy",), "udpos": ("f1",),
               "panx": ("f1",), "bucc2018": ("f1",), "tatoeba": ("accuracy@1", "accuracy"),
               "mewslix": ("map@20",), "lareqa": ("map@20",)}


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's tasks (with languages), categories, sources in a run, and how the overall score is averaged."""

    name: str
    title: str
    languages: Mapping[str, tuple[str, ...]]
    categories: Mapping[str, tuple[str, ...]]
    overall: str  # "tasks" or "categories"
    sources: Mapping[str, tuple[str, ...]]
    folders: Mapping[str, str]  # registry task name -> submission folder

    def source_names(self, task: str) -> tuple[str, ...]:
        return self.sources.get(task, (task,))


XTREME = Benchmark(
    name="xtreme", title="XTREME", languages=XTREME_LANGUAGES,
    categories={"classification": ("xnli", "pawsx"), "structured prediction": ("udpos", "panx"),
                "question answering": ("xquad", "mlqa", "tydiqa"), "retrieval": ("bucc2018", "tatoeba")},
    overall="tasks", sources={"tatoeba": ("tatoeba", "tatoeba-xtreme-r")},
    folders={**{t: t for t in XTREME_LANGUAGES}, "tatoeba-xtreme-r": "tatoeba"},
)
XTREME_R = Benchmark(
    name="xtreme-r", title="XTREME-R", languages=XTREME_R_LANGUAGES,
    categories={"classification": ("xnli", "xcopa"), "structured prediction": ("udpos", "panx"),
                "question answering": ("xquad", "mlqa", "tydiqa"),
                "retrieval": ("tatoeba", "mewslix", "lareqa")},
    overall="categories", sources={"tatoeba": ("tatoeba-xtreme-r", "tatoeba")},
    folders={**{t: t for t in XTREME_R_LANGUAGES}, "tatoeba-xtreme-r": "tatoeba"},
)
BENCHMARKS = {b.name: b for b in (XTREME, XTREME_R)}
#: The registered tasks that make up each benchmark (what ``xstilts download xtreme`` / ``xtreme-r`` fetch).
BENCHMARK_TASKS = {"xtreme": XTREME_TASKS, "xtreme-r": XTREME_R_TASKS}


def benchmark_languages(benchmark: str, task: str) -> tuple[str, ...] | None:
    """The languages *benchmark* (``xtreme`` or ``xtreme-r``) evaluates registered task *task* in, or ``None`` when
    the task is not part of it (XTREME-R's Tatoeba is the task ``tatoeba-xtreme-r``, XTREME's is ``tatoeba``)."""
    bench = BENCHMARKS[benchmark]
    if task not in BENCHMARK_TASKS[benchmark]:
        return None
    return bench.languages.get(bench.folders.get(task, task))


def _mean(values: Iterable[float]) -> float:
    return statistics.fmean(values)


def _by_task_name(tasks: Mapping) -> dict[str, dict]:
    """``{registry task name: metrics}`` from ``{label: metrics}`` (phase ``metrics.json`` contents or run.json's
    ``tasks``); two entries of the same task are ambiguous."""
    if "tasks" in tasks and isinstance(tasks["tasks"], Mapping) and "languages" not in tasks:
        tasks = tasks["tasks"]
    out: dict[str, dict] = {}
    labels: dict[str, str] = {}
    for label, m in tasks.items():
        if not isinstance(m, Mapping) or "languages" not in m:
            raise XstiltsError(f"task {label!r}: expected per-task metrics with 'languages' (a phase's metrics.json)")
        name = str(m.get("task") or label)
        if name in out:
            raise XstiltsError(f"task {name!r} appears twice (labels {labels[name]!r} and {label!r}); score one run at "
                               f"a time")
        out[name], labels[name] = dict(m), str(label)
    return out


def _language_value(task: str, scores: Mapping, metric_field: str | None) -> tuple[float, dict]:
    """A language's task score and the metric values it came from."""
    if task in QA_TASKS:
        try:
            em, f1 = float(scores["exact_match"]), float(scores["f1"])
        except KeyError:
            raise XstiltsError(f"{task}: QA scores need exact_match and f1, got {', '.join(scores)}") from None
        return (em + f1) / 2, {"exact_match": em, "f1": f1}
    for key in (*METRIC_KEYS.get(task, ()), *((metric_field,) if metric_field else ())):
        if key in scores:
            return float(scores[key]), {key: float(scores[key])}
    raise XstiltsError(f"{task}: no {' or '.join(METRIC_KEYS.get(task, ()))} in the scores ({', '.join(scores)})")


def _score_task(bench: Benchmark, task: str, runs: Mapping[str, dict]) -> dict | None:
    source = next((s for s in bench.source_names(task) if s in runs), None)
    if source is None:
        return None
    m = runs[source]
    langs = bench.languages[task]
    per = m["languages"]
    present = [lang for lang in langs if lang in per]
    values, parts = {}, {}
    for lang in present:
        values[lang], parts[lang] = _language_value(task, per[lang], m.get("metric"))
    out = {"source": source, "languages": values, "missing_languages": [x for x in langs if x not in per],
           "n_languages": len(present), "of_languages": len(langs)}
    if task in QA_TASKS:
        out["metric"] = "(exact_match + f1) / 2"
    else:
        out["metric"] = next(iter(parts[present[0]])) if present else m.get("metric")
    if not present:
        out.update(score=None, complete=False)
        return out
    if task in QA_TASKS:
        em = _mean(parts[x]["exact_match"] for x in present)
        f1 = _mean(parts[x]["f1"] for x in present)
        out.update(exact_match=em, f1=f1, score=(em + f1) / 2)
    else:
        out["score"] = _mean(values.values())
    out["complete"] = not out["missing_languages"]
    return out


def benchmark_score(bench: Benchmark | str, tasks: Mapping) -> dict:
    """Per-task, per-category and overall scores of *bench* from a run's per-task metrics.

    Args:
        tasks: ``{label: metrics}`` where metrics is a phase's ``metrics.json`` (``task``, ``metric``, ``languages:
            {lang: {metric: %}}``), e.g. ``run.json``'s ``tasks`` (``run.json`` itself is accepted too).
    Returns:
        ``{"benchmark", "title", "tasks": {task: {score, metric, languages, missing_languages, complete, source,
        ...}}, "categories": {name: {score, tasks, missing, complete}}, "overall": float | None, "overall_over":
        "tasks" | "categories", "task_average": float | None, "missing": [tasks], "complete": bool}``. Scores are %.
    """
    bench = BENCHMARKS[bench] if isinstance(bench, str) else bench
    runs = _by_task_name(tasks)
    per_task: dict[str, dict] = {}
    for task in bench.languages:
        s = _score_task(bench, task, runs)
        if s is not None:
            per_task[task] = s
    scored = {t: s["score"] for t, s in per_task.items() if s["score"] is not None}
    missing = [t for t in bench.languages if t not in scored]
    categories = {}
    for cat, members in bench.categories.items():
        absent = [t for t in members if t not in scored]
        categories[cat] = {"tasks": list(members), "missing": absent,
                           "score": None if absent else _mean(scored[t] for t in members),
                           "complete": not absent and all(per_task[t]["complete"] for t in members)}
    task_average = None if missing else _mean(scored[t] for t in bench.languages)
    if bench.overall == "tasks":
        overall = task_average
    else:
        overall = None if missing else _mean(c["score"] for c in categories.values())
    return {"benchmark": bench.name, "title": bench.title, "tasks": per_task, "categories": categories,
            "overall": overall, "overall_over": bench.overall, "task_average": task_average, "missing": missing,
            "complete": not missing and all(s["complete"] for s in per_task.values())}


def xtreme_score(tasks: Mapping) -> dict:
    """The XTREME score (mean of the nine task scores) with task and category scores; see :func:`benchmark_score`."""
    return benchmark_score(XTREME, tasks)


def xtreme_r_score(tasks: Mapping) -> dict:
    """The XTREME-R score (mean of the four category scores) with task scores; see :func:`benchmark_score`."""
    return benchmark_score(XTREME_R, tasks)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def format_markdown(score: dict) -> str:
    """A markdown table of a :func:`benchmark_score` result: tasks by category, category means, the overall score,
    missing tasks and missing languages."""
    title = score.get("title", score.get("benchmark", "benchmark"))
    lines = [f"## {title} score", "", "| category | task | metric | score | languages |", "|---|---|---|---:|---|"]
    for cat, c in score["categories"].items():
        for t in c["tasks"]:
            s = score["tasks"].get(t)
            if s is None:
                lines.append(f"| {cat} | {t} | | missing | |")
                continue
            mark = "" if s["complete"] else " *"
            src = "" if s["source"] == t else f" ({s['source']})"
            lines.append(f"| {cat} | {t}{src} | {s['metric']} | {_fmt(s['score'])}{mark} | "
                         f"{s['n_languages']}/{s['of_languages']} |")
        mark = "" if c["complete"] or c["score"] is None else " *"
        lines.append(f"| **{cat}** | | | **{_fmt(c['score'])}**{mark} | |")
    over = "the task scores" if score["overall_over"] == "tasks" else "the category scores"
    lines.append("")
    if score["overall"] is None:
        lines.append(f"**{title}**: not available, missing task(s): {', '.join(score['missing'])}")
    else:
        note = "" if score["complete"] else " (incomplete: some tasks lack languages, marked *; not comparable to " \
                                            "the leaderboard)"
        lines.append(f"**{title}: {score['overall']:.2f}** (mean of {over}){note}")
        if score["overall_over"] == "categories" and score["task_average"] is not None:
            lines.append(f"mean of the task scores: {score['task_average']:.2f}")
    gaps = [f"{t}: {', '.join(s['missing_languages'])}" for t, s in score["tasks"].items() if s["missing_languages"]]
    if gaps:
        lines += ["", "Missing languages: " + "; ".join(gaps)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ run folders
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise XstiltsError(f"{path}: cannot read ({e})") from None


def _phase_dirs(source: Path) -> list[Path]:
    """The phase folders of a run folder (``run.json``), or *source* itself when it is a phase folder."""
    if (source / "run.json").is_file():
        out = []
        for ph in _read_json(source / "run.json").get("phases", []):
            p = Path(ph["dir"])
            if not p.is_dir():
                p = source / "phases" / (ph["phase"] + (f"-{ph['task']}" if "task" in ph else ""))
            if not p.is_dir():
                raise XstiltsError(f"{source}: phase folder {ph['dir']} not found")
            out.append(p)
        return out
    if (source / "metrics.json").is_file():
        return [source]
    raise XstiltsError(f"{source}: neither a run folder (run.json) nor a phase folder (metrics.json)")


def collect_tasks(sources: str | Path | Iterable[str | Path]) -> dict[str, dict]:
    """``{label: metrics}`` of target tasks from run folders (``run.json``) and/or phase folders (``metrics.json``),
    ready for :func:`xtreme_score` / :func:`xtreme_r_score`."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    out: dict[str, dict] = {}
    for src in map(Path, sources):
        if (src / "run.json").is_file():
            items = _read_json(src / "run.json").get("tasks", {}).items()
        elif (src / "metrics.json").is_file():
            m = _read_json(src / "metrics.json")
            if "languages" not in m:
                continue  # an intermediate phase
            items = [(m.get("label") or m.get("task"), m)]
        else:
            raise XstiltsError(f"{src}: neither a run folder (run.json) nor a phase folder (metrics.json)")
        for label, m in items:
            if label in out and out[label] != m:
                raise XstiltsError(f"task {label!r} is in more than one of the given folders; score one run at a time")
            out[label] = m
    return out


def _extension(folder: str) -> str:
    if folder in QA_TASKS or folder in ("mewslix", "lareqa"):
        return "json"
    if folder == "xcopa":
        return "jsonl"
    return "tsv"


def export_submission(sources: str | Path | Iterable[str | Path], out_dir: str | Path,
                      benchmark: str = "xtreme", labels_dir: str | Path | None = None) -> dict:
    """Copy the test predictions of run/phase folders into the layout XTREME's ``evaluate.py`` reads.

    Phases write ``<phase>/predictions/<task>/test-<lang>.<ext>``; the submission is ``<out_dir>/<task>/test-<lang>.
    <ext>`` with XTREME's task folder names (``xnli pawsx udpos panx xquad mlqa tydiqa bucc2018 tatoeba``; for
    XTREME-R ``xnli xcopa udpos panx xquad mlqa tydiqa tatoeba mewslix lareqa``, with ``tatoeba-xtreme-r`` exported
    as ``tatoeba``). Score it with ``python evaluate.py --prediction_folder <out_dir> --label_folder <labels>
    [--xtreme_version xtreme-r]``. Files already in *out_dir* are overwritten, others are left alone.

    With *labels_dir*, the gold labels the phases scored against (``<phase>/labels/<task>/test-<lang>.<ext>``, written
    next to the predictions) go to ``<labels_dir>/<task>/...`` in the same layout: the ``--label_folder`` with which
    ``evaluate.py`` (or ``xstilts official-eval``) recomputes the scores the run reported.

    Args:
        sources: run folders (with ``run.json``) and/or phase folders (with ``metrics.json``).
        benchmark: ``xtreme`` or ``xtreme-r`` (which tasks and folder names).
    Returns:
        ``{"benchmark", "out_dir", "files": {folder: [file names]}, "missing_tasks": [...], "missing_languages":
        {folder: [...]}, "skipped": [task names not in the benchmark], "warnings": [...]}``, and with *labels_dir*
        ``"labels_dir"`` and ``"labels": {folder: [file names]}``.
    Raises:
        XstiltsError: a folder is not a run or phase folder, or two sources give different predictions for the same
            file.
    """
    if benchmark not in BENCHMARKS:
        raise XstiltsError(f"unknown benchmark {benchmark!r}; expected one of {', '.join(BENCHMARKS)}")
    bench = BENCHMARKS[benchmark]
    if isinstance(sources, (str, Path)):
        sources = [sources]
    chosen: dict[tuple[str, str], tuple[int, Path]] = {}
    skipped: set[str] = set()
    warnings: list[str] = []
    for src in map(Path, sources):
        for phase in _phase_dirs(src):
            pred_root = phase / "predictions"
            if not pred_root.is_dir():
                continue
            for task_dir in sorted(p for p in pred_root.iterdir() if p.is_dir()):
                name = task_dir.name
                folder = bench.folders.get(name)
                if folder is None:
                    skipped.add(name)
                    continue
                priority = bench.source_names(folder).index(name) if name in bench.source_names(folder) else 0
                for f in sorted(task_dir.glob("test-*.*")):
                    key = (folder, f.name)
                    if key in chosen:
                        prio, other = chosen[key]
                        if prio < priority:
                            continue
                        if prio == priority and other.read_bytes() != f.read_bytes():
                            raise XstiltsError(f"{other} and {f} are different predictions for {folder}/{f.name}")
                        if prio == priority:
                            continue
                    chosen[key] = (priority, f)
    out_dir = Path(out_dir)
    files: dict[str, list[str]] = {}
    label_files: dict[str, list[str]] = {}
    for (folder, fname), (_, f) in sorted(chosen.items()):
        atomic_write_bytes(out_dir / folder / fname, f.read_bytes())
        files.setdefault(folder, []).append(fname)
        if labels_dir is not None:
            gold = f.parents[2] / "labels" / f.parent.name / fname  # <phase>/labels/<task>/<file>
            if gold.is_file():
                atomic_write_bytes(Path(labels_dir) / folder / fname, gold.read_bytes())
                label_files.setdefault(folder, []).append(fname)
            else:
                warnings.append(f"{folder}/{fname}: no gold labels in {gold.parent.parent} (phases written before "
                                f"xstilts saved labels, or a task evaluate.py cannot score)")
    missing_languages = {}
    for task, langs in bench.languages.items():
        if task not in files:
            continue
        ext = _extension(task)
        wrong = [n for n in files[task] if not n.endswith("." + ext)]
        if wrong:
            warnings.append(f"{task}: evaluate.py reads test-<lang>.{ext}, got {', '.join(wrong)}")
        absent = [lang for lang in langs if f"test-{lang}.{ext}" not in files[task]]
        if absent:
            missing_languages[task] = absent
    if "lareqa" in files:
        warnings.append("lareqa: XTREME's evaluate.py does not score LAReQA from files; the predictions are "
                        "{question id: [top-20 candidate ids]}")
    res = {"benchmark": bench.name, "out_dir": str(out_dir), "files": files,
           "missing_tasks": [t for t in bench.languages if t not in files], "missing_languages": missing_languages,
           "skipped": sorted(skipped), "warnings": warnings}
    if labels_dir is not None:
        res.update(labels_dir=str(labels_dir), labels=label_files)
    return res
