"""Shared helpers for provisioning: tool checks, subprocesses, atomic folders."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class MissingTool(RuntimeError):
    """A program or module needed to provision an item is not available.

    ``str(err)`` is one line naming the tool and how to install it."""


class ProvisionError(RuntimeError):
    """Provisioning failed for another reason (download, checksum, parse)."""


def require(tool: str, install: str, *, why: str) -> str:
    """Return the full path of *tool*; raises :class:`MissingTool` naming it
    and the *install* command when it is not on ``PATH``."""
    path = shutil.which(tool)
    if path is None:
        raise MissingTool(f"`{tool}` not found (needed {why}); install it with: {install}")
    return path


def run(cmd: Sequence[str], *, cwd: Path | None = None) -> str:
    """Run *cmd* and return its stdout; raises :class:`ProvisionError` with the
    command and the tail of its stderr when it fails."""
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ProvisionError(f"`{' '.join(map(str, cmd))}` failed ({proc.returncode}): {tail}")
    return proc.stdout


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of the file at *path*."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to *final*; when the block ends
    without an exception it replaces *final* (``os.replace``), otherwise it is
    deleted and the exception propagates, so *final* is never half-written."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    for p in (tmp, old):
        shutil.rmtree(p, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():  # os.replace cannot replace a non-empty folder
            os.replace(final, old)
        try:
            os.replace(tmp, final)
        except OSError:
            if old.exists():
                os.replace(old, final)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
