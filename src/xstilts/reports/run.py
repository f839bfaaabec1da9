"""Result tables (markdown, JSON, CSV) per run and per experiment (test, and dev where the phases have it), and the baseline-vs-STILTs comparison with a
chart of per-language deltas (PDF and 300 dpi PNG, :mod:`xstilts.reports.figures`). Scores are percentages; with several seeds a cell is ``mean ± std`` (sample std)."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from ..io import atomic_write_json, atomic_write_text


def _agg(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def _fmt(a: dict) -> str:
    return f"{a['mean']:.2f} ± {a['std']:.2f}" if len(a["values"]) > 1 else f"{a['mean']:.2f}"


def aggregate(runs: list[dict], split: str | None = None) -> dict:
    """Per task label: ``{metric, languages: {lang: agg}, average: agg}`` over the runs (seeds), where ``agg`` is
    ``{mean, std, values}`` of the task's headline metric. *split* ``dev`` or ``test`` takes that split of each
    phase's ``splits`` (tasks without it are left out); ``None``: the phase's headline scores (test)."""
    out: dict = {}
    for run in runs:
        for label, m in run["tasks"].items():
            scores_of = m["languages"]
            average = m["average"]
            if split is not None:
                part = m.get("splits", {}).get(split)
                if part is None:
                    continue
                scores_of, average = part["languages"], part["average"]
            t = out.setdefault(label, {"task": m["task"], "metric": m["metric"], "languages": {}, "average": []})
            for lang, scores in scores_of.items():
                t["languages"].setdefault(lang, []).append(scores[m["metric"]])
            t["average"].append(average)
    for t in out.values():
        t["languages"] = {lang: _agg(v) for lang, v in t["languages"].items()}
        t["average"] = _agg(t["average"])
    return out


def write_results(folder: Path, runs: list[dict], title: str) -> dict:
    """Write ``results.md``, ``results.json`` and ``results.csv`` into *folder*; returns their paths and the text."""
    agg = aggregate(runs)
    dev = aggregate(runs, "dev")
    seeds = [r["seed"] for r in runs]
    md = [f"## {title}", "", f"seeds: {', '.join(map(str, seeds))}", ""]
    rows = []
    for label, t in agg.items():
        d = dev.get(label)
        if d is None:
            md += [f"### {label} ({t['metric']})", "", f"| language | {t['metric']} |", "|---|---:|"]
        else:  # dev (every language that has it; the selection split in English) beside test
            md += [f"### {label} ({t['metric']})", "", "| language | dev | test |", "|---|---:|---:|"]
        for lang, a in t["languages"].items():
            if d is None:
                md.append(f"| {lang} | {_fmt(a)} |")
            else:
                md.append(f"| {lang} | {_fmt(d['languages'][lang]) if lang in d['languages'] else '–'} | {_fmt(a)} |")
            rows.append([label, lang, t["metric"], a["mean"], a["std"], len(a["values"]), "test"])
        if d is None:
            md += [f"| **average** | **{_fmt(t['average'])}** |", ""]
        else:
            md += [f"| **average** | **{_fmt(d['average'])}** | **{_fmt(t['average'])}** |", ""]
            rows += [[label, lang, t["metric"], a["mean"], a["std"], len(a["values"]), "dev"]
                     for lang, a in d["languages"].items()]
            rows.append([label, "average", t["metric"], d["average"]["mean"], d["average"]["std"],
                         len(d["average"]["values"]), "dev"])
        rows.append([label, "average", t["metric"], t["average"]["mean"], t["average"]["std"],
                     len(t["average"]["values"]), "test"])
    text = "\n".join(md)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "language", "metric", "mean", "std", "n_seeds", "split"])
    w.writerows(rows)
    folder = Path(folder)
    paths = {"markdown": atomic_write_text(folder / "results.md", text + "\n"),
             "json": atomic_write_json(folder / "results.json", {"title": title, "seeds": seeds, "tasks": agg,
                                                                 "dev": dev}),
             "csv": atomic_write_text(folder / "results.csv", buf.getvalue())}
    return {**{k: str(v) for k, v in paths.items()}, "markdown_text": text}


def compare(base: dict, other: dict) -> dict:
    """Per task label present in both aggregates: per-language ``{baseline, stilts, delta}`` means and the deltas'
    mean (``mean_delta``, the mean over languages of stilts − baseline)."""
    out = {}
    for label in base:
        if label not in other:
            continue
        b, o = base[label], other[label]
        langs = [lang for lang in b["languages"] if lang in o["languages"]]
        per = {lang: {"baseline": b["languages"][lang]["mean"], "stilts": o["languages"][lang]["mean"],
                      "delta": o["languages"][lang]["mean"] - b["languages"][lang]["mean"]} for lang in langs}
        deltas = [v["delta"] for v in per.values()]
        out[label] = {"metric": b["metric"], "languages": per,
                      "baseline_average": statistics.fmean(v["baseline"] for v in per.values()),
                      "stilts_average": statistics.fmean(v["stilts"] for v in per.values()),
                      "mean_delta": statistics.fmean(deltas),
                      "improved": sum(d > 0 for d in deltas), "worse": sum(d < 0 for d in deltas)}
    return out


def _setting_name(runs: list[dict]) -> str:
    """The intermediate task set of intermediate-trained runs (``mnli``, ``mnli+squad``), from their intermediate
    phase folder (``intermediate-<tasks>-<hash>``); ``intermediate`` when unknown."""
    for run in runs:
        for ph in run.get("phases", []):
            if ph.get("phase") == "intermediate" and ph.get("dir"):
                name = Path(ph["dir"]).name
                if name.startswith("intermediate-") and "-" in name[len("intermediate-"):]:
                    return name[len("intermediate-"):].rsplit("-", 1)[0]
    return "intermediate"


def delta_caption(label: str, comp: dict, setting: str = "intermediate") -> str:
    """The caption of :func:`bar_chart`'s figure."""
    return (f"{label}: Δ {comp['metric']} ({setting} − baseline, points) per language, sorted by Δ (largest first); "
            f"dashed: the mean Δ over languages ({comp['mean_delta']:+.2f}). Dots without an interval: the difference "
            f"of the means over seeds (no per-language test here; `xstilts report` on a study gives intervals and "
            f"tests).")


def bar_chart(label: str, comp: dict, path: Path, setting: str = "intermediate") -> Path:
    """The per-language deltas of one task as a dot plot sorted by Δ (:func:`xstilts.reports.figures.language_dot_plot`:
    one column wide up to 40 languages, panels beyond), with the mean Δ as a dashed line; written as ``path`` (PNG,
    300 dpi) and the same name with ``.pdf``. No title: the caption is :func:`delta_caption`. Returns the PNG's
    path."""
    from . import figures

    pts = {lang: figures.LanguagePoint(v["delta"]) for lang, v in comp["languages"].items()}
    palette = figures.Palette([figures.BASELINE_LABEL, setting])
    with figures.style():
        fig, _ = figures.language_dot_plot([(setting, pts)], palette, f"Δ {comp['metric']} vs baseline (points)",
                                           mean_lines={setting: comp["mean_delta"]})
        if fig is None:
            fig, _ = figures.figure(figures.COLUMN_WIDTH, 1.6)
            fig.text(0.5, 0.5, "no language in common", ha="center", va="center")
        written = figures.save(fig, Path(path).with_suffix(""))
    return written["png"]


def write_comparison(folder: Path, baseline_runs: list[dict], stilts_runs: list[dict], title: str) -> dict:
    """Write ``comparison.{md,json,csv}`` and one ``delta-<task>.png`` (300 dpi) and ``.pdf`` per task into
    *folder*."""
    comp = compare(aggregate(baseline_runs), aggregate(stilts_runs))
    folder = Path(folder)
    md = [f"## {title}", ""]
    rows = []
    pngs = {}
    for label, c in comp.items():
        md += [f"### {label} ({c['metric']}): mean Δ {c['mean_delta']:+.2f} "
               f"(baseline {c['baseline_average']:.2f} → {c['stilts_average']:.2f}; "
               f"{c['improved']} languages up, {c['worse']} down)", "",
               "| language | baseline | intermediate | Δ |", "|---|---:|---:|---:|"]
        for lang, v in c["languages"].items():
            md.append(f"| {lang} | {v['baseline']:.2f} | {v['stilts']:.2f} | {v['delta']:+.2f} |")
            rows.append([label, lang, c["metric"], v["baseline"], v["stilts"], v["delta"]])
        md += [f"| **mean** | **{c['baseline_average']:.2f}** | **{c['stilts_average']:.2f}** | "
               f"**{c['mean_delta']:+.2f}** |", ""]
        rows.append([label, "mean", c["metric"], c["baseline_average"], c["stilts_average"], c["mean_delta"]])
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
        pngs[label] = str(bar_chart(label, c, folder / f"delta-{safe}.png", setting=_setting_name(stilts_runs)))
        md += [f"![{label} deltas](delta-{safe}.png)", "", f"*{delta_caption(label, c, _setting_name(stilts_runs))}* "
               f"(vector: [delta-{safe}.pdf](delta-{safe}.pdf))", ""]
    text = "\n".join(md)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "language", "metric", "baseline", "intermediate", "delta"])
    w.writerows(rows)
    paths = {"markdown": str(atomic_write_text(folder / "comparison.md", text + "\n")),
             "json": str(atomic_write_json(folder / "comparison.json", {"title": title, "tasks": comp})),
             "csv": str(atomic_write_text(folder / "comparison.csv", buf.getvalue()))}
    return {**paths, "png": pngs, "pdf": {k: str(Path(v).with_suffix(".pdf")) for k, v in pngs.items()},
            "markdown_text": text}
