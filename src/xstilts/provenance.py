"""What a run and each phase were computed from: model commit or weight digests, data revisions or file digests,
library versions, device and dtype (``provenance`` in ``run.json`` and every phase's ``metrics.json``).

File digests (SHA-256) are computed once per file version: they are kept by (path, size, modification time) in
memory and in ``<cache>/digests/``, so a multi-gigabyte checkpoint is hashed the first time it is used only.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .io import atomic_write_text, stable_hash
from .paths import cache_dir

_MEMO: dict[tuple, str] = {}
_CHUNK = 1 << 22


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's content, computed once per (path, size, modification time)."""
    path = Path(path)
    key = _stat_key(path)
    if key in _MEMO:
        return _MEMO[key]
    store = cache_dir() / "digests" / f"{stable_hash(list(key), 32)}.sha256"
    try:
        digest = store.read_text(encoding="ascii").strip()
        if len(digest) == 64:
            _MEMO[key] = digest
            return digest
    except OSError:
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    _MEMO[key] = digest
    try:
        atomic_write_text(store, digest + "\n")
    except OSError:  # a read-only cache: the digest is still kept in memory
        pass
    return digest


def folder_files(folder: str | Path) -> dict[str, dict]:
    """``{file name: {"size", "sha256"}}`` of the regular files directly in a model folder (weights, config,
    tokenizer; hidden files left out)."""
    folder = Path(folder)
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            out[p.name] = {"size": p.stat().st_size, "sha256": file_sha256(p)}
    return out


def folder_digest(folder: str | Path) -> str:
    """One SHA-256 over the names and content digests of :func:`folder_files`."""
    files = folder_files(folder)
    return hashlib.sha256("".join(f"{name}\t{v['sha256']}\n" for name, v in files.items()).encode()).hexdigest()


def files_record(paths: list[Path], root: Path | None = None) -> dict:
    """Digest of the data files a task read: ``{"files": [{"path", "size", "sha256"}], "sha256": over them}``
    (paths relative to *root* where they are inside it)."""
    rows = []
    for p in sorted(set(Path(x) for x in paths)):
        try:
            rel = str(p.resolve().relative_to(root.resolve())) if root is not None else str(p)
        except ValueError:
            rel = str(p)
        try:
            rows.append({"path": rel, "size": p.stat().st_size, "sha256": file_sha256(p)})
        except OSError:
            rows.append({"path": rel, "size": None, "sha256": None})
    combined = hashlib.sha256("".join(f"{r['path']}\t{r['sha256']}\n" for r in rows).encode()).hexdigest()
    return {"files": rows, "sha256": combined}


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit() -> dict | None:
    """``{"commit", "dirty"}`` of the git checkout xstilts runs from, or None (an installed package, no git)."""
    here = Path(__file__).resolve().parent
    root = next((p for p in (here, *here.parents) if (p / ".git").exists()), None)
    if root is None:
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Versions of Python and of the libraries a result depends on, and the git commit of a checkout."""
    from . import __version__

    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for dist in ("torch", "transformers", "datasets", "accelerate", "peft", "tokenizers", "huggingface_hub"):
        env[dist] = _version(dist)
    env["xstilts"] = __version__
    env["git"] = git_commit()
    return env


def device_record(device: str = "auto") -> dict[str, Any]:
    """The device a phase runs on: ``{"type", "name", "count"}`` (the GPU's name on CUDA)."""
    import torch

    from .models.backbone import pick_device

    try:
        dev = pick_device(device)
    except Exception:  # noqa: BLE001 - provenance never fails a run
        return {"type": device}
    out: dict[str, Any] = {"type": dev.type}
    if dev.type == "cuda":
        out["name"] = torch.cuda.get_device_name(dev.index or 0)
        out["count"] = torch.cuda.device_count()
        out["cuda"] = torch.version.cuda
    else:
        out["name"] = platform.processor() or platform.machine()
        out["threads"] = torch.get_num_threads()
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > 1:
        out["processes"] = world
    return out
