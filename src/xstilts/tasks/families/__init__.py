"""Task families: the code that all tasks of one kind share (featurisation, head, loss, decoding, metric, prediction
and label files for a trainable family; ``evaluate`` from embeddings for an embedding family), and the readers of the
formats several data sets use (SQuAD JSON, CoNLL-U, Tatoeba line files, ...).

Two protocols (:mod:`xstilts.tasks.base`): :class:`~xstilts.tasks.base.TrainableFamily` and
:class:`~xstilts.tasks.base.EmbeddingFamily`. A family module calls :func:`xstilts.tasks.register_family` on import;
every module of this package is imported with the registry, so a new kind of task is a new module here, and its tasks
are modules of :mod:`xstilts.tasks` (one per task or data set).
"""

from __future__ import annotations

import importlib
import pkgutil


def _import_family_modules() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_family_modules()
