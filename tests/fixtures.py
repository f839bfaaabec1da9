"""Small files in the official formats and a tiny randomly initialised encoder, written by the tests themselves."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon "
         "phi chi psi omega red green blue black white cat dog bird fish tree house river stone yes no").split()


def make_tiny_model(folder: Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A BERT encoder with random weights and a word-level tokenizer over :data:`WORDS` (plus ``w0``..``w99``)."""
    from xstilts.provision.examples import save_word_level_bert

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return save_word_level_bert(folder, specials + list(WORDS) + [f"w{i}" for i in range(100)],
                                bert_pretokenizer=False, hidden=hidden, layers=layers, max_positions=256, seed=seed)


def toy_pair(rng: random.Random) -> tuple[str, str, int]:
    """A learnable pair: label 1 iff the second sentence contains the word 'yes'."""
    a = " ".join(rng.choices(WORDS[:30], k=rng.randint(3, 8)))
    label = rng.randint(0, 1)
    b = rng.choices(WORDS[:30], k=rng.randint(3, 8))
    b.insert(rng.randint(0, len(b)), "yes" if label else "no")
    return a, " ".join(b), label


def write_pawsx(root: Path, langs=("en", "de"), n_train: int = 400, n_test: int = 60, seed: int = 0) -> Path:
    """PAWS-X layout: ``{lang}/{train,dev_2k,test_2k}.tsv`` with header ``id sentence1 sentence2 label``."""
    rng = random.Random(seed)
    for lang in langs:
        for name, n in (("train.tsv", n_train if lang == "en" else 0), ("dev_2k.tsv", n_test), ("test_2k.tsv", n_test)):
            if n == 0:
                continue
            rows = ["id\tsentence1\tsentence2\tlabel"]
            for i in range(n):
                a, b, y = toy_pair(rng)
                rows.append(f"{i + 1}\t{a}\t{b}\t{y}")
            (root / lang).mkdir(parents=True, exist_ok=True)
            (root / lang / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def write_tatoeba(root: Path, pairs: dict[str, tuple[list[str], list[str]]]) -> Path:
    """Tatoeba layout: ``tatoeba.{xxx}-eng.{xxx}`` / ``.eng`` line-aligned, for ``{lang3: (src, eng)}``."""
    root.mkdir(parents=True, exist_ok=True)
    for l3, (src, eng) in pairs.items():
        (root / f"tatoeba.{l3}-eng.{l3}").write_text("".join(s + "\n" for s in src), encoding="utf-8")
        (root / f"tatoeba.{l3}-eng.eng").write_text("".join(s + "\n" for s in eng), encoding="utf-8")
    return root


def cpu_accelerator():
    """A fresh CPU ``accelerate.Accelerator`` (its process-wide state reset, as each pipeline phase does)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    return Accelerator(cpu=True)
