"""The results database of a study: ``<study folder>/results.sqlite``.

SQLite in WAL mode with a busy timeout, written in short ``BEGIN IMMEDIATE`` transactions by every process that runs
cells (several at once, and several studies at once), so readers never see half a record and writers wait for each
other instead of failing. Each operation opens its own connection (safe across ``fork`` and threads).

Schema (columns may be added, never renamed)::

    runs(cell_id TEXT PRIMARY KEY, study, variant,             -- stilts | baseline
         status,                                               -- pending | running | done | failed
         error,                                                -- one line (traceback in <cell>/error.log)
         config_hash, model, model_size, family,
         intermediate,                                         -- JSON list of task labels ([] = baseline)
         intermediate_size INTEGER, budget_steps INTEGER, budget_tokens INTEGER,
         target, seed INTEGER, axes,                           -- JSON: the cell's axis values
         run_dir, spent,                                       -- JSON: per intermediate task label
                                                               --   {"steps", "examples", "tokens", "estimated"}
         started REAL, finished REAL, seconds REAL,            -- Unix times; seconds of the cell's run
         headline REAL, headline_metric, log, label,           -- added: mean headline score over the targets,
                                                               --   its metric, the cell's log file, a label,
         active INTEGER,                                       --   1 = a cell of the study file as last run
                                                               --   (0: left over from an earlier version of it),
         train_steps INTEGER,                                  --   intermediate optimizer steps actually run
         headline_split)                                       --   dev | test | mixed: the headline's split
    scores(cell_id, task, split, language, metric, value REAL, PRIMARY KEY (cell_id, task, split, language, metric))
                                                               -- split: dev | test (the split scored; a task
                                                               --   without test data, e.g. a QA set that
                                                               --   XTREME scores on dev, has it as test);
                                                               -- language 'avg' = mean over the task's languages

A database written before scores had a ``split`` is migrated when it is first opened for writing: its scores were
of the test split (the only one then scored), and get ``split = 'test'``.

On a cluster whose nodes share the study folder over NFS, WAL (which needs shared memory on one host) is unsafe:
set ``XSTILTS_SQLITE_JOURNAL=delete`` for the classic rollback journal with file locks.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (cell_id TEXT PRIMARY KEY, study TEXT, variant TEXT, status TEXT,
  error TEXT, config_hash TEXT, model TEXT, model_size TEXT, family TEXT, intermediate TEXT,
  intermediate_size INTEGER, budget_steps INTEGER, budget_tokens INTEGER, target TEXT, seed INTEGER, axes TEXT,
  run_dir TEXT, spent TEXT,
  started REAL, finished REAL, seconds REAL);
CREATE TABLE IF NOT EXISTS scores (cell_id TEXT, task TEXT, split TEXT NOT NULL DEFAULT 'test', language TEXT,
  metric TEXT, value REAL, PRIMARY KEY (cell_id, task, split, language, metric));
"""
#: Splits a score can be of.
SPLITS = ("dev", "test")
#: Columns added to ``runs`` beyond the documented schema (added by ALTER TABLE to older databases).
EXTRA_COLUMNS = {"headline": "REAL", "headline_metric": "TEXT", "log": "TEXT", "label": "TEXT", "active": "INTEGER",
                 "train_steps": "INTEGER", "headline_split": "TEXT"}
RUN_COLUMNS = ("cell_id", "study", "variant", "status", "error", "config_hash", "model", "model_size", "family",
               "intermediate", "intermediate_size", "budget_steps", "budget_tokens", "target", "seed", "axes",
               "run_dir", "spent", "started", "finished", "seconds", *EXTRA_COLUMNS)
JSON_COLUMNS = ("intermediate", "axes", "spent")
SCORE_COLUMNS = ("cell_id", "task", "split", "language", "metric", "value")
INTEGER_COLUMNS = ("intermediate_size", "budget_steps", "budget_tokens", "seed", "active", "train_steps")
REAL_COLUMNS = ("value", "started", "finished", "seconds", "headline")


def _json(v: Any) -> str | None:
    return None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def intermediate_key(value: Any) -> str:
    """The stored form of an intermediate task set: a JSON list; ``"a+b"`` or ``"baseline"``/``"none"``/``""`` also
    accepted (for filters)."""
    if isinstance(value, str):
        v = value.strip()
        if v.startswith("["):
            return json.dumps(json.loads(v), ensure_ascii=False)
        return json.dumps([] if v in ("", "baseline", "none", "[]") else v.split("+"), ensure_ascii=False)
    return json.dumps(list(value), ensure_ascii=False)


def _migrate_scores(con: sqlite3.Connection) -> None:
    """Scores of a database from before splits: every row was a test-split score (in the open transaction)."""
    con.execute("DROP INDEX IF EXISTS scores_task")
    con.execute("ALTER TABLE scores RENAME TO scores_unsplit")
    con.execute(SCHEMA.split(";")[1])
    con.execute("INSERT INTO scores (cell_id, task, split, language, metric, value) "
                "SELECT cell_id, task, 'test', language, metric, value FROM scores_unsplit")
    con.execute("DROP TABLE scores_unsplit")


class ResultsDB:
    """A study's results database (created on first use). Thread- and process-safe.

    Example::

        db = ResultsDB("runs/studies/demo-study/results.sqlite")
        db.runs(status="done", variant="stilts")               # list of dicts, JSON columns decoded
        db.scores(task="tatoeba-bible", language="avg", seed=[1, 2])   # scores joined with their run's columns
    """

    def __init__(self, path: str | Path, timeout: float = 120.0):
        self.path = Path(path)
        self.timeout = timeout
        self.journal = os.environ.get("XSTILTS_SQLITE_JOURNAL", "wal").lower()
        self._ready = False

    # ------------------------------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not self._ready:
            self._retry(lambda: self._init(con))
            self._ready = True
        con.execute("PRAGMA synchronous = NORMAL" if self.journal == "wal" else "PRAGMA synchronous = FULL")
        return con

    def _init(self, con: sqlite3.Connection) -> None:
        con.execute(f"PRAGMA journal_mode = {'WAL' if self.journal == 'wal' else 'DELETE'}").fetchone()
        con.execute("BEGIN IMMEDIATE")
        try:
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            have = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
            for col, typ in EXTRA_COLUMNS.items():
                if col not in have:
                    con.execute(f"ALTER TABLE runs ADD COLUMN {col} {typ}")
            if "split" not in {r[1] for r in con.execute("PRAGMA table_info(scores)")}:
                _migrate_scores(con)
            con.execute("CREATE INDEX IF NOT EXISTS scores_task ON scores (task, language)")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    @staticmethod
    def _retry(fn, attempts: int = 50):
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as e:  # "database is locked" beyond the busy timeout, or a WAL race
                if "locked" not in str(e) and "busy" not in str(e) or i == attempts - 1:
                    raise
                time.sleep(min(0.05 * (i + 1), 1.0))
        return None  # pragma: no cover

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            self._retry(lambda: con.execute("BEGIN IMMEDIATE"))
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self._retry(lambda: con.execute("COMMIT"))
        finally:
            con.close()

    def _read(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        con = self._connect()
        try:
            return self._retry(lambda: con.execute(sql, tuple(params)).fetchall())
        finally:
            con.close()

    # ------------------------------------------------------------------------------------------ writing
    def record_run(self, cell_id: str, **fields: Any) -> None:
        """Insert or update the run of *cell_id*: only the given columns change (JSON columns may be given as
        Python objects). Unknown column names raise ``ValueError``."""
        bad = [k for k in fields if k not in RUN_COLUMNS]
        if bad:
            raise ValueError(f"unknown runs column(s): {', '.join(bad)}")
        vals = {k: (_json(v) if k in JSON_COLUMNS else v) for k, v in fields.items()}
        if "intermediate" in fields and fields["intermediate"] is not None:
            vals["intermediate"] = intermediate_key(fields["intermediate"])
        cols = ["cell_id", *vals]
        sql = (f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(cell_id) DO UPDATE SET " + (", ".join(f"{k} = excluded.{k}" for k in vals) or
                                                        "cell_id = cell_id"))

        def go():
            with self._write() as con:
                con.execute(sql, [cell_id, *vals.values()])

        self._retry(go)

    def ensure_runs(self, rows: list[dict]) -> None:
        """Insert runs that are not in the database yet (status as given, typically ``pending``); existing rows are
        left alone. One transaction."""
        def go():
            with self._write() as con:
                for r in rows:
                    vals = {k: (_json(v) if k in JSON_COLUMNS else v) for k, v in r.items() if k != "cell_id"}
                    if r.get("intermediate") is not None:
                        vals["intermediate"] = intermediate_key(r["intermediate"])
                    cols = ["cell_id", *vals]
                    con.execute(f"INSERT OR IGNORE INTO runs ({', '.join(cols)}) VALUES "
                                f"({', '.join('?' * len(cols))})", [r["cell_id"], *vals.values()])

        self._retry(go)

    def record_scores(self, cell_id: str, scores: dict | Iterable[tuple], split: str = "test") -> int:
        """Replace the scores of *cell_id* in one transaction.

        *scores*: ``{task: {language: {metric: value}}}`` (all of *split*), ``(task, language, metric, value)``
        tuples (of *split*) or ``(task, split, language, metric, value)`` tuples. Non-numeric values are skipped.
        Returns the number of rows written.
        """
        if isinstance(scores, dict):
            rows = [(t, split, lang, m, v) for t, langs in scores.items() for lang, ms in langs.items()
                    for m, v in ms.items()]
        else:
            rows = [tuple(r) if len(r) == 5 else (r[0], split, *r[1:]) for r in scores]
        bad = {r[1] for r in rows} - set(SPLITS)
        if bad:
            raise ValueError(f"unknown split(s) {', '.join(map(str, bad))}; expected {' or '.join(SPLITS)}")
        rows = [(cell_id, t, sp, lang, m, float(v)) for t, sp, lang, m, v in rows
                if isinstance(v, (int, float)) and not isinstance(v, bool)]

        def go():
            with self._write() as con:
                con.execute("DELETE FROM scores WHERE cell_id = ?", (cell_id,))
                con.executemany("INSERT INTO scores (cell_id, task, split, language, metric, value) "
                                "VALUES (?, ?, ?, ?, ?, ?)", rows)

        self._retry(go)
        return len(rows)

    def set_active(self, study: str, cell_ids: Iterable[str]) -> None:
        """Mark the cells of *study* that are in *cell_ids* active (1) and its other cells inactive (0)."""
        ids = list(cell_ids)

        def go():
            with self._write() as con:
                con.execute("UPDATE runs SET active = 0 WHERE study = ?", (study,))
                for i in range(0, len(ids), 500):
                    part = ids[i:i + 500]
                    con.execute(f"UPDATE runs SET active = 1 WHERE study = ? AND cell_id IN "
                                f"({', '.join('?' * len(part))})", [study, *part])

        self._retry(go)

    def delete(self, cell_id: str) -> None:
        """Remove a cell's run and scores."""
        def go():
            with self._write() as con:
                con.execute("DELETE FROM scores WHERE cell_id = ?", (cell_id,))
                con.execute("DELETE FROM runs WHERE cell_id = ?", (cell_id,))

        self._retry(go)

    # ------------------------------------------------------------------------------------------ reading
    @staticmethod
    def _where(filters: dict, allowed: tuple, prefix: dict[str, str]) -> tuple[str, list]:
        clauses, params = [], []
        for key, value in filters.items():
            if value is None:
                continue
            if key not in allowed:
                raise ValueError(f"unknown filter {key!r}; expected one of {', '.join(allowed)}")
            col = prefix.get(key, "") + key
            if key == "intermediate":  # one task set (a list of labels, "a+b", "baseline") or several (list of sets)
                many = isinstance(value, (tuple, set)) or (isinstance(value, list) and value
                                                          and all(isinstance(x, (list, tuple)) for x in value))
                values = [intermediate_key(v) for v in (value if many else [value])]
            else:
                values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            if key in JSON_COLUMNS and key != "intermediate":
                values = [_json(v) for v in values]
            elif key in INTEGER_COLUMNS:
                values = [None if v in (None, "null", "none", "") else int(v) for v in values]
            elif key in REAL_COLUMNS:
                values = [float(v) for v in values]
            nulls = [v for v in values if v is None]
            vals = [v for v in values if v is not None]
            parts = []
            if vals:
                parts.append(f"{col} IN ({', '.join('?' * len(vals))})")
                params += vals
            if nulls:
                parts.append(f"{col} IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    @staticmethod
    def _decode(row: sqlite3.Row) -> dict:
        d = dict(row)
        for k in JSON_COLUMNS:
            if d.get(k) is not None:
                try:
                    d[k] = json.loads(d[k])
                except ValueError:
                    pass
        return d

    def runs(self, **filters: Any) -> list[dict]:
        """Runs matching every filter (``column=value``; a list/tuple/set means any of them; ``None`` is ignored;
        ``intermediate`` takes a list of labels, ``"a+b"`` or ``"baseline"``), ordered by study, variant, model,
        target, seed. JSON columns are decoded."""
        if not self.path.exists():
            return []
        where, params = self._where(filters, RUN_COLUMNS, {})
        rows = self._read(f"SELECT * FROM runs{where} ORDER BY study, variant, model, intermediate, "
                          f"intermediate_size, target, seed, cell_id", params)
        return [self._decode(r) for r in rows]

    def scores(self, **filters: Any) -> list[dict]:
        """Score rows joined with their run's columns (``study``, ``variant``, ``status``, ``model``, ...,
        ``seed``); filters on any of them as in :meth:`runs`. Ordered by task, language, metric, cell."""
        if not self.path.exists():
            return []
        allowed = tuple(dict.fromkeys(SCORE_COLUMNS + RUN_COLUMNS))
        prefix = {k: "s." for k in SCORE_COLUMNS}
        prefix.update({k: "r." for k in RUN_COLUMNS if k not in SCORE_COLUMNS})
        where, params = self._where(filters, allowed, prefix)
        run_cols = ", ".join(f"r.{c}" for c in RUN_COLUMNS if c not in SCORE_COLUMNS)
        rows = self._read(f"SELECT s.*, {run_cols} FROM scores s JOIN runs r ON r.cell_id = s.cell_id{where} "
                          f"ORDER BY s.task, s.split, s.language = 'avg', s.language, s.metric, r.variant, r.model, "
                          f"r.intermediate, r.seed, s.cell_id", params)
        return [self._decode(r) for r in rows]

    def integrity_check(self) -> str:
        return self._read("PRAGMA integrity_check")[0][0]
