"""The formatting of a study report's tables: numbers with their marks; a table as markdown, CSV and LaTeX."""

from __future__ import annotations

import math
import re
from typing import Any


from .cells import (DAGGER, DDAGGER)
from .analysis import (Entry)


# ---------------------------------------------------------------------------------------------- formatting
def _f(x: float | None, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.2f}" if sign else f"{x:.2f}"


def _sig(x: Any) -> bool:
    if x is None:
        return False
    if isinstance(x, dict):
        return bool(x.get("significant"))
    return bool(x.significant)


def _lo_hi(x: Any) -> tuple[float | None, float | None]:
    if x is None:
        return None, None
    if isinstance(x, dict):
        return x.get("low"), x.get("high")
    return x.low, x.high


def _pval(x: Any) -> float | None:
    """The p-value of an interval (its ``detail``) or of a per-language dict."""
    if x is None:
        return None
    if isinstance(x, dict):
        return x.get("p_value")
    return x.detail.get("p_value")


def _marks(e: Entry) -> str:
    """† the interval over examples excludes 0; ‡ the t-test over seeds rejects (its interval excludes 0)."""
    return (DAGGER if _sig(e.ci_examples) else "") + (DDAGGER if _sig(e.ci_seeds) else "")


def _lang_marks(e: Entry, alpha: float) -> str:
    """The marks of a per-language cell: Benjamini–Hochberg adjusted p-values below *alpha*."""
    return ((DAGGER if e.q_examples is not None and e.q_examples < alpha else "")
            + (DDAGGER if e.q_seeds is not None and e.q_seeds < alpha else ""))


def _p(x: float | None) -> str:
    """A p-value: 3 significant digits, ``< 0.001`` below."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def _cell_text(e: Entry | None, with_std: bool = True) -> tuple[str, bool]:
    if e is None:
        return "—", False
    if e.mean is None:
        return e.note or "—", False
    txt = f"{e.mean:.2f}" + (f" ± {e.std:.2f}" if with_std and len(e.values) > 1 else "")
    if e.delta is not None:
        txt += f" ({_f(e.delta, True)}{_marks(e)}{'' if e.paired else ', unpaired'})"
    return txt, e.best


class Table:
    """A rendered table: title, header and rows of ``(text, bold)`` cells, plus an optional note."""

    def __init__(self, title: str, header: list[str], rows: list[list[tuple[str, bool]]], note: str = "",
                 align: str | None = None):
        self.title, self.header, self.rows, self.note = title, header, rows, note
        self.align = align or ("l" + "r" * (len(header) - 1))

    def markdown(self) -> str:
        def md(c):
            text = c[0].replace("|", "\\|")
            return f"**{text}**" if c[1] and text not in ("", "—") else text

        out = [f"#### {self.title}", "", "| " + " | ".join(h.replace("|", "\\|") for h in self.header) + " |",
               "|" + "|".join("---" if a == "l" else "---:" for a in self.align) + "|"]
        out += ["| " + " | ".join(md(c) for c in r) + " |" for r in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out) + "\n"

    def latex(self) -> str:
        def tex(c):
            t = latex_escape(c[0])
            return f"\\textbf{{{t}}}" if c[1] and c[0] not in ("", "—") else t

        out = ["\\begin{table}[ht]", "\\centering", "\\small", f"\\caption{{{latex_escape(self.title)}}}",
               f"\\begin{{tabular}}{{{self.align}}}", "\\toprule",
               " & ".join(latex_escape(h) for h in self.header) + " \\\\", "\\midrule"]
        out += [" & ".join(tex(c) for c in r) + " \\\\" for r in self.rows]
        out += ["\\bottomrule", "\\end{tabular}"]
        if self.note:
            out.append(f"\\par\\smallskip{{\\footnotesize {latex_escape(self.note)}}}")
        out.append("\\end{table}")
        return "\n".join(out) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "Δ": r"$\Delta$",
        DAGGER: r"$^{\dagger}$", DDAGGER: r"$^{\ddagger}$", "—": "---", "≥": r"$\geq$", "≤": r"$\leq$",
        "×": r"$\times$", "<": r"$<$", ">": r"$>$", "τ": r"$\tau$", "→": r"$\rightarrow$", "²": r"$^2$", "−": "-", "…": r"\ldots{}",
        "’": "'"}


def latex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()
    return s[:80] or "x"
