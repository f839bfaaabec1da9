"""Training checkpoints that survive preemption: written atomically, verified by hash, the last K kept.

A checkpoint is a folder ``step-00000042/`` holding ``model.pt`` (encoder + heads), ``optim.pt`` (optimizer and
scheduler), ``state.pt`` (step, RNG states, sampler positions, loss curve) and ``MANIFEST.json`` (sha256 and size of
each file). It is built under a temporary name and renamed, so a folder with a manifest is complete; a checkpoint
whose files do not match their manifest (truncated, corrupted) is skipped with a warning and the previous one used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from .io import atomic_dir, atomic_write_json

MANIFEST = "MANIFEST.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(folder: Path, step: int, payload: dict[str, Any], keep: int = 2) -> Path:
    """Write ``payload`` (``{"model": ..., "optim": ..., "state": ...}``, each saved with ``torch.save``) as
    ``folder/step-<step>/`` atomically, then delete all but the newest *keep* checkpoints."""
    folder = Path(folder)
    final = folder / f"step-{step:08d}"
    with atomic_dir(final) as tmp:
        files = {}
        for name, obj in payload.items():
            path = tmp / f"{name}.pt"
            torch.save(obj, path)
            files[path.name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        atomic_write_json(tmp / MANIFEST, {"step": step, "files": files})
    for old in list_checkpoints(folder)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders, newest first (partial temporary folders are not listed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("step-*") if p.is_dir() and not p.name.endswith(".partial")), reverse=True)


def verify(ckpt: Path) -> str | None:
    """``None`` if every file of *ckpt* matches its manifest, else what is wrong."""
    man = ckpt / MANIFEST
    if not man.is_file():
        return "no manifest"
    try:
        files = json.loads(man.read_text())["files"]
    except (ValueError, KeyError) as e:
        return f"unreadable manifest ({e})"
    for name, meta in files.items():
        p = ckpt / name
        if not p.is_file():
            return f"{name} is missing"
        if p.stat().st_size != meta["bytes"]:
            return f"{name} has {p.stat().st_size} bytes, the manifest says {meta['bytes']}"
        if _sha256(p) != meta["sha256"]:
            return f"{name} does not match its sha256"
    return None


def load_latest(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that verifies, loaded (``{"model", "optim", "state"}``), or None.

    Corrupt or partial checkpoints are skipped with a warning naming them and what is wrong.
    """
    for ckpt in list_checkpoints(folder):
        problem = verify(ckpt)
        if problem:
            warnings.warn(f"checkpoint {ckpt} is unusable ({problem}); trying the previous one", stacklevel=2)
            continue
        try:
            return ckpt, {p.stem: torch.load(p, map_location="cpu", weights_only=False)
                          for p in sorted(ckpt.glob("*.pt"))}
        except Exception as e:  # a file that hashes right but does not load: treat as corrupt
            warnings.warn(f"checkpoint {ckpt} could not be loaded ({e}); trying the previous one", stacklevel=2)
    return None


def required_bytes(model: torch.nn.Module, keep: int) -> int:
    """Disk needed for *keep* checkpoints (+1 being written): weights + two AdamW moments per trainable weight."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    moments = sum(p.numel() * 4 * 2 for p in model.parameters() if p.requires_grad)
    return (keep + 1) * (weights + moments)
