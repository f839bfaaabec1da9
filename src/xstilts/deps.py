"""Optional dependencies: the ``pip install 'xstilts[<extra>]'`` extra that provides each, and one-line errors naming it.

The extras (see ``pyproject.toml``): ``slurm`` (submitit: studies on SLURM), ``provision`` (pysword: the SWORD
Bibles of ``xstilts provision``), ``lora`` (peft: ``model.lora``), ``qlora`` (peft + bitsandbytes:
``model.load_in_4bit``), ``tracking`` (tensorboard: training curves), ``test`` (what the test suite needs).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import XstiltsError

#: Import name -> (distribution on PyPI, extra of xstilts that installs it).
EXTRAS: dict[str, tuple[str, str]] = {
    "submitit": ("submitit", "slurm"),
    "pysword": ("pysword", "provision"),
    "peft": ("peft", "lora"),
    "bitsandbytes": ("bitsandbytes", "qlora"),
    "tensorboard": ("tensorboard", "tracking"),
    "tensorboardX": ("tensorboardX", "tracking"),
}


class MissingExtra(XstiltsError):
    """An optional package is not installed; the message names the extra that installs it (one line, exit 2)."""


def install_hint(module: str, extra: str | None = None) -> str:
    """``pip install 'xstilts[<extra>]'`` for *module* (or ``pip install <package>`` when no extra provides it)."""
    top = module.split(".")[0]
    extra = extra or EXTRAS.get(top, (top, None))[1]
    return f"pip install 'xstilts[{extra}]'" if extra else f"pip install {EXTRAS.get(top, (top,))[0]}"


def available(module: str) -> bool:
    """Whether *module* can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, extra: str | None = None, why: str | None = None) -> ModuleType:
    """Import and return *module*; if it is not installed, raise :class:`MissingExtra` naming the extra.

    Args:
        extra: the extra that provides it (default: from :data:`EXTRAS`).
        why: what needs it, for the message (e.g. ``"model.lora (LoRA training)"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        missing = (getattr(e, "name", None) or "").split(".")[0]
        if missing and missing != top:  # the package is there but one of *its* dependencies is not
            raise MissingExtra(f"{why or top} needs {top}, which could not be imported ({e}); "
                               f"{install_hint(module, extra)} installs it with its dependencies") from None
        dist = EXTRAS.get(top, (top,))[0]
        raise MissingExtra(f"{why or top} needs the optional package `{dist}`, which is not installed: "
                           f"{install_hint(module, extra)}") from None
