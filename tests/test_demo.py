"""Example results: a labelled set of runs made by the project's own experiments, found again by name."""
import pandas as pd
import pytest

from kgml_core import demo
from kgml_core.runs import RunStore


def test_demo_jobs_are_labelled_and_presets_checked():
    jobs = demo.demo_jobs("tiny")
    assert {kind for kind, *_ in jobs} == {"state_vs_global", "tamrl"}
    assert all(name.startswith(demo.EXAMPLE_PREFIX) and name.endswith("(tiny)") for *_, name in jobs)
    with pytest.raises(ValueError, match="demo preset"):
        demo.demo_jobs("full")


def test_example_runs_keeps_finished_example_runs_only():
    table = pd.DataFrame({"run_id": ["a", "b", "c"], "status": ["finished", "finished", "running"],
                          "name": ["Example: x (tiny)", "mine", "Example: y (tiny)"],
                          "created": ["2026-01-01", "2026-01-02", "2026-01-03"]})
    assert list(demo.example_runs(table)["run_id"]) == ["a"]
    assert demo.example_runs(pd.DataFrame()).empty


def test_make_demo_runs_the_experiments_into_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_SET", demo.DEMO_SET[:1])  # the state-vs-global example only (seconds)
    store = RunStore(tmp_path / "runs")
    (run,) = demo.make_demo("tiny", store=store)
    assert run.status == "finished" and run.name.startswith("Example: state-specific against global")
    assert list(demo.example_runs(store.list())["run_id"]) == [run.id]
    assert run.metrics()["bootstrap"]
