"""Result tables (markdown, JSON, CSV) per run and per experiment (test, and dev where the phases have it), and the baseline-vs-STILTs comparison with a PNG
bar chart of per-language deltas. Scores are percentages; with several seeds a cell is ``mean ± std`` (sample std)."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from .io import atomic_write_bytes, atomic_write_json, atomic_write_text


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


def bar_chart(label: str, comp: dict, path: Path) -> Path:
    """A PNG bar chart of per-language deltas (sorted), with the mean delta as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(comp["languages"].items(), key=lambda kv: kv[1]["delta"])
    langs = [k for k, _ in items]
    deltas = [v["delta"] for _, v in items]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.16 * len(langs) + 2), 4))
    ax.bar(range(len(langs)), deltas, color=["#c0392b" if d < 0 else "#2e86c1" for d in deltas])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(comp["mean_delta"], color="#27ae60", linestyle="--", linewidth=1,
               label=f"mean Δ {comp['mean_delta']:+.2f}")
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(langs, rotation=90, fontsize=7 if len(langs) > 30 else 9)
    ax.set_ylabel(f"Δ {comp['metric']} (points)")
    ax.set_title(f"{label}: intermediate training − baseline, per language")
    ax.legend(loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def write_comparison(folder: Path, baseline_runs: list[dict], stilts_runs: list[dict], title: str) -> dict:
    """Write ``comparison.{md,json,csv}`` and one ``delta-<task>.png`` per task into *folder*."""
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
        pngs[label] = str(bar_chart(label, c, folder / f"delta-{safe}.png"))
        md += [f"![{label} deltas](delta-{safe}.png)", ""]
    text = "\n".join(md)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task", "language", "metric", "baseline", "intermediate", "delta"])
    w.writerows(rows)
    paths = {"markdown": str(atomic_write_text(folder / "comparison.md", text + "\n")),
             "json": str(atomic_write_json(folder / "comparison.json", {"title": title, "tasks": comp})),
             "csv": str(atomic_write_text(folder / "comparison.csv", buf.getvalue()))}
    return {**paths, "png": pngs, "markdown_text": text}
