"""The Train page after a restart: an interrupted job is shown as such and can be resumed."""
from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from components import runtime
from kgml_core import jobs
from kgml_core.runs import RunStore
from tests.fake_experiment import FakeConfig, register_fake_experiment

from .conftest import REPO


@pytest.fixture()
def resumable_kind(monkeypatch):
    calls = []

    def run(cfg, run_, progress, cancel):
        calls.append(run_.id)
        return {}
    register_fake_experiment(monkeypatch, "page_fake", run, resumable=True)
    monkeypatch.chdir(REPO)
    return calls


def test_interrupted_job_shows_and_resumes(resumable_kind, tmp_path, monkeypatch):
    monkeypatch.setenv("KGML_RUNS_DIR", str(tmp_path / "runs"))
    store = RunStore()
    run = store.create("page_fake", FakeConfig().to_dict(), name="was running")
    dead = 2**22 + 12345  # beyond the default pid_max: no such process
    run._update_status(pid=dead)
    job = jobs.Job("job-1-1-abcd", "page_fake", "was running", {}, "quick", status="running",
                   started=time.time(), run_id=run.id, pid=dead)
    (store.root / jobs.JOBS_FOLDER).mkdir()
    jobs.write_json_atomic(store.root / jobs.JOBS_FOLDER / f"{job.id}.json", job.record())
    runtime.job_queue.clear()  # the restarted server's queue
    try:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
        at = at.switch_page("pages/train.py").run()
        assert not at.exception
        assert any("interrupted" in w.value and run.id in w.value for w in at.warning)
        at.button(key=f"resume_{job.id}").click().run()
        assert not at.exception
        queue = runtime.job_queue()
        resumed = queue.get(queue.get(job.id).resumed_by)
        assert queue.wait(resumed.id, 30).status == "finished" and resumable_kind == [run.id]
        at.run()
        assert any(f"resumed as job {resumed.id}" in c.value for c in at.caption)
    finally:
        runtime.job_queue.clear()
