"""Units of download work, the context they write through, and the manifest that records them.

A *unit* is one piece of a task's data from one source (one hub config, one release file), written into the task's
data folder. The folder's ``MANIFEST.json`` records, per unit: the task, the sources with the revision actually used
(the hub commit sha; a URL with the sha256 of what was downloaded and the server's version headers), the split sizes,
and the sha256 and size of every file written. A unit whose files all still match is skipped on the next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import __version__
from ..errors import XstiltsError
from ..io import atomic_write_json
from . import _net as net
from ..provision._util import sha256_file  # one sha256 helper for provisioning and downloads

MANIFEST = "MANIFEST.json"
FORMAT = "xstilts-download/1"




# ------------------------------------------------------------------------------------------------- manifest
class Manifest:
    """``<folder>/MANIFEST.json``: ``{"format", "units": {key: entry}}``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / MANIFEST
        self.units: dict[str, dict] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                units = data.get("units") if isinstance(data, dict) else None
                self.units = units if isinstance(units, dict) else {}
            except (OSError, ValueError):
                self.units = {}  # unreadable: everything is downloaded again and the file rewritten

    def problem(self, key: str) -> str | None:
        """Why unit *key* is not complete and verified (``None`` when it is)."""
        entry = self.units.get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict) or not entry["files"]:
            return "not downloaded yet"
        for rel, meta in entry["files"].items():
            p = self.folder / rel
            if not p.is_file():
                return f"{rel} is missing"
            if not isinstance(meta, dict) or p.stat().st_size != meta.get("bytes"):
                return f"{rel} has changed size"
            if sha256_file(p) != meta.get("sha256"):
                return f"{rel} has changed (sha256)"
        return None

    def record(self, key: str, entry: dict) -> None:
        self.units[key] = entry
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, {"format": FORMAT, "written_by": f"xstilts {__version__} (xstilts download)",
                                      "units": dict(sorted(self.units.items()))})


# ------------------------------------------------------------------------------------------------- units
@dataclass
class Unit:
    """One piece of download work.

    Attributes:
        task: the task it serves (for messages and the manifest).
        folder: the data folder it writes into (its manifest lives there).
        key: unique within the folder's manifest (``hub:google/xtreme:PAN-X.de``, ``url:translate-train:de``...).
        label: what it is, for the progress lines.
        run: ``run(ctx)`` downloads and writes the files through *ctx*.
        optional: a source that answers "not found" (HTTP 404) is reported and skipped instead of stopping everything
            (translate-train files that XTREME did not make for every language).
    """

    task: str
    folder: Path
    key: str
    label: str
    run: Callable[["Context"], None]
    optional: bool = False


@dataclass
class Context:
    """What a unit's ``run`` writes through: files (atomically, recorded with their sha256), sources and split sizes."""

    unit: Unit
    scratch: Path
    files: dict[str, Path] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _revisions: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.unit.folder

    # --------------------------------------------------------------------------------------------- sources
    def hub(self, path: str, config: str | None, split: str | None, pin: str | None = None):
        """The rows of hub data set *path* (*config*, *split*) at *pin* (a commit sha) or at the default branch's
        current commit, whose sha is resolved first and recorded, so the manifest says exactly what was loaded."""
        what = f"the Hugging Face hub ({path}{', ' + config if config else ''})"
        net.check_online(what)
        if path not in self._revisions:
            try:
                self._revisions[path] = net.hub_revision(path, pin)
            except Exception as e:  # noqa: BLE001 - every failure becomes one line naming the source
                raise net.explain(e, what) from None
        sha = self._revisions[path]
        try:
            ds = net.hub_load(path, config, split, sha, cache_dir=self.scratch / "hf-cache")
        except Exception as e:  # noqa: BLE001
            raise net.explain(e, f"{what}, split {split}") from None
        src = {"kind": "hub", "id": path, "config": config, "split": split, "revision": sha,
               "pinned": pin is not None}
        if src not in self.sources:
            self.sources.append(src)
        return ds

    def url(self, url: str, *, md5: str | None = None) -> Path:
        """Download *url* into the scratch folder and return the file; recorded with its sha256 (and checked against
        *md5* where the release publishes one)."""
        net.check_online(url)
        dest = self.scratch / f"download-{len(self.sources)}-{Path(url.split('?')[0]).name or 'file'}"
        try:
            info = net.http_get(url, dest)
        except Exception as e:  # noqa: BLE001
            raise net.explain(e, url) from None
        if md5 and info.get("md5") != md5:
            raise XstiltsError(f"{url}: md5 {info.get('md5')} differs from the published {md5} (a damaged or changed "
                               f"download; run again)")
        self.sources.append({"kind": "url", "url": url, **{k: v for k, v in info.items() if k != "md5"}})
        return dest

    # --------------------------------------------------------------------------------------------- writing
    @contextlib.contextmanager
    def open(self, rel: str, mode: str = "w") -> Iterator[Any]:
        """A file to write at ``<folder>/<rel>``; it appears (atomically renamed) when the block ends without error."""
        final = self.folder / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
        os.close(fd)
        try:
            if "b" in mode:
                with open(tmp, mode) as f:
                    yield f
            else:
                with open(tmp, mode, encoding="utf-8", newline="\n") as f:
                    yield f
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.files[rel] = final

    def write_text(self, rel: str, text: str) -> None:
        with self.open(rel) as f:
            f.write(text)

    def write_json(self, rel: str, obj: Any) -> None:
        with self.open(rel) as f:
            json.dump(obj, f, ensure_ascii=False)
            f.write("\n")

    def place(self, rel: str, src: Path) -> None:
        """Move the downloaded or extracted file *src* to ``<folder>/<rel>`` as is."""
        final = self.folder / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(src, 0o644)
        os.replace(src, final)
        self.files[rel] = final

    def link(self, rel: str, src: Path) -> None:
        """``<folder>/<rel>`` as a hard link to *src* (a copy where links are not possible)."""
        import shutil

        final = self.folder / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.link.part")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, final)
        self.files[rel] = final

    def count(self, split: str, n: int) -> None:
        self.splits[split] = self.splits.get(split, 0) + n

    def note(self, text: str) -> None:
        self.notes.append(text)

    def entry(self) -> dict:
        files = {}
        for rel, p in sorted(self.files.items()):
            files[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        return {"task": self.unit.task, "what": self.unit.label, "sources": self.sources, "splits": self.splits,
                "files": files, "notes": self.notes,
                "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


# ------------------------------------------------------------------------------------------------- running
@dataclass
class Outcome:
    unit: Unit
    status: str  # downloaded | verified | unavailable
    detail: str = ""
    entry: dict | None = None


def run_unit(unit: Unit, manifests: dict[Path, Manifest], *, force: bool = False) -> Outcome:
    """Run *unit* unless its manifest entry verifies; record it; an optional unit whose source is missing is
    reported as ``unavailable``."""
    man = manifests.get(unit.folder)
    if man is None:
        man = manifests[unit.folder] = Manifest(unit.folder)
    if not force and man.problem(unit.key) is None:
        return Outcome(unit, "verified", entry=man.units[unit.key])
    known = man.units.get(unit.key)
    if not force and unit.optional and isinstance(known, dict) and known.get("unavailable"):
        return Outcome(unit, "unavailable", f"{known['unavailable']} (checked {known.get('checked_at', '')}; "
                                            f"--force asks again)")
    unit.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=unit.folder, prefix=".download-") as scratch:
        ctx = Context(unit, Path(scratch))
        try:
            unit.run(ctx)
        except net.SourceMissing as e:
            if not unit.optional:
                raise
            man.record(unit.key, {"task": unit.task, "what": unit.label, "unavailable": str(e),
                                  "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            return Outcome(unit, "unavailable", str(e))
        if not ctx.files:
            raise XstiltsError(f"{unit.task}: {unit.label}: the source gave no data")
        entry = ctx.entry()
    man.record(unit.key, entry)
    return Outcome(unit, "downloaded", entry=entry)
