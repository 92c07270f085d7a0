"""Flux sites as learning tasks: arrays, scaling, windows, support sets and site folds.

A contract dataset of flux sites (dims ``unit``, ``time``) becomes a
:class:`SiteArrays` bundle of dense NumPy arrays. Everything downstream (the
LSTMs, TAM-RL, the gradient-boosting baseline) reads those arrays through
vectorised index arithmetic: a window is a pair ``(unit index, start day)`` and
a batch of windows is gathered with one fancy-indexing call.

Conventions
-----------
* ``TARGETS = ("GPP", "RECO", "NEE")`` in g C m-2 d-1, in that order on the last axis.
* Dynamic inputs are the daily drivers plus the day of year as ``sin``/``cos``.
* Static inputs are the per-unit features (elevation, climate normals, soils)
  plus one-hot vegetation (IGBP) and climate classes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import xarray as xr

from kgml_core import schema

TARGETS: tuple[str, ...] = ("GPP", "RECO", "NEE")
DEFAULT_DRIVERS: tuple[str, ...] = ("TA", "TA_MAX", "TA_MIN", "SW_IN", "VPD", "P",
                                    "RH_MAX", "RH_MIN", "WS", "SWC", "LAI")
DEFAULT_STATICS: tuple[str, ...] = ("ELEV", "MAT", "MAP") + schema.SOIL
UNKNOWN = "unknown"


@dataclass
class SiteArrays:
    """Dense arrays of a set of flux sites (or counties) over a common daily axis.

    Attributes
    ----------
    units : (n_unit,) str ids.
    time : (n_time,) datetime64[ns] days.
    x : (n_unit, n_time, n_dyn) float32 dynamic inputs (physical units until scaled; NaN missing).
    s : (n_unit, n_static) float32 static inputs incl. one-hot classes.
    y : (n_unit, n_time, 3) float32 GPP, RECO, NEE in g C m-2 d-1 (NaN missing).
    qc : (n_unit, n_time, 3) float32 quality fraction in [0, 1] (0 where ``y`` is missing).
    igbp, climate : (n_unit,) str classes.
    lat, lon : (n_unit,) float degrees.
    dyn_names, static_names : names of the columns of ``x`` and ``s``.
    """

    units: np.ndarray
    time: np.ndarray
    x: np.ndarray
    s: np.ndarray
    y: np.ndarray
    qc: np.ndarray
    igbp: np.ndarray
    climate: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    dyn_names: tuple[str, ...]
    static_names: tuple[str, ...]

    @property
    def n_unit(self) -> int:
        return len(self.units)

    def subset(self, idx: np.ndarray) -> "SiteArrays":
        """The same arrays restricted to the units at integer positions ``idx``."""
        idx = np.asarray(idx, dtype=int)
        return replace(self, units=self.units[idx], x=self.x[idx], s=self.s[idx], y=self.y[idx],
                       qc=self.qc[idx], igbp=self.igbp[idx], climate=self.climate[idx],
                       lat=self.lat[idx], lon=self.lon[idx])

    def time_slice(self, start: str | None = None, end: str | None = None) -> "SiteArrays":
        """The same units restricted to days in ``[start, end]`` (ISO dates, inclusive)."""
        keep = np.ones(len(self.time), dtype=bool)
        if start:
            keep &= self.time >= np.datetime64(start)
        if end:
            keep &= self.time <= np.datetime64(end)
        return replace(self, time=self.time[keep], x=self.x[:, keep], y=self.y[:, keep],
                       qc=self.qc[:, keep])


@dataclass
class ClassVocab:
    """The vegetation and climate classes one-hot encoded (fixed on the training sites)."""

    igbp: tuple[str, ...]
    climate: tuple[str, ...]

    @classmethod
    def from_labels(cls, igbp: Sequence[str], climate: Sequence[str]) -> "ClassVocab":
        return cls(tuple(sorted(set(map(str, igbp)) - {UNKNOWN})),
                   tuple(sorted(set(map(str, climate)) - {UNKNOWN})))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"IGBP_{c}" for c in self.igbp) + tuple(f"CLIM_{c}" for c in self.climate)

    def one_hot(self, igbp: Sequence[str], climate: Sequence[str]) -> np.ndarray:
        """(n, n_igbp + n_climate) float32; an unseen or unknown class gives a zero row."""
        a = np.array([[str(v) == c for c in self.igbp] for v in igbp], dtype=np.float32)
        b = np.array([[str(v) == c for c in self.climate] for v in climate], dtype=np.float32)
        return np.concatenate([a.reshape(len(igbp), -1), b.reshape(len(climate), -1)], axis=1)


def _unit_labels(ds: xr.Dataset, name: str) -> np.ndarray:
    if name in ds.coords or name in ds.data_vars:
        return np.array([str(v) if str(v) not in ("", "nan", "None") else UNKNOWN
                         for v in ds[name].values], dtype=object)
    return np.full(ds.sizes["unit"], UNKNOWN, dtype=object)


def _daily(ds: xr.Dataset, names: Sequence[str], required: bool) -> np.ndarray:
    """(unit, time, len(names)) float32; missing variables raise or become NaN."""
    cols = []
    for name in names:
        if name in ds.data_vars:
            cols.append(ds[name].transpose("unit", "time").values.astype(np.float32))
        elif required:
            raise ValueError(f"dataset has no daily variable '{name}' "
                             f"({schema.VARIABLES[name].long_name if name in schema.VARIABLES else name}); "
                             f"available: {sorted(map(str, ds.data_vars))}")
        else:
            cols.append(np.full((ds.sizes["unit"], ds.sizes["time"]), np.nan, np.float32))
    return np.stack(cols, axis=-1) if cols else np.zeros((ds.sizes["unit"], ds.sizes["time"], 0), np.float32)


def doy_features(time: np.ndarray) -> np.ndarray:
    """(n_time, 2) sin and cos of the day of year."""
    doy = (time.astype("datetime64[D]") - time.astype("datetime64[Y]")).astype(int)
    angle = 2 * np.pi * doy / 365.25
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)


LAND_COVER: tuple[str, ...] = ("LC_CORN", "LC_SOY")


def land_cover_of_day(ds: xr.Dataset) -> np.ndarray:
    """(unit, time, 2) float32: 1 on the days of a year the unit grows corn (col 0) or soybean (col 1).

    From the annual ``CROP`` variable (0 corn, 1 soybean, -1 other); all zero
    without it or for years it does not cover (natural vegetation, unknown crops).
    """
    n, n_time = ds.sizes["unit"], ds.sizes["time"]
    out = np.zeros((n, n_time, 2), np.float32)
    if "CROP" not in ds.data_vars or "year" not in ds["CROP"].dims:
        return out
    crop = ds["CROP"].transpose("unit", "year")
    years = crop["year"].values.astype(int)
    day_year = ds["time"].values.astype("datetime64[Y]").astype(int) + 1970
    pos = np.searchsorted(years, day_year)
    covered = (pos < len(years)) & (years[np.minimum(pos, len(years) - 1)] == day_year)
    code = np.where(covered[None, :], crop.values[:, np.minimum(pos, len(years) - 1)], -1)
    out[..., 0] = code == 0
    out[..., 1] = code == 1
    return out


def site_arrays(ds: xr.Dataset, drivers: Sequence[str] = DEFAULT_DRIVERS,
                statics: Sequence[str] = DEFAULT_STATICS, vocab: ClassVocab | None = None,
                require_targets: bool = True, memory: Sequence[int] = (),
                land_cover: bool = True) -> tuple[SiteArrays, ClassVocab]:
    """Convert a daily contract dataset into :class:`SiteArrays`.

    Parameters
    ----------
    ds : contract dataset with dims ``unit``/``time`` (sites or counties).
    drivers : daily driver names; every one must be in ``ds`` (ValueError otherwise).
    statics : static per-unit names; absent ones become NaN (imputed by the scaler).
    vocab : class vocabulary; built from ``ds`` when None (pass the training one otherwise).
    require_targets : raise when GPP, RECO or NEE is absent (False for upscaling inputs).
    memory : trailing-mean lengths in days; each adds the drivers' mean over that many
        past days as inputs (antecedent conditions a 30-day window cannot see).
    land_cover : add the crop of the year as daily 0/1 inputs ``LC_CORN``, ``LC_SOY``
        (:func:`land_cover_of_day`), so that a rotation is not a hidden change of task.

    Returns
    -------
    (arrays, vocab)
    """
    if "unit" not in ds.dims or "time" not in ds.dims:
        raise ValueError(f"expected a daily dataset with dims ('unit', 'time'), got {tuple(ds.dims)}")
    time = ds["time"].values.astype("datetime64[ns]")
    x = _daily(ds, drivers, required=True)
    doy = np.broadcast_to(doy_features(time), (ds.sizes["unit"], len(time), 2))
    lc = [land_cover_of_day(ds)] if land_cover else []
    x = np.concatenate([x] + [trailing_mean(x, days) for days in memory] + lc + [doy], axis=-1)
    igbp, climate = _unit_labels(ds, "IGBP"), _unit_labels(ds, "climate")
    vocab = vocab or ClassVocab.from_labels(igbp, climate)
    stat = np.stack([ds[n].values.astype(np.float32) if n in ds.data_vars
                     else np.full(ds.sizes["unit"], np.nan, np.float32) for n in statics], axis=-1) \
        if statics else np.zeros((ds.sizes["unit"], 0), np.float32)
    s = np.concatenate([stat, vocab.one_hot(igbp, climate)], axis=1).astype(np.float32)
    y = _daily(ds, TARGETS, required=require_targets)
    qc = _daily(ds, tuple(f"{t}_QC" for t in TARGETS), required=False)
    qc = np.where(np.isnan(qc), 1.0, np.clip(qc, 0.0, 1.0)).astype(np.float32)
    qc = np.where(np.isfinite(y), qc, 0.0).astype(np.float32)
    arrays = SiteArrays(
        units=np.array([str(u) for u in ds["unit"].values], dtype=object), time=time,
        x=x.astype(np.float32), s=s, y=y, qc=qc, igbp=igbp, climate=climate,
        lat=ds["lat"].values.astype(float), lon=ds["lon"].values.astype(float),
        dyn_names=tuple(drivers) + tuple(f"{n}_MEAN{d}" for d in memory for n in drivers)
        + (LAND_COVER if land_cover else ()) + ("DOY_SIN", "DOY_COS"),
        static_names=tuple(statics) + vocab.names)
    return arrays, vocab


def site_folds(labels: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """Fold id (0..k-1) per site, stratified by ``labels`` (IGBP or climate class).

    Sites of each class are shuffled and dealt round-robin, continuing the deal
    across classes so that fold sizes differ by at most one.
    """
    labels = np.asarray(labels, dtype=object)
    if k < 2:
        raise ValueError(f"need at least 2 folds over sites, got k={k}")
    if k > len(labels):
        raise ValueError(f"cannot split {len(labels)} sites into {k} folds")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=int)
    offset = 0
    for cls in sorted(set(labels)):
        idx = rng.permutation(np.nonzero(labels == cls)[0])
        folds[idx] = (offset + np.arange(len(idx))) % k
        offset += len(idx)
    return folds


def class_weights(igbp: Sequence[str], climate: Sequence[str]) -> np.ndarray:
    """Per-site loss weight: mean of inverse class frequencies of IGBP and climate, mean 1.

    ``w_i = 0.5 * (N / (K_v n_v(i)) + N / (K_c n_c(i)))`` where ``n_v(i)`` counts
    sites of site i's vegetation class and ``K_v`` the classes present.
    """
    def inv(labels):
        labels = np.asarray(labels, dtype=object)
        values, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
        return len(labels) / (len(values) * counts[inverse])
    w = 0.5 * (inv(igbp) + inv(climate))
    return (w / w.mean()).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# tabular features (gradient boosting)
# ---------------------------------------------------------------------------------------------

def trailing_mean(x: np.ndarray, days: int) -> np.ndarray:
    """Mean over the last ``days`` days (inclusive) along axis 1, NaN ignored; same shape."""
    valid = np.isfinite(x)
    v = np.where(valid, x, 0.0).astype(np.float64)
    zero = np.zeros_like(v[:, :1])
    cs = np.concatenate([zero, np.cumsum(v, axis=1)], axis=1)
    cn = np.concatenate([zero, np.cumsum(valid, axis=1)], axis=1)
    t = np.arange(x.shape[1])
    lo = np.maximum(t + 1 - days, 0)
    total = cs[:, t + 1] - cs[:, lo]
    n = cn[:, t + 1] - cn[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan).astype(np.float32)


def tabular_features(a: SiteArrays, lags: Sequence[int] = (7,)) -> tuple[np.ndarray, list[str]]:
    """Per-day feature table for tree models: dynamic inputs, more trailing means, statics.

    ``lags`` add trailing means of the raw drivers (the columns of ``a.x`` not
    named ``*_MEAN*``, ``LC_*`` or ``DOY_*``) to the memory features ``a`` already has.

    Returns
    -------
    (features (n_unit, n_time, n_feat) float32, names)
    """
    n_drv = sum(1 for n in a.dyn_names if "_MEAN" not in n and not n.startswith(("DOY_", "LC_")))
    parts = [a.x]
    names = list(a.dyn_names)
    for lag in lags:
        parts.append(trailing_mean(a.x[..., :n_drv], lag))
        names += [f"{n}_MEAN{lag}" for n in a.dyn_names[:n_drv]]
    parts.append(np.broadcast_to(a.s[:, None, :], a.x.shape[:2] + (a.s.shape[1],)))
    names += list(a.static_names)
    return np.concatenate(parts, axis=-1).astype(np.float32), names


def complete_static_features(ds: xr.Dataset, igbp: str | None = None) -> xr.Dataset:
    """Fill the static features and classes a unit needs for zero-shot prediction.

    * ``IGBP``: taken from ``IGBP`` or ``igbp`` coordinates, else ``igbp`` (e.g.
      ``"CRO"`` for the simulated crop counties), else ``"unknown"``;
    * ``climate``: Koeppen-like class of the simulator's climatology at the unit's
      location when absent (the rule the virtual tower network uses);
    * ``ELEV`` from the simulator's terrain when absent, ``MAT`` (degC) and
      ``MAP`` (mm yr-1) from the unit's own daily ``TA`` and ``P`` where missing.

    Returns a copy; the input is not modified.
    """
    from kgml_core.simulator import climate as sim_climate

    ds = ds.copy()
    lat, lon = ds["lat"].values.astype(float), ds["lon"].values.astype(float)
    if "IGBP" not in ds.coords:
        labels = ds["igbp"].values if "igbp" in ds.coords else np.full(ds.sizes["unit"], igbp or UNKNOWN)
        labels = [str(v) if str(v) not in ("", "nan", "None") else (igbp or UNKNOWN) for v in labels]
        ds = ds.assign_coords(IGBP=("unit", np.array(labels, dtype=object)))
    elev_model = sim_climate.elevation(lat, lon)
    if "ELEV" not in ds.data_vars:
        schema.set_variable(ds, "ELEV", elev_model, provenance="simulator terrain at the unit's location")
    else:
        ds["ELEV"] = ds["ELEV"].fillna(xr.DataArray(elev_model, dims="unit"))
    if "climate" not in ds.coords:
        ds = ds.assign_coords(climate=("unit", np.asarray(
            sim_climate.koeppen(lat, lon, ds["ELEV"].values.astype(float)), dtype=object)))
    own = {"MAT": ds["TA"].mean("time") if "TA" in ds else None,
           "MAP": ds["P"].mean("time") * 365.25 if "P" in ds else None}
    for name, fallback in own.items():
        if fallback is None:
            continue
        if name not in ds.data_vars:
            schema.set_variable(ds, name, fallback.values, provenance="from the unit's daily series")
        else:
            ds[name] = ds[name].fillna(fallback)
    return ds
