"""Mewsli-X (Botha et al. 2020; XTREME-R, Ruder et al. 2021): entity linking as retrieval, WikiNews mentions in 11
languages retrieving their Wikidata entity among ~1M entity descriptions.

Everything about the task is in this module: the reader, the English training pairs of its dual-encoder fine-tuning,
XTREME-R's fine-tuning settings, the scoring, the registration, the example-data writer and the download plan. The
``retrieval_ranking`` family (options, fine-tuning settings, mAP@20 statistics) is in
:mod:`xstilts.tasks.families.ranking`; the dual-encoder fine-tuning in :mod:`xstilts.dual_encoder`.

XTREME-R's version ``mewsli-x_20220518_6``. Official layout (XTREME's ``scripts/download_mewslix_data.sh``):
``mewslix/candidate_set_entities.jsonl`` (one entity per line: ``entity_id``, ``title``, ``description``,
``sentence_spans``, ``description_language``, ``description_url``; ~1M entities whose descriptions are in 50 languages,
not only English) and ``mewslix/wikinews_mentions-{dev,test}.jsonl`` (one WikiNews article per line: ``context`` with
``language``, ``text``, ``sentence_spans``; ``mentions`` with ``example_id``, ``entity_id``, ``mention_span`` ``{start,
end, text}``). As XTREME's ``third_party/utils_mewslix.py`` and ``evaluate_retrieval.py`` (task ``mewslix``): the query
is ``preprocess_mention`` (the mention's sentence with the mention marked ``{ mention }``, prefixed by ``mention: ``),
the candidate text ``preprocess_entity_description``; the top 20 entities are retrieved from the whole candidate set;
the metric is MRR@20 = mAP@20 (one gold entity) per mention language, macro-averaged over the 11 languages ar de en es
fa ja pl ro ta tr uk. The released ``wikinews_mentions_no_text-*`` files lack the article text and cannot be used
(restore it with ``get-mewsli-x.sh``). Fine-tuning reads ``mewslix/wikipedia_pairs-{train,dev}.jsonl`` (the release's
English Wikipedia portion, which XTREME's ``download_data.sh`` moves beside the other files): one
``{"contextual_mention": {"context", "mention"}, "entity"}`` pair per line.

Download: the release archive ``mewsli-x_20220518_6.zip`` (md5 checked), whose WikiNews mentions lack the article
text: restoring it is a manual step (:data:`MANUAL`).
Prediction files (``predictions/mewslix/test-{lang}.json``): ``{example_id: [top-20 entity ids]}``, the layout
XTREME's ``evaluate.py --xtreme_version xtreme-r`` reads for Mewsli-X.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataFormatError, MissingDataError
from . import TARGET, Download, ExampleData, Task, register
from .base import EmbeddingResult, need_str, parse_json, require_file, short, type_name
from .families.ranking import TOP_K, RankingMode, RankingOptions, RetrievalPairs, _embed_in_order, register_mode

NAME = "mewslix"
#: Mewsli-X mention languages (``utils_mewslix.MENTION_LANGUAGES``).
LANGUAGES = tuple("ar de en es fa ja pl ro ta tr uk".split())
MEWSLIX_URL = "https://storage.googleapis.com/gresearch/mewsli/mewsli-x_20220518_6.zip"
MEWSLIX_MD5 = "6d3f137027c7e0146c7aa0b3c21e90f4"  # published in the Mewsli-X README
#: What ``xstilts download`` says to do for the article text it cannot download.
MANUAL = ("Mewsli-X ships its WikiNews mentions without the article text (wikinews_mentions_no_text-*.jsonl, "
          "written here); restore the text with get-mewsli-x.sh from github.com/google-research/google-research "
          "(dense_representations_for_entity_retrieval/mel, it reads public WikiNews dumps) and copy its "
          "wikinews_mentions-dev.jsonl and wikinews_mentions-test.jsonl into {folder}")


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
MEWSLIX_PAIR_FILES = {"train": "wikipedia_pairs-train.jsonl", "dev": "wikipedia_pairs-dev.jsonl"}


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


#: XTREME-R's dual-encoder fine-tuning settings (google-research/xtreme ``scripts/train_mewslix.sh`` with
#: ``run_eval_mewslix.sh``), for XLM-R large, the model of xstilts' studies: 2 epochs at lr 1e-5 (chosen there on the
#: English Wikipedia dev loss among 1e-5, 2e-5, 5e-5, 1e-4), 8 pairs per batch x 4, 64 tokens, the final model. As for
#: LAReQA: no warmup, no weight decay, AdamW eps 1e-8, gradients clipped at 1.0, learnable logit scale from 100
#: (:data:`xstilts.tasks.families.ranking.FINETUNE_COMMON`).
FINETUNE_PUBLISHED: dict[str, Any] = {"epochs": 2.0, "lr": 1e-5, "batch_size": 8, "grad_accum": 4,
                                      "query_max_length": 64, "candidate_max_length": 64, "selection": "last",
                                      "eval_every": None}
#: ``train_mewslix.sh``'s settings for mBERT (``bert-base-multilingual-cased``): lr 2e-5, 64 pairs per batch.
FINETUNE_PUBLISHED_MBERT: dict[str, Any] = {"lr": 2e-5, "batch_size": 64}


def _finetune_pairs(data_dir: Path, split: str, options: RankingOptions) -> RetrievalPairs:
    return read_mewslix_pairs(data_dir, split)


# ---------------------------------------------------------------------------------------------------- scoring
def reciprocal_rank(relevant, ranking) -> float:
    """The reciprocal rank of the gold entity (the one of *relevant*) in the top 20 of *ranking*, 0 when absent:
    what ``utils_mewslix.evaluate`` sums (AP@20 with one relevant candidate)."""
    target = str(list(relevant)[0]).strip()
    return next((1.0 / r for r, p in enumerate(list(ranking)[:TOP_K], 1) if p == target), 0.0)


def score(family, task: Task, languages, load, embed, embed_query, query_prefix, options: RankingOptions):
    """Rank the whole candidate set for each mention of *languages* by cosine (mentions embedded by *embed_query* with
    *query_prefix*) and score MRR@20 = mAP@20 per mention language (see the module docstring); the retrieval_ranking
    family's ``evaluate``."""
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
        stats[lang] = family.example_stats(task, [preds.get(k, []) for k in gold], list(gold.values()))
        files[lang] = (f"{split}-{lang}.json", json.dumps(preds, ensure_ascii=False) + "\n")
    _load_candidates.cache_clear()
    return EmbeddingResult(scores, files, stats)


def label_files(task: Task, languages, load) -> dict:
    """``{example id: [gold entity id]}`` per language (the gold file ``evaluate.py`` reads)."""
    out = {}
    for lang in languages:
        d = load(task.test_split, lang)
        gold = {m.example_id: [m.entity_id] for m in d.mentions}
        out[lang] = (f"{task.test_split}-{lang}.json", json.dumps(gold, ensure_ascii=False) + "\n")
    return out


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("en", "de", "es")


def _wikipedia_pair(rng, name: str, eid: str, desc: str, example_id: str) -> dict:
    """One line of Mewsli-X's ``wikipedia_pairs-*.jsonl``: an English context of two sentences, one opening with
    the entity's name (the mention), and the entity with its description."""
    from ._synthetic import random_clause, sentence

    c = random_clause(rng, person=True)
    c.subject = tuple(name.split())
    sents = [sentence(c, "en"), sentence(random_clause(rng, person=False), "en")]
    rng.shuffle(sents)
    text = " ".join(sents)
    spans, pos = [], 0
    for s in sents:
        spans.append({"start": pos, "end": pos + len(s)})
        pos += len(s) + 1
    start = text.index(name)
    context = {"document_title": f"Page {example_id}", "document_url": f"https://en.wikipedia.org/wiki/P_{example_id}",
               "document_id": f"Q9{example_id}", "language": "en", "text": text, "sentence_spans": spans,
               "section_title": "Introduction"}
    mention = {"example_id": example_id, "mention_span": {"start": start, "end": start + len(name), "text": name},
               "entity_id": eid}
    entity = {"entity_id": eid, "title": name, "description": desc, "sentence_spans": [
        {"start": 0, "end": len(desc)}], "description_language": "en",
        "description_url": f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}"}
    return {"contextual_mention": {"context": context, "mention": mention}, "entity": entity}


def write_examples(root: Path) -> Path:
    """Mewsli-X (XTREME-R release): ``candidate_set_entities.jsonl``, ``wikinews_mentions-{dev,test}.jsonl`` and the
    English Wikipedia pairs for dual-encoder fine-tuning, ``wikipedia_pairs-{train,dev}.jsonl``."""
    from ._synthetic import FIRST_NAMES, ORGS, PLACES, SURNAMES, _jsonl, _rng, _sep, _write, random_clause, sentence

    rng = _rng(NAME)
    people = [f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES]
    entities = {}
    lines = []
    for k, name in enumerate(people + PLACES + ORGS):
        eid = f"Q{1000 + k}"
        entities[name] = eid
        c = random_clause(rng, person=False, number=False)
        c.subject, c.subject_type = tuple(name.split()), "PER"
        desc = sentence(c, "en") + " " + sentence(random_clause(rng, person=False), "en")
        lang = rng.choice(["en", "de", "es"])
        lines.append({"entity_id": eid, "title": name, "description": desc, "sentence_spans": [
            {"start": 0, "end": len(desc)}], "description_language": lang,
            "description_url": f"https://{lang}.wikipedia.org/wiki/{name.replace(' ', '_')}"})
    _write(root / "candidate_set_entities.jsonl", _jsonl(lines))
    for split, n_docs in (("dev", 4), ("test", 8)):
        docs = []
        for lang in EXAMPLE_LANGUAGES:
            for d in range(n_docs):
                sents, names, mentions = [], [], []
                sep = _sep(lang)
                for _ in range(2):  # two sentences, each about a person (first name and surname: an entity)
                    c = random_clause(rng, person=True)
                    c.subject = (c.subject[0], c.subject[1] if len(c.subject) > 1 else rng.choice(SURNAMES))
                    sents.append(sentence(c, lang))
                    names.append(" ".join(c.subject))
                text = sep.join(sents)
                spans, pos = [], 0
                for s in sents:
                    spans.append({"start": pos, "end": pos + len(s)})
                    pos += len(s) + len(sep)
                for m, name in enumerate(names):
                    start = spans[m]["start"]  # the subject opens its sentence
                    mentions.append({"example_id": f"{split}-{lang}-{d}-{m}", "mention_span": {
                        "start": start, "end": start + len(name), "text": name}, "entity_id": entities[name]})
                docs.append({"context": {"document_title": f"News {d}", "document_url": f"https://{lang}.wikinews"
                                         f".org/wiki/News_{d}", "document_id": f"{lang}-{split}-{d}",
                                         "language": lang, "text": text, "sentence_spans": spans},
                             "mentions": mentions})
        _write(root / f"wikinews_mentions-{split}.jsonl", _jsonl(docs))
    prng = _rng(NAME, "wikipedia")
    descs = {ln["entity_id"]: ln["description"] for ln in lines}
    for split, n in (("train", 96), ("dev", 24)):
        pairs = []
        for k in range(n):
            name = prng.choice(people)
            pairs.append(_wikipedia_pair(prng, name, entities[name], descs[entities[name]], f"wp-{split}-{k}"))
        _write(root / f"wikipedia_pairs-{split}.jsonl", _jsonl(pairs))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the release archive's candidate set, English Wikipedia pairs and text-less WikiNews
    mentions (all languages at once); restoring the article text is a manual step (:data:`MANUAL`), asked for until
    ``wikinews_mentions-{dev,test}.jsonl`` are in the folder."""
    import zipfile

    from ..download._formats import count_lines
    from ..download.plan import copy_stream
    from ..errors import XstiltsError

    folder = plan.folder(NAME)
    names = ("candidate_set_entities.jsonl", "wikipedia_pairs-train.jsonl", "wikipedia_pairs-dev.jsonl",
             "wikinews_mentions_no_text-dev.jsonl", "wikinews_mentions_no_text-test.jsonl")

    def run(ctx) -> None:
        path = ctx.url(MEWSLIX_URL, md5=MEWSLIX_MD5)
        with zipfile.ZipFile(path) as zf:
            members = {Path(i.filename).name: i for i in zf.infolist() if not i.is_dir()}
            missing = [n for n in names if n not in members]
            if missing:
                raise XstiltsError(f"{MEWSLIX_URL}: the archive lacks {', '.join(missing)}")
            for n in names:
                with zf.open(members[n]) as src:
                    copy_stream(ctx, n, src)
                ctx.count(n.rsplit(".", 1)[0], count_lines(folder / n))

    plan.add(NAME, folder, "url:mewsli-x_20220518_6", "Mewsli-X release mewsli-x_20220518_6", run)
    if not all((folder / f"wikinews_mentions-{s}.jsonl").is_file() for s in ("dev", "test")):
        plan.manual[NAME] = MANUAL.format(folder=folder)


register_mode(NAME, RankingMode(score=score, pair_file=mewslix_pair_file, read_pairs=_finetune_pairs,
                                finetune=FINETUNE_PUBLISHED, finetune_mbert=FINETUNE_PUBLISHED_MBERT,
                                query_ap=reciprocal_rank, label_files=label_files))
register(Task(
    name=NAME, kind="retrieval_ranking", roles=(TARGET,), languages=LANGUAGES, metric=f"map@{TOP_K}",
    read=read_mewslix, data_subdir=NAME, dev_split="dev", test_split="test",
    extra={"mode": NAME},
    description="Mewsli-X: WikiNews mentions retrieve their entity among ~1M descriptions, mAP@20 (= MRR@20)",
    source="Botha et al. 2020 (Mewsli-9); XTREME-R (Ruder et al. 2021), release mewsli-x_20220518_6",
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES), download=Download(plan_download, LANGUAGES),
), aliases=("mewsli-x",))
