"""Small data files in every task's official format and folder layout, and a tiny random encoder to run them on.

``write_examples(out_dir)`` writes ``<out_dir>/<task>/`` for every registered task with the writer its module
declares (``Task.examples``; the shared synthetic text is :mod:`xstilts.tasks._synthetic`): a few dozen synthetic examples per
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
import shutil
from pathlib import Path
from typing import Callable

from ..tasks._synthetic import _write, vocabulary


def task_writers() -> dict[str, Callable[[Path], Path]]:
    """Every task's example writer, as its module declares it (:attr:`xstilts.tasks.Task.examples`)."""
    from ..tasks import REGISTRY

    return {name: t.examples.write for name, t in REGISTRY.items() if t.examples is not None}


def task_depends() -> dict[str, tuple[str, ...]]:
    """Tasks whose example folder needs other tasks' folders beside it (XTREME's layout: XQuAD and MLQA read
    ``../squad``), as their modules declare it."""
    from ..tasks import REGISTRY

    return {name: t.examples.depends for name, t in REGISTRY.items() if t.examples is not None}


def task_languages() -> dict[str, tuple[str, ...]]:
    """The evaluation languages each task's example data is written in, as its module declares it."""
    from ..tasks import REGISTRY

    return {name: t.examples.languages for name, t in REGISTRY.items()
            if t.examples is not None and t.examples.languages}


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
