"""LAReQA (Roy et al. 2020) on XQuAD-R: language-agnostic answer retrieval, in XTREME-R (Ruder et al. 2021).

Everything about the task is in this module: the reader, the English training pairs of its dual-encoder fine-tuning,
XTREME-R's fine-tuning settings, the scoring, the registration, the example-data writer and the download plan. The
``retrieval_ranking`` family (options, fine-tuning settings, mAP@20 statistics) is in
:mod:`xstilts.tasks.families.ranking`; the dual-encoder fine-tuning in :mod:`xstilts.dual_encoder`.

Official layout (XTREME's ``scripts/download_lareqa_data.sh``): ``lareqa/xquad-r/{lang}.json`` for the 11 languages ar
de el en es hi ru th tr vi zh, SQuAD v1.1 format plus ``sentence_breaks`` (``[start, end]`` character offsets) per
paragraph. As XTREME's ``third_party/utils_lareqa.py`` (``load_data``/``generate_examples``) and
``evaluate_retrieval.py`` (task ``lareqa``):

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

Download: the ``xquad-r/{lang}.json`` files of github.com/google-research-datasets/lareqa at a fixed commit.
Prediction files (``predictions/lareqa/test-{lang}.json``): ``{question id: [top-20 candidate ids]}``.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataFormatError, MissingDataError
from . import TARGET, Download, ExampleData, Task, register, squad
from .base import EmbeddingResult, json_error, read_text, require_file, short, type_name
from .families.ranking import TOP_K, RankingMode, RankingOptions, RetrievalPairs, _embed_in_order, register_mode

NAME = "lareqa"
#: XQuAD-R languages (LAReQA).
LANGUAGES = tuple("ar de el en es hi ru th tr vi zh".split())
LAREQA_COMMIT = "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c"
LAREQA_URL = ("https://raw.githubusercontent.com/google-research-datasets/lareqa/" + LAREQA_COMMIT +
              "/xquad-r/{lang}.json")


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


SQUAD_PAIR_FILES = {"train": squad.FILES["train"], "dev": squad.FILES["dev"]}


def lareqa_pair_file(data_dir: Path, split: str) -> Path:
    """SQuAD v1.1's *split* file for LAReQA fine-tuning: in ``data_dir/squad``, the sibling ``../squad`` (XTREME's
    ``download/squad``) or *data_dir*.

    Raises:
        MissingDataError: a split other than train/dev, or no such file.
    """
    if split not in SQUAD_PAIR_FILES:
        raise MissingDataError(f"LAReQA fine-tuning reads SQuAD v1.1 train or dev, not {split!r}")
    name = SQUAD_PAIR_FILES[split]
    cands = [data_dir / squad.FOLDER, data_dir.parent / squad.FOLDER, data_dir]
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
        DataFormatError: a malformed SQuAD file (:func:`xstilts.tasks.families.qa.read_squad_file`).
    """
    from .families.qa import read_squad_file

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


#: XTREME-R's dual-encoder fine-tuning settings (google-research/xtreme ``scripts/train_lareqa.sh`` with
#: ``run_eval_lareqa.sh``), for XLM-R large, the model of xstilts' studies: 3 epochs at lr 2e-5, 4 pairs per batch (the
#: in-batch negatives) x 4 accumulation steps, questions truncated to 96 and candidates to 256 tokens, the checkpoint
#: chosen on validation (the paper's results used checkpoint 9000 of mBERT and 10000 of XLM-R, of checkpoints saved
#: every 1000 steps; the validation signal of ``run_retrieval_qa.py`` is the in-batch loss on SQuAD dev). As for
#: Mewsli-X: no warmup, no weight decay, AdamW eps 1e-8, gradients clipped at 1.0, learnable logit scale from 100
#: (:data:`xstilts.tasks.families.ranking.FINETUNE_COMMON`).
FINETUNE_PUBLISHED: dict[str, Any] = {"epochs": 3.0, "lr": 2e-5, "batch_size": 4, "grad_accum": 4,
                                      "query_max_length": 96, "candidate_max_length": 256, "selection": "dev-loss",
                                      "eval_every": 1000}


def _finetune_pairs(data_dir: Path, split: str, options: RankingOptions) -> RetrievalPairs:
    return read_lareqa_pairs(data_dir, split, options.candidate_text)


# ---------------------------------------------------------------------------------------------------- scoring
def score(family, task: Task, languages, load, embed, embed_query, query_prefix, options: RankingOptions):
    """Pool every language's candidates (the answer sentences of every paragraph, :class:`LareqaData`), rank them for
    each question of *languages* by cosine (queries embedded by *embed_query* with *query_prefix*) and score mAP@20
    per question language (see the module docstring); the retrieval_ranking family's ``evaluate``."""
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
        stats[lang] = family.example_stats(task, rankings, [relevant[q.id] for q in qs])
        preds = {q.id: [cand_ids[i] for i in r] for q, r in zip(qs, rankings)}
        files[lang] = (f"{split}-{lang}.json", json.dumps(preds, ensure_ascii=False) + "\n")
    return EmbeddingResult(scores, files, stats)


# ---------------------------------------------------------------------------------------------- example data
#: All 11: the candidate pool is every language's.
EXAMPLE_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


def write_examples(root: Path) -> Path:
    """XQuAD-R as XTREME's ``download_lareqa_data.sh`` lays it out: ``xquad-r/{lang}.json`` (SQuAD format plus
    ``sentence_breaks``), parallel across the 11 languages (shared question ids); and the English SQuAD v1.1 files
    that dual-encoder fine-tuning reads, ``squad/{train,dev}-v1.1.json`` (in XTREME's layout they are the sibling
    ``../squad``; here the folder is self-contained)."""
    from ._synthetic import _json, _rng, _sep, _squad_doc, _write, random_clause, sentence

    srng = _rng(NAME, squad.NAME)
    _write(root / squad.FOLDER / squad.FILES["train"], _json(_squad_doc(srng, "en", 96, "lq")))
    _write(root / squad.FOLDER / squad.FILES["dev"], _json(_squad_doc(srng, "en", 24, "lqd")))
    rng = _rng(NAME)
    structure = []
    for p in range(6):
        clauses = [random_clause(rng, person=(k == 0)) for k in range(3)]
        rng.shuffle(clauses)
        structure.append(clauses)
    for lang in EXAMPLE_LANGUAGES:
        paragraphs = []
        for p, clauses in enumerate(structure):
            sents = [sentence(c, lang) for c in clauses]
            sep = _sep(lang)
            context = sep.join(sents)
            breaks, pos = [], 0
            for s in sents:
                breaks.append([pos, pos + len(s)])
                pos += len(s) + len(sep)
            qas = []
            for k, c in enumerate(clauses):
                if c.subject_type != "PER":
                    continue
                answer = " ".join(c.subject)
                start = breaks[k][0] + sents[k].index(answer)
                qas.append({"id": f"lareqa-{p}-{k}", "question": sentence(c, lang, question=True),
                            "answers": [{"text": answer, "answer_start": start}]})
            paragraphs.append({"context": context, "sentence_breaks": breaks, "qas": qas})
        _write(root / "xquad-r" / f"{lang}.json", _json({"version": "1.1", "data": [
            {"title": f"Article_{k}", "paragraphs": paragraphs[k::2]} for k in range(2)]}))
    return root


# ------------------------------------------------------------------------------------------------ download
def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: the XQuAD-R file of each language (SQuAD v1.1 for fine-tuning is the ``squad`` task's
    download; the reader also looks in ``lareqa/squad``)."""
    from ..download._formats import count_squad

    folder = plan.folder(NAME)
    for lang in languages:
        plan.url_file(NAME, folder, f"url:lareqa:{lang}", f"XQuAD-R {lang} (LAReQA)", LAREQA_URL.format(lang=lang),
                      f"xquad-r/{lang}.json", "test", count_squad)


register_mode(NAME, RankingMode(score=score, pair_file=lareqa_pair_file, read_pairs=_finetune_pairs,
                                finetune=FINETUNE_PUBLISHED, candidate_text=True))
register(Task(
    name=NAME, kind="retrieval_ranking", roles=(TARGET,), languages=LANGUAGES, metric=f"map@{TOP_K}",
    read=read_lareqa, data_subdir=NAME, dev_split="test", test_split="test",
    discover_languages=lareqa_languages,
    extra={"mode": NAME},
    description="LAReQA on XQuAD-R: questions retrieve answer sentences from all 11 languages' pool, mAP@20",
    source="Roy et al. 2020 (LAReQA); XTREME-R (Ruder et al. 2021)",
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES), download=Download(plan_download, LANGUAGES),
))
