"""Scoring the ladder: predictions on the truth's grid, scores per state and held-out set, bootstrap."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import schema
from kgml_core.experiments.state_vs_global.config import FLUXES, TARGETS
from kgml_core.experiments.state_vs_global.data import ExperimentData
from kgml_core.metrics import paired_bootstrap_rmse_diff, scores
from kgml_core.sdsa import ceiling, county_scores, parameter_table
from kgml_core.training.data import DAYS, Samples


def _to_grid(values: np.ndarray, samples: Samples, truth: xr.Dataset) -> np.ndarray:
    """Sample-major daily values (n, 365) onto the (unit, time) grid of ``truth`` (NaN elsewhere)."""
    units = {u: i for i, u in enumerate(truth["unit"].values.astype(str))}
    time = pd.DatetimeIndex(truth["time"].values)
    grid = np.full((len(units), len(time)), np.nan, np.float32)
    first_day = {y: int(np.flatnonzero(time.year == y)[0]) for y in np.unique(samples.year)}
    rows = np.array([units[u] for u in samples.unit])
    for y, start in first_day.items():
        sel = samples.year == y
        grid[rows[sel], start:start + DAYS] = values[sel]
    return grid


def _to_annual(values: np.ndarray, samples: Samples, truth: xr.Dataset) -> np.ndarray:
    units = {u: i for i, u in enumerate(truth["unit"].values.astype(str))}
    years = {int(y): j for j, y in enumerate(truth["year"].values)}
    grid = np.full((len(units), len(years)), np.nan, np.float32)
    grid[[units[u] for u in samples.unit], [years[int(y)] for y in samples.year]] = values
    return grid


def predictions_dataset(preds: dict[str, dict[str, np.ndarray]], samples: Samples,
                        data: ExperimentData, regions: pd.Series) -> xr.Dataset:
    """Predictions of every model and the truth: RA, RH, NEE, RECO (model, unit, time), YIELD (model, unit, year)."""
    truth = data.truth
    names = ["truth"] + list(preds)
    ds = xr.Dataset(coords={c: truth[c] for c in ("unit", "lat", "lon", "state", "unit_kind", "time", "year")})
    ds = ds.assign_coords(model=("model", np.array(names, dtype=object)),
                          split=("unit", data.split.reindex(truth["unit"].values.astype(str)).values.astype(object)),
                          region=("unit", regions.reindex(truth["unit"].values.astype(str)).values.astype(int)))
    for k in FLUXES:
        stack = [truth[k].transpose("unit", "time").values.astype(np.float32)]
        stack += [_to_grid(p[k], samples, truth) for p in preds.values()]
        ds[k] = (("model", "unit", "time"), np.stack(stack), schema.variable_attrs(k))
        ds[k].encoding = {"zlib": True, "complevel": 1}
    stack = [truth["YIELD"].transpose("unit", "year").values.astype(np.float32)]
    stack += [_to_annual(p["YIELD"], samples, truth) for p in preds.values()]
    ds["YIELD"] = (("model", "unit", "year"), np.stack(stack), schema.variable_attrs("YIELD"))
    ds.attrs.update({"test_years": list(data.test_years), "train_years": list(data.train_years),
                     "heterogeneity": float(truth.attrs.get("heterogeneity", np.nan)),
                     "note": "split: 'test' counties held out; years in test_years held out"})
    return ds


def _eval_masks(ds: xr.Dataset, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (unit, time) and (unit, year) masks of a held-out set: counties, years or either."""
    test_unit = ds["split"].values == "test"
    test_years = set(ds.attrs["test_years"])
    test_time = np.isin(pd.DatetimeIndex(ds["time"].values).year, list(test_years))
    test_year = np.isin(ds["year"].values, list(test_years))
    if which == "heldout_counties":
        return test_unit[:, None] & ~test_time[None, :], test_unit[:, None] & ~test_year[None, :]
    if which == "heldout_years":
        return ~test_unit[:, None] & test_time[None, :], ~test_unit[:, None] & test_year[None, :]
    return test_unit[:, None] | test_time[None, :], test_unit[:, None] | test_year[None, :]


def evaluate(ds: xr.Dataset, which: str = "heldout") -> dict:
    """Scores per state, model and target on a held-out set of :func:`predictions_dataset` output."""
    daily_mask, annual_mask = _eval_masks(ds, which)
    states = ds["state"].values.astype(str)
    out: dict = {}
    for state in dict.fromkeys(states):
        in_state = states == state
        out[state] = {}
        for model in ds["model"].values[1:]:
            out[state][str(model)] = {}
            for k in TARGETS:
                mask = (annual_mask if k == "YIELD" else daily_mask) & in_state[:, None]
                obs = ds[k].sel(model="truth").values
                sim = ds[k].sel(model=model).values
                out[state][str(model)][k] = scores(obs[mask], sim[mask])
    return out


def bootstrap(ds: xr.Dataset, n_boot: int, seed: int, targets=TARGETS) -> dict:
    """Paired bootstrap (resampling counties) of RMSE(model) - RMSE(global), per state and target."""
    daily_mask, annual_mask = _eval_masks(ds, "heldout")
    states = ds["state"].values.astype(str)
    out: dict = {}
    for state in dict.fromkeys(states):
        rows = states == state
        out[state] = {}
        for k in targets:
            mask = (annual_mask if k == "YIELD" else daily_mask)[rows]
            obs = np.where(mask, ds[k].sel(model="truth").values[rows], np.nan)
            base = ds[k].sel(model="global").values[rows]
            out[state][k] = {
                f"{m}_vs_global": paired_bootstrap_rmse_diff(obs, ds[k].sel(model=m).values[rows], base,
                                                             n_boot=n_boot, seed=seed)
                for m in ("state_specific", "auto_region", "no_knowledge", "process_model", "emulator_oracle",
                          "emulator_state")
                if m in ds["model"].values}
            for oracle in ("oracle_state", "oracle_towers"):
                if {oracle, "oracle_global"} <= set(ds["model"].values):
                    out[state][k][f"{oracle}_vs_oracle_global"] = paired_bootstrap_rmse_diff(
                        obs, ds[k].sel(model=oracle).values[rows],
                        ds[k].sel(model="oracle_global").values[rows], n_boot=n_boot, seed=seed)
    return out


def headline(states_metrics: dict) -> dict:
    """The run's headline: mean over states of 1 - RMSE(state-specific) / RMSE(global) for Rh."""
    gains = [1 - m["state_specific"]["RH"]["rmse"] / m["global"]["RH"]["rmse"]
             for m in states_metrics.values() if "state_specific" in m]
    return {"name": "Rh RMSE reduction of state-specific vs global (mean over states)",
            "value": float(np.mean(gains)) if gains else float("nan")}


def region_summary(regions) -> dict:
    """JSON-ready summary of a :class:`~kgml_core.regions.RegionResult` (labels, names, scores, features)."""
    sep = regions.separating_features.reset_index()
    return {"method": regions.method, "labels": {str(k): int(v) for k, v in regions.labels.items()},
            "names": {str(k): v for k, v in regions.region_names.items()},
            "silhouette": {str(k): v for k, v in regions.scores.items()},
            "separating_features": sep.replace({np.nan: None}).to_dict(orient="records")}


def science_summary(metrics: dict, ds: xr.Dataset, harness, data, regions) -> dict:
    """The ceiling (overall and per held-out split), the parameter table, the oracle choice and the
    per-county scores of the held-out counties (``counties``: flux -> FIPS -> scores)."""
    truth = data.truth
    units = truth["unit"].values.astype(str)
    labels = {"global": pd.Series("all", index=units),
              "state": pd.Series(truth["state"].values.astype(str), index=units),
              "region": regions.labels.astype(str)}
    return {"ceiling": {"RH": ceiling(metrics["states"], "RH"), "NEE": ceiling(metrics["states"], "NEE"),
                        "by_split": {w: ceiling(m, "RH") for w, m in metrics["by_split"].items()},
                        "oracle_global_choice": ds.attrs.get("oracle_global_choice", "")},
            "parameters": _with_pulls(parameter_table(harness.group_models, harness.norm, truth, labels), harness),
            "counties": {flux: county_scores(ds, flux) for flux in ("RH", "NEE")}}


def _with_pulls(table: dict, harness) -> dict:
    """The parameter table with each state's and region's pull chosen by validation (``pull``), where one was."""
    for kind in ("state", "region"):
        for group, choice in harness.pull_choices(kind).items():
            if group in table.get(kind, {}):
                table[kind][group]["pull"] = choice
    return table
