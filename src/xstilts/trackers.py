"""Training curves through accelerate's trackers (config ``trackers``): the pipeline creates each training phase's
Accelerator with ``log_with=resolve_trackers(...)`` and ``project_dir=<phase folder>/logs``, then
start_trackers / train (loss, lr, step every ``log_every`` steps) / log_eval_metrics / end_trackers."""

from __future__ import annotations

from .errors import XstiltsError

#: Packages that provide each tracker (accelerate's own test: any of them importable).
TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",),
                    "comet_ml": ("comet_ml",), "aim": ("aim",), "clearml": ("clearml",), "dvclive": ("dvclive",),
                    "swanlab": ("swanlab",), "trackio": ("trackio",)}


def _installed(name: str) -> bool:
    import importlib.util

    return any(importlib.util.find_spec(p) is not None for p in TRACKER_PACKAGES.get(name, (name,)))


def resolve_trackers(names: list[str]) -> list[str]:
    """accelerate ``log_with`` names for the config's ``trackers``: ``auto`` = tensorboard when installed (else
    none), ``all`` = every installed tracker, a name = that tracker; ``[]`` = none.

    Raises:
        XstiltsError: a tracker asked for by name is not installed (one line, with the package to install).
    """
    out: list[str] = []
    for name in names:
        if name == "auto":
            found = [x for x in ("tensorboard",) if _installed(x)]
        elif name == "all":
            found = [x for x in TRACKER_PACKAGES if _installed(x)]
        elif _installed(name):
            found = [name]
        else:
            from .deps import EXTRAS, install_hint

            pkg = install_hint(name) if name in EXTRAS else \
                "pip install " + " or ".join(TRACKER_PACKAGES.get(name, (name,)))
            raise XstiltsError(f"trackers: {name} is not installed ({pkg}), or leave it out of trackers")
        out += [x for x in found if x not in out]
    return out


def _flat(config: dict, prefix: str = "") -> dict:
    """A nested config as ``{dotted key: bool | int | float | str}`` (what every tracker stores)."""
    import json

    out: dict = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        elif isinstance(v, (bool, int, float, str)):
            out[key] = v
        else:
            out[key] = "none" if v is None else json.dumps(v, ensure_ascii=False, default=str)
    return out


def start_trackers(accelerator, run_name: str, config: dict) -> None:
    """``accelerator.init_trackers`` for one phase (no-op without trackers): project ``xstilts``, *run_name* (the
    phase folder's name) for the trackers that name runs, *config* flattened as the run's hyperparameters."""
    if not getattr(accelerator, "log_with", None):
        return
    accelerator.init_trackers("xstilts", config=_flat(config), init_kwargs={
        "wandb": {"name": run_name}, "mlflow": {"run_name": run_name}, "aim": {"run_name": run_name}})


def log_eval_metrics(accelerator, split: str, scores: dict, step: int) -> None:
    """Log ``{task label: {language: {metric: value}}}`` as ``<split>/<label>/<language>/<metric>`` at *step*."""
    if not getattr(accelerator, "trackers", None):
        return
    values = {f"{split}/{label}/{lang}/{metric}": float(v) for label, langs in scores.items()
              for lang, ms in langs.items() for metric, v in ms.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool) and metric != "n"}
    if values:
        accelerator.log(values, step=step)


def end_trackers(accelerator) -> None:
    """Close the phase's trackers (flush their files before the phase folder is renamed). Like
    ``accelerator.end_training()`` without its destruction of the process group, which later phases of a
    data-parallel run still use."""
    for tracker in getattr(accelerator, "trackers", None) or []:
        tracker.finish()
    if getattr(accelerator, "trackers", None):
        accelerator.trackers = []
