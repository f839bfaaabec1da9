"""Synthetic multilingual text for the example data sets (:mod:`xstilts.provision.examples` and the task modules'
example writers): a small lexicon per language, sentences rendered from one abstract clause into every language,
shared names, places and markers, the tiny tokenizer's vocabulary, and deterministic file helpers.

A leaf module: it imports nothing from xstilts, so task modules can use it without an import cycle.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

# ----------------------------------------------------------------------------------------------- vocabulary
#: Per language: nouns (N), verbs (V), adjectives (A), a determiner (D), a preposition (P), "who" (Q) and the full
#: stop. Chinese is written without spaces (its tokenizer splits CJK characters), the others with spaces.
LEXICON: dict[str, dict] = {
    "en": {"N": ["house", "tree", "river", "city", "book"], "V": ["sees", "takes", "finds"], "A": ["big", "small"],
           "D": "the", "P": "near", "Q": "who", "stop": "."},
    "de": {"N": ["Haus", "Baum", "Fluss", "Stadt", "Buch"], "V": ["sieht", "nimmt", "findet"],
           "A": ["große", "kleine"], "D": "das", "P": "bei", "Q": "wer", "stop": "."},
    "es": {"N": ["casa", "árbol", "río", "ciudad", "libro"], "V": ["ve", "toma", "encuentra"],
           "A": ["grande", "pequeño"], "D": "el", "P": "cerca", "Q": "quién", "stop": "."},
    "fr": {"N": ["maison", "arbre", "rivière", "ville", "livre"], "V": ["voit", "prend", "trouve"],
           "A": ["grand", "petit"], "D": "le", "P": "près", "Q": "qui", "stop": "."},
    "ru": {"N": ["дом", "дерево", "река", "город", "книга"], "V": ["видит", "берёт", "находит"],
           "A": ["большой", "маленький"], "D": "этот", "P": "у", "Q": "кто", "stop": "."},
    "uk": {"N": ["дім", "дерево", "річка", "місто", "книга"], "V": ["бачить", "бере", "знаходить"],
           "A": ["великий", "малий"], "D": "цей", "P": "біля", "Q": "хто", "stop": "."},
    "zh": {"N": ["房子", "树", "河", "城市", "书"], "V": ["看见", "拿", "找到"], "A": ["大", "小"], "D": "这",
           "P": "在", "Q": "谁", "stop": "。"},
    "ar": {"N": ["بيت", "شجرة", "نهر", "مدينة", "كتاب"], "V": ["يرى", "يأخذ", "يجد"], "A": ["كبير", "صغير"],
           "D": "هذا", "P": "قرب", "Q": "من", "stop": "."},
    "sw": {"N": ["nyumba", "mti", "mto", "mji", "kitabu"], "V": ["anaona", "anachukua", "anapata"],
           "A": ["kubwa", "ndogo"], "D": "hii", "P": "karibu", "Q": "nani", "stop": "."},
    "et": {"N": ["maja", "puu", "jõgi", "linn", "raamat"], "V": ["näeb", "võtab", "leiab"], "A": ["suur", "väike"],
           "D": "see", "P": "juures", "Q": "kes", "stop": "."},
    "tr": {"N": ["ev", "ağaç", "nehir", "şehir", "kitap"], "V": ["görür", "alır", "bulur"], "A": ["büyük", "küçük"],
           "D": "bu", "P": "yakın", "Q": "kim", "stop": "."},
    "el": {"N": ["σπίτι", "δέντρο", "ποτάμι", "πόλη", "βιβλίο"], "V": ["βλέπει", "παίρνει", "βρίσκει"],
           "A": ["μεγάλο", "μικρό"], "D": "το", "P": "κοντά", "Q": "ποιος", "stop": "."},
    "hi": {"N": ["घर", "पेड़", "नदी", "शहर", "किताब"], "V": ["देखता", "लेता", "पाता"], "A": ["बड़ा", "छोटा"],
           "D": "यह", "P": "पास", "Q": "कौन", "stop": "।"},
    "vi": {"N": ["nhà", "cây", "sông", "phố", "sách"], "V": ["thấy", "lấy", "tìm"], "A": ["lớn", "nhỏ"],
           "D": "này", "P": "gần", "Q": "ai", "stop": "."},
    "th": {"N": ["บ้าน", "ต้นไม้", "แม่น้ำ", "เมือง", "หนังสือ"], "V": ["เห็น", "เอา", "พบ"], "A": ["ใหญ่", "เล็ก"],
           "D": "นี้", "P": "ใกล้", "Q": "ใคร", "stop": "."},
    "fi": {"N": ["talo", "puu", "joki", "kaupunki", "kirja"], "V": ["näkee", "ottaa", "löytää"],
           "A": ["iso", "pieni"], "D": "tämä", "P": "lähellä", "Q": "kuka", "stop": "."},
}
#: Shared across languages (as names and numbers are in real text): people, places, organisations.
FIRST_NAMES = ["Anna", "Omar", "Lena", "Ravi", "Sara", "Kenji", "Maria", "Ivan"]
SURNAMES = ["Berg", "Khan", "Silva", "Novak"]
PLACES = ["Paris", "Lagos", "Lima", "Oslo", "Delhi", "Hanoi"]
ORGS = ["UNESCO", "FIFA", "NASA", "Interpol"]
#: Language-neutral markers the labels depend on: entailment/paraphrase/correct, neutral, contradiction/wrong.
YES, MAYBE, NO = "✓", "≈", "✗"
#: Extra tokens of the formats: Mewsli-X queries (``mention: left { mention } right``), XCOPA prompts as
#: ``run_xcopa.py`` writes them (``premise What was the cause?``), German "dem" of the UD multiword token "beim",
#: numbers.
SYMBOLS = (["What", "was", "cause", "effect", "dem", ".", "。", "।", "?", "？", ":", "{", "}", "(", ")", ",", "-",
            YES, MAYBE, NO] + [str(i) for i in range(100)])


_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF


def _pieces(word: str) -> list[str]:
    """The vocabulary entries of *word* under the tiny tokenizer: CJK characters one by one, other words whole."""
    if any(_is_cjk(c) for c in word):
        return list(word)
    return [word]


def vocabulary() -> list[str]:
    """Every token the generated data can contain, specials first (the tiny tokenizer's vocabulary)."""
    words: list[str] = []
    for lex in LEXICON.values():
        for key in ("N", "V", "A"):
            words += lex[key]
        words += [lex["D"], lex["P"], lex["Q"], lex["stop"]]
    words += FIRST_NAMES + SURNAMES + PLACES + ORGS + SYMBOLS
    out: dict[str, None] = {}
    for w in words:
        for p in _pieces(w):
            out.setdefault(p, None)
    return _SPECIALS + sorted(out)


# ----------------------------------------------------------------------------------------------- sentences
@dataclass
class Clause:
    """An abstract sentence, rendered the same way into every language: ``subject verb det [adj] noun [prep place]
    [number] stop``; the subject is a person (first name, optionally a surname), an organisation or a noun."""

    subject: tuple[str, ...]
    subject_type: str  # PER, ORG or N
    verb: int
    adj: int | None
    noun: int
    place: str | None = None
    number: str | None = None
    marker: str | None = None


def random_clause(rng: random.Random, *, person: bool | None = None, place: bool | None = None,
                  number: bool | None = None) -> Clause:
    """A random :class:`Clause`; *person* forces a person subject (True) or a non-person one (False)."""
    kind = rng.choice(["PER", "PER", "ORG", "N"]) if person is None else ("PER" if person else rng.choice(["ORG", "N"]))
    if kind == "PER":
        subject = (rng.choice(FIRST_NAMES),) + ((rng.choice(SURNAMES),) if rng.random() < 0.5 else ())
    elif kind == "ORG":
        subject = (rng.choice(ORGS),)
    else:
        subject = (str(rng.randrange(5)),)  # index of a noun, rendered per language
    return Clause(subject, kind, rng.randrange(3), rng.randrange(2) if rng.random() < 0.6 else None, rng.randrange(5),
                  rng.choice(PLACES) if (place if place is not None else rng.random() < 0.5) else None,
                  str(rng.randrange(100)) if (number if number is not None else rng.random() < 0.4) else None)


#: UPOS, PAN-X and CCG tags of each word role.
_UPOS = {"name": "PROPN", "org": "PROPN", "D": "DET", "A": "ADJ", "N": "NOUN", "V": "VERB", "P": "ADP",
         "place": "PROPN", "num": "NUM", "stop": "PUNCT", "mark": "SYM", "Q": "PRON"}
_CCG = {"name": "N", "org": "N", "D": "NP/N", "A": "N/N", "N": "N", "V": "(S\\NP)/NP", "P": "(NP\\NP)/NP",
        "place": "N", "num": "N/N", "stop": ".", "mark": "N", "Q": "NP"}


def render(clause: Clause, lang: str, *, question: bool = False) -> list[tuple[str, str, str]]:
    """``[(word, role, ner_tag)]`` of *clause* in *lang*; with *question* the subject is replaced by "who" and the
    sentence ends with a question mark."""
    lex = LEXICON[lang]
    out: list[tuple[str, str, str]] = []
    if question:
        out.append((lex["Q"], "Q", "O"))
    elif clause.subject_type == "PER":
        out += [(w, "name", ("B-PER" if i == 0 else "I-PER")) for i, w in enumerate(clause.subject)]
    elif clause.subject_type == "ORG":
        out.append((clause.subject[0], "org", "B-ORG"))
    else:
        out += [(lex["D"], "D", "O"), (lex["N"][int(clause.subject[0])], "N", "O")]
    out.append((lex["V"][clause.verb], "V", "O"))
    out.append((lex["D"], "D", "O"))
    if clause.adj is not None:
        out.append((lex["A"][clause.adj], "A", "O"))
    out.append((lex["N"][clause.noun], "N", "O"))
    if clause.place:
        out += [(lex["P"], "P", "O"), (clause.place, "place", "B-LOC")]
    if clause.number:
        out.append((clause.number, "num", "O"))
    if clause.marker:
        out.append((clause.marker, "mark", "O"))
    out.append((("？" if lang == "zh" else "?") if question else lex["stop"], "stop", "O"))
    return out


def join(words: list[str], lang: str) -> str:
    """Words as running text: no spaces around CJK words (Chinese), no space before the full stop."""
    text = ""
    for w in words:
        if not text:
            text = w
        elif w in (".", "?", "。", "？", "।", ",") or lang == "zh" and (_is_cjk(w[0]) or _is_cjk(text[-1])):
            text += w
        else:
            text += " " + w
    return text


def sentence(clause: Clause, lang: str, **kw) -> str:
    return join([w for w, _, _ in render(clause, lang, **kw)], lang)


def _sep(lang: str) -> str:
    return "" if lang == "zh" else " "


# ----------------------------------------------------------------------------------------------- file helpers
def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1) + "\n"


def _rng(task: str, part: str = "") -> random.Random:
    """A generator seeded by the task's name (string seeds are hashed with SHA-512: the same on every machine)."""
    return random.Random(f"xstilts-examples:{task}:{part}")


def _pair(rng: random.Random, lang: str, labels: tuple[str, ...]) -> tuple[str, str, int]:
    """A premise and a hypothesis (a rewording of the same clause) whose label is the marker it carries."""
    y = rng.randrange(len(labels))
    a = random_clause(rng)
    b = replace(a, adj=rng.choice([None, 0, 1]), number=None,
                marker=(YES, MAYBE, NO)[y] if len(labels) == 3 else (NO, YES)[y])
    return sentence(a, lang), sentence(b, lang), y


def _qa_item(rng: random.Random, lang: str, qid: str) -> tuple[str, dict]:
    """A context of two or three sentences, one with a person as subject; the question asks who does it, the
    answer is the person's name (its first occurrence in the context)."""
    clauses = [random_clause(rng, person=False) for _ in range(rng.randint(1, 2))]
    target = random_clause(rng, person=True)
    clauses.insert(rng.randrange(len(clauses) + 1), target)
    context = _sep(lang).join(sentence(c, lang) for c in clauses)
    answer = " ".join(target.subject)
    start = context.index(answer)  # the first occurrence, as SQuAD's answer_start
    return context, {"id": qid, "question": sentence(target, lang, question=True),
                     "answers": [{"text": answer, "answer_start": start}]}


def _squad_doc(rng: random.Random, lang: str, n: int, prefix: str, *, version: str = "1.1",
               impossible: int = 0) -> dict:
    paragraphs = []
    for i in range(n):
        context, qa = _qa_item(rng, lang, f"{prefix}{i}")
        qas = [qa]
        if i < impossible:  # SQuAD v2.0: an unanswerable question about the same paragraph
            c = random_clause(rng, person=True)
            qas.append({"id": f"{prefix}{i}-u", "question": sentence(c, lang, question=True), "answers": [],
                        "is_impossible": True,
                        "plausible_answers": [{"text": qa["answers"][0]["text"],
                                               "answer_start": qa["answers"][0]["answer_start"]}]})
            qa["is_impossible"] = False
        paragraphs.append({"context": context, "qas": qas})
    articles = [{"title": f"Article_{k}", "paragraphs": paragraphs[k::4]} for k in range(min(4, len(paragraphs)))]
    return {"version": version, "data": articles}


def _choices(rng: random.Random, lang: str, n: int) -> tuple[list[str], int]:
    """*n* candidate continuations; the right one carries the marker ✓, the others ✗."""
    y = rng.randrange(n)
    out = []
    for k in range(n):
        c = random_clause(rng, number=False)
        c.marker = YES if k == y else NO
        out.append(sentence(c, lang))
    return out, y


def _parallel(rng: random.Random, lang: str, n: int) -> tuple[list[str], list[str]]:
    """*n* translation pairs (*lang*, English): the same clause rendered in both; each pair has its own number."""
    src, eng = [], []
    numbers = rng.sample(range(100), n) if n <= 100 else [rng.randrange(100) for _ in range(n)]
    for k in range(n):
        c = random_clause(rng, number=False)
        c.number = str(numbers[k])
        src.append(sentence(c, lang))
        eng.append(sentence(c, "en"))
    return src, eng
