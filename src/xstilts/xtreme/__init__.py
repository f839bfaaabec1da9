"""The XTREME and XTREME-R benchmarks: the one place for their definitions.

* :mod:`xstilts.xtreme.benchmark` — the benchmarks' tasks, languages, categories and scores (the XTREME score, the
  XTREME-R score), collecting a run's per-task results and writing them as a submission;
* :mod:`xstilts.xtreme.official` — google-research/xtreme ``evaluate.py`` re-implemented (its task groups, language
  lists and scorers), scoring a submission folder as the official script does;
* :mod:`xstilts.xtreme.submissions` — submission folders in the official formats, written for the cases that
  ``scripts/check_official_eval.py`` scores with the real script.

Everything else about a task (its reader, languages as its data set names them, metric, ...) is in its own module
in :mod:`xstilts.tasks`.
"""
