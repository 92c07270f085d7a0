"""The background job queue: queueing, progress, cancellation, failures."""
import sys
import time

import pytest

from kgml_core import jobs
from kgml_core.progress import ProgressEvent, report
from kgml_core.runs import RunStore
from tests.fake_experiment import FakeConfig, register_fake_experiment


def _install_fake_experiment(monkeypatch):
    def run(cfg, run_, progress, cancel):
        for step in range(1, cfg.steps + 1):
            time.sleep(cfg.delay)
            report(progress, cancel, ProgressEvent("train", step, cfg.steps, 0, 0, {"loss": 1.0 / step}))
            if cfg.fail:
                raise RuntimeError("boom")
        return {}
    register_fake_experiment(monkeypatch, "fake", run)


def test_jobs_queue_run_in_order_and_record_progress(monkeypatch, tmp_path):
    _install_fake_experiment(monkeypatch)
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    first = queue.submit("fake", overrides={"delay": 0.05}, name="first")
    second = queue.submit("fake", name="second")
    assert queue.position(second.id) in (0, 1)
    assert queue.wait(second.id, 30).status == "finished"
    done = queue.get(first.id)
    assert done.status == "finished" and done.ended <= queue.get(second.id).started + 1e-6
    assert [h["loss"] for h in done.history] == [1.0, 0.5, pytest.approx(1 / 3)]
    runs = RunStore(tmp_path).list()
    assert set(runs["name"]) == {"first", "second"}


def test_cancel_and_failure_are_reported(monkeypatch, tmp_path):
    _install_fake_experiment(monkeypatch)
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    slow = queue.submit("fake", overrides={"steps": 200, "delay": 0.02})
    queued = queue.submit("fake")
    queue.cancel(queued.id)
    time.sleep(0.2)
    queue.cancel(slow.id)
    assert queue.wait(slow.id, 30).status == "cancelled"
    assert queue.get(queued.id).status == "cancelled"
    bad = queue.submit("fake", overrides={"fail": True})
    failed = queue.wait(bad.id, 30)
    assert failed.status == "failed" and "boom" in failed.error


def test_unknown_kind_or_setting_fails_at_submit(monkeypatch, tmp_path):
    _install_fake_experiment(monkeypatch)
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        queue.submit("nope")
    with pytest.raises(ValueError, match="unknown .* keys \\['nonsense'\\]"):
        queue.submit("fake", overrides={"nonsense": 1})


def _dead_pid() -> int:
    import subprocess
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _install_resumable(monkeypatch, calls):
    def run(cfg, run_, progress, cancel):
        calls.append({"name": run_.name, "run": run_.id})
        return {}
    register_fake_experiment(monkeypatch, "fake_resumable", run, resumable=True)


def test_job_records_survive_a_restart(monkeypatch, tmp_path):
    """A dead server's queued job runs again; its running job shows as interrupted and resumes."""
    _install_fake_experiment(monkeypatch)
    calls = []
    _install_resumable(monkeypatch, calls)
    store = RunStore(tmp_path)
    dead = _dead_pid()
    run = store.create("fake_resumable", FakeConfig(steps=3).to_dict(), name="killed")
    run._update_status(pid=dead)
    folder = tmp_path / jobs.JOBS_FOLDER
    folder.mkdir()
    running = jobs.Job("job-1-1-aaaa", "fake_resumable", "killed", {"steps": 3}, "quick",
                       status="running", started=time.time(), run_id=run.id, pid=dead)
    waiting = jobs.Job("job-1-2-bbbb", "fake", "waiting", {"steps": 2}, "quick", pid=dead)
    for job in (running, waiting):
        jobs.write_json_atomic(folder / f"{job.id}.json", job.record())
    (folder / "job-1-3-cccc.json").write_text("{not json")  # a torn record is skipped

    queue = jobs.JobQueue(store, max_workers=1)
    assert queue.get(running.id).status == "interrupted" and queue.get(running.id).resumable
    assert queue.wait(waiting.id, 30).status == "finished"
    assert store.list().set_index("run_id").loc[run.id, "status"] == "interrupted"
    resumed = queue.resume(running.id)
    assert queue.wait(resumed.id, 30).status == "finished"
    assert calls == [{"name": "killed", "run": run.id}]  # the same run, reopened
    with pytest.raises(ValueError, match="resumed by"):
        queue.resume(running.id)

    again = jobs.JobQueue(store, max_workers=1)  # a second restart sees the same history
    assert {j.id: j.status for j in again.jobs()} == {
        running.id: "interrupted", waiting.id: "finished", resumed.id: "finished"}
    assert not again.get(running.id).resumable


def test_run_id_is_recorded_while_the_job_runs(monkeypatch, tmp_path):
    _install_fake_experiment(monkeypatch)
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    job = queue.submit("fake", overrides={"steps": 100, "delay": 0.02}, name="early")
    deadline = time.time() + 20
    while job.run_id is None and time.time() < deadline:
        time.sleep(0.02)
    on_disk = jobs.json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text())
    assert job.status == "running" and on_disk["run_id"] == job.run_id
    assert RunStore(tmp_path).get(job.run_id).name == "early"
    queue.cancel(job.id)
    assert queue.wait(job.id, 30).status == "cancelled"


def test_a_live_servers_jobs_are_not_taken_over(monkeypatch, tmp_path):
    _install_fake_experiment(monkeypatch)
    folder = tmp_path / jobs.JOBS_FOLDER
    folder.mkdir()
    mine = jobs.Job("job-1-1-dddd", "fake", "other server", {}, "quick", status="running",
                    started=time.time())  # owned by this (alive) process
    jobs.write_json_atomic(folder / f"{mine.id}.json", mine.record())
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    assert queue.jobs() == []


def test_live_readers_always_get_a_consistent_loss_history(monkeypatch, tmp_path):
    """The Train page's chart read the history while training appended: `Length of values (N) ... (N+1)`.

    With the former growing list, 300 such reads failed 22 times (1.8 s, shared machine).
    """
    import pandas as pd

    _install_fake_experiment(monkeypatch)
    monkeypatch.setattr(jobs, "HISTORY_LIMIT", 300)
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    job = queue.submit("fake", overrides={"steps": 10**7, "delay": 0.0})
    while len(job.history) < jobs.HISTORY_LIMIT:
        time.sleep(0.01)
    errors = []
    for _ in range(300):
        history = job.history  # what the page reads, while the worker thread adds points
        try:
            assert len(pd.DataFrame(history)) == len(history) == jobs.HISTORY_LIMIT
        except ValueError as err:  # pragma: no cover - the race this guards against
            errors.append(err)
    assert queue.get(job.id).status == "running" and not errors
    queue.cancel(job.id)
    assert queue.wait(job.id, 30).status == "cancelled" and isinstance(job.history, tuple)


def test_queue_caps_per_owner_and_per_server(monkeypatch, tmp_path):
    _install_fake_experiment(monkeypatch)
    monkeypatch.setattr(jobs, "MAX_QUEUED_PER_OWNER", 2)
    monkeypatch.setattr(jobs, "MAX_QUEUED", 3)
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    slow = {"steps": 400, "delay": 0.02}
    a1, a2 = (queue.submit("fake", overrides=slow, owner="alice") for _ in range(2))
    deadline = time.time() + 30
    while queue.get(a1.id).status != "running" and time.time() < deadline:  # a1 runs, a2 waits
        time.sleep(0.02)
    with pytest.raises(jobs.QueueFull, match="you already have 2 jobs"):
        queue.submit("fake", owner="alice")
    b1, b2 = (queue.submit("fake", overrides=slow, owner=f"bob{i}") for i in range(2))
    with pytest.raises(jobs.QueueFull, match="already waiting on this server"):
        queue.submit("fake", owner="carol")
    for job in (a1, a2, b1, b2):
        queue.cancel(job.id)
    for job in (a1, a2, b1, b2):
        queue.wait(job.id, 30)
    done = queue.wait(queue.submit("fake", owner="alice").id, 30)
    assert done.owner == "alice" and RunStore(tmp_path).get(done.run_id).owner == "alice"
    assert jobs.Job.from_record(done.record()).owner == "alice"


def test_notes_are_kept_apart_from_progress_and_saved(tmp_path):
    from kgml_core.progress import ProgressEvent
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    job = jobs.Job("j1", "state_vs_global", "n", {}, "tiny")
    record = queue._progress(job)
    record(ProgressEvent("global/step1", 1, 2, 1, 1, {"loss": 1.0}))
    record(ProgressEvent("reuse", 0, 0, 0, 0, {}, "pretraining reused from run r1", note=True))
    assert job.notes == ("pretraining reused from run r1",) and job.last.stage == "global/step1"
    assert jobs.Job.from_record(job.record()).notes == job.notes


def test_a_queued_job_counts_the_running_one_ahead_of_it(tmp_path):
    """While one job runs on the only worker, the next one waits for it: 1 job ahead, not 0."""
    from kgml_core.jobs import Job, JobQueue
    from kgml_core.runs import RunStore

    q = JobQueue(RunStore(tmp_path / "runs"), max_workers=1, restore=False)
    running = Job("job-a", "state_vs_global", "a", {}, "tiny", status="running", submitted=1.0)
    waiting = Job("job-b", "state_vs_global", "b", {}, "tiny", status="queued", submitted=2.0)
    q._jobs.update({"job-a": running, "job-b": waiting})
    assert q.position("job-b") == 1
    assert not running.cancelling
    running.cancel_token.cancel()
    assert running.cancelling  # shown as "cancelling" until the job stops
