"""English paraphrase and English-Spanish parallel data from public-domain Bibles.

Follows ``shared/tools/build_bible_data.py`` (same outputs, same seed 13):
the Debian packages ``sword-text-kjv`` (KJV), ``sword-text-web`` (World
English Bible) and ``sword-text-sparv`` (Reina-Valera 1909) are fetched with
``apt-get download``, unpacked with ``dpkg -x`` into a temporary folder and
read with ``pysword``; OSIS markup is stripped (footnotes and section headings
dropped, psalm titles kept).

* ``paraphrase_kjv_web/{train,dev,test}.tsv`` (header ``id sentence1
  sentence2 label``): KJV verse vs the same WEB verse (1) or the WEB verse of
  the same chapter with the highest content-word overlap (0); balanced, split
  by book, ``{split}.refs.tsv`` gives the verse references.
* ``paraphrase_kjv_web_hard/``: subset balanced in every (word-Jaccard x
  length-ratio) cell, so shallow overlap features are at chance.
* ``tatoeba_spa_eng/tatoeba.spa-eng.{spa,eng,refs}`` (RV1909 vs WEB) and a
  seeded 1000-pair sample in ``tatoeba_spa_eng_1k/``.
* ``manifest.json``, ``LICENSE.txt`` and the packages' ``copyright/`` files.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import html
import json
import math
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ._util import MissingTool, ProvisionError, atomic_dir, require, run, sha256_file

PACKAGES = {"sword-text-kjv": "engKJV2006eb", "sword-text-web": "engWEB2015eb", "sword-text-sparv": "spaRV1909eb"}
LICENSES = {
    "sword-text-kjv": "Public domain (King James Version, 1769 standard text; outside the UK, where printing is "
                      "governed by Crown letters patent, it is public domain). Debian packaging: GPL-2+.",
    "sword-text-web": "Public domain (World English Bible; 'World English Bible' is a trademark of eBible.org: "
                      "modified text must not be called the WEB). Debian packaging: GPL-2+.",
    "sword-text-sparv": "Public domain (Reina-Valera 1909, 'Dominio Publico'). Debian packaging: GPL-2+.",
}
PARAMS = {"seed": 13, "dev_frac": 0.1, "test_frac": 0.1, "es_english": "web", "sample": 1000, "max_len_ratio": 1.2}
KJV, WEB, SPA = PACKAGES.values()

_NOTE = re.compile(r"<note\b[^>]*>.*?</note>|<note\b[^>]*/>", re.S)
_CTITLE = re.compile(r"<title\b[^>]*\bcanonical=\"true\"[^>]*>(.*?)</title>", re.S)
_TITLE = re.compile(r"<title\b[^>]*>.*?</title>|<title\b[^>]*/>", re.S)
_BLOCK = re.compile(r"</?(?:l|lg|p|div|lb|milestone|list|item|br|chapter)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
STOP = set("""a an the and or but nor for so yet of to in on at by with from into unto upon out up down over under
as than that this these those which who whom whose what when where while there here then thus is are was were be
been being am art hath have has had having do does did doth shall shalt will wilt would should may might must can
could not no i me my mine we us our ours you your yours ye thee thou thy thine he him his she her hers it its they
them their theirs all any every each also even if because about after before against among through""".split())


def clean_osis(text: str) -> str:
    """Return the plain text of one OSIS verse."""
    t = _NOTE.sub(" ", text)
    t = _CTITLE.sub(lambda m: m.group(1) + " ", t)
    t = _BLOCK.sub(" ", _TITLE.sub(" ", t))
    t = html.unescape(_TAG.sub("", t)).replace("\u00b6", " ")
    t = re.sub(r"\s+", " ", t).strip()
    return re.sub(r"\s+([,.;:!?)\]\u201d\u2019\u00bb])", r"\1", t)  # footnote markers before punctuation


def toks(s: str) -> list[str]:
    """Return the lower-cased words of *s*."""
    return _WORD.findall(s.lower().replace("\u2019", "'"))


def jacc(a: set, b: set) -> float:
    """Return the Jaccard similarity of two sets (0 for two empty sets)."""
    return len(a & b) / len(a | b) if a or b else 0.0


def normkey(s: str) -> str:
    return " ".join(toks(s))


def ref_str(r: tuple) -> str:
    return f"{r[0]}.{r[1]}.{r[2]}"


def length_ok(a: str, b: str, lo: float = 0.5, hi: float = 2.0) -> bool:
    return bool(a) and bool(b) and lo <= len(a) / len(b) <= hi


def _apt_download(pkg: str, debs: Path) -> Path:
    """Return the .deb of *pkg* downloaded into *debs*; refreshes the package
    lists once when apt cannot find it and we are root."""
    try:
        run(["apt-get", "download", pkg], cwd=debs)
    except ProvisionError as err:
        if not any(m in str(err).lower() for m in ("unable to locate", "no installation candidate")):
            raise
        if os.geteuid() != 0:
            raise MissingTool(f"apt cannot find `{pkg}` (package lists missing); run: sudo apt-get update") from err
        run(["apt-get", "update"])
        run(["apt-get", "download", pkg], cwd=debs)
    return sorted(debs.glob(f"{pkg}_*.deb"))[-1]


def fetch_and_read(work: Path, log: Callable[[str], None]) -> tuple[dict, dict, dict, list]:
    """Download, unpack and read the three modules. Returns (package info,
    {module: {(book, chapter, verse): text}}, module .conf fields, KJV book
    order). Raises MissingTool (apt-get/dpkg/pysword) or ProvisionError."""
    for tool in ("apt-get", "dpkg", "dpkg-deb"):
        require(tool, "a Debian/Ubuntu system (apt and dpkg)", why="to fetch the sword-text-* Bible packages")
    try:
        from pysword.modules import SwordModules
    except ImportError as err:
        raise MissingTool("Python package `pysword` not found (needed to read the SWORD Bibles); "
                          "install it with: pip install 'xstilts[provision]'") from err
    root, debs = work / "unpacked", work / "debs"
    debs.mkdir()
    info = {}
    for pkg, module in PACKAGES.items():
        log(f"bible: apt-get download {pkg}")
        deb = _apt_download(pkg, debs)
        run(["dpkg", "-x", str(deb), str(root)])
        meta = dict(line.split(": ", 1) for line in
                    run(["dpkg-deb", "-f", str(deb), "Version", "Homepage"]).strip().splitlines())
        info[pkg] = {"deb": deb.name, "version": meta.get("Version"), "homepage": meta.get("Homepage"),
                     "sha256": sha256_file(deb), "module": module, "license": LICENSES[pkg]}
    mods = SwordModules(str(root / "usr" / "share" / "sword"))
    found = mods.parse_modules()
    texts, confs, kjv_books = {}, {}, []
    for key in PACKAGES.values():
        bible = mods.get_bible_from_module(key)
        # pysword decompresses a whole book block for every verse; cache it
        bible._decompressed_text = functools.lru_cache(maxsize=4)(bible._decompressed_text)
        confs[key] = {k: found[key].get(k) for k in ("description", "version", "versification", "lang",
                                                     "distributionlicense", "swordversiondate")}
        books, verses = bible.get_structure().get_books(), {}
        for testament in ("ot", "nt"):
            for bk in books.get(testament, []):
                if key == KJV:
                    kjv_books.append(bk.osis_name)
                for ch, n in enumerate(bk.chapter_lengths, 1):
                    raw = list(bible.get_iter(books=[bk.name], chapters=[ch], clean=False))
                    if len(raw) != n:
                        raise ProvisionError(f"{key} {bk.name} {ch}: {len(raw)} verses, expected {n}")
                    for v, t in enumerate(raw, 1):
                        verses[(bk.osis_name, ch, v)] = clean_osis(t)
        texts[key] = verses
    return info, texts, confs, kjv_books


def split_books(books: list, eligible_by_book: dict, seed: int, frac_dev: float, frac_test: float) -> dict:
    """Return {book: split}: seeded book order, test then dev filled to their share of verses."""
    names = [b for b in books if eligible_by_book.get(b)]
    total = sum(eligible_by_book[b] for b in names)
    random.Random(f"{seed}:books").shuffle(names)
    split, n_test, n_dev = {}, 0, 0
    for b in names:
        if n_test < frac_test * total:
            split[b], n_test = "test", n_test + eligible_by_book[b]
        elif n_dev < frac_dev * total:
            split[b], n_dev = "dev", n_dev + eligible_by_book[b]
        else:
            split[b] = "train"
    return split


def build_paraphrase(kjv: dict, web: dict, books: list, seed: int, frac_dev: float, frac_test: float,
                     max_len_ratio: float) -> tuple[dict, dict, dict]:
    """Return ({variant: {split: [(kjv ref, web ref, label)]}}, split_of_book, feature functions)."""
    eligible = [r for r in kjv if length_ok(web.get(r, ""), kjv[r])]  # canonical order
    by_chapter = collections.defaultdict(list)
    for r in eligible:
        by_chapter[r[:2]].append(r)
    split_of = split_books(books, collections.Counter(r[0] for r in eligible), seed, frac_dev, frac_test)
    cw, aw = {}, {}  # content words, all words
    for r in eligible:
        for name, text in (("k", kjv[r]), ("w", web[r])):
            aw[(name, r)] = set(t := toks(text))
            cw[(name, r)] = {w for w in t if w not in STOP}
    nk, nw = {r: normkey(kjv[r]) for r in eligible}, {r: normkey(web[r]) for r in eligible}

    def hard_negative(v):
        best, best_score = None, None
        for u in by_chapter[v[:2]]:
            if u == v or nk[u] == nk[v] or nw[u] == nw[v] or jacc(aw[("w", u)], aw[("w", v)]) >= 0.9:
                continue  # identical or near-identical refrains would be paraphrases
            if abs(math.log(len(web[u]) / len(web[v]))) > math.log(max_len_ratio):
                continue  # similar length, so that length does not tell the label
            score = (jacc(cw[("k", v)], cw[("w", u)]), jacc(aw[("k", v)], aw[("w", u)]), -abs(u[2] - v[2]), -u[2])
            if best_score is None or score > best_score:
                best, best_score = u, score
        return best

    feats = {"word_jaccard_all_words": lambda v, u: jacc(aw[("k", v)], aw[("w", u)]),
             "word_jaccard_content_words": lambda v, u: jacc(cw[("k", v)], cw[("w", u)]),
             "length_ratio": lambda v, u: -abs(math.log(len(kjv[v]) / len(web[u])))}
    overlap = feats["word_jaccard_all_words"]
    variants = {"paraphrase_kjv_web": {}, "paraphrase_kjv_web_hard": {}}
    for split in ("train", "dev", "test"):
        rng = random.Random(f"{seed}:pairs:{split}")
        order = [r for r in eligible if split_of.get(r[0]) == split]
        neg_of = {v: hard_negative(v) for v in order}
        # (a) all verses: half positives, half hard negatives
        rng.shuffle(order)
        half = len(order) // 2
        pos = order[:half]
        negs = [(v, neg_of[v]) for v in order[half:] if neg_of[v] is not None]
        pos, negs = pos[:len(negs)], negs[:len(pos)]
        rows = [(v, v, 1) for v in pos] + [(v, u, 0) for v, u in negs]
        rng.shuffle(rows)
        variants["paraphrase_kjv_web"][split] = rows

        # (b) as many positives as negatives in every (word-Jaccard, length-ratio) bin
        def binof(v, u):
            lr = abs(math.log(len(kjv[v]) / len(web[u])))
            return min(19, int(overlap(v, u) * 20)), min(4, int(lr * 10))
        neg_bins, pos_bins = collections.defaultdict(list), collections.defaultdict(list)
        for v in order:
            pos_bins[binof(v, v)].append(v)
            if neg_of[v] is not None:
                neg_bins[binof(v, neg_of[v])].append(v)
        # reserve the scarce side of every bin (most unbalanced first), then fill the other side
        used, take = set(), {}
        bins = sorted(set(neg_bins) | set(pos_bins), key=lambda b: (
            min(len(neg_bins[b]), len(pos_bins[b])) / max(1, len(neg_bins[b]), len(pos_bins[b])), b))
        for b in bins:
            scarce = "neg" if len(neg_bins[b]) <= len(pos_bins[b]) else "pos"
            take[b] = (scarce, [v for v in (neg_bins[b] if scarce == "neg" else pos_bins[b]) if v not in used])
            used.update(take[b][1])
        rows = []
        for b in bins:
            scarce, picked = take[b]
            other = []
            for v in (pos_bins[b] if scarce == "neg" else neg_bins[b]):
                if len(other) >= len(picked):
                    break
                if v not in used:
                    other.append(v)
                    used.add(v)
            picked = picked[:len(other)]
            negs_b, poss_b = (picked, other) if scarce == "neg" else (other, picked)
            rows += [(v, neg_of[v], 0) for v in negs_b] + [(v, v, 1) for v in poss_b]
        rng.shuffle(rows)
        variants["paraphrase_kjv_web_hard"][split] = rows
    return variants, split_of, feats


def threshold_baseline(splits: dict, feat: Callable) -> dict:
    """Return the test accuracy of 'label = feat >= t' with t fitted on train."""
    tr = sorted((feat(v, u), lab) for v, u, lab in splits["train"])
    if not tr:
        return {}
    n_pos_above, n_neg_below = sum(lab for _, lab in tr), 0
    best_t, best_acc = tr[0][0], n_pos_above / len(tr)
    for i, (x, lab) in enumerate(tr):  # threshold just above tr[i]
        n_pos_above -= lab == 1
        n_neg_below += lab != 1
        if i + 1 < len(tr) and tr[i + 1][0] == x:
            continue
        if (acc := (n_pos_above + n_neg_below) / len(tr)) > best_acc:
            best_acc, best_t = acc, tr[i + 1][0] if i + 1 < len(tr) else x + 1e-9
    te = [(feat(v, u), lab) for v, u, lab in splits["test"]]
    return {"threshold": round(best_t, 3), "train_acc": round(best_acc, 4),
            "test_acc": round(sum((x >= best_t) == bool(lab) for x, lab in te) / max(1, len(te)), 4)}


def write_paraphrase(out: Path, variants: dict, kjv: dict, web: dict, books: list, feats: dict) -> dict:
    """Write the paraphrase TSVs under *out*; return their statistics. Raises
    ProvisionError if a verse occurs in two splits."""
    stats, offset = {}, {"train": 0, "dev": 1_000_000, "test": 2_000_000}
    for name, splits in variants.items():
        (out / name).mkdir()
        seen, st = {}, {}
        for split, rows in splits.items():
            lines, refs = ["id\tsentence1\tsentence2\tlabel\n"], ["id\tref_kjv\tref_web\n"]
            for i, (v, u, label) in enumerate(rows):
                lines.append(f"{offset[split] + i}\t{kjv[v]}\t{web[u]}\t{label}\n")
                refs.append(f"{offset[split] + i}\t{ref_str(v)}\t{ref_str(u)}\n")
                for r in (v, u):
                    if seen.setdefault(r, split) != split:
                        raise ProvisionError(f"verse {ref_str(r)} occurs in {seen[r]} and {split}")
            (out / name / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
            (out / name / f"{split}.refs.tsv").write_text("".join(refs), encoding="utf-8")
            jp = [feats["word_jaccard_all_words"](v, u) for v, u, lab in rows if lab == 1]
            jn = [feats["word_jaccard_all_words"](v, u) for v, u, lab in rows if lab == 0]
            st[split] = {"pairs": len(rows), "positives": len(jp), "negatives": len(jn),
                         "books": sorted({v[0] for v, _, _ in rows}, key=books.index),
                         "mean_word_jaccard_pos": round(sum(jp) / max(1, len(jp)), 3),
                         "mean_word_jaccard_neg": round(sum(jn) / max(1, len(jn)), 3)}
        st["shallow_baselines"] = {k: threshold_baseline(splits, f) for k, f in feats.items()}
        stats[name] = st
    return stats


def build_parallel(eng: dict, kjv: dict, spa: dict, out: Path, seed: int, sample: int) -> dict:
    """Write tatoeba_spa_eng/ and tatoeba_spa_eng_1k/ under *out*; return statistics."""
    chapters = collections.defaultdict(list)
    for r in kjv:
        chapters[r[:2]].append(r)
    dropped_empty, dropped_shift = [], []
    for ch, refs in chapters.items():
        if any(not spa.get(r) for r in refs):
            dropped_empty.append(ch)
        elif len(refs) >= 4:  # Hebrew-numbered chapters fit better shifted by one verse
            e, k = [len(spa[r]) for r in refs], [max(1, len(kjv[r])) for r in refs]

            def cost(off):
                xs = [abs(math.log(e[i] / k[i + off])) for i in range(len(refs)) if 0 <= i + off < len(refs)]
                return sum(xs) / len(xs)
            if min(cost(-1), cost(1)) < 0.8 * cost(0):
                dropped_shift.append(ch)
    bad = set(dropped_empty) | set(dropped_shift)
    pairs, seen_e, seen_s, n_ratio, n_dup = [], set(), set(), 0, 0
    for r in kjv:
        if r[:2] in bad:
            continue
        s, e = spa.get(r, ""), eng.get(r, "")
        if not (length_ok(s, e) and length_ok(s, kjv[r])):
            n_ratio += 1
        elif (ke := normkey(e)) in seen_e or (ks := s.casefold()) in seen_s:
            n_dup += 1
        else:
            seen_e.add(ke)
            seen_s.add(ks)
            pairs.append((r, e, s))
    sub = sorted(random.Random(f"{seed}:tatoeba1k").sample(range(len(pairs)), min(sample, len(pairs))))
    for name, rows in (("tatoeba_spa_eng", pairs), ("tatoeba_spa_eng_1k", [pairs[i] for i in sub])):
        (out / name).mkdir()
        for ext, col in (("spa", lambda p: p[2]), ("eng", lambda p: p[1]), ("refs", lambda p: ref_str(p[0]))):
            (out / name / f"tatoeba.spa-eng.{ext}").write_text("".join(col(p) + "\n" for p in rows), encoding="utf-8")
    return {"pairs": len(pairs), "sample_pairs": len(sub),
            "chapters_dropped_empty_spanish_verse": [f"{b}.{c}" for b, c in dropped_empty],
            "chapters_dropped_versification_shift": [f"{b}.{c}" for b, c in dropped_shift],
            "verses_dropped_length_ratio": n_ratio, "verses_dropped_duplicate": n_dup}


def build(out: Path, log: Callable[[str], None]) -> str:
    """Build the data sets at *out* (atomically) and return a one-line summary.
    Raises MissingTool (apt-get, dpkg, pysword, package lists) or ProvisionError."""
    from importlib.metadata import version
    t0, timings, p = time.time(), {}, PARAMS
    with tempfile.TemporaryDirectory(prefix="xstilts-bible-") as work, atomic_dir(out) as tmp:
        info, texts, confs, books = fetch_and_read(Path(work), log)
        for pkg in PACKAGES:
            (tmp / "copyright").mkdir(exist_ok=True)
            shutil.copyfile(Path(work) / "unpacked/usr/share/doc" / pkg / "copyright", tmp / "copyright" / pkg)
        timings["download_read_s"] = round(time.time() - t0, 2)
        kjv, web, spa = texts[KJV], texts[WEB], texts[SPA]
        t = time.time()
        variants, split_of, feats = build_paraphrase(kjv, web, books, p["seed"], p["dev_frac"], p["test_frac"],
                                                     p["max_len_ratio"])
        para = write_paraphrase(tmp, variants, kjv, web, books, feats)
        timings["paraphrase_s"] = round(time.time() - t, 2)
        t = time.time()
        par = build_parallel(web if p["es_english"] == "web" else kjv, kjv, spa, tmp, p["seed"], p["sample"])
        timings["parallel_s"] = round(time.time() - t, 2)
        timings["total_s"] = round(time.time() - t0, 2)
        files = {}
        tatoeba = [tmp / d / f"tatoeba.spa-eng.{e}" for d in ("tatoeba_spa_eng", "tatoeba_spa_eng_1k")
                   for e in ("spa", "eng", "refs")]
        for f in sorted(tmp.glob("paraphrase_kjv_web*/*.tsv")) + tatoeba:
            files[f.relative_to(tmp).as_posix()] = {"bytes": f.stat().st_size,
                                                    "sha1": hashlib.sha1(f.read_bytes()).hexdigest()}
        manifest = {
            "builder": "xstilts.provision.bible (port of shared/tools/build_bible_data.py)",
            "parameters": dict(out=str(out), **p), "sources": info, "sword_modules": confs,
            "reader": "pysword " + version("pysword"),
            "paraphrase_format": "TSV with header id, sentence1 (KJV), sentence2 (WEB), label (1 = same verse, "
                                 "0 = other verse of the same chapter with the highest content-word overlap)",
            "paraphrase_kjv_web": para["paraphrase_kjv_web"],
            "paraphrase_kjv_web_hard": dict(para["paraphrase_kjv_web_hard"], note=(
                "subset with as many positives as negatives in every (word-Jaccard bin of width 0.05) x "
                "(|log length ratio| bin of width 0.1) cell")),
            "split_of_book": split_of,
            "tatoeba_spa_eng": dict(par, english=p["es_english"].upper(), spanish="RV1909"),
            "files": files, "timings": timings, "licenses": LICENSES,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        (tmp / "LICENSE.txt").write_text(
            "Generated from public-domain Bible texts (Debian packages):\n\n"
            + "".join(f"- {k} {info[k]['version']} ({m}): {LICENSES[k]}\n" for k, m in PACKAGES.items())
            + "\nSee copyright/<package> (the /usr/share/doc/<package>/copyright file of each .deb).\n",
            encoding="utf-8")
    n = {k: sum(para[k][s]["pairs"] for s in ("train", "dev", "test")) for k in para}
    return f"paraphrase {n['paraphrase_kjv_web']} pairs (hard {n['paraphrase_kjv_web_hard']}), spa-eng {par['pairs']}"


def is_complete(out: Path) -> bool:
    """Return True when *out* holds a finished build with the current parameters
    (writes are atomic, so a matching manifest means complete)."""
    try:
        m = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return {k: m.get("parameters", {}).get(k) for k in PARAMS} == PARAMS and all(
        (Path(out) / f).is_file() for f in m.get("files", {}))
