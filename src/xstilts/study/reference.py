"""Published figures to show beside a study's own (``xstilts report STUDY --reference x-stilts``).

A reference is a small JSON file shipped in ``src/xstilts/references/<name>.json`` (or any file given by path)::

    {"name": "x-stilts", "title": "...", "source": "where every number was read", "model": "xlm-roberta-large",
     "split": "dev" | "test",                       # the split the main rows are on
     "metrics": {"xnli": "accuracy", ...},          # the metric of each target column
     "note": "...",
     "rows": {"baseline": {"xnli": 79.0, ..., "avg": ...}, "mnli": {...}, ..., "multi-task": {...}},
     "extra_rows": {"label": {...}}}                # other published rows (their label says what they are)

Row keys are intermediate settings: ``baseline``, a task name, or ``multi-task``; column keys are target task names
plus ``avg`` (the average the publication prints). A number may be ``null`` (not available); rows whose numbers are
all null are not shown. Nothing in a reference is measured by xstilts: reports label its rows as published.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import XstiltsError

#: Row key of the multi-task setting (every intermediate task of the reference trained together).
MULTI_TASK = "multi-task"


def available() -> list[str]:
    """Names of the references shipped with xstilts."""
    try:
        folder = resources.files("xstilts") / "references"
        return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError, ModuleNotFoundError):
        return []


def _read(name_or_path: str) -> tuple[Any, str]:
    p = Path(name_or_path).expanduser()
    if p.suffix == ".json" or p.is_file():
        if not p.is_file():
            raise XstiltsError(f"{p}: reference file not found")
        text, where = p.read_text(encoding="utf-8"), str(p)
    else:
        f = resources.files("xstilts") / "references" / f"{name_or_path}.json"
        if not f.is_file():
            have = ", ".join(available()) or "none"
            raise XstiltsError(f"--reference {name_or_path}: no such reference (shipped: {have}; or give a JSON file)")
        text, where = f.read_text(encoding="utf-8"), f"references/{name_or_path}.json"
    try:
        return json.loads(text), where
    except json.JSONDecodeError as e:
        raise XstiltsError(f"{where}:{e.lineno}: invalid JSON ({e.msg})") from None


def _rows(data: Any, key: str, where: str) -> dict[str, dict[str, float | None]]:
    rows = data.get(key) or {}
    if not isinstance(rows, dict):
        raise XstiltsError(f"{where}: {key}: expected a mapping of row name to {{target: number}}")
    out = {}
    for name, row in rows.items():
        if not isinstance(row, dict):
            raise XstiltsError(f"{where}: {key}.{name}: expected a mapping of target to number or null")
        vals = {}
        for t, v in row.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                if isinstance(v, str):  # a label or note of the row, not a figure
                    continue
                raise XstiltsError(f"{where}: {key}.{name}.{t}: expected a number or null, got {v!r}")
            vals[t] = None if v is None else float(v)
        out[str(name)] = vals
    return out


def load_reference(name_or_path: str) -> dict:
    """A reference by name (``x-stilts``) or JSON file path, checked: ``{"name", "title", "source", "model",
    "split", "metrics", "note", "rows", "extra_rows", "file"}`` with every figure a float or None.

    Raises:
        XstiltsError: unknown name, missing file, invalid JSON, or a field of the wrong shape (named).
    """
    data, where = _read(name_or_path)
    if not isinstance(data, dict):
        raise XstiltsError(f"{where}: expected a JSON object at the top level")
    for key in ("title", "source"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise XstiltsError(f"{where}: {key}: required (a non-empty string: what the figures are and where "
                               f"they were read)")
    split = data.get("split", "test")
    if split not in ("dev", "test"):
        raise XstiltsError(f"{where}: split: expected dev or test, got {split!r}")
    metrics = data.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise XstiltsError(f"{where}: metrics: expected a mapping of target to metric name")
    return {"name": str(data.get("name") or Path(where).stem), "title": data["title"], "source": data["source"],
            "model": data.get("model"), "split": split, "metrics": {str(k): str(v) for k, v in metrics.items()},
            "note": data.get("note") or "", "rows": _rows(data, "rows", where),
            "extra_rows": _rows(data, "extra_rows", where), "file": where}


def row_key(intermediate: tuple[str, ...], reference: dict) -> str | None:
    """The reference row of an intermediate setting: ``baseline`` for none, the task's row for one, ``multi-task``
    for the set of every single-task row of the reference; None when the reference has no such row."""
    rows = reference["rows"]
    if not intermediate:
        return "baseline" if "baseline" in rows else None
    if len(intermediate) == 1:
        return intermediate[0] if intermediate[0] in rows else None
    singles = {k for k in rows if k not in ("baseline", MULTI_TASK)}
    return MULTI_TASK if MULTI_TASK in rows and set(intermediate) == singles else None
