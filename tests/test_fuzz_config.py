"""Property-based fuzzing of the config loader (issue 7): any malformed config is ONE :class:`ConfigError`.

A valid experiment YAML is mutated by hypothesis -- a value of another type anywhere, an unknown key at any depth,
negative numbers, an unknown task name, a language the task does not have, a deleted key, broken YAML text or bytes,
``--set`` overrides -- and :func:`xstilts.config.load_config` must either accept it or raise :class:`ConfigError`
whose message is one line, names the file (or the ``--set`` item) and, for a wrong value, the key path. Known-valid
mutations must load and be reflected in the result.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from xstilts.config import ExperimentConfig, load_config
from xstilts.errors import ConfigError
from xstilts.tasks import get_task

FUZZ = settings(max_examples=int(os.environ.get("XSTILTS_FUZZ_EXAMPLES", "50")), deadline=None,
                derandomize=not os.environ.get("XSTILTS_FUZZ_RANDOM"),
                database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

BASE: dict[str, Any] = {
    "name": "fuzz",
    "output_dir": "runs",
    "seeds": [1, 2],
    "with_baseline": True,
    "num_threads": 1,
    "model": {"name_or_path": "some/model", "max_length": 64, "dtype": "float32", "text_prefix": "",
              "lora": {"r": 4, "alpha": 8.0, "dropout": 0.1, "target_modules": ["query", "value"]}},
    "intermediate": {"tasks": [{"task": "mnli", "max_examples": 100},
                               {"task": "squad", "options": {"doc_stride": 64, "max_query_length": 32}}],
                     "epochs": 1.0, "lr": 1.0e-4, "batch_size": 8, "warmup_ratio": 0.1, "sampling": "proportional"},
    "target": {"tasks": [{"task": "xnli", "languages": ["en", "de"], "max_eval_examples": 50},
                         "pawsx",
                         {"task": "tatoeba", "languages": "all", "data_dir": "/data/tatoeba"}],
               "max_steps": 10, "batch_size": 16, "dropout": 0.1, "checkpoint_every": 5, "keep_checkpoints": 2},
    "evaluation": {"retrieval_layer": 8, "pooling": "mean", "batch_size": 32, "bucc_k": 4},
}
XNLI_LANGS = get_task("xnli").languages


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _paths(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every key path of the config tree (mappings and lists), the root excluded."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(path + (k,))
            out += _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append(path + (i,))
            out += _paths(v, path + (i,))
    return out


def _parent(obj: Any, path: tuple) -> Any:
    for k in path[:-1]:
        obj = obj[k]
    return obj


def _dotted(path: tuple) -> str:
    return ".".join(str(k) for k in path)


ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 40, 2 ** 40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.sampled_from(["", "all", "auto", "-1", "1e-5", "yes", "null", "[1]", "{a: 1}"]),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.sampled_from(["a", "task", "r", "tasks", ""]), st.integers(-3, 3), max_size=2))


def _load(tmp: Path, content: bytes | str, overrides: list[str] | None = None) -> ExperimentConfig:
    path = tmp / "experiment.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return load_config(path, overrides or [])


def _check_config_error(e: BaseException, tmp: Path, key_path: tuple | None = None,
                        override: str | None = None) -> None:
    assert isinstance(e, ConfigError), f"{type(e).__name__}: {e}"
    msg = str(e) if ONE_LINE_FIXED else " ".join(str(e).split())  # the CLI joins lines itself
    assert "\n" not in msg and "\r" not in msg, f"message is not one line: {msg!r}"
    assert len(msg) < 3000, msg[:300]
    assert str(tmp / "experiment.yaml") in msg or (override is not None and "--set" in msg), msg
    if key_path:
        prefixes = [_dotted(key_path[:k]) for k in range(1, len(key_path) + 1)]
        assert any(p in msg for p in prefixes) or "(top level)" in msg, \
            f"no key path of {_dotted(key_path)!r} in {msg!r}"


def test_base_config_is_valid(tmp_path):
    cfg = _load(tmp_path, _dump(BASE))
    assert cfg.target.tasks[1].task == "pawsx" and cfg.model.lora.r == 4


# ------------------------------------------------------------------------------------------- invalid mutations
@FUZZ
@given(data=st.data())
def test_structural_mutations_give_config_error_with_key_path(data):
    """A value of another type, a negative number, a deleted key or an added unknown key anywhere."""
    cfg = copy.deepcopy(BASE)
    path = data.draw(st.sampled_from(_paths(cfg)), label="path")
    parent = _parent(cfg, path)
    op = data.draw(st.sampled_from(["retype", "negative", "delete", "unknown_key"]), label="op")
    must_fail = False
    if op == "retype":
        parent[path[-1]] = data.draw(ANY_VALUE, label="value")
    elif op == "negative":
        value = parent[path[-1]]
        assume(isinstance(value, (int, float)) and not isinstance(value, bool))
        parent[path[-1]] = -abs(value) - data.draw(st.sampled_from([1, 0.5, 10 ** 6]))
    elif op == "delete":
        del parent[path[-1]]
    else:  # an unknown key in the mapping at path (or in its parent)
        node = parent[path[-1]]
        where, target = (path, node) if isinstance(node, dict) else (path[:-1], parent)
        assume(isinstance(target, dict))
        key = "bogus_" + data.draw(st.text("abcxyz_", min_size=1, max_size=5))
        target[key] = data.draw(ANY_VALUE)
        path, must_fail = where + (key,), True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            _load(tmp, _dump(cfg))
        except Exception as e:  # noqa: BLE001 - the property is about the exception type
            event(f"{op}: {type(e).__name__}")
            _check_config_error(e, tmp, path)
        else:
            event(f"{op}: valid")
            assert not must_fail, f"unknown key {_dotted(path)} accepted"


@FUZZ
@given(name=st.text(min_size=1, max_size=12), where=st.sampled_from(["intermediate", "target"]),
       index=st.integers(0, 1))
def test_unknown_task_names_are_config_errors(name, where, index):
    cfg = copy.deepcopy(BASE)
    tasks = cfg[where]["tasks"]
    tasks[index] = {"task": name} if isinstance(tasks[index], str) else {**tasks[index], "task": name}
    try:
        get_task(name)
        assume(False)  # a registered name (or alias): not an unknown task
    except ConfigError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with pytest.raises(ConfigError) as e:
            _load(tmp, _dump(cfg))
        _check_config_error(e.value, tmp, (where, "tasks", index))


@FUZZ
@given(langs=st.lists(st.one_of(st.text(max_size=5), st.sampled_from(["EN", "en ", "xx", "eng", "de-DE", "zz"])),
                      min_size=1, max_size=3))
def test_languages_the_task_does_not_have_are_config_errors(langs):
    assume(not all(lang in XNLI_LANGS for lang in langs))
    cfg = copy.deepcopy(BASE)
    cfg["target"]["tasks"][0]["languages"] = langs
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with pytest.raises(ConfigError) as e:
            _load(tmp, _dump(cfg))
        _check_config_error(e.value, tmp, ("target", "tasks", 0, "languages"))


YAML_NOISE = [":", "{", "}", "[", "]", "- ", "#", "&a ", "*a", "!!python/object:os.system ", "|", ">", "'", '"', "%",
              "@", "`", "\t", "\n", "\n  ", "  ", "? ", ",", "!!binary ", "<<: ", "---\n", "...\n", "\\"]
BYTE_NOISE = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x1b", b"\xef\xbb\xbf", b"\r", b"\r\n", b"\xfe\xff"]


@FUZZ
@given(data=st.data())
def test_broken_yaml_text_or_bytes_gives_config_error(data):
    text = _dump(BASE).encode()
    op = data.draw(st.sampled_from(["insert", "insert", "bytes", "truncate", "dup_line", "indent", "empty"]))
    lines = text.split(b"\n")
    if op == "insert":
        pos = data.draw(st.integers(0, len(text)))
        text = text[:pos] + data.draw(st.one_of(st.sampled_from(YAML_NOISE), st.text(max_size=4))).encode() + \
            text[pos:]
    elif op == "bytes":
        pos = data.draw(st.integers(0, len(text)))
        text = text[:pos] + data.draw(st.sampled_from(BYTE_NOISE)) + text[pos:]
    elif op == "truncate":
        text = text[:data.draw(st.integers(0, len(text)))]
    elif op == "dup_line":
        i = data.draw(st.integers(0, len(lines) - 1))
        text = b"\n".join(lines[:i + 1] + lines[i:])
    elif op == "indent":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = data.draw(st.sampled_from([b" ", b"   ", b"\t"])) + lines[i]
        text = b"\n".join(lines)
    else:
        text = data.draw(st.sampled_from([b"", b"\n", b"~\n", b"[]\n", b"5\n", b"'x'\n", b"---\n"]))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            _load(tmp, text)
        except Exception as e:  # noqa: BLE001
            event(f"{op}: {type(e).__name__}")
            if not isinstance(e, ConfigError) and KNOWN_GAP(e):
                return
            _check_config_error(e, tmp)
        else:
            event(f"{op}: valid")


@FUZZ
@given(key=st.one_of(st.sampled_from([p for p in map(_dotted, _paths(BASE))]), st.text("abcdt.0123_", max_size=14)),
       value=st.one_of(st.sampled_from(["1e-5", "-1", "[a, b]", "{x: 1}", "null", "", "all", "[", "'", "5", "true"]),
                       st.text(max_size=6)),
       sep=st.sampled_from(["=", "=", ":", ""]))
def test_set_overrides_give_config_error(key, value, sep):
    item = f"{key}{sep}{value}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            _load(tmp, _dump(BASE), [item])
        except Exception as e:  # noqa: BLE001
            event(f"override: {type(e).__name__}")
            _check_config_error(e, tmp, override=item)
        else:
            event("override: valid")


# --------------------------------------------------------------------------------------------- valid mutations
VALID_CHANGES = st.one_of(
    st.tuples(st.just(("target", "lr")), st.floats(1e-7, 0.9)),
    st.tuples(st.just(("intermediate", "lr")), st.floats(1e-7, 0.9)),
    st.tuples(st.just(("target", "batch_size")), st.integers(1, 4096)),
    st.tuples(st.just(("intermediate", "epochs")), st.floats(0.01, 100)),
    st.tuples(st.just(("target", "warmup_ratio")), st.floats(0, 0.99)),
    st.tuples(st.just(("target", "max_steps")), st.one_of(st.none(), st.integers(1, 10 ** 9))),
    st.tuples(st.just(("seeds",)), st.lists(st.integers(-2 ** 31, 2 ** 31), min_size=1, max_size=5)),
    st.tuples(st.just(("model", "max_length")), st.integers(2, 8192)),
    st.tuples(st.just(("model", "dtype")), st.sampled_from(["float32", "bfloat16", "float16"])),
    st.tuples(st.just(("model", "text_prefix")), st.text(max_size=10)),
    st.tuples(st.just(("model", "lora", "r")), st.integers(1, 256)),
    st.tuples(st.just(("evaluation", "pooling")), st.sampled_from(["mean", "cls"])),
    st.tuples(st.just(("evaluation", "retrieval_layer")), st.one_of(st.integers(0, 48), st.sampled_from(["auto",
                                                                                                        "last"]))),
    st.tuples(st.just(("target", "tasks", 0, "languages")),
              st.lists(st.sampled_from(XNLI_LANGS), min_size=1, max_size=5, unique=True)),
    st.tuples(st.just(("target", "tasks", 0, "max_eval_examples")), st.one_of(st.none(), st.integers(1, 10 ** 6))),
    st.tuples(st.just(("intermediate", "tasks", 1, "options", "doc_stride")), st.integers(1, 512)),
    st.tuples(st.just(("with_baseline",)), st.booleans()),
    st.tuples(st.just(("name",)), st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)),
)


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k] if isinstance(obj, (dict, list)) else getattr(obj, k)
    return obj


@FUZZ
@given(changes=st.lists(VALID_CHANGES, min_size=1, max_size=4))
def test_valid_mutations_load_and_are_kept(changes):
    cfg = copy.deepcopy(BASE)
    for path, value in changes:
        _parent(cfg, path)[path[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        loaded = _load(Path(tmp), _dump(cfg))
    for path, value in dict(changes).items():
        got = _get(loaded, path)
        if isinstance(value, float):
            assert math.isclose(got, value, rel_tol=1e-12)
        else:
            assert got == value, (path, got, value)


# ------------------------------------------------------------------------------------------ known loader gaps
def _probe(content: bytes) -> bool:
    """Whether the loader turns *content* into a ConfigError (True) or lets another exception out (False)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _load(Path(tmp), content)
        except ConfigError:
            return True
        except Exception:  # noqa: BLE001
            return False
    return True


_BASE_YAML = _dump(BASE).encode()
#: malformed configs that made load_config raise another exception type (config.py is not this test's file; the
#: fix is requested from its owner): invalid UTF-8 (UnicodeDecodeError), nesting deeper than the recursion limit
#: (RecursionError), an integer of more than 4300 digits (ValueError)
GAPS = {
    "invalid-utf8": _BASE_YAML + b"\xff\n",
    "deep-nesting": _BASE_YAML + b"extra: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    "huge-integer": _BASE_YAML.replace(b"num_threads: 1", b"num_threads: " + b"9" * 5000),
}
GAP_FIXED = {k: _probe(v) for k, v in GAPS.items()}


def _one_line_probe() -> bool:
    """Whether ConfigError messages are one line: PyYAML's multi-line problem texts, and raw line breaks of the
    user's values (an unknown language "\\r"), are both cleaned."""
    bad_lang = copy.deepcopy(BASE)
    bad_lang["target"]["tasks"][0]["languages"] = ["\r\n"]
    for content in (_BASE_YAML.replace(b"fuzz", b"fu\x00zz"), _dump(bad_lang).encode()):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                _load(Path(tmp), content)
            except ConfigError as e:
                if "\n" in str(e) or "\r" in str(e):
                    return False
    return True


ONE_LINE_FIXED = _one_line_probe()


def KNOWN_GAP(e: BaseException) -> bool:  # noqa: N802
    """An exception of a not yet fixed gap (so that the fuzz tests above report only new problems)."""
    kinds = {"invalid-utf8": UnicodeDecodeError, "deep-nesting": RecursionError, "huge-integer": ValueError}
    return any(isinstance(e, t) and not GAP_FIXED[k] for k, t in kinds.items())


@pytest.mark.parametrize("gap", sorted(GAPS))
def test_known_loader_gaps(gap, tmp_path):
    if not GAP_FIXED[gap]:
        pytest.xfail(f"config.load_config lets {gap} escape as another exception (fix requested in config.py)")
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, GAPS[gap])
    _check_config_error(e.value, tmp_path)


def test_error_messages_are_one_line(tmp_path):
    if not ONE_LINE_FIXED:
        pytest.xfail("YAML problem texts and user values with line breaks make multi-line messages (fix requested "
                     "in config.py)")
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, _BASE_YAML.replace(b"fuzz", b"fu\x00zz"))
    _check_config_error(e.value, tmp_path)


@pytest.mark.parametrize("key", ["output_dir", "model.name_or_path", "target.tasks.2.data_dir"])
def test_nul_in_paths_is_a_config_error(key, tmp_path):
    """A NUL byte in a path passes pydantic but makes every later file operation raise ValueError."""
    cfg = copy.deepcopy(BASE)
    path = tuple(int(k) if k.isdigit() else k for k in key.split("."))
    _parent(cfg, path)[path[-1]] = "runs\0x"
    try:
        _load(tmp_path, _dump(cfg))
    except ConfigError as e:
        _check_config_error(e, tmp_path, path)
    else:
        pytest.xfail("a NUL byte in a path is accepted (fix requested in config.py)")
