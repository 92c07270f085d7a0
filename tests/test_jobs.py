"""The background job queue: queueing, progress, cancellation, failures."""
import sys
import time
import types
from dataclasses import dataclass

import pytest

from kgml_core import jobs
from kgml_core.progress import ProgressEvent, report
from kgml_core.runs import RunStore


@dataclass
class _Cfg:
    steps: int = 3
    fail: bool = False
    delay: float = 0.01


def _install_fake_experiment(monkeypatch):
    module = types.ModuleType("fake_experiment")
    module.preset = lambda name, **kw: _Cfg(**kw)

    def run(cfg, store, progress, cancel):
        run_ = store.create("fake", {"steps": cfg.steps})
        for step in range(1, cfg.steps + 1):
            time.sleep(cfg.delay)
            report(progress, cancel, ProgressEvent("train", step, cfg.steps, 0, 0, {"loss": 1.0 / step}))
            if cfg.fail:
                raise RuntimeError("boom")
        run_.finish("finished")
        return run_
    module.run = run
    monkeypatch.setitem(sys.modules, "fake_experiment", module)
    monkeypatch.setitem(jobs.EXPERIMENTS, "fake", ("fake_experiment", "run"))


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
    with pytest.raises(TypeError):
        queue.submit("fake", overrides={"nonsense": 1})
