"""The span-QA family (extractive question answering) and the reader of SQuAD-format JSON that its data sets share.

Its tasks are declared in their own modules (``xstilts tasks --kind span_qa`` lists them, with their modules). Every
one of them is read from its official SQuAD-format JSON (``{"data": [{"paragraphs": [{"context",
"qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}``) by :func:`read_squad_file`, which checks
every answer: ``context[answer_start:answer_start + len(text)]`` must be the answer text (XTREME's
``utils_preprocess.py`` asserts the same); hub rows (``id``, ``title``, ``context``, ``question``, ``answers``) are
converted by :func:`_hf_squad`.

The family (:class:`SpanQA`) follows XTREME's ``third_party/run_squad.py`` (the transformers SQuAD example): the
question (at most ``max_query_length`` tokens) and a window of the context, windows starting every ``doc_stride``
context tokens (XTREME's meaning of ``doc_stride``; transformers' later ``run_qa.py`` uses it as the overlap between
windows instead); a start/end linear head; training labels point at the answer's tokens when the window holds the whole
answer and at the first token (``[CLS]``/``<s>``) otherwise; prediction takes the best-scoring span of at most
``max_answer_length`` tokens among the ``n_best_size`` best starts and ends of every window (a start only counts in
the window where it has the most context, as ``_check_is_max_context``), mapped back to the context's characters
through the tokenizer's offsets; with SQuAD v2.0 "no answer" is predicted when the null score (first-token start +
end logits, minimum over windows) exceeds the best span's score by more than ``null_score_diff_threshold``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...errors import DataFormatError, XstiltsError
from .. import register_family
from ..base import TrainableFamily, parse_json, read_text, short, type_name


@dataclass(frozen=True)
class QAExample:
    """One question about one context.

    Attributes:
        guid: the question id of the official file (predictions are keyed by it).
        answers / answer_starts: gold answer texts and their character offsets in ``context`` (the first one is used
            for training); empty for an unanswerable SQuAD v2.0 question.
        language: the context's language (MLQA scoring normalises per language).
    """

    guid: str
    question: str
    context: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]
    language: str = "en"
    is_impossible: bool = False
    title: str = ""


# --------------------------------------------------------------------------------------------------- readers
def _line_of(text: str, qid: Any) -> int | None:
    """1-based line of the question *qid* (``"id": "<qid>"``) in the raw JSON *text*, if it can be found."""
    for quoted in {json.dumps(qid), json.dumps(qid, ensure_ascii=False)}:
        m = re.search(r'"id"\s*:\s*' + re.escape(quoted), text)
        if m:
            return text.count("\n", 0, m.start()) + 1
    return None


def _load_json(path: Path) -> tuple[Any, str]:
    text = read_text(path, "a SQuAD-format JSON file")
    if not text.strip():
        raise DataFormatError(path, None, "empty file; expected SQuAD-format JSON")
    return parse_json(path, text), text


def read_squad_file(path: Path, *, version_2: bool = False, language: str = "en",
                    keep=None) -> list[QAExample]:
    """Questions of a SQuAD-format JSON file (every span-QA task's official format).

    Args:
        version_2: SQuAD v2.0 rules: questions may have no answers (``is_impossible``).
        language: the language recorded in the examples.
        keep: optional ``keep(question_id) -> bool`` filter.
    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: invalid UTF-8 or JSON (with the line), a missing or mistyped key, an answer that is not at
            its ``answer_start``, a question without answers in a v1.1-format file, or a repeated question id; the
            message names the file, the line of the question where it can be found, and the question id.
    """
    data, text = _load_json(path)
    articles = data.get("data") if isinstance(data, dict) else data
    if not isinstance(articles, list):
        raise DataFormatError(path, None, 'expected a JSON object with a "data" list of articles (SQuAD format)')
    out: list[QAExample] = []
    seen: set[str] = set()

    def need(obj, key, typ, where, qid=None):
        if not isinstance(obj, dict):
            raise DataFormatError(path, _line_of(text, qid) if qid is not None else None,
                                  f"{where}: expected a JSON object, got {type_name(obj)}")
        if key not in obj:
            raise DataFormatError(path, _line_of(text, qid) if qid is not None else None,
                                  f"{where}: missing key {key!r}")
        if not isinstance(obj[key], typ) or isinstance(obj[key], bool) and typ is not bool:
            names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise DataFormatError(path, _line_of(text, qid) if qid is not None else None,
                                  f"{where}: {key!r} should be a {names}, got {type(obj[key]).__name__}")
        return obj[key]

    for a, article in enumerate(articles):
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p, par in enumerate(need(article, "paragraphs", list, f"data[{a}]")):
            where_p = f"data[{a}].paragraphs[{p}]"
            context = need(par, "context", str, where_p)
            for q, qa in enumerate(need(par, "qas", list, where_p)):
                where = f"{where_p}.qas[{q}]"
                qid = need(qa, "id", (str, int), where)
                where = f"question {short(qid)} ({where})"
                question = need(qa, "question", str, where, qid)
                answers = need(qa, "answers", list, where, qid)
                impossible = bool(qa.get("is_impossible", False)) if isinstance(qa, dict) else False
                texts, starts = [], []
                for k, ans in enumerate(answers):
                    t = need(ans, "text", str, f"{where} answers[{k}]", qid)
                    s = need(ans, "answer_start", int, f"{where} answers[{k}]", qid)
                    if not t:
                        raise DataFormatError(path, _line_of(text, qid), f"{where}: answers[{k}] has an empty text")
                    if not 0 <= s < len(context) or context[s:s + len(t)] != t:
                        raise DataFormatError(path, _line_of(text, qid),
                                              f"{where}: answer {short(t)} is not at answer_start {s} of its context "
                                              f"(the context has {short(context[max(s, 0):max(s, 0) + len(t)])} "
                                              f"there)")
                    texts.append(t)
                    starts.append(s)
                if not texts and not version_2:
                    raise DataFormatError(path, _line_of(text, qid),
                                          f"{where}: no answers; a SQuAD v1.1-format file needs at least one per "
                                          f"question (unanswerable questions belong to SQuAD v2.0)")
                qid = str(qid)
                if keep is not None and not keep(qid):
                    continue
                if qid in seen:
                    raise DataFormatError(path, _line_of(text, qid), f"{where}: question id used twice")
                seen.add(qid)
                out.append(QAExample(qid, question, context, tuple(texts), tuple(starts), language,
                                     impossible or not texts, str(title)))
    if not out:
        raise DataFormatError(path, None, "no questions found")
    return out


def _discover(pattern: str, group: int = 1):
    def find(folder: Path) -> list[str]:
        rx = re.compile(pattern)
        found = {m.group(group) for p in folder.rglob("*.json") if (m := rx.fullmatch(p.name))}
        return sorted(found)

    return find


# ----------------------------------------------------------------------------------- Hugging Face conversions
def _hf_squad(row: dict, i: int, language: str = "en") -> QAExample:
    ans = row.get("answers") or {"text": [], "answer_start": []}
    texts, starts = tuple(ans["text"]), tuple(int(s) for s in ans["answer_start"])
    return QAExample(str(row.get("id", i)), row["question"], row["context"], texts, starts, language or "en",
                     not texts, row.get("title", "") or "")


# --------------------------------------------------------------------------------------------------- family
class QAOptions(BaseModel):
    """Per-task ``options`` of QA tasks (the defaults of XTREME's ``run_squad.py``)."""

    model_config = ConfigDict(extra="forbid")

    doc_stride: int = Field(128, gt=0, description="context tokens between the starts of consecutive windows")
    max_query_length: int = Field(64, gt=0, description="questions are cut to this many tokens")
    n_best_size: int = Field(20, gt=0, description="best start and end positions tried per window")
    max_answer_length: int = Field(30, gt=0, description="longest predicted answer, in tokens")
    version_2_with_negative: bool | None = Field(
        None, description="allow 'no answer' predictions (default: from the task: true for squad2 only)")
    null_score_diff_threshold: float = Field(
        0.0, description="predict no answer when null score - best span score exceeds this (v2 only)")


class SpanQA(TrainableFamily):
    """Extractive QA: question + context window -> start/end logits (:class:`~xstilts.models.heads.qa.SpanHead`).

    Features (one per window): ``input_ids`` (``[CLS] question [SEP] context-window [SEP]`` as the tokenizer's pair
    template makes it), optional ``token_type_ids``, ``start_positions``/``end_positions`` (training labels, 0 when the
    window lacks the answer), ``example_index`` (index into the examples given to :meth:`featurize`), ``example_id``,
    ``context_start`` (position of the window's first context token), ``window_start`` (that token's index in the
    whole tokenised context), ``offsets`` (``int32 [n_context_tokens, 2]`` character spans in the example's context;
    ``-1`` for tokens of the text prefix) and ``qa_options`` (decoding settings).
    """

    kind = "span_qa"
    options_model = QAOptions

    # ------------------------------------------------------------------------------------------ features
    def featurize(self, task, examples, tokenizer, max_length, prefix, options):
        opts = QAOptions.model_validate(options or {})
        v2 = opts.version_2_with_negative
        if v2 is None:
            v2 = bool(task.extra.get("version_2_with_negative", False))
        if not getattr(tokenizer, "is_fast", False):
            raise XstiltsError("extractive QA needs a fast (Rust) tokenizer, for its character offsets")
        n_special = tokenizer.num_special_tokens_to_add(pair=True)
        room = max_length - n_special
        if room < 2:
            raise XstiltsError(f"model.max_length {max_length} leaves no room for a question and a context "
                               f"({n_special} special tokens)")
        # questions: cut to max_query_length tokens (and to half the room, so that some context always fits)
        q_cap = max(1, min(opts.max_query_length, room // 2))
        questions = [prefix + e.question.lstrip() for e in examples]
        q_lens = self._cut_questions(tokenizer, questions, q_cap)
        decode_opts = {"n_best_size": opts.n_best_size, "max_answer_length": opts.max_answer_length,
                       "version_2_with_negative": v2, "null_score_diff_threshold": opts.null_score_diff_threshold}
        plen = len(prefix)
        records: list[tuple] = []
        groups: dict[int, list[int]] = {}
        for i, n in enumerate(q_lens):
            groups.setdefault(n, []).append(i)
        use_tt = False
        for q_len, members in groups.items():
            budget = room - q_len  # context tokens per window
            overlap = max(0, budget - opts.doc_stride)  # windows start every doc_stride tokens (XTREME run_squad)
            enc = tokenizer([questions[i] for i in members], [prefix + examples[i].context for i in members],
                            truncation="only_second", max_length=max_length, stride=overlap,
                            return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
            sample_map, all_ids, all_offs = enc["overflow_to_sample_mapping"], enc["input_ids"], enc["offset_mapping"]
            all_tt = enc["token_type_ids"] if "token_type_ids" in enc else None
            last_ex, ws, prev_len = -1, 0, 0
            for j in range(len(all_ids)):
                ex = members[sample_map[j]]
                seq = enc.sequence_ids(j)
                ctx = [k for k, s in enumerate(seq) if s == 1]
                cstart = ctx[0] if ctx else len(seq)
                if ex != last_ex:
                    last_ex, ws = ex, 0
                else:
                    ws += prev_len - overlap
                prev_len = len(ctx)
                offs = np.asarray(all_offs[j][cstart:cstart + len(ctx)], dtype=np.int32).reshape(-1, 2) - plen
                offs[offs[:, 0] < 0] = -1
                start, end = self._label(examples[ex], offs, cstart)
                tt = all_tt[j] if all_tt is not None else None
                use_tt = use_tt or bool(tt and any(tt))
                records.append((ex, ws, all_ids[j], tt, start, end, cstart, offs))
        records.sort(key=lambda r: (r[0], r[1]))
        feats: dict[str, list] = {
            "input_ids": [r[2] for r in records],
            "start_positions": [r[4] for r in records],
            "end_positions": [r[5] for r in records],
            "example_index": [r[0] for r in records],
            "example_id": [examples[r[0]].guid for r in records],
            "context_start": [r[6] for r in records],
            "window_start": [r[1] for r in records],
            "offsets": [r[7] for r in records],
            "qa_options": [decode_opts] * len(records),
        }
        if use_tt:
            feats["token_type_ids"] = [r[3] for r in records]
        return feats

    @staticmethod
    def _cut_questions(tokenizer, questions: list[str], cap: int) -> list[int]:
        """Cut (in place) every question longer than *cap* tokens after its *cap*-th token; return token counts."""
        if not questions:
            return []
        enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
        lens = [len(x) for x in enc["input_ids"]]
        for i, n in enumerate(lens):
            keep = cap
            while n > cap and keep > 0:
                questions[i] = questions[i][: enc["offset_mapping"][i][keep - 1][1]]
                n = len(tokenizer(questions[i], add_special_tokens=False)["input_ids"])
                keep -= 1
            if n > cap:
                raise XstiltsError(f"cannot cut question {questions[i][:60]!r} to {cap} tokens")
            lens[i] = n
        return lens

    @staticmethod
    def _label(ex: QAExample, offs, cstart: int) -> tuple[int, int]:
        """Token start/end of the first gold answer in a window with context *offs*, or ``(0, 0)`` (the first token)
        when the window does not hold the whole answer or the question has none (as ``run_squad.py``)."""
        if ex.is_impossible or not ex.answers:
            return 0, 0
        s_char = ex.answer_starts[0]
        e_char = s_char + len(ex.answers[0])
        valid = np.nonzero(offs[:, 0] >= 0)[0]
        if not len(valid):
            return 0, 0
        lo, hi = int(valid[0]), int(valid[-1])
        if not (offs[lo, 0] <= s_char and offs[hi, 1] >= e_char):
            return 0, 0
        seg = offs[lo:hi + 1]
        # run_squad's scans: the start is the token before the first one starting after the answer's start; the end
        # is the token after the last one ending before the answer's end
        after = np.nonzero(seg[:, 0] > s_char)[0]
        start = lo + (int(after[0]) if len(after) else len(seg)) - 1
        before = np.nonzero(seg[:, 1] < e_char)[0]
        end = max(lo + (int(before[-1]) if len(before) else -1) + 1, start)
        return cstart + start, cstart + end

    def collate(self, features, idx, pad_id):
        from ...data import pad_batch

        return pad_batch(features, idx, pad_id, extra=("start_positions", "end_positions"))

    def feature_length(self, features, i):
        return len(features["input_ids"][i])

    # ------------------------------------------------------------------------------------------ model
    def build_head(self, task, hidden_size, dropout):
        from ...models.heads.qa import SpanHead

        return SpanHead(hidden_size)

    def logits(self, head, hidden, batch):
        """``[B, L, 2]``: start (``[..., 0]``) and end (``[..., 1]``) logits, padding masked."""
        return head(hidden, batch["attention_mask"])

    def loss(self, head, hidden, batch):
        """Mean of the start and end cross-entropies, as ``BertForQuestionAnswering``."""
        import torch.nn.functional as F

        logits = self.logits(head, hidden, batch)
        loss = (F.cross_entropy(logits[..., 0], batch["start_positions"])
                + F.cross_entropy(logits[..., 1], batch["end_positions"])) / 2
        return loss, logits

    # ------------------------------------------------------------------------------------------ decoding
    @staticmethod
    def _example_indices(features: dict, examples: list) -> list[int]:
        """Global example index of every feature (features may come from several :meth:`featurize` calls, each
        numbering its examples from 0): by question id when ids are unique, else by counting restarts."""
        ids = features["example_id"]
        by_id = {e.guid: i for i, e in enumerate(examples)}
        if len(by_id) == len(examples):
            try:
                return [by_id[g] for g in ids]
            except KeyError as e:
                raise XstiltsError(f"QA feature for question {e.args[0]!r} matches no example") from None
        out, base, prev = [], 0, 0
        for k in features["example_index"]:
            if k < prev:
                base += prev + 1
            prev = k
            out.append(base + k)
        if out and (out[-1] >= len(examples) or any(examples[i].guid != g for i, g in zip(out, ids))):
            raise XstiltsError("QA features do not line up with their examples")
        return out

    def decode(self, task, outputs, features, examples):
        """Best answer text per example (``""`` = no answer), as ``compute_predictions_logits`` of the
        transformers SQuAD metrics that XTREME's ``run_squad.py`` uses (see the module docstring)."""
        if not features["input_ids"]:
            return [""] * len(examples)
        owner = self._example_indices(features, examples)
        per_ex: dict[int, list[int]] = {}
        for f, i in enumerate(owner):
            per_ex.setdefault(i, []).append(f)
        return [self._best_answer(examples[i], per_ex.get(i, []), outputs, features) for i in range(len(examples))]

    @staticmethod
    def _best_answer(ex: QAExample, feats: list[int], outputs, features) -> str:
        if not feats:
            return ""
        opts = features["qa_options"][feats[0]]
        n_best, max_len = opts["n_best_size"], opts["max_answer_length"]
        windows = [(features["window_start"][f], len(features["offsets"][f])) for f in feats]

        def max_context(w: int, g: int) -> bool:
            best, best_score = None, None
            for v, (ws, n) in enumerate(windows):
                if not ws <= g < ws + n:
                    continue
                score = min(g - ws, ws + n - 1 - g) + 0.01 * n
                if best_score is None or score > best_score:
                    best, best_score = v, score
            return best == w

        best_score, best_text, null_score = None, "", None
        for w, f in enumerate(feats):
            n = len(features["input_ids"][f])
            lg = np.asarray(outputs[f][:n], dtype=np.float64)
            s_log, e_log = lg[:, 0], lg[:, 1]
            null = s_log[0] + e_log[0]
            null_score = null if null_score is None or null < null_score else null_score
            offs = features["offsets"][f]
            cs, ws = features["context_start"][f], features["window_start"][f]

            def ok(p: int) -> bool:
                return cs <= p < cs + len(offs) and offs[p - cs, 0] >= 0

            starts = [int(p) for p in np.argsort(-s_log, kind="stable")[:n_best]
                      if ok(p) and max_context(w, ws + p - cs)]
            ends = [int(p) for p in np.argsort(-e_log, kind="stable")[:n_best] if ok(p)]
            for a in starts:
                for b in ends:
                    if b < a or b - a + 1 > max_len:
                        continue
                    score = s_log[a] + e_log[b]
                    if best_score is not None and score <= best_score:
                        continue
                    text = ex.context[offs[a - cs, 0]:offs[b - cs, 1]]
                    if text.strip():
                        best_score, best_text = score, text
        if opts["version_2_with_negative"]:
            if best_score is None or null_score - best_score > opts["null_score_diff_threshold"]:
                return ""
        return best_text

    # ------------------------------------------------------------------------------------------ scoring
    def score(self, task, predictions, examples):
        """``exact_match``, ``f1`` (headline) and ``em_f1_mean`` with the task's official script
        (:mod:`xstilts.metrics.qa`)."""
        from ...metrics.qa import qa_scores

        script = task.extra.get("qa_metric", "squad_v1")
        lang = examples[0].language if examples else None
        return qa_scores(script, list(predictions), [list(e.answers) for e in examples], lang)

    def example_stats(self, task, predictions, examples):
        """Per question ``{"em": 0/1, "f1": x}`` (``x`` in [0, 1]) with the task's official script, as :meth:`score`
        computes them (maximum over the gold answers; MLQA with the language of the first example, as there)."""
        from ...metrics.qa import qa_scores

        script = task.extra.get("qa_metric", "squad_v1")
        lang = examples[0].language if examples else None
        out = []
        for p, e in zip(predictions, examples):
            s = qa_scores(script, [p], [list(e.answers)], lang)
            out.append({"em": int(round(s["exact_match"] / 100.0)), "f1": s["f1"] / 100.0})
        return out

    def metric_from_stats(self, task, stats):
        """Headline F1 (%): ``100 * sum(f1) / number of questions`` (a stats dict may stand for ``_examples``
        questions, as the bootstrap's aggregated sums do)."""
        n = sum(s.get("_examples", 1) for s in stats)
        return 100.0 * sum(s["f1"] for s in stats) / n if n else 0.0

    def prediction_lines(self, task, predictions):
        return [json.dumps(p, ensure_ascii=False) for p in predictions]

    def prediction_file(self, task, split, language, predictions, examples):
        """``{split}-{lang}.json``: ``{question id: answer text}``, the layout XTREME's ``evaluate.py`` reads."""
        obj = {e.guid: p for e, p in zip(examples, predictions)}
        return f"{split}-{language}.json", json.dumps(obj, ensure_ascii=False, indent=0) + "\n"

    def label_file(self, task, split, language, examples):
        """``{split}-{lang}.json`` in SQuAD v1.1 format (``{"version", "data": [{"title", "paragraphs": [{"context",
        "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}``), one paragraph per context in the
        order of first appearance: the gold file XTREME's ``evaluate.py`` reads for its QA tasks."""
        articles: dict[str, dict[str, list]] = {}
        for e in examples:
            paragraphs = articles.setdefault(e.title, {})
            paragraphs.setdefault(e.context, []).append(
                {"id": e.guid, "question": e.question,
                 "answers": [{"text": t, "answer_start": s} for t, s in zip(e.answers, e.answer_starts)]})
        data = [{"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()]}
                for title, paragraphs in articles.items()]
        return f"{split}-{language}.json", json.dumps({"version": "1.1", "data": data}, ensure_ascii=False) + "\n"


register_family(SpanQA())
