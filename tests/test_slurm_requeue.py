"""Cluster jobs: a submitit job that gets its timeout signal (SIGUSR2) checkpoints its training phase at a step
boundary, requeues itself through submitit and resumes from that checkpoint; SIGTERM checkpoints and stops; cluster
cells train with periodic checkpoints by default."""

import os
import signal
import time

import pytest
import yaml

from fixtures import write_pawsx, write_tatoeba
from xstilts.io import read_json
from xstilts.study import ResultsDB, expand
from xstilts.study.executors import CLUSTER_CHECKPOINT_EVERY, GroupJob, with_cluster_checkpoints
from xstilts.study.spec import study_from_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _study(tmp_path, tiny_model, steps: int) -> dict:
    pawsx = write_pawsx(tmp_path / "pawsx", langs=("en",), n_train=48, n_test=8)
    kjv = tmp_path / "kjv"
    kjv.mkdir()
    for split in ("train", "dev", "test"):
        (kjv / f"{split}.tsv").write_text((pawsx / "en" / "train.tsv").read_text())
    sents = ["alpha beta gamma", "cat dog bird", "red green tree"]
    tat = write_tatoeba(tmp_path / "tatoeba", {"deu": (sents, sents)})
    return {
        "name": "r", "output_dir": str(tmp_path / "studies"), "baseline": False,
        "fixed": {"num_threads": 1, "device": "cpu", "model": {"name_or_path": str(tiny_model), "max_length": 24},
                  "intermediate": {"lr": 1e-3, "batch_size": 8, "log_every": 5, "checkpoint_every": 20},
                  "evaluation": {"retrieval_layer": "last"}},
        "task_defaults": {"kjv-web-paraphrase": {"data_dir": str(kjv), "max_eval_examples": 8},
                          "tatoeba": {"data_dir": str(tat), "languages": "all"}},
        "axes": {"intermediate": [["kjv-web-paraphrase"]], "budget": [{"steps": steps}], "target": ["tatoeba"],
                 "seed": [1]},
    }


def test_a_job_killed_with_its_timeout_signal_requeues_and_resumes(tmp_path, tiny_model):
    submitit = pytest.importorskip("submitit")
    import psutil

    study = study_from_dict(_study(tmp_path, tiny_model, steps=400))
    (cell,) = expand(study)
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=10)
    job = executor.submit(GroupJob([cell.to_payload()], str(study.db_path), study.name, os.getcwd()))
    # once the intermediate phase has its first periodic checkpoint, send the job the signal submitit's executors
    # send signal_delay_s before the time limit
    deadline = time.time() + 240
    while not list(study.store.glob(".intermediate-*.partial/train_state/step-*")):
        assert job.state == "RUNNING" and time.time() < deadline, (job.state, job.stderr())
        time.sleep(0.05)
    (task,) = psutil.Process(job._process.pid).children()
    os.kill(task.pid, signal.SIGUSR2)
    (res,) = job.result()
    assert res["status"] == "done", res
    log = (job.stdout() or "") + (job.stderr() or "")
    assert "Requeued job" in log and "this job is timed-out" in log, log[-3000:]
    (inter,) = study.store.glob("intermediate-*")
    train = read_json(inter / "metrics.json")["train"]
    resumed = int(train["resumed_from"].rsplit("-", 1)[1])  # the checkpoint saved on the signal
    assert 20 <= resumed < 400 and train["steps_trained"] == 400
    assert [c[0] for c in train["loss_curve"]] == list(range(5, 401, 5))  # nothing lost or repeated
    (row,) = ResultsDB(study.db_path).runs()
    assert row["status"] == "done" and not row["error"]


def test_signals_stop_training_and_only_the_timeout_signal_requeues(monkeypatch, tmp_path):
    import xstilts.study.executors as ex
    from xstilts.train import STOP, Preempted

    handled = []

    class Handler:  # stands for submitit's SignalHandler (its checkpoint_and_try_requeue)
        def checkpoint_and_try_requeue(self, signum, frame=None):
            handled.append(signum)
            raise SystemExit(-1)  # submitit exits after requeueing

    Handler.__module__ = "submitit.core.job_environment"
    ran = []

    def training_cell(payload, db, name):
        ran.append(payload["id"])
        if payload["id"] == "done-before":
            return {"id": payload["id"], "status": "done"}
        STOP["in_training"] = True
        try:
            os.kill(os.getpid(), payload["signal"])
            for _ in range(100):  # the training loop: stops at the next step boundary, after a checkpoint
                if STOP["requested"]:
                    raise Preempted("stopped on request at optimizer step 3/9; checkpoint saved")
                time.sleep(0.01)
            raise AssertionError("the signal did not ask the training loop to stop")
        finally:
            STOP["in_training"] = False

    monkeypatch.setattr(ex, "execute_cell", training_cell)
    old = signal.signal(signal.SIGUSR2, Handler().checkpoint_and_try_requeue)
    try:
        payloads = [{"id": "done-before"}, {"id": "x", "signal": signal.SIGUSR2}]
        job = GroupJob(payloads, str(tmp_path / "db.sqlite"), "s")
        with pytest.raises(SystemExit):
            job()
        assert handled == [signal.SIGUSR2] and ran == ["done-before", "x"]
        assert [r["id"] for r in job.results] == ["done-before"]  # the requeued job skips it
        assert ResultsDB(tmp_path / "db.sqlite").runs(cell_id="x")[0]["status"] == "pending"
        again = job.checkpoint().function
        assert isinstance(again, GroupJob) and again.results == job.results

        ran.clear()
        job = GroupJob([{"id": "y", "signal": signal.SIGTERM}], str(tmp_path / "db.sqlite"), "s")
        with pytest.raises(Preempted):  # SIGTERM: checkpoint and stop, no requeue (scancel, or SLURM requeues)
            job()
        assert handled == [signal.SIGUSR2] and ran == ["y"]
        assert signal.getsignal(signal.SIGUSR2).__self__.__class__ is Handler  # handlers restored
        assert not STOP["requested"]
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_cluster_cells_checkpoint_periodically_unless_set(tmp_path, tiny_model):
    cell = _study(tmp_path, tiny_model, 10)
    cell["fixed"]["intermediate"].pop("checkpoint_every")
    (c,) = expand(study_from_dict(cell))
    p = with_cluster_checkpoints(c.to_payload())
    assert p["config"]["intermediate"]["checkpoint_every"] == CLUSTER_CHECKPOINT_EVERY
    assert p["config"]["target"]["checkpoint_every"] == CLUSTER_CHECKPOINT_EVERY
    assert c.to_payload()["config"].get("intermediate", {}).get("checkpoint_every") is None  # a copy
    cell["fixed"]["intermediate"]["checkpoint_every"] = 0  # written explicitly: kept
    (c,) = expand(study_from_dict(cell))
    assert with_cluster_checkpoints(c.to_payload())["config"]["intermediate"]["checkpoint_every"] == 0
    assert yaml.safe_dump(p)  # still a plain JSON-able payload
