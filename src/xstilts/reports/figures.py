"""The figures' shared style (study reports and the baseline-vs-STILTs comparison): sizes for a paper's columns,
fonts, a colour-blind-safe colour per setting, PDF + 300 dpi PNG output, and the per-language dot plot.

Rules every figure follows:

* **Output**: one vector PDF (fonts embedded as TrueType, no creation date: the same data gives the same bytes) and
  one PNG at :data:`DPI` = 300 dots per inch (the pHYs chunk says 300 dpi; the pixel size is the figure size in
  inches × 300), written side by side (:func:`save`).
* **No titles** inside a figure: its caption goes next to it in the report (markdown and LaTeX).
* **Size**: :data:`COLUMN_WIDTH` (3.3 in, one column of a two-column paper) where the content fits, else at most
  :data:`MAX_WIDTH` (7.2 in, both columns); at most :data:`MAX_HEIGHT` (9 in). Every text is at least
  :data:`FONT_SIZE` = 8 pt at that size; layouts are constrained (nothing is cut off), so the saved size is exactly
  the size asked for.
* **Colours**: :class:`Palette` maps each setting (``baseline``, ``mnli``, ``mnli+squad``, ...) to one colour and
  marker, once per report, so a setting looks the same in every figure. The colours are Okabe & Ito's
  colour-blind-safe palette ("Color Universal Design", 2008; Wong 2011, "Points of view: Color blindness", *Nature
  Methods* 8:441); the baseline is always black. Beyond seven settings the colours repeat with another marker.
* **Missing intervals are missing**: a point without an interval is an open marker with no bar (never a zero-length
  error bar, which would read as certainty); captions say so.
* **Many languages**: :func:`language_dot_plot` draws one row per language, sorted by Δ, wrapped into panels of at
  most :data:`PANEL_ROWS` languages side by side (and in two rows of panels beyond 160 languages), so 40 to 200
  languages stay within 7.2 × 9 in.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from ..io import atomic_write_bytes

#: Okabe & Ito's eight colours (the colour-blind-safe palette of Wong 2011).
OKABE_ITO: dict[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7"}
#: The baseline's colour in every figure.
BASELINE_COLOR = OKABE_ITO["black"]
#: The order in which settings other than the baseline get their colour (yellow last: the lightest on white).
SETTING_COLORS: tuple[str, ...] = tuple(OKABE_ITO[k] for k in (
    "blue", "vermillion", "bluish green", "reddish purple", "orange", "sky blue", "yellow"))
#: Markers, one per round of the colours (setting 8 is blue again, with squares).
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X")
BASELINE_LABEL = "baseline"

DPI = 300
FONT_SIZE = 8.0
COLUMN_WIDTH = 3.3  # inches: one column of a two-column paper (ACL: 3.03 in, NeurIPS single column: 5.5 in)
MAX_WIDTH = 7.2  # inches: both columns
MAX_HEIGHT = 9.0
PANEL_ROWS = 40  # languages per panel of a per-language plot
#: A diverging colour map that colour-blind readers can read (ColorBrewer's RdBu: red below 0, blue above).
DIVERGING_CMAP = "RdBu"


@dataclass(frozen=True)
class Style:
    """How one setting is drawn: colour and marker."""

    color: str
    marker: str


class Palette:
    """Setting label → :class:`Style`, fixed once per report.

    Args:
        settings: the labels in the order they get colours (the order of first appearance in the report:
            deterministic for the same data). ``baseline`` is always black with circles and takes no colour of the
            cycle. Labels asked for later (:meth:`__getitem__`) get the next free style.
    """

    def __init__(self, settings: Iterable[str] = ()):
        self._styles: dict[str, Style] = {}
        self._next = 0
        for s in settings:
            self[s]

    def __getitem__(self, label: str) -> Style:
        st = self._styles.get(label)
        if st is None:
            if label == BASELINE_LABEL:
                st = Style(BASELINE_COLOR, "o")
            else:
                k = self._next
                self._next += 1
                st = Style(SETTING_COLORS[k % len(SETTING_COLORS)], MARKERS[(k // len(SETTING_COLORS)) % len(MARKERS)])
            self._styles[label] = st
        return st

    def color(self, label: str) -> str:
        return self[label].color

    def as_dict(self) -> dict[str, str]:
        """``{label: colour}`` of every label styled so far."""
        return {k: v.color for k, v in self._styles.items()}


def rc_params() -> dict:
    """matplotlib settings of every figure (see the module docstring)."""
    from cycler import cycler

    return {
        "font.size": FONT_SIZE, "axes.labelsize": FONT_SIZE, "axes.titlesize": FONT_SIZE,
        "xtick.labelsize": FONT_SIZE, "ytick.labelsize": FONT_SIZE, "legend.fontsize": FONT_SIZE,
        "legend.title_fontsize": FONT_SIZE, "figure.titlesize": FONT_SIZE, "figure.labelsize": FONT_SIZE,
        "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
        "axes.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=list(SETTING_COLORS)),
        "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
        "xtick.major.pad": 2.0, "ytick.major.pad": 2.0,
        "lines.linewidth": 1.0, "lines.markersize": 4.0, "errorbar.capsize": 0,
        "legend.frameon": False, "legend.handlelength": 1.5, "legend.borderaxespad": 0.2,
        "legend.columnspacing": 1.0, "legend.handletextpad": 0.4,
        "figure.dpi": 100, "savefig.dpi": DPI, "savefig.transparent": False,
        "figure.constrained_layout.use": True, "figure.constrained_layout.h_pad": 0.02,
        "figure.constrained_layout.w_pad": 0.02,
        "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "xstilts",
    }


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Draw (and save) figures inside this context: the Agg backend and :func:`rc_params`."""
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(rc_params()):
        yield


def figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs):
    """``(fig, axes)`` of ``width × height`` inches (clipped to :data:`MAX_WIDTH` × :data:`MAX_HEIGHT`), constrained
    layout; call inside :func:`style`."""
    import matplotlib.pyplot as plt

    size = (min(float(width), MAX_WIDTH), min(float(height), MAX_HEIGHT))
    return plt.subplots(nrows, ncols, figsize=size, layout="constrained", **kwargs)


def save(fig, stem: Path | str) -> dict[str, Path]:
    """Write ``<stem>.pdf`` (vector) and ``<stem>.png`` (300 dpi) of *fig* and close it.

    Returns:
        ``{"pdf": path, "png": path}``.
    """
    import matplotlib.pyplot as plt

    stem = Path(stem)
    if stem.suffix in (".png", ".pdf"):
        stem = stem.with_suffix("")
    out = {}
    with style():
        for fmt, meta in (("pdf", {"CreationDate": None, "Creator": "xstilts"}), ("png", {"Software": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
            out[fmt] = atomic_write_bytes(stem.parent / f"{stem.name}.{fmt}", buf.getvalue())
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------------- inspection
def legend_colors(fig) -> dict[str, str]:
    """``{legend label: colour (#rrggbb)}`` of every legend in *fig* (figure and axes legends)."""
    from matplotlib.colors import to_hex

    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    out: dict[str, str] = {}
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            try:
                if hasattr(handle, "get_color"):
                    color = handle.get_color()
                elif hasattr(handle, "get_facecolor"):
                    color = handle.get_facecolor()
                else:
                    continue
                out[text.get_text()] = to_hex(color, keep_alpha=False)
            except (ValueError, TypeError):
                continue
    return out


def font_sizes(fig) -> list[float]:
    """The size in points of every visible, non-empty text of *fig* (tick labels included)."""
    fig.canvas.draw()
    sizes = []
    for t in fig.findobj(match=lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text")):
        if t.get_visible() and t.get_text():
            sizes.append(float(t.get_fontsize()))
    return sizes


# ---------------------------------------------------------------------------------------------- drawing helpers
def points(ax, xs: Sequence[float], ys: Sequence[float], lows: Sequence[float | None] | None,
           highs: Sequence[float | None] | None, style_: Style, *, horizontal: bool = False, markersize: float = 4.0,
           zorder: float = 3) -> tuple[int, int]:
    """Draw points with intervals: a line from low to high where both are known (along x when *horizontal*, else
    along y) and a filled marker; an open marker and no line where the interval is missing.

    Returns:
        ``(with interval, without)`` counts.
    """
    n = len(xs)
    lows = list(lows) if lows is not None else [None] * n
    highs = list(highs) if highs is not None else [None] * n
    have = [lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
            for lo, hi in zip(lows, highs)]
    seg = [(x, y, lo, hi) for x, y, lo, hi, h in zip(xs, ys, lows, highs, have) if h]
    if seg:
        if horizontal:
            ax.hlines([s[1] for s in seg], [s[2] for s in seg], [s[3] for s in seg], colors=style_.color,
                      linewidth=1.0, zorder=zorder - 1)
        else:
            ax.vlines([s[0] for s in seg], [s[2] for s in seg], [s[3] for s in seg], colors=style_.color,
                      linewidth=1.0, zorder=zorder - 1)
    fx = [x for x, h in zip(xs, have) if h]
    fy = [y for y, h in zip(ys, have) if h]
    ox = [x for x, h in zip(xs, have) if not h]
    oy = [y for y, h in zip(ys, have) if not h]
    if fx:
        ax.plot(fx, fy, linestyle="none", marker=style_.marker, color=style_.color, markersize=markersize,
                zorder=zorder)
    if ox:
        ax.plot(ox, oy, linestyle="none", marker=style_.marker, markerfacecolor="white",
                markeredgecolor=style_.color, markeredgewidth=1.0, markersize=markersize, zorder=zorder)
    return len(fx), len(ox)


def setting_handle(label: str, style_: Style, line: bool = True):
    """A legend entry for a setting: its marker (and a line, standing for its interval)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color=style_.color, marker=style_.marker, markersize=4.0,
                  linestyle="-" if line else "none", linewidth=1.0, label=label)


def open_handle(label: str = "no interval"):
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.35", marker="o", markerfacecolor="white", markeredgecolor="0.35",
                  markersize=4.0, linestyle="none", label=label)


def figure_legend(fig, handles: list, ncol: int | None = None) -> None:
    """One legend above the panels (outside them, so it hides no point)."""
    if not handles:
        return
    ncol = ncol or min(len(handles), 3 if fig.get_size_inches()[0] < 4 else 4)
    fig.legend(handles=handles, loc="outside upper center", ncol=ncol, frameon=False)


# ---------------------------------------------------------------------------------------------- per language
@dataclass
class LanguagePoint:
    """A per-language Δ with its interval (``low``/``high`` ``None``: no interval)."""

    delta: float
    low: float | None = None
    high: float | None = None


@dataclass
class Layout:
    """Panels of a per-language plot: ``ncols × nrows`` panels of ``per_panel`` languages each."""

    n: int
    ncols: int
    nrows: int
    per_panel: int
    width: float
    height: float
    row_height: float


def language_layout(n: int, n_series: int = 1, legend_rows: int = 1, panel_rows: int = PANEL_ROWS) -> Layout:
    """The panel layout of a per-language plot of *n* languages and *n_series* settings.

    One panel (one column, 3.3 in wide) up to *panel_rows* languages; beyond, panels side by side (at most 4, 1.6 in
    each: 6.4 in, about the text width of two-column papers), then two rows of panels (more than 4 × *panel_rows*
    languages), with the languages spread evenly over the panels. The row height (0.14 in for one setting, a little more per extra setting,
    ≥ 8 pt labels need about 0.12 in) shrinks only where the height would pass :data:`MAX_HEIGHT`.
    """
    n = max(int(n), 1)
    panels = math.ceil(n / panel_rows)
    ncols = min(panels, 4)
    nrows = math.ceil(panels / ncols)
    per = math.ceil(n / (ncols * nrows))
    row_h = min(0.14 + 0.03 * (max(n_series, 1) - 1), 0.22)
    overhead = 0.42  # per row of panels: x tick labels and spacing
    fixed = 0.25 * max(legend_rows, 0) + 0.22  # legend rows above, the x label below
    if nrows * (per * row_h + overhead) + fixed > MAX_HEIGHT:
        row_h = (MAX_HEIGHT - fixed - nrows * overhead) / (nrows * per)
    height = min(nrows * (per * row_h + overhead) + fixed, MAX_HEIGHT)
    width = COLUMN_WIDTH if ncols == 1 else min(MAX_WIDTH, 1.6 * ncols)
    return Layout(n, ncols, nrows, per, width, max(height, 1.6), row_h)


def language_dot_plot(series: Sequence[tuple[str, Mapping[str, LanguagePoint]]], palette: Palette, xlabel: str,
                      mean_lines: Mapping[str, float] | None = None, panel_rows: int = PANEL_ROWS):
    """Per-language Δ of one or more settings: one row per language, sorted by Δ (largest first; by the mean over
    the settings that have the language), a dot per setting with its interval (a line) where known and an open dot
    without one; a vertical line at 0 and, per setting in *mean_lines*, a dashed line at its mean Δ. Wrapped into
    panels (:func:`language_layout`) that share the Δ axis.

    Returns:
        ``(fig, info)`` with ``info = {"languages": [...] in plot order, "missing": points without an interval,
        "with_interval": ..., "cut": interval ends beyond the Δ axis (drawn to its edge), "layout": Layout}``; ``(None, info)`` when no language has a Δ.
    """
    import numpy as np

    langs: dict[str, list[float]] = {}
    for _, per in series:
        for lang, p in per.items():
            if p is not None and p.delta is not None and math.isfinite(p.delta):
                langs.setdefault(lang, []).append(p.delta)
    order = sorted(langs, key=lambda x: (-float(np.mean(langs[x])), x))
    info: dict = {"languages": order, "missing": 0, "with_interval": 0}
    if not order:
        return None, info
    k = len(series)
    handles = [setting_handle(label, palette[label]) for label, _ in series]
    lay = language_layout(len(order), k, legend_rows=math.ceil((len(handles) + 2) / 3), panel_rows=panel_rows)
    info["layout"] = lay
    fig, axes = figure(lay.width, lay.height, lay.nrows, lay.ncols, sharex=True, squeeze=False)
    # the Δ axis covers every Δ; intervals may extend it by at most the Δs' own range (one very wide interval
    # must not squash the rest): longer ones run to the panel's edge, counted in info["cut"]
    core = [p.delta for _, per in series for p in per.values() if p is not None and p.delta is not None
            and math.isfinite(p.delta)] + [0.0] + [m for m in (mean_lines or {}).values() if m is not None]
    ends = [v for _, per in series for p in per.values() if p is not None and p.delta is not None
            for v in (p.low, p.high) if v is not None and math.isfinite(v)]
    clo, chi = min(core), max(core)
    ext = max(chi - clo, 1.0)
    lo, hi = max(min(core + ends), clo - ext), min(max(core + ends), chi + ext)
    info["cut"] = sum(1 for v in ends if v < lo or v > hi)
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    step = min(0.25, 0.8 / k) if k > 1 else 0.0
    for p_i in range(lay.nrows * lay.ncols):
        ax = axes[p_i // lay.ncols][p_i % lay.ncols]
        chunk = order[p_i * lay.per_panel:(p_i + 1) * lay.per_panel]
        if not chunk:
            ax.set_axis_off()
            continue
        ax.axvline(0.0, color="0.55", linewidth=0.6, zorder=1)
        for label, m in (mean_lines or {}).items():
            if m is not None:
                ax.axvline(m, color=palette.color(label), linestyle="--", linewidth=0.8, zorder=1)
        for s_i, (label, per) in enumerate(series):
            off = (s_i - (k - 1) / 2) * step
            rows = [(r, per[lang]) for r, lang in enumerate(chunk) if lang in per and per[lang] is not None
                    and per[lang].delta is not None and math.isfinite(per[lang].delta)]
            if not rows:
                continue
            w, wo = points(ax, [p.delta for _, p in rows], [r + off for r, _ in rows], [p.low for _, p in rows],
                           [p.high for _, p in rows], palette[label], horizontal=True, markersize=3.5)
            info["with_interval"] += w
            info["missing"] += wo
        ax.set_yticks(range(len(chunk)), chunk)
        ax.set_ylim(lay.per_panel - 0.5, -0.5)  # the same row height in every panel, first language on top
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="x", color="0.9", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.set_xlim(lo - pad, hi + pad)
    fig.supxlabel(xlabel, fontsize=FONT_SIZE)
    if info["missing"]:
        handles.append(open_handle())
    if mean_lines:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="0.35", linestyle="--", linewidth=0.8, label="mean Δ"))
    figure_legend(fig, handles)
    return fig, info


def delta_heatmap(matrix, row_labels: Sequence[str], col_labels: Sequence[str], annotations: Sequence[Sequence[str]],
                  cbar_label: str):
    """Settings × targets Δ as a heatmap (diverging :data:`DIVERGING_CMAP`, symmetric around 0; a cell without a
    value is white with "n/a"); each cell annotated (Δ and its marks). Returns the figure (``None`` when empty)."""
    import numpy as np

    mat = np.asarray(matrix, dtype=float)
    if mat.size == 0 or np.isnan(mat).all():
        return None
    import matplotlib

    nr, nc = mat.shape
    width = min(MAX_WIDTH, max(COLUMN_WIDTH, 1.2 + 0.52 * nc))
    height = min(MAX_HEIGHT, 0.9 + 0.26 * nr + 0.08 * max(len(c) for c in col_labels))
    fig, ax = figure(width, height)
    lim = float(np.nanmax(np.abs(mat))) or 1.0
    cmap = matplotlib.colormaps[DIVERGING_CMAP].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(mat), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(nc), col_labels, rotation=35 if max(len(c) for c in col_labels) > 4 else 0,
                  ha="right" if max(len(c) for c in col_labels) > 4 else "center", rotation_mode="anchor")
    ax.set_yticks(range(nr), row_labels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for r in range(nr):
        for c in range(nc):
            v = mat[r, c]
            if np.isnan(v):
                ax.text(c, r, "n/a", ha="center", va="center", fontsize=FONT_SIZE, color="0.45")
            else:
                ax.text(c, r, annotations[r][c], ha="center", va="center", fontsize=FONT_SIZE,
                        color="white" if abs(v) > 0.6 * lim else "black")
    cb = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
    cb.set_label(cbar_label, fontsize=FONT_SIZE)
    cb.ax.tick_params(labelsize=FONT_SIZE, width=0.6, length=2.5)
    cb.outline.set_linewidth(0.6)
    return fig
