"""Training checkpoints that survive preemption: written atomically, verified by hash, the last K kept; no pickles.

A checkpoint is a folder ``step-00000042/`` holding, for each part of the payload (``model``: encoder + heads,
``optim``: optimizer and scheduler, ``state``: step, RNG states, sampler positions, loss curve, and ``best``: the
weights model selection keeps), ``<part>.safetensors`` (its tensors) and ``<part>.json`` (everything else, with
references to the tensors), plus ``MANIFEST.json`` (format, sha256 and size of each file). Nothing is pickled and
nothing is loaded with ``torch.load``: loading a checkpoint, even from someone else's run folder, cannot run code.
Python's ``random`` state is a JSON list, numpy's and torch's generator states are tensors (:func:`encode`).

A checkpoint is built under a temporary name and renamed, so a folder with a manifest is complete; a checkpoint
whose files do not match their manifest (truncated, corrupted) is skipped with a warning and the previous one used.
A checkpoint of an older xstilts (``model.pt``... pickles) or any pickle found in a checkpoint folder is refused
with a one-line :class:`~xstilts.errors.XstiltsError`.

Task heads of a finished phase are stored the same way (:func:`save_heads`, :func:`load_heads`):
``heads.safetensors`` and ``heads.json`` (per head label: task, kind and the name, shape and dtype of each tensor).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from .errors import XstiltsError
from .io import atomic_dir, atomic_write_bytes, atomic_write_json

MANIFEST = "MANIFEST.json"
#: Version of the checkpoint layout (``MANIFEST.json`` ``format``); 1 (no ``format`` key) was torch.save pickles.
FORMAT = 2
#: File name endings of pickles (torch.save, pickle, joblib), refused in a checkpoint folder.
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".joblib")
#: Python int lists at least this long are stored as int64 tensors (sampler permutations), not JSON.
_INT_LIST_MIN = 256
_TAGS = ("__tensor__", "__ndarray__", "__tuple__", "__dict__", "__float__", "__intlist__")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------ tensors + JSON, no pickle
def encode(obj: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split *obj* (nested dicts, lists, tuples, tensors, numpy arrays, numbers, strings, None) into a JSON-able
    structure and a flat dict of CPU tensors for safetensors; :func:`decode` rebuilds *obj* exactly (tuples stay
    tuples, int dict keys stay ints, numpy arrays keep their dtype, NaN and infinities are kept).

    Raises:
        TypeError: an object of another type (naming where it is), so that nothing is silently dropped.
    """
    tensors: dict[str, torch.Tensor] = {}
    storages: set[tuple[int, int]] = set()

    def put(path: str, t: torch.Tensor) -> str:
        name, n = path or "tensor", 1
        while name in tensors:
            n += 1
            name = f"{path}#{n}"
        t = t.detach().to("cpu").contiguous()
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if t.numel() and key in storages:  # shared storage (tied weights): safetensors wants one owner per storage
            t = t.clone()
        elif t.numel():
            storages.add(key)
        tensors[name] = t
        return name

    def enc(x: Any, path: str) -> Any:
        if isinstance(x, torch.Tensor):
            return {"__tensor__": put(path, x)}
        if type(x).__module__ == "numpy":
            import numpy as np

            if isinstance(x, np.ndarray):
                wide = x.astype(np.int64) if x.dtype.kind in "ui" and x.dtype.itemsize <= 4 else x
                return {"__ndarray__": put(path, torch.from_numpy(np.ascontiguousarray(wide))),
                        "dtype": x.dtype.str}
            if isinstance(x, np.generic):
                return enc(x.item(), path)
        if x is None or isinstance(x, (bool, int, str)):
            return x
        if isinstance(x, float):
            return x if math.isfinite(x) else {"__float__": repr(x)}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v, f"{path}/{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            if len(x) >= _INT_LIST_MIN and all(type(v) is int for v in x):
                try:
                    return {"__intlist__": put(path, torch.tensor(x, dtype=torch.int64))}
                except (OverflowError, RuntimeError):
                    pass
            return [enc(v, f"{path}/{i}") for i, v in enumerate(x)]
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x) and not any(k in _TAGS for k in x):
                return {k: enc(v, f"{path}/{k}" if path else k) for k, v in x.items()}
            return {"__dict__": [[enc(k, f"{path}/key{i}"), enc(v, f"{path}/{k}")]
                                 for i, (k, v) in enumerate(x.items())]}
        raise TypeError(f"cannot store a {type(x).__name__} at {path or 'the top level'} without pickling it")

    return enc(obj, ""), tensors


def decode(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The object :func:`encode` split into *data* (JSON) and *tensors*."""
    if isinstance(data, list):
        return [decode(v, tensors) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tensor__" in data:
        return tensors[data["__tensor__"]]
    if "__ndarray__" in data:
        import numpy as np

        return tensors[data["__ndarray__"]].numpy().astype(np.dtype(data["dtype"]))
    if "__intlist__" in data:
        return tensors[data["__intlist__"]].tolist()
    if "__tuple__" in data:
        return tuple(decode(v, tensors) for v in data["__tuple__"])
    if "__float__" in data:
        return float(data["__float__"])
    if "__dict__" in data:
        return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in data["__dict__"]}
    return {k: decode(v, tensors) for k, v in data.items()}


def _hashable(k: Any) -> Any:
    return tuple(_hashable(x) for x in k) if isinstance(k, list) else k


def _write_part(folder: Path, name: str, obj: Any) -> list[Path]:
    """``<name>.safetensors`` + ``<name>.json`` in *folder*."""
    from safetensors.torch import save_file

    try:
        data, tensors = encode(obj)
    except TypeError as e:
        raise TypeError(f"checkpoint part {name!r}: {e}") from None
    st = folder / f"{name}.safetensors"
    save_file(tensors, str(st), metadata={"format": "xstilts", "part": name})
    js = atomic_write_bytes(folder / f"{name}.json", json.dumps(data, allow_nan=False).encode("utf-8"))
    return [st, js]


def _read_part(folder: Path, name: str) -> Any:
    from safetensors.torch import load_file

    tensors = load_file(str(folder / f"{name}.safetensors"), device="cpu")
    return decode(json.loads((folder / f"{name}.json").read_text(encoding="utf-8")), tensors)


def _looks_pickled(path: Path) -> bool:
    """A pickle by its name or its first bytes (pickle protocol ≥ 2 starts with 0x80; torch.save writes a zip)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head[:1] == b"\x80" or head == b"PK\x03\x04"


def refuse_pickles(folder: Path, what: str = "checkpoint", delete: Path | None = None) -> None:
    """Raise :class:`XstiltsError` (one line, naming *delete*, default *folder*, as what to remove) if *folder* holds
    a pickle (a file of an older xstilts, or put there by someone else): xstilts does not load pickles, since
    unpickling can run arbitrary code."""
    folder = Path(folder)
    for p in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if p.is_file() and not p.name.endswith((".safetensors", ".json")) and _looks_pickled(p):
            raise XstiltsError(f"{p}: this {what} holds a pickle (written by an older xstilts, or not by xstilts); "
                               f"pickles are not loaded because they can run code: delete {delete or folder} to start "
                               f"it again")


# ------------------------------------------------------------------------------------ training checkpoints
def save_checkpoint(folder: Path, step: int, payload: dict[str, Any], keep: int = 2) -> Path:
    """Write ``payload`` (``{"model": ..., "optim": ..., "state": ..., ["best": ...]}``; each part as safetensors +
    JSON, see :func:`encode`) as ``folder/step-<step>/`` atomically, then delete all but the newest *keep*
    checkpoints."""
    folder = Path(folder)
    final = folder / f"step-{step:08d}"
    with atomic_dir(final) as tmp:
        files = {}
        for name, obj in payload.items():
            for path in _write_part(tmp, name, obj):
                files[path.name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        atomic_write_json(tmp / MANIFEST, {"format": FORMAT, "step": step, "parts": list(payload), "files": files})
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
    """The newest checkpoint that verifies, loaded (``{"model", "optim", "state"[, "best"]}``), or None.

    Corrupt or partial checkpoints are skipped with a warning naming them and what is wrong.

    Raises:
        XstiltsError: a checkpoint folder holds a pickle (an older xstilts' checkpoint, or a planted file).
    """
    for ckpt in list_checkpoints(folder):
        refuse_pickles(ckpt, "training checkpoint", delete=Path(folder))
        problem = verify(ckpt)
        if problem:
            warnings.warn(f"checkpoint {ckpt} is unusable ({problem}); trying the previous one", stacklevel=2)
            continue
        try:
            parts = json.loads((ckpt / MANIFEST).read_text())["parts"]
            return ckpt, {name: _read_part(ckpt, name) for name in parts}
        except Exception as e:  # a file that hashes right but does not load: treat as corrupt
            warnings.warn(f"checkpoint {ckpt} could not be loaded ({e}); trying the previous one", stacklevel=2)
    return None


def required_bytes(model: torch.nn.Module, keep: int) -> int:
    """Disk needed for *keep* checkpoints (+1 being written): weights + two AdamW moments per trainable weight."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    moments = sum(p.numel() * 4 * 2 for p in model.parameters() if p.requires_grad)
    return (keep + 1) * (weights + moments)


# ------------------------------------------------------------------------------------ task heads of a phase
HEADS = "heads"


def save_heads(folder: Path, heads: dict[str, torch.nn.Module], tasks: dict[str, dict] | None = None) -> None:
    """Write the task heads (``{label: module}``) as ``folder/heads.safetensors`` (tensor ``<label>.<name>``) and
    ``folder/heads.json`` (``{"format": 1, "heads": {label: {"task", "kind", "tensors": {name: {"shape",
    "dtype"}}}}}``; *tasks*: ``{label: {"task": name, "kind": kind}}``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {label: head.state_dict() for label, head in heads.items()}
    flat = {f"{label}.{name}": t for label, sd in state.items() for name, t in sd.items()}
    _, tensors = encode(flat)  # on the CPU, contiguous, shared storages cloned
    from safetensors.torch import save_file

    save_file(tensors, str(folder / f"{HEADS}.safetensors"), metadata={"format": "xstilts-heads"})
    info = {label: {**(tasks or {}).get(label, {}),
                    "tensors": {name: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                                for name, t in sd.items()}}
            for label, sd in state.items()}
    atomic_write_json(folder / f"{HEADS}.json", {"format": 1, "heads": info})


def load_heads(folder: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """``({label: state dict}, description)`` of heads written by :func:`save_heads` (no pickle is read).

    Raises:
        XstiltsError: the folder holds ``heads.pt`` (a pickle of an older xstilts) and no ``heads.safetensors``,
            or the two files do not agree.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    st = folder / f"{HEADS}.safetensors"
    if not st.is_file():
        old = folder / "heads.pt"
        if old.is_file():
            raise XstiltsError(f"{old}: task heads of an older xstilts, pickled; pickles are not loaded because they "
                               f"can run code: delete the phase folder {folder.parent} to compute it again")
        raise XstiltsError(f"{st}: no task heads here")
    desc = json.loads((folder / f"{HEADS}.json").read_text(encoding="utf-8"))
    tensors = load_file(str(st), device="cpu")
    out: dict[str, dict[str, torch.Tensor]] = {}
    for label, meta in desc["heads"].items():
        sd = {}
        for name, spec in meta["tensors"].items():
            t = tensors.get(f"{label}.{name}")
            if t is None or list(t.shape) != spec["shape"]:
                raise XstiltsError(f"{st}: head {label!r} tensor {name!r} does not match {folder / 'heads.json'}")
            sd[name] = t
        out[label] = sd
    return out, desc
