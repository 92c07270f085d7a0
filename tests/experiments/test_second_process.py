"""The independent stages of a state-vs-global run (level-1, state and region models with their pull
validation) trained in a second process beside the run's own give the sequential run's results."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from kgml_core import distributed as D
from kgml_core.experiments.state_vs_global import preset, run_state_vs_global
from kgml_core.experiments.state_vs_global import training as T
from kgml_core.runs import RunStore
from kgml_core.stages import describe

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny run (two towers per state: the pulls are chosen by validation; a heterogeneity-0 point)
    sequential and beside."""
    root = tmp_path_factory.mktemp("beside")
    cfg = preset("tiny", states=("IL", "IA"), sites_per_state=2, threads=1, sweep=(0.0,))
    store, events = RunStore(root / "runs"), []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KGML_STAGE_CACHE_MB", "0")              # nothing reused: both runs train every stage
        mp.delenv("KGML_DASK_SCHEDULER", raising=False)
        sequential = run_state_vs_global(replace(cfg, scheduler="sequential"), store)
        mp.setattr(T, "BESIDE_MIN_WORK", 0.0)               # tiny stages: worth a second process here
        mp.setattr(D.cluster, "free_cores", lambda: 1.0)    # the second process, not a local Dask cluster
        beside = run_state_vs_global(cfg, store, progress=events.append)
    return sequential, beside, events


def test_the_second_process_ran_the_independent_stages(runs):
    sequential, beside, events = runs
    assert sequential.metrics()["parallel"] == "sequential"
    assert beside.metrics()["parallel"] == "a second process beside this one"
    notes = [e.message for e in events if e.note and "second process" in e.message]
    assert len(notes) == 2 and "level-1 model" in notes[0]         # started before the pretraining
    assert "level-1 model" not in notes[1]                          # the sweep point's state estimates
    remote = {name for note in notes for name in note.split(": ")[1].split(", ")}     # named for people
    done = {e.stage for e in events if e.message.endswith("trained in a second process")}
    assert all(stage == "no_knowledge" or stage.endswith("/step5") for stage in done)
    assert {describe(stage.split("/")[0]) for stage in done} == remote
    assert "stage no_knowledge done" in beside.read_log()


def test_same_weights_pulls_and_scores_as_sequential(runs):
    sequential, beside, _ = runs
    assert sorted(beside.weight_names()) == sorted(sequential.weight_names())
    for key in sequential.weight_names():
        a, b = sequential.load_weights(key), beside.load_weights(key)
        for name in a:
            assert torch.equal(a[name], b[name]), (key, name)
    ms, mb = sequential.metrics(), beside.metrics()
    pulls = {kind: {g: row.get("pull") for g, row in ms["parameters"][kind].items()} for kind in ("state", "region")}
    assert any(p is not None for rows in pulls.values() for p in rows.values())   # validation chose pulls
    for key in ("states", "by_split", "bootstrap", "parameters", "regions", "ceiling", "headline",
                "heterogeneity_sweep"):
        assert mb[key] == ms[key], key
    pb, ps = beside.predictions(), sequential.predictions()
    assert sorted(pb.data_vars) == sorted(ps.data_vars)
    for name in ps.data_vars:      # every rung; beside, the estimates and the global model predicted in either process
        np.testing.assert_array_equal(pb[name].values, ps[name].values, err_msg=name)
