"""Language codes: ISO 639 as XTREME uses them.

XTREME reports every task with ISO 639-1 codes (``de``, ``zh``...). Tatoeba files are named with the 3-letter codes
of the LASER/Tatoeba release (``deu``, ``cmn``, ``swh``, ``pes``...); :data:`TATOEBA_LANG3` maps between them (from
XTREME's ``utils_preprocess.py``, extended with XTREME-R's five additions and the three XTREME languages that only
UDHR data covers here: ``ms``/``zsm``, ``my``/``mya``, ``yo``/``yor``). A language without an ISO 639-1 code
keeps its ISO 639-3 code.
"""

from __future__ import annotations

#: The 40 languages of XTREME (Hu et al. 2020, Table 5).
XTREME_LANGUAGES = (
    "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te th tl tr ur "
    "vi yo zh"
).split()

TATOEBA_LANG3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "en": "eng", "es": "spa",
    "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun",
    "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal",
    "mr": "mar", "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha",
    "tl": "tgl", "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
    # XTREME-R additions
    "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr", "ro": "ron",
    # XTREME languages outside the XTREME Tatoeba set
    "ms": "zsm", "my": "mya", "yo": "yor",
}
LANG3_TO_ISO = {v: k for k, v in TATOEBA_LANG3.items()}


def to_lang3(code: str) -> str:
    """Tatoeba file code of an XTREME language code (``zh`` -> ``cmn``); other codes are returned unchanged."""
    return TATOEBA_LANG3.get(code, code)


def from_lang3(code: str) -> str:
    """XTREME language code of a Tatoeba file code (``cmn`` -> ``zh``); codes without one are returned unchanged."""
    return LANG3_TO_ISO.get(code, code)
