"""Studies: experiment grids over models, intermediate task sets, data sizes, compute budgets, targets and seeds.

A study file (YAML, see ``studies/demo.yaml``) declares axes and fixed settings; :func:`~xstilts.study.grid.expand`
turns it into **cells**, each a fully resolved :class:`~xstilts.config.ExperimentConfig` with one seed (plus one
automatic no-intermediate baseline cell per model, target and seed). ``xstilts study run FILE`` runs the cells that
are missing or failed with a local or submitit executor, sharing phase folders through one store with plain runs
and other studies (``<output_dir>/phases``: one intermediate checkpoint serves every target that starts from it, and
a cell whose phases exist trains nothing), and records every run and score in ``<study folder>/results.sqlite``
(:class:`~xstilts.study.db.ResultsDB`), which ``xstilts results`` and ``xstilts report`` read.

Modules: :mod:`.spec` (the study file, ``extends``), :mod:`.grid` (expansion, phase keys, settings, token budgets,
cost estimate), :mod:`.executors` (running cells), :mod:`.db` (the results database, scores by split), :mod:`.cli`
(``xstilts study ...`` and ``xstilts results``), :mod:`.report` (``xstilts report``), :mod:`.reference` (published
figures).
"""

from .db import ResultsDB
from .grid import Cell, expand
from .spec import Study, StudySpec, load_study

__all__ = ["Cell", "ResultsDB", "Study", "StudySpec", "expand", "load_study"]
