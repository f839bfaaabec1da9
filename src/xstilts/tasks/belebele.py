"""Belebele: multiple-choice reading comprehension on FLORES-200 passages, 122 language variants (Bandarkar et al.
2024). Evaluation only: the model is trained on an English multiple-choice reading-comprehension set (Cosmos QA).

Everything about the task is in this module: the reader, the hub source, the languages, the example data, the download
plan and the registration.

* Official layout (the release's ``Belebele.zip``): ``<lang_script>.jsonl``, one question per line with ``link``,
  ``question_number``, ``flores_passage``, ``question``, ``mc_answer1`` .. ``mc_answer4`` and
  ``correct_answer_num`` (``"1"`` .. ``"4"``); also read from a ``Belebele/`` folder below ``data_dir``. A choice
  sequence is the passage and question (first segment) and one answer (second), as the family does for Cosmos QA.
* Training data: Belebele has none (900 questions per language, all test). As in the paper's cross-lingual
  fine-tuning setting, the English training set is a multiple-choice reading-comprehension set: here Cosmos QA
  (Huang et al. 2019; passage, question, 4 answers), read from the folder ``cosmosqa`` beside (or inside) the
  Belebele folder in its official layout (as XCOPA reads ``siqa`` beside it). ``dev`` in English is Cosmos QA's
  validation set (for model selection); in the other languages only ``test`` exists.
* Languages: the data set's codes (``deu_Latn``); an XTREME code given to the reader is mapped by
  :func:`xstilts.languages.flores_code`.
* Hub copy: ``facebook/belebele``, one config per language variant (``eng_Latn``), split ``test``, with the release's
  fields (``ds`` a timestamp). ``xstilts download`` writes each variant's config as the release's
  ``<lang_script>.jsonl`` (the date of ``ds`` as the release writes it), and Cosmos QA beside it (``../cosmosqa``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataFormatError, MissingDataError
from ..languages import flores_code, xtreme_code
from . import TARGET, Download, ExampleData, HFSource, Task, register
from .base import iter_jsonl, need_str, require_file, short, xstilts_protocol
from .cosmosqa import NAME as COSMOSQA, plan_download as plan_cosmosqa, read_cosmosqa
from .families.multiple_choice import MCExample

NAME = "belebele"
HF_PATH = "facebook/belebele"
#: The 122 language variants (FLORES-200 codes; five romanised variants FLORES-200 does not have).
LANGUAGES = tuple("""
acm_Arab afr_Latn als_Latn amh_Ethi apc_Arab arb_Arab arb_Latn ars_Arab ary_Arab arz_Arab asm_Beng azj_Latn bam_Latn
ben_Beng ben_Latn bod_Tibt bul_Cyrl cat_Latn ceb_Latn ces_Latn ckb_Arab dan_Latn deu_Latn ell_Grek eng_Latn est_Latn
eus_Latn fin_Latn fra_Latn fuv_Latn gaz_Latn grn_Latn guj_Gujr hat_Latn hau_Latn heb_Hebr hin_Deva hin_Latn hrv_Latn
hun_Latn hye_Armn ibo_Latn ilo_Latn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kac_Latn kan_Knda kat_Geor kaz_Cyrl
kea_Latn khk_Cyrl khm_Khmr kin_Latn kir_Cyrl kor_Hang lao_Laoo lin_Latn lit_Latn lug_Latn luo_Latn lvs_Latn mal_Mlym
mar_Deva mkd_Cyrl mlt_Latn mri_Latn mya_Mymr nld_Latn nob_Latn npi_Deva npi_Latn nso_Latn nya_Latn ory_Orya pan_Guru
pbt_Arab pes_Arab plt_Latn pol_Latn por_Latn ron_Latn rus_Cyrl shn_Mymr sin_Latn sin_Sinh slk_Latn slv_Latn sna_Latn
snd_Arab som_Latn sot_Latn spa_Latn srp_Cyrl ssw_Latn sun_Latn swe_Latn swh_Latn tam_Taml tel_Telu tgk_Cyrl tgl_Latn
tha_Thai tir_Ethi tsn_Latn tso_Latn tur_Latn ukr_Cyrl urd_Arab urd_Latn uzn_Latn vie_Latn war_Latn wol_Latn xho_Latn
yor_Latn zho_Hans zho_Hant zsm_Latn zul_Latn
""".split())
_KEYS = ("link", "question_number", "flores_passage", "question", "mc_answer1", "mc_answer2", "mc_answer3",
         "mc_answer4", "correct_answer_num")
#: The fields of a release line, in the release's order: the ones the reader reads, then ``dialect`` and ``ds``.
RELEASE_KEYS = _KEYS + ("dialect", "ds")


def _cosmosqa_dir(data_dir: Path) -> Path:
    tried = [data_dir / COSMOSQA, data_dir.parent / COSMOSQA]
    for d in tried:
        if (d / "train.csv").is_file() or (d / "train.jsonl").is_file():
            return d
    raise MissingDataError(f"{tried[0]}: Cosmos QA not found for belebele's English training and dev data (looked "
                           f"for train.csv or train.jsonl in {', '.join(str(d) for d in tried)})")


def read_belebele_file(path: Path) -> list[MCExample]:
    """One language's ``<lang_script>.jsonl`` of the release."""
    out = []
    for line, obj in iter_jsonl(require_file(path, "a Belebele <lang_script>.jsonl file"), _KEYS):
        answer = obj["correct_answer_num"]
        if isinstance(answer, bool) or str(answer).strip() not in ("1", "2", "3", "4"):
            raise DataFormatError(path, line, f"correct_answer_num {short(answer)}: expected 1, 2, 3 or 4")
        choices = tuple(need_str(obj, f"mc_answer{k}", path, line) for k in range(1, 5))
        out.append(MCExample(f"{obj['link']}#{obj['question_number']}", need_str(obj, "flores_passage", path, line),
                             need_str(obj, "question", path, line), choices, int(str(answer).strip()) - 1))
    return out


def read_belebele(data_dir: Path, split: str, language: str) -> list[MCExample]:
    """Belebele ``test`` in *language*; ``train`` / English ``dev``: Cosmos QA's train / validation set."""
    code = flores_code(language)
    if split == "train" or (split == "dev" and code == "eng_Latn"):
        return read_cosmosqa(_cosmosqa_dir(data_dir), "train" if split == "train" else "dev", "en")
    if split != "test":
        raise MissingDataError(f"{data_dir}: Belebele has only a test split ({split!r} asked for {code})")
    for base in (data_dir, data_dir / "Belebele"):
        if (base / f"{code}.jsonl").is_file():
            return read_belebele_file(base / f"{code}.jsonl")
    return read_belebele_file(data_dir / f"{code}.jsonl")


def belebele_languages(data_dir: Path) -> list[str]:
    """Language variants with a ``<lang_script>.jsonl`` file in *data_dir* (or its ``Belebele/`` folder)."""
    found = {p.stem for pat in ("*.jsonl", "Belebele/*.jsonl") for p in data_dir.glob(pat)}
    return sorted(found & set(LANGUAGES))


def _hf_row(row: dict, i: int) -> MCExample:
    return MCExample(f"{row.get('link', i)}#{row.get('question_number', i)}", row["flores_passage"], row["question"],
                     tuple(row[f"mc_answer{k}"] for k in range(1, 5)), int(row["correct_answer_num"]) - 1)


# ---------------------------------------------------------------------------------------------- example data
EXAMPLE_LANGUAGES = ("deu_Latn", "swh_Latn", "zho_Hans")


def write_examples(root: Path) -> Path:
    """``<lang>.jsonl`` per language in the release's layout (passages of two sentences, four answers, the right
    one marked as the family's other example data marks it); Cosmos QA is written beside it (``depends``)."""
    from . import _synthetic as ex

    rng = ex._rng(NAME)
    for lang in EXAMPLE_LANGUAGES:
        code = xtreme_code(lang)
        rows = []
        for i in range(20):
            answers, y = ex._choices(rng, code, 4)
            passage = ex._sep(code).join(ex.sentence(ex.random_clause(rng), code) for _ in range(2))
            rows.append({"link": f"https://en.wikinews.org/wiki/Synthetic_{i // 2}", "question_number": i % 2 + 1,
                         "flores_passage": passage,
                         "question": ex.sentence(ex.random_clause(rng, person=True), code, question=True),
                         **{f"mc_answer{k + 1}": a for k, a in enumerate(answers)},
                         "correct_answer_num": str(y + 1), "dialect": lang, "ds": "2023-05-03"})
        ex._write(root / f"{lang}.jsonl", ex._jsonl(rows))
    return root


# ------------------------------------------------------------------------------------------------ download
def _release_row(row: dict) -> dict:
    """A hub row as a line of the release: its fields in the release's order, ``ds`` (a timestamp on the hub) as the
    date the release writes (``2023-05-03``)."""
    out = {}
    for key in RELEASE_KEYS:
        if key in row:
            value = row[key]
            out[key] = value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else value
    return out


def plan_download(plan, languages: list[str]) -> None:
    """``xstilts download``: each language variant's hub config as the release's ``<lang_script>.jsonl``, and the
    English training set (Cosmos QA, ``../cosmosqa``)."""
    from ..download._formats import write_jsonl

    folder = plan.folder(NAME)
    for code in languages:
        def run(ctx, code=code) -> None:
            dsd = ctx.hub(HF_PATH, code, None, plan.hub_pin(HF_PATH, NAME))
            write_jsonl(ctx, f"{code}.jsonl", (_release_row(r) for r in dsd["test"]), "test")

        plan.add(NAME, folder, f"hub:{HF_PATH}:{code}", f"Belebele {code}", run)
    plan_cosmosqa(plan, ["en"])  # Belebele's English training set, read from ../cosmosqa


register(Task(
    name=NAME, kind="multiple_choice", roles=(TARGET,), languages=LANGUAGES, metric="accuracy",
    read=read_belebele, data_subdir=NAME, train_language="eng_Latn",
    hf=HFSource(HF_PATH, "{lang}", {"test": "test"}, _hf_row),
    description="Belebele multiple-choice reading comprehension, 122 language variants; trained on English Cosmos QA",
    source="Bandarkar et al. 2024 (Belebele); Huang et al. 2019 (Cosmos QA)",
    protocol=xstilts_protocol(epochs=3, batch_size=16, max_length=384),
    discover_languages=belebele_languages,
    extra={"num_choices": 4},
    examples=ExampleData(write_examples, EXAMPLE_LANGUAGES, depends=(COSMOSQA,)),
    download=Download(plan_download, LANGUAGES),
))
