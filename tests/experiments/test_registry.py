"""One registry: a new experiment registered in one line runs from the CLI and from the job queue."""
import json

import numpy as np
import pytest
import xarray as xr

from kgml_core import experiments, jobs
from kgml_core.cli import main
from kgml_core.progress import ProgressEvent, report
from kgml_core.runs import RunStore
from tests.fake_experiment import register_fake_experiment


def _toy(cfg, run, progress, cancel):
    """Sums 1..steps and saves it as a dataset: a complete experiment in a few lines."""
    for step in range(1, cfg.steps + 1):
        report(progress, cancel, ProgressEvent("toy", step, cfg.steps, 0, 0, {"loss": 1.0 / step}))
    run.save_predictions(xr.Dataset({"x": ("step", np.arange(1.0, cfg.steps + 1))}))
    return {"total": cfg.steps * (cfg.steps + 1) / 2, "headline": {"name": "total", "value": float(cfg.steps)}}


def test_registry_lists_every_experiment_with_its_texts():
    for kind, experiment in experiments.EXPERIMENTS.items():
        assert experiment.kind == kind and experiment.title and experiment.cli_name
        assert {"quick", "tiny"} <= set(experiment.config_class.preset_names())
        assert experiments.by_cli_name(experiment.cli_name) is experiment
        config = experiment.config("tiny")
        assert type(config).from_dict(json.loads(json.dumps(config.to_dict()))) == config
        assert all(s.key in config.to_dict() for s in experiment.settings)
        assert all(o.key in config.to_dict() for o in experiment.options)
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        experiments.get("nope")


def test_toy_experiment_runs_from_the_cli(monkeypatch, tmp_path):
    register_fake_experiment(monkeypatch, "toy_sum", _toy)
    out, store = tmp_path / "out", tmp_path / "runs"
    code = main(["experiment", "toy-sum", "--preset", "tiny", "--set", "steps=4", "--set", "delay=0",
                 "--out", str(out), "--store", str(store), "--quiet"])
    assert code == 0
    assert json.loads((out / "metrics.json").read_text())["total"] == 10
    run = RunStore(store).get(RunStore(store).list()["run_id"].iloc[0])
    assert run.kind == "toy_sum" and run.config["steps"] == 4 and run.config["preset"] == "tiny"
    assert run.status == "finished" and run.predictions()["x"].sum() == 10
    assert main(["experiment", "toy-sum", "--set", "stepz=1", "--out", str(out), "--store", str(store)]) == 2
    assert len(RunStore(store).list()) == 1  # a bad setting creates no run


def test_toy_experiment_runs_from_the_job_queue(monkeypatch, tmp_path):
    register_fake_experiment(monkeypatch, "toy_sum", _toy)
    queue = jobs.JobQueue(RunStore(tmp_path), max_workers=1)
    job = queue.wait(queue.submit("toy_sum", "quick", {"steps": 3}, name="toy").id, 30)
    assert job.status == "finished" and [h["loss"] for h in job.history][-1] == pytest.approx(1 / 3)
    run = RunStore(tmp_path).get(job.run_id)
    assert run.name == "toy" and run.metrics()["total"] == 6


def test_the_template_registers_in_one_line_and_runs_from_cli_and_queue(monkeypatch, tmp_path):
    """The new-experiment template, registered as a user would, through both entry points."""
    from kgml_core.experiments.template import ProcessBaseline

    monkeypatch.setitem(experiments.EXPERIMENTS, ProcessBaseline.kind, ProcessBaseline())
    store = tmp_path / "runs"
    assert main(["experiment", "process-baseline", "--preset", "tiny", "--states", "IL", "--out",
                 str(tmp_path / "out"), "--store", str(store), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics["states"]) == {"IL"} and metrics["states"]["IL"]["RH"]["n"] > 0
    assert metrics["headline"]["value"] == pytest.approx(metrics["states"]["IL"]["RH"]["rmse"])
    queue = jobs.JobQueue(RunStore(store), max_workers=1)
    job = queue.wait(queue.submit("process_baseline", "tiny", {"states": ("IA",)}).id, 120)
    assert job.status == "finished", job.error
    results = experiments.get("process_baseline").results(RunStore(store).get(job.run_id))
    assert list(results.summary_table().index.get_level_values("state").unique()) == ["IA"]
    assert list(results.map_dataset()["model"].values) == ["truth", "process_model"]


def test_cli_shortcuts_and_set_give_the_same_config(tmp_path, monkeypatch):
    """The old spellings (--states IL IA, --seeds 0,1, --no-real) are shortcuts for --set."""
    from kgml_core.commands.experiment import settings_from
    from kgml_core.cli import build_parser

    parser = build_parser()
    svg = experiments.get("state_vs_global")
    args = parser.parse_args(["experiment", "state-vs-global", "--out", "o", "--states", "IL", "IA",
                              "--set", "protocol.step1.epochs=2", "--n-regions", "4"])
    base = svg.config("quick")
    cfg = base.with_settings(settings_from(args, svg, base))
    assert cfg.states == ("IL", "IA") and cfg.protocol.step1.epochs == 2 and cfg.n_regions == 4
    tamrl = experiments.get("tamrl")
    args = parser.parse_args(["experiment", "tamrl", "--out", "o", "--seeds", "0,1", "--no-real",
                              "--sites", "VT-0001,VT-0002,VT-0003"])
    base = tamrl.config("tiny")
    cfg = base.with_settings(settings_from(args, tamrl, base))
    assert cfg.seeds == (0, 1) and cfg.real_sites is False and cfg.site_ids == ("VT-0001", "VT-0002", "VT-0003")
