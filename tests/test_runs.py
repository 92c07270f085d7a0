import json
import multiprocessing as mp
import os

import numpy as np
import pytest
import torch
import xarray as xr

from kgml_core.runs import RunBusy, RunStore


def test_create_save_and_reload(tmp_path):
    store = RunStore(tmp_path)
    run = store.create("state_vs_global", {"states": ["IL", "IA"], "seed": 3}, name="first")
    assert run.status == "running" and run.config["seed"] == 3
    run.log("hello")
    run.save_metrics({"headline": {"name": "rh_gain", "value": 0.2}, "x": 1})
    ds = xr.Dataset({"RA": (("unit", "time"), np.ones((2, 3)))},
                    coords={"unit": np.array(["17001", "17003"], dtype=object)})
    run.save_predictions(ds)
    run.save_weights("global", {"w": torch.arange(3.0)})
    run.finish()
    again = store.get(run.id)
    assert again.status == "finished"
    assert again.metrics()["x"] == 1
    assert again.predictions()["RA"].shape == (2, 3)
    assert torch.equal(again.load_weights("global")["w"], torch.arange(3.0))
    assert "hello" in again.read_log()
    table = store.list()
    assert table.loc[0, "name"] == "first" and table.loc[0, "states"] == "IL IA"
    assert table.loc[0, "headline"] == pytest.approx(0.2)
    assert table.loc[0, "seconds"] >= 0
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())


def test_rename_delete_and_bad_ids(tmp_path):
    store = RunStore(tmp_path)
    run = store.create("k", {})
    store.rename(run.id, "renamed")
    assert store.list().loc[0, "name"] == "renamed"
    with pytest.raises(RunBusy, match="still running"):  # its job still writes into it
        store.delete(run.id)
    run.finish()
    store.delete(run.id)
    assert store.list().empty
    with pytest.raises(KeyError):
        store.get(run.id)
    with pytest.raises(KeyError):  # deleted by someone else meanwhile: refused, nothing else touched
        store.delete(run.id)
    with pytest.raises(KeyError):
        store.rename(run.id, "again")
    with pytest.raises(KeyError):
        store.get("../../etc")
    with pytest.raises(ValueError):
        store.create("k", {}).finish("weird")


def test_dead_process_is_interrupted(tmp_path):
    store = RunStore(tmp_path)
    run = store.create("k", {})
    state = json.loads((run.path / "status.json").read_text())
    proc = mp.get_context("fork").Process(target=os._exit, args=(0,))
    proc.start()
    proc.join()
    state["pid"] = proc.pid  # a pid that has exited
    (run.path / "status.json").write_text(json.dumps(state))
    assert store.list().loc[0, "status"] == "interrupted"
    stale = RunStore(tmp_path, stale_after=-1)
    run2 = stale.create("k", {})
    assert run2.status == "interrupted"


def _make_runs(root, n):
    store = RunStore(root)
    for i in range(n):
        store.create("k", {"i": i}).finish()


def test_concurrent_creates_keep_every_run(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_make_runs, args=(tmp_path, 5)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    table = RunStore(tmp_path).list()
    assert len(table) == 15 and (table["status"] == "finished").all()


def test_rebuild_index(tmp_path):
    store = RunStore(tmp_path)
    run = store.create("k", {"states": "IL"})
    (tmp_path / "index.json").unlink()
    store.rebuild_index()
    assert store.list().loc[0, "run_id"] == run.id


def test_weights_name_checked(tmp_path):
    run = RunStore(tmp_path).create("k", {})
    with pytest.raises(ValueError):
        run.save_weights("../x", {})
    with pytest.raises(FileNotFoundError):
        run.load_weights("absent")


def test_recording_marks_how_the_block_ended(tmp_path):
    from kgml_core.progress import Cancelled
    store = RunStore(tmp_path)
    with store.create("fake", {}).recording() as ok:
        ok.log("work")
    with store.create("fake", {}).recording() as stopped:
        raise Cancelled("stop")
    with pytest.raises(RuntimeError), store.create("fake", {}).recording() as broken:
        raise RuntimeError("boom")
    assert (ok.status, stopped.status, broken.status) == ("finished", "cancelled", "failed")
    assert "failed: RuntimeError: boom" in broken.read_log()


def test_datasets_reopen_and_creation_hook(tmp_path):
    store = RunStore(tmp_path)
    seen = []
    watched = store.observed(seen.append)
    run = watched.create("toy", {"a": 1}, name="hooked")
    assert [r.id for r in seen] == [run.id]
    ds = xr.Dataset({"GPP": (("unit",), np.arange(3.0))})
    run.save_dataset("upscaled", ds)
    assert run.has_dataset("upscaled") and not run.has_dataset("other")
    xr.testing.assert_identical(run.dataset("upscaled"), ds)
    with pytest.raises(FileNotFoundError, match="no other"):
        run.dataset("other")
    with pytest.raises(ValueError, match="letters, digits"):
        run.save_dataset("../escape", ds)
    with pytest.raises(ValueError, match="not 'other'"):
        store.reopen(run.id, "other")
    run.finish("cancelled")
    again = watched.reopen(run.id, "toy")
    assert again.status == "running" and [r.id for r in seen] == [run.id, run.id]
    assert store.list().set_index("run_id").loc[run.id, "status"] == "running"
    again.finish("finished")
    with pytest.raises(ValueError, match="finished"):
        store.reopen(run.id, "toy")
