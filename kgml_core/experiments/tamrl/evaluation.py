"""Scoring held-out sites: good-QC days outside the support window, per site, then across sites."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

from kgml_core import schema
from kgml_core.metrics import scores
from kgml_core.tasks import TARGETS, SiteArrays


def score_mask(qc: np.ndarray, support_start: np.ndarray | None, qc_min: float, window: int,
               time_mask: np.ndarray | None = None) -> np.ndarray:
    """(n_unit, n_time, 3) True on the days scored: good QC, outside the support window, in ``time_mask``."""
    mask = qc >= qc_min
    if support_start is not None:
        days = np.arange(qc.shape[1])[None, :]
        inside = (days >= support_start[:, None]) & (days < support_start[:, None] + window)
        mask &= ~inside[..., None]
    if time_mask is not None:
        mask &= time_mask[None, :, None]
    return mask


def per_site_scores(y: np.ndarray, pred: np.ndarray, mask: np.ndarray, units: Sequence[str]) -> dict:
    """``{flux: {unit: {"r2", "rmse", "n"}}}`` on the masked days."""
    out = {}
    for j, flux in enumerate(TARGETS):
        obs = np.where(mask[..., j], y[..., j], np.nan)
        out[flux] = {str(u): {k: scores(obs[i], pred[i, :, j])[k] for k in ("r2", "rmse", "n")}
                     for i, u in enumerate(units)}
    return out


def summarise(table: dict) -> dict:
    """Median and quartiles across sites of a per-site table ``{flux: {unit: scores}}``."""
    out = {}
    for flux, rows in table.items():
        r2 = np.array([r["r2"] for r in rows.values() if r["n"] > 1], dtype=float)
        rmse = np.array([r["rmse"] for r in rows.values() if r["n"] > 1], dtype=float)
        q = lambda v, p: float(np.nanpercentile(v, p)) if np.isfinite(v).any() else float("nan")  # noqa: E731
        out[flux] = {"median_r2": q(r2, 50), "q25_r2": q(r2, 25), "q75_r2": q(r2, 75),
                     "median_rmse": q(rmse, 50), "q25_rmse": q(rmse, 25), "q75_rmse": q(rmse, 75),
                     "n_sites": int(np.isfinite(rmse).sum())}
    return out


def _mean_tables(tables: list[dict]) -> dict:
    """Average per-site scores over seeds (same sites and fluxes in every table)."""
    first = tables[0]
    return {flux: {u: {k: float(np.nanmean([t[flux][u][k] for t in tables])) if k != "n"
                       else int(first[flux][u]["n"]) for k in ("r2", "rmse", "n")}
                   for u in rows} for flux, rows in first.items()}



def relative_rmse(models: dict) -> dict:
    """Median RMSE of TAM-RL relative to each baseline: ``rmse_tamrl / rmse_baseline - 1`` per flux."""
    out = {}
    for base in ("gbm", "lstm", "ct_lstm"):
        out[f"tamrl_vs_{base}"] = {f: models["tamrl"][f]["median_rmse"] / models[base][f]["median_rmse"] - 1.0
                                   for f in TARGETS}
        out[f"tamrl_zero_shot_vs_{base}"] = {
            f: models["tamrl_zero_shot"][f]["median_rmse"] / models[base][f]["median_rmse"] - 1.0 for f in TARGETS}
    return out


def prediction_dataset(ds: xr.Dataset, a: SiteArrays, preds: dict[str, np.ndarray], fold_of: np.ndarray,
                       idx: np.ndarray) -> xr.Dataset:
    """Predictions and observations, dims (model, unit, time), for the units ``idx``."""
    models = ("obs",) + tuple(preds)
    out = schema.empty_units(a.units[idx], a.lat[idx], a.lon[idx],
                             ds["state"].values[idx] if "state" in ds.coords else "", "site")
    out = out.assign_coords(model=("model", np.array(models, dtype=object)),
                            time=a.time, IGBP=("unit", a.igbp[idx]), climate=("unit", a.climate[idx]),
                            fold=("unit", fold_of[idx]))
    for j, flux in enumerate(TARGETS):
        stack = np.stack([a.y[idx, :, j]] + [preds[m][idx, :, j] for m in preds])
        out[flux] = (("model", "unit", "time"), stack.astype(np.float32), schema.variable_attrs(flux))
        out[f"{flux}_QC"] = (("unit", "time"), a.qc[idx, :, j], schema.variable_attrs(f"{flux}_QC"))
    return out

