"""Published figures to show beside a study's own (``xstilts report STUDY --reference x-stilts``).

A reference is a small JSON file shipped in ``src/xstilts/references/<name>.json`` (or any file given by path)::

    {"name": "x-stilts", "title": "the publication", "note": "...", "model": "xlm-roberta-large",
     "metrics": {"xnli": "accuracy", ...},             # the metric of each target column
     "rows": [{"label": "XLM-R large (published)",    # what the row is
               "setting": "baseline",                 # baseline | an intermediate task name | multi-task | other text
               "split": "test",                       # dev | test
               "source": "where these numbers were read",
               "scores": {"xnli": 79.2, ..., "avg": null}}, ...]}

The older mapping form is read too: top-level ``source`` and ``split``, ``rows: {setting: {target: number}}`` and
``extra_rows: {label: {target: number}}``. Column keys are target task names plus ``avg`` (the average the
publication prints); a number may be ``null`` (not available) and other keys (``xquad_em``) are kept but not shown.
Rows whose numbers are all null are not shown. Nothing in a reference is measured by xstilts: reports label its rows
as published, with their source.
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


def _scores(row: Any, where: str) -> dict[str, float | None]:
    if not isinstance(row, dict):
        raise XstiltsError(f"{where}: expected a mapping of target to number or null")
    vals = {}
    for t, v in row.items():
        if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
            vals[str(t)] = None if v is None else float(v)
        elif not isinstance(v, str):  # a string is a label or note of the row, not a figure
            raise XstiltsError(f"{where}.{t}: expected a number or null, got {v!r}")
    return vals


def _rows(data: dict, where: str) -> list[dict]:
    """Every row as ``{"label", "setting", "split", "source", "scores"}`` (both file forms)."""
    split, source = data.get("split"), data.get("source") or ""
    rows = data.get("rows") or []
    out = []
    if isinstance(rows, dict):  # {setting: {target: number}} (+ extra_rows {label: {...}})
        for name, row in rows.items():
            out.append({"label": str(name), "setting": str(name), "split": split, "source": source,
                        "scores": _scores(row, f"{where}: rows.{name}")})
        extra = data.get("extra_rows") or {}
        if not isinstance(extra, dict):
            raise XstiltsError(f"{where}: extra_rows: expected a mapping of label to {{target: number}}")
        for name, row in extra.items():
            out.append({"label": str(name), "setting": None, "split": (row or {}).get("split", split)
                        if isinstance(row, dict) else split, "source": source,
                        "scores": _scores(row, f"{where}: extra_rows.{name}")})
    elif isinstance(rows, list):
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get("scores"), dict):
                raise XstiltsError(f"{where}: rows.{i}: expected {{label, setting, split, source, scores}}")
            out.append({"label": str(row.get("label") or row.get("setting") or f"row {i + 1}"),
                        "setting": row.get("setting"), "split": row.get("split", split),
                        "source": row.get("source") or source, "scores": _scores(row["scores"],
                                                                                   f"{where}: rows.{i}.scores")})
    else:
        raise XstiltsError(f"{where}: rows: expected a list of rows (or a mapping of setting to figures)")
    for i, r in enumerate(out):
        if r["split"] not in ("dev", "test"):
            raise XstiltsError(f"{where}: rows.{i} ({r['label']}): split: expected dev or test, got {r['split']!r}")
    return out


def load_reference(name_or_path: str) -> dict:
    """A reference by name (``x-stilts``) or JSON file path, checked and in one form: ``{"name", "title", "note",
    "model", "metrics", "source", "rows": [{"label", "setting", "split", "source", "scores"}], "file"}`` with every
    figure a float or None.

    Raises:
        XstiltsError: unknown name, missing file, invalid JSON, or a field of the wrong shape (named).
    """
    data, where = _read(name_or_path)
    if not isinstance(data, dict):
        raise XstiltsError(f"{where}: expected a JSON object at the top level")
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        raise XstiltsError(f"{where}: title: required (a non-empty string: the publication)")
    metrics = data.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise XstiltsError(f"{where}: metrics: expected a mapping of target to metric name")
    rows = _rows(data, where)
    for i, r in enumerate(rows):
        if not r["source"]:
            raise XstiltsError(f"{where}: rows.{i} ({r['label']}): source: required (where the figures were read)")
    return {"name": str(data.get("name") or Path(where).stem), "title": data["title"], "note": data.get("note") or "",
            "model": data.get("model"), "metrics": {str(k): str(v) for k, v in metrics.items()},
            "source": data.get("source") or "", "rows": rows, "file": where}


def row_key(intermediate: tuple[str, ...], reference: dict) -> str | None:
    """The reference setting of an intermediate setting: ``baseline`` for none, the task's name for one,
    ``multi-task`` for a set of every single-task setting of the reference (or of two or more tasks when the
    reference has no single-task rows); None when the reference has no row for it."""
    have = {r["setting"] for r in reference["rows"] if r["setting"]}
    if not intermediate:
        return "baseline" if "baseline" in have else None
    if len(intermediate) == 1:
        return intermediate[0] if intermediate[0] in have else None
    from ..tasks import INTERMEDIATE, get_task

    def is_task(name: str) -> bool:
        try:
            return INTERMEDIATE in get_task(name).roles
        except Exception:  # noqa: BLE001 - not a task name
            return False

    singles = {k for k in have if k not in ("baseline", MULTI_TASK) and is_task(k)}
    if MULTI_TASK in have and (not singles or set(intermediate) == singles):
        return MULTI_TASK
    return None
