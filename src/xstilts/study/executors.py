"""Running a study's cells: in this process, in parallel subprocesses, or as submitit (SLURM) jobs.

Every cell runs :func:`xstilts.experiment.run_one` with ``output_dir`` = the study folder and
``phase_store`` = the study's phase store (``store``, else ``<study output_dir>/phases``, the folder a plain run with
that output folder uses), so phase folders (keyed by hash) are shared by the cells, by other studies and by plain
runs: one intermediate checkpoint serves every target that starts from it, a baseline evaluation serves every seed
that needs it, and a cell whose phases exist trains nothing. Each phase is built under an exclusive file lock
(``<store>/.locks/``, one per phase folder name), so two cells running at once never build the same phase: the
second waits and then finds it complete. Cells that share an intermediate phase form a group that runs
in order in one worker (the first builds the checkpoint, the others reuse it).

A cell's outcome goes to the results database (:class:`~xstilts.study.db.ResultsDB`): ``running`` when it starts,
then ``done`` with its scores, or ``failed`` with a one-line error (the traceback is in ``<cell folder>/error.log``);
a failed cell does not stop the others, and a re-run runs only the cells that are not ``done``.

On a cluster (the submitit executor) each job is a :class:`GroupJob`, which follows submitit's checkpointing
interface: on the timeout / preemption signal (``SIGUSR2``, sent ``signal_delay_s`` before the time limit) the
training phase that runs saves a checkpoint at the next step boundary and the job requeues itself, skipping the cells
it finished; the requeued job resumes the phase from that checkpoint. ``SIGTERM`` (``scancel``, or preemption
without requeueing) also saves a checkpoint, then stops without requeueing (a later ``study run`` resumes). Cells
whose config does not set ``checkpoint_every`` get :data:`CLUSTER_CHECKPOINT_EVERY` there, so a job that dies
without a signal (node failure, a kill after the grace time) loses at most that many steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, XstiltsError
from ..io import atomic_write_json, atomic_write_text, read_json, stable_hash
from .db import ResultsDB
from .grid import Cell, groups, tokens_to_steps, train_lengths
from .spec import Study

Log = Callable[[str], None]


def _echo(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------------- locking
@contextlib.contextmanager
def phase_lock(folder: Path, identity: Any, what: str = "") -> Any:
    """Exclusive lock (``fcntl.flock``) on ``folder/<hash of identity>.lock`` for the duration of the block."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stable_hash(identity)}.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            from ..console import console

            console.print(f"  waiting for {what or 'a phase'}: another cell is building it")
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _locked_store(cfg):
    """The phase store of *cfg* (:class:`~xstilts.experiment.PhaseStore`) whose phases are found or built under
    :func:`phase_lock`, one lock per phase (its kind and hash, as :mod:`xstilts.experiment.keys` computes them), in
    ``<phase store>/.locks``: every run or study that shares the store and builds a phase through an executor waits
    for the one that builds it, then finds it complete."""
    from ..experiment import PhaseStore

    store = PhaseStore.of(cfg)
    return PhaseStore(store.root, lambda identity, what: phase_lock(store.root / ".locks", identity, what))


# ---------------------------------------------------------------------------------------------------- one cell
def run_metadata(cell: Cell, study_name: str) -> dict:
    """The ``runs`` columns that describe a cell (without its outcome)."""
    a = cell.axes
    budget = cell.budget or {}
    return {"study": study_name, "variant": cell.variant,
            "config_hash": stable_hash(cell.config.model_dump(mode="json")), "model": a["model"],
            "model_size": a.get("model_size"), "family": _family(cell), "intermediate": a["intermediate"],
            "intermediate_size": a.get("intermediate_size"), "budget_steps": budget.get("steps"),
            "budget_tokens": budget.get("tokens"), "target": a["target"], "seed": a["seed"], "axes": a,
            "run_dir": str(Path(cell.config.output_dir) / cell.config.name / f"{cell.variant}-seed{cell.seed}"),
            "label": cell.label}


def _family(cell: Cell) -> str:
    """encoder / decoder / bilstm; ``auto`` resolved from the checkpoint's config.json when it is on disk."""
    fam = cell.config.model.family
    if fam != "auto":
        return fam
    from ..paths import model_cache_path

    name = cell.config.model.name_or_path
    for folder in (Path(name).expanduser(), model_cache_path(name)):
        f = folder / "config.json"
        if f.is_file():
            try:
                c = json.loads(f.read_text(encoding="utf-8"))
            except ValueError:
                break
            if c.get("model_type") == "xstilts-bilstm":
                return "bilstm"
            archs = c.get("architectures") or []
            from ..models.backbone import DECODER_TYPES

            if c.get("model_type") in DECODER_TYPES or any(x.endswith("ForCausalLM") for x in archs):
                return "decoder"
            return "encoder"
    return "auto"


def _split_rows(label: str, split: str, languages: dict, average, metric) -> list[tuple]:
    """``(task, split, language, metric, value)`` rows of one split of one task; language ``avg`` holds each
    metric's mean over the languages (the headline metric's equals the phase's ``average``)."""
    langs = {lang: {k: v for k, v in ms.items() if k != "n" and isinstance(v, (int, float))}
             for lang, ms in (languages or {}).items()}
    avg = {}
    for m in {k for ms in langs.values() for k in ms}:
        vals = [ms[m] for ms in langs.values() if m in ms]
        avg[m] = sum(vals) / len(vals)
    if average is not None and metric:
        avg[metric] = average
    return [(label, split, lang, m, v) for lang, ms in {**langs, "avg": avg}.items() for m, v in ms.items()]


def cell_scores(result: dict) -> tuple[list[tuple], float | None, str | None, str | None]:
    """``(rows, headline, headline metric, headline split)`` from a run's ``tasks`` (each a phase's metrics.json).

    rows: ``(task, split, language, metric, value)`` for every split a phase scored (``splits``: dev and test;
    an older phase without ``splits`` has its scores under ``split``, else test). The headline is the mean over the
    targets of each one's headline metric on its dev split where it has one, else on its test split (the report's
    default view, as the paper's dev-set table); its split is ``dev``, ``test`` or ``mixed``.
    """
    rows: list[tuple] = []
    heads, metrics, splits = [], set(), set()
    for label, m in result["tasks"].items():
        metric = m.get("metric")
        per_split = m.get("splits")
        if isinstance(per_split, dict) and per_split:
            for split, sd in per_split.items():
                rows += _split_rows(label, split, sd.get("languages"), sd.get("average"), metric)
            pick = "dev" if (per_split.get("dev") or {}).get("average") is not None else "test"
            head = (per_split.get(pick) or {}).get("average")
        else:
            pick = m.get("split") if m.get("split") in ("dev", "test") else "test"
            rows += _split_rows(label, pick, m.get("languages"), m.get("average"), metric)
            head = m.get("average")
        if head is None and m.get("average") is not None:
            head, pick = m["average"], (m.get("split") if m.get("split") in ("dev", "test") else "test")
        if head is not None and metric:
            heads.append(head)
            metrics.add(metric)
            splits.add(pick)
    headline = sum(heads) / len(heads) if heads else None
    return (rows, headline, (metrics.pop() if len(metrics) == 1 else "mixed" if metrics else None),
            (splits.pop() if len(splits) == 1 else "mixed" if splits else None))


def _spent(cfg, result: dict, conversion: dict | None) -> dict | None:
    """Compute actually spent per intermediate task: batches drawn (``steps``), ``examples`` and ``tokens``.

    Exact when the training history records them (``task_examples`` / ``task_tokens``); otherwise estimated as
    batches x batch_size and examples x the task's mean tokenized length (``estimated: true``).
    """
    inter = [p for p in result.get("phases", []) if p.get("phase") == "intermediate"]
    if not inter:
        return None
    train = read_json(Path(inter[0]["dir"]) / "metrics.json").get("train") or {}
    batches = train.get("task_steps") or {}
    ex_exact, tok_exact = train.get("task_examples") or {}, train.get("task_tokens") or {}
    lengths = (conversion or {}).get("tasks")
    if lengths is None and not all(x in tok_exact for x in batches):
        try:
            lengths = train_lengths(cfg)
        except Exception:  # noqa: BLE001 - the estimate is best effort
            lengths = {}
    ic = cfg.intermediate
    out: dict[str, Any] = {}
    for label, b in batches.items():
        est = label not in ex_exact or label not in tok_exact
        examples = ex_exact.get(label, b * ic.batch_size)
        mean = (lengths or {}).get(label, {}).get("mean_length")
        tokens = tok_exact.get(label, round(examples * mean) if mean is not None else None)
        out[label] = {"steps": b, "examples": examples, "tokens": tokens, "estimated": est}
    return out


def execute_cell(payload: dict, db_path: str | Path, study_name: str, log: Log = _echo) -> dict:
    """Run one cell in this process and record it. Returns ``{"id", "status", "error", "seconds"}``.

    Errors (``XstiltsError`` or any other exception) are recorded, not raised; ``KeyboardInterrupt`` and SIGTERM
    preemption are recorded as failed and re-raised.
    """
    from ..train import Preempted

    cell = Cell.from_payload(payload)
    cfg = cell.config
    db = ResultsDB(db_path)
    folder = Path(cfg.output_dir) / cfg.name
    folder.mkdir(parents=True, exist_ok=True)
    err_file = folder / "error.log"
    t0 = time.time()
    db.record_run(cell.id, **run_metadata(cell, study_name), status="running", error=None, started=t0,
                  finished=None, seconds=None)
    log(f"[cell {cell.id}] {cell.label}")
    try:
        conversion = None
        if cell.budget and "tokens" in cell.budget:
            conversion = tokens_to_steps(cfg, cell.budget["tokens"])
            ic = cfg.intermediate.model_copy(update={"max_steps": conversion["steps"]})
            cfg = cfg.model_copy(update={"intermediate": ic})
            atomic_write_json(folder / "budget.json", conversion)
            db.record_run(cell.id, budget_steps=conversion["steps"])
            log(f"  token budget {cell.budget['tokens']:,} = {conversion['steps']} optimizer steps (mean length "
                f"{conversion['mean_length']:.1f} tokens x batch {cfg.intermediate.batch_size})")
        from ..experiment import preflight, run_one

        store = _locked_store(cfg)
        preflight(cfg, store)
        result = run_one(cfg, cell.variant, cell.seed, store)
        scores, headline, metric, head_split = cell_scores(result)
        spent = _spent(cfg, result, conversion)
        inter = [p for p in result.get("phases", []) if p.get("phase") == "intermediate"]
        train_steps = (read_json(Path(inter[0]["dir"]) / "metrics.json").get("train") or {}).get("steps") \
            if inter else None
        db.record_scores(cell.id, scores)
        now = time.time()
        db.record_run(cell.id, status="done", error=None, finished=now, seconds=now - t0, headline=headline,
                      headline_metric=metric, headline_split=head_split, spent=spent, train_steps=train_steps,
                      run_dir=result["run_dir"])
        with contextlib.suppress(FileNotFoundError):
            err_file.unlink()
        log(f"[cell {cell.id}] done in {now - t0:.0f} s" + (f": {metric} {headline:.2f}" if headline is not None
                                                             else ""))
        return {"id": cell.id, "status": "done", "error": None, "seconds": now - t0}
    except (KeyboardInterrupt, Preempted) as e:
        msg = f"interrupted: {type(e).__name__} {e}".strip()
        atomic_write_text(err_file, traceback.format_exc())
        db.record_run(cell.id, status="failed", error=msg, finished=time.time(), seconds=time.time() - t0)
        raise
    except Exception as e:  # noqa: BLE001 - every failure is recorded and the study goes on
        one = " ".join(str(e).split()) or type(e).__name__
        msg = one if isinstance(e, XstiltsError) else f"{type(e).__name__}: {one}"
        atomic_write_text(err_file, traceback.format_exc())
        db.record_run(cell.id, status="failed", error=msg[:2000], finished=time.time(), seconds=time.time() - t0)
        log(f"[cell {cell.id}] FAILED: {msg} (traceback: {err_file})")
        return {"id": cell.id, "status": "failed", "error": msg, "seconds": time.time() - t0}


def run_group(payloads: list[dict], db_path: str, study_name: str, cwd: str | None = None) -> list[dict]:
    """Run cells one after another (a submitit job, or the in-process local executor)."""
    if cwd:
        os.chdir(cwd)
    return [execute_cell(p, db_path, study_name) for p in payloads]


try:  # the `slurm` extra; without it run_submitit says which extra to install
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # pragma: no cover - depends on the installed extras
    _Checkpointable = object  # type: ignore[assignment,misc]


class GroupJob(_Checkpointable):  # type: ignore[misc,valid-type]
    """A submitit job: the cells of one group (:func:`run_group`), requeued on the timeout / preemption signal.

    submitit's checkpointing interface (``submitit.helpers.Checkpointable``): while the job runs, ``SIGUSR2`` (the
    signal submitit's SLURM jobs get ``signal_delay_s`` before their time limit, and its local executor's timeout
    signal) and ``SIGTERM`` ask the running training phase to save a checkpoint and stop at the next optimizer step
    (:func:`xstilts.train.request_stop`; outside training the cell stops at once, finished phases kept). After
    ``SIGUSR2`` the job then hands over to submitit's handler, which calls :meth:`checkpoint` (this job, with the
    results of the cells already finished) and requeues it; after ``SIGTERM`` it stops without requeueing. The
    requeued job skips the finished cells and resumes the interrupted phase from its checkpoint.
    """

    def __init__(self, payloads: list[dict], db_path: str, study_name: str, cwd: str | None = None,
                 results: list[dict] | None = None):
        self.payloads, self.db_path, self.study_name, self.cwd = payloads, db_path, study_name, cwd
        self.results: list[dict] = list(results or [])  # one per finished cell, in order

    def __call__(self) -> list[dict]:
        import signal

        from ..train import STOP, Preempted, request_stop

        if self.cwd:
            os.chdir(self.cwd)
        usr = _preempt_signal()
        state = {"signal": None, "handled": False}
        handlers = {}

        def on_signal(signum, frame):
            if state["handled"]:
                return
            state["signal"] = signum
            if STOP["in_training"]:  # stop at the next step boundary, with a checkpoint; if training then ends
                STOP["requested"] = True  # normally (its last step), stop once it is over
                threading.Thread(target=_signal_after_training, args=(signum, state), daemon=True).start()
            else:
                request_stop(signum, frame)  # raises Preempted

        if threading.current_thread() is threading.main_thread():
            for sig in (usr, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, on_signal)
        STOP["requested"] = False
        try:
            for payload in self.payloads[len(self.results):]:
                self.results.append(execute_cell(payload, self.db_path, self.study_name))
        except Preempted:
            state["handled"] = True
            requeue = handlers.get(usr)
            if state["signal"] == usr and _is_submitit_handler(requeue):
                self._mark_requeued()
                signal.signal(usr, signal.SIG_IGN)
                requeue(usr, None)  # submitit: self.checkpoint() is dumped, the job requeued, this process exits
            raise
        finally:
            state["handled"] = True
            STOP["requested"] = False
            for sig, handler in handlers.items():
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(sig, handler)
        return list(self.results)

    def checkpoint(self, *args: Any, **kwargs: Any):
        """The submission submitit requeues: this job with the cells finished so far (they are not run again)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(GroupJob(self.payloads, self.db_path, self.study_name, self.cwd, self.results))

    def _mark_requeued(self) -> None:
        """The interrupted cell: ``pending`` again, with a note, until the requeued job runs it."""
        with contextlib.suppress(Exception):
            cell_id = self.payloads[len(self.results)]["id"]
            ResultsDB(self.db_path).record_run(cell_id, status="pending", error="requeued by submitit (time limit or "
                                               "preemption); resumes from its last training checkpoint")


def _preempt_signal() -> int:
    """submitit's timeout / preemption signal (``SUBMITIT_PREEMPT_SIGNAL``, default ``USR2``)."""
    import signal

    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), signal.SIGUSR2)


def _is_submitit_handler(handler) -> bool:
    owner = getattr(handler, "__self__", None)
    return callable(handler) and type(owner).__module__.startswith("submitit")


def _signal_after_training(signum: int, state: dict) -> None:
    """Send *signum* to this process again once the training loop is left (so that a phase whose training ended
    normally after a stop request stops before its evaluation), unless the stop was already handled."""
    import signal

    from ..train import STOP

    while STOP["in_training"] and not state["handled"]:
        time.sleep(0.2)
    time.sleep(2.0)  # a Preempted raised by the loop reaches GroupJob first
    if not state["handled"]:
        signal.pthread_kill(threading.main_thread().ident, signum)


#: ``checkpoint_every`` (optimizer steps) that the submitit executor gives a cell's training phases when its config
#: does not set it: about 5 minutes of XLM-R large on one H100 (0.05-0.3 s per step), a few GB written per
#: checkpoint. A job also checkpoints on its timeout / preemption signal; this bounds what a job that dies without one
#: (node failure, a kill after the grace time) loses. A config's explicit ``checkpoint_every: 0`` is kept.
CLUSTER_CHECKPOINT_EVERY = 1000


def with_cluster_checkpoints(payload: dict, every: int = CLUSTER_CHECKPOINT_EVERY) -> dict:
    """*payload* (:meth:`Cell.to_payload`) with ``checkpoint_every`` = *every* in each training section whose config
    does not set it (the setting is not part of any phase key)."""
    payload = json.loads(json.dumps(payload))
    for section in ("intermediate", "target"):
        sec = payload["config"].setdefault(section, {})
        if "checkpoint_every" not in sec:
            sec["checkpoint_every"] = every
    return payload


def run_cell_file(path: str | Path) -> int:
    """``xstilts study run-cell FILE``: run the cell described by a JSON file written by the local executor.
    Exit status 0 = done, 1 = failed (recorded)."""
    job = read_json(path)
    if job.get("cwd"):
        os.chdir(job["cwd"])
    res = execute_cell(job["cell"], job["db"], job["study"])
    return 0 if res["status"] == "done" else 1


# ---------------------------------------------------------------------------------------------------- executors
def _visible_gpus(setting) -> list[int]:
    if setting == "none":
        return []
    if isinstance(setting, list):
        return setting
    try:
        import torch

        return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    except Exception:  # noqa: BLE001
        return []


def _subprocess_cell(cell: Cell, study: Study, env: dict, log: Log) -> dict:
    folder = Path(cell.config.output_dir) / cell.config.name
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / "cell.json"
    atomic_write_json(job, {"cell": cell.to_payload(), "db": str(study.db_path.resolve()), "study": study.name,
                            "cwd": os.getcwd()})
    t0 = time.time()
    with open(folder / "cell.log", "a", encoding="utf-8") as out:
        out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {cell.label}\n")
        out.flush()
        proc = subprocess.Popen([sys.executable, "-m", "xstilts", "study", "run-cell", str(job)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=os.getcwd())
        with _CHILDREN_LOCK:
            _CHILDREN.add(proc)
        try:
            rc = proc.wait()
        finally:
            with _CHILDREN_LOCK:
                _CHILDREN.discard(proc)
    db = ResultsDB(study.db_path)
    db.record_run(cell.id, log=str(folder / "cell.log"))
    row = (db.runs(cell_id=cell.id) or [{}])[0]
    status, error = row.get("status"), row.get("error")
    if status not in ("done", "failed"):  # killed before it could record anything
        status, error = "failed", f"cell process exited with status {rc} (see {folder / 'cell.log'})"
        db.record_run(cell.id, status=status, error=error, finished=time.time(), seconds=time.time() - t0)
    log(f"[cell {cell.id}] {status}" + (f": {error}" if error else "") + f" ({time.time() - t0:.0f} s)")
    return {"id": cell.id, "status": status, "error": error, "seconds": time.time() - t0}


_CHILDREN: set = set()
_CHILDREN_LOCK = threading.Lock()


def _stop_children() -> None:
    """Pass a stop request (SIGTERM: checkpoint and exit) on to the running cell processes."""
    import signal

    with _CHILDREN_LOCK:
        for proc in list(_CHILDREN):
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGTERM)


def auto_parallel(cells: list[Cell], gpu_ids: list[int]) -> int:
    """Cells to run at once for ``executor.parallel: auto``: 1 without GPUs; else ``per GPU × number of GPUs``,
    where *per GPU* is 4 when every cell's model has at most 6e8 non-embedding parameters (XLM-R large: 3e8) and
    is fully fine-tuned, 2 up to 2e9 parameters or with LoRA, else 1 (an unknown size counts as large). Small runs
    at batch 32 leave most of a GPU idle (issue 6: ~3-8% model FLOP utilisation for one XLM-R run on an H100), so
    several processes on one GPU raise the study's throughput; CUDA MPS, when its daemon runs, lets their kernels
    overlap instead of time-slicing."""
    if not gpu_ids:
        return 1
    from .grid import model_params

    per_gpu = 4
    for cell in cells:
        n, _ = model_params(cell.config.model)
        lora = cell.config.model.lora is not None
        if n is None or n > 2e9:
            per_gpu = 1
        elif n > 6e8 or lora:
            per_gpu = min(per_gpu, 2)
    return per_gpu * len(gpu_ids)


def run_local(study: Study, cells: list[Cell], parallel: int | str, gpus, log: Log = _echo) -> list[dict]:
    """The local executor: in this process (``parallel`` 1 and at most one GPU), else ``parallel`` subprocesses,
    each taking one group of cells at a time, with ``CUDA_VISIBLE_DEVICES`` assigned round-robin over *gpus*."""
    grouped = groups(cells)
    if parallel == "auto":
        parallel = auto_parallel(cells, _visible_gpus(gpus))
        if parallel > 1:
            log(f"executor.parallel auto: {parallel} cells at once on the GPU(s)")
    gpu_ids = _visible_gpus(gpus) if parallel > 1 or isinstance(gpus, list) else []
    if parallel == 1 and len(gpu_ids) <= 1:
        out = []
        for g in grouped:
            out += run_group([c.to_payload() for c in g], str(study.db_path), study.name)
        return out
    slots: queue.Queue = queue.Queue()
    for i in range(parallel):
        slots.put(i)
    results: list[dict] = []
    lock = threading.Lock()
    threads_each = max(1, (os.cpu_count() or 1) // parallel)

    def work(group: list[Cell]) -> None:
        slot = slots.get()
        try:
            if stopping.is_set():
                return
            env = dict(os.environ)
            if gpu_ids:
                env["CUDA_VISIBLE_DEVICES"] = str(gpu_ids[slot % len(gpu_ids)])
            else:
                for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                    env.setdefault(var, str(threads_each))
            for cell in group:
                if stopping.is_set():
                    return
                res = _subprocess_cell(cell, study, env, log)
                with lock:
                    results.append(res)
        finally:
            slots.put(slot)

    stopping = threading.Event()
    pool = ThreadPoolExecutor(max_workers=parallel)
    futures: list = []
    try:
        futures += [pool.submit(work, g) for g in grouped]
        for f in futures:
            f.result()
    except BaseException:  # Ctrl-C or SIGTERM: stop the cells that run (they checkpoint), start no new ones
        stopping.set()
        for f in futures:
            f.cancel()
        _stop_children()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def run_submitit(study: Study, cells: list[Cell], log: Log = _echo) -> list[dict]:
    """One submitit job (a :class:`GroupJob`) per group of cells (a job array on SLURM), with periodic training
    checkpoints (:data:`CLUSTER_CHECKPOINT_EVERY`) unless the cluster is ``debug``. A job requeues itself on its
    timeout / preemption signal. Waits for the jobs unless ``executor.wait`` is false; a job that dies (node
    failure, too many requeues) has its unfinished cells recorded as failed."""
    from ..deps import require

    submitit = require("submitit", why="executor.kind: submitit")
    ex_spec = study.spec.executor
    folder = study.folder / "submitit"
    cluster = None if ex_spec.cluster == "auto" else ex_spec.cluster
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        params = {"name": f"xstilts-{study.name}", **ex_spec.slurm}
        executor.update_parameters(**params)
    except (NameError, AssertionError, ValueError, TypeError, RuntimeError) as e:
        raise ConfigError(f"{study.source}: executor.slurm: {' '.join(str(e).split())}") from None
    grouped = groups(cells)
    every = CLUSTER_CHECKPOINT_EVERY if executor.cluster != "debug" else None
    args = [([with_cluster_checkpoints(c.to_payload()) if every else c.to_payload() for c in g],
             str(study.db_path.resolve()), study.name, os.getcwd()) for g in grouped]
    if executor.cluster == "slurm":
        with executor.batch():
            jobs = [executor.submit(GroupJob(*a)) for a in args]
    else:
        jobs = [executor.submit(GroupJob(*a)) for a in args]
    db = ResultsDB(study.db_path)
    for job, g in zip(jobs, grouped):
        for c in g:
            with contextlib.suppress(Exception):  # the job's log file, where the executor knows it
                db.record_run(c.id, log=str(job.paths.stdout))
    log(f"submitted {len(jobs)} job(s) for {len(cells)} cell(s) to submitit ({executor.cluster}); logs in {folder}")
    if not ex_spec.wait:
        for job, g in zip(jobs, grouped):
            log(f"  job {job.job_id}: {len(g)} cell(s)")
        return []
    out: list[dict] = []
    for job, g in zip(jobs, grouped):
        try:
            out += job.result()
        except Exception as e:  # noqa: BLE001 - the job itself died: record its unfinished cells
            first = " ".join(str(e).split())[:500]
            for c in g:
                row = (db.runs(cell_id=c.id) or [{}])[0]
                if row.get("status") != "done":
                    err = row.get("error") if row.get("status") == "failed" else None
                    err = err or f"submitit job {job.job_id} failed: {first}"
                    db.record_run(c.id, status="failed", error=err, finished=time.time())
                    out.append({"id": c.id, "status": "failed", "error": err, "seconds": None})
                else:
                    out.append({"id": c.id, "status": "done", "error": None, "seconds": row.get("seconds")})
    return out


# ---------------------------------------------------------------------------------------------------- a study
def cell_status(study: Study, cells: list[Cell]) -> dict[str, dict]:
    """Per cell id: its ``runs`` row (``{"status": "missing"}`` when the cell was never recorded)."""
    rows = {r["cell_id"]: r for r in ResultsDB(study.db_path).runs(study=study.name)} \
        if study.db_path.exists() else {}
    return {c.id: rows.get(c.id, {"status": "missing"}) for c in cells}


def run_study(study: Study, cells: list[Cell], *, force: bool = False, kind: str | None = None,
              parallel: int | None = None, log: Log = _echo, partial: bool = False) -> dict:
    """Run the cells of *study* that are not ``done`` (all with *force*); returns ``{"ran", "skipped", "results"}``.

    Before anything runs, every cell is registered in the database (status ``pending`` for new ones; ``active`` = 1
    for the study's cells and 0 for rows left from an earlier version of the study file, unless *partial*: *cells*
    is a selection) and the study file and its cells are copied into the study folder (``study.yaml``,
    ``cells.json``).
    """
    folder = study.folder
    folder.mkdir(parents=True, exist_ok=True)
    if not partial:
        if study.merged is not None:  # a file that extends others: the merged mapping, which reports read
            import yaml

            chain = " <- ".join(layer.source for layer in study.layers)
            atomic_write_text(folder / "study.yaml", f"# merged study file: {chain}\n"
                              + yaml.safe_dump({k: v for k, v in study.merged.items() if k != "extends"},
                                             sort_keys=False, allow_unicode=True))
        elif study.path is not None and study.path.is_file():
            atomic_write_text(folder / "study.yaml", study.path.read_text(encoding="utf-8"))
        atomic_write_json(folder / "cells.json", [{**c.to_payload(), "label": c.label, "phases": c.phases}
                                                  for c in cells])
    db = ResultsDB(study.db_path)
    db.ensure_runs([{"cell_id": c.id, **run_metadata(c, study.name), "status": "pending"} for c in cells])
    if not partial:
        db.set_active(study.name, [c.id for c in cells])
    status = cell_status(study, cells)
    todo = [c for c in cells if force or status[c.id].get("status") != "done"]
    skipped = len(cells) - len(todo)
    if skipped:
        log(f"{skipped} of {len(cells)} cell(s) already done")
    if not todo:
        return {"ran": 0, "skipped": skipped, "results": []}
    from ..trackers import resolve_trackers

    for names in dict.fromkeys(tuple(c.config.trackers) for c in todo):
        resolve_trackers(list(names))  # a tracker asked for by name but not installed: one error, before any cell
    ex = study.spec.executor
    kind = kind or ex.kind
    log(f"running {len(todo)} cell(s) of study {study.name} ({kind} executor) in {folder}")
    if kind == "local":
        results = run_local(study, todo, parallel or ex.parallel, ex.gpus, log)
    elif kind == "submitit":
        results = run_submitit(study, todo, log)
    else:
        raise ConfigError(f"unknown executor kind {kind!r}; expected local or submitit")
    return {"ran": len(todo), "skipped": skipped, "results": results}
