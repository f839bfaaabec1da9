"""A phase's data: every split it reads, featurized with its tokenizer and cached (:class:`Featurizer`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import ExperimentConfig, TaskSpec, task_max_length
from ..console import progress_bar
from ..data import code_fingerprint, examples_digest, tokenize_cached, tokenizer_fingerprint
from ..errors import MissingDataError
from ..loading import load_examples, subsample, task_data_dir
from ..paths import cache_dir
from ..tasks import get_family, get_task
from ..train import TaskData
from .context import EvalSets
from .keys import _data_fingerprint
from .store import is_main_process, rank_world, wait_for_everyone


def feature_cache() -> Path:
    """The folder of the tokenized-feature cache (``<cache>/features``)."""
    return cache_dir() / "features"


@dataclass(frozen=True)
class Featurizer:
    """Reads and featurizes the tasks of one phase: *cfg*'s text prefix and task entries, the phase's *tokenizer*,
    the feature cache folder *cache* (keyed by the data, the tokenizer, the length and the family's code)."""

    cfg: ExperimentConfig
    tokenizer: object
    cache: Path

    def features(self, spec: TaskSpec, split: str, lang: str, examples: list, max_length: int,
                 limit: int | None = None) -> dict:
        task = get_task(spec.task)
        family = get_family(task.kind)
        prefix = self.cfg.model.text_prefix
        key = {"task": task.name, "split": split, "lang": lang, "n": len(examples), "data": _data_fingerprint(spec),
               "max_examples": spec.max_examples if split == task.train_split else limit,
               "tokenizer": tokenizer_fingerprint(self.tokenizer), "max_length": max_length,
               "prefix": prefix, "kind": task.kind, "options": spec.options,
               # the featurisation code and the task's module (its reader): no PHASE_VERSION bump needed
               "code": code_fingerprint(family, *([task.module] if task.module else []))}
        if not task_data_dir(spec).is_dir():  # hub data: no file listing, so the examples are the data revision
            key["examples"] = examples_digest(examples)

        def build():
            with progress_bar(f"tokenize {spec.label} {split} {lang}", len(examples)) as adv:
                feats: dict = {}
                for s in range(0, len(examples), 2000):
                    part = family.featurize(task, examples[s:s + 2000], self.tokenizer, max_length, prefix,
                                            spec.options)
                    if "example_index" in part:  # chunk-local -> global example numbers
                        part["example_index"] = [x + s for x in part["example_index"]]
                    for k, v in part.items():
                        feats.setdefault(k, []).extend(v)
                    adv(len(examples[s:s + 2000]))
            return feats

        if rank_world()[1] == 1:
            return tokenize_cached(self.cache, key, build)
        # data parallel: the main process tokenizes and caches, the others then read its cache file
        feats = tokenize_cached(self.cache, key, build) if is_main_process() else None
        wait_for_everyone()
        return feats if feats is not None else tokenize_cached(self.cache, key, build)

    def train_data(self, spec: TaskSpec, max_length: int | None = None) -> TaskData:
        """The training set of *spec* in its training language (subsampled to ``max_examples``); *max_length*:
        default the intermediate phase's."""
        task = get_task(spec.task)
        if max_length is None:
            max_length = task_max_length(self.cfg, "intermediate", spec)
        lang = spec.train_language or task.train_language
        examples = subsample(load_examples(spec, task.train_split, lang), spec.max_examples)
        feats = self.features(spec, task.train_split, lang, examples, max_length)
        return TaskData(spec.label, task, get_family(task.kind), feats, examples)

    def eval_data(self, spec: TaskSpec, split: str, lang: str, max_length: int, limit: int | None = None) -> TaskData:
        """One split and language of *spec*, featurized: its first *limit* examples (and at most
        ``max_eval_examples``)."""
        task = get_task(spec.task)
        examples = load_examples(spec, split, lang)
        limits = [n for n in (limit, spec.max_eval_examples) if n]
        limit = min(limits) if limits else None
        if limit is not None and limit >= len(examples):
            limit = None  # all of them: the same features as the full split's
        if limit:
            examples = examples[:limit]
        if not examples:
            raise MissingDataError(f"{task_data_dir(spec)}: no {split} examples of task {task.name!r} for language "
                                   f"{lang!r}")
        feats = self.features(spec, split, lang, examples, max_length, limit)
        return TaskData(spec.label, task, get_family(task.kind), feats, examples)

    def eval_sets(self, spec: TaskSpec, langs: list[str], max_length: int) -> EvalSets:
        """Every split a target phase evaluates, read and featurized before training (a bad file fails the phase
        before its first step). The test split is required in every language; a language whose dev file does not
        exist (XQuAD's non-English languages, some UD treebanks) is evaluated on test only and listed."""
        task = get_task(spec.task)
        sets = EvalSets(dev={}, test={}, no_dev=[])
        for lang in langs:
            try:
                sets.dev[lang] = self.eval_data(spec, task.dev_split, lang, max_length)
            except MissingDataError:
                sets.no_dev.append(lang)
            sets.test[lang] = self.eval_data(spec, task.test_split, lang, max_length)
        return sets

    def selection_data(self, spec: TaskSpec, hp, max_length: int, langs: list[str]) -> list[TaskData]:
        """The dev data model selection scores: the first ``selection_examples`` dev examples of the training
        language (``en-dev``), or of every evaluated language (``all-dev``); none for ``last``."""
        task = get_task(spec.task)
        if hp.selection == "last":
            return []
        train_lang = spec.train_language or task.train_language
        chosen = [train_lang] if hp.selection == "en-dev" else langs
        out = []
        for lang in chosen:
            try:
                out.append(self.eval_data(spec, task.dev_split, lang, max_length, hp.selection_examples))
            except MissingDataError as e:
                if hp.selection == "all-dev" and lang != train_lang:
                    continue
                raise MissingDataError(f"{e} (needed for model selection `selection: {hp.selection}`; set "
                                       f"selection: last to keep the final weights instead)") from None
        return out
