"""``xstilts download`` against fake sources: a fake ``datasets.load_dataset`` whose rows have each hub data set's
published schema (features as on its card), and a fake HTTPS fetch serving small files in each release's format.
Every task is written in its official layout, read back by the task's reader with the same rows, verified by its
manifest, and skipped on the second run."""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import datasets
import pytest
from typer.testing import CliRunner

from xstilts.cli import app
from xstilts.config import TaskSpec
from xstilts.download import _net, plan as _plan
from xstilts.download.run import download, resolve, units_for
from xstilts.download._core import Manifest
from xstilts.errors import ConfigError, XstiltsError
from xstilts.loading import load_examples
from xstilts.tasks import (belebele, bucc2018, cosmosqa, flores200, hellaswag, lareqa, mewslix, sib200, siqa, tatoeba,
                           tydiqa, xcopa, xnli)
from xstilts.tasks.udpos import UD27_URL

SHA = "0123456789abcdef0123456789abcdef01234567"
UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ",
        "SYM", "VERB", "X"]
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
NLI = ["entailment", "neutral", "contradiction"]


# ------------------------------------------------------------------------------------------------ fakes
class Split(list):
    """A hub split: its rows, and the data set's features (so ClassLabel names come from the schema)."""

    def __init__(self, rows, features=None):
        super().__init__(rows)
        self.features = features


def _seq(feature):
    return datasets.List(feature) if hasattr(datasets, "List") else datasets.Sequence(feature)


def feats(**kw) -> datasets.Features:
    return datasets.Features(kw)


S = datasets.Value("string")
I32 = datasets.Value("int32")
ANSWERS = {"text": _seq(S), "answer_start": _seq(I32)}


class Fakes:
    def __init__(self):
        self.hub: dict[tuple[str, str | None], dict[str, Split]] = {}
        self.urls: dict[str, bytes] = {}
        self.hub_calls: list[tuple] = []
        self.url_calls: list[str] = []
        self.revisions: list[tuple] = []

    def calls(self) -> int:
        return len(self.hub_calls) + len(self.url_calls) + len(self.revisions)


@pytest.fixture
def fakes(monkeypatch):
    f = Fakes()
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def hub_revision(path, revision):
        f.revisions.append((path, revision))
        return revision or SHA

    def load_dataset(path, name=None, split=None, revision=None, **kw):
        f.hub_calls.append((path, name, split, revision))
        if (path, name) not in f.hub:
            raise FileNotFoundError(f"Dataset {path} has no config {name}")
        dsd = f.hub[(path, name)]
        return dsd[split] if split else dict(dsd)

    def http_get(url, dest):
        f.url_calls.append(url)
        if url not in f.urls:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        data = f.urls[url]
        Path(dest).write_bytes(data)
        return {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(), "bytes": len(data),
                "etag": '"fake"'}

    monkeypatch.setattr(_net, "hub_revision", hub_revision)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(_net, "http_get", http_get)
    return f


def read(task: str, folder: Path, split: str, lang: str, **kw):
    return load_examples(TaskSpec(task=task, data_dir=folder, **kw), split, lang)


def twice(fakes: Fakes, targets, root: Path, **kw):
    """Download, check every manifest verifies, download again and check that nothing was fetched."""
    report = download(targets, to=root, **kw)
    for folder in {o.unit.folder for o in report.outcomes}:
        man = Manifest(folder)
        for key, entry in man.units.items():
            assert entry.get("unavailable") or man.problem(key) is None, (folder, key)
    before = fakes.calls()
    again = download(targets, to=root, **kw)
    assert fakes.calls() == before, "the second run fetched something"
    assert {o.status for o in again.outcomes} <= {"verified", "unavailable"}
    return report


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def qa_rows(prefix: str, n: int = 3, title: str = "Doc") -> list[dict]:
    rows = []
    for i in range(n):
        ctx = f"{title} paragraph {i // 2}: Anna went to Paris in {2000 + i // 2}."
        ans = "Paris" if i % 2 == 0 else "Anna"
        rows.append({"id": f"{prefix}{i}", "title": title, "context": ctx, "question": f"question {i}?",
                     "answers": {"text": [ans], "answer_start": [ctx.index(ans)]}})
    return rows


QA_FEATURES = feats(id=S, title=S, context=S, question=S, answers=ANSWERS)


def qa_tuples(examples) -> list[tuple]:
    return [(e.guid, e.question, e.context, e.answers, e.answer_starts) for e in examples]


def row_tuples(rows) -> list[tuple]:
    return [(r["id"], r["question"], r["context"], tuple(r["answers"]["text"]), tuple(r["answers"]["answer_start"]))
            for r in rows]


def squad_file(rows) -> bytes:
    from xstilts.download._formats import squad_json

    return json.dumps(squad_json(rows)[0]).encode()


# ------------------------------------------------------------------------------------------ sentence pairs
MNLI_FEATURES = feats(premise=S, hypothesis=S, label=datasets.ClassLabel(names=NLI), idx=I32)


def add_mnli(f: Fakes) -> dict:
    splits = {s: Split([{"premise": f"{s} premise {i}", "hypothesis": f"{s} hypo {i}", "label": i % 3, "idx": i}
                        for i in range(4)], MNLI_FEATURES)
              for s in ("train", "validation_matched", "validation_mismatched")}
    splits["test_matched"] = Split([{"premise": "p", "hypothesis": "h", "label": -1, "idx": 0}], MNLI_FEATURES)
    f.hub[("nyu-mll/glue", "mnli")] = splits
    return splits


def test_mnli_anli_qqp_written_read_back_and_skipped(fakes, tmp_path):
    mnli = add_mnli(fakes)
    anli_f = feats(uid=S, premise=S, hypothesis=S, label=datasets.ClassLabel(names=NLI), reason=S)
    fakes.hub[("facebook/anli", None)] = {
        f"{s}_r{r}": Split([{"uid": f"r{r}{s}{i}", "premise": f"ctx {r} {s} {i}", "hypothesis": f"h {i}",
                             "label": (i + r) % 3, "reason": ""} for i in range(2)], anli_f)
        for r in (1, 2, 3) for s in ("train", "dev", "test")}
    qqp_f = feats(question1=S, question2=S, label=datasets.ClassLabel(names=["not_duplicate", "duplicate"]), idx=I32)
    fakes.hub[("nyu-mll/glue", "qqp")] = {
        s: Split([{"question1": f"q1 {s} {i}", "question2": f"q2\t{i}", "label": i % 2, "idx": i} for i in range(3)],
                 qqp_f) for s in ("train", "validation")}
    report = twice(fakes, ["mnli", "anli", "qqp"], tmp_path)

    got = read("mnli", tmp_path / "multinli_1.0", "train", "en")
    assert [(e.guid, e.text_a, e.text_b, e.label) for e in got] == [
        (str(r["idx"]), r["premise"], r["hypothesis"], r["label"]) for r in mnli["train"]]
    assert len(read("mnli", tmp_path / "multinli_1.0", "dev", "en")) == 4
    anli = read("anli", tmp_path / "anli_v1.0", "test", "en")
    assert [(e.guid, e.text_a, e.label) for e in anli] == [
        (f"r{r}test{i}", f"ctx {r} test {i}", (i + r) % 3) for r in (1, 2, 3) for i in range(2)]
    assert len(read("anli-r2", tmp_path / "anli_v1.0", "train", "en")) == 2
    qqp = read("qqp", tmp_path / "QQP", "dev", "en")
    assert [(e.text_a, e.text_b, e.label) for e in qqp] == [(f"q1 validation {i}", f"q2 {i}", i % 2)
                                                             for i in range(3)]
    man = json.loads((tmp_path / "multinli_1.0" / "MANIFEST.json").read_text())
    unit = man["units"]["hub:nyu-mll/glue:mnli"]
    assert unit["sources"][0]["id"] == "nyu-mll/glue" and unit["sources"][0]["revision"] == SHA
    assert unit["splits"] == {"train": 4, "dev": 4, "dev_mismatched": 4}
    assert set(unit["files"]) == {"multinli_1.0_train.jsonl", "multinli_1.0_dev_matched.jsonl",
                                  "multinli_1.0_dev_mismatched.jsonl"}
    assert all(len(m["sha256"]) == 64 for m in unit["files"].values())
    assert {o.status for o in report.outcomes} == {"downloaded"}


def test_changed_file_is_downloaded_again(fakes, tmp_path):
    add_mnli(fakes)
    download(["mnli"], to=tmp_path)
    path = tmp_path / "multinli_1.0" / "multinli_1.0_dev_matched.jsonl"
    path.write_text(path.read_text() + "\n")
    assert Manifest(path.parent).problem("hub:nyu-mll/glue:mnli") == "multinli_1.0_dev_matched.jsonl has changed size"
    n = len(fakes.hub_calls)
    report = download(["mnli"], to=tmp_path)
    assert [o.status for o in report.outcomes] == ["downloaded"] and len(fakes.hub_calls) == n + 1
    assert Manifest(path.parent).problem("hub:nyu-mll/glue:mnli") is None


def test_xnli_dev_test_english_train_and_translate_train(fakes, tmp_path):
    mnli = add_mnli(fakes)
    rows = {s: [{"language": lang, "sentence1": f"{lang} {s} premise {i}", "sentence2": f"{lang} hypothesis {i}",
                 "gold_label": NLI[i % 3]} for lang in ("en", "de") for i in range(3)] for s in ("validation", "test")}
    fakes.hub[("google/xtreme", "XNLI")] = {s: Split(r, feats(language=S, sentence1=S, sentence2=S, gold_label=S))
                                            for s, r in rows.items()}
    tt = [("Premise %d" % i, "Hypo %d" % i, "Prämisse %d" % i, "Hypothese %d" % i, ["entailment", "contradictory"][i % 2])
          for i in range(4)]
    fakes.urls[xnli.TRANSLATE_TRAIN_URL.format(lang="de")] = "".join("\t".join(r) + "\n" for r in tt).encode()
    twice(fakes, ["xnli"], tmp_path, languages=["de"])

    folder = tmp_path / "xnli"
    got = read("xnli", folder, "test", "de")
    assert [(e.text_a, e.text_b, e.label) for e in got] == [
        (r["sentence1"], r["sentence2"], NLI.index(r["gold_label"])) for r in rows["test"] if r["language"] == "de"]
    assert len(read("xnli", folder, "dev", "en")) == 3
    train = read("xnli", folder, "train", "en")  # English MultiNLI, as XTREME trains XNLI
    assert [e.text_a for e in train] == [r["premise"] for r in mnli["train"]]
    path = folder / "translate-train" / "en-de-translated.tsv"
    assert path.read_bytes() == fakes.urls[xnli.TRANSLATE_TRAIN_URL.format(lang="de")]  # XTREME's file as it is
    if reads_translate_train("xnli"):
        de = get_reader("xnli")(folder, "train", "de")
        assert [(e.text_a, e.text_b, e.label) for e in de] == [(r[2], r[3], 0 if r[4] == "entailment" else 2)
                                                               for r in tt]
    man = json.loads((folder / "MANIFEST.json").read_text())
    assert man["units"]["hub:google/xtreme:XNLI"]["sources"][0]["revision"] == _plan.GOOGLE_XTREME_REVISION
    assert man["units"]["url:translate-train:de"]["sources"][0]["url"].startswith(_plan.XTREME_TRANSLATIONS)


def get_reader(task: str):
    from xstilts.tasks import get_task

    return get_task(task).read


def reads_translate_train(task: str) -> bool:
    """Whether the task's reader reads translate-train files (``Task.translate_train``, item 2 of the issue)."""
    from xstilts.tasks import get_task

    return bool(getattr(get_task(task), "translate_train", ()))


def test_pawsx_with_translated_train(fakes, tmp_path):
    pf = feats(id=I32, sentence1=S, sentence2=S, label=datasets.ClassLabel(names=["0", "1"]))
    for lang in ("en", "de"):
        fakes.hub[("google-research-datasets/paws-x", lang)] = {
            s: Split([{"id": i + 1, "sentence1": f"{lang} {s} a{i}", "sentence2": f"{lang} b{i}", "label": i % 2}
                      for i in range(3)] + [{"id": 9, "sentence1": "x", "sentence2": "y", "label": -1}], pf)
            for s in ("train", "validation", "test")}
    twice(fakes, ["pawsx"], tmp_path, languages=["de"])
    folder = tmp_path / "pawsx" / "x-final"
    for split, lang, hub in (("train", "en", "train"), ("test", "de", "test"), ("dev", "de", "validation"),
                             ("train", "de", "train")):
        got = read("pawsx", folder, split, lang)
        assert [(e.guid, e.text_a, e.label) for e in got] == [(str(i + 1), f"{lang} {hub} a{i}", i % 2)
                                                              for i in range(3)]
    assert (folder / "de" / "translated_train.tsv").is_file() and not (folder / "de" / "train.tsv").exists()
    notes = json.loads((folder / "MANIFEST.json").read_text())["units"][
        "hub:google-research-datasets/paws-x:de:translated_train"]["notes"]
    assert notes == ["de/translated_train.tsv: 1 rows without a 0/1 label left out"]


def test_sib200_hub_configs_in_the_release_layout(fakes, tmp_path):
    """SIB-200 from its hub copy (one config per variant; ``category`` a topic name, or a ClassLabel), written as the
    release's ``data/annotated/<lang>/{train,dev,test}.tsv`` and read back; English comes with any language."""
    labels = list(sib200.LABELS)
    rows, feats_of = {}, {"eng_Latn": feats(index_id=datasets.Value("int64"), category=S, text=S),
                          "deu_Latn": feats(index_id=datasets.Value("int64"),
                                            category=datasets.ClassLabel(names=labels), text=S)}
    for code, f in feats_of.items():
        named = code == "eng_Latn"
        rows[code] = {s: [{"index_id": 100 * k + i, "category": labels[(i + 2 * k) % 7] if named else (i + 2 * k) % 7,
                           "text": f'{code} {s} "quoted" {i}' if i == 0 else f"{code} {s} sentence {i}"}
                          for i in range(3)] for k, s in enumerate(("train", "validation", "test"))}
        fakes.hub[("Davlan/sib200", code)] = {s: Split(r, f) for s, r in rows[code].items()}
    fakes.hub[("Davlan/sib200", "deu_Latn")]["test"].append({"index_id": 999, "category": -1, "text": "no topic"})
    twice(fakes, ["sib200"], tmp_path, languages=["deu_Latn"])

    folder = tmp_path / "sib-200"
    for code in ("eng_Latn", "deu_Latn"):
        for split, hub in (("train", "train"), ("dev", "validation"), ("test", "test")):
            got = read("sib200", folder, split, code)
            want = [(str(r["index_id"]), r["text"], None,
                     labels.index(r["category"]) if isinstance(r["category"], str) else r["category"])
                    for r in rows[code][hub]]
            assert [(e.guid, e.text_a, e.text_b, e.label) for e in got] == want, (code, split)
    lines = (folder / "data" / "annotated" / "deu_Latn" / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["index_id\tcategory\ttext", f'200\t{labels[4]}\t"deu_Latn test ""quoted"" 0"']  # as the release
    assert {(c[0], c[1]) for c in fakes.hub_calls} == {("Davlan/sib200", "eng_Latn"), ("Davlan/sib200", "deu_Latn")}
    man = json.loads((folder / "MANIFEST.json").read_text())
    unit = man["units"]["hub:Davlan/sib200:deu_Latn"]
    assert unit["sources"][0]["id"] == "Davlan/sib200" and unit["sources"][0]["revision"] == SHA  # resolved when run
    assert fakes.revisions[0] == ("Davlan/sib200", None)  # no pin
    assert unit["splits"] == {"train": 3, "dev": 3, "test": 3}
    assert unit["notes"] == ["data/annotated/deu_Latn/test.tsv: 1 rows without one of the 7 topics left out"]
    assert set(man["units"]) == {"hub:Davlan/sib200:eng_Latn", "hub:Davlan/sib200:deu_Latn"}


# ------------------------------------------------------------------------------------------------ tagging
CONLLU_LT = ("# sent_id = 1\n1\tJonas\tJonas\tPROPN\t_\t_\t2\tnsubj\t_\t_\n2\tbėga\tbėgti\tVERB\t_\t_\t0\troot\t_\t_\n"
             "3\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_\n\n")


def test_udpos_hub_and_ud27(fakes, tmp_path):
    uf = feats(tokens=_seq(S), pos_tags=_seq(datasets.ClassLabel(names=UPOS)))
    sents = [(["Anna", "sieht", "Häuser", "."], ["PROPN", "VERB", "NOUN", "PUNCT"]), (["Ja"], ["INTJ"])]
    for lang, name in (("en", "English"), ("de", "German")):
        splits = ("train", "validation", "test") if lang == "en" else ("test",)  # configs may lack splits
        fakes.hub[("google/xtreme", f"udpos.{name}")] = {
            s: Split([{"tokens": w, "pos_tags": [UPOS.index(t) for t in tags]} for w, tags in sents], uf)
            for s in splits}
    fakes.urls[UD27_URL] = tar_bytes({
        "ud-treebanks-v2.7/UD_Lithuanian-ALKSNIS/lt_alksnis-ud-test.conllu": CONLLU_LT.encode(),
        "ud-treebanks-v2.7/UD_Lithuanian-ALKSNIS/lt_alksnis-ud-train.conllu": CONLLU_LT.encode(),
        "ud-treebanks-v2.7/UD_Latvian-LVTB/lv_lvtb-ud-test.conllu": CONLLU_LT.encode()})
    twice(fakes, ["udpos"], tmp_path, languages=["de", "lt"])
    folder = tmp_path / "udpos"
    for split, lang in (("train", "en"), ("test", "de")):
        assert [(e.words, e.tags) for e in read("udpos", folder, split, lang)] == [
            (tuple(w), tuple(t)) for w, t in sents]
    lt = read("udpos", folder, "test", "lt")
    assert [(e.words, e.tags) for e in lt] == [(("Jonas", "bėga", "."), ("PROPN", "VERB", "PUNCT"))]
    assert not list(folder.rglob("lv_*"))
    assert fakes.hub_calls[0][3] == _plan.GOOGLE_XTREME_REVISION  # the pin on the task's HFSource


def test_panx_google_xtreme_and_wikiann(fakes, tmp_path):
    nf = feats(tokens=_seq(S), ner_tags=_seq(datasets.ClassLabel(names=NER)), langs=_seq(S))
    sents = [(["Anna", "Berg", "lebt", "in", "Oslo"], ["B-PER", "I-PER", "O", "O", "B-LOC"]), (["UNESCO"], ["B-ORG"])]
    for path, cfg, lang in (("google/xtreme", "PAN-X.en", "en"), ("google/xtreme", "PAN-X.de", "de"),
                            ("unimelb-nlp/wikiann", "pl", "pl")):
        extra = {"spans": ["PER: Anna Berg"]} if path == "unimelb-nlp/wikiann" else {}
        fakes.hub[(path, cfg)] = {s: Split([{"tokens": w, "ner_tags": [NER.index(t) for t in tags],
                                             "langs": [lang] * len(w), **extra} for w, tags in sents], nf)
                                  for s in ("train", "validation", "test")}
    twice(fakes, ["panx"], tmp_path, languages=["de", "pl"])
    folder = tmp_path / "panx"
    for split, lang in (("train", "en"), ("dev", "de"), ("test", "pl")):
        assert [(e.words, e.tags) for e in read("panx", folder, split, lang)] == [
            (tuple(w), tuple(t)) for w, t in sents]
    man = json.loads((folder / "MANIFEST.json").read_text())
    assert man["units"]["hub:unimelb-nlp/wikiann:pl"]["sources"][0]["revision"] == SHA  # resolved, not pinned
    assert man["units"]["hub:unimelb-nlp/wikiann:pl"]["sources"][0]["pinned"] is False


# ---------------------------------------------------------------------------------------------------- QA
def add_squad(f: Fakes) -> dict:
    splits = {"train": Split(qa_rows("tr", 4, "Alpha") + qa_rows("tb", 2, "Beta"), QA_FEATURES),
              "validation": Split(qa_rows("dv", 3), QA_FEATURES)}
    f.hub[("rajpurkar/squad", None)] = splits
    return splits


def test_squad_xquad_mlqa_and_squad_translate_train(fakes, tmp_path):
    squad = add_squad(fakes)
    v2 = qa_rows("v2", 2) + [{"id": "imp", "title": "Doc", "context": "Nothing here.", "question": "Who?",
                              "answers": {"text": [], "answer_start": []}}]
    fakes.hub[("rajpurkar/squad_v2", None)] = {"train": Split(v2, QA_FEATURES), "validation": Split(v2, QA_FEATURES)}
    xq_f = feats(id=S, context=S, question=S, answers=ANSWERS)  # google/xquad has no title
    for lang in ("en", "de"):
        fakes.hub[("google/xquad", f"xquad.{lang}")] = {"validation": Split(
            [{k: v for k, v in r.items() if k != "title"} for r in qa_rows(f"xq{lang}")], xq_f)}
        fakes.hub[("google/xtreme", f"MLQA.{lang}.{lang}")] = {
            s: Split(qa_rows(f"ml{lang}{s}", 3, "Titel"), QA_FEATURES) for s in ("validation", "test")}
    tt_de = qa_rows("tt-de", 2, "Übersetzt")
    from xstilts.tasks import squad as squad_module

    fakes.urls[squad_module.TRANSLATE_TRAIN_URL.format(lang="de")] = squad_file(tt_de)
    twice(fakes, ["xquad", "mlqa", "squad2"], tmp_path, languages=["de"])

    assert qa_tuples(read("xquad", tmp_path / "xquad", "test", "de")) == row_tuples(
        fakes.hub[("google/xquad", "xquad.de")]["validation"])
    assert qa_tuples(read("xquad", tmp_path / "xquad", "train", "en")) == row_tuples(squad["train"])
    assert qa_tuples(read("mlqa", tmp_path / "mlqa", "dev", "de")) == row_tuples(
        fakes.hub[("google/xtreme", "MLQA.de.de")]["validation"])
    assert qa_tuples(read("mlqa", tmp_path / "mlqa", "train", "en")) == row_tuples(squad["train"])
    assert qa_tuples(read("squad", tmp_path / "squad", "dev", "en")) == row_tuples(squad["validation"])
    assert (tmp_path / "squad" / "translate-train" / "squad.translate.train.en-de.json").is_file()
    if reads_translate_train("mlqa"):
        assert qa_tuples(read("mlqa", tmp_path / "mlqa", "train", "de")) == row_tuples(tt_de)
    s2 = read("squad2", tmp_path / "squad", "train", "en")
    assert [e.is_impossible for e in s2] == [False, False, True]
    doc = json.loads((tmp_path / "squad" / "train-v1.1.json").read_text())
    assert [a["title"] for a in doc["data"]] == ["Alpha", "Beta"]
    assert [len(a["paragraphs"]) for a in doc["data"]] == [2, 1]  # consecutive questions on one context: a paragraph
    man = json.loads((tmp_path / "squad" / "MANIFEST.json").read_text())
    assert man["units"]["url:translate-train:de"]["splits"] == {"train": 2}


def test_tydiqa_per_language_files_and_translate_train(fakes, tmp_path):
    rows = {s: [dict(r, id=f"{name}-{r['id']}") for name in ("english", "swahili")
                for r in qa_rows(f"{s}{name[:2]}", 2)] for s in ("train", "validation")}
    fakes.hub[("google/xtreme", "tydiqa")] = {s: Split(r, QA_FEATURES) for s, r in rows.items()}
    tt = qa_rows("tt-sw", 2)
    fakes.urls[tydiqa.TRANSLATE_TRAIN_URL.format(lang="sw")] = squad_file(tt)
    twice(fakes, ["tydiqa"], tmp_path, languages=["sw", "ko"])  # ko: no translate-train file (404): optional
    folder = tmp_path / "tydiqa"
    assert qa_tuples(read("tydiqa", folder, "train", "en")) == row_tuples(rows["train"][:2])
    assert qa_tuples(read("tydiqa", folder, "test", "sw")) == row_tuples(rows["validation"][2:])
    assert (folder / "translate-train" / "tydiqa.translate.train.en-sw.json").is_file()
    if reads_translate_train("tydiqa"):
        assert qa_tuples(read("tydiqa", folder, "train", "sw")) == row_tuples(tt)
    report = download(["tydiqa"], to=tmp_path, languages=["ko"])
    assert [o.status for o in report.outcomes] == ["verified", "unavailable"]


# ---------------------------------------------------------------------------------------------- retrieval
def test_tatoeba_hub_and_laser(fakes, tmp_path):
    tf = feats(source_sentence=S, target_sentence=S, source_lang=S, target_lang=S)
    fakes.hub[("google/xtreme", "tatoeba.deu")] = {"validation": Split(
        [{"source_sentence": f"Satz {i}\n", "target_sentence": f"Sentence {i}\n", "source_lang": "deu",
          "target_lang": "eng"} for i in range(3)], tf)}
    fakes.urls[tatoeba.LASER_TATOEBA.format(l3="ukr", ext="ukr")] = "Речення 1\nРечення 2\n".encode()
    fakes.urls[tatoeba.LASER_TATOEBA.format(l3="ukr", ext="eng")] = b"Sentence 1\nSentence 2\n"
    twice(fakes, ["tatoeba-xtreme-r"], tmp_path, languages=["de", "uk"])
    folder = tmp_path / "tatoeba"
    de = read("tatoeba", folder, "test", "de")
    assert (de.src, de.tgt) == ([f"Satz {i}" for i in range(3)], [f"Sentence {i}" for i in range(3)])
    uk = read("tatoeba-xtreme-r", folder, "test", "uk")
    assert (uk.src, uk.tgt) == (["Речення 1", "Речення 2"], ["Sentence 1", "Sentence 2"])


def test_bucc2018_release_archives(fakes, tmp_path):
    for part in ("sample", "training"):
        files = {f"bucc2018/de-en/de-en.{part}.de": b"de-000001\tEin Satz\nde-000002\tNoch einer\n",
                 f"bucc2018/de-en/de-en.{part}.en": b"en-000001\tA sentence\nen-000002\tAnother\nen-000003\tMore\n",
                 f"bucc2018/de-en/de-en.{part}.gold": b"de-000001\ten-000001\n"}
        fakes.urls[bucc2018.BUCC_URL.format(lang="de", part=part)] = tar_bytes(files, "w:bz2")
    twice(fakes, ["bucc2018"], tmp_path, languages=["de"])
    for split in ("dev", "test"):
        d = read("bucc2018", tmp_path / "bucc2018", split, "de")
        assert d.src == ["Ein Satz", "Noch einer"] and d.gold == [("de-000001", "en-000001")] and len(d.tgt) == 3
    assert bz2  # the archives are tar.bz2 as on comparable.limsi.fr


def test_lareqa_and_mewslix(fakes, tmp_path, monkeypatch):
    def xquad_r(lang):
        first = f"First {lang} sentence."
        ctx = first + " Second one."
        cut = len(first) + 1
        return {"data": [{"paragraphs": [{"context": ctx, "sentence_breaks": [[0, len(first)], [cut, len(ctx)]],
                                           "qas": [{"id": "q1", "question": f"{lang}?",
                                                    "answers": [{"text": "Second", "answer_start": cut}]}]}]}]}

    for lang in ("ar", "de", "en"):
        fakes.urls[lareqa.LAREQA_URL.format(lang=lang)] = json.dumps(xquad_r(lang)).encode()
    names = ("candidate_set_entities.jsonl", "wikipedia_pairs-train.jsonl", "wikipedia_pairs-dev.jsonl",
             "wikinews_mentions_no_text-dev.jsonl", "wikinews_mentions_no_text-test.jsonl")
    archive = zip_bytes({n: jsonl([{"entity_id": "Q1"}]) for n in names} | {"en/docs.tsv": b"docid\n"})
    fakes.urls[mewslix.MEWSLIX_URL] = archive
    monkeypatch.setattr(mewslix, "MEWSLIX_MD5", hashlib.md5(archive).hexdigest())
    report = twice(fakes, ["lareqa", "mewslix"], tmp_path, languages=["ar", "de", "en"])
    la = read("lareqa", tmp_path / "lareqa", "test", "de")
    assert [(q.id, q.text, q.answer) for q in la.questions] == [("q1", "de?", "Second one.")]
    assert sorted(p.name for p in (tmp_path / "mewslix").iterdir()) == sorted(names + ("MANIFEST.json",))
    assert "get-mewsli-x.sh" in report.manual["mewslix"]


def test_mewslix_md5_mismatch_is_an_error(fakes, tmp_path):
    fakes.urls[mewslix.MEWSLIX_URL] = zip_bytes({"x": b"y"})
    with pytest.raises(XstiltsError, match="md5"):
        download(["mewslix"], to=tmp_path)


def test_flores200_release_archive(fakes, tmp_path):
    lines = {code: [f"{code} sentence {i}." for i in range(n)] for code, n in (("eng_Latn", 3), ("deu_Latn", 3),
                                                                               ("zho_Hans", 3))}
    files = {f"flores200_dataset/{split}/{code}.{split}": "".join(s + "\n" for s in rows).encode()
             for split in ("dev", "devtest") for code, rows in lines.items()}
    files["flores200_dataset/metadata_dev.tsv"] = b"URL\tdomain\n"
    fakes.urls[flores200.RELEASE_URL] = tar_bytes(files)
    twice(fakes, ["flores200"], tmp_path, languages=["deu_Latn"])
    folder = tmp_path / "flores200"
    for split in ("dev", "devtest"):
        d = read("flores200", folder, split, "deu_Latn")
        assert (d.src, d.tgt) == (lines["deu_Latn"], lines["eng_Latn"])
    assert read("flores200", folder, "test", "zho_Hans").src == lines["zho_Hans"]  # the whole release is written
    man = json.loads((folder / "MANIFEST.json").read_text())
    assert man["units"]["url:flores200_dataset"]["splits"] == {"dev": 3, "devtest": 3}
    assert not (folder / "flores200_dataset" / "metadata_dev.tsv").exists()


def test_flores200_archive_without_english_is_an_error(fakes, tmp_path):
    fakes.urls[flores200.RELEASE_URL] = tar_bytes({"flores200_dataset/dev/deu_Latn.dev": b"Satz.\n"})
    with pytest.raises(XstiltsError, match="eng_Latn"):
        download(["flores200"], to=tmp_path)


# --------------------------------------------------------------------------------------- multiple choice
def copa_rows(lang: str, n: int = 2) -> list[dict]:
    return [{"premise": f"{lang} premise {i}", "choice1": f"{lang} c1 {i}", "choice2": f"{lang} c2 {i}",
             "question": ["cause", "effect"][i % 2], "label": i % 2, "idx": i, "changed": False} for i in range(n)]


def test_xcopa_copa_and_siqa(fakes, tmp_path):
    for name in ("val", "test"):
        fakes.urls[xcopa.XCOPA_URL.format(lang="et", name=name)] = jsonl(copa_rows("et"))
    fakes.urls[xcopa.COPA_URL] = zip_bytes({f"COPA/{n}.jsonl": jsonl(copa_rows(f"en-{n}", 3))
                                               for n in ("train", "val", "test")})
    siqa_rows = [{"context": f"Ctx {i}", "question": f"Q {i}?", "answerA": "a", "answerB": "b", "answerC": "c",
                  "correct": "ABC"[i % 3]} for i in range(3)]
    fakes.urls[siqa.SIQA_URL] = tar_bytes({f"socialIQa_v1.4_{s}.jsonl": jsonl(siqa_rows)
                                           for s in ("trn", "dev", "tst")})
    twice(fakes, ["xcopa"], tmp_path, languages=["et"])
    folder = tmp_path / "xcopa"
    et = read("xcopa", folder, "test", "et")
    assert [(e.context, e.choices, e.label) for e in et] == [
        (r["premise"], (r["choice1"], r["choice2"]), r["label"]) for r in copa_rows("et")]
    train = read("xcopa", folder, "train", "en")  # SIQa (../siqa) and the English COPA training set
    assert [e.context for e in train] == [r["context"] for r in siqa_rows] + [f"en-train premise {i}" for i in range(3)]
    assert [e.label for e in train[:3]] == [0, 1, 2]
    assert len(read("siqa", tmp_path / "siqa", "dev", "en")) == 3


def test_hellaswag_cosmosqa_commonsenseqa(fakes, tmp_path):
    hs = [{"ind": i, "activity_label": "x", "ctx_a": f"A{i}", "ctx_b": "then", "ctx": f"A{i} then",
           "endings": ["e1", "e2", "e3", "e4"], "split": "train", "split_type": "indomain", "label": i % 4,
           "source_id": "s"} for i in range(3)]
    for name in ("train", "val", "test"):
        fakes.urls[hellaswag.HELLASWAG_URL.format(name=name)] = jsonl(hs)
    add_cosmosqa(fakes)
    cf = feats(id=S, question=S, question_concept=S, choices={"label": _seq(S), "text": _seq(S)}, answerKey=S)
    csqa = [{"id": f"c{i}", "question": f"What {i}?", "question_concept": "thing",
             "choices": {"label": list("ABCDE"), "text": [f"t{k}" for k in range(5)]}, "answerKey": "ABCDE"[i]}
            for i in range(3)]
    fakes.hub[("tau/commonsense_qa", None)] = {
        "train": Split(csqa, cf), "validation": Split(csqa, cf),
        "test": Split([dict(csqa[0], answerKey="")], cf)}
    twice(fakes, ["hellaswag", "cosmosqa", "commonsenseqa"], tmp_path)
    h = read("hellaswag", tmp_path / "hellaswag", "dev", "en")
    assert [(e.context, e.choices[0], e.label) for e in h] == [(f"A{i}", "then e1", i % 4) for i in range(3)]
    c = read("cosmosqa", tmp_path / "cosmosqa", "train", "en")
    assert [(e.context, e.label) for e in c] == [("A, b", 2), ("Line\nbreak", 0)]
    q = read("commonsenseqa", tmp_path / "commonsenseqa", "dev", "en")
    assert [(e.guid, e.question, e.label) for e in q] == [(f"c{i}", f"What {i}?", i) for i in range(3)]
    assert read("commonsenseqa", tmp_path / "commonsenseqa", "test", "en")[0].label == -1
    man = json.loads((tmp_path / "cosmosqa" / "MANIFEST.json").read_text())
    assert man["units"]["url:cosmosqa"]["splits"] == {"train": 2, "dev": 2, "test": 1}


def add_cosmosqa(f: Fakes) -> str:
    csv_text = ('id,context,question,answer0,answer1,answer2,answer3,label\n'
                '1,"A, b",Why?,a0,a1,a2,a3,2\n2,"Line\nbreak",How?,b0,b1,b2,b3,0\n')
    for name in ("train.csv", "valid.csv"):
        f.urls[cosmosqa.COSMOSQA_URL.format(name=name)] = csv_text.encode()
    f.urls[cosmosqa.COSMOSQA_URL.format(name="test.jsonl")] = jsonl(
        [{"id": "t", "context": "c", "question": "q", "answer0": "a", "answer1": "b", "answer2": "c", "answer3": "d"}])
    return csv_text


BELEBELE_FEATURES = feats(link=S, question_number=datasets.Value("int64"), flores_passage=S, question=S,
                          mc_answer1=S, mc_answer2=S, mc_answer3=S, mc_answer4=S, correct_answer_num=S, dialect=S,
                          ds=datasets.Value("timestamp[s]"))


def belebele_rows(code: str, n: int = 3) -> list[dict]:
    import datetime

    return [{"link": f"https://en.wikibooks.org/wiki/Page_{i // 2}", "question_number": i % 2 + 1,
             "flores_passage": f"{code} passage {i}. Zweiter Satz.", "question": f"{code} question {i}?",
             **{f"mc_answer{k}": f"{code} answer {i}.{k}" for k in range(1, 5)},
             "correct_answer_num": str(i % 4 + 1), "dialect": code, "ds": datetime.datetime(2023, 5, 3)}
            for i in range(n)]


def test_belebele_hub_configs_in_the_release_layout_with_cosmosqa(fakes, tmp_path):
    rows = {code: belebele_rows(code) for code in ("deu_Latn", "swh_Latn")}
    for code, r in rows.items():
        fakes.hub[(belebele.HF_PATH, code)] = {"test": Split(r, BELEBELE_FEATURES)}
    add_cosmosqa(fakes)
    report = twice(fakes, ["belebele"], tmp_path, languages=["deu_Latn", "swh_Latn"])
    assert [(o.unit.task, o.unit.key) for o in report.outcomes] == [
        ("belebele", "hub:facebook/belebele:deu_Latn"), ("belebele", "hub:facebook/belebele:swh_Latn"),
        ("cosmosqa", "url:cosmosqa")]
    # unpinned: the default branch's commit is resolved, loaded and recorded
    assert fakes.revisions and all(path == belebele.HF_PATH and pin is None for path, pin in fakes.revisions)
    assert {call[3] for call in fakes.hub_calls} == {SHA}
    folder = tmp_path / "belebele"
    for code, r in rows.items():
        got = read("belebele", folder, "test", code)
        assert [(e.guid, e.context, e.question, e.choices, e.label) for e in got] == [
            (f"{x['link']}#{x['question_number']}", x["flores_passage"], x["question"],
             tuple(x[f"mc_answer{k}"] for k in range(1, 5)), int(x["correct_answer_num"]) - 1) for x in r]
    # the release's line: its fields in its order, ds as the release writes the date
    line = json.loads((folder / "deu_Latn.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert list(line) == list(belebele.RELEASE_KEYS) and line["ds"] == "2023-05-03" and line["question_number"] == 1
    assert belebele.belebele_languages(folder) == ["deu_Latn", "swh_Latn"]
    # English training (and dev) data: Cosmos QA, downloaded beside it
    assert [(e.context, e.label) for e in read("belebele", folder, "train", "eng_Latn")] == [("A, b", 2),
                                                                                          ("Line\nbreak", 0)]
    man = json.loads((folder / "MANIFEST.json").read_text())
    unit = man["units"]["hub:facebook/belebele:deu_Latn"]
    assert unit["splits"] == {"test": 3} and unit["sources"][0]["revision"] == SHA
    assert unit["sources"][0]["pinned"] is False


# ------------------------------------------------------------------------------------------- planning, CLI
def test_groups_cover_every_task_with_their_languages(tmp_path):
    got = dict(resolve(["xtreme", "xtreme-r", "intermediate"]))
    assert set(got) >= {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba",
                        "tatoeba-xtreme-r", "xcopa", "lareqa", "mewslix", "anli", "mnli", "qqp", "squad", "squad2",
                        "hellaswag", "cosmosqa", "commonsenseqa", "ccg"}
    assert {"lt", "pl", "uk", "wo", "ro"} <= set(got["udpos"]) and len(got["udpos"]) == 38
    assert len(got["panx"]) == 48 and "ro" in got["xquad"] and len(got["tatoeba-xtreme-r"]) == 41
    assert dict(resolve(["xtreme"]))["udpos"] == list(get_task_languages("udpos"))
    units = units_for(["xtreme", "xtreme-r", "intermediate"], tmp_path)
    keys = [(u.folder, u.key) for u in units]
    assert len(keys) == len(set(keys))
    tt = {u.folder.name for u in units if "translate-train" in u.key or "translated_train" in u.key}
    assert tt == {"xnli", "x-final", "squad", "tydiqa"}
    assert not units_for(["xnli"], tmp_path, translate_train=False)[-1].key.startswith("url:translate-train")
    assert resolve(["panx"], ["de"]) == [("panx", ["en", "de"])]  # English training data always comes along
    with pytest.raises(ConfigError, match="no such language"):
        resolve(["xnli"], ["xx"])
    with pytest.raises(ConfigError, match="unknown task"):
        resolve(["xnlii"])
    with pytest.raises(ConfigError, match="has no download"):
        resolve(["tatoeba-udhr"])


def get_task_languages(name):
    from xstilts.tasks import get_task

    return get_task(name).languages


def test_cli_help_and_ccg_instructions(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["download", "--help"])
    assert res.exit_code == 0 and "--languages" in res.output and "--to" in res.output
    res = runner.invoke(app, ["download", "ccg", "--to", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "LDC2005T13" in res.output and str(tmp_path / "ccg") in res.output


def test_cli_offline_one_line_exit_2(tmp_path, monkeypatch):
    # conftest sets HF_DATASETS_OFFLINE=1: nothing is fetched, the first source is named
    res = CliRunner().invoke(app, ["download", "xnli", "--to", str(tmp_path)])
    assert res.exit_code == 2, (res.output, res.exception)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Hugging Face hub (google/xtreme, XNLI)")


def test_cli_unreachable_sources_one_line_exit_2(fakes, tmp_path, monkeypatch):
    def refuse(path, revision):
        raise ConnectionError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_net, "hub_revision", refuse)
    res = CliRunner().invoke(app, ["download", "mnli", "--to", str(tmp_path)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, (res.output, res.exception)
    assert "cannot reach the Hugging Face hub (nyu-mll/glue, mnli)" in res.output

    def no_route(url, dest):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(_net, "http_get", no_route)
    res = CliRunner().invoke(app, ["download", "hellaswag", "--to", str(tmp_path)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, (res.output, res.exception)
    assert f"cannot reach {hellaswag.HELLASWAG_URL.format(name='train')}" in res.output
    assert not list((tmp_path / "hellaswag").glob("*.jsonl"))


def test_cli_downloads_and_reports(fakes, tmp_path):
    add_squad(fakes)
    res = CliRunner().invoke(app, ["download", "squad", "--to", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "downloaded" in res.output and f"rajpurkar/squad@{SHA[:10]}" in res.output and "train=6" in res.output
    res = CliRunner().invoke(app, ["download", "squad", "--to", str(tmp_path)])
    assert "verified" in res.output and "downloaded" not in res.output
