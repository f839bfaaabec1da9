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


# ------------------------------------------------------------------------------------ FLORES-200 language codes
#: XTREME / XTREME-R codes of the FLORES-200 language variants (``<ISO 639-3>_<ISO 15924 script>``, the codes of
#: FLORES-200, SIB-200 and Belebele). The rule: a variant maps to the ISO 639-1 code XTREME uses for its language
#: when it is that language in its usual script; an individual language of a macrolanguage maps to the
#: macrolanguage's code where XTREME uses it (``arb`` -> ``ar``, ``pes`` -> ``fa``, ``swh`` -> ``sw``, ``zsm`` ->
#: ``ms``, ``azj`` -> ``az``, ``quy`` -> ``qu``), and ``zho_Hans`` to ``zh``. Other variants (romanised Hindi,
#: traditional Chinese, languages outside XTREME) keep their FLORES-200 code.
FLORES_TO_XTREME = {
    "afr_Latn": "af", "arb_Arab": "ar", "bul_Cyrl": "bg", "ben_Beng": "bn", "deu_Latn": "de", "ell_Grek": "el",
    "eng_Latn": "en", "spa_Latn": "es", "est_Latn": "et", "eus_Latn": "eu", "pes_Arab": "fa", "fin_Latn": "fi",
    "fra_Latn": "fr", "heb_Hebr": "he", "hin_Deva": "hi", "hun_Latn": "hu", "ind_Latn": "id", "ita_Latn": "it",
    "jpn_Jpan": "ja", "jav_Latn": "jv", "kat_Geor": "ka", "kaz_Cyrl": "kk", "kor_Hang": "ko", "mal_Mlym": "ml",
    "mar_Deva": "mr", "zsm_Latn": "ms", "mya_Mymr": "my", "nld_Latn": "nl", "por_Latn": "pt", "rus_Cyrl": "ru",
    "swh_Latn": "sw", "tam_Taml": "ta", "tel_Telu": "te", "tha_Thai": "th", "tgl_Latn": "tl", "tur_Latn": "tr",
    "urd_Arab": "ur", "vie_Latn": "vi", "yor_Latn": "yo", "zho_Hans": "zh",
    # XTREME-R's additions and XCOPA's languages
    "azj_Latn": "az", "lit_Latn": "lt", "pol_Latn": "pl", "ukr_Cyrl": "uk", "ron_Latn": "ro", "quy_Latn": "qu",
    "pan_Guru": "pa", "guj_Gujr": "gu", "wol_Latn": "wo", "hat_Latn": "ht",
}
XTREME_TO_FLORES = {v: k for k, v in FLORES_TO_XTREME.items()}


def flores_code(code: str) -> str:
    """The FLORES-200 code of *code*: an XTREME code is mapped (``de`` -> ``deu_Latn``), others are unchanged."""
    return XTREME_TO_FLORES.get(code, code)


def xtreme_code(code: str) -> str:
    """The XTREME code of a FLORES-200 code (``deu_Latn`` -> ``de``); variants without one are unchanged."""
    return FLORES_TO_XTREME.get(code, code)


#: The 204 language variants of FLORES-200 (NLLB Team 2022): the 202 codes of NLLB-200's tokenizer (transformers'
#: ``FAIRSEQ_LANGUAGE_CODES``) and ``arb_Latn``, ``min_Arab``, which FLORES-200 has and NLLB-200 does not model.
FLORES_200_VARIANTS = tuple("""
ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn als_Latn amh_Ethi apc_Arab arb_Arab
arb_Latn ars_Arab ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn bak_Cyrl bam_Latn
ban_Latn bel_Cyrl bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn bug_Latn bul_Cyrl cat_Latn
ceb_Latn ces_Latn cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn dik_Latn dyu_Latn dzo_Tibt ell_Grek
eng_Latn epo_Latn est_Latn eus_Latn ewe_Latn fao_Latn fij_Latn fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn
gaz_Latn gla_Latn gle_Latn glg_Latn grn_Latn guj_Gujr hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn
hun_Latn hye_Armn ibo_Latn ilo_Latn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn
kan_Knda kas_Arab kas_Deva kat_Geor kaz_Cyrl kbp_Latn kea_Latn khk_Cyrl khm_Khmr kik_Latn kin_Latn kir_Cyrl
kmb_Latn kmr_Latn knc_Arab knc_Latn kon_Latn kor_Hang lao_Laoo lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn
ltg_Latn ltz_Latn lua_Latn lug_Latn luo_Latn lus_Latn lvs_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Arab
min_Latn mkd_Cyrl mlt_Latn mni_Beng mos_Latn mri_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nso_Latn
nus_Latn nya_Latn oci_Latn ory_Orya pag_Latn pan_Guru pap_Latn pbt_Arab pes_Arab plt_Latn pol_Latn por_Latn
prs_Arab quy_Latn ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Beng scn_Latn shn_Mymr sin_Sinh slk_Latn
slv_Latn smo_Latn sna_Latn snd_Arab som_Latn sot_Latn spa_Latn srd_Latn srp_Cyrl ssw_Latn sun_Latn swe_Latn
swh_Latn szl_Latn tam_Taml taq_Latn taq_Tfng tat_Cyrl tel_Telu tgk_Cyrl tgl_Latn tha_Thai tir_Ethi tpi_Latn
tsn_Latn tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn
vec_Latn vie_Latn war_Latn wol_Latn xho_Latn ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zsm_Latn zul_Latn
""".split())
