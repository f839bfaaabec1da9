"""XTREME-R's retrieval tasks (Ruder et al. 2021): LAReQA, Mewsli-X and Tatoeba on XTREME-R's 41 languages.

All three are scored from sentence embeddings (family ``retrieval_ranking`` for LAReQA and Mewsli-X; Tatoeba reuses
the ``retrieval`` family). Questions and mentions are *queries*: they are embedded with the query prefix
(``settings["query_prefix"]``; ``None`` = the model's text prefix, e.g. ``"query: "`` for e5), answer candidates and
entity descriptions with the model's prefix. Similarity is cosine (XTREME-R L2-normalises the encodings), ranking via
:func:`xstilts.metrics.ranking.rank_by_cosine`, metric mAP@20 (:mod:`xstilts.metrics.ranking`).

**Two modes** (task option ``finetune``):

* ``finetune: true`` (the default; XTREME-R's protocol): the start encoder (pretrained, or after intermediate training:
  ``evaluation.retrieval_from``) is first fine-tuned as a dual encoder with in-batch negatives on the task's English
  training pairs (:mod:`xstilts.dual_encoder`), then both sides are embedded with its encoding (the ``[CLS]`` pooler
  output for BERT/XLM-R, as XTREME-R) and scored. LAReQA trains on SQuAD v1.1 question → answer-sentence pairs
  (:func:`read_lareqa_pairs`), Mewsli-X on its English Wikipedia mention → entity pairs (:func:`read_mewslix_pairs`);
  the settings are XTREME-R's (:data:`FINETUNE_PUBLISHED`), overridable per task entry (``lr``, ``epochs``,
  ``max_steps``, ``batch_size``, ``grad_accum``, ``warmup_ratio``, ``max_examples``) and by the options below;
* ``finetune: false``: the encoder is used as is, with ``evaluation.retrieval_layer`` and ``evaluation.pooling``, so
  scores measure its zero-shot embeddings.

**LAReQA** (Roy et al. 2020), language-agnostic answer retrieval on XQuAD-R. Official layout (XTREME's
``scripts/download_lareqa_data.sh``): ``lareqa/xquad-r/{lang}.json`` for the 11 languages ar de el en es hi ru th tr vi
zh, SQuAD v1.1 format plus ``sentence_breaks`` (``[start, end]`` character offsets) per paragraph. As XTREME's
``third_party/utils_lareqa.py`` (``load_data``/``generate_examples``) and ``evaluate_retrieval.py`` (task ``lareqa``):

* every sentence of every paragraph of every language is a candidate (id ``{lang}_{paragraph number}_{sentence}``);
* a question's answer sentence is the first sentence break with ``start <= answer_start < end`` (questions whose
  answer starts in no sentence are skipped, as there); each question must have exactly one answer;
* the relevant candidates of a question are the answer sentences of the questions with the same ``id`` in *all*
  languages (XQuAD ids are shared across languages), so each question has ~11 relevant candidates and retrieves them
  from the pool of all languages' candidates;
* candidates are encoded as ``(sentence + context).replace("\\n", "")`` -- the sentence followed directly by its
  paragraph, as XTREME-R's ``sentences_and_contexts`` encodings (option ``candidate_text: sentence`` encodes the
  sentence alone); questions alone. XTREME-R truncates questions to 96 and candidates to 256 tokens; here both use
  ``evaluation.max_length``;
* mAP@20 per question language. XTREME's script prints one mAP over all questions; with XQuAD-R's equal question
  counts per language this equals the mean of the per-language scores reported here.

The candidate pool is every task language whose file is in the folder (XTREME's script pools every file in
``xquad-r/``); when some of the 11 are missing the pool is smaller, a warning is printed, and ``pool_languages`` in the
per-language scores says how many languages were pooled.

Fine-tuning reads SQuAD v1.1 ``train-v1.1.json`` (and ``dev-v1.1.json`` for checkpoint selection) from ``squad/`` in
the LAReQA folder, the sibling ``../squad`` (XTREME's download layout) or the folder itself. As XTREME's
``third_party/processors/lareqa.py``: SQuAD has no sentence breaks, so they are inferred with the rules of XTREME's
``sb_sed.py`` (:func:`squad_sentence_breaks`); each question's first answer selects its sentence (the first break with
``start <= answer_start < end``; questions without one are skipped), and the pair is (question, sentence + paragraph
without newlines), the encoding of the evaluation candidates.

**Mewsli-X** (Botha et al. 2020; XTREME-R version ``mewsli-x_20220518_6``), entity linking as retrieval. Official
layout (XTREME's ``scripts/download_mewslix_data.sh``): ``mewslix/candidate_set_entities.jsonl`` (one entity per line:
``entity_id``, ``title``, ``description``, ``sentence_spans``, ``description_language``, ``description_url``; ~1M
entities whose descriptions are in 50 languages, not only English) and ``mewslix/wikinews_mentions-{dev,test}.jsonl``
(one WikiNews article per line: ``context`` with ``language``, ``text``, ``sentence_spans``; ``mentions`` with
``example_id``, ``entity_id``, ``mention_span`` ``{start, end, text}``). As XTREME's ``third_party/utils_mewslix.py``
and ``evaluate_retrieval.py`` (task ``mewslix``): the query is ``preprocess_mention`` (the mention's sentence with the
mention marked ``{ mention }``, prefixed by ``mention: ``), the candidate text ``preprocess_entity_description``; the
top 20 entities are retrieved from the whole candidate set; the metric is MRR@20 = mAP@20 (one gold entity) per
mention language, macro-averaged over the 11 languages ar de en es fa ja pl ro ta tr uk. The released
``wikinews_mentions_no_text-*`` files lack the article text and cannot be used (restore it with ``get-mewsli-x.sh``).
Fine-tuning reads ``mewslix/wikipedia_pairs-{train,dev}.jsonl`` (the release's English Wikipedia portion, which XTREME's
``download_data.sh`` moves beside the other files): one ``{"contextual_mention": {"context", "mention"}, "entity"}``
pair per line.

Prediction files (``predictions/<task>/test-{lang}.json``): ``{question id or example_id: [top-20 candidate ids]}``;
for Mewsli-X this is the layout XTREME's ``evaluate.py --xtreme_version xtreme-r`` reads for ``mewslix``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import json.decoder
import json.scanner
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import DataFormatError, MissingDataError
from . import TARGET, Task, register, register_family
from .base import (EmbeddingFamily, EmbeddingResult, json_error, need_str, parse_json, read_text, require_file, short,
                   type_name)
from .retrieval import TATOEBA_HF, TATOEBA_XTREME, read_tatoeba, tatoeba_languages

#: XQuAD-R languages (LAReQA).
LAREQA_LANGS = tuple("ar de el en es hi ru th tr vi zh".split())
#: Mewsli-X mention languages (``utils_mewslix.MENTION_LANGUAGES``).
MEWSLIX_LANGS = tuple("ar de en es fa ja pl ro ta tr uk".split())
#: XTREME-R's Tatoeba: XTREME's 36 languages plus az, lt, pl, ro, uk (XTREME ``evaluate.py`` XTREME_R_TASK2LANGS).
TATOEBA_XTREME_R = tuple(sorted(TATOEBA_XTREME + ("az", "lt", "pl", "ro", "uk")))
#: XTREME-R scores the top 20 retrieved candidates (``utils_mewslix.TOP_K``; ``mean_avg_prec_at_k(..., k=20)``).
TOP_K = 20


# ---------------------------------------------------------------------------------------------- JSON with lines
class _PosDict(dict):
    """A JSON object that remembers the character offset where it starts in its file."""

    pos: int = 0


def _load_json_with_positions(path: Path) -> tuple[Any, str]:
    """Parse a JSON file whose objects carry their start offset (``_PosDict.pos``); returns ``(data, text)``.

    Raises:
        DataFormatError: invalid UTF-8 or JSON, with the line.
    """
    text = read_text(path, "a JSON file")
    if not text.strip():
        raise DataFormatError(path, None, "empty file; expected a JSON document")
    decoder = json.JSONDecoder()

    def parse_object(s_and_end, *args):
        obj, end = json.decoder.JSONObject(s_and_end, *args)
        d = _PosDict(obj)
        d.pos = s_and_end[1] - 1
        return d, end

    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        return decoder.decode(text), text
    except json.JSONDecodeError as e:
        raise json_error(path, text, e) from None
    except (ValueError, RecursionError) as e:  # nesting too deep, an integer with too many digits
        raise DataFormatError(path, None, f"invalid JSON ({short(str(e), 120)})") from None


def _line(text: str, obj: Any) -> int | None:
    return text.count("\n", 0, obj.pos) + 1 if isinstance(obj, _PosDict) else None


def _need(path: Path, text: str, obj: Any, key: str, kind: type | tuple, where: str):
    """``obj[key]`` checked to be of *kind*, else a DataFormatError at *obj*'s line."""
    if not isinstance(obj, dict):
        raise DataFormatError(path, None, f"{where}: expected a JSON object, got {type_name(obj)}")
    if key not in obj:
        raise DataFormatError(path, _line(text, obj), f"{where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise DataFormatError(path, _line(text, obj), f"{where}: {key!r} must be {names}, got {type_name(value)}")
    return value


# ------------------------------------------------------------------------------------------------------ LAReQA
@dataclass
class LareqaParagraph:
    """One XQuAD-R paragraph: its text and its sentences (``context[start:end]`` per sentence break)."""

    context: str
    sentences: list[str]


@dataclass
class LareqaQuestion:
    """A question, its paragraph (index) and its answer sentence's text. ``id`` is shared across languages."""

    id: str
    text: str
    paragraph: int
    answer: str
    line: int | None = None


@dataclass
class LareqaData:
    """One language of XQuAD-R. ``skipped``: questions whose answer starts in no sentence (skipped, as XTREME)."""

    language: str
    path: Path
    paragraphs: list[LareqaParagraph]
    questions: list[LareqaQuestion]
    skipped: int = 0


def _lareqa_file(data_dir: Path, language: str) -> Path:
    for p in (data_dir / "xquad-r" / f"{language}.json", data_dir / f"{language}.json"):
        if p.is_file():
            return p
    return require_file(data_dir / "xquad-r" / f"{language}.json", f"the XQuAD-R file for {language} (LAReQA)")


def read_lareqa(data_dir: Path, split: str, language: str) -> LareqaData:
    """Read ``xquad-r/{language}.json`` (or ``{language}.json`` in *data_dir*).

    XQuAD-R has one split, read as ``test``.

    Raises:
        MissingDataError: no file, or a split other than ``test``.
        DataFormatError: invalid JSON or a missing/ill-typed field, duplicate question id, not exactly one answer,
            with file and line.
    """
    if split != "test":
        raise MissingDataError(f"{data_dir}: LAReQA (XQuAD-R) has only a test split, not {split!r}")
    path = _lareqa_file(data_dir, language)
    data, text = _load_json_with_positions(path)
    passages = _need(path, text, data, "data", list, "top level")
    paragraphs, questions, seen, skipped = [], [], set(), 0
    for a, passage in enumerate(passages):
        for b, para in enumerate(_need(path, text, passage, "paragraphs", list, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{b}]"
            context = _need(path, text, para, "context", str, where)
            breaks = _need(path, text, para, "sentence_breaks", list, where)
            spans = []
            for br in breaks:
                ok = isinstance(br, list) and len(br) == 2 and all(type(x) is int for x in br)
                if not ok or not 0 <= br[0] <= br[1]:
                    raise DataFormatError(path, _line(text, para), f"{where}: sentence_breaks must be [start, end] "
                                                                   f"offset pairs with 0 <= start <= end, got "
                                                                   f"{short(br)}")
                spans.append((br[0], br[1]))
            sentences = [context[s:e] for s, e in spans]
            p_index = len(paragraphs)
            paragraphs.append(LareqaParagraph(context, sentences))
            for c, qa in enumerate(_need(path, text, para, "qas", list, where)):
                qwhere = f"{where}.qas[{c}]"
                qid = _need(path, text, qa, "id", str, qwhere)
                question = _need(path, text, qa, "question", str, qwhere)
                answers = _need(path, text, qa, "answers", list, qwhere)
                line = _line(text, qa)
                if len(answers) != 1:
                    raise DataFormatError(path, line, f"{qwhere}: question {short(qid)} has {len(answers)} answers; "
                                                      f"XQuAD-R has exactly one per question")
                start = _need(path, text, answers[0], "answer_start", int, f"{qwhere}.answers[0]")
                if qid in seen:
                    raise DataFormatError(path, line, f"{qwhere}: duplicate question id {short(qid)}")
                seen.add(qid)
                answer = next((context[s:e] for s, e in spans if s <= start < e), None)
                if not answer:  # as XTREME: an answer in no sentence (a sentence-breaking error) is skipped
                    skipped += 1
                    continue
                questions.append(LareqaQuestion(qid, question, p_index, answer, line))
    if not paragraphs:
        raise DataFormatError(path, None, "no paragraphs (expected data[].paragraphs[] in SQuAD format)")
    return LareqaData(language, path, paragraphs, questions, skipped)


def lareqa_languages(data_dir: Path) -> list[str]:
    """Languages with an XQuAD-R file in *data_dir* (``xquad-r/*.json`` or ``*.json``), sorted."""
    folder = data_dir / "xquad-r" if (data_dir / "xquad-r").is_dir() else data_dir
    return sorted(p.stem for p in folder.glob("*.json") if re.fullmatch(r"[a-z]{2,3}", p.stem))


# ---------------------------------------------------------------------------------------------------- Mewsli-X
@dataclass
class MewslixCandidates:
    """The entity candidate set: ids and preprocessed descriptions, in file order."""

    path: Path
    ids: list[str]
    texts: list[str]
    index: dict[str, int] = field(repr=False, default_factory=dict)


@dataclass
class MewslixMention:
    """One mention: its id, gold entity, query text (``preprocess_mention``) and where it is in its file."""

    example_id: str
    entity_id: str
    query: str
    line: int


@dataclass
class MewslixData:
    """The mentions of one language in one split, and the shared candidate set."""

    language: str
    path: Path
    mentions: list[MewslixMention]
    candidates: MewslixCandidates


_MARKER_L, _MARKER_R = "{", "}"
_ESCAPE = re.compile(rf"{re.escape(_MARKER_L)}(.*?){re.escape(_MARKER_R)}")


def _normalize(text: str) -> str:
    """``utils_mewslix``'s normalisation: newlines to spaces, double spaces to single, stripped."""
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def preprocess_entity_description(description: str, spans: list[tuple[int, int]]) -> str:
    """The entity's sentences joined by spaces, normalised (``utils_mewslix.preprocess_entity_description``)."""
    return _normalize(" ".join(description[s:e] for s, e in spans))


def preprocess_mention(text: str, sentence_spans: list[tuple[int, int]], start: int, end: int,
                       mention: str) -> str | None:
    """The query string of a mention (``utils_mewslix.preprocess_mention``), or ``None`` when the mention lies in no
    single sentence.

    One sentence of context (the first sentence span that contains the mention), ``{``/``}`` in it escaped to
    parentheses, the mention marked ``{ mention }`` and also prepended: ``"Smith: The verdict for { Smith } ..."``.
    """
    focus = next((i for i, (s, e) in enumerate(sentence_spans) if s <= start < e and s < end <= e), None)
    if focus is None:
        return None
    s, e = sentence_spans[focus]
    sentence = text[s:e]
    left, right = sentence[:start - s], sentence[end - s:]
    left, right = _ESCAPE.sub(r"(\1)", left), _ESCAPE.sub(r"(\1)", right)
    return _normalize(f"{mention}: {left} {_MARKER_L} {mention} {_MARKER_R} {right}")


def _spans(path: Path, line: int, value: Any, length: int, where: str) -> list[tuple[int, int]]:
    """Validate ``[{start, end}]`` sentence spans against a text of *length* (as ``utils_mewslix.Span``)."""
    if not isinstance(value, list):
        raise DataFormatError(path, line, f"{where}: sentence_spans must be a list")
    out = []
    for sp in value:
        if not (isinstance(sp, dict) and isinstance(sp.get("start"), int) and isinstance(sp.get("end"), int)):
            raise DataFormatError(path, line, f"{where}: a sentence span must be {{\"start\": int, \"end\": int}}, "
                                              f"got {short(sp)}")
        s, e = sp["start"], sp["end"]
        if s < 0 or e < 0 or s >= e or s >= length or e > length:
            hint = " (the text is empty: wikinews_mentions_no_text files lack the article text)" if length == 0 else ""
            raise DataFormatError(path, line, f"{where}: sentence span ({s}, {e}) is not a non-empty span of the "
                                              f"{length}-character text{hint}")
        out.append((s, e))
    return out


def _iter_jsonl_stream(path: Path):
    """``(line, object)`` of a possibly large JSON-lines file, read line by line."""
    require_file(path, "a JSON-lines file")
    try:
        f = open(path, "rb")
    except OSError as e:
        raise MissingDataError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    with f:
        for i, raw in enumerate(f, 1):
            if i == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(path, i, f"invalid UTF-8 at byte {e.start} of the line") from None
            if "\0" in text:
                raise DataFormatError(path, i, f"NUL byte at character {text.index(chr(0))} of the line (a corrupted "
                                               f"or binary file?)")
            obj = parse_json(path, text, line=i)
            if not isinstance(obj, dict):
                raise DataFormatError(path, i, f"expected a JSON object, got {type_name(obj)}")
            yield i, obj


def _require(path: Path, line: int, obj: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DataFormatError(path, line, f"{where}missing key(s) {', '.join(missing)}")


_ENTITY_KEYS = ("entity_id", "title", "description", "sentence_spans", "description_language", "description_url")


@functools.lru_cache(maxsize=1)
def _load_candidates(path: str, size: int, mtime: int) -> MewslixCandidates:
    p = Path(path)
    ids, texts, index = [], [], {}
    for line, obj in _iter_jsonl_stream(p):
        _require(p, line, obj, _ENTITY_KEYS, "")
        eid, desc = obj["entity_id"], obj["description"]
        if not isinstance(eid, str) or not isinstance(desc, str):
            raise DataFormatError(p, line, "entity_id and description must be strings")
        if eid in index:
            raise DataFormatError(p, line, f"duplicate entity_id {short(eid)} (the candidate set maps ids to "
                                           f"descriptions one to one)")
        spans = _spans(p, line, obj["sentence_spans"], len(desc), f"entity {short(eid)}")
        index[eid] = len(ids)
        ids.append(eid)
        texts.append(preprocess_entity_description(desc, spans))
    if not ids:
        raise DataFormatError(p, None, "empty file; expected one entity per line")
    return MewslixCandidates(p, ids, texts, index)


_CONTEXT_KEYS = ("document_title", "document_url", "document_id", "language", "text", "sentence_spans")


@functools.lru_cache(maxsize=2)
def _load_mentions(path: str, size: int, mtime: int) -> dict[str, list[MewslixMention]]:
    p = Path(path)
    by_lang: dict[str, list[MewslixMention]] = defaultdict(list)
    seen: set[str] = set()
    for line, obj in _iter_jsonl_stream(p):
        _require(p, line, obj, ("context", "mentions"), "")
        ctx, mentions = obj["context"], obj["mentions"]
        if not isinstance(ctx, dict) or not isinstance(mentions, list):
            raise DataFormatError(p, line, "context must be an object and mentions a list")
        _require(p, line, ctx, _CONTEXT_KEYS, "context: ")
        text = need_str(ctx, "text", p, line, "context: ")
        need_str(ctx, "language", p, line, "context: ")
        spans = _spans(p, line, ctx["sentence_spans"], len(text), "context")
        for m in mentions:
            if not isinstance(m, dict):
                raise DataFormatError(p, line, "each mention must be a JSON object")
            _require(p, line, m, ("example_id", "mention_span", "entity_id"), "mention: ")
            example_id = need_str(m, "example_id", p, line, "mention: ")
            ex = short(example_id)
            need_str(m, "entity_id", p, line, f"mention {ex}: ")
            ms = m["mention_span"]
            if not (isinstance(ms, dict) and isinstance(ms.get("start"), int) and isinstance(ms.get("end"), int)
                    and isinstance(ms.get("text"), str)):
                raise DataFormatError(p, line, f"mention {ex}: mention_span must be {{start, end, text}}")
            start, end = ms["start"], ms["end"]
            if not 0 <= start < end <= len(text) or text[start:end] != ms["text"]:
                raise DataFormatError(p, line, f"mention {ex}: span ({start}, {end}) does not match its text "
                                               f"{short(ms['text'])} in the context")
            if example_id in seen:
                raise DataFormatError(p, line, f"duplicate example_id {ex}")
            seen.add(example_id)
            query = preprocess_mention(text, spans, start, end, ms["text"])
            if query is None:
                raise DataFormatError(p, line, f"mention {ex}: the span ({start}, {end}) lies in no single sentence "
                                               f"of sentence_spans")
            by_lang[ctx["language"]].append(MewslixMention(example_id, m["entity_id"], query, line))
    return dict(by_lang)


def _mewslix_file(data_dir: Path, name: str) -> Path:
    for p in (data_dir / name, data_dir / "mewsli-x" / name):
        if p.is_file():
            return p
    return require_file(data_dir / name, f"the Mewsli-X file {name}")


def _cache_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def read_mewslix(data_dir: Path, split: str, language: str) -> MewslixData:
    """The WikiNews mentions of *language* in ``wikinews_mentions-{split}.jsonl`` (split ``dev`` or ``test``) and the
    candidate set ``candidate_set_entities.jsonl`` (both parsed once per file and cached).

    Raises:
        MissingDataError: a file is missing, or the split is not dev/test (Mewsli-X's English Wikipedia training
            pairs are read by :func:`read_mewslix_pairs` for fine-tuning).
        DataFormatError: malformed JSON lines, missing keys, spans that do not match the text, duplicate ids.
    """
    if split not in ("dev", "test"):
        raise MissingDataError(f"{data_dir}: Mewsli-X evaluation splits are dev and test, not {split!r}")
    mentions_path = _mewslix_file(data_dir, f"wikinews_mentions-{split}.jsonl")
    cands_path = _mewslix_file(data_dir, "candidate_set_entities.jsonl")
    mentions = _load_mentions(*_cache_key(mentions_path)).get(language, [])
    if not mentions:
        raise MissingDataError(f"{mentions_path}: no mentions in language {language!r}")
    return MewslixData(language, mentions_path, list(mentions), _load_candidates(*_cache_key(cands_path)))


# ------------------------------------------------------------------------------- English training pairs (fine-tuning)
#: The rules of XTREME's SQuAD sentence breaker (google-research/xtreme ``third_party/processors/sb_sed.py``, Apache
#: 2.0, itself "derived from a broad-coverage proof-of-concept sed script"), as ``(pattern, replacement)`` applied in
#: order to the text with newlines as sentence cuts. Every rule replaces one whitespace character by a newline or the
#: reverse, so offsets are kept. Reproduced as data so that the training pairs are the ones XTREME-R trained on.
_SB_RULES: tuple[tuple[str, str], ...] = (
    # the main split: sentence-final punctuation, optional closing quotes/brackets, whitespace, an optional opening
    # quote/bracket and an upper-case letter or digit
    (r"""([.?!][)'" \u201D]*)\s(\s*[\['"(\u201C]?[A-Z0-9])""", r"\1\n\2"),
    # Wikipedia: editorial scraps after the full stop ("[citation needed]", "[note 1]"), ellipses in quotes
    (r"""([.?!]['"]?)((\[[a-zA-Z0-9 ?]+\])+)\s(\s*['"(]?[A-Z0-9])""", r"\1\2\n\4"),
    (r"(\[\.\.\.\]\s*)\s(\[?[A-Z])", r"\1\n\2"),
    # rejoin after titles, literary / month / geographic abbreviations
    (r"\b(Mrs?|Ms|Dr|Prof|Fr|Rev|Msgr|Sta?)\.\n", r"\1. "),
    (r"\b(Lt|Gen|Col|Maj|Adm|Capt|Sgt|Rep|Gov|Sen|Pres)\.\n", r"\1. "),
    (r"\b(e\.g|i\.?e|vs?|pp?|cf|a\.k\.a|approx|app|es[pt]|tr)\.\n", r"\1. "),
    (r"\b(Jan|Aug|Oct|Nov|Dec)\.\n", r"\1. "),
    (r"\b(Mt|Ft)\.\n", r"\1. "),
    (r"\b([ap]\.m)\.\n(Eastern|EST)\b", r"\1. \2"),
    # rejoin personal names with three, two or one initials
    (r'\b([A-Z]\.)[ \n]([A-Z]\.)[ \n]([A-Z]\.)[ \n]("?[A-Z][a-z])', r"\1 \2 \3 \4"),
    (r'\b([A-Z]\.)[ \n]([A-Z]\.)[ \n]("?[A-Z][a-z])', r"\1 \2 \3"),
    (r'\b([A-Z]\.[A-Z]\.)\n("?[A-Z][a-z])', r"\1 \2"),
    (r'\b([A-Z]\.)\n("?[A-Z][a-z])', r"\1 \2"),
    # resplit before common sentence starts
    (r"""([.!?]['")]*) (The|This|That|These|It) """, r"\1\n\2 "),
    (r"(\.) (Meanwhile|However)", r"\1\n\2"),
    (r"(\.) (In|On|By|During|After|Under|Although|Yet|As |Several|According to) ", r"\1\n\2 "),
    # rejoin numbered parts, born/died/circa, "et al. (2005)", "H.R. 2000"
    (r"\b([Aa]rt|[Nn]o|Opp?|ch|Sec|cl|Rec|Ecl|Cor|Lk|Jn|Vol)\.\n([0-9IVX]+)\b", r"\1. \2"),
    (r"\b([bdrc]|ca|fl)\.\n([A-Z0-9])", r"\1. \2"),
    (r"\b(et al)\.\n(\(?[0-9]{4}\b)", r"\1. \2"),
    (r"\b(H\.R\.)\n([0-9])", r"\1 \2"),
    # SQuAD-specific joins and splits
    (r"(I Am\.\.\.)\n(Sasha Fierce|World Tour)", r"\1 \2"),
    (r"(Warner Bros\.)\n(Records|Entertainment)", r"\1 \2"),
    (r"(U\.S\.)\n(\(?\d\d+)", r"\1 \2"),
    (r"\b(Rs\.)\n(\d)", r"\1 \2"),
    (r"\b(Jay Z\.) ([A-Z])", r"\1\n\2"),
    (r"\b(Washington, D\.C\.) ([A-Z])", r"\1\n\2"),
    (r"\b(for 4\.\)) ([A-Z])", r"\1\n\2"),
    (r"\b(Wii U\.) ([A-Z])", r"\1\n\2"),
    (r"\. (iPod|iTunes)", r".\n\1"),
    (r" (\[\.\.\.\]\n)", r"\n\1"),
    (r"(\.Sc\.)\n", r"\1 "),
    (r" (\u2022 [A-Z])", r"\n\1"),
)
_SB_COMPILED = tuple((re.compile(p), r) for p, r in _SB_RULES)


def squad_sentence_breaks(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the sentences of a SQuAD paragraph, as XTREME's
    ``sb_sed.infer_sentence_breaks``: existing newlines become spaces, :data:`_SB_RULES` insert newlines at sentence
    cuts, and each line, stripped of surrounding whitespace, is a sentence (possibly empty)."""
    cut = text.replace("\n", " ")
    for pattern, repl in _SB_COMPILED:
        cut = pattern.sub(repl, cut)
    out, pos = [], 0
    for line in cut.split("\n"):
        stripped = line.lstrip()
        start = pos + len(line) - len(stripped)
        out.append((start, start + len(stripped.strip())))
        pos += len(line) + 1
    return out


@dataclass
class RetrievalPairs:
    """English (query, candidate) training pairs of a retrieval task, read from *path*; *skipped*: entries that
    gave no pair (a SQuAD answer in no inferred sentence)."""

    path: Path
    queries: list[str]
    candidates: list[str]
    skipped: int = 0


SQUAD_PAIR_FILES = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}
MEWSLIX_PAIR_FILES = {"train": "wikipedia_pairs-train.jsonl", "dev": "wikipedia_pairs-dev.jsonl"}


def lareqa_pair_file(data_dir: Path, split: str) -> Path:
    """SQuAD v1.1's *split* file for LAReQA fine-tuning: in ``data_dir/squad``, the sibling ``../squad`` (XTREME's
    ``download/squad``) or *data_dir*.

    Raises:
        MissingDataError: a split other than train/dev, or no such file.
    """
    if split not in SQUAD_PAIR_FILES:
        raise MissingDataError(f"LAReQA fine-tuning reads SQuAD v1.1 train or dev, not {split!r}")
    name = SQUAD_PAIR_FILES[split]
    cands = [data_dir / "squad", data_dir.parent / "squad", data_dir]
    for c in cands:
        if (c / name).is_file():
            return c / name
    return require_file(cands[0] / name, f"SQuAD v1.1 {split} data for LAReQA's dual-encoder fine-tuning (also "
                                         f"looked in {', '.join(str(c) for c in cands[1:])})")


def read_lareqa_pairs(data_dir: Path, split: str = "train",
                      candidate_text: str = "sentence+context") -> RetrievalPairs:
    """SQuAD v1.1 question → answer-sentence pairs, as XTREME's ``RetrievalSquadProcessor`` makes them (see the
    module docstring); *candidate_text* ``sentence`` pairs the question with the sentence alone.

    Raises:
        MissingDataError: no SQuAD file (:func:`lareqa_pair_file`).
        DataFormatError: a malformed SQuAD file (:func:`xstilts.tasks.qa.read_squad_file`).
    """
    from .qa import read_squad_file

    path = lareqa_pair_file(data_dir, split)
    queries, candidates, skipped = [], [], 0
    breaks: dict[str, list[tuple[int, int]]] = {}
    for ex in read_squad_file(path):
        spans = breaks.get(ex.context)
        if spans is None:
            spans = breaks[ex.context] = squad_sentence_breaks(ex.context)
        start = ex.answer_starts[0]
        sentence = next((ex.context[s:e] for s, e in spans if s <= start < e), "")
        if not sentence:  # the sentence breaker cut through the answer, as XTREME: skipped
            skipped += 1
            continue
        text = sentence + ex.context if candidate_text == "sentence+context" else sentence
        queries.append(ex.question)
        candidates.append(text.replace("\n", ""))
    return RetrievalPairs(path, queries, candidates, skipped)


def mewslix_pair_file(data_dir: Path, split: str) -> Path:
    """Mewsli-X's English Wikipedia pairs ``wikipedia_pairs-{train,dev}.jsonl`` in *data_dir* (or ``mewsli-x/``)."""
    if split not in MEWSLIX_PAIR_FILES:
        raise MissingDataError(f"Mewsli-X fine-tuning reads wikipedia_pairs train or dev, not {split!r}")
    name = MEWSLIX_PAIR_FILES[split]
    for p in (data_dir / name, data_dir / "mewsli-x" / name):
        if p.is_file():
            return p
    return require_file(data_dir / name, f"Mewsli-X's English Wikipedia {split} pairs for dual-encoder fine-tuning "
                                         f"(in the mewsli-x_20220518_6 release; XTREME's download_data.sh keeps it)")


def read_mewslix_pairs(data_dir: Path, split: str = "train") -> RetrievalPairs:
    """Mention → entity-description pairs of ``wikipedia_pairs-{split}.jsonl``: the query is
    :func:`preprocess_mention` of the contextual mention, the candidate :func:`preprocess_entity_description` of the
    entity (``utils_mewslix``; XTREME's ``processors/mewslix.py`` pairs them so).

    Raises:
        MissingDataError: no file.
        DataFormatError: malformed JSON lines, missing keys, spans that do not match the text, or a mention in no
            single sentence (XTREME's ``preprocess_mention`` asserts the same), with file and line.
    """
    path = mewslix_pair_file(data_dir, split)
    queries, candidates = [], []
    for line, obj in _iter_jsonl_stream(path):
        _require(path, line, obj, ("contextual_mention", "entity"), "")
        cm, ent = obj["contextual_mention"], obj["entity"]
        if not isinstance(cm, dict) or not isinstance(ent, dict):
            raise DataFormatError(path, line, "contextual_mention and entity must be JSON objects")
        _require(path, line, cm, ("context", "mention"), "contextual_mention: ")
        ctx, m = cm["context"], cm["mention"]
        if not isinstance(ctx, dict) or not isinstance(m, dict):
            raise DataFormatError(path, line, "contextual_mention: context and mention must be JSON objects")
        _require(path, line, ctx, ("text", "sentence_spans"), "context: ")
        text = need_str(ctx, "text", path, line, "context: ")
        spans = _spans(path, line, ctx["sentence_spans"], len(text), "context")
        _require(path, line, m, ("example_id", "mention_span"), "mention: ")
        ex = short(need_str(m, "example_id", path, line, "mention: "))
        ms = m["mention_span"]
        if not (isinstance(ms, dict) and isinstance(ms.get("start"), int) and isinstance(ms.get("end"), int)
                and isinstance(ms.get("text"), str)):
            raise DataFormatError(path, line, f"mention {ex}: mention_span must be {{start, end, text}}")
        start, end = ms["start"], ms["end"]
        if not 0 <= start < end <= len(text) or text[start:end] != ms["text"]:
            raise DataFormatError(path, line, f"mention {ex}: span ({start}, {end}) does not match its text "
                                              f"{short(ms['text'])} in the context")
        query = preprocess_mention(text, spans, start, end, ms["text"])
        if query is None:
            raise DataFormatError(path, line, f"mention {ex}: the span ({start}, {end}) lies in no single sentence")
        _require(path, line, ent, ("entity_id", "description", "sentence_spans"), "entity: ")
        desc = need_str(ent, "description", path, line, "entity: ")
        espans = _spans(path, line, ent["sentence_spans"], len(desc), f"entity {short(ent['entity_id'])}")
        queries.append(query)
        candidates.append(preprocess_entity_description(desc, espans))
    if not queries:
        raise DataFormatError(path, None, "empty file; expected one mention-entity pair per line")
    return RetrievalPairs(path, queries, candidates)


#: XTREME-R's dual-encoder fine-tuning settings per task (google-research/xtreme ``scripts/train_lareqa.sh`` with
#: ``run_eval_lareqa.sh``; ``scripts/train_mewslix.sh`` with ``run_eval_mewslix.sh``), for XLM-R large, the model of
#: xstilts' studies. LAReQA: 3 epochs at lr 2e-5, 4 pairs per batch (the in-batch negatives) x 4 accumulation steps,
#: questions truncated to 96 and candidates to 256 tokens, the checkpoint chosen on validation (the paper's results
#: used checkpoint 9000 of mBERT and 10000 of XLM-R, of checkpoints saved every 1000 steps; the validation signal of
#: ``run_retrieval_qa.py`` is the in-batch loss on SQuAD dev). Mewsli-X: 2 epochs at lr 1e-5 (chosen there on the
#: English Wikipedia dev loss among 1e-5, 2e-5, 5e-5, 1e-4), 8 pairs per batch x 4, 64 tokens, the final model.
#: Both: no warmup, no weight decay, AdamW eps 1e-8, gradients clipped at 1.0, learnable logit scale from 100.
FINETUNE_PUBLISHED: dict[str, dict[str, Any]] = {
    "lareqa": {"epochs": 3.0, "lr": 2e-5, "batch_size": 4, "grad_accum": 4, "query_max_length": 96,
               "candidate_max_length": 256, "selection": "dev-loss", "eval_every": 1000},
    "mewslix": {"epochs": 2.0, "lr": 1e-5, "batch_size": 8, "grad_accum": 4, "query_max_length": 64,
                "candidate_max_length": 64, "selection": "last", "eval_every": None},
}
#: ``train_mewslix.sh``'s settings for mBERT (``bert-base-multilingual-cased``): lr 2e-5, 64 pairs per batch.
FINETUNE_PUBLISHED_MBERT = {"mewslix": {"lr": 2e-5, "batch_size": 64}}
#: Settings common to both scripts (``run_retrieval_qa.py`` / ``run_retrieval_el.py`` defaults and flags).
FINETUNE_COMMON = {"max_steps": None, "warmup_ratio": 0.0, "weight_decay": 0.0, "adam_epsilon": 1e-8,
                   "max_grad_norm": 1.0, "eval_batch_size": 8}


# ------------------------------------------------------------------------------------------------------ family
class RankingOptions(BaseModel):
    """Per-task options of the ``retrieval_ranking`` family (config ``target.tasks[i].options``)."""

    model_config = ConfigDict(extra="forbid")

    candidate_text: Literal["sentence+context", "sentence"] = Field(
        "sentence+context", description="LAReQA candidate encoding: the answer sentence followed by its paragraph, as "
                                        "XTREME-R, or the sentence alone (ignored by Mewsli-X)")
    finetune: bool = Field(True, description="fine-tune the encoder as a dual encoder with in-batch negatives on the "
                                             "task's English training pairs first, as XTREME-R (true), or score its "
                                             "embeddings as they are (false: zero-shot, evaluation.retrieval_layer "
                                             "and pooling)")
    representation: Literal["auto", "pooler", "cls", "mean", "last"] = Field(
        "auto", description="fine-tuning: the encoding of both sides: the [CLS] pooler (BERT/XLM-R, as XTREME-R), "
                            "the first token, the mean, or the last token; auto = pooler where the pretrained "
                            "checkpoint has one, else first token (encoders), last token (decoders), mean (BiLSTM)")
    query_max_length: int | None = Field(None, gt=1, description="fine-tuning: query tokens (default XTREME-R's: "
                                                                 "LAReQA 96, Mewsli-X 64; or the task entry's "
                                                                 "max_length)")
    candidate_max_length: int | None = Field(None, gt=1, description="fine-tuning: candidate tokens (default "
                                                                     "XTREME-R's: LAReQA 256, Mewsli-X 64; or the "
                                                                     "task entry's max_length)")
    selection: Literal["dev-loss", "last"] | None = Field(
        None, description="fine-tuning: keep the weights with the lowest in-batch loss on the English dev pairs "
                          "(dev-loss) or the final ones (last); default XTREME-R's: LAReQA dev-loss, Mewsli-X last")
    eval_every: int | None = Field(None, gt=0, description="fine-tuning, selection dev-loss: optimizer steps between "
                                                           "dev-loss measurements (default 1000, XTREME-R's "
                                                           "save_steps)")
    dev_examples: int | None = Field(None, gt=0, description="fine-tuning, selection dev-loss: measure on the first "
                                                             "N dev pairs (default all)")
    logit_scale: float = Field(100.0, gt=0, description="fine-tuning: initial (learnable) scale of the cosine logits "
                                                        "(XTREME-R: 100)")

    @model_validator(mode="after")
    def _finetune_only(self) -> "RankingOptions":
        if not self.finetune:
            given = [k for k in ("query_max_length", "candidate_max_length", "selection", "eval_every", "dev_examples")
                     if getattr(self, k) is not None]
            given += [k for k, d in (("representation", "auto"), ("logit_scale", 100.0)) if getattr(self, k) != d]
            if given:
                raise ValueError(f"{', '.join(given)} only apply with finetune: true")
        return self


def _embed_in_order(embed, texts: list[str], prefix: str | None, chunk: int = 65536):
    """Embeddings ``[len(texts), H]`` in the order of *texts*; each distinct text is embedded once, in chunks of
    *chunk* texts sorted by length."""
    import torch

    rows: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        rows.setdefault(t, []).append(i)
    distinct = sorted(rows, key=len)
    out = None
    for s in range(0, len(distinct), chunk):
        part = distinct[s:s + chunk]
        emb = embed(part, prefix=prefix)
        if out is None:
            out = torch.empty((len(texts), emb.shape[1]), dtype=torch.float32)
        dst, src = [], []
        for j, t in enumerate(part):
            dst.extend(rows[t])
            src.extend([j] * len(rows[t]))
        out[torch.tensor(dst)] = emb[torch.tensor(src)].float()
    if out is None:
        raise ValueError("nothing to embed")
    return out


class RankingRetrieval(EmbeddingFamily):
    """Language-agnostic retrieval scored by mAP@20 from sentence embeddings (LAReQA, Mewsli-X): after dual-encoder
    fine-tuning on English pairs (option ``finetune``, the default; done by the retrieval phase, see
    :mod:`xstilts.dual_encoder`), or zero-shot. Not ``trainable`` in the sense of a head-on-encoder target phase."""

    kind = "retrieval_ranking"
    trainable = False
    options_model = RankingOptions

    # --------------------------------------------------------------------------------------- fine-tuning
    def finetune_settings(self, task: Task, spec, model_name: str) -> dict | None:
        """The resolved dual-encoder fine-tuning settings of the task entry *spec* (``None`` with ``finetune:
        false``): XTREME-R's (:data:`FINETUNE_PUBLISHED`, mBERT's variant for ``bert-base-multilingual-*``),
        overridden by the entry's ``lr``, ``epochs``, ``max_steps``, ``batch_size``, ``grad_accum``, ``warmup_ratio``
        and ``max_length`` (both sides) and by its options. Every value that changes the result is here (the
        retrieval phase hashes it), plus the training files' listing."""
        options = RankingOptions.model_validate(spec.options or {})
        if not options.finetune:
            return None
        mode = task.extra.get("mode")
        if mode not in FINETUNE_PUBLISHED:
            raise ValueError(f"task {task.name!r}: no dual-encoder fine-tuning protocol for mode {mode!r}")
        out = {**FINETUNE_COMMON, **FINETUNE_PUBLISHED[mode]}
        base = Path(str(model_name).rstrip("/")).name
        if base.startswith("bert-base-multilingual"):
            out.update(FINETUNE_PUBLISHED_MBERT.get(mode, {}))
        for key in ("lr", "epochs", "max_steps", "batch_size", "grad_accum", "warmup_ratio"):
            if getattr(spec, key, None) is not None:
                out[key] = getattr(spec, key)
        if getattr(spec, "epochs", None) is not None and getattr(spec, "max_steps", None) is None:
            out["max_steps"] = None
        if getattr(spec, "max_length", None) is not None:
            out["query_max_length"] = out["candidate_max_length"] = spec.max_length
        for key in ("query_max_length", "candidate_max_length", "selection", "eval_every", "dev_examples"):
            if getattr(options, key) is not None:
                out[key] = getattr(options, key)
        out.setdefault("dev_examples", None)
        if out["selection"] == "last":
            out["eval_every"] = out["dev_examples"] = None
        elif out["eval_every"] is None:
            out["eval_every"] = 1000
        out.update(representation=options.representation, logit_scale=options.logit_scale,
                   max_examples=getattr(spec, "max_examples", None),
                   candidate_text=options.candidate_text if mode == "lareqa" else None)
        return out

    def finetune_files(self, task: Task, data_dir: Path, selection: str) -> list[Path]:
        """The training files fine-tuning reads (the dev file too with ``selection: dev-loss``) that exist."""
        find = lareqa_pair_file if task.extra.get("mode") == "lareqa" else mewslix_pair_file
        out = []
        for split in ("train", "dev") if selection == "dev-loss" else ("train",):
            try:
                out.append(find(data_dir, split))
            except MissingDataError:
                pass
        return out

    def finetune_check(self, task: Task, spec) -> None:
        """Raise :class:`MissingDataError` when fine-tuning is on and a file it reads (train; dev for ``selection:
        dev-loss``) is not in the task entry's data folder: the pipeline's check before any phase runs."""
        from ..loading import task_data_dir

        ft = self.finetune_settings(task, spec, "")
        if ft is None:
            return
        find = lareqa_pair_file if task.extra.get("mode") == "lareqa" else mewslix_pair_file
        for split in ("train", "dev") if ft["selection"] == "dev-loss" else ("train",):
            try:
                find(task_data_dir(spec), split)
            except MissingDataError as e:
                hint = " (or set the task's option selection: last)" if split == "dev" else \
                    " (or set the task's option finetune: false for zero-shot scoring)"
                raise MissingDataError(f"{e}{hint}") from None

    def finetune(self, cfg, spec, start, settings: dict, device):
        """Fine-tune a copy of the encoder *start* as a dual encoder on the task's English pairs
        (:func:`xstilts.dual_encoder.finetune_for_retrieval`); returns ``(embed, embed_query, record)``."""
        from ..dual_encoder import finetune_for_retrieval

        return finetune_for_retrieval(cfg, spec, start, settings, device)

    def finetune_pairs(self, task: Task, data_dir: Path, split: str, options: dict | None = None) -> RetrievalPairs:
        """The English (query, candidate) pairs of *split* (``train`` or ``dev``) for dual-encoder fine-tuning:
        :func:`read_lareqa_pairs` or :func:`read_mewslix_pairs`."""
        opts = RankingOptions.model_validate(options or {})
        if task.extra.get("mode") == "lareqa":
            return read_lareqa_pairs(data_dir, split, opts.candidate_text)
        if task.extra.get("mode") == "mewslix":
            return read_mewslix_pairs(data_dir, split)
        raise ValueError(f"task {task.name!r}: no training pairs for mode {task.extra.get('mode')!r}")

    def example_stats(self, task, predictions, examples):
        """Per query ``{"ap": AP@20}`` (in [0, 1]): *predictions* are the rankings (candidate ids, best first) and
        *examples* the relevant candidate ids of each query. LAReQA: :func:`~xstilts.metrics.ranking.
        average_precision_at_k`; Mewsli-X: the reciprocal rank of the gold entity in the top 20, 0 when absent (what
        ``utils_mewslix.evaluate`` sums; AP@20 with one relevant candidate)."""
        from ..metrics.ranking import average_precision_at_k

        out = []
        for ranking, relevant in zip(predictions, examples):
            if task.extra.get("mode") == "mewslix":
                target = str(list(relevant)[0]).strip()
                rr = next((1.0 / r for r, p in enumerate(list(ranking)[:TOP_K], 1) if p == target), 0.0)
                out.append({"ap": rr})
            else:
                out.append({"ap": average_precision_at_k(relevant, ranking, TOP_K)})
        return out

    def metric_from_stats(self, task, stats):
        """mAP@20 (%): ``100 * sum(AP) / number of queries`` (a stats dict may stand for ``_examples`` queries)."""
        n = sum(s.get("_examples", 1) for s in stats)
        return 100.0 * sum(s["ap"] for s in stats) / n if n else 0.0

    def evaluate(self, task: Task, languages: list[str], load, embed, settings: dict,
                 embed_query=None) -> EmbeddingResult:
        """Score every language of *task* (see the module docstring for each task's protocol).

        Args:
            load: ``load(split, language)`` (the task's reader).
            embed: ``embed(texts, prefix=None) -> Tensor [n, H]``.
            settings: ``query_prefix`` (``None``: the model's prefix) and ``options`` (:class:`RankingOptions`).
            embed_query: embeds the queries where given (a fine-tuned dual encoder truncates queries and candidates
                to different lengths), else *embed* does.
        Returns:
            ``({lang: {"map@20": %, "n": queries, ...}}, {lang: (file name, JSON predictions)}, {lang: per-query
            statistics})`` (see :meth:`example_stats`).
        """
        options = RankingOptions.model_validate(settings.get("options") or {})
        query_prefix = settings.get("query_prefix")
        if task.extra.get("mode") == "lareqa":
            return self._lareqa(task, languages, load, embed, query_prefix, options, embed_query or embed)
        if task.extra.get("mode") == "mewslix":
            return self._mewslix(task, languages, load, embed, query_prefix, embed_query or embed)
        raise ValueError(f"task {task.name!r}: unknown retrieval_ranking mode {task.extra.get('mode')!r}")

    def _lareqa(self, task: Task, languages, load, embed, query_prefix, options: RankingOptions, embed_query):
        from ..console import console
        from ..metrics.ranking import mean_avg_prec_at_k, rank_by_cosine

        split = task.test_split
        data = {lang: load(split, lang) for lang in languages}
        absent = []
        for lang in task.languages:
            if lang not in data:
                try:
                    data[lang] = load(split, lang)
                except MissingDataError:
                    absent.append(lang)
        if absent:
            console.print(f"  [yellow]![/] {task.name}: no file for {', '.join(absent)}; the candidate pool has "
                          f"{len(data)} of the {len(task.languages)} XQuAD-R languages, so mAP@20 is not comparable "
                          f"to XTREME-R's")
        cand_ids, cand_texts = [], []
        relevant: dict[str, set[int]] = defaultdict(set)
        for lang in sorted(data):
            d = data[lang]
            base = []
            for p_no, para in enumerate(d.paragraphs, 1):
                base.append(len(cand_ids))
                for s_no, sent in enumerate(para.sentences):
                    cand_ids.append(f"{lang}_{p_no}_{s_no}")
                    text = sent + para.context if options.candidate_text == "sentence+context" else sent
                    cand_texts.append(text.replace("\n", ""))
            for q in d.questions:
                para = d.paragraphs[q.paragraph]
                relevant[q.id].update(base[q.paragraph] + i for i, s in enumerate(para.sentences) if s == q.answer)
        if not cand_ids:
            raise MissingDataError(f"{task.name}: the XQuAD-R files have no paragraphs")
        questions = [(lang, q) for lang in languages for q in data[lang].questions]
        for lang in languages:
            if not data[lang].questions:
                raise DataFormatError(data[lang].path, None, "no questions with an answer sentence")
        c_emb = _embed_in_order(embed, cand_texts, None)
        q_emb = _embed_in_order(embed_query, [q.text for _, q in questions], query_prefix)
        _, idx = rank_by_cosine(q_emb, c_emb, TOP_K)
        scores, files, stats = {}, {}, {}
        for lang in languages:
            rows = [r for r, (ql, _) in enumerate(questions) if ql == lang]
            qs = [questions[r][1] for r in rows]
            rankings = [idx[r].tolist() for r in rows]
            scores[lang] = {f"map@{TOP_K}": mean_avg_prec_at_k([relevant[q.id] for q in qs], rankings, TOP_K),
                            "n": len(qs), "skipped": data[lang].skipped, "candidates": len(cand_ids),
                            "pool_languages": len(data)}
            stats[lang] = self.example_stats(task, rankings, [relevant[q.id] for q in qs])
            preds = {q.id: [cand_ids[i] for i in r] for q, r in zip(qs, rankings)}
            files[lang] = (f"{split}-{lang}.json", json.dumps(preds, ensure_ascii=False) + "\n")
        return EmbeddingResult(scores, files, stats)

    def _mewslix(self, task: Task, languages, load, embed, query_prefix, embed_query):
        from ..metrics.ranking import mewslix_map_at_k, rank_by_cosine

        split = task.test_split
        data = {lang: load(split, lang) for lang in languages}
        cands = next(iter(data.values())).candidates
        for lang, d in data.items():
            if not d.mentions:
                raise DataFormatError(d.path, None, f"no mentions in language {lang!r}")
            for m in d.mentions:
                if m.entity_id not in cands.index:
                    raise DataFormatError(d.path, m.line, f"mention {m.example_id}: gold entity {m.entity_id!r} is "
                                                          f"not in {cands.path.name}")
        queries = [m for lang in languages for m in data[lang].mentions]
        c_emb = _embed_in_order(embed, cands.texts, None)
        q_emb = _embed_in_order(embed_query, [m.query for m in queries], query_prefix)
        _, idx = rank_by_cosine(q_emb, c_emb, TOP_K)
        del c_emb
        scores, files, stats, r = {}, {}, {}, 0
        for lang in languages:
            ms = data[lang].mentions
            preds = {m.example_id: [cands.ids[i] for i in idx[r + j].tolist()] for j, m in enumerate(ms)}
            r += len(ms)
            gold = {m.example_id: [m.entity_id] for m in ms}
            scores[lang] = {f"map@{TOP_K}": mewslix_map_at_k(gold, preds, TOP_K), "n": len(ms),
                            "candidates": len(cands.ids)}
            # one statistic per distinct mention id, in the order mewslix_map_at_k sums them
            stats[lang] = self.example_stats(task, [preds.get(k, []) for k in gold], list(gold.values()))
            files[lang] = (f"{split}-{lang}.json", json.dumps(preds, ensure_ascii=False) + "\n")
        _load_candidates.cache_clear()
        return EmbeddingResult(scores, files, stats)

    def label_files(self, task, languages, load):
        """Mewsli-X: ``{example id: [gold entity id]}`` per language (the gold file ``evaluate.py`` reads). LAReQA:
        none (``evaluate.py`` lists no languages for it)."""
        if task.extra.get("mode") != "mewslix":
            return {}
        out = {}
        for lang in languages:
            d = load(task.test_split, lang)
            gold = {m.example_id: [m.entity_id] for m in d.mentions}
            out[lang] = (f"{task.test_split}-{lang}.json", json.dumps(gold, ensure_ascii=False) + "\n")
        return out


register_family(RankingRetrieval())

register(Task(
    name="lareqa", kind="retrieval_ranking", roles=(TARGET,), languages=LAREQA_LANGS, metric=f"map@{TOP_K}",
    read=read_lareqa, data_subdir="lareqa", dev_split="test", test_split="test",
    discover_languages=lareqa_languages,
    extra={"mode": "lareqa"},
    description="LAReQA on XQuAD-R: questions retrieve answer sentences from all 11 languages' pool, mAP@20",
    source="Roy et al. 2020 (LAReQA); XTREME-R (Ruder et al. 2021)",
))
register(Task(
    name="mewslix", kind="retrieval_ranking", roles=(TARGET,), languages=MEWSLIX_LANGS, metric=f"map@{TOP_K}",
    read=read_mewslix, data_subdir="mewslix", dev_split="dev", test_split="test",
    extra={"mode": "mewslix"},
    description="Mewsli-X: WikiNews mentions retrieve their entity among ~1M descriptions, mAP@20 (= MRR@20)",
    source="Botha et al. 2020 (Mewsli-9); XTREME-R (Ruder et al. 2021), release mewsli-x_20220518_6",
), aliases=("mewsli-x",))
register(Task(
    name="tatoeba-xtreme-r", kind="retrieval", roles=(TARGET,), languages=TATOEBA_XTREME_R, metric="accuracy@1",
    read=read_tatoeba, data_subdir="tatoeba", test_split="test",
    hf=dataclasses.replace(TATOEBA_HF, languages=TATOEBA_XTREME),  # google/xtreme lacks az lt pl ro uk
    discover_languages=tatoeba_languages,
    extra={"mode": "nearest"},
    description="Tatoeba sentence retrieval on XTREME-R's 41 languages (XTREME's 36 + az lt pl ro uk)",
    source="Artetxe & Schwenk 2019; XTREME-R (Ruder et al. 2021)",
))
