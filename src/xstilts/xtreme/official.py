"""Score a folder of test predictions exactly as XTREME's official ``evaluate.py`` does (``xstilts evaluate``).

A re-implementation of google-research/xtreme ``evaluate.py`` (the version with ``--xtreme_version
{xtreme,xtreme-r}``, commit da430dd06cc7344ceb2e7cb030219656ebf0606a) and of the scorers it calls:
``third_party/evaluate_squad.py`` (SQuAD ``evaluate-v1.1.py``), ``third_party/evaluate_mlqa.py`` (MLQA
``mlqa_evaluation_v1.py``), ``third_party/utils_mewslix.py`` (``evaluate``) and seqeval's ``f1_score`` /
``precision_score`` / ``recall_score``. The formulas come from :mod:`xstilts.metrics`; this module reads the files as
``evaluate.py`` reads them and forms the same averages. Every score is a percentage (0-100).

Layout (both folders): ``<folder>/<task>/test-<lang>.<ext>``, ``<ext>`` ``json`` for the QA tasks (``QA_TASKS``)
and mewslix, ``jsonl`` for xcopa, ``tsv`` otherwise. A task is scored when both folders have its subfolder, and then on
every language ``evaluate.py`` lists for it (a missing file is an error, as there). File formats:

* pawsx, xnli, tatoeba (``read_label``): one label per line, compared after ``str.strip()``; blank lines count.
* udpos, panx (``read_tag``): one tag per line, sentences separated by a blank line.
* bucc2018 (``read_label`` + ``bucc_f1``): one ``<src id>\\t<en id>`` pair per line, compared as sets.
* the QA tasks, ``QA_TASKS`` (``read_squad``): gold in SQuAD v1.1 format (``{"data": [...]}``), predictions
  ``{question id: answer text}``; a question without a prediction scores 0 and counts.
* xcopa (``read_xcopa``): one JSON object with a ``label`` per line.
* mewslix (``read_squad`` + ``utils_mewslix.evaluate``): gold ``{example id: [entity id]}``, predictions ``{example
  id: [entity ids, best first]}``; MRR over the top 20, reported as ``map@20``.

Files are read as UTF-8 with universal newlines (``\\n``, ``\\r\\n`` and ``\\r`` end a line), as Python's text mode
does for ``evaluate.py`` under a UTF-8 locale.

Where ``evaluate.py`` crashes this module raises a one-line :class:`~xstilts.errors.XstiltsError` instead (unequal line
or sentence counts, missing files, invalid JSON or UTF-8, malformed records, empty files). Where it cannot score,
this module says so: LAReQA (``evaluate.py`` lists no languages for it) is skipped with a note, and Mewsli-X, which
``evaluate.py`` gives no ``avg_metric`` (so its XTREME-R ``retrieval`` group crashes), gets ``avg_metric =
avg_map@20``. XTREME-R's ``all_task`` needs every task of ``XTREME_R_TASK2LANGS``, LAReQA included, so neither
``evaluate.py`` nor this module reports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

from .benchmark import QA_TASKS, XTREME_LANGUAGES, XTREME_R_EVAL_ORDER, XTREME_R_LANGUAGES
from ..errors import DataFormatError, MissingDataError, XstiltsError

#: The official script these definitions follow.
SOURCE = "google-research/xtreme evaluate.py @ da430dd06cc7344ceb2e7cb030219656ebf0606a"

XTREME_VERSIONS = ("xtreme", "xtreme-r")

#: ``XTREME_GROUP2TASK`` / ``XTREME_R_GROUP2TASK`` of ``evaluate.py`` (insertion order is the output order).
GROUP2TASK: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme": {
        "classification": ("pawsx", "xnli"),
        "tagging": ("udpos", "panx"),
        "qa": QA_TASKS,
        "retrieval": ("bucc2018", "tatoeba"),
    },
    "xtreme-r": {
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos", "panx"),
        "qa": QA_TASKS,
        "retrieval": ("tatoeba", "mewslix"),
        "multi_choice": ("xcopa",),
    },
}


#: ``XTREME_TASK2LANGS`` / ``XTREME_R_TASK2LANGS`` of ``evaluate.py``: tasks in its output order, each with the
#: languages it is scored and averaged on; the lists are :mod:`xstilts.xtreme.benchmark`'s, except LAReQA, which has none
#: there (``evaluate.py`` cannot score it).
TASK2LANGS: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme": dict(XTREME_LANGUAGES),
    "xtreme-r": {t: () if t == "lareqa" else XTREME_R_LANGUAGES[t] for t in XTREME_R_EVAL_ORDER},
}

#: Where a run reports a metric of ``evaluate.py`` under another name: ``(task, official name) -> xstilts name``.
REPORTED_NAMES = {("tatoeba", "accuracy"): "accuracy@1"}


def reported_metric(task: str, metric: str) -> str:
    """The key under which a run's ``metrics.json`` holds ``evaluate.py``'s *metric* of *task* (``task`` as the
    submission folder names it)."""
    return REPORTED_NAMES.get((task, metric), metric)


#: Tasks whose prediction and label files must have the same number of examples (``evaluate_one_task``'s assert).
_COUNTED = ("pawsx", "xnli", "tatoeba", "panx", "udpos", "xcopa")
MEWSLIX_K = 20


def suffix(task: str, xtreme_version: str = "xtreme") -> str:
    """File extension of *task* (``get_suffix`` of ``evaluate.py``): ``json`` for QA and Mewsli-X, ``jsonl`` for
    XTREME-R's multiple-choice task (XCOPA), else ``tsv``."""
    groups = GROUP2TASK[xtreme_version]
    if task in groups["qa"] or task == "mewslix":
        return "json"
    if task in groups.get("multi_choice", ()):
        return "jsonl"
    return "tsv"


# ------------------------------------------------------------------------------------------------------ reading
def read_text(path: str | Path) -> str:
    """The file as text: strict UTF-8, universal newlines translated to ``\\n`` (Python's text mode).

    Raises:
        MissingDataError: no such file.
        DataFormatError: not UTF-8 (names the line of the first bad byte) or unreadable.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingDataError(f"{path}: not found") from None
    except IsADirectoryError:
        raise DataFormatError(path, None, "is a folder; expected a file") from None
    except OSError as e:
        raise DataFormatError(path, None, f"cannot read ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[:e.start].decode("utf-8")
        line = before.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
        raise DataFormatError(path, line, f"invalid UTF-8 (byte 0x{data[e.start]:02x}); expected UTF-8 text") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_lines(path: str | Path) -> list[str]:
    """The lines of the file without their line ends, as iterating over it in text mode yields them (a final line
    end does not start another line)."""
    text = read_text(path)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def read_label(path: str | Path) -> list[str]:
    """``read_label`` of ``evaluate.py``: every line, stripped (blank lines are kept as ``""``)."""
    return [x.strip() for x in read_lines(path)]


def read_tag(path: str | Path) -> tuple[list[list[str]], list[int]]:
    """``read_tag`` of ``evaluate.py``: stripped non-blank lines are tags; every blank line closes a sentence (two
    blank lines in a row make an empty sentence); a last sentence without a blank line after it counts.

    Returns:
        ``(sentences, first line of each sentence)`` (for an empty sentence, the line of its blank line).
    """
    sentences: list[list[str]] = []
    starts: list[int] = []
    example: list[str] = []
    start = 0
    for i, line in enumerate(read_lines(path), 1):
        line = line.strip()
        if line:
            if not example:
                start = i
            example.append(line)
        else:
            sentences.append(example)
            starts.append(start if example else i)
            example = []
    if example:
        sentences.append(example)
        starts.append(start)
    return sentences, starts


def _json_error(path: Path, e: json.JSONDecodeError, what: str) -> DataFormatError:
    return DataFormatError(path, e.lineno, f"invalid JSON ({e.msg}, column {e.colno}); expected {what}")


def read_json(path: str | Path, what: str = "a JSON document") -> Any:
    """The file's JSON value (text as :func:`read_text`)."""
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise _json_error(path, e, what) from None


def read_squad(path: str | Path) -> Any:
    """``read_squad`` of ``evaluate.py``: the JSON value, or its ``data`` member when it is an object that has one
    (used for both gold files and prediction files)."""
    obj = read_json(path)
    if isinstance(obj, dict) and "data" in obj:
        return obj["data"]
    return obj


def read_xcopa(path: str | Path) -> list[Any]:
    """``read_xcopa`` of ``evaluate.py``: one JSON object per line, its ``label`` value."""
    path = Path(path)
    labels = []
    for i, row in enumerate(read_lines(path), 1):
        try:
            obj = json.loads(row)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, i, f"invalid JSON ({e.msg}); expected one {{\"label\": ...}} object per "
                                           f"line") from None
        if not isinstance(obj, dict) or "label" not in obj:
            raise DataFormatError(path, i, f"expected a JSON object with a \"label\", got {_short(obj)}")
        labels.append(obj["label"])
    return labels


def _short(obj: Any, n: int = 60) -> str:
    s = json.dumps(obj, ensure_ascii=False) if not isinstance(obj, str) else repr(obj)
    return s if len(s) <= n else s[:n - 3] + "..."


# ------------------------------------------------------------------------------------------------------ checks
def _same_count(pred_path: Path, label_path: Path, n_pred: int, n_label: int, unit: str,
                line: int | None = None) -> None:
    """evaluate.py asserts equal counts (and divides by the count): unequal or zero counts are errors."""
    if n_pred != n_label:
        if line is None and unit == "line":
            line = min(n_pred, n_label) + 1  # the first line without a counterpart (or just past the end)
        raise DataFormatError(pred_path, line, f"{n_pred} {unit}s, but the label file {label_path} has {n_label}; "
                                               f"evaluate.py pairs the {unit}s of both files in order and needs as "
                                               f"many predictions as labels")
    if n_pred == 0:
        raise DataFormatError(pred_path, None, f"no {unit}s (and none in {label_path}); nothing to score")


def _check_tags(pred_path: Path, label_path: Path, preds: list[list[str]], pstarts: list[int],
                labels: list[list[str]], lstarts: list[int]) -> None:
    for k, (p, g) in enumerate(zip(preds, labels)):
        if len(p) != len(g):
            raise DataFormatError(pred_path, pstarts[k], f"sentence {k + 1} has {len(p)} tags, but sentence {k + 1} "
                                                         f"of {label_path} (line {lstarts[k]}) has {len(g)}; expected "
                                                         f"one tag per line and a blank line after each sentence")
    extra = pstarts[len(labels)] if len(preds) > len(labels) else None
    _same_count(pred_path, label_path, len(preds), len(labels), "sentence", extra)


def _qa_gold(label_path: Path, dataset: Any) -> list[tuple[Any, Any, str]]:
    """``(question id, answers, where)`` of every question, in the order ``evaluate`` walks them."""
    if not isinstance(dataset, list):
        raise DataFormatError(label_path, None, "expected SQuAD v1.1 format: {\"data\": [{\"paragraphs\": [{\"qas\": "
                                                "[{\"id\", \"answers\": [{\"text\"}]}]}]}]}")
    out = []
    for a, article in enumerate(dataset):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DataFormatError(label_path, None, f"data[{a}]: expected an object with a \"paragraphs\" list")
        for p, paragraph in enumerate(article["paragraphs"]):
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise DataFormatError(label_path, None,
                                      f"data[{a}].paragraphs[{p}]: expected an object with a \"qas\" list")
            for q, qa in enumerate(paragraph["qas"]):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                if not isinstance(qa, dict) or "id" not in qa:
                    raise DataFormatError(label_path, None, f"{where}: expected a question object with an \"id\"")
                if isinstance(qa["id"], (list, dict)):
                    raise DataFormatError(label_path, None, f"{where}: the id must be a string, got {_short(qa['id'])}")
                out.append((qa["id"], qa.get("answers"), where))
    return out


def _answer_texts(label_path: Path, answers: Any, where: str) -> list[str]:
    if not isinstance(answers, list) or not answers:
        raise DataFormatError(label_path, None, f"{where}: expected a non-empty \"answers\" list")
    texts = []
    for j, x in enumerate(answers):
        if not isinstance(x, dict) or not isinstance(x.get("text"), str):
            raise DataFormatError(label_path, None, f"{where}.answers[{j}]: expected an object with a \"text\" string")
        texts.append(x["text"])
    return texts


# ------------------------------------------------------------------------------------------------------ scoring
def _score_accuracy(pred_path: Path, label_path: Path, language: str, reader: Callable) -> dict[str, float]:
    from ..metrics.classification import accuracy

    preds, labels = reader(pred_path), reader(label_path)
    _same_count(pred_path, label_path, len(preds), len(labels), "line")
    return {"accuracy": accuracy(preds, labels)}


def _score_tags(pred_path: Path, label_path: Path, language: str, pos: bool) -> dict[str, float]:
    from ..metrics.tagging import ner_f1, xtreme_pos_f1

    preds, pstarts = read_tag(pred_path)
    labels, lstarts = read_tag(label_path)
    _check_tags(pred_path, label_path, preds, pstarts, labels, lstarts)
    out = (xtreme_pos_f1 if pos else ner_f1)(labels, preds)
    return {k: float(out[k]) for k in ("f1", "precision", "recall")}


def _score_bucc(pred_path: Path, label_path: Path, language: str) -> dict[str, float]:
    from ..metrics.retrieval import bucc_prf

    preds, labels = read_label(pred_path), read_label(label_path)
    return bucc_prf((tuple(x.split("\t")) for x in labels), (tuple(x.split("\t")) for x in preds))


def _score_qa(pred_path: Path, label_path: Path, language: str, mlqa: bool) -> dict[str, float]:
    from ..metrics.qa import MLQA_LANGS, mlqa_scores, squad_v1_scores

    predictions = read_squad(pred_path)
    gold = _qa_gold(label_path, read_squad(label_path))
    if not isinstance(predictions, dict):
        raise DataFormatError(pred_path, None, f"expected a JSON object {{question id: answer text}}, got "
                                               f"{type(predictions).__name__}")
    if not gold:
        raise DataFormatError(label_path, None, "no questions; nothing to score")
    preds: list[str | None] = []
    golds: list[list[str]] = []
    for qid, answers, where in gold:
        if qid not in predictions:
            preds.append(None)
            golds.append([])
            continue
        p = predictions[qid]
        if not isinstance(p, str):
            raise DataFormatError(pred_path, None, f"question {qid!r}: expected an answer string, got {_short(p)}")
        preds.append(p)
        golds.append(_answer_texts(label_path, answers, where))
    if mlqa:
        if language not in MLQA_LANGS:
            raise XstiltsError(f"{label_path}: the MLQA evaluation has no rules for language {language!r}")
        return mlqa_scores(preds, golds, language)
    return squad_v1_scores(preds, golds)


def _score_mewslix(pred_path: Path, label_path: Path, language: str) -> dict[str, float]:
    from ..metrics.ranking import mewslix_map_at_k

    predictions = read_squad(pred_path)
    gold = read_squad(label_path)
    if not isinstance(gold, dict):
        raise DataFormatError(label_path, None, "expected a JSON object {example id: [gold entity id]}")
    for ex_id, labels in gold.items():
        if not isinstance(labels, list) or not labels or not isinstance(labels[0], str):
            raise DataFormatError(label_path, None, f"example {ex_id!r}: expected a list with the gold entity id, got "
                                                    f"{_short(labels)}")
    if not isinstance(predictions, dict):
        raise DataFormatError(pred_path, None, "expected a JSON object {example id: [entity ids, best first]}")
    for ex_id in gold:
        p = predictions.get(ex_id)
        if p is not None and not isinstance(p, list):
            raise DataFormatError(pred_path, None, f"example {ex_id!r}: expected a list of entity ids, got {_short(p)}")
    return {f"map@{MEWSLIX_K}": mewslix_map_at_k(gold, predictions, MEWSLIX_K)}


def score_file(task: str, prediction_file: str | Path, label_file: str | Path, language: str) -> dict[str, float]:
    """Scores (%) of one language of one task: ``evaluate_one_task`` of ``evaluate.py``.

    Returns:
        ``{"accuracy"}`` (pawsx, xnli, tatoeba, xcopa), ``{"f1", "precision", "recall"}`` (panx, udpos, bucc2018),
        ``{"exact_match", "f1"}`` (the QA tasks) or ``{"map@20"}`` (mewslix).
    Raises:
        XstiltsError: unknown task, missing file, or a file that evaluate.py could not score (see the module doc).
    """
    p, g = Path(prediction_file), Path(label_file)
    if task in ("pawsx", "xnli", "tatoeba"):
        return _score_accuracy(p, g, language, read_label)
    if task == "xcopa":
        return _score_accuracy(p, g, language, read_xcopa)
    if task in ("panx", "udpos"):
        return _score_tags(p, g, language, pos=task == "udpos")
    if task == "bucc2018":
        return _score_bucc(p, g, language)
    if task in QA_TASKS:
        return _score_qa(p, g, language, mlqa=task == "mlqa")
    if task == "mewslix":
        return _score_mewslix(p, g, language)
    raise XstiltsError(f"evaluate.py cannot score task {task!r}")


def _subfolders(folder: Path, what: str) -> list[str]:
    if not folder.is_dir():
        raise MissingDataError(f"{folder}: not a folder (expected the {what} folder, one subfolder per task)")
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def evaluate(prediction_folder: str | Path, label_folder: str | Path, xtreme_version: str = "xtreme") -> dict:
    """Score every task whose subfolder is in both folders: ``evaluate`` of ``evaluate.py``.

    For each such task (in ``evaluate.py``'s order) every listed language is scored; ``avg_<metric>`` is the plain
    mean over those languages; ``avg_metric`` is ``(avg_exact_match + avg_f1) / 2`` for QA, else ``avg_f1`` (tagging,
    BUCC), else ``avg_accuracy`` (classification, Tatoeba, XCOPA), and ``avg_map@20`` for Mewsli-X (see the module
    doc). A group's score is the mean of its tasks' ``avg_metric`` when all its tasks are scored; ``all_task`` the mean
    over every task of the version when all are.

    Args:
        xtreme_version: ``xtreme`` or ``xtreme-r`` (``--xtreme_version``).
    Returns:
        ``{"xtreme_version", "source", "prediction_folder", "label_folder", "overall": {"all_task"?, group: %},
        "tasks": {task: {metric: {lang: %}, "avg_<metric>": %, "avg_metric": %}}, "notes": [str]}``.
        :func:`official_json` turns it into the JSON ``evaluate.py`` writes to ``--output_file``.
    Raises:
        XstiltsError: a folder is missing, no task is in both folders, or a file cannot be scored.
    """
    if xtreme_version not in XTREME_VERSIONS:
        raise XstiltsError(f"--xtreme_version {xtreme_version}: expected one of {', '.join(XTREME_VERSIONS)}")
    pred_root, label_root = Path(prediction_folder), Path(label_folder)
    pred_tasks = _subfolders(pred_root, "prediction")
    label_tasks = _subfolders(label_root, "label")
    group2task, task2langs = GROUP2TASK[xtreme_version], TASK2LANGS[xtreme_version]
    notes: list[str] = []
    tasks: dict[str, dict] = {}
    for task, langs in task2langs.items():
        if task not in pred_tasks or task not in label_tasks:
            if task in pred_tasks:
                notes.append(f"{task}: predictions but no labels in {label_root}; not scored")
            elif task in label_tasks:
                notes.append(f"{task}: labels but no predictions in {pred_root}; not scored")
            continue
        if not langs:
            notes.append(f"{task}: evaluate.py lists no languages for {task} and cannot score it from files; skipped")
            continue
        ext = suffix(task, xtreme_version)
        score: dict[str, Any] = {}
        for lang in langs:
            pf = pred_root / task / f"test-{lang}.{ext}"
            lf = label_root / task / f"test-{lang}.{ext}"
            for f in (pf, lf):
                if not f.is_file():
                    raise MissingDataError(f"{f}: not found; evaluate.py scores {task} on all of "
                                           f"{', '.join(langs)} and needs test-<lang>.{ext} for each in both folders")
            for metric, value in score_file(task, pf, lf, lang).items():
                score.setdefault(metric, {})[lang] = float(value)
        metrics = list(score)
        for m in metrics:
            values = score[m].values()
            score[f"avg_{m}"] = sum(values) / len(values)
        if task in group2task["qa"]:
            score["avg_metric"] = (score["avg_exact_match"] + score["avg_f1"]) / 2
        elif "avg_f1" in score:
            score["avg_metric"] = score["avg_f1"]
        elif "avg_accuracy" in score:
            score["avg_metric"] = score["avg_accuracy"]
        elif f"avg_map@{MEWSLIX_K}" in score:
            score["avg_metric"] = score[f"avg_map@{MEWSLIX_K}"]
            notes.append(f"mewslix: avg_metric = avg_map@{MEWSLIX_K} (evaluate.py sets none for Mewsli-X, and its "
                         f"retrieval group then fails)")
        tasks[task] = score
    if not tasks:
        why = "; ".join(notes) if notes else (
            f"no task folder is in both {pred_root} ({', '.join(pred_tasks) or 'none'}) and {label_root} "
            f"({', '.join(label_tasks) or 'none'})")
        raise XstiltsError(f"nothing to score: {why}; evaluate.py ({xtreme_version}) scores the task folders "
                           f"{', '.join(t for t, v in task2langs.items() if v)}")
    overall: dict[str, float] = {}
    available = set(tasks)
    if set(task2langs) == available:
        overall["all_task"] = sum(tasks[t]["avg_metric"] for t in task2langs) / len(task2langs)
    else:
        missing = [t for t in task2langs if t not in available]
        why = " (evaluate.py cannot score lareqa, so it never reports all_task for xtreme-r)" \
            if "lareqa" in missing else ""
        notes.append(f"all_task: not available; not scored: {', '.join(missing)}{why}")
    for group, members in group2task.items():
        if not set(members) - available:
            overall[group] = sum(tasks[t]["avg_metric"] for t in members) / len(members)
    return {"xtreme_version": xtreme_version, "source": SOURCE, "prediction_folder": str(pred_root),
            "label_folder": str(label_root), "overall": overall, "tasks": tasks, "notes": notes}


def official_json(result: Mapping) -> dict:
    """The JSON ``evaluate.py`` writes to ``--output_file``: the group scores (and ``all_task``), then each task's
    scores, one object."""
    return {**result["overall"], **result["tasks"]}


def format_report(result: Mapping) -> str:
    """The text ``evaluate.py`` prints (per task: each metric's languages and scores, then the averages, ``%.2f``),
    followed by the group scores and any notes."""
    lines = [f"Evaluating on {result['xtreme_version']} with the definitions of {result['source']} (scores in %)."]
    for task, d in result["tasks"].items():
        lines += ["", f"====== {task} ======"]
        metrics = []
        for metric, per_lang in d.items():
            if metric.startswith("avg"):
                continue
            lines += [f"------ {metric} ------", ", ".join(per_lang), ", ".join(f"{v:.2f}" for v in per_lang.values())]
            metrics.append(metric)
        metrics.append("metric")
        for metric in metrics:
            if f"avg_{metric}" in d:
                lines.append(f"{metric}: {d[f'avg_{metric}']:.2f}")
    if result["overall"]:
        lines += ["", "====== groups ======"]
        lines += [f"{k}: {v:.2f}" for k, v in result["overall"].items()]
    if result["notes"]:
        lines += [""] + [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"
