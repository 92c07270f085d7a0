"""Unit-level features: one row of climate summaries and soil properties per unit.

These features are what the shift diagnostics compare between groups of units, and
what a region detector clusters. Climate summaries are long-term means over the
whole record of a contract dataset; soil properties are taken as they are.

Soil moisture (``SWC``) enters twice, as the growing-season and the annual mean,
and can be given more weight than the other features (the SDSA-KGML article
names soil moisture as the main source of spatial heterogeneity).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core.schema import SOIL, VARIABLES

GROWING_SEASON = (5, 6, 7, 8, 9)  # May to September, the Corn Belt growing season
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class FeatureSpec:
    """How one climate feature is summarised from a daily variable."""

    name: str
    source: str
    season: bool  # growing season only, else the whole year
    how: str  # "mean" of daily values, or "total" per year (season) of daily values
    units: str
    description: str


CLIMATE_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("TA_GS", "TA", True, "mean", "degC", "growing-season mean air temperature"),
    FeatureSpec("TA_ANN", "TA", False, "mean", "degC", "annual mean air temperature"),
    FeatureSpec("P_GS", "P", True, "total", "mm", "growing-season precipitation total"),
    FeatureSpec("P_ANN", "P", False, "total", "mm yr-1", "annual precipitation total"),
    FeatureSpec("SWC_GS", "SWC", True, "mean", "%", "growing-season mean soil water content"),
    FeatureSpec("SWC_ANN", "SWC", False, "mean", "%", "annual mean soil water content"),
    FeatureSpec("VPD_GS", "VPD", True, "mean", "hPa", "growing-season mean vapour pressure deficit"),
    FeatureSpec("SW_IN_GS", "SW_IN", True, "mean", "W m-2",
                "growing-season mean incoming shortwave radiation"),
)


def _climate_feature(da: xr.DataArray, spec: FeatureSpec, season_months: tuple[int, ...]) -> np.ndarray:
    """Long-term summary of one daily variable, one value per unit."""
    if spec.season:
        da = da.sel(time=da["time"].dt.month.isin(season_months))
    mean = da.mean("time", skipna=True).values
    if spec.how == "mean":
        return mean
    days = len(season_months) * DAYS_PER_YEAR / 12 if spec.season else DAYS_PER_YEAR
    return mean * days


def unit_features(ds: xr.Dataset, season_months: Iterable[int] = GROWING_SEASON,
                  standardize: bool = False,
                  weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per-unit climate summaries and soil properties of a contract dataset.

    Parameters
    ----------
    ds : contract dataset with dims ``unit`` x ``time`` (daily). Uses whichever of
        TA, P, SWC, VPD, SW_IN and the soil variables (BD ... CEC) it holds.
    season_months : months (1-12) of the growing season.
    standardize : return z-scores (mean 0, standard deviation 1 over units)
        instead of physical values.
    weights : multipliers applied after standardising, keyed by feature name
        (``"SWC_GS"``) or by source variable (``"SWC"`` weights every feature
        derived from SWC). Requires ``standardize=True``: weights on physical
        values would mix units.

    Returns
    -------
    DataFrame, index ``unit`` (n_units rows), one column per feature:
    TA_GS, TA_ANN (degC), P_GS (mm per season), P_ANN (mm yr-1), SWC_GS, SWC_ANN (%),
    VPD_GS (hPa), SW_IN_GS (W m-2) and the soil variables in contract units.
    ``df.attrs["units"]`` maps each column to its units.
    """
    if "unit" not in ds.dims:
        raise ValueError("unit_features: dataset has no 'unit' dimension")
    if weights is not None and not standardize:
        raise ValueError("unit_features: weights apply to standardised features; pass standardize=True")
    season = tuple(int(m) for m in season_months)
    if not season or any(m < 1 or m > 12 for m in season):
        raise ValueError(f"unit_features: season_months must be months 1-12, got {season}")
    columns, units = {}, {}
    if "time" in ds.dims:
        for spec in CLIMATE_FEATURES:
            if spec.source in ds.data_vars:
                columns[spec.name] = _climate_feature(ds[spec.source], spec, season)
                units[spec.name] = spec.units
    for name in SOIL:
        if name in ds.data_vars and ds[name].dims == ("unit",):
            columns[name] = np.asarray(ds[name].values, dtype=float)
            units[name] = VARIABLES[name].units
    if not columns:
        raise ValueError("unit_features: dataset has none of TA, P, SWC, VPD, SW_IN or the soil "
                         f"variables {list(SOIL)}")
    df = pd.DataFrame(columns, index=pd.Index([str(u) for u in ds["unit"].values], name="unit"))
    df.attrs["units"] = units
    if standardize:
        df = standardize_features(df, weights)
    return df


def feature_source(name: str) -> str:
    """The contract variable a feature is derived from (``"SWC_GS"`` -> ``"SWC"``)."""
    for spec in CLIMATE_FEATURES:
        if spec.name == name:
            return spec.source
    return name


def standardize_features(features: pd.DataFrame,
                         weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Z-score each column over units, then multiply by its weight.

    Constant columns become 0 (they carry no information about differences).
    ``weights`` is keyed by column name or source variable, as in :func:`unit_features`;
    a key that matches no column is an error.
    """
    std = features.std(ddof=0).replace(0.0, 1.0)
    z = (features - features.mean()) / std
    z.attrs["units"] = {c: "1" for c in z.columns}
    for key, w in (weights or {}).items():
        cols = [c for c in z.columns if c == key or feature_source(c) == key]
        if not cols:
            raise ValueError(f"weights: '{key}' matches no feature; features are {list(z.columns)}")
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"weights: weight of '{key}' must be a finite number >= 0, got {w}")
        z[cols] = z[cols] * float(w)
    return z


def select_features(features: pd.DataFrame, variables: Iterable[str] | None) -> pd.DataFrame:
    """Columns named in ``variables`` (feature names or source variables), all when None."""
    if variables is None:
        return features
    wanted = list(variables)
    cols = [c for c in features.columns if c in wanted or feature_source(c) in wanted]
    unknown = [v for v in wanted if not any(c == v or feature_source(c) == v for c in features.columns)]
    if unknown:
        raise ValueError(f"variables {unknown} match no feature; features are {list(features.columns)}")
    out = features[cols]
    out.attrs = dict(features.attrs)
    return out


def clean_features(features: pd.DataFrame) -> pd.DataFrame:
    """Drop all-missing columns, then units with any missing value."""
    out = features.dropna(axis=1, how="all").dropna(axis=0, how="any")
    if out.empty:
        raise ValueError("unit features are all missing (no unit has complete features)")
    out.attrs = dict(features.attrs)
    return out
