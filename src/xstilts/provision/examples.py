"""Small data files in every task's official format and folder layout, and a tiny random encoder to run them on.

``write_examples(out_dir)`` writes ``<out_dir>/<task>/`` for every registered task: a few dozen synthetic examples per
split, in English for training and in two or three of the task's other languages for evaluation, laid out exactly as
the task's reader expects a local ``data_dir`` (the official releases' file names and formats: SQuAD JSON, XNLI TSV,
CoNLL-U, WikiANN ``lang:token<TAB>tag``, Tatoeba/BUCC line files, XQuAD-R, Mewsli-X JSON lines, ...). Everything is
deterministic (seeded by the task name), so the files are the same on every machine.

The content is synthetic but valid and, where that is cheap, learnable: sentences are rendered from one abstract
structure (a name, a verb, nouns, an adjective, a number) into each language's own words, so parallel data is a real
translation of the structure; names, numbers and a few marker symbols are shared across languages, and labels depend
on them (a pair's label on a marker in its second sentence, a multiple-choice answer on the marker in the right
choice, a question's answer is the name in the context, an entity tag on the name), so even a tiny encoder trained
for a few steps on the English data scores above chance, and zero-shot transfer works through the shared tokens.

``write_tiny_model(folder)`` writes a randomly initialised 2-layer BERT with a word-level tokenizer whose vocabulary
covers every token of the generated data (CJK text is split into characters, as BERT does), so every task runs in
seconds on a CPU.

    python -m xstilts.provision.examples --out examples/data --model examples/tiny-model
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path
from typing import Callable

from ..tasks._synthetic import (  # noqa: F401  (re-exported: the writers below and callers use them)
    LEXICON, FIRST_NAMES, SURNAMES, PLACES, ORGS, YES, MAYBE, NO, SYMBOLS, _SPECIALS, _is_cjk, _pieces, vocabulary,
    Clause, random_clause, _UPOS, _CCG, render, join, sentence, _sep, _write, _jsonl, _json, _rng, _pair, _qa_item,
    _squad_doc, _choices, _parallel,
)

#: Evaluation languages written per task (English training data is always written where the task has it).
TASK_LANGUAGES: dict[str, tuple[str, ...]] = {
    "udpos": ("en", "de", "zh"), "panx": ("en", "de", "zh"), "tatoeba": ("de", "sw", "zh"),
    "tatoeba-xtreme-r": ("de", "uk", "zh"), "tatoeba-udhr": ("de", "es", "zh"), "tatoeba-bible": ("es",),
    "bucc2018": ("de", "zh"), "lareqa": ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"),
    "mewslix": ("en", "de", "es"),
}
#: Tasks whose example folder needs another task's folder beside it (XTREME's download layout).
DEPENDS: dict[str, tuple[str, ...]] = {}

# ------------------------------------------------------------------------------------------------- tagging
def _tagged(rng: random.Random, lang: str) -> list[tuple[str, str, str]]:
    return render(random_clause(rng), lang)


_DEPREL = {"name": "nsubj", "org": "nsubj", "D": "det", "A": "amod", "N": "obj", "V": "root", "P": "case",
           "place": "nmod", "num": "nummod", "stop": "punct", "mark": "dep", "Q": "nsubj"}
_TREEBANKS = {"en": ("UD_English-EWT", "en_ewt"), "de": ("UD_German-GSD", "de_gsd"), "zh": ("UD_Chinese-GSD", "zh_gsd")}


def _conllu_sentence(words: list[tuple[str, str, str]], lang: str, sent_id: str) -> str:
    """One CoNLL-U sentence: the verb is the root, every other word depends on it."""
    forms = [w for w, _, _ in words]
    roles = [r for _, r, _ in words]
    verb = roles.index("V") + 1
    lines = [f"# sent_id = {sent_id}", f"# text = {join(forms, lang)}"]
    for i, (form, role, _) in enumerate(words, 1):
        nxt = roles[i] if i < len(words) else None
        misc = "SpaceAfter=No" if nxt == "stop" or lang == "zh" and nxt is not None else "_"
        lines.append("\t".join([str(i), form, form.lower(), _UPOS[role], "_", "_", "0" if role == "V" else str(verb),
                                _DEPREL[role], "_", misc]))
    return "\n".join(lines) + "\n\n"


def _conllu_de_beim(rng: random.Random, sent_id: str) -> str:
    """A German sentence with the contraction "beim" = "bei dem" (a multiword token, as in UD German-GSD)."""
    c = random_clause(rng, place=False, number=False)
    words = render(c, "de")[:-1]
    n = len(words)
    rows = [f"# sent_id = {sent_id}",
            f"# text = {join([w for w, _, _ in words] + ['beim', 'Fluss', '.'], 'de')}"]
    verb = [r for _, r, _ in words].index("V") + 1
    for i, (form, role, _) in enumerate(words, 1):
        rows.append("\t".join([str(i), form, form.lower(), _UPOS[role], "_", "_", "0" if role == "V" else str(verb),
                               _DEPREL[role], "_", "_"]))
    rows.append(f"{n + 1}-{n + 2}\tbeim\t_\t_\t_\t_\t_\t_\t_\t_")
    rows.append(f"{n + 1}\tbei\tbei\tADP\t_\t_\t{n + 3}\tcase\t_\t_")
    rows.append(f"{n + 2}\tdem\tder\tDET\t_\t_\t{n + 3}\tdet\t_\t_")
    rows.append(f"{n + 3}\tFluss\tFluss\tNOUN\t_\t_\t{verb}\tobl\t_\tSpaceAfter=No")
    rows.append(f"{n + 4}\t.\t.\tPUNCT\t_\t_\t{verb}\tpunct\t_\t_")
    return "\n".join(rows) + "\n\n"


def write_udpos(root: Path) -> Path:
    """UD v2.5 release layout: ``UD_<Language>-<Treebank>/<lang>_<tb>-ud-<split>.conllu``."""
    rng = _rng("udpos")
    for lang in TASK_LANGUAGES["udpos"]:
        folder, stem = _TREEBANKS[lang]
        splits = (("train", 64), ("dev", 12), ("test", 20)) if lang == "en" else (("dev", 8), ("test", 20))
        for split, n in splits:
            parts = [f"# newdoc id = {stem}-{split}\n"]
            for i in range(n):
                if lang == "de" and i % 4 == 3:
                    parts.append(_conllu_de_beim(rng, f"{stem}-{split}-{i}"))
                else:
                    parts.append(_conllu_sentence(_tagged(rng, lang), lang, f"{stem}-{split}-{i}"))
            _write(root / folder / f"{stem}-ud-{split}.conllu", "".join(parts))
    return root


def write_panx(root: Path) -> Path:
    """WikiANN as XTREME's download script lays it out: ``{lang}-{split}`` with ``lang:token<TAB>tag`` lines."""
    rng = _rng("panx")
    for lang in TASK_LANGUAGES["panx"]:
        splits = (("train", 64), ("dev", 12), ("test", 20)) if lang == "en" else (("dev", 8), ("test", 20))
        for split, n in splits:
            blocks = []
            for _ in range(n):
                words = _tagged(rng, lang)
                blocks.append("".join(f"{lang}:{w}\t{t}\n" for w, _, t in words))
            _write(root / f"{lang}-{split}", "\n".join(blocks))
    return root


def write_ccg(root: Path) -> Path:
    """jiant's CCG layout: ``ccg.{train,dev,test}`` with ``words<TAB>supertags`` per sentence."""
    rng = _rng("ccg")
    for split, n in (("train", 64), ("dev", 16), ("test", 16)):
        lines = []
        for _ in range(n):
            words = _tagged(rng, "en")
            lines.append(" ".join(w for w, _, _ in words) + "\t" + " ".join(_CCG[r] for _, r, _ in words))
        _write(root / f"ccg.{split}", "\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ retrieval
def _write_tatoeba_format(task: str):
    def write(root: Path) -> Path:
        from ..languages import to_lang3

        rng = _rng(task)
        for lang in TASK_LANGUAGES[task]:
            src, eng = _parallel(rng, lang, 24)
            l3 = to_lang3(lang)
            _write(root / f"tatoeba.{l3}-eng.{l3}", "".join(s + "\n" for s in src))
            _write(root / f"tatoeba.{l3}-eng.eng", "".join(s + "\n" for s in eng))
        return root

    return write


def write_bucc2018(root: Path) -> Path:
    """BUCC 2018 with XTREME's split names: ``{xx}-en.{dev,test}.{xx,en,gold}``; ids as the shared task's."""
    rng = _rng("bucc2018")
    for lang in TASK_LANGUAGES["bucc2018"]:
        for split, n in (("dev", 16), ("test", 24)):
            src, eng = _parallel(rng, lang, n)
            keep = set(rng.sample(range(n), n * 2 // 3))  # translated pairs: the gold
            rest = sorted(set(range(n)) - keep)
            src_only, en_only = set(rest[::2]), set(rest[1::2])  # the others have no translation on the other side
            s_ids = [f"{lang}-{k + 1:09d}" for k in range(n)]
            order = list(range(n))
            rng.shuffle(order)
            e_ids = {k: f"en-{pos + 1:09d}" for pos, k in enumerate(order)}
            src_rows = [f"{s_ids[k]}\t{src[k]}" for k in range(n) if k not in en_only]
            eng_rows = [f"{e_ids[k]}\t{eng[k]}" for k in sorted(set(range(n)) - src_only, key=e_ids.get)]
            gold = [f"{s_ids[k]}\t{e_ids[k]}" for k in sorted(keep)]
            _write(root / f"{lang}-en.{split}.{lang}", "\n".join(src_rows) + "\n")
            _write(root / f"{lang}-en.{split}.en", "\n".join(eng_rows) + "\n")
            _write(root / f"{lang}-en.{split}.gold", "\n".join(gold) + "\n")
    return root


def write_lareqa(root: Path) -> Path:
    """XQuAD-R as XTREME's ``download_lareqa_data.sh`` lays it out: ``xquad-r/{lang}.json`` (SQuAD format plus
    ``sentence_breaks``), parallel across the 11 languages (shared question ids); and the English SQuAD v1.1 files
    that dual-encoder fine-tuning reads, ``squad/{train,dev}-v1.1.json`` (in XTREME's layout they are the sibling
    ``../squad``; here the folder is self-contained)."""
    srng = _rng("lareqa", "squad")
    _write(root / "squad" / "train-v1.1.json", _json(_squad_doc(srng, "en", 96, "lq")))
    _write(root / "squad" / "dev-v1.1.json", _json(_squad_doc(srng, "en", 24, "lqd")))
    rng = _rng("lareqa")
    structure = []
    for p in range(6):
        clauses = [random_clause(rng, person=(k == 0)) for k in range(3)]
        rng.shuffle(clauses)
        structure.append(clauses)
    for lang in TASK_LANGUAGES["lareqa"]:
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


def _wikipedia_pair(rng: random.Random, name: str, eid: str, desc: str, example_id: str) -> dict:
    """One line of Mewsli-X's ``wikipedia_pairs-*.jsonl``: an English context of two sentences, one opening with
    the entity's name (the mention), and the entity with its description."""
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


def write_mewslix(root: Path) -> Path:
    """Mewsli-X (XTREME-R release): ``candidate_set_entities.jsonl``, ``wikinews_mentions-{dev,test}.jsonl`` and the
    English Wikipedia pairs for dual-encoder fine-tuning, ``wikipedia_pairs-{train,dev}.jsonl``."""
    rng = _rng("mewslix")
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
        for lang in TASK_LANGUAGES["mewslix"]:
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
    prng = _rng("mewslix", "wikipedia")
    descs = {ln["entity_id"]: ln["description"] for ln in lines}
    for split, n in (("train", 96), ("dev", 24)):
        pairs = []
        for k in range(n):
            name = prng.choice(people)
            pairs.append(_wikipedia_pair(prng, name, entities[name], descs[entities[name]], f"wp-{split}-{k}"))
        _write(root / f"wikipedia_pairs-{split}.jsonl", _jsonl(pairs))
    return root


def write_mlm(root: Path) -> Path:
    """Plain text, one sentence per line, in several languages (``*.txt``), for continued masked-LM training."""
    rng = _rng("mlm")
    for lang in ("en", "de", "es", "sw", "zh"):
        lines = [_sep(lang).join(sentence(random_clause(rng), lang) for _ in range(2)) for _ in range(60)]
        _write(root / f"{lang}.txt", "\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------------ registry
WRITERS: dict[str, Callable[[Path], Path]] = {
    "udpos": write_udpos, "panx": write_panx, "ccg": write_ccg,
    "tatoeba": _write_tatoeba_format("tatoeba"), "tatoeba-xtreme-r": _write_tatoeba_format("tatoeba-xtreme-r"),
    "tatoeba-udhr": _write_tatoeba_format("tatoeba-udhr"), "tatoeba-bible": _write_tatoeba_format("tatoeba-bible"),
    "bucc2018": write_bucc2018, "lareqa": write_lareqa, "mewslix": write_mewslix, "mlm": write_mlm,
}


def task_writers() -> dict[str, Callable[[Path], Path]]:
    """Every task's example writer: :data:`WRITERS`, and the writers task modules declare themselves
    (:attr:`xstilts.tasks.Task.examples`)."""
    from ..tasks import REGISTRY

    return {**WRITERS, **{name: t.examples.write for name, t in REGISTRY.items() if t.examples is not None}}


def task_depends() -> dict[str, tuple[str, ...]]:
    """Tasks whose example folder needs other tasks' folders beside it (:data:`DEPENDS` and task modules')."""
    from ..tasks import REGISTRY

    return {**DEPENDS, **{name: t.examples.depends for name, t in REGISTRY.items() if t.examples is not None}}


def task_languages() -> dict[str, tuple[str, ...]]:
    """Evaluation languages written per task (:data:`TASK_LANGUAGES` and task modules')."""
    from ..tasks import REGISTRY

    return {**TASK_LANGUAGES, **{name: t.examples.languages for name, t in REGISTRY.items()
                                 if t.examples is not None and t.examples.languages}}


#: Written into every example folder; only folders carrying it are ever replaced.
MARKER = ".xstilts-examples"


def write_examples(out_dir: str | Path, tasks: list[str] | None = None) -> dict[str, Path]:
    """Write ``<out_dir>/<task>/`` in the task's official layout for *tasks* (default: every registered task) and
    the folders they read beside them (``squad`` for XQuAD and MLQA, ``siqa`` for XCOPA). Task folders written
    earlier by this function are replaced. Returns ``{task: folder}`` for every folder written.

    Raises:
        KeyError: a task without an example writer.
        FileExistsError: a task folder exists that this function did not write (real data is never overwritten).
    """
    from ..tasks import REGISTRY, get_task

    out = Path(out_dir)
    names = list(REGISTRY) if tasks is None else [get_task(t).name for t in tasks]
    writers, depends = task_writers(), task_depends()
    missing = [t for t in names if t not in writers]
    if missing:
        raise KeyError(f"no example writer for task(s) {', '.join(missing)}")
    todo: list[str] = []
    for t in names:
        for dep in depends.get(t, ()) + (t,):
            if dep not in todo:
                todo.append(dep)
    for t in todo:
        folder = out / t
        if folder.exists() and not (folder / MARKER).is_file():
            raise FileExistsError(f"{folder}: exists and was not written by xstilts.provision.examples; not "
                                  f"replacing it (choose another output folder)")
    written = {}
    for t in todo:
        folder = out / t
        if folder.exists():
            shutil.rmtree(folder)
        written[t] = writers[t](folder)
        _write(folder / MARKER, "synthetic example data written by `python -m xstilts.provision.examples`\n")
    return written


# --------------------------------------------------------------------------------------------- tiny model
def save_word_level_bert(folder: str | Path, tokens: list[str], *, bert_pretokenizer: bool = True, hidden: int = 32,
                         layers: int = 2, heads: int = 2, max_positions: int = 512, seed: int = 0) -> Path:
    """Save a randomly initialised BERT encoder (no pooler) and a word-level tokenizer over *tokens* to *folder*.

    *tokens* must begin with ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4). With *bert_pretokenizer* the tokenizer
    uses BERT's normaliser (CJK characters apart, case kept) and pre-tokenizer (punctuation apart), else plain
    whitespace splitting.
    """
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = Path(folder)
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    if bert_pretokenizer:
        tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                    lowercase=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    else:
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]", model_max_length=512).save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=2 * hidden, max_position_embeddings=max_positions, pad_token_id=0)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(folder)
    return folder


def write_tiny_model(folder: str | Path, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0) -> Path:
    """A randomly initialised BERT encoder and a word-level tokenizer over :func:`vocabulary` (BERT's normaliser,
    which puts CJK characters apart, and BERT's pre-tokenizer); about 40 thousand parameters. A folder it wrote
    before is replaced; any other existing folder is an error (:class:`FileExistsError`)."""
    folder = Path(folder)
    if folder.exists():
        if not (folder / MARKER).is_file():
            raise FileExistsError(f"{folder}: exists and was not written by xstilts.provision.examples; not "
                                  f"replacing it (choose another folder for the tiny model)")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    _write(folder / MARKER, "tiny random encoder written by `python -m xstilts.provision.examples`\n")
    return save_word_level_bert(folder, vocabulary(), hidden=hidden, layers=layers, heads=heads, seed=seed)


# ---------------------------------------------------------------------------------------------- run summary
def config_command(config: str | Path) -> str:
    """``eval`` for a config that only evaluates retrieval tasks (no intermediate phase), else ``run``."""
    from ..config import load_config
    from ..tasks import get_task

    cfg = load_config(config)
    if not cfg.intermediate.tasks and cfg.target.tasks and not any(get_task(s.task).trainable
                                                                   for s in cfg.target.tasks):
        return "eval"
    return "run"


def headline(config: str | Path, output_dir: str | Path | None = None, task: str | None = None) -> dict:
    """The headline result of the finished run of *config* for *task* (default: the config file's name):
    ``{"task", "metric", "score", "languages"}``. A task of the intermediate phase is scored on its English dev
    set; a target task by its mean over the evaluated languages."""
    from ..config import load_config
    from ..tasks import get_task

    cfg = load_config(config)
    task = get_task(task or Path(config).stem).name
    out = Path(output_dir) if output_dir is not None else Path(cfg.output_dir)
    variant = "stilts" if cfg.intermediate.tasks else "baseline"
    run = json.loads((out / cfg.name / f"{variant}-seed{cfg.seeds[0]}" / "run.json").read_text(encoding="utf-8"))
    for spec in cfg.intermediate.tasks:
        if get_task(spec.task).name == task:
            phase = next(p for p in run["phases"] if p["phase"] == "intermediate")
            metrics = json.loads((Path(phase["dir"]) / "metrics.json").read_text(encoding="utf-8"))
            t = get_task(spec.task)
            per_lang = metrics["dev"][spec.label]
            lang = next(iter(per_lang))
            return {"task": task, "metric": f"{t.metric} ({lang} dev)", "score": per_lang[lang][t.metric],
                    "languages": len(per_lang)}
    for spec in cfg.target.tasks:
        if get_task(spec.task).name == task:
            m = run["tasks"][spec.label]
            return {"task": task, "metric": m["metric"], "score": m["average"], "languages": len(m["languages"])}
    raise KeyError(f"{config}: task {task!r} is in neither phase")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="write the example data folders here (<out>/<task>/)")
    ap.add_argument("--tasks", default=None, help="comma-separated tasks (default: all registered tasks)")
    ap.add_argument("--model", type=Path, help="write the tiny random encoder and its tokenizer here")
    ap.add_argument("--command", metavar="CONFIG", help="print `run` or `eval`: the xstilts command for CONFIG")
    ap.add_argument("--headline", metavar="CONFIG", help="print the headline score of CONFIG's finished run "
                                                         "(task<TAB>metric<TAB>score<TAB>languages)")
    ap.add_argument("--runs", type=Path, default=None, help="with --headline: the run's output_dir")
    args = ap.parse_args(argv)
    from ..errors import XstiltsError

    try:
        if args.command:
            print(config_command(args.command))
            return
        if args.headline:
            h = headline(args.headline, args.runs)
            print(f"{h['task']}\t{h['metric']}\t{h['score']:.1f}\t{h['languages']}")
            return
    except (XstiltsError, OSError, KeyError) as e:
        raise SystemExit(f"error: {e}") from None
    if args.out is None and args.model is None:
        ap.error("nothing to do: give --out and/or --model")
    if args.out is not None:
        written = write_examples(args.out, args.tasks.split(",") if args.tasks else None)
        print(f"example data: {len(written)} task folders in {args.out}")
    if args.model is not None:
        write_tiny_model(args.model)
        print(f"tiny model: {args.model} ({len(vocabulary())} tokens)")


if __name__ == "__main__":
    main()
