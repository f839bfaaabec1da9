"""Hub rows written in the official file formats that the task readers read (the layouts of the original releases
and of XTREME's ``download_data.sh``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from ._core import Context

_CONTROL = re.compile(r"[\t\r\n\x00\x0b\x0c]")


def cell(value: Any) -> str:
    """A value as one tab-separated cell: tabs, line breaks and NUL become spaces (the formats cannot hold them)."""
    return _CONTROL.sub(" ", "" if value is None else str(value))


def class_names(ds: Any, column: str, default: Iterable[str]) -> list[str]:
    """The class names of the ``ClassLabel`` column *column* of the data set *ds* (also inside a sequence), else
    *default* (the names the data set's card documents)."""
    try:
        feat = ds.features[column]
        feat = getattr(feat, "feature", feat)
        names = getattr(feat, "names", None)
        if names:
            return list(names)
    except (AttributeError, KeyError, TypeError):
        pass
    return list(default)


def label_name(value: Any, names: list[str]) -> str | None:
    """The name of a class label given as an index (or already as a name); ``None`` for -1 / missing labels."""
    if value is None or value == -1 or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else None
    return str(value)


# --------------------------------------------------------------------------------------------------- JSON
def write_jsonl(ctx: Context, rel: str, objs: Iterable[dict], split: str) -> int:
    n = 0
    with ctx.open(rel) as f:
        for obj in objs:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    ctx.count(split, n)
    return n


def squad_json(rows: Iterable[dict], *, version: str = "1.1", impossible: bool = False) -> tuple[dict, int]:
    """SQuAD-format JSON from hub QA rows (``id``, ``title``, ``context``, ``question``, ``answers`` with ``text`` and
    ``answer_start`` lists): consecutive rows of the same title form an article, of the same context a paragraph (the
    hub keeps the release's order). With *impossible*, questions get ``is_impossible`` (SQuAD v2.0)."""
    data: list[dict] = []
    n = 0
    for row in rows:
        title = row.get("title") or ""
        if not data or data[-1]["title"] != title:
            data.append({"title": title, "paragraphs": []})
        paras = data[-1]["paragraphs"]
        if not paras or paras[-1]["context"] != row["context"]:
            paras.append({"context": row["context"], "qas": []})
        ans = row.get("answers") or {"text": [], "answer_start": []}
        answers = [{"text": t, "answer_start": int(s)} for t, s in zip(ans["text"], ans["answer_start"])]
        qa: dict[str, Any] = {"id": str(row["id"]), "question": row["question"], "answers": answers}
        if impossible:
            qa["is_impossible"] = not answers
        paras[-1]["qas"].append(qa)
        n += 1
    return {"version": version, "data": data}, n


def write_squad(ctx: Context, rel: str, rows: Iterable[dict], split: str, **kw) -> int:
    doc, n = squad_json(rows, **kw)
    ctx.write_json(rel, doc)
    ctx.count(split, n)
    return n


# --------------------------------------------------------------------------------------------------- tagging
def write_token_tag(ctx: Context, rel: str, sentences: Iterable[tuple[list[str], list[str]]], split: str, *,
                    prefix: str = "") -> int:
    """``token<TAB>tag`` lines, a blank line after each sentence (XTREME's preprocessed UD-POS / PAN-X layout);
    *prefix* (``"de:"``) gives WikiANN's raw ``lang:token`` form."""
    n = 0
    with ctx.open(rel) as f:
        for words, tags in sentences:
            if not words:
                continue
            for w, t in zip(words, tags):
                f.write(f"{prefix}{cell(w)}\t{cell(t)}\n")
            f.write("\n")
            n += 1
    ctx.count(split, n)
    return n


def tagged_rows(ds: Any, tag_column: str, names: list[str]) -> Iterable[tuple[list[str], list[str]]]:
    for row in ds:
        words = list(row.get("tokens") or row.get("words") or [])
        tags = [label_name(t, names) or "O" for t in row[tag_column]]
        yield words, tags


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def count_squad(path: Path) -> int:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return sum(len(p.get("qas", [])) for a in doc.get("data", []) for p in a.get("paragraphs", []))
