"""Half-hourly and hourly records to daily values, with a minimum-coverage rule.

A day keeps a value only when at least ``min_coverage`` of its expected records
(48 half-hours or 24 hours) hold a valid number; otherwise it is missing. Means are
taken over the valid records; sums (precipitation) are the mean rate times the
expected number of records, so a day with a few gaps is not biased low.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kgml_core.loaders.errors import LoaderError

# 1 umol CO2 m-2 s-1 sustained for a day: 12.011 g C mol-1 * 1e-6 mol umol-1 * 86400 s d-1.
UMOL_TO_G_C_PER_DAY = 12.011e-6 * 86400.0

STEPS_MIN = {30: 48, 60: 24}


def records_per_day(path, stamps: pd.DatetimeIndex) -> int:
    """48 for half-hourly and 24 for hourly series (from the median step); raises otherwise."""
    if len(stamps) < 2:
        raise LoaderError(path, "has a single timestamp", "a half-hourly or hourly series of many rows")
    step = int(np.median(np.diff(stamps.asi8)) // 60_000_000_000)
    if step not in STEPS_MIN:
        raise LoaderError(path, f"timestamps are {step} minutes apart",
                          "half-hourly (30 min) or hourly (60 min) records")
    return STEPS_MIN[step]


def day_index(stamps: pd.DatetimeIndex) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Index of each record's day (0 = first day) and every day from first to last.

    Records are assigned to the day of their start time (TIMESTAMP_START).
    """
    day_ns = 86_400_000_000_000
    day_num = stamps.asi8 // day_ns
    first = int(day_num.min())
    days = pd.date_range(pd.Timestamp(first * day_ns), periods=int(day_num.max()) - first + 1, freq="D")
    return (day_num - first).astype(np.int64), days


def daily(values: np.ndarray, idx: np.ndarray, n_days: int, per_day: int, how: str = "mean",
          min_coverage: float = 0.8) -> np.ndarray:
    """Aggregate records to days.

    Parameters
    ----------
    values : shape (n_records,), NaN where missing.
    idx : day index of each record, shape (n_records,).
    n_days : number of days in the output.
    per_day : expected records per day (48 or 24).
    how : "mean", "sum" (mean x per_day), "max" or "min".
    min_coverage : fraction of expected records that must be valid for the day to count.

    Returns
    -------
    Array of shape (n_days,), NaN for days below the coverage threshold.
    """
    valid = np.isfinite(values)
    count = np.bincount(idx[valid], minlength=n_days).astype(float)
    enough = count >= min_coverage * per_day
    out = np.full(n_days, np.nan)
    if how in ("mean", "sum"):
        total = np.bincount(idx[valid], weights=values[valid], minlength=n_days)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        out[enough] = mean[enough] * (per_day if how == "sum" else 1)
    elif how in ("max", "min"):
        fill = -np.inf if how == "max" else np.inf
        acc = np.full(n_days, fill)
        ufunc = np.maximum if how == "max" else np.minimum
        ufunc.at(acc, idx[valid], values[valid])
        out[enough] = acc[enough]
    else:
        raise ValueError(f"unknown aggregation {how!r}: expected mean, sum, max or min")
    return out


def good_fraction(flags: np.ndarray, idx: np.ndarray, n_days: int, per_day: int,
                  good: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Fraction of a day's expected records whose QC flag is in ``good`` (0 measured, 1 good fill)."""
    ok = np.isin(flags, good)
    return np.bincount(idx[ok], minlength=n_days)[:n_days] / float(per_day)
