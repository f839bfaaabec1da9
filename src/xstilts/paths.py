"""Where xstilts keeps provisioned models, data and caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache folder: ``$XSTILTS_CACHE``, else ``$XDG_CACHE_HOME/xstilts``, else ``~/.cache/xstilts``."""
    env = os.environ.get("XSTILTS_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "xstilts"


def models_dir() -> Path:
    """Provisioned models: ``<cache>/models/<org>--<name>`` (hub id with ``/`` replaced by ``--``)."""
    return cache_dir() / "models"


def data_dir() -> Path:
    """Provisioned and user data sets: ``<cache>/data/<dataset>``."""
    return cache_dir() / "data"


def model_cache_path(hub_id: str) -> Path:
    """The folder where ``xstilts prepare`` puts the model known on the hub as *hub_id*."""
    return models_dir() / hub_id.replace("/", "--")


def looks_like_path(name: str) -> bool:
    """Whether a ``model.name_or_path`` value is meant as a folder rather than a hub id: it starts with ``.``, ``/``
    or ``~``, or has path separators where a hub id (``org/name``) has none."""
    if name.startswith((".", "~", os.sep)) or (os.altsep and os.altsep in name) or "\\" in name:
        return True
    return name.count("/") > 1 or name.endswith("/")
