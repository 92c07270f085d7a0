"""Baselines and scores of the real-yields experiment, on held-out real county-years."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core.experiments.real_yields.data import RealData
from kgml_core.loaders.nass import bu_per_acre_to_g_c
from kgml_core.metrics import paired_bootstrap_rmse_diff, scores

# growing-season weather features of the linear baseline: (name, variable, months, how)
SEASON_FEATURES = (("TA_MJJAS", "TA", (5, 6, 7, 8, 9), "mean"), ("TA_MAX_JJA", "TA_MAX", (6, 7, 8), "mean"),
                   ("P_MJJAS", "P", (5, 6, 7, 8, 9), "sum"), ("P_JJA", "P", (6, 7, 8), "sum"),
                   ("SW_IN_MJJAS", "SW_IN", (5, 6, 7, 8, 9), "mean"), ("VPD_JJA", "VPD", (6, 7, 8), "mean"))
SPLITS = {"heldout": "every held-out county-year (held-out counties, all years; other counties, held-out years)",
          "heldout_years": "training counties in the held-out years",
          "heldout_counties": "held-out counties in every year"}


def season_features(world: xr.Dataset) -> pd.DataFrame:
    """Growing-season weather per county-year: index (unit, year), columns of :data:`SEASON_FEATURES`."""
    month, year = world["time"].dt.month, world["time"].dt.year
    cols = {}
    for name, var, months, how in SEASON_FEATURES:
        sel = world[var].where(month.isin(list(months)))
        agg = sel.groupby(year).sum("time") if how == "sum" else sel.groupby(year).mean("time")
        cols[name] = agg.transpose("unit", "year").to_series()
    return pd.DataFrame(cols).rename_axis(["unit", "year"])


def county_mean_baseline(obs: pd.Series, train: pd.Series) -> pd.Series:
    """Each county's mean yield over its training county-years; the mean of all training yields elsewhere."""
    means = obs[train].groupby(level="unit").mean()
    fallback = float(obs[train].mean())
    return pd.Series(obs.index.get_level_values("unit").map(means).astype(float), index=obs.index).fillna(fallback)


def weather_linear_baseline(obs: pd.Series, train: pd.Series, features: pd.DataFrame) -> pd.Series:
    """Ordinary least squares of yield on standardised growing-season weather, fitted on training county-years."""
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = features.reindex(obs.index)
    fit = train & np.isfinite(obs) & x.notna().all(axis=1)
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(x[fit].to_numpy(), obs[fit].to_numpy())
    out = pd.Series(np.nan, index=obs.index)
    ok = x.notna().all(axis=1)
    out[ok] = model.predict(x[ok].to_numpy())
    return out


def masks(data: RealData, index: pd.MultiIndex) -> dict[str, np.ndarray]:
    """Boolean masks over (unit, year) rows: training rows and each held-out set of :data:`SPLITS`."""
    test_county = data.split.reindex(index.get_level_values("unit")).to_numpy() == "test"
    test_year = np.isin(index.get_level_values("year"), data.test_years)
    return {"train": ~test_county & ~test_year, "heldout": test_county | test_year,
            "heldout_years": ~test_county & test_year, "heldout_counties": test_county}


def evaluate(table: pd.DataFrame, data: RealData, crop: str, n_boot: int, seed: int) -> dict:
    """Scores (g C m-2 and bu/acre) of every model column of ``table`` against ``obs``, per held-out set.

    ``table``: index (unit, year), column ``obs`` and one column per model. Returns
    ``{"scores": {split: {model: scores}}, "bootstrap": {split: {model: RMSE(model) - RMSE(global)}}}``.
    """
    m = masks(data, table.index)
    per_bu = float(bu_per_acre_to_g_c(1.0, crop))
    models = [c for c in table.columns if c != "obs"]
    out: dict = {"scores": {}, "bootstrap": {}}
    for split in SPLITS:
        sub = table[m[split]]
        out["scores"][split] = {}
        for model in models:
            s = scores(sub["obs"].to_numpy(), sub[model].to_numpy())
            s.update(rmse_bu=s["rmse"] / per_bu, bias_bu=s["bias"] / per_bu)
            out["scores"][split][model] = s
        out["bootstrap"][split] = {model: _vs_global(sub, model, n_boot, seed) for model in models
                                   if model != "global" and "global" in models}
    return out


def _vs_global(sub: pd.DataFrame, model: str, n_boot: int, seed: int) -> dict:
    """RMSE(model) - RMSE(global) with a 95 % interval, resampling whole counties."""
    wide = {c: sub[c].unstack("year") for c in ("obs", model, "global")}
    return paired_bootstrap_rmse_diff(wide["obs"].to_numpy(), wide[model].to_numpy(), wide["global"].to_numpy(),
                                      n_boot=n_boot, seed=seed)


def headline(metrics: dict) -> dict:
    """Region-specific against global and against the better baseline, held-out RMSE (bu/acre)."""
    s = metrics["scores"]["heldout"]
    best = min(("county_mean", "weather_linear"), key=lambda b: s[b]["rmse"])
    model = "auto_region" if "auto_region" in s else "global"
    return {"name": f"held-out yield RMSE, {model} - best baseline ({best}), bu/acre",
            "value": s[model]["rmse_bu"] - s[best]["rmse_bu"], "best_baseline": best}
