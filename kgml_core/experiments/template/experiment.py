"""The template experiment: the process model with default parameters scored against the truth."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr

from kgml_core import geo
from kgml_core.experiments.base import Experiment, Option, Setting
from kgml_core.experiments.template.config import TemplateConfig
from kgml_core.experiments.template.results import FLUXES, ProcessBaselineResults
from kgml_core.metrics import scores
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.runs import Run


class ProcessBaseline(Experiment):
    """Scores, per state and flux, of the process model with default parameters against the simulated truth."""

    kind = "process_baseline"
    title = "Process-model baseline: default parameters against the simulated truth"
    short_title = "Process baseline"
    help = "How far the process model with default parameters is from the location-dependent truth."
    cli_name = "process-baseline"
    config_class = TemplateConfig
    results_class = ProcessBaselineResults
    settings = (Setting("states", "States", "Counties of these states are simulated.", "states"),
                Setting("heterogeneity", "Heterogeneity", "0: no spatial shift; 1: the default.", "slider",
                        low=0.0, high=2.0, step=0.25))
    options = (Option("--states", "states", "postal codes"),)

    def run(self, config: TemplateConfig, run: Run, progress: ProgressCallback | None,
            cancel: CancelToken | None) -> dict:
        truth, process = load_worlds(config)
        report(progress, cancel, ProgressEvent("simulate", 1, 1, 1, 1, message="worlds loaded"))
        out = xr.concat([truth[list(FLUXES)], process[list(FLUXES)]], dim="model", coords="minimal",
                        compat="override").assign_coords(model=["truth", "process_model"])
        run.save_predictions(out)
        states = truth["state"].values.astype(str)
        metrics = {"states": {s: {f: scores(truth[f].values[states == s], process[f].values[states == s])
                                  for f in FLUXES} for s in dict.fromkeys(states)}}
        metrics["headline"] = {"name": "process-model Rh RMSE (mean over states, g C m-2 d-1)",
                               "value": float(np.mean([m["RH"]["rmse"] for m in metrics["states"].values()]))}
        return metrics


def load_worlds(config: TemplateConfig) -> tuple[xr.Dataset, xr.Dataset]:
    """The observed (truth) and process (default parameters) worlds of the same counties."""
    from kgml_core.simulator import WorldConfig, load_world

    counties = None
    if config.max_counties is not None:
        table = geo.load_counties(config.states)
        counties = tuple(f for s in config.states for f in sorted(table.index[table["state"] == s])[:config.max_counties])
    world = WorldConfig(states=config.states, years=config.years, seed=config.seed,
                        heterogeneity=config.heterogeneity, counties=counties)
    return load_world(world), load_world(replace(world, world="process"))
