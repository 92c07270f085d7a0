"""Checked column values: numbers, timestamps and dates, coordinates; each bad value named by its line.

``header_line`` is the 1-based line of the table's header, so that data row ``i`` (0-based)
is line ``header_line + 1 + i`` of the file.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from kgml_core.loaders.errors import LoaderError

MISSING = -9999.0


def numeric_column(path, table: pd.DataFrame, column: str, header_line: int,
                   missing: float | None = MISSING) -> np.ndarray:
    """Column as float64 with ``missing`` (-9999) as NaN; raises naming the first bad row.

    Returns an array of shape (n_rows,).
    """
    values = table[column]
    if values.dtype.kind in "fiu":
        out = values.to_numpy(dtype=float)
    else:
        text = values.fillna("").astype(str).str.strip()
        out = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(out) & (text != "").to_numpy(dtype=bool)
        bad &= ~text.str.upper().isin(["NA", "NAN", "-9999"]).to_numpy(dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LoaderError(path, f"column '{column}' has a non-numeric value {text.iloc[i]!r} "
                                    f"on line {header_line + 1 + i}", "a number (or -9999 for missing)")
    if missing is not None:
        out = np.where(np.isclose(out, missing), np.nan, out)
    if np.isinf(out).any():
        i = int(np.flatnonzero(np.isinf(out))[0])
        raise LoaderError(path, f"column '{column}' has an infinite value on line {header_line + 1 + i}",
                          "a finite number")
    return out


def parse_timestamps(path, table: pd.DataFrame, column: str, header_line: int,
                     fmt: str) -> pd.DatetimeIndex:
    """Parse a FLUXNET-style integer timestamp column (``%Y%m%d`` or ``%Y%m%d%H%M``).

    Raises naming the first row that is malformed or not a real date (e.g. 20010230).
    """
    width = 8 if fmt == "%Y%m%d" else 12
    raw = table[column]
    if raw.dtype.kind in "iu":
        stamps, bad = _integer_stamps(raw.to_numpy(dtype=np.int64), width)
        if not bad.any():
            return stamps
    text = raw.astype(object).fillna("").astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    parsed = pd.to_datetime(text.where(text.str.len() == width, None), format=fmt, errors="coerce")
    bad = parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column '{column}' has an impossible timestamp {str(raw.iloc[i])!r} "
                                f"on line {header_line + 1 + i}",
                          f"a date written as {'YYYYMMDD' if width == 8 else 'YYYYMMDDHHMM'}")
    return pd.DatetimeIndex(parsed).as_unit("ns")


# how a date column is written -> (pandas format, resolution); compact FLUXNET integers and ISO text
DATE_FORMATS: tuple[tuple[str, str, str], ...] = (
    (r"\d{12}", "%Y%m%d%H%M", "sub"), (r"\d{8}", "%Y%m%d", "D"), (r"\d{6}", "%Y%m", "M"), (r"\d{4}", "%Y", "Y"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}", "%Y-%m-%d{sep}%H:%M:%S", "sub"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", "%Y-%m-%d{sep}%H:%M", "sub"),
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d", "D"), (r"\d{4}/\d{2}/\d{2}", "%Y/%m/%d", "D"), (r"\d{4}-\d{2}", "%Y-%m", "M"),
)


def parse_dates(path, table: pd.DataFrame, column: str, header_line: int) -> tuple[pd.DatetimeIndex, str]:
    """Parse a date column written compactly (``20010530``, ``200105``, ``200105301230``) or in ISO.

    The layout is taken from the first value; every row must follow it. Returns the
    timestamps and the resolution: "sub" (sub-daily), "D", "M" or "Y". Raises naming the
    first row that is malformed or not a real date (e.g. 2001-02-30).
    """
    raw = table[column]
    text = raw.astype(object).fillna("").astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    first = next((t for t in text if t), "")
    layout = next(((pat, fmt, res) for pat, fmt, res in DATE_FORMATS if re.fullmatch(pat, first)), None)
    if layout is None:
        raise LoaderError(path, f"column '{column}' has {first!r} on line {header_line + 1}",
                          "dates written YYYYMMDD[HHMM], YYYYMM, YYYY or ISO YYYY-MM-DD[ HH:MM]")
    pat, fmt, res = layout
    if fmt == "%Y%m%d%H%M" or fmt == "%Y%m%d":
        return parse_timestamps(path, table, column, header_line, fmt), res
    fmt = fmt.replace("{sep}", "T" if "T" in first else " ")
    good_shape = text.str.fullmatch(pat)
    parsed = pd.to_datetime(text.where(good_shape, None), format=fmt, errors="coerce")
    bad = parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LoaderError(path, f"column '{column}' has an impossible date {text.iloc[i]!r} on line "
                                f"{header_line + 1 + i}", f"a real date written like the first row ({first!r})")
    return pd.DatetimeIndex(parsed).as_unit("ns"), res


def _integer_stamps(values: np.ndarray, width: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Vectorised YYYYMMDD[HHMM] integers -> timestamps, and a mask of impossible ones."""
    clock = values % 10_000 if width == 12 else np.zeros_like(values)
    date = values // 10_000 if width == 12 else values
    year, month, day = date // 10_000, (date // 100) % 100, date % 100
    hour, minute = clock // 100, clock % 100
    months = ((year - 1970) * 12 + month - 1).astype("timedelta64[M]")
    start = np.datetime64("1970-01", "M") + months
    stamp = start.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    back_month = stamp.astype("datetime64[M]") != start
    bad = ((year < 1000) | (year > 9999) | (month < 1) | (month > 12) | (day < 1) | back_month
           | (hour > 23) | (minute > 59))
    ns = stamp.astype("datetime64[ns]") + (hour * 60 + minute).astype("timedelta64[m]")
    return pd.DatetimeIndex(ns), bad


def check_unique_increasing(path, stamps: pd.DatetimeIndex, column: str, header_line: int,
                            rows: np.ndarray | None = None, once: str = "each timestamp once") -> None:
    """Raise on duplicate or decreasing timestamps, naming the first offending line.

    ``rows``: the 0-based rows to check together (one site of a long table), default all;
    ``once``: what the message says was expected of duplicates.
    """
    rows = np.arange(len(stamps)) if rows is None else np.asarray(rows)
    sub = stamps[rows]
    dup = sub.duplicated()
    if dup.any():
        i = int(rows[np.flatnonzero(dup)[0]])
        raise LoaderError(path, f"column '{column}' repeats timestamp {stamps[i]:%Y-%m-%d %H:%M} "
                                f"on line {header_line + 1 + i}", once)
    back = np.flatnonzero(np.diff(sub.asi8) < 0)
    if back.size:
        i, prev = int(rows[back[0] + 1]), int(rows[back[0]])
        raise LoaderError(path, f"column '{column}' goes back in time on line {header_line + 1 + i} "
                                f"({stamps[prev]:%Y-%m-%d %H:%M} then {stamps[i]:%Y-%m-%d %H:%M})",
                          "timestamps in increasing order")


def check_coordinate(path, name: str, values: np.ndarray, low: float, high: float) -> None:
    """Raise, naming coordinate variable ``name``, when ``values`` holds missing, infinite or out-of-range values."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise LoaderError(path, f"coordinate '{name}' has {int(bad.sum())} missing or infinite value(s) "
                                f"of {values.size}", f"a finite value in [{low:g}, {high:g}] at every grid cell")
    out = (values < low) | (values > high)
    if out.any():
        raise LoaderError(path, f"coordinate '{name}' has {int(out.sum())} value(s) outside [{low:g}, {high:g}] "
                                f"(e.g. {values[out].flat[0]:g})", f"degrees in [{low:g}, {high:g}]")
