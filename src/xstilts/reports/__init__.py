"""Reports: what a run or a study produced, as tables and figures.

* :mod:`xstilts.reports.run` — one run: per-language results tables, the baseline-vs-STILTs comparison (``xstilts
  compare``) and its chart;
* :mod:`xstilts.reports.study` — a study (``xstilts report``): the definitions of every table, :class:`Report` and
  :func:`build_report`; built from :mod:`~xstilts.reports.cells` (the study's results as cells and groups),
  :mod:`~xstilts.reports.analysis` (means, paired deltas, intervals and tests) and :mod:`~xstilts.reports.tables`
  (markdown, CSV, LaTeX);
* :mod:`xstilts.reports.figures` — the figures' shared style and plots (PDF and 300 dpi PNG).
"""
