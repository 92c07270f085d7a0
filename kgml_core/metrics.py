"""Skill scores of simulated against observed values, NaN-masked.

Every function takes observed and simulated arrays of the same shape; a pair
counts only when both values are finite. Scores are in the units of the data
(``rmse``, ``mae``, ``bias``) or their square (``mse``); ``r2`` is the
coefficient of determination ``1 - SSE / SST`` (it can be negative, and is NaN
when the observations do not vary).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

SCORE_NAMES = ("r2", "rmse", "mse", "mae", "bias", "n")


def _pairs(obs, sim) -> tuple[np.ndarray, np.ndarray]:
    """Flattened finite pairs of ``obs`` and ``sim`` (float64)."""
    o = np.asarray(obs, dtype=float)
    s = np.asarray(sim, dtype=float)
    if o.shape != s.shape:
        raise ValueError(f"observed and simulated arrays differ in shape: {o.shape} vs {s.shape}")
    keep = np.isfinite(o) & np.isfinite(s)
    return o[keep], s[keep]


def scores(obs, sim) -> dict[str, float]:
    """R2, RMSE, MSE, MAE, bias (mean of ``sim - obs``) and n of finite pairs.

    Parameters
    ----------
    obs, sim : array-like of equal shape (any number of dimensions).

    Returns
    -------
    dict with keys ``r2``, ``rmse``, ``mse``, ``mae``, ``bias`` (floats, NaN
    when no pair is finite) and ``n`` (int).
    """
    o, s = _pairs(obs, sim)
    n = int(o.size)
    if n == 0:
        return {"r2": float("nan"), "rmse": float("nan"), "mse": float("nan"),
                "mae": float("nan"), "bias": float("nan"), "n": 0}
    err = s - o
    sse = float(np.sum(err ** 2))
    sst = float(np.sum((o - o.mean()) ** 2))
    mse = sse / n
    return {
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        "rmse": float(np.sqrt(mse)),
        "mse": mse,
        "mae": float(np.mean(np.abs(err))),
        "bias": float(np.mean(err)),
        "n": n,
    }


def per_unit_scores(obs: xr.DataArray, sim: xr.DataArray, dim: str = "time") -> pd.DataFrame:
    """Scores per unit: reduce over ``dim`` (and any other non-``unit`` dimension).

    Parameters
    ----------
    obs, sim : DataArrays with a ``unit`` dimension, aligned on their coordinates.
    dim : the dimension scored over (``time`` for daily series, ``year`` for annual).

    Returns
    -------
    DataFrame indexed by unit with columns ``r2 rmse mse mae bias n``.
    """
    if "unit" not in obs.dims or "unit" not in sim.dims:
        raise ValueError("per_unit_scores needs a 'unit' dimension on both arrays")
    if dim not in obs.dims:
        raise ValueError(f"dimension '{dim}' not in observed array dims {obs.dims}")
    obs, sim = xr.align(obs, sim, join="inner")
    order = ["unit"] + [d for d in obs.dims if d != "unit"]
    o = obs.transpose(*order).values.reshape(obs.sizes["unit"], -1)
    s = sim.transpose(*order).values.reshape(sim.sizes["unit"], -1)
    rows = [scores(o[i], s[i]) for i in range(o.shape[0])]
    frame = pd.DataFrame(rows, index=pd.Index(obs["unit"].values, name="unit"))
    return frame[list(SCORE_NAMES)]


def _rmse_rows(o: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row sum of squared error and count of finite pairs; arrays (rows, k)."""
    keep = np.isfinite(o) & np.isfinite(s)
    sq = np.where(keep, (s - o) ** 2, 0.0)
    return sq.sum(axis=1), keep.sum(axis=1)


def paired_bootstrap_rmse_diff(obs, sim_a, sim_b, n_boot: int = 1000, seed: int = 0,
                               block_units: bool = True) -> dict[str, float]:
    """RMSE(a) - RMSE(b) with a 95 % percentile bootstrap interval.

    Both models are scored on the same resampled pairs (a paired bootstrap),
    so the interval reflects the difference, not each model's own noise.

    Parameters
    ----------
    obs, sim_a, sim_b : arrays of equal shape; the first axis is the unit when
        ``block_units`` is true (whole units are resampled, keeping their
        within-unit correlation), otherwise every value is resampled alone.
    n_boot : number of bootstrap resamples.
    seed : seed of the resampling.

    Returns
    -------
    dict ``diff`` (RMSE(a) - RMSE(b) on all data), ``lo``, ``hi`` (2.5 and
    97.5 percentiles) and ``rel_diff`` (``diff / RMSE(b)``). Negative means a
    is better.
    """
    o = np.asarray(obs, dtype=float)
    a = np.asarray(sim_a, dtype=float)
    b = np.asarray(sim_b, dtype=float)
    if not (o.shape == a.shape == b.shape):
        raise ValueError(f"arrays differ in shape: {o.shape}, {a.shape}, {b.shape}")
    both = np.isfinite(a) & np.isfinite(b)
    o = np.where(both, o, np.nan)
    if block_units and o.ndim >= 1 and o.shape[0] > 0:
        rows = lambda x: x.reshape(x.shape[0], -1)  # noqa: E731
    else:
        rows = lambda x: x.reshape(-1, 1)  # noqa: E731
    sse_a, n_a = _rmse_rows(rows(o), rows(a))
    sse_b, n_b = _rmse_rows(rows(o), rows(b))
    total_n = n_a.sum()
    if total_n == 0:
        nan = float("nan")
        return {"diff": nan, "lo": nan, "hi": nan, "rel_diff": nan}
    rmse_a = np.sqrt(sse_a.sum() / total_n)
    rmse_b = np.sqrt(sse_b.sum() / total_n)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, sse_a.size, size=(n_boot, sse_a.size))
    n_boot_rows = n_a[idx].sum(axis=1)
    ok = n_boot_rows > 0
    boot_a = np.sqrt(sse_a[idx].sum(axis=1)[ok] / n_boot_rows[ok])
    boot_b = np.sqrt(sse_b[idx].sum(axis=1)[ok] / n_boot_rows[ok])
    lo, hi = np.percentile(boot_a - boot_b, [2.5, 97.5])
    diff = float(rmse_a - rmse_b)
    return {"diff": diff, "lo": float(lo), "hi": float(hi),
            "rel_diff": diff / float(rmse_b) if rmse_b > 0 else float("nan")}


def paired_bootstrap_median_ratio(score_a, score_b, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Relative difference of the median per-site scores of two models, with a paired 95 % interval.

    ``median(a) / median(b) - 1`` over the sites where both are finite; sites are
    resampled with replacement and both models keep their own site's score
    (paired), so the interval reflects the difference between the models, not
    the spread between sites.

    Parameters
    ----------
    score_a, score_b : (n_sites,) per-site scores (e.g. RMSE) of models a and b on the same sites.

    Returns
    -------
    dict ``rel`` (the estimate), ``lo``, ``hi`` (2.5 and 97.5 percentiles),
    ``share_a_better`` (share of sites where a is lower) and ``n_sites``.
    Negative ``rel`` means a has the lower median.
    """
    a = np.asarray(score_a, dtype=float)
    b = np.asarray(score_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two (n_sites,) arrays of equal length, got {a.shape} and {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) == 0 or np.median(b) == 0:
        nan = float("nan")
        return {"rel": nan, "lo": nan, "hi": nan, "share_a_better": nan, "n_sites": int(len(a))}
    idx = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))
    boot = np.median(a[idx], axis=1) / np.median(b[idx], axis=1) - 1
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return {"rel": float(np.median(a) / np.median(b) - 1), "lo": float(lo), "hi": float(hi),
            "share_a_better": float(np.mean(a < b)), "n_sites": int(len(a))}
