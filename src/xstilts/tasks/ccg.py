"""CCG supertagging on CCGbank (Hockenmaier & Steedman 2007), English only: an intermediate task of X-STILTs (jiant).

Everything about the task is in this module: the reader and its label inventory, the registration, the example-data
writer and the download plan (a manual step: CCGbank is licensed through the LDC). The tagging family (featurisation,
head, decoding, token accuracy) is in :mod:`xstilts.tasks.families.tagging`.

* Layout, in either format per line:

  - jiant's ``ccg/ccg.{train,dev,test}``: ``w1 w2 ... wn<TAB>t1 t2 ... tn`` (jiant ``tasks/lib/ccg.py``), with an
    optional ``tags_to_id.json`` giving the label ids;
  - C&C-style ``.stagged`` lines ``word|POS|supertag word|POS|supertag ...`` (``{split}.stagged``,
    ``ccg.{split}.stagged`` or ``wsj02-21.stagged`` / ``wsj00.stagged`` / ``wsj23.stagged``); ``#`` header lines
    are skipped.

  The label set is ``tags_to_id.json`` when the folder has one, else every supertag of the training file ordered by
  decreasing frequency (ties alphabetical), so the same training file always gives the same ids; a reserved label
  :data:`~xstilts.tasks.families.tagging.UNKNOWN_TAG` comes last. Dev/test supertags unseen in training map to it in
  the features and, since it is never predicted, count as errors. The reader records the label list for the family
  (:data:`~xstilts.tasks.families.tagging.ACTIVE_LABELS`).
* No hub source and no download: ``xstilts download`` prints :data:`MANUAL`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import DataFormatError, MissingDataError
from . import INTERMEDIATE, Download, ExampleData, Task, register
from .base import XSTILTS_INTERMEDIATE, parse_json, read_text, read_text_lines, short, type_name
from .families import tagging
from .families.tagging import UNKNOWN_TAG, TaggedExample

NAME = "ccg"
#: What ``xstilts download`` says to do instead (``{folder}``: the task's data folder).
MANUAL = ("CCGbank is licensed through the LDC (LDC2005T13, https://catalog.ldc.upenn.edu/LDC2005T13) and cannot be "
          "downloaded; with a licensed copy, put jiant's ccg.train / ccg.dev / ccg.test (words<TAB>supertags, one "
          "sentence per line) or the C&C files wsj02-21.stagged / wsj00.stagged / wsj23.stagged "
          "(word|POS|supertag tokens) into {folder}")
_CCG_FILES = {"train": ("ccg.train", "train.stagged", "ccg.train.stagged", "wsj02-21.stagged"),
              "dev": ("ccg.dev", "dev.stagged", "ccg.dev.stagged", "wsj00.stagged"),
              "test": ("ccg.test", "test.stagged", "ccg.test.stagged", "wsj23.stagged")}
#: label inventories already built, by (training file, size, mtime)
_CCG_INVENTORIES: dict[tuple, tuple[str, ...]] = {}


def _ccg_file(data_dir: Path, split: str) -> Path:
    for name in _CCG_FILES[split]:
        if (data_dir / name).is_file():
            return data_dir / name
    raise MissingDataError(f"{data_dir / _CCG_FILES[split][0]}: file not found (expected the CCG {split} file: "
                           f"{' or '.join(_CCG_FILES[split])})")


def read_ccg_file(path: Path) -> list[tuple[int, TaggedExample]]:
    """``(line, example)`` for every sentence of a CCG file, one sentence per line, in jiant's ``words<TAB>tags``
    or the ``word|POS|supertag`` (``.stagged``) format.

    Raises:
        DataFormatError: an empty file, more than two tab-separated columns, word and tag counts that differ, or a
            token that is not ``word|POS|supertag``, naming the file and line.
    """
    lines = read_text_lines(path)
    out: list[tuple[int, TaggedExample]] = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if "\t" in line:
            cols = line.split("\t")
            if len(cols) != 2:
                raise DataFormatError(path, i, f"expected 2 tab-separated columns (words, supertags), got {len(cols)}")
            words, tags = cols[0].split(), cols[1].split()
            if len(words) != len(tags):
                raise DataFormatError(path, i, f"{len(words)} words but {len(tags)} supertags")
        else:
            items = line.split()
            if line.startswith("#") and "|" not in items[0]:
                continue  # C&C header comment
            words, tags = [], []
            for tok in items:
                parts = tok.rsplit("|", 2)
                if len(parts) != 3 or not all(parts):
                    raise DataFormatError(path, i, f"expected word|POS|supertag tokens, got {short(tok)}")
                words.append(parts[0])
                tags.append(parts[2])
        if words:
            out.append((i, TaggedExample(f"{NAME}-{path.name}-{len(out)}", tuple(words), tuple(tags))))
    if not out:
        raise DataFormatError(path, None, "empty file; expected one sentence per line (words<TAB>supertags or "
                                          "word|POS|supertag tokens)")
    return out


def ccg_labels(data_dir: Path) -> tuple[str, ...]:
    """The CCG label list: ``tags_to_id.json`` if present, else the training file's supertags by decreasing frequency
    (ties alphabetical); :data:`UNKNOWN_TAG` is appended as the last label."""
    tags_json = data_dir / "tags_to_id.json"
    if tags_json.is_file():
        mapping = parse_json(tags_json, read_text(tags_json))
        if not isinstance(mapping, dict):
            raise DataFormatError(tags_json, None, f"expected a JSON object mapping supertags to ids, got "
                                                   f"{type_name(mapping)}")
        bad = next(((k, v) for k, v in mapping.items() if type(v) is not int), None)
        if bad is not None:
            raise DataFormatError(tags_json, None, f"the id of supertag {short(bad[0])} should be an integer, got "
                                                   f"{short(bad[1], 30)}")
        ids = dict(mapping)
        if sorted(ids.values()) != list(range(len(ids))):
            raise DataFormatError(tags_json, None, f"ids must be 0..{len(ids) - 1}, each used once")
        labels = tuple(sorted(ids, key=ids.__getitem__))
    else:
        path = _ccg_file(data_dir, "train")
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _CCG_INVENTORIES:
            counts = Counter(t for _, ex in read_ccg_file(path) for t in ex.tags)
            _CCG_INVENTORIES[key] = tuple(sorted(counts, key=lambda t: (-counts[t], t)))
        labels = _CCG_INVENTORIES[key]
    if UNKNOWN_TAG in labels:
        raise DataFormatError(tags_json if tags_json.is_file() else _ccg_file(data_dir, "train"), None,
                              f"the supertag {UNKNOWN_TAG!r} is reserved for tags unseen in training")
    return labels + (UNKNOWN_TAG,)


def read_ccg(data_dir: Path, split: str, language: str) -> list[TaggedExample]:
    """CCG sentences of *split*; also fixes the task's label list from the training data (:func:`ccg_labels`).

    Training supertags missing from a ``tags_to_id.json`` are an error; dev/test supertags unseen in training are
    kept as gold strings (they map to :data:`UNKNOWN_TAG` in the features and count as errors)."""
    labels = ccg_labels(data_dir)
    tagging.ACTIVE_LABELS[NAME] = labels  # the family reads the labels from there
    path = _ccg_file(data_dir, split)
    rows = read_ccg_file(path)
    if split == "train":
        known = set(labels[:-1])
        for line, ex in rows:
            bad = [t for t in ex.tags if t not in known]
            if bad:
                raise DataFormatError(path, line, f"supertag {short(bad[0])} is not in tags_to_id.json")
    return [ex for _, ex in rows]


# ---------------------------------------------------------------------------------------------- example data
def write_examples(root: Path) -> Path:
    """jiant's CCG layout: ``ccg.{train,dev,test}`` with ``words<TAB>supertags`` per sentence."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for split, n in (("train", 64), ("dev", 16), ("test", 16)):
        lines = []
        for _ in range(n):
            words = ex.render(ex.random_clause(rng), "en")
            lines.append(" ".join(w for w, _, _ in words) + "\t" + " ".join(ex._CCG[r] for _, r, _ in words))
        ex._write(root / f"{NAME}.{split}", "\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: nothing to fetch; the manual step (:data:`MANUAL`) naming the task's folder."""
    plan.manual[NAME] = MANUAL.format(folder=plan.folder(NAME))


register(Task(
    name=NAME, kind="tagging", roles=(INTERMEDIATE,), languages=("en",), metric="accuracy", read=read_ccg,
    train_size=39_604,  # the released training set (study cost estimates)
    data_subdir=NAME,
    description="CCG supertagging on CCGbank (jiant's ccg.{train,dev,test} or word|POS|supertag files); labels from "
                "the training file",
    source="Hockenmaier & Steedman 2007 (CCGbank); jiant (Pruksachatkun et al. 2020)",
    protocol=XSTILTS_INTERMEDIATE,
    extra={"scorer": "accuracy"},
    examples=ExampleData(write_examples), download=Download(plan_download),
))
