"""``xstilts download``: the real data of XTREME, XTREME-R and the intermediate tasks, written once in the official
file layouts that the task readers read, so that the same configs then run offline (on compute nodes, say).

    xstilts download xtreme                     # the nine XTREME tasks, their English training sets, translate-train
    xstilts download xtreme-r --to /data/xs     # XTREME-R's ten tasks (its 50-language variants), into /data/xs
    xstilts download intermediate               # the nine X-STILTs intermediate tasks
    xstilts download xnli panx --languages de,fr

Each task's data goes to ``<root>/<task.data_subdir>`` (root: ``--to``, else ``xstilts.paths.data_dir()``, the folder
tasks are read from when a config gives no ``data_dir``); ``MANIFEST.json`` in that folder records every source with
the revision used, the split sizes and the sha256 of every file. Running the command again skips what is complete
and verified, and downloads the rest. Each task's sources and their pins are in the task's module (``Task.download``).

The package: :mod:`~xstilts.download.run` (the command: groups, targets, :func:`~xstilts.download.run.download`),
:mod:`~xstilts.download.plan` (the :class:`~xstilts.download.plan.Plan` task modules add their units to),
:mod:`~xstilts.download._core` (units, manifests, atomic folders), :mod:`~xstilts.download._net` (URLs and the hub),
:mod:`~xstilts.download._formats` (writers of the official layouts). This ``__init__`` imports nothing, so that task
modules can import the plan helpers without importing the task registry back.
"""
