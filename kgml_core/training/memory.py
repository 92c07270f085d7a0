"""The memory inputs of a unit-year sample: what the previous calendar year leaves behind.

A sample covers one calendar year, so the network's memory of the years
before comes from these inputs: ``PREV_GPP`` (last year's crop, whose residue
still decomposes in winter and spring), ``PREV_TA`` and ``PREV_P`` (last
year's weather: how much of the litter decomposed then).
"""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

DAYS = 365  # days of a sample


def _annual(ds: xr.Dataset, name: str, slices, n_units: int) -> np.ndarray:
    if name not in ds or "year" not in ds[name].dims:
        return np.full(len(slices) * n_units, np.nan)
    da = ds[name].transpose("unit", "year")
    have = set(int(y) for y in da["year"].values)
    cols = [da.sel(year=y).values.astype(np.float64) if y in have else np.full(n_units, np.nan)
            for y, _ in slices]
    return np.concatenate(cols)


def _annual_means(ds: xr.Dataset, values: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Calendar years of ``ds`` and each unit's mean of ``values`` (n_units, T) in them, (n_units, n_years)."""
    time_years = ds["time"].dt.year.values
    have = sorted(set(time_years.tolist()))
    return have, np.stack([np.nanmean(values[:, time_years == y], axis=1) for y in have], axis=1)


def _previous(annual: np.ndarray, have: list[int], years, fallback) -> np.ndarray:
    """Each unit-year's previous-year value of ``annual`` (year-major), ``fallback(j)`` where it is missing."""
    out = []
    for year in years:
        j = have.index(int(year))
        out.append(annual[:, j - 1] if j > 0 and have[j - 1] == int(year) - 1 else fallback(j))
    return np.concatenate(out)


def previous_year_gpp(ds: xr.Dataset, years) -> np.ndarray:
    """Each unit-year's previous-year GPP sum (g C m-2), (len(years) * n_units,), year-major.

    The memory input. A year whose predecessor is not in ``ds`` takes the
    unit's mean over the years of the other crop (the rotation alternates), or
    over all its years when it has no such year.
    """
    have, annual = _annual_means(ds, ds["GPP"].transpose("unit", "time").values)
    annual = annual * DAYS
    crop = _annual(ds, "CROP", [(y, None) for y in have], ds.sizes["unit"]).reshape(len(have), -1).T

    def other_crop(j):
        other = crop != crop[:, [j]]
        other[:, j] = False
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # units without another-crop year
            fallback = np.nanmean(np.where(other, annual, np.nan), axis=1)
            return np.where(np.isfinite(fallback), fallback, np.nanmean(annual, axis=1))
    out = _previous(annual, have, years, other_crop)
    return np.nan_to_num(out, nan=float(np.nanmean(annual)) if np.isfinite(annual).any() else 0.0)


def previous_year_weather(ds: xr.Dataset, years) -> dict[str, np.ndarray]:
    """``PREV_TA`` (degC, mean of (TA_MAX + TA_MIN) / 2) and ``PREV_P`` (mm d-1): the previous
    year's means, (len(years) * n_units,) year-major; the unit's mean over all years where missing.

    The memory of last year's decomposition: a wet or cool year leaves more
    litter, so more Rh the next year, whatever that year's own weather.
    """
    out = {}
    for name, values in (("PREV_TA", 0.5 * (ds["TA_MAX"] + ds["TA_MIN"])), ("PREV_P", ds["P"])):
        have, annual = _annual_means(ds, values.transpose("unit", "time").values)
        mean = np.nanmean(annual, axis=1)
        out[name] = np.nan_to_num(_previous(annual, have, years, lambda j: mean), nan=float(np.nanmean(mean)))
    return out
