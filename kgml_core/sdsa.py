"""SDSA-KGML read against what is achievable: the oracle ceiling and the estimated parameters.

Two questions a state-vs-global result must answer before it means anything:

* How much could state-specific parameters gain at all? The *ceiling* is the
  gain of the process model run with each state's mean true parameters
  (``oracle_state``) over the process model run with the best single
  parameter set (``oracle_global``), in RMSE of a flux on the held-out data:
  ``ceiling = 1 - RMSE(oracle_state) / RMSE(oracle_global)``. The realised
  gain ``1 - RMSE(state_specific) / RMSE(global)`` is then read as a fraction
  of it.
* Did the regional models learn the location-dependent parameters, or
  something else? With a parameter-conditioned emulator each regional model
  holds one parameter vector (``theta``); :func:`parameter_table` maps it to
  physical units beside the mean true parameters of the same counties.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core.simulator.parameters import PARAMS
from kgml_core.training.data import PARAM_NAMES, Normalizer


def ceiling(states_metrics: dict, flux: str = "RH") -> dict:
    """Per state: the oracle ceiling, the realised gain and the fraction of the ceiling reached.

    states_metrics : ``metrics["states"]`` (state -> model -> target -> scores).
    Returns ``{STATE: {"oracle_global_rmse", "oracle_state_rmse", "global_rmse",
    "state_specific_rmse", "ceiling", "realised", "fraction", "emulator_state_rmse",
    "emulator_ceiling", "emulator_fraction", "oracle_towers_rmse", "towers_ceiling",
    "towers_fraction"}}`` (NaN where a rung is missing). The
    *emulator ceiling* ``1 - RMSE(emulator_state) / RMSE(global)`` is the gain of
    a perfect estimate with this emulator (the global model's networks given the
    state's mean true parameters): the part of the ceiling the estimate can reach.
    The *towers ceiling* ``1 - RMSE(oracle_towers) / RMSE(oracle_global)`` is the
    oracle ceiling with the mean true parameters of the state's flux-tower host
    counties instead of all its counties: what a state-specific model that learns
    from its towers alone could gain if it recovered their parameters exactly.
    """
    out = {}
    for state, models in states_metrics.items():
        rmse = {m: models[m][flux]["rmse"] if m in models else float("nan")
                for m in ("oracle_global", "oracle_state", "global", "state_specific", "emulator_state",
                          "oracle_towers")}
        ceil = 1 - rmse["oracle_state"] / rmse["oracle_global"]
        realised = 1 - rmse["state_specific"] / rmse["global"]
        emulator = 1 - rmse["emulator_state"] / rmse["global"]
        towers = 1 - rmse["oracle_towers"] / rmse["oracle_global"]
        out[state] = {**{f"{m}_rmse": float(v) for m, v in rmse.items()}, "ceiling": float(ceil),
                      "realised": float(realised), "fraction": _fraction(realised, ceil),
                      "emulator_ceiling": float(emulator), "emulator_fraction": _fraction(realised, emulator),
                      "towers_ceiling": float(towers), "towers_fraction": _fraction(realised, towers)}
    return out


def _fraction(realised: float, ceiling: float) -> float:
    return float(realised / ceiling) if np.isfinite(ceiling) and ceiling > 0 else float("nan")


def estimated_parameters(model, norm: Normalizer) -> dict[str, float] | None:
    """A parameter-conditioned model's estimate ``theta`` in physical units (None for other models)."""
    theta = getattr(model, "theta", None)
    if theta is None:
        return None
    return norm.unscale_params(theta.detach().cpu().numpy())


def true_means(truth: xr.Dataset, groups: pd.Series) -> dict[str, dict[str, float]]:
    """Mean true parameters (``PARAM_*`` of the observed world) per group of counties.

    groups : county -> group label (a state code or a region number).
    """
    labels = groups.reindex(truth["unit"].values.astype(str)).values
    out = {}
    for g in pd.unique(labels[pd.notna(labels)]):
        rows = labels == g
        out[str(g)] = {k: float(truth[f"PARAM_{k}"].values[rows].mean()) for k in PARAM_NAMES}
    return out


def parameter_table(models: dict[str, dict], norm: Normalizer, truth: xr.Dataset,
                    labels: dict[str, pd.Series]) -> dict:
    """Estimated against true parameters for the global model and every group of regional models.

    models : ``{"global": {"all": model}, "state": {STATE: model}, "region": {N: model}}``;
    labels : ``{"global": county -> "all", "state": county -> STATE, "region": county -> N}``.
    Returns ``{"names", "units", "long_names", KIND: {GROUP: {"estimated": {...}, "truth": {...}}}}``;
    empty when the models hold no parameter estimate.
    """
    out: dict = {"names": list(PARAM_NAMES), "units": {k: PARAMS[k].units for k in PARAM_NAMES},
                 "long_names": {k: PARAMS[k].long_name for k in PARAM_NAMES}}
    found = False
    for kind, group_models in models.items():
        means = true_means(truth, labels[kind])
        rows = {}
        for group, model in group_models.items():
            est = estimated_parameters(model, norm)
            if est is not None:
                found = True
                rows[str(group)] = {"estimated": est, "truth": means.get(str(group), {})}
        out[kind] = rows
    return out if found else {}


def county_scores(ds: xr.Dataset, flux: str = "RH", models=("global", "state_specific", "auto_region")) -> dict:
    """Per held-out county: RMSE and R2 of a daily flux for each model, over all years.

    ds : predictions dataset (``model`` x ``unit`` x ``time``, model "truth" first,
    coordinates ``split`` and ``state``). Only the held-out counties (``split ==
    "test"``) are scored: these are the counties the per-county error maps show.
    Returns ``{FIPS: {"state": STATE, "<model>_rmse": g C m-2 d-1, "<model>_r2": 1, ...}}``
    for the models present.
    """
    from kgml_core.metrics import scores

    present = [m for m in models if m in set(ds["model"].values.astype(str))]
    held = ds["split"].values.astype(str) == "test"
    obs = ds[flux].sel(model="truth").values[held]
    sims = {m: ds[flux].sel(model=m).values[held] for m in present}
    out = {}
    for i, (unit, state) in enumerate(zip(ds["unit"].values[held].astype(str), ds["state"].values[held].astype(str))):
        row: dict = {"state": state}
        for m in present:
            s = scores(obs[i], sims[m][i])
            row[f"{m}_rmse"], row[f"{m}_r2"] = s["rmse"], s["r2"]
        out[unit] = row
    return out
