"""Figures (xstilts.reports.figures, the study report's plots and the comparison chart): PDF and 300 dpi PNG, bounded sizes
for 40-200 languages, fonts >= 8 pt, no titles, one colour per setting across a report's figures, missing intervals
drawn as missing."""

from __future__ import annotations

import json
import random
import statistics

import numpy as np
import pytest
from PIL import Image

from xstilts.reports import figures
from xstilts.reports.figures import LanguagePoint, Palette

from test_study_report import make_study

PNG = b"\x89PNG\r\n\x1a\n"


def _series(n_langs, settings, missing_every=0, seed=0):
    rng = random.Random(seed)
    out = []
    for k, s in enumerate(settings):
        pts = {}
        for i in range(n_langs):
            d = rng.uniform(-5, 8)
            if missing_every and i % missing_every == 0:
                pts[f"x{i:03d}"] = LanguagePoint(d)
            else:
                pts[f"x{i:03d}"] = LanguagePoint(d, d - rng.uniform(0.5, 3), d + rng.uniform(0.5, 3))
        out.append((s, pts))
    return out


def _check_png(path, width_in, height_in):
    data = path.read_bytes()
    assert data[:8] == PNG
    im = Image.open(path)
    dpi = im.info.get("dpi")
    assert dpi is not None and dpi[0] == pytest.approx(300, abs=0.01) and dpi[1] == pytest.approx(300, abs=0.01)
    assert im.size == (round(width_in * 300), round(height_in * 300))


def _texts_ok(fig):
    sizes = figures.font_sizes(fig)
    assert sizes and min(sizes) >= 8.0
    assert all(not ax.get_title() for ax in fig.axes)  # no titles inside figures
    assert fig._suptitle is None


@pytest.mark.parametrize("n, n_series", [(40, 1), (94, 3), (200, 3), (200, 1)])
def test_language_plot_size_is_bounded(tmp_path, n, n_series):
    pal = Palette(["baseline", "mnli", "squad", "mnli+squad"])
    with figures.style():
        fig, info = figures.language_dot_plot(_series(n, ["mnli", "squad", "mnli+squad"][:n_series]), pal,
                                              "Δ accuracy (points)")
        w, h = fig.get_size_inches()
        assert w <= figures.MAX_WIDTH + 1e-9 and h <= figures.MAX_HEIGHT + 1e-9
        if n <= figures.PANEL_ROWS:
            assert w == pytest.approx(figures.COLUMN_WIDTH)  # one column
        lay = info["layout"]
        assert lay.per_panel <= figures.PANEL_ROWS and lay.ncols * lay.nrows * lay.per_panel >= n
        assert lay.row_height * 72 >= 8.0  # a row is at least as tall as an 8 pt label
        assert sorted(info["languages"]) == sorted(f"x{i:03d}" for i in range(n))
        _texts_ok(fig)
        written = figures.save(fig, tmp_path / "langs")
    assert written["pdf"].read_bytes()[:5] == b"%PDF-" and written["pdf"].stat().st_size > 1000
    _check_png(written["png"], w, h)


def test_languages_sorted_by_delta():
    pal = Palette()
    pts = {"a": LanguagePoint(1.0), "b": LanguagePoint(3.0), "c": LanguagePoint(-2.0), "d": LanguagePoint(0.5)}
    with figures.style():
        fig, info = figures.language_dot_plot([("mnli", pts)], pal, "Δ")
        assert info["languages"] == ["b", "a", "d", "c"]  # largest first
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels == ["b", "a", "d", "c"]
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_missing_intervals_are_not_zero_length_bars():
    pal = Palette(["baseline", "mnli"])
    series = _series(30, ["mnli"], missing_every=3)
    n_missing = sum(1 for p in series[0][1].values() if p.low is None)
    with figures.style():
        fig, info = figures.language_dot_plot(series, pal, "Δ")
        assert info["missing"] == n_missing and info["with_interval"] == 30 - n_missing
        from matplotlib.collections import LineCollection

        segs = [s for ax in fig.axes for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()]
        assert len(segs) == 30 - n_missing  # one line per interval, none for a missing one
        assert all(abs(s[1][0] - s[0][0]) > 0 for s in segs)  # no zero-length bar
        # the missing ones are open markers (white face), the others filled
        faces = [mpl_line.get_markerfacecolor() for ax in fig.axes for mpl_line in ax.get_lines()
                 if mpl_line.get_marker() not in (None, "None", "")]
        assert "white" in faces
        assert "no interval" in figures.legend_colors(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_palette_is_okabe_ito_fixed_and_baseline_black():
    pal = Palette(["baseline", "mnli", "squad"])
    assert pal["baseline"].color == figures.BASELINE_COLOR == "#000000"
    assert pal["mnli"].color == "#0072B2" and pal["squad"].color == "#D55E00"
    assert Palette(["mnli", "baseline", "squad"]).as_dict() == {"mnli": "#0072B2", "baseline": "#000000",
                                                                "squad": "#D55E00"}
    many = Palette([f"t{i}" for i in range(9)])
    assert {many[f"t{i}"].color for i in range(9)} <= set(figures.OKABE_ITO.values())
    assert many["t7"].color == many["t0"].color and many["t7"].marker != many["t0"].marker
    assert len({(many[f"t{i}"].color, many[f"t{i}"].marker) for i in range(9)}) == 9


def test_heatmap_marks_missing_cells():
    mat = np.array([[1.5, np.nan], [-2.0, 0.3]])
    with figures.style():
        fig = figures.delta_heatmap(mat, ["mnli", "squad"], ["xnli", "pawsx"], [["+1.5†", ""], ["-2.0", "+0.3"]],
                                    "Δ (points)")
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert "n/a" in texts and "+1.5†" in texts
        _texts_ok(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)
        assert figures.delta_heatmap(np.full((1, 1), np.nan), ["a"], ["b"], [[""]], "Δ") is None


# ------------------------------------------------------------------------------------------- through the reports
def _study(tmp_path, n_langs=45):
    """Baseline, mnli, squad and mnli+squad at two intermediate sizes, 3 seeds, per-example statistics for all
    but one language: heatmaps, per-language plots (with a language without interval), data-size curves."""
    rng = random.Random(0)
    langs = [f"l{i:02d}" for i in range(n_langs)]
    cells = []
    eff = {(): 0.0, ("mnli",): 0.08, ("squad",): -0.03, ("mnli", "squad"): 0.04}
    for inter, e in eff.items():
        for isize in ((None,) if not inter else (100, 1000)):
            for seed in (1, 2, 3):
                stats = {lang: [{"correct": int(rng.random() < 0.6 + e * (1 + (isize or 0) / 2000))}
                                for _ in range(30)] for lang in langs}
                scores = {lang: {"accuracy": 100.0 * statistics.fmean(x["correct"] for x in s)}
                          for lang, s in stats.items()}
                name = "+".join(inter) or "base"
                cells.append({"id": f"{name}-{isize}-{seed}", "inter": list(inter), "seed": seed, "target": "xnli",
                              "metric": "accuracy", "isize": isize, "scores": scores, "stats": stats})
    return make_study(tmp_path, cells)


def test_study_report_figures(tmp_path):
    from xstilts.reports.study import build_report

    folder = _study(tmp_path)
    w = build_report(folder, resamples=50)
    out = folder / "report"
    assert w["images"] and len(w["pdf"]) == len(w["images"])
    kinds = {p.rsplit("/", 1)[-1].split("-")[0] for p in w["images"]}
    assert {"heatmap", "languages", "data"} <= kinds
    for png, pdf in zip(w["images"], w["pdf"]):
        im = Image.open(png)
        assert im.info["dpi"][0] == pytest.approx(300, abs=0.01)
        w_in, h_in = im.size[0] / 300, im.size[1] / 300
        assert w_in <= figures.MAX_WIDTH + 0.01 and h_in <= figures.MAX_HEIGHT + 0.01
        assert open(pdf, "rb").read(5) == b"%PDF-"
    # one colour per setting across all the report's figures, the report's palette
    seen: dict[str, set] = {}
    for stem, colors in w["figure_colors"].items():
        for label, c in colors.items():
            seen.setdefault(label, set()).add(c)
    settings = {"mnli", "squad", "mnli+squad"}
    assert settings <= set(seen)
    assert all(len(v) == 1 for k, v in seen.items() if k in settings | {"baseline"})
    rep = json.loads((out / "report.json").read_text())
    for lab in settings:
        assert seen[lab] == {rep["setting_colors"][lab].lower()}
    assert rep["setting_colors"]["baseline"] == "#000000"
    # captions beside the figures (markdown and LaTeX), no title inside; the LaTeX includes the PDFs
    md = (out / "report.md").read_text()
    assert "sorted by Δ" in md and "(vector: [" in md
    tex = (out / "report.tex").read_text()
    assert "\\includegraphics[width=" in tex and ".pdf}" in tex and ".png}" not in tex
    # the per-language plot with 45 languages: 2 panels, caption says so
    cap = rep["captions"][next(n for n in rep["images"] if n.startswith("languages-") and "100" in n)]
    assert "45 languages in 2 panels" in cap


def test_one_colour_per_setting_across_figures_from_the_artists(tmp_path, monkeypatch):
    """The same check from the drawn artists: every line/marker of a figure whose legend names a setting has that
    setting's colour in every figure (collected just before saving)."""
    from xstilts.reports.study import build_report

    folder = _study(tmp_path, n_langs=5)
    seen: dict[str, set] = {}
    real_save = figures.save

    def spy(fig, stem):
        for label, c in figures.legend_colors(fig).items():
            seen.setdefault(label, set()).add(c)
        return real_save(fig, stem)

    monkeypatch.setattr(figures, "save", spy)
    w = build_report(folder, resamples=20)
    assert len(w["images"]) >= 4
    for lab in ("mnli", "squad", "mnli+squad"):
        assert len(seen[lab]) == 1
    assert len({next(iter(seen[lab])) for lab in ("mnli", "squad", "mnli+squad")}) == 3


def test_comparison_chart(tmp_path):
    from xstilts.reports.run import write_comparison

    def run(variant, shift, n):
        langs = {f"l{i:03d}": {"accuracy": 60.0 + shift + (i % 7)} for i in range(n)}
        return {"variant": variant, "seed": 1, "phases": [{"phase": "intermediate",
                                                          "dir": "/x/phases/intermediate-mnli-abc123"}],
                "tasks": {"xnli": {"task": "xnli", "metric": "accuracy", "languages": langs,
                                   "average": statistics.fmean(v["accuracy"] for v in langs.values())}}}

    for n in (15, 120):
        w = write_comparison(tmp_path / str(n), [run("baseline", 0, n)], [run("stilts", 1.5, n)], title="t")
        png = tmp_path / str(n) / "delta-xnli.png"
        assert w["png"]["xnli"] == str(png) and (tmp_path / str(n) / "delta-xnli.pdf").read_bytes()[:5] == b"%PDF-"
        im = Image.open(png)
        assert im.info["dpi"][0] == pytest.approx(300, abs=0.01)
        assert im.size[0] / 300 <= figures.MAX_WIDTH + 0.01 and im.size[1] / 300 <= figures.MAX_HEIGHT + 0.01
        if n <= 40:
            assert im.size[0] == round(figures.COLUMN_WIDTH * 300)
        md = (tmp_path / str(n) / "comparison.md").read_text()
        assert "mnli − baseline" in md and "Dots without an interval" in md
