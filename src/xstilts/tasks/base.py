"""The task declaration: one :class:`Task` per task, holding its reader, head kind, metric and languages.

A task family (pair classification, retrieval, ...) supplies what is shared by its tasks: featurisation, the head,
the loss, decoding and the metric. A task names its family by ``kind``; the registry in :mod:`xstilts.tasks` maps
names to tasks. Adding a task is one module of :mod:`xstilts.tasks` that calls ``register(Task(...))``
(:attr:`Task.module` records which); the families are in :mod:`xstilts.tasks.families`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import DataFormatError, MissingDataError

INTERMEDIATE = "intermediate"
TARGET = "target"

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class HFSource:
    """Where users who are online can load the task with Hugging Face ``datasets``.

    ``config`` may contain ``{lang}``; ``splits`` maps our split names (train/dev/test) to the hub's, and may contain
    ``{lang}`` too. ``convert`` turns one hub row (a dict) into an example of the task's family.

    ``split_sources`` gives a split its own ``(path, config, hub split)`` where it comes from another data set (XQuAD
    and MLQA train on SQuAD); ``keep(row, language)`` selects the rows of one language where a hub config holds
    several (one config of every language); ``collect(examples)`` turns the converted rows into the reader's result where that is
    one object rather than a list (Tatoeba's parallel data). ``languages``: the languages the hub data has, where
    that is fewer than the task's (others get a clear error before any download); ``note``: added to the error
    when loading fails (e.g. a hub repository that still ships a loading script, which ``datasets`` 4 no longer runs).
    ``revision``: the hub commit (sha) that ``xstilts download`` loads; ``None``: the default branch, whose commit is
    resolved at download time and recorded in the task folder's manifest.
    """

    path: str
    config: str | None
    splits: dict[str, str]
    convert: Callable[[dict, int], Any]
    split_sources: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    keep: Callable[[dict, str], bool] | None = None
    collect: Callable[[list], Any] | None = None
    languages: tuple[str, ...] | None = None
    note: str = ""
    revision: str | None = None


class ConfigByLanguage(str):
    """A hub config template whose ``format(lang=code)`` substitutes a name looked up from the code (the
    ``google/xtreme`` configs ``udpos.English``, ``tatoeba.deu``...), for :attr:`HFSource.config`."""

    def __new__(cls, template: str, names: dict[str, str]):
        obj = super().__new__(cls, template)
        obj.names = names
        return obj

    def format(self, *args, **kwargs) -> str:
        lang = kwargs.get("lang")
        return str.format(str(self), lang=self.names.get(lang, lang))


@dataclass(frozen=True)
class ExampleData:
    """How ``python -m xstilts.provision.examples`` writes a task's small synthetic data set (:attr:`Task.examples`).

    ``write(folder) -> folder`` writes the official file layout; ``languages``: the evaluation languages written;
    ``depends``: tasks whose example folders the task reads beside its own (XTREME's layout, e.g. ``squad``).
    """

    write: Callable[[Path], Path]
    languages: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()


@dataclass(frozen=True)
class Download:
    """How ``xstilts download`` fetches a task's real data (:attr:`Task.download`): ``plan(plan, languages)`` adds
    the download units to an :class:`xstilts.download.plan.Plan`; ``languages``: those it can fetch (``None``: any)."""

    plan: Callable[[Any, list[str]], None]
    languages: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Task:
    """A task declared once: what reads it, which head it needs, how it is scored, and in which languages.

    Attributes:
        name: registry name (XTREME task names, lower case: ``xnli``, ``pawsx``, ``tatoeba``, ``bucc2018``...).
        kind: the task family, which fixes the head and the metric code (``pair_classification``, ``retrieval``).
        roles: ``intermediate`` and/or ``target``.
        languages: evaluation languages, ISO 639 codes as XTREME uses them (``en``, ``de``, ``zh``...).
        metric: the headline metric's name as reported (``accuracy``, ``f1``, ``accuracy@1``).
        read: ``read(data_dir, split, language) -> data`` for the official file layout in a local folder.
        data_subdir: folder name under ``<cache>/data`` used when the config gives no ``data_dir``.
        labels: class labels, for classification tasks (index = class id).
        train_language / train_split / dev_split / test_split: where fine-tuning and evaluation data come from.
        hf: the Hugging Face ``datasets`` source for users who are online (``None`` when there is none).
        description / source: one line each: what the task is, and the paper or data set it follows.
        translate_train: languages whose machine-translated training data the reader reads for ``train_language``
            (XTREME's translate-train files); ``("*",)``: any language (plain multilingual text); empty: none, and
            ``train_language`` is a config error.
        protocol: the task's defaults in the published protocol it is run under (X-STILTs / XTREME: ``epochs``,
            ``batch_size``, ``grad_accum``, ``lr``, ``warmup_ratio``, ``max_length``); a config's task entry or
            phase section overrides them (:func:`xstilts.config.resolve_settings`).
        examples: how the small example data set is written (:class:`ExampleData`), for tasks declared with it.
        train_size: examples in the training set as released (for the study planner's cost estimate), if known.
        download: how ``xstilts download`` fetches the real data (:class:`Download`), for tasks declared with it.
        discover_languages: ``discover_languages(folder) -> languages`` found in a local data folder, for
            ``languages: all`` (and a config may then list languages beyond :attr:`languages`); ``None``: the listed
            languages only.
        read_options: whether :attr:`read` takes the task entry's ``options`` (``read(..., options=...)``: XCOPA's
            ``train_on``).
        extra: family-specific settings the task's family reads (``mode``, ``scorer``, ``qa_metric``...).
        module: the module that registered the task (set by :func:`xstilts.tasks.register`): where everything about
            the task is.
    """

    name: str
    kind: str
    roles: tuple[str, ...]
    languages: tuple[str, ...]
    metric: str
    read: Callable[[Path, str, str], Any]
    data_subdir: str
    labels: tuple[str, ...] = ()
    train_language: str = "en"
    train_split: str = "train"
    dev_split: str = "dev"
    test_split: str = "test"
    hf: HFSource | None = None
    description: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    translate_train: tuple[str, ...] = ()
    examples: ExampleData | None = None
    train_size: int | None = None
    download: Download | None = None
    discover_languages: Callable[[Path], list[str]] | None = None
    read_options: bool = False
    module: str = ""

    def has_training_data(self, language: str) -> bool:
        """Whether the task can train on *language*: its own training language or a translate-train language."""
        return language == self.train_language or language in self.translate_train or "*" in self.translate_train

    @property
    def trainable(self) -> bool:
        """Whether the task has a training set and a head (False for retrieval tasks scored from embeddings)."""
        from . import FAMILIES

        return FAMILIES[self.kind].trainable

    def label_id(self, label: str, path: Path, line: int | None) -> int:
        """Class id of *label*; raises :class:`DataFormatError` naming the file and line for an unknown label."""
        return label_id(self.labels, label, path, line)


def label_id(labels: tuple[str, ...], label: str, path: Path, line: int | None) -> int:
    """Index of *label* in *labels*; raises :class:`DataFormatError` naming the file and line for an unknown label
    (for readers, which know their labels without looking their task up in the registry)."""
    if isinstance(label, str):
        try:
            return labels.index(label)
        except ValueError:
            pass
    raise DataFormatError(path, line, f"unknown label {short(label)}; expected one of {', '.join(labels)}")


def xstilts_protocol(**settings: Any) -> dict[str, Any]:
    """A task's defaults under the X-STILTs protocol (Phang et al. 2020, run with jiant): AdamW at lr 1e-5 with a
    linear warm-up over 10% of the steps then linear decay (jiant's ``learning_rate=1e-5``,
    ``warmup_proportion=0.1``), plus the task's own *settings* (epochs, batch size, max length), for
    :attr:`Task.protocol`. Intermediate tasks: 3 epochs (jiant's ``num_train_epochs`` default) at batch 4 (the
    ``--train_batch_size 4`` of jiant's X-STILTs guide, ``guides/projects/xstilts.md``); target tasks: the epochs
    and batch sizes of jiant's XTREME guide (``guides/benchmarks/xtreme.md``)."""
    return {"lr": 1e-5, "warmup_ratio": 0.1, **settings}


#: Intermediate tasks of X-STILTs: classification, multiple choice and tagging at 256 tokens, QA at 384.
XSTILTS_INTERMEDIATE = xstilts_protocol(epochs=3, batch_size=4, max_length=256)
XSTILTS_INTERMEDIATE_QA = xstilts_protocol(epochs=3, batch_size=4, max_length=384)


# ----------------------------------------------------------------------------------------------- file readers
#: Lists that :func:`require_file` appends every file it passes to (see :func:`recording`).
_RECORDERS: list[list[Path]] = []


@contextlib.contextmanager
def recording() -> Iterator[list[Path]]:
    """Collect the data files readers open in the block (every reader checks its files with :func:`require_file`):
    for the cache of parsed examples and the provenance of a phase (:mod:`xstilts.loading`)."""
    files: list[Path] = []
    _RECORDERS.append(files)
    try:
        yield files
    finally:
        _RECORDERS.remove(files)


def require_file(path: Path, what: str) -> Path:
    """Return *path* if it is a file, else raise :class:`MissingDataError` saying what was expected there."""
    if not path.is_file():
        raise MissingDataError(f"{path}: file not found (expected {what})")
    for files in _RECORDERS:
        files.append(path)
    return path


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to about *limit* characters, for one-line error messages about arbitrary file content."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def type_name(value: Any) -> str:
    """The JSON name of a parsed JSON value's type (``string``, ``number``, ``object``...), for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def decode_text(path: Path, raw: bytes) -> str:
    """*raw* as UTF-8 text without a leading byte-order mark; invalid UTF-8 and NUL bytes (a sign of a corrupted or
    binary file) raise :class:`DataFormatError` with the line."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFormatError(path, 1, "UTF-16 text (a UTF-16 byte-order mark); expected UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        raise DataFormatError(path, raw.count(b"\n", 0, e.start) + 1,
                              f"invalid UTF-8 at byte {e.start - line_start} of the line") from None
    nul = text.find("\0")
    if nul >= 0:
        raise DataFormatError(path, text.count("\n", 0, nul) + 1,
                              f"NUL byte at character {nul - text.rfind(chr(10), 0, nul) - 1} of the line "
                              f"(a corrupted or binary file?)")
    return text


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of the file *path*; a missing or unreadable file is a :class:`MissingDataError` saying *what* was
    expected there."""
    require_file(path, what)
    try:
        return path.read_bytes()
    except OSError as e:
        raise MissingDataError(f"{path}: cannot be read ({e.strerror or type(e).__name__}; expected {what})") from None


def read_text(path: Path, what: str = "a UTF-8 text file") -> str:
    """The content of a UTF-8 text file (see :func:`decode_text`); a missing file is a :class:`MissingDataError`."""
    return decode_text(path, read_bytes(path, what))


def read_text_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file without their line ends (LF or CRLF) and without a leading byte-order mark; invalid
    UTF-8 and NUL bytes are reported with their line number."""
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def parse_json(path: Path, text: str, *, line: int | None = None, **kw) -> Any:
    """``json.loads(text)``; any parse failure (syntax, nesting too deep, an integer too long) is a
    :class:`DataFormatError` naming the line (*line*, for one line of a JSON-lines file) and column."""
    try:
        return json.loads(text, **kw)
    except json.JSONDecodeError as e:
        raise json_error(path, text, e, line) from None
    except (ValueError, RecursionError) as e:
        raise DataFormatError(path, line, f"invalid JSON ({short(str(e), 120)})") from None


def need_str(obj: dict, key: str, path: Path, line: int | None, where: str = "") -> str:
    """``obj[key]`` if it is a string, else a :class:`DataFormatError` (missing key, or a value of another type)."""
    if key not in obj:
        raise DataFormatError(path, line, f"{where}missing key {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise DataFormatError(path, line, f"{where}{key!r} must be a string, got {type_name(value)}")
    return value


def json_error(path: Path, text: str, e: json.JSONDecodeError, line: int | None = None) -> DataFormatError:
    """The :class:`DataFormatError` for a JSON syntax error *e* in *text*: at *line* (a JSON-lines file) or the error's
    line; an error past the last non-blank character (a truncated file) is reported on the last line that has text."""
    if not text.strip():
        return DataFormatError(path, line, "empty; expected JSON" if line else "empty file; expected JSON")
    if not text[e.pos:].strip():
        end = len(text.rstrip())
        where = line if line is not None else text.count("\n", 0, end) + 1
        return DataFormatError(path, where, f"invalid JSON (unexpected end of {'line' if line else 'file'}: "
                                            f"{e.msg}; truncated?)")
    # some of json's messages end in "at" ("Invalid control character at"): no "at at column"
    where = f"{e.msg} column {e.colno}" if e.msg.endswith(" at") else f"{e.msg} at column {e.colno}"
    return DataFormatError(path, line if line is not None else e.lineno, f"invalid JSON ({where})")


def iter_tsv(path: Path, ncols: int | None = None, *, header: list[str] | None = None, min_cols: int | None = None,
             quoting: int = csv.QUOTE_NONE) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, columns)`` of a tab-separated file.

    Args:
        ncols: exact number of columns required on every row (``None``: not checked).
        header: if given, the first row must start with these column names; it is not yielded.
        min_cols: minimum number of columns (for formats with optional trailing columns).
    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: bad UTF-8, a wrong header, an empty file or a row with the wrong column count,
            naming the file and line.
    """
    lines = read_text_lines(path)
    if not lines:
        raise DataFormatError(path, None, "empty file" + (f"; expected a header starting with "
                                                          f"{'<TAB>'.join(header)}" if header else ""))
    start = 0
    if header is not None:
        got = lines[0].split("\t")
        if got[: len(header)] != header:
            raise DataFormatError(path, 1, f"expected a header starting with {'<TAB>'.join(header)}, got "
                                           f"{short(lines[0], 80)}")
        start = 1
    rows = 0
    for i in range(start, len(lines)):
        if not lines[i].strip():
            continue
        rows += 1
        if quoting == csv.QUOTE_NONE:
            cols = lines[i].split("\t")
        else:
            cols = next(csv.reader(io.StringIO(lines[i]), delimiter="\t", quoting=quoting))
        if ncols is not None and len(cols) != ncols:
            raise DataFormatError(path, i + 1, f"expected {ncols} tab-separated columns, got {len(cols)}")
        if min_cols is not None and len(cols) < min_cols:
            raise DataFormatError(path, i + 1, f"expected at least {min_cols} tab-separated columns, got {len(cols)}")
        yield i + 1, cols
    if rows == 0:
        raise DataFormatError(path, None, "no data rows" + (" after the header" if header else ""))


def iter_jsonl(path: Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-empty line of a JSON-lines file.

    Raises:
        DataFormatError: a line that is not a JSON object, or lacks one of *required* keys.
    """
    lines = read_text_lines(path)
    if not lines:
        raise DataFormatError(path, None, "empty file; expected one JSON object per line")
    rows = 0
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        rows += 1
        obj = parse_json(path, line, line=i)
        if not isinstance(obj, dict):
            raise DataFormatError(path, i, f"expected a JSON object, got {type_name(obj)}")
        missing = [k for k in required if k not in obj]
        if missing:
            raise DataFormatError(path, i, f"missing key(s) {', '.join(missing)}")
        yield i, obj
    if rows == 0:
        raise DataFormatError(path, None, "no data lines; expected one JSON object per line")


# ----------------------------------------------------------------------------------------------- task families
class Family:
    """What all tasks of one kind share. Two protocols derive from it: :class:`TrainableFamily` (featurisation, head,
    loss, decoding, metric and prediction files: the tasks that are fine-tuned) and :class:`EmbeddingFamily` (tasks
    scored from sentence embeddings with no head: ``evaluate`` returns one :class:`EmbeddingResult`).

    Subclasses implement the methods for their kind and are registered in :data:`xstilts.tasks.FAMILIES`.
    """

    kind: str = ""
    #: False for families scored from sentence embeddings without training (:class:`EmbeddingFamily`).
    trainable: bool = True
    #: pydantic model of the per-task ``options`` a config may give this family (``None``: no options).
    options_model: Any = None

    def example_stats(self, task: Task, predictions: list, examples: list) -> list[dict] | None:
        """Per-example statistics from which :meth:`metric_from_stats` recomputes the task's headline metric on any
        subset of examples (for paired bootstrap confidence intervals), e.g. ``{"correct": 1}`` for accuracy,
        ``{"tp": 2, "fp": 0, "fn": 1}`` per sentence for span F1. ``None``: not supported."""
        return None

    def metric_from_stats(self, task: Task, stats: list[dict]) -> float:
        """The headline metric (%) of the examples whose statistics are *stats* (see :meth:`example_stats`)."""
        raise NotImplementedError


class TrainableFamily(Family):
    """A kind of task that is fine-tuned: featurisation, head, loss, decoding, metric and prediction files."""

    trainable = True
    #: True when :meth:`collate` draws random numbers from torch's global RNG (masked LM): the trainer then collates
    #: on the main thread under a seed derived from the run seed and the batch's position, so that results do not
    #: depend on prefetching, resuming or the number of data-parallel processes.
    collate_uses_rng: bool = False

    def featurize(self, task: Task, examples: list, tokenizer, max_length: int, prefix: str,
                  options: dict) -> dict[str, list]:
        """Tokenise *examples* into features: a dict of per-feature lists with ``input_ids``. A family may make
        several features per example (windows over long inputs); it then records which example each came from."""
        raise NotImplementedError

    def collate(self, features: dict, idx: list[int], pad_id: int) -> dict:
        """A padded batch (dict of tensors) of the features *idx* (default: right-padding, ``label`` as ``[B]``)."""
        from ..data import pad_batch

        return pad_batch(features, idx, pad_id)

    def feature_length(self, features: dict, i: int) -> int:
        """Length of feature *i* in tokens (used to sort evaluation batches)."""
        return len(features["input_ids"][i])

    def build_head(self, task: Task, hidden_size: int, dropout: float):
        """A fresh head module for *task*."""
        raise NotImplementedError

    def loss(self, head, hidden, batch) -> tuple[Any, Any]:
        """``(loss, logits)`` for a padded batch given the encoder's ``hidden [B, L, H]``."""
        raise NotImplementedError

    def logits(self, head, hidden, batch):
        """Per-example outputs for prediction (default: the head's output)."""
        return head(hidden, batch["attention_mask"])

    def decode(self, task: Task, outputs: list, features: dict, examples: list) -> list:
        """Predictions, one per example, from the per-feature outputs (in feature order)."""
        raise NotImplementedError

    def score(self, task: Task, predictions: list, examples: list) -> dict[str, float]:
        """Metrics (%) of *predictions* against the examples' gold; the task's ``metric`` key is the headline."""
        raise NotImplementedError

    def prediction_lines(self, task: Task, predictions: list) -> list[str]:
        """Lines of the XTREME submission file (``{task}/test-{lang}.tsv``) for *predictions*."""
        raise NotImplementedError

    def prediction_file(self, task: Task, split: str, language: str, predictions: list,
                        examples: list) -> tuple[str, str]:
        """``(file name, content)`` of the predictions in the XTREME submission layout, written under
        ``predictions/<task>/``. Default: ``{split}-{lang}.tsv`` with :meth:`prediction_lines`, one per line."""
        return f"{split}-{language}.tsv", "".join(x + "\n" for x in self.prediction_lines(task, predictions))

    def label_file(self, task: Task, split: str, language: str, examples: list) -> tuple[str, str] | None:
        """``(file name, content)`` of the gold labels of *examples* in the layout of :meth:`prediction_file`: the
        label file XTREME's ``evaluate.py`` compares that prediction file with (written under ``labels/<task>/``, so
        ``xstilts export --labels`` gives its ``--label_folder``). ``None``: not supported."""
        return None


@dataclass
class EmbeddingResult:
    """What :meth:`EmbeddingFamily.evaluate` returns: per language the scores (%, with ``n``), the prediction file
    ``(file name, content)`` and, where the metric decomposes over examples, the per-example statistics
    (:meth:`Family.example_stats`; empty otherwise). Unpacks as ``scores, predictions, stats``."""

    scores: dict[str, dict[str, float]]
    predictions: dict[str, tuple[str, str]]
    stats: dict[str, list[dict]] = field(default_factory=dict)

    def __iter__(self):
        return iter((self.scores, self.predictions, self.stats))


class EmbeddingFamily(Family):
    """A kind of task scored from the encoder's sentence embeddings, with no training and no head (retrieval)."""

    trainable = False

    def label_files(self, task: Task, languages: list[str], load) -> dict[str, tuple[str, str]]:
        """``{lang: (file name, content)}`` of the gold labels of each language's test data (``load(split,
        language)``, the loader :meth:`evaluate` was given, so nothing is read twice), matching the prediction files of
        :meth:`evaluate`."""
        return {}

    def evaluation_settings(self, task: Task, evaluation) -> dict:
        """The settings of the config's ``evaluation`` section (:class:`~xstilts.config.EvaluationConfig`) that
        change how *task* is scored, beyond the embedding settings every retrieval task has (``layer``, ``pooling``,
        ``max_length``, ``k``, prefixes); they are part of the retrieval phase's key and of :meth:`evaluate`'s
        *settings*. Default: none."""
        return {}

    def evaluate(self, task: Task, languages: list[str], load, embed, settings: dict) -> EmbeddingResult:
        """Score every language from embeddings.

        Args:
            load: ``load(split, language) -> data`` (the task's reader).
            embed: ``embed(texts, prefix=None) -> Tensor [len(texts), H]``, float32, the configured layer and pooling;
                *prefix* overrides the model's text prefix (e.g. ``"query: "`` for e5 questions).
            settings: evaluation settings (``k`` for margin scoring, ``layer``, ``pooling``, ``max_length``).
        Returns:
            an :class:`EmbeddingResult`: ``{lang: {metric: %, ..., "n": count}}``, ``{lang: (file name, content) of
            the predictions}`` and the per-example statistics where the family has them.
        """
        raise NotImplementedError
