"""The plan of one ``xstilts download`` call, and the helpers task modules' download plans use.

A task module declares ``Task.download = Download(plan_fn, languages)``; ``plan_fn(plan, languages)`` adds units to
the :class:`Plan` (``plan.add`` for a unit with its own ``run(ctx)``, ``plan.url_file`` for one release file), using
the readers' file layouts. Hub data sets are loaded with ``datasets.load_dataset`` at a commit: the task's
:attr:`~xstilts.tasks.base.HFSource.revision` where one is known, else the default branch's current commit, resolved
first and recorded in the manifest. Release files come from their official URLs, GitHub files at a fixed commit.

This module does not import the task registry (task modules import it): the :class:`Plan` is given a lookup of tasks
by name by :func:`xstilts.download.run.download`.
"""

from __future__ import annotations

import csv
import tarfile
from pathlib import Path
from typing import Any, Callable

from ..errors import XstiltsError
from ..xtreme.benchmark import GOOGLE_XTREME, GOOGLE_XTREME_REVISION  # noqa: F401  (the fallback pin; re-exported)
from ._core import Context, Unit

#: XTREME's machine translations of the English training sets (github.com/google-research/xtreme, "Translations")
XTREME_TRANSLATIONS = "https://storage.googleapis.com/xtreme_translations"


def split(dsd, name: str):
    """Split *name* of a loaded ``DatasetDict`` (``None`` when the config has no such split)."""
    try:
        return dsd[name] if name in dsd else None
    except TypeError:
        return None


# --------------------------------------------------------------------------------------------------- helpers
def member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    if f is None:
        raise XstiltsError(f"{member.name}: not a file in the archive")
    return f.read()


def copy_stream(ctx: Context, rel: str, src) -> None:
    with ctx.open(rel, "wb") as out:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            out.write(chunk)


def conllu_sentences(data: bytes) -> int:
    return sum(1 for block in data.decode("utf-8", "replace").split("\n\n")
               if any(line and not line.startswith("#") for line in block.split("\n")))


def csv_records(path: Path) -> int:
    with open(path, encoding="utf-8", newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


class Plan:
    """The units of one ``xstilts download`` call, in order, each once; and what needs a manual step."""

    def __init__(self, root: Path, translate_train: bool, lookup: Callable[[str], Any]):
        """*lookup*: the registered task of a name (:func:`xstilts.tasks.get_task`)."""
        self.root = root
        self.lookup = lookup
        self.translate_train = translate_train
        self.units: list[Unit] = []
        self.manual: dict[str, str] = {}
        self._keys: set[tuple[Path, str]] = set()

    def folder(self, task_name: str) -> Path:
        return self.root / self.lookup(task_name).data_subdir

    def add(self, task: str, folder: Path, key: str, label: str, run: Callable[[Context], None], *,
            optional: bool = False) -> None:
        if (folder, key) not in self._keys:
            self._keys.add((folder, key))
            self.units.append(Unit(task, folder, key, label, run, optional))

    def url_file(self, task: str, folder: Path, key: str, label: str, url: str, rel: str, split: str,
                 counter: Callable[[Path], int], *, optional: bool = False) -> None:
        """A release file fetched from *url* into ``folder/rel``, its records counted by *counter* (for task
        modules' :attr:`~xstilts.tasks.Task.download` plans)."""
        def run(ctx: Context) -> None:
            path = ctx.url(url)
            try:
                ctx.count(split, counter(path))
            except (ValueError, UnicodeDecodeError) as e:
                raise XstiltsError(f"{url}: not the expected format ({type(e).__name__}: {str(e)[:120]})") from None
            ctx.place(rel, path)

        self.add(task, folder, key, label, run, optional=optional)

    def translate_train_files(self, task: str, folder: Path, languages: list[str], url: str, rel: str, what: str,
                              counter: Callable[[Path], int]) -> None:
        """XTREME's translate-train file of every non-English language in *languages* (*url* and *rel* patterns
        with ``{lang}``), as optional units of *task* (the files are not there for every language); nothing unless
        the plan asks for translate-train data. *what*: the English training set translated, for the label."""
        if not self.translate_train:
            return
        for lang in languages:
            if lang != "en":
                self.url_file(task, folder, f"url:translate-train:{lang}",
                              f"XTREME translate-train {lang} ({what} machine-translated)", url.format(lang=lang),
                              rel.format(lang=lang), "train", counter, optional=True)

    def hub_pin(self, path: str, task_name: str | None = None) -> str | None:
        """The commit to load hub data set *path* at: the task's pinned revision (:attr:`HFSource.revision`), else
        ``google/xtreme``'s known pin, else ``None`` (the default branch's commit, resolved when run)."""
        hf = self.lookup(task_name).hf if task_name else None
        pin = getattr(hf, "revision", None) if hf is not None else None
        if pin is None and path == GOOGLE_XTREME:
            pin = GOOGLE_XTREME_REVISION
        return pin
