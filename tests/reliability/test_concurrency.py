"""Several sessions training at once, other processes writing the run store, two processes filling one cache."""
from __future__ import annotations

import json
import textwrap
import threading
import time

from kgml_core import jobs
from kgml_core.progress import ProgressEvent, report
from kgml_core.runs import RunStore
from tests.fake_experiment import register_fake_experiment

from .conftest import python

N_SESSIONS, JOBS_PER_SESSION, N_PROCESSES, RUNS_PER_PROCESS = 4, 2, 3, 8


def _fake_run(cfg, run_, progress, cancel):
    for step in range(1, cfg.steps + 1):
        time.sleep(0.01)
        report(progress, cancel, ProgressEvent("train", step, cfg.steps, 0, 0, {"loss": 1.0 / step}))
        run_.heartbeat()
    return {"headline": {"name": "steps", "value": cfg.steps}}


WRITER = textwrap.dedent("""
    import sys
    from kgml_core.runs import RunStore
    store = RunStore(sys.argv[1])
    for i in range({n}):
        run = store.create("writer", {{"i": i}}, name=f"p{{sys.argv[2]}}-{{i}}")
        store.rename(run.id, f"proc {{sys.argv[2]}} run {{i}}")
        run.finish("finished")
""")


def test_concurrent_sessions_and_processes_lose_nothing(monkeypatch, tmp_path):
    register_fake_experiment(monkeypatch, "fake", _fake_run)
    root = tmp_path / "runs"
    store = RunStore(root)
    queue = jobs.JobQueue(store, max_workers=2)
    real = queue.submit("state_vs_global", "tiny", {"threads": 1, "states": ("IA",)}, name="real tiny")
    writers = [python(WRITER.format(n=RUNS_PER_PROCESS).replace("sys.argv[1]", repr(str(root)))
                      .replace("sys.argv[2]", repr(str(p))), tmp_path) for p in range(N_PROCESSES)]
    submitted: list[str] = []

    def session(s: int) -> None:
        for j in range(JOBS_PER_SESSION):
            submitted.append(queue.submit("fake", "quick", {"steps": 3 + j}, name=f"s{s} job {j}").id)

    threads = [threading.Thread(target=session, args=(s,)) for s in range(N_SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(w.wait(120) == 0 for w in writers)
    ended = [queue.wait(job_id, 180) for job_id in [*submitted, real.id]]

    assert [j.status for j in ended] == ["finished"] * (N_SESSIONS * JOBS_PER_SESSION + 1), \
        [(j.name, j.status, j.error) for j in ended]
    index = json.loads((root / "index.json").read_text())
    on_disk = {p.name for p in root.iterdir() if p.is_dir() and (p / "status.json").exists()}
    assert set(index) == on_disk
    assert len(on_disk) == N_SESSIONS * JOBS_PER_SESSION + 1 + N_PROCESSES * RUNS_PER_PROCESS
    table = store.list()
    assert table["run_id"].is_unique and set(table["status"]) == {"finished"}
    for run_id, row in index.items():  # index and run directories agree on every name
        assert row["name"] == store.get(run_id).name
    assert {j.run_id for j in ended} <= on_disk and len({j.run_id for j in ended}) == len(ended)
    assert sorted(table["name"])[:2] == ["proc 0 run 0", "proc 0 run 1"]
    assert store.get(real.run_id).metrics()["headline"]["value"] is not None


LOAD_WORLD = textwrap.dedent("""
    import time
    from kgml_core.simulator import WorldConfig, load_world
    time.sleep(max(0.0, START - time.time()))  # both processes simulate at the same moment
    ds = load_world(WorldConfig(states=("RI",), years=(2012, 2012), seed=7))
    print(float(ds["NEE"].sum()))
""")


def test_two_processes_filling_one_cache_write_one_valid_file(tmp_path):
    import subprocess

    import xarray as xr

    code = LOAD_WORLD.replace("START", repr(time.time() + 6))
    procs = [python(code, tmp_path, stdout=subprocess.PIPE) for _ in range(2)]
    sums = [float(p.communicate(timeout=180)[0].split()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    files = sorted((tmp_path / "cache").iterdir())
    assert [f.suffix for f in files] == [".nc"] and not files[0].name.startswith(".")
    assert float(xr.load_dataset(files[0])["NEE"].sum()) == sums[0] == sums[1]
