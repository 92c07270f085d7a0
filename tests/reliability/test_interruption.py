"""SIGKILL during training: no half-written run is visible, the job shows as interrupted after a restart."""
from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time

import pytest

from kgml_core.jobs import JobQueue
from kgml_core.runs import RunStore

from .conftest import python

TRAIN = textwrap.dedent("""
    import sys, time
    from kgml_core.jobs import JobQueue
    from kgml_core.runs import RunStore
    queue = JobQueue(RunStore(sys.argv[1] if len(sys.argv) > 1 else None))
    # step 3 long enough (about 3 s on a quiet machine) to be seen and killed in: with one epoch
    # the fused GRU finishes it between two polls
    job = queue.submit("state_vs_global", "tiny", {"threads": 1, "states": ("IA", "IL"),
                                                   "protocol": {"step3": {"epochs": 400}}}, name="killed")
    seen = None
    while True:
        state = queue.get(job.id)
        event = state.last
        if event is not None and event.stage != seen:
            seen = event.stage
            print(seen, state.run_id, flush=True)
        if state.status not in ("queued", "running"):
            print("END", state.status, flush=True)   # the test fails instead of waiting forever
            break
        time.sleep(0.02)
""")


def _train_until(home, stage_prefix: str, timeout_s: float = 150) -> str:
    """Train the tiny preset in a child process, SIGKILL it at ``stage_prefix``; the run id."""
    proc = python(TRAIN, home, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    try:
        for line in proc.stdout:
            stage, run_id = line.split()
            if stage == "END":
                break
            if stage.startswith(stage_prefix):
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                return run_id
            if time.time() > deadline:
                break
        pytest.fail(f"training never reached {stage_prefix} (exit {proc.poll()})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    raise AssertionError("unreachable")


def test_sigkill_mid_training_leaves_an_interrupted_readable_run(tmp_path):
    run_id = _train_until(tmp_path, "global/step3")
    store = RunStore(tmp_path / "runs")
    table = store.list()
    assert table["run_id"].tolist() == [run_id] and table.loc[0, "status"] == "interrupted"
    run = store.get(run_id)
    assert run.config["preset"] == "tiny" and run.config["states"] == ["IA", "IL"]
    # nothing the kill interrupted is presented as complete: only finished stages' checkpoints
    checkpoints = set(run.weight_names())
    assert run.metrics() == {} and checkpoints == {"pretrained"}  # killed in global/step3
    with pytest.raises(FileNotFoundError):
        run.predictions()
    for path in run.path.glob("*.json"):
        json.loads(path.read_text())

    queue = JobQueue(store)  # the restarted server
    [job] = queue.jobs()
    assert (job.status, job.run_id, job.name, job.resumable) == ("interrupted", run_id, "killed", True)

    resumed = queue.wait(queue.resume(job.id).id, timeout_s=300)
    assert resumed.status == "finished", resumed.error
    assert resumed.run_id == run_id  # the same run, continued from its last checkpoint
    done = store.get(run_id)
    assert done.status == "finished" and "IA" in done.metrics()["states"]
    assert set(done.metrics()["resumed_stages"]) == checkpoints  # pretraining was not redone


KILL_AT_INDEX = textwrap.dedent("""
    import os, sys
    from kgml_core.runs import RunStore
    store = RunStore(sys.argv[1])
    store.create("fake", {"a": 1}, name="before")
    store._update_index = lambda *a, **k: os._exit(9)   # die between the directory and the index
    store.create("fake", {"a": 2}, name="lost?")
""")

KILL_IN_WRITE = textwrap.dedent("""
    import json, os, sys
    from kgml_core.runs import RunStore
    store = RunStore(sys.argv[1])
    run = store.create("fake", {"a": 1}, name="kept")
    def torn(obj, fh, **kw):
        fh.write('{"half": ')
        fh.flush()
        os._exit(9)                                      # die half-way through a JSON rewrite
    json.dump = torn
    store.rename(run.id, "new name")
""")


@pytest.mark.parametrize("script, names", [(KILL_AT_INDEX, {"before", "lost?"}), (KILL_IN_WRITE, {"kept"})])
def test_kill_inside_the_run_store_loses_nothing(tmp_path, script, names):
    root = tmp_path / "runs"
    root.mkdir()
    proc = python(script.replace("sys.argv[1]", repr(str(root))), tmp_path)
    assert proc.wait(60) == 9
    index = json.loads((root / "index.json").read_text())  # still whole JSON
    assert len(index) == len(names) - (script is KILL_AT_INDEX)
    JobQueue(RunStore(root), restore=True)  # start-up repairs the index from the run directories
    table = RunStore(root).list()
    assert set(table["name"]) == names
    assert set(table["status"]) <= {"interrupted"}
