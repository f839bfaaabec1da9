"""Atomic file writes and stable hashing: a killed run never leaves half a result."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex SHA-256 prefix of the canonical JSON of *obj* (sorted keys; paths and other objects via ``str``)."""
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask is process-wide and not safe to toggle from threads


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write *data* to a temporary file beside *path*, fsync it, then rename it over *path*.

    The file gets the usual permissions of a new file (0666 less the umask), not ``mkstemp``'s 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Atomically write UTF-8 *text* to *path* (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write *obj* as indented UTF-8 JSON."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it to *final* only if the block succeeds.

    Yields the temporary folder. On an exception the temporary folder is removed and *final* is untouched,
    so a folder named *final* is always complete. An existing *final* is replaced.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def resumable_dir(final: str | Path, keep_on_error: str = "train_state") -> Iterator[Path]:
    """Like :func:`atomic_dir`, but the work folder has a fixed name (``.<name>.partial``) so that a killed or failed
    attempt can be resumed: on an exception the work folder is kept if its *keep_on_error* subfolder holds anything
    (training checkpoints), else removed. On success *keep_on_error* is deleted and the folder renamed to *final*.
    """
    final = Path(final)
    work = final.parent / f".{final.name}.partial"
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    except BaseException:
        keep = work / keep_on_error
        if not (keep.is_dir() and any(keep.iterdir())):
            shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work / keep_on_error, ignore_errors=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)
