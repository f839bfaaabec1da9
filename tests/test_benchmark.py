"""XTREME / XTREME-R scores from per-task metrics (hand-computed), missing tasks and languages, and the export of
predictions into the layout of XTREME's evaluate.py."""

import json

import pytest

from xstilts.xtreme.benchmark import (XTREME_LANGUAGES, XTREME_R_LANGUAGES, collect_tasks, export_submission,
                               format_markdown, xtreme_r_score, xtreme_score)
from xstilts.errors import XstiltsError


def metrics(task, langs, value=None, metric=None, **per_lang):
    """A phase's metrics.json: every language gets *value* (a dict of metric values) unless given in per_lang."""
    metric = metric or next(iter(value))
    languages = {lang: dict(per_lang.get(lang, value), n=10) for lang in langs}
    return {"task": task, "metric": metric, "languages": languages,
            "average": sum(v[metric] for v in languages.values()) / len(languages)}


def xtreme_tasks():
    L = XTREME_LANGUAGES
    return {
        "xnli": metrics("xnli", L["xnli"], {"accuracy": 70.0}, en={"accuracy": 85.0}),  # (14*70 + 85)/15 = 71
        "pawsx": metrics("pawsx", L["pawsx"], {"accuracy": 80.0}),
        "udpos": metrics("udpos", L["udpos"], {"f1": 60.0}),
        "panx": metrics("panx", L["panx"], {"f1": 50.0}),
        "xquad": metrics("xquad", L["xquad"], {"exact_match": 50.0, "f1": 70.0}, metric="f1"),  # 60
        "mlqa": metrics("mlqa", L["mlqa"], {"exact_match": 40.0, "f1": 60.0}, metric="f1"),  # 50
        "tydiqa": metrics("tydiqa", L["tydiqa"], {"exact_match": 30.0, "f1": 50.0}, metric="f1"),  # 40
        "bucc2018": metrics("bucc2018", L["bucc2018"], {"f1": 0.0}, de={"f1": 80.0}, fr={"f1": 70.0},
                            ru={"f1": 60.0}, zh={"f1": 50.0}),  # 65
        "tatoeba": metrics("tatoeba", L["tatoeba"], {"accuracy@1": 40.0}),
    }


def test_xtreme_score_hand_computed():
    s = xtreme_score(xtreme_tasks())
    t = {k: v["score"] for k, v in s["tasks"].items()}
    assert t == pytest.approx({"xnli": 71.0, "pawsx": 80.0, "udpos": 60.0, "panx": 50.0, "xquad": 60.0, "mlqa": 50.0,
                               "tydiqa": 40.0, "bucc2018": 65.0, "tatoeba": 40.0})
    assert s["tasks"]["xquad"]["exact_match"] == pytest.approx(50.0) and s["tasks"]["xquad"]["f1"] == pytest.approx(70)
    cats = {k: v["score"] for k, v in s["categories"].items()}
    assert cats == pytest.approx({"classification": 75.5, "structured prediction": 55.0, "question answering": 50.0,
                                  "retrieval": 52.5})
    # XTREME's score is the mean of the nine task scores (evaluate.py's all_task), not of the categories
    assert s["overall"] == pytest.approx(516 / 9) and s["overall_over"] == "tasks"
    assert s["complete"] and s["missing"] == []
    md = format_markdown(s)
    assert "**XTREME: 57.33**" in md and "| question answering | xquad | (exact_match + f1) / 2 | 60.00 | 11/11 |" in md


def test_qa_is_mean_of_em_and_f1_averages():
    tasks = xtreme_tasks()
    tasks["xquad"] = metrics("xquad", XTREME_LANGUAGES["xquad"], {"exact_match": 50.0, "f1": 70.0}, metric="f1",
                             en={"exact_match": 61.0, "f1": 83.0})
    s = xtreme_score(tasks)["tasks"]["xquad"]
    em, f1 = (61 + 10 * 50) / 11, (83 + 10 * 70) / 11
    assert s["exact_match"] == pytest.approx(em) and s["f1"] == pytest.approx(f1)
    assert s["score"] == pytest.approx((em + f1) / 2)
    assert s["languages"]["en"] == pytest.approx(72.0)


def test_missing_tasks_and_languages_are_reported():
    tasks = xtreme_tasks()
    del tasks["bucc2018"], tasks["mlqa"]
    s = xtreme_score(tasks)
    assert s["missing"] == ["bucc2018", "mlqa"] and s["overall"] is None and not s["complete"]
    assert s["categories"]["classification"]["score"] == pytest.approx(75.5)
    assert s["categories"]["retrieval"]["score"] is None and s["categories"]["retrieval"]["missing"] == ["bucc2018"]
    assert s["categories"]["question answering"]["missing"] == ["mlqa"]
    assert "xnli" in s["tasks"] and "mlqa" not in s["tasks"]
    assert "missing task(s): bucc2018, mlqa" in format_markdown(s)

    tasks = xtreme_tasks()
    tasks["xnli"] = metrics("xnli", ["en", "de", "xx"], {"accuracy": 70.0}, en={"accuracy": 90.0})
    s = xtreme_score(tasks)
    x = s["tasks"]["xnli"]
    assert x["score"] == pytest.approx(80.0) and x["n_languages"] == 2 and x["of_languages"] == 15  # xx ignored
    assert not x["complete"] and "ar" in x["missing_languages"] and "de" not in x["missing_languages"]
    assert s["overall"] is not None and not s["complete"]
    assert "incomplete" in format_markdown(s) and "| classification | xnli | accuracy | 80.00 * | 2/15 |" in \
        format_markdown(s)


def test_labels_map_to_task_names_and_duplicates_are_refused():
    tasks = xtreme_tasks()
    tasks["my-xnli"] = tasks.pop("xnli")
    assert xtreme_score(tasks)["tasks"]["xnli"]["score"] == pytest.approx(71.0)
    assert xtreme_score({"tasks": tasks})["overall"] == pytest.approx(516 / 9)  # run.json itself
    tasks["xnli-again"] = tasks["my-xnli"]
    with pytest.raises(XstiltsError, match="appears twice"):
        xtreme_score(tasks)


def xtreme_r_tasks():
    L = XTREME_R_LANGUAGES
    return {
        "xnli": xtreme_tasks()["xnli"],  # 71
        "xcopa": metrics("xcopa", L["xcopa"], {"accuracy": 60.0}),
        "udpos": metrics("udpos", L["udpos"], {"f1": 70.0}),
        "panx": metrics("panx", L["panx"], {"f1": 60.0}),
        "xquad": metrics("xquad", L["xquad"], {"exact_match": 50.0, "f1": 70.0}, metric="f1"),  # 60
        "mlqa": metrics("mlqa", L["mlqa"], {"exact_match": 40.0, "f1": 60.0}, metric="f1"),  # 50
        "tydiqa": metrics("tydiqa", L["tydiqa"], {"exact_match": 30.0, "f1": 50.0}, metric="f1"),  # 40
        "tatoeba-xtreme-r": metrics("tatoeba-xtreme-r", L["tatoeba"], {"accuracy@1": 50.0}),
        "mewslix": metrics("mewslix", L["mewslix"], {"map@20": 30.0}),
        "lareqa": metrics("lareqa", L["lareqa"], {"map@20": 20.0}),
    }


def test_xtreme_r_score_hand_computed():
    s = xtreme_r_score(xtreme_r_tasks())
    cats = {k: v["score"] for k, v in s["categories"].items()}
    assert cats == pytest.approx({"classification": 65.5, "structured prediction": 65.0, "question answering": 50.0,
                                  "retrieval": 100 / 3})
    # XTREME-R's score is the mean of the four category scores
    assert s["overall"] == pytest.approx((65.5 + 65 + 50 + 100 / 3) / 4) and s["overall_over"] == "categories"
    assert s["task_average"] == pytest.approx((71 + 60 + 70 + 60 + 60 + 50 + 40 + 50 + 30 + 20) / 10)
    assert s["complete"] and s["tasks"]["tatoeba"]["source"] == "tatoeba-xtreme-r"
    assert len(XTREME_R_LANGUAGES["tatoeba"]) == 41 and "ro" in XTREME_R_LANGUAGES["xquad"]
    assert "pawsx" not in s["tasks"] and "bucc2018" not in XTREME_R_LANGUAGES
    assert f"**XTREME-R: {s['overall']:.2f}**" in format_markdown(s)


def test_tatoeba_sources_per_benchmark():
    tasks = xtreme_r_tasks()
    tasks["tatoeba"] = metrics("tatoeba", XTREME_LANGUAGES["tatoeba"], {"accuracy@1": 44.0})
    del tasks["tatoeba-xtreme-r"]
    s = xtreme_r_score(tasks)["tasks"]["tatoeba"]
    assert s["source"] == "tatoeba" and sorted(s["missing_languages"]) == ["az", "lt", "pl", "ro", "uk"]
    x = xtreme_score({**xtreme_tasks(), "tatoeba": xtreme_r_tasks()["tatoeba-xtreme-r"]})["tasks"]["tatoeba"]
    assert x["complete"] and x["n_languages"] == 36 and x["score"] == pytest.approx(50.0)


# ------------------------------------------------------------------------------------------------- submission
def _phase(root, name, task, files, test=True):
    phase = root / "phases" / name
    for fname, content in files.items():
        p = phase / "predictions" / task / fname
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    (phase / "metrics.json").write_text(json.dumps({"task": task, "languages": {}} if test else {"phase": "x"}))
    return phase


def test_export_submission_layout(tmp_path):
    root = tmp_path / "out"
    inter = _phase(root, "intermediate-mnli", "mnli", {"dev-en.tsv": "0\n"}, test=False)
    xnli = _phase(root, "target-xnli", "xnli", {"test-en.tsv": "entailment\n", "test-de.tsv": "neutral\n"})
    xquad = _phase(root, "target-xquad", "xquad", {"test-en.json": "{}\n"})
    tat = _phase(root, "eval-tatoeba", "tatoeba", {"test-de.tsv": "1\n"})
    tat_r = _phase(root, "eval-tatoeba-r", "tatoeba-xtreme-r", {"test-de.tsv": "2\n", "test-pl.tsv": "3\n"})
    mx = _phase(root, "eval-mewslix", "mewslix", {"test-en.json": "{}\n"})
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"phases": [
        {"phase": "intermediate", "dir": str(inter)}, {"phase": "target", "task": "xnli", "dir": str(xnli)},
        {"phase": "target", "task": "xquad", "dir": str(xquad)},
        {"phase": "target", "task": "tatoeba", "dir": str(tat)},
        {"phase": "target", "task": "tatoeba-xtreme-r", "dir": str(tat_r)},
        {"phase": "target", "task": "mewslix", "dir": str(mx)}], "tasks": {}}))

    out = tmp_path / "submission"
    man = export_submission(run, out)
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert got == ["tatoeba/test-de.tsv", "tatoeba/test-pl.tsv", "xnli/test-de.tsv", "xnli/test-en.tsv",
                   "xquad/test-en.json"]
    assert (out / "tatoeba" / "test-de.tsv").read_text() == "1\n"  # XTREME prefers its own Tatoeba run
    assert "mewslix" in man["skipped"] and "mnli" in man["skipped"]
    assert "bucc2018" in man["missing_tasks"] and "ar" in man["missing_languages"]["xnli"]

    out_r = tmp_path / "submission-r"
    man_r = export_submission([run], out_r, benchmark="xtreme-r")
    assert (out_r / "tatoeba" / "test-de.tsv").read_text() == "2\n"  # XTREME-R prefers tatoeba-xtreme-r
    assert (out_r / "mewslix" / "test-en.json").is_file() and not (out_r / "pawsx").exists()
    assert "xcopa" in man_r["missing_tasks"]

    # a phase folder works on its own; two different predictions for the same file are refused
    assert export_submission(xnli, tmp_path / "one")["files"] == {"xnli": ["test-de.tsv", "test-en.tsv"]}
    other = _phase(tmp_path / "other", "target-xnli", "xnli", {"test-en.tsv": "contradiction\n"})
    with pytest.raises(XstiltsError, match="different predictions"):
        export_submission([xnli, other], tmp_path / "two")
    with pytest.raises(XstiltsError, match="neither a run folder"):
        export_submission(tmp_path, tmp_path / "three")


def test_collect_tasks_from_run_and_phase_folders(tmp_path):
    tasks = xtreme_tasks()
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"phases": [], "tasks": {k: v for k, v in tasks.items() if k != "xnli"}}))
    phase = tmp_path / "phase"
    phase.mkdir()
    (phase / "metrics.json").write_text(json.dumps({**tasks["xnli"], "label": "xnli"}))
    got = collect_tasks([run, phase])
    assert set(got) == set(tasks)
    assert xtreme_score(got)["overall"] == pytest.approx(516 / 9)


def test_tasks_command_shows_both_benchmarks_language_counts():
    """`xstilts tasks --json`: XTREME's languages per task, and XTREME-R's (UD-POS 38, PAN-X 48, XQuAD 12, ...)."""
    import json

    from typer.testing import CliRunner

    from xstilts.cli import app

    r = CliRunner().invoke(app, ["tasks", "--json"])
    assert r.exit_code == 0, r.output
    rows = {t["name"]: t for t in json.loads(r.stdout)}
    xtreme = {"xnli": 15, "pawsx": 7, "udpos": 33, "panx": 40, "xquad": 11, "mlqa": 7, "tydiqa": 9, "bucc2018": 4,
              "tatoeba": 36}
    xtreme_r = {"xnli": 15, "xcopa": 11, "udpos": 38, "panx": 48, "xquad": 12, "mlqa": 7, "tydiqa": 9,
                "tatoeba-xtreme-r": 41, "mewslix": 11, "lareqa": 11}
    assert {t: len(rows[t]["languages"]) for t in xtreme} == xtreme
    assert {t: len(rows[t]["xtreme_r_languages"]) for t in xtreme_r} == xtreme_r
    assert rows["tatoeba"]["xtreme_r_languages"] is None and rows["pawsx"]["xtreme_r_languages"] is None
