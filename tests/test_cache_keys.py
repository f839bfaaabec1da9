"""Cache keys that cannot go stale: the feature cache and the phase keys follow the featurisation code (a family's
module and the xstilts modules it imports) and the data (hub data: the examples themselves)."""

import importlib
import sys
import textwrap

import pytest

from fixtures import write_pawsx
from xstilts.config import validate_config
from xstilts.data import code_fingerprint, examples_digest


FAMILY = '''
from xstilts.tasks.base import Family
from xstilts.data import pad_batch


class TmpFamily(Family):
    kind = "tmp"

    def featurize(self, task, examples, tokenizer, max_length, prefix="", options=None):
        return {{"input_ids": [[{token}] for _ in examples]}}
'''


def _load(folder, token):
    (folder / "xstilts_tmp_family.py").write_text(textwrap.dedent(FAMILY.format(token=token)))
    sys.modules.pop("xstilts_tmp_family", None)
    return importlib.import_module("xstilts_tmp_family").TmpFamily()


def test_a_changed_featurize_source_changes_the_fingerprint(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        first = code_fingerprint(_load(tmp_path, 1))
        assert code_fingerprint(_load(tmp_path, 1)) == first  # stable
        assert code_fingerprint(_load(tmp_path, 22)) != first  # featurize changed
    finally:
        sys.modules.pop("xstilts_tmp_family", None)
    # every family's fingerprint covers its module, the base class and the helpers it imports (data.py)
    from xstilts.tasks import get_family

    fams = {kind: code_fingerprint(get_family(kind)) for kind in ("pair_classification", "tagging", "span_qa")}
    assert len(set(fams.values())) == 3
    assert code_fingerprint("xstilts.models.embeddings") != code_fingerprint("xstilts.models.heads")


def test_feature_cache_and_phase_keys_follow_the_code(tmp_path, tiny_model, monkeypatch):
    from xstilts.experiment import data as exp_data
    from xstilts.experiment import keys
    from xstilts.experiment.data import Featurizer
    from xstilts.loading import load_examples
    from xstilts.models.backbone import load_tokenizer

    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en",), n_train=8, n_test=4)
    kjv = tmp_path / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    cfg = validate_config({
        "name": "k", "output_dir": str(tmp_path / "runs"), "model": {"name_or_path": str(tiny_model)},
        "intermediate": {"tasks": [{"task": "kjv-web-paraphrase", "data_dir": str(kjv)}]},
        "target": {"tasks": [{"task": "pawsx", "data_dir": str(pawsx), "languages": ["en"]}]}})
    spec = cfg.target.tasks[0]
    examples = load_examples(spec, "test", "en")
    tok = load_tokenizer(str(tiny_model))
    featurizer = Featurizer(cfg, tok, exp_data.feature_cache())
    cache_keys = []
    real = exp_data.tokenize_cached
    monkeypatch.setattr(exp_data, "tokenize_cached",
                        lambda d, key, build: cache_keys.append(key) or real(d, key, build))
    before = (keys.intermediate_key(cfg, 1), keys.target_key(cfg, spec, "start", 1))
    featurizer.features(spec, "test", "en", examples, 16)
    assert "code" in cache_keys[-1] and "v" not in cache_keys[-1]  # no PHASE_VERSION: the code itself is in the key

    monkeypatch.setattr(exp_data, "code_fingerprint", lambda *objs: "changed")  # as if featurize had been edited
    monkeypatch.setattr(keys, "code_fingerprint", lambda *objs: "changed")  # (phase keys: xstilts.experiment.keys)
    built = []
    monkeypatch.setattr(exp_data, "tokenize_cached", lambda d, key, build: cache_keys.append(key) or built.append(1)
                        or real(d, key, build))
    featurizer.features(spec, "test", "en", examples, 16)
    assert cache_keys[-1] != cache_keys[-2] and built  # another cache entry: tokenized again
    assert keys.intermediate_key(cfg, 1) != before[0] and keys.target_key(cfg, spec, "start", 1) != before[1]


def test_hub_data_is_keyed_by_its_examples():
    from xstilts.tasks.families.classification import PairExample

    a = [PairExample("1", "a b", "c d", 0), PairExample("2", "e", "f", 1)]
    b = [PairExample("1", "a b", "c d", 0), PairExample("2", "e", "f", 0)]  # one label changed upstream
    assert examples_digest(a) == examples_digest(list(a)) != examples_digest(b)


@pytest.mark.parametrize("kind", ["pair_classification", "tagging", "span_qa", "multiple_choice"])
def test_fingerprints_cover_the_modules_each_family_imports(kind):
    from pathlib import Path

    from xstilts import data
    from xstilts.tasks import get_family

    fam = get_family(kind)
    files = set()
    for c in type(fam).__mro__:
        module = sys.modules.get(c.__module__)
        if module is not None and module.__name__.startswith("xstilts"):
            files |= data._module_files(module)
    names = {str(Path(f).relative_to(Path(data.__file__).parent)) for f in files}
    assert {"tasks/base.py", "data.py"} <= names  # the base class and the helpers imported inside functions
    assert "errors.py" not in names  # messages do not change features


def test_a_task_modules_source_is_part_of_its_phase_key(monkeypatch):
    """A task's reader lives in its own module (Task.module), not in its family's: editing it must change the code
    fingerprint of phase keys and feature caches, as editing the family does."""
    from xstilts.config import TaskSpec
    from xstilts.experiment import keys

    seen = []
    monkeypatch.setattr(keys, "code_fingerprint", lambda *objs: seen.append(objs) or "x")
    keys._task_code([TaskSpec(task="xnli")])
    names = [o for o in seen[0] if isinstance(o, str)]
    assert names == ["xstilts.tasks.xnli"]
