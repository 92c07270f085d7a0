"""Whole jobs on a Dask cluster of worker processes: the run lands in the shared store with the in-process
results, the worker's progress comes back, and cancel reaches it.

Robust on a busy machine: generous timeouts, waits that poll for a condition, one worker process.
"""
import os
import time

import dask
import pytest
import torch

from kgml_core import distributed as D
from kgml_core.distributed import remote
from kgml_core.experiments.state_vs_global import preset, run_state_vs_global
from kgml_core.jobs import TERMINAL, JobQueue
from kgml_core.progress import ProgressEvent
from kgml_core.runs import RunStore
from tests.experiments.test_stage_reuse import assert_same_scores

torch.set_num_threads(1)
TIMEOUT = 900  # s: a worker process that imports torch and trains on a busy 2-core machine
TINY = {"states": ("IL",), "threads": 1}


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    """A local cluster of one single-threaded worker process, used through its address like a remote one.

    The worker inherits this environment: no stage reuse (each run trains), its own cache folder.
    """
    home = tmp_path_factory.mktemp("kgml")
    keys = ("KGML_STAGE_CACHE_MB", "KGML_CACHE_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(KGML_STAGE_CACHE_MB="0", KGML_CACHE_DIR=str(home / "cache"))
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "180s"}), \
                D.dask_client(n_workers=1, processes=True) as client:
            yield client.scheduler.address
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _wait_for(condition, what: str) -> None:
    deadline = time.time() + TIMEOUT
    while not condition():
        assert time.time() < deadline, f"no {what} after {TIMEOUT} s"
        time.sleep(0.05)


def test_a_job_runs_on_the_cluster_with_the_in_process_results(address, tmp_path):
    store = RunStore(tmp_path / "runs")
    local = run_state_vs_global(preset("tiny", scheduler="sequential", **TINY), store)
    queue = JobQueue(store, restore=False)
    job = queue.wait(queue.submit("state_vs_global", "tiny", {**TINY, "scheduler": address}).id, TIMEOUT)
    assert job.status == "finished", job.error
    run = store.get(job.run_id)
    assert run.status == "finished" and run.config["scheduler"] == address
    assert run._status()["pid"] != os.getpid()                      # written by the worker process
    assert f"handed to the Dask cluster at {address}" in job.notes
    assert job.history and job.last.stage != "preparing"            # the worker's progress came back
    assert not (store.root / "jobs" / "remote" / job.id).exists()
    assert_same_scores(run.metrics()["states"], local.metrics()["states"], rel=1e-4)


def test_cancel_reaches_a_job_on_the_cluster(address, tmp_path, monkeypatch):
    monkeypatch.setenv("KGML_DASK_SCHEDULER", address)               # "auto" hands jobs to it
    store = RunStore(tmp_path / "runs")
    queue = JobQueue(store, restore=False)
    # a step 3 far longer than the cancel takes to arrive (the tiny run's own ends between two polls)
    job = queue.submit("state_vs_global", "tiny", {**TINY, "protocol": {"step3": {"epochs": 4000}}})
    _wait_for(lambda: (job.last and job.last.stage.startswith("global/step3")) or job.status in TERMINAL,
              "global/step3 from the worker")
    queue.cancel(job.id)
    job = queue.wait(job.id, TIMEOUT)
    assert job.status == "cancelled", job.error
    assert job.run_id and store.get(job.run_id).status == "cancelled"


def test_where_a_job_runs(monkeypatch):
    monkeypatch.delenv("KGML_DASK_SCHEDULER", raising=False)
    assert remote.job_scheduler(preset("tiny")) is None
    assert remote.job_scheduler(preset("tiny", scheduler="tcp://10.0.0.1:8786")) == "tcp://10.0.0.1:8786"
    monkeypatch.setenv("KGML_DASK_SCHEDULER", "tcp://10.0.0.2:8786")
    assert remote.job_scheduler(preset("tiny")) == "tcp://10.0.0.2:8786"
    assert remote.job_scheduler(preset("tiny", scheduler="sequential")) is None
    assert remote.job_scheduler(object()) == "tcp://10.0.0.2:8786"   # experiments without the setting


def test_channel_passes_complete_messages_and_the_cancel_file(tmp_path):
    server = remote.JobChannel(tmp_path / "c").open()
    worker = remote.JobChannel(tmp_path / "c")
    token = remote.FileCancelToken(worker.cancel_file)
    worker.progress(ProgressEvent("global/step2", 1, 3, 2, 5, {"nee": 0.5}))
    with open(server.events, "a") as f:
        f.write('{"run_id": "20260101-0000')                          # a line still being written
    got = server.receive()
    assert [remote.event_of(m) for m in got] == [ProgressEvent("global/step2", 1, 3, 2, 5, {"nee": 0.5})]
    assert not token.cancelled
    server.ask_cancel()
    assert token.cancelled
    worker.close()
    server.remove()
    assert not (tmp_path / "c").exists()


def test_an_unreachable_scheduler_fails_the_job_with_its_address(tmp_path):
    store = RunStore(tmp_path / "runs")
    queue = JobQueue(store, restore=False)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        job = queue.wait(queue.submit("state_vs_global", "tiny", {**TINY, "scheduler": "tcp://127.0.0.1:9"}).id,
                         TIMEOUT)
    assert job.status == "failed" and "tcp://127.0.0.1:9" in job.error
