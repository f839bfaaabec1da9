"""Tokenised features, padding and batching shared by the task families.

Features are a dict of equal-length lists (one entry per example): ``input_ids`` (list of token id lists) and
task-specific fields (``label``...). :func:`tokenize_cached` keeps them on disk, keyed by the task, split, language,
tokenizer, max length, prefix, the data itself and the code that computes them (:func:`code_fingerprint`), so that every
run of a study reuses them and no change of the featurisation code can return stale features.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import inspect
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from .io import atomic_write_bytes, stable_hash

Features = dict[str, list]


def tokenizer_fingerprint(tokenizer) -> str:
    """A short hash identifying the tokenizer's vocabulary and settings.

    The fast tokenizer's truncation and padding state is left out: it is set by the last call (``truncation=True,
    max_length=...``), so it would make the same tokenizer hash differently before and after its first use (the
    max length is part of the feature cache's key anyway).
    """
    import json

    try:
        blob = tokenizer.backend_tokenizer.to_str()
        state = json.loads(blob)
        state.pop("truncation", None)
        state.pop("padding", None)
        blob = json.dumps(state, sort_keys=True)
    except AttributeError:
        blob = repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _module_files(module) -> set[str]:
    """The source file of *module* and of the xstilts modules it imports from anywhere in its source, imports
    inside functions included (one level: the helpers its functions call, not their own imports)."""
    path = getattr(module, "__file__", None)
    if not path:
        return set()
    package = module.__name__ if Path(path).name == "__init__.py" else module.__name__.rpartition(".")[0]
    return {path, *_xstilts_imports(path, Path(path).stat().st_mtime_ns, package)}


_PACKAGE = str(Path(__file__).resolve().parent) + os.sep
#: Modules whose changes cannot change a result (exception classes, console output): left out of fingerprints.
_NOT_CODE = ("xstilts.errors", "xstilts.console")


@functools.lru_cache(maxsize=256)
def _xstilts_imports(path: str, mtime_ns: int, package: str) -> frozenset[str]:
    import ast
    import importlib.util

    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            try:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                    if node.level else (node.module or "")
            except (ImportError, ValueError):
                continue
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    files = set()
    for name in names:
        if name != "xstilts" and not name.startswith("xstilts."):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and spec.origin.endswith(".py") and name not in _NOT_CODE:
            files.add(spec.origin)
    return frozenset(files)


def code_fingerprint(*objs) -> str:
    """A short hash of the source code behind *objs* (objects, classes, functions, modules or module names): the
    files of the modules defining them (for an object or class, every xstilts class of its MRO), of the xstilts
    modules those import from (anywhere in their source) and of this module, by their path in the package, so that
    it does not depend on where xstilts is installed. A task family's fingerprint changes whenever its
    ``featurize`` (or a reader, or a helper it calls) changes, so feature caches and phase keys that include it
    cannot go stale."""
    files = {__file__}
    for obj in objs:
        if isinstance(obj, str):  # a module name: found without importing it
            import importlib.util

            origin = importlib.util.find_spec(obj).origin
            package = obj if origin.endswith("__init__.py") else obj.rpartition(".")[0]
            files |= {origin, *_xstilts_imports(origin, Path(origin).stat().st_mtime_ns, package)}
            continue
        if inspect.ismodule(obj):
            files |= _module_files(obj)
            continue
        cls = obj if inspect.isclass(obj) else (obj if inspect.isfunction(obj) or inspect.ismethod(obj)
                                                 else type(obj))
        for c in (cls.__mro__ if inspect.isclass(cls) else (cls,)):
            module = sys.modules.get(getattr(c, "__module__", "") or "")
            if module is not None and module.__name__.startswith("xstilts"):
                files |= _module_files(module)
    h = hashlib.sha256()
    for path in sorted({str(Path(f).resolve()) for f in files}):
        st = Path(path).stat()
        name = os.path.relpath(path, _PACKAGE) if path.startswith(_PACKAGE) else Path(path).name
        h.update(f"{name}:{_file_digest(path, st.st_mtime_ns, st.st_size)};".encode())
    return h.hexdigest()[:12]


def examples_digest(examples: Sequence) -> str:
    """A hash of the examples themselves (their ``repr``): the data revision of data that has no file listing
    (hub data sets)."""
    h = hashlib.sha256()
    for e in examples:
        h.update(repr(e).encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def tokenize_cached(cache_dir: Path | None, key: dict, build: Callable[[], Features]) -> Features:
    """Return features for *key* from ``cache_dir`` if present, else build and store them (atomically).

    The cache file ``<hash of key>.safetensors`` holds no pickle (:func:`save_features`): a shared cache folder cannot
    run code. An unreadable file is rebuilt."""
    if cache_dir is None:
        return build()
    path = Path(cache_dir) / f"{stable_hash(key, 20)}.safetensors"
    if path.is_file():
        try:
            return load_features(path)
        except Exception:  # noqa: BLE001 - truncated or foreign: build again
            path.unlink(missing_ok=True)
    feats = build()
    save_features(path, feats)
    return feats


_FEATURES_META = "xstilts-features"


def _ragged(values: list, depth: int) -> tuple[list, list[list[int]]] | None:
    """``(flat ints, lengths per level)`` if every entry of *values* is a list nested *depth* deep with ints at the
    bottom (token ids: depth 1; per-choice token ids: depth 2), else None."""
    lens: list[list[int]] = []
    level = values
    for _ in range(depth):
        nxt: list = []
        ln = []
        for v in level:
            if type(v) is not list:
                return None
            ln.append(len(v))
            nxt.extend(v)
        lens.append(ln)
        level = nxt
    if not all(type(x) is int for x in level):
        return None
    return level, lens


def _depth(values: list) -> int:
    v, d = values, 0
    while type(v) is list:
        v = next((x for x in v if type(x) is not list or x), v[0] if v else None)
        d += 1
    return d - 1


@contextlib.contextmanager
def _no_gc():
    """Build millions of small lists without the cyclic garbage collector running over them again and again (it
    made loading 20x slower); they hold no cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _small_ints(t: torch.Tensor) -> torch.Tensor:
    """int32 when every value fits (token ids, lengths, labels): half the disk."""
    return t.to(torch.int32) if t.numel() == 0 or int(t.abs().max()) < 2**31 - 1 else t


def save_features(path: Path, feats: Features) -> Path:
    """Write *feats* as one safetensors file, atomically: int lists (nested or not) as flat int tensors plus lengths,
    numbers as tensors, lists of numpy arrays concatenated, anything else as JSON in the file's metadata
    (:func:`xstilts.checkpoint.encode`). :func:`load_features` gives back equal lists, ints, floats and arrays."""
    import json

    import numpy as np
    from safetensors.torch import save

    from .checkpoint import encode

    tensors: dict[str, torch.Tensor] = {}
    layout: dict[str, dict] = {}
    with _no_gc():
        for name, values in feats.items():
            _save_field(name, list(values), tensors, layout, encode, np)
    blob = save(tensors, metadata={_FEATURES_META: json.dumps(layout, allow_nan=False)})
    return atomic_write_bytes(path, blob)


def _save_field(name: str, values: list, tensors: dict, layout: dict, encode, np) -> None:
    """One feature list into *tensors* and its *layout* entry (see :func:`save_features`)."""
    depth = _depth(values) if values else 0
    flat = _ragged(values, depth) if depth > 0 else None
    if flat is not None:
        ints, lens = flat
        tensors[f"{name}.values"] = _small_ints(torch.tensor(ints, dtype=torch.int64))
        for i, ln in enumerate(lens):
            tensors[f"{name}.len{i}"] = _small_ints(torch.tensor(ln, dtype=torch.int64))
        layout[name] = {"kind": "ragged", "depth": depth}
    elif values and all(type(v) is int for v in values):
        tensors[name] = _small_ints(torch.tensor(values, dtype=torch.int64))
        layout[name] = {"kind": "ints"}
    elif values and all(type(v) is float for v in values):
        tensors[name] = torch.tensor(values, dtype=torch.float64)
        layout[name] = {"kind": "floats"}
    elif values and all(isinstance(v, np.ndarray) and v.ndim >= 1 for v in values) and \
            len({(v.dtype.str, v.shape[1:]) for v in values}) == 1 and values[0].dtype.kind in "iuf":
        cat = np.concatenate(values, axis=0)  # e.g. QA windows' character offsets, [tokens, 2] each
        wide = cat.astype(np.int64) if cat.dtype.kind in "iu" else cat.astype(np.float64)
        tensors[f"{name}.values"] = torch.from_numpy(np.ascontiguousarray(wide))
        tensors[f"{name}.len0"] = torch.tensor([v.shape[0] for v in values], dtype=torch.int64)
        layout[name] = {"kind": "arrays", "dtype": values[0].dtype.str}
    elif values and isinstance(values[0], (dict, str)) and all(v == values[0] for v in values[1:]):
        data, extra = encode(values[0])  # one value for every example (QA decoding options)
        if extra:
            raise TypeError(f"feature {name!r}: tensors inside a repeated value")
        layout[name] = {"kind": "repeat", "n": len(values), "value": data}
    else:
        data, extra = encode(values)
        tensors.update({f"{name}/{k}": t for k, t in extra.items()})
        layout[name] = {"kind": "json", "value": data, "prefix": f"{name}/"}


def load_features(path: Path) -> Features:
    """The features :func:`save_features` wrote (no pickle is read)."""
    import json

    import numpy as np
    from safetensors import safe_open

    from .checkpoint import decode

    with safe_open(str(path), framework="pt") as f:
        layout = json.loads((f.metadata() or {})[_FEATURES_META])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    with _no_gc():
        return {name: _load_field(name, spec, tensors, decode, np) for name, spec in layout.items()}


def _load_field(name: str, spec: dict, tensors: dict, decode, np) -> list:
    kind = spec["kind"]
    if kind == "ragged":
        out = tensors[f"{name}.values"].tolist()
        for i in reversed(range(spec["depth"])):
            nested, pos = [], 0
            for n in tensors[f"{name}.len{i}"].tolist():
                nested.append(out[pos:pos + n])
                pos += n
            out = nested
        return out
    if kind in ("ints", "floats"):
        return tensors[name].tolist()
    if kind == "arrays":
        cat = tensors[f"{name}.values"].numpy().astype(np.dtype(spec["dtype"]))
        bounds = np.cumsum([0, *tensors[f"{name}.len0"].tolist()])
        return [cat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    if kind == "repeat":
        return [decode(spec["value"], {})] * spec["n"]
    prefix = spec["prefix"]
    return decode(spec["value"], {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)})


def pad_batch(features: Features, idx: Sequence[int], pad_id: int,
              extra: Sequence[str] = ("label",)) -> dict[str, torch.Tensor]:
    """Right-pad ``input_ids`` (and ``token_type_ids`` if present) of the examples *idx* to the longest one.

    Returns ``input_ids [B, L]``, ``attention_mask [B, L]``, optional ``token_type_ids [B, L]`` and each field of
    *extra* present in *features* as a tensor ``[B]``.
    """
    seqs = [features["input_ids"][i] for i in idx]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, : len(s)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in features:
        tt = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, i in enumerate(idx):
            t = features["token_type_ids"][i]
            tt[r, : len(t)] = torch.tensor(t, dtype=torch.long)
        out["token_type_ids"] = tt
    for name in extra:
        if name in features:
            out[name] = torch.tensor([features[name][i] for i in idx])
    return out


def length_sorted_batches(lengths: Sequence[int], batch_size: int,
                          max_tokens: int | None = None) -> Iterator[list[int]]:
    """Index batches in decreasing length (for fast evaluation; the caller restores the order).

    Each batch holds at most *batch_size* items and, with *max_tokens*, at most ``max_tokens`` padded tokens (its
    longest item times its size; one item at least), so that batches of short items are larger.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    if not max_tokens:
        for s in range(0, len(order), batch_size):
            yield order[s:s + batch_size]
        return
    s = 0
    while s < len(order):
        width = max(1, lengths[order[s]])
        n = max(1, min(batch_size, max_tokens // width))
        yield order[s:s + n]
        s += n


def length_grouped_order(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                         group: int = 50) -> list[int]:
    """One epoch's example order for length-grouped batching, drawn from *generator*.

    As Hugging Face's ``LengthGroupedSampler``: a random permutation is cut into mega-batches of ``group *
    batch_size`` examples, each sorted by decreasing length and cut into batches, so that a batch holds examples
    of similar length (little padding); the batches are then shuffled. On a training set of fewer than ``group``
    batches the whole set is one mega-batch: every epoch then cuts the same length bands into batches, which are
    less varied than random ones (a toy QA task of 600 examples learnt clearly slower over 16 epochs, see
    tests/test_qa.py); use ``batching: random`` for such small sets.
    """
    n = len(lengths)
    perm = torch.randperm(n, generator=generator).tolist()
    mega = max(batch_size, group * batch_size)
    batches: list[list[int]] = []
    for s in range(0, n, mega):
        chunk = sorted(perm[s:s + mega], key=lambda i: -lengths[i])  # stable: ties keep the random order
        batches.extend(chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size))
    full = [b for b in batches if len(b) == batch_size]
    short = [b for b in batches if len(b) != batch_size]
    order = torch.randperm(len(full), generator=generator).tolist()
    return [i for k in order for i in full[k]] + [i for b in short for i in b]


#: Fill values of the per-token tensors that families' ``collate`` returns, for padding a batch to a bucket length.
SEQUENCE_PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0, "labels": -100, "special": 1}


def bucket_length(length: int, buckets: Sequence[int] | None) -> int:
    """The smallest bucket >= *length* (*length* itself above the largest bucket or without buckets)."""
    for b in buckets or ():
        if b >= length:
            return b
    return length


def pad_to_bucket(batch: dict[str, torch.Tensor], buckets: Sequence[int] | None,
                  pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad the token dimension of a collated batch to the next of *buckets*, so that shapes repeat (for
    ``torch.compile`` / CUDA graphs). The added positions are masked (``attention_mask`` 0, ``labels`` -100), so
    outputs at real positions do not change.

    Pads ``input_ids`` (with *pad_id*) and the tensors of :data:`SEQUENCE_PAD_VALUES`. A batch with another tensor
    whose last dimension equals the token length (a family-specific per-token field) is returned unchanged.
    """
    ids = batch.get("input_ids")
    if not buckets or ids is None or ids.ndim != 2:
        return batch
    width = ids.shape[1]
    target = bucket_length(width, buckets)
    if target == width:
        return batch
    for name, t in batch.items():
        if name != "input_ids" and name not in SEQUENCE_PAD_VALUES and t.ndim >= 2 and t.shape[-1] == width:
            return batch  # an unknown per-token tensor: its padding value is not known, keep dynamic padding
    out = dict(batch)
    for name, t in batch.items():
        if name == "input_ids" or (name in SEQUENCE_PAD_VALUES and t.ndim >= 2 and t.shape[-1] == width):
            fill = pad_id if name == "input_ids" else SEQUENCE_PAD_VALUES[name]
            out[name] = torch.nn.functional.pad(t, (0, target - width), value=fill)
    return out


def pack_batch(batch: dict[str, torch.Tensor], pad_id: int, varlen: bool = False) -> dict[str, torch.Tensor]:
    """Add a padding-free layout of a right-padded batch's sequences to *batch* (for ``train.packing``).

    Block layout (``varlen`` False; SDPA or eager attention): the sequences are packed first-fit-decreasing into
    rows as wide as the batch, ``packed_segments [R, C]`` numbering each token's sequence (-1 on the rest of a row)
    so that attention can be kept within a sequence by a block-diagonal mask. Varlen layout (flash-attention): one
    row of all tokens, ``cu_seq_lens [N + 1]`` (int32) the sequences' boundaries. Both add ``packed_input_ids``,
    ``packed_position_ids`` (0 at each sequence's start), ``packed_token_type_ids`` when the batch has token types,
    and ``pack_index [B, L]``, the position in the flattened rows of each token of the batch (``R * C`` for
    padding), with which the encoder's packed output is put back into the batch's shape. Other fields are kept.

    Raises:
        ValueError: the batch is not right-padded (an ``attention_mask`` row with a gap).
    """
    mask = batch["attention_mask"]
    n, width = mask.shape
    if n and width > 1 and bool((mask[:, 1:] > mask[:, :-1]).any()):
        raise ValueError("packing needs right-padded batches (attention_mask 1...1 0...0)")
    lengths = mask.sum(1).tolist()
    if varlen:
        cap = max(1, int(sum(lengths)))
        starts = [0]
        for length in lengths[:-1]:
            starts.append(starts[-1] + length)
        place = [(0, s) for s in starts]
        rows = 1
    else:
        cap, place, fill = width, [(0, 0)] * n, []
        for i in sorted(range(n), key=lambda i: -lengths[i]):
            r = next((r for r, used in enumerate(fill) if used + lengths[i] <= cap), len(fill))
            if r == len(fill):
                fill.append(0)
            place[i] = (r, fill[r])
            fill[r] += lengths[i]
        rows = max(1, len(fill))
    ids = torch.full((rows, cap), pad_id, dtype=batch["input_ids"].dtype)
    pos = torch.zeros((rows, cap), dtype=torch.long)
    seg = torch.full((rows, cap), -1, dtype=torch.long)
    index = torch.full((n, width), rows * cap, dtype=torch.long)
    types = torch.zeros((rows, cap), dtype=torch.long) if "token_type_ids" in batch else None
    for i, ((r, o), length) in enumerate(zip(place, lengths)):
        ids[r, o:o + length] = batch["input_ids"][i, :length]
        pos[r, o:o + length] = torch.arange(length)
        seg[r, o:o + length] = i
        index[i, :length] = r * cap + o + torch.arange(length)
        if types is not None:
            types[r, o:o + length] = batch["token_type_ids"][i, :length]
    out = dict(batch, packed_input_ids=ids, packed_position_ids=pos, pack_index=index)
    if types is not None:
        out["packed_token_type_ids"] = types
    if varlen:
        out["cu_seq_lens"] = torch.tensor([0] + [s + length for s, length in zip(starts, lengths)], dtype=torch.int32)
    else:
        out["packed_segments"] = seg
    return out
