"""xstilts: intermediate-task training (STILTs) and zero-shot cross-lingual transfer on XTREME / XTREME-R.

The Python API (:mod:`xstilts.api`): ``xstilts.run(config, **overrides)``, ``xstilts.evaluate(model, tasks)``,
``xstilts.load_results(folder)``, ``xstilts.load_config(path)``, ``xstilts.Study(path)``. Imported on first use, so
``import xstilts`` stays light.
"""

__version__ = "0.1.0"

_API = ("run", "evaluate", "load_results", "load_config", "Study", "RunResult")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'xstilts' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))


__all__ = ["__version__", *_API]
