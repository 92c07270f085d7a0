"""Fast batched inference of the KGML-ag family over many counties and years.

:func:`predict_counties` turns a daily contract dataset into daily RA, RH, NEE,
RECO and annual YIELD predictions without a Python loop over counties or
years: inputs are built with array operations, batches of unit-years run under
``torch.inference_mode`` in float32, and the loop that remains is the GRU's
recurrence over days.

The model's own forward runs it: KGML-ag in eval mode keeps every tensor in
(day, batch, feature) layout inside (see :class:`~kgml_core.models.kgml_ag.KGMLAg`).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from kgml_core import schema
from kgml_core.training.data import DAILY_INPUTS, DAYS, INPUTS, NEEDED, SOIL_INPUTS, Normalizer, \
    previous_year_gpp
from kgml_core.training.trainer import residue_fn

OUTPUTS = ("RA", "RH", "NEE")


# --------------------------------------------------------------------------- threads
def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to ``n`` (default: cores this process may use) and return it.

    Inside a Dask worker, pass the worker's thread count: one process per core
    with one thread each scales better than one process with many threads on a
    busy machine, where OpenMP threads wait for each other at every step.
    """
    if n is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# --------------------------------------------------------------------------- inputs
def _year_index(time: pd.DatetimeIndex, years) -> tuple[list[int], np.ndarray]:
    """Years with a full record and the (n_years, 365) time indices of their first 365 days."""
    tyear = time.year.values
    keep, rows = [], []
    for year in years:
        idx = np.flatnonzero(tyear == int(year))
        if idx.size >= DAYS:
            keep.append(int(year))
            rows.append(idx[:DAYS])
    if not keep:
        raise ValueError(f"no full year of daily data for years {list(years)}")
    return keep, np.stack(rows)


def _fill_nan_rows(a: np.ndarray) -> np.ndarray:
    """Linear interpolation of NaN gaps along the last axis, only for the rows that have any."""
    bad = np.flatnonzero(~np.isfinite(a).all(-1))
    idx = np.arange(a.shape[-1])
    for i in bad:                      # only gappy rows; simulated worlds have none
        ok = np.isfinite(a[i])
        a[i] = np.interp(idx, idx[ok], a[i, ok]) if ok.any() else 0.0
    return a


def county_inputs(ds: xr.Dataset, years=None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """KGML-ag inputs of every unit-year, built without a loop over units.

    Parameters
    ----------
    ds : daily contract dataset with the variables in :data:`~kgml_core.training.data.NEEDED`,
        annual ``CROP`` and the soils in ``SOIL_INPUTS``.
    years : calendar years (default: every full year).

    Returns
    -------
    x : (n_years * n_units, 365, 19) float32 inputs in physical units, year-major
        (the order of :func:`kgml_core.training.data.make_samples`).
    gpp : (n_years * n_units, 365) float32 g C m-2 d-1.
    years : the years taken.
    """
    missing = [v for v in NEEDED + ("CROP",) + SOIL_INPUTS if v not in ds]
    if missing:
        raise ValueError(f"dataset lacks variables {missing} needed for KGML-ag inputs")
    time = pd.DatetimeIndex(ds["time"].values)
    years, idx = _year_index(time, sorted(set(time.year)) if years is None else years)
    n_units, n_years = ds.sizes["unit"], len(years)

    def daily(name: str) -> np.ndarray:      # (n_years, n_units, 365)
        v = np.asarray(ds[name].transpose("unit", "time").values, dtype=np.float32)
        return _fill_nan_rows(np.ascontiguousarray(np.moveaxis(v[:, idx], 1, 0)).reshape(-1, DAYS))

    x = np.empty((n_years * n_units, DAYS, len(INPUTS)), np.float32)
    tmax, rhmax = daily("TA_MAX"), daily("RH_MAX")
    cols = {"SW_IN": daily("SW_IN"), "TA_MAX": tmax, "TA_RANGE": tmax - daily("TA_MIN"),
            "RH_MAX": rhmax, "RH_RANGE": rhmax - daily("RH_MIN"), "WS": daily("WS"), "P": daily("P"),
            "GPP": daily("GPP")}
    for j, name in enumerate(DAILY_INPUTS):
        if name in cols:
            x[:, :, j] = cols[name]
    crop = ds["CROP"].transpose("unit", "year").sel(year=years).values.astype(np.float32)
    x[:, :, INPUTS.index("CROP")] = np.nan_to_num(crop.T.reshape(-1), nan=-1.0)[:, None]
    x[:, :, INPUTS.index("PREV_GPP")] = previous_year_gpp(ds, years)[:, None]
    for name in SOIL_INPUTS:
        x[:, :, INPUTS.index(name)] = np.tile(ds[name].values.astype(np.float32), n_years)[:, None]
    return x, cols["GPP"], years


# --------------------------------------------------------------------------- batches
def predict_arrays(model: nn.Module, x: np.ndarray, gpp: np.ndarray, norm: Normalizer,
                   batch_size: int = 256) -> dict[str, np.ndarray]:
    """Physical predictions for unit-year inputs, in batches, on the device of the model's parameters.

    Parameters
    ----------
    x : (n, 365, n_inputs) inputs in physical units; gpp : (n, 365) g C m-2 d-1.
    norm : the normalizer the model was trained with.
    batch_size : unit-years per forward pass.

    Returns
    -------
    ``RA``, ``RH``, ``NEE``, ``RECO`` (n, 365) g C m-2 d-1 and ``YIELD`` (n,) g C m-2, float32.
    """
    if x.ndim != 3 or x.shape[:2] != gpp.shape:
        raise ValueError(f"x must be (n, days, features) and gpp (n, days); got {x.shape} and {gpp.shape}")
    n = x.shape[0]
    out = {k: np.empty((n, x.shape[1]), np.float32) for k in OUTPUTS}
    out["YIELD"] = np.empty(n, np.float32)
    model.eval()
    device = next(model.parameters()).device          # batches go where the model is (CUDA when it is there)
    mean, std = torch.from_numpy(norm.x_mean).to(device), torch.from_numpy(norm.x_std).to(device)
    with torch.inference_mode():
        for lo in range(0, n, batch_size):
            hi = min(n, lo + batch_size)
            xb = (torch.from_numpy(x[lo:hi]).to(device) - mean) / std
            gb = torch.from_numpy(np.ascontiguousarray(gpp[lo:hi])).to(device)
            pred = model(xb, residue_fn(norm, gb))
            for k in OUTPUTS:
                out[k][lo:hi] = (pred[k.lower()] * norm.y_std[k] + norm.y_mean[k]).cpu().numpy()
            out["YIELD"][lo:hi] = (pred["yield"] * norm.y_std["YIELD"] + norm.y_mean["YIELD"]).cpu().numpy()
    out["RECO"] = out["RA"] + out["RH"]
    return out


def predict_counties(model: nn.Module, ds: xr.Dataset, norm: Normalizer, batch_size: int = 256,
                     years=None, annual: bool = False, threads: int | None = None) -> xr.Dataset:
    """KGML predictions for every unit and year of a daily contract dataset.

    Parameters
    ----------
    model : a trained model of the KGML-ag family (``forward(x, residue)``).
    ds : daily contract dataset (see :func:`county_inputs`), e.g. a simulated world.
    norm : the normalizer the model was trained with.
    batch_size : unit-years per forward pass.
    years : calendar years (default: every full year).
    annual : return annual sums (unit, year) instead of daily series.
    threads : torch threads (default: the cores of this process, see :func:`set_threads`).

    Returns
    -------
    Contract dataset: daily RA, RH, NEE, RECO (unit, time) g C m-2 d-1 on the first
    365 days of each year (or their annual sums, g C m-2 yr-1, with ``annual``),
    and YIELD (unit, year) g C m-2.
    """
    set_threads(threads)
    x, gpp, years = county_inputs(ds, years)
    pred = predict_arrays(model, x, gpp, norm, batch_size)
    return predictions_dataset(ds, pred, years, annual)


def predictions_dataset(ds: xr.Dataset, pred: dict[str, np.ndarray], years: list[int],
                        annual: bool) -> xr.Dataset:
    """Year-major predictions (n_years * n_units, ...) onto a (unit, time|year) contract dataset."""
    n_units, n_years = ds.sizes["unit"], len(years)
    out = schema.empty_units(ds["unit"].values, ds["lat"].values, ds["lon"].values,
                             ds["state"].values, str(ds["unit_kind"].values.flat[0])
                             if "unit_kind" in ds.coords else "county")
    out = out.assign_coords(year=("year", np.asarray(years)))
    for k in OUTPUTS + ("RECO",):
        daily = pred[k].reshape(n_years, n_units, DAYS)
        if annual:
            out[k] = (schema.ANNUAL, daily.sum(-1).T,
                      {"units": "g C m-2 yr-1", "long_name": f"annual sum of predicted {k}"})
        else:
            if "time" not in out.coords:
                _, idx = _year_index(pd.DatetimeIndex(ds["time"].values), years)
                out = out.assign_coords(time=("time", ds["time"].values[idx.reshape(-1)]))
            schema.set_variable(out, k, np.moveaxis(daily, 0, 1).reshape(n_units, -1),
                                provenance="kgml_core.inference")
    out["YIELD"] = (schema.ANNUAL, pred["YIELD"].reshape(n_years, n_units).T,
                    {"units": "g C m-2", "long_name": "predicted crop yield"})
    return out


# --------------------------------------------------------------------------- FLOPs
def gru_flops(n_in: int, hidden: int) -> int:
    """FLOPs of one GRU step for one sequence: 3 gates x (input + hidden) products, 2 FLOPs per multiply-add."""
    return 2 * 3 * (n_in * hidden + hidden * hidden)


def flops_per_county_day(model: nn.Module) -> int:
    """Forward FLOPs per unit-day, counted from the layers (matrix products only).

    Every GRU layer and every Linear layer counts once per day (KGML-ag's yield
    MLP runs once per year; counting it daily overstates by under 1 %).
    """
    total = 0
    for mod in model.modules():
        if isinstance(mod, nn.GRU):
            for layer in range(mod.num_layers):
                total += gru_flops(mod.input_size if layer == 0 else mod.hidden_size, mod.hidden_size)
        elif isinstance(mod, nn.LSTM):
            for layer in range(mod.num_layers):
                n_in = mod.input_size if layer == 0 else mod.hidden_size
                total += 2 * 4 * (n_in * mod.hidden_size + mod.hidden_size ** 2)
        elif isinstance(mod, nn.Linear):
            total += 2 * mod.in_features * mod.out_features
    return int(total)
