"""From contract datasets to unit-year samples for the KGML-ag family.

A sample is one unit (county or flux site) in one calendar year: 365 daily
input vectors (the first 365 days of the year), the daily targets and the
annual yield. The inputs follow KGML-ag (SCIENCE.md): radiation, maximum air
temperature, temperature range, maximum humidity, humidity range, wind,
precipitation, crop type, GPP and nine soil properties, with two changes:

* no ``YEAR``: the simulated world has no technology trend, so a year input
  could only be extrapolated in held-out years (they enter the network
  several standard deviations outside the training range);
* ``PREV_GPP``, the previous year's GPP sum, gives the network a memory of
  last year's crop, whose residue still decomposes in winter and spring.

With a warm-up (``make_samples(..., warmup=K)``) each sample also carries the
inputs of the K days before its 1 January (``Samples.warm``): the recurrent
networks read them first, with no loss, and carry their state into the scored
year, so the litter left by last year's crop and weather is not invisible.

Location (lat, lon, state) is deliberately not an input: a global model
cannot know where it is. Soil water (SWC) is a state variable of the process
model, not a driver, and is not an input either. The process model's spatial
parameters (``PARAM_*`` of a simulated ensemble) travel with the samples
(``Samples.params``): the emulator is pretrained with them as inputs, and
estimates them from observations afterwards.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields

import numpy as np
import xarray as xr
from scipy.ndimage import uniform_filter1d

# the names live in kgml_core.features (the models read them too); readers may import them from here
from kgml_core.features import (DAILY_INPUTS, DAILY_TARGETS, DAYS, INPUTS, NEEDED,  # noqa: F401
                                PARAM_NAMES, SOIL_INPUTS)
from kgml_core.simulator.parameters import PARAMS, prior_sd


@dataclass
class Samples:
    """Unit-year samples in physical units.

    x : (n, 365, len(INPUTS)) inputs; gpp : (n, 365) g C m-2 d-1;
    daily : {"RA","RH","NEE","RECO"} -> (n, 365) g C m-2 d-1 and "SWC" -> (n, 365) % (NaN where unknown);
    yield_ : (n,) g C m-2 (NaN where unknown); residue : (n, 365) g C m-2 d-1
    (NaN when the dataset has none); season : (n, 365) bool growing season;
    weight : (n, 365) quality weights in [0, 1]; unit, state, county : (n,) str;
    year : (n,) int; crop : (n,) int; params : (n, len(PARAM_NAMES)) the
    process model's parameters of the unit (physical units; NaN when the
    dataset has none); warm : (n, warmup, len(INPUTS)) the inputs of the
    ``warmup`` days before each sample's 1 January (None or 0 days: no
    warm-up), read by the recurrent networks before the scored year, no loss.
    """

    x: np.ndarray
    gpp: np.ndarray
    daily: dict[str, np.ndarray]
    yield_: np.ndarray
    residue: np.ndarray
    season: np.ndarray
    weight: np.ndarray
    unit: np.ndarray
    state: np.ndarray
    county: np.ndarray
    year: np.ndarray
    crop: np.ndarray
    params: np.ndarray
    warm: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def warmup(self) -> int:
        """Days of warm-up before each sample (0: none)."""
        return 0 if self.warm is None else int(self.warm.shape[1])

    def subset(self, keep) -> "Samples":
        """The samples selected by a boolean mask or an index array."""
        keep = np.asarray(keep)
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "daily":
                out[f.name] = {k: v[keep] for k, v in value.items()}
            elif f.name == "attrs":
                out[f.name] = dict(value)
            else:
                out[f.name] = None if value is None else value[keep]
        return Samples(**out)

    @staticmethod
    def concat(parts: list["Samples"]) -> "Samples":
        """Samples of several sets one after another."""
        out = {}
        for f in fields(Samples):
            if f.name == "daily":
                out[f.name] = {k: np.concatenate([p.daily[k] for p in parts]) for k in parts[0].daily}
            elif f.name == "attrs":
                out[f.name] = dict(parts[0].attrs)
            elif f.name == "warm" and any(p.warm is None for p in parts):
                if len({p.warmup for p in parts}) > 1:
                    raise ValueError(f"cannot concatenate samples with warm-ups of {[p.warmup for p in parts]} days")
                out[f.name] = None
            else:
                out[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
        return Samples(**out)


def growing_season(gpp: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Days from the first to the last day with GPP above ``fraction`` of the year's peak.

    gpp : (n, days) g C m-2 d-1, NaN allowed. Returns (n, days) bool.
    """
    g = np.nan_to_num(gpp, nan=0.0)
    above = g > fraction * g.max(axis=1, keepdims=True)
    days = np.arange(g.shape[1])
    first = np.where(above.any(1), above.argmax(1), g.shape[1])
    last = np.where(above.any(1), g.shape[1] - 1 - above[:, ::-1].argmax(1), -1)
    return (days >= first[:, None]) & (days <= last[:, None])


def _fill_gaps(a: np.ndarray) -> np.ndarray:
    """Linear interpolation of NaN gaps along the last axis (edges held); all-NaN rows become 0."""
    out = np.array(a, dtype=np.float64)
    idx = np.arange(out.shape[-1])
    for row in out.reshape(-1, out.shape[-1]):
        ok = np.isfinite(row)
        if ok.all():
            continue
        row[:] = np.interp(idx, idx[ok], row[ok]) if ok.any() else 0.0
    return out


def _year_slices(ds: xr.Dataset, years) -> list[tuple[int, np.ndarray]]:
    """(year, time indices of its first 365 days) for each year with a full record."""
    time_years = ds["time"].dt.year.values
    out = []
    for year in years:
        idx = np.flatnonzero(time_years == int(year))
        if idx.size >= DAYS:
            out.append((int(year), idx[:DAYS]))
    return out


def _daily(ds: xr.Dataset, name: str, slices) -> np.ndarray:
    """(n_years * n_units, 365) array of a daily variable, year-major."""
    values = ds[name].transpose("unit", "time").values.astype(np.float64)
    return np.concatenate([values[:, idx] for _, idx in slices])


def _annual(ds: xr.Dataset, name: str, slices, n_units: int) -> np.ndarray:
    if name not in ds or "year" not in ds[name].dims:
        return np.full(len(slices) * n_units, np.nan)
    da = ds[name].transpose("unit", "year")
    have = set(int(y) for y in da["year"].values)
    cols = [da.sel(year=y).values.astype(np.float64) if y in have else np.full(n_units, np.nan)
            for y, _ in slices]
    return np.concatenate(cols)


def harvest_day(gpp: np.ndarray) -> np.ndarray:
    """Day index of harvest, from the end of GPP, (n,) int (364 when GPP never rises).

    The last day on which the 7-day running mean of GPP exceeds the off-season
    level (days 1-90: mean plus 4 standard deviations, so that the noise of
    tower GPP does not count) plus 2 % of the year's peak. On the simulator's
    county GPP it is the harvest day (median error 1 day); on noisy flux-tower
    GPP within -3 to +1 days for half of the site-years. Real data would take
    it from crop-progress statistics.

    gpp : (n, 365) g C m-2 d-1, gaps filled.
    """
    smooth = uniform_filter1d(np.nan_to_num(np.asarray(gpp, np.float64)), 7, axis=1, mode="nearest")
    off = smooth[:, :90]
    threshold = off.mean(1) + 4 * off.std(1) + 0.02 * smooth.max(1)
    above = smooth > threshold[:, None]
    last = smooth.shape[1] - 1 - above[:, ::-1].argmax(1)
    return np.where(above.any(1), last, smooth.shape[1] - 1).astype(int)


def harvest_profile(gpp: np.ndarray) -> np.ndarray:
    """Timing of each sample's residue input: 1 from its own harvest day on, 0 before, (n, 365) float32.

    The residue input to the Rh network is the residue amount times this step,
    so the network sees how much entered the soil and since when.
    """
    days = np.arange(np.asarray(gpp).shape[1])
    return (days[None, :] >= harvest_day(gpp)[:, None]).astype(np.float32)


def previous_year_gpp(ds: xr.Dataset, years) -> np.ndarray:
    """Each unit-year's previous-year GPP sum (g C m-2), (len(years) * n_units,), year-major.

    The memory input. A year whose predecessor is not in ``ds`` takes the
    unit's mean over the years of the other crop (the rotation alternates), or
    over all its years when it has no such year.
    """
    gpp = ds["GPP"].transpose("unit", "time")
    time_years = ds["time"].dt.year.values
    have = sorted(set(time_years.tolist()))
    annual = np.stack([np.nanmean(gpp.values[:, time_years == y], axis=1) * DAYS for y in have], axis=1)
    crop = _annual(ds, "CROP", [(y, None) for y in have], ds.sizes["unit"]).reshape(len(have), -1).T
    out = []
    for year in years:
        j = have.index(int(year))
        if j > 0 and have[j - 1] == int(year) - 1:
            out.append(annual[:, j - 1])
            continue
        other = crop != crop[:, [j]]
        other[:, j] = False
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # units without another-crop year
            fallback = np.nanmean(np.where(other, annual, np.nan), axis=1)
            out.append(np.where(np.isfinite(fallback), fallback, np.nanmean(annual, axis=1)))
    return np.nan_to_num(np.concatenate(out), nan=float(np.nanmean(annual)) if np.isfinite(annual).any()
                         else 0.0)


def sample_params(ds: xr.Dataset, n_years: int) -> np.ndarray:
    """The units' ``PARAM_*`` values tiled over years, (n_years * n_units, len(PARAM_NAMES)); NaN if absent."""
    cols = [np.tile(ds[f"PARAM_{k}"].values.astype(np.float64), n_years) if f"PARAM_{k}" in ds
            else np.full(n_years * ds.sizes["unit"], np.nan) for k in PARAM_NAMES]
    return np.stack(cols, axis=1).astype(np.float32)


def _static(ds: xr.Dataset, name: str, n_years: int) -> np.ndarray:
    if name not in ds:
        raise ValueError(f"dataset has no soil variable '{name}' (needed as a KGML-ag input)")
    return np.tile(ds[name].values.astype(np.float64), n_years)


def _inputs(ds: xr.Dataset, slices) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The KGML-ag inputs of ``slices`` ((year, time indices), the same number of days each).

    Returns x (n_slices * n_units, days, len(INPUTS)) float32 in physical units,
    year-major; GPP with gaps filled and raw (n, days); the annual crop code (n,).
    """
    n_units, n_years, days = ds.sizes["unit"], len(slices), len(slices[0][1])
    gpp_raw = _daily(ds, "GPP", slices)
    gpp = _fill_gaps(gpp_raw)
    crop = _annual(ds, "CROP", slices, n_units)
    tmax, rhmax = _daily(ds, "TA_MAX", slices), _daily(ds, "RH_MAX", slices)
    cols = {
        "SW_IN": _daily(ds, "SW_IN", slices), "TA_MAX": tmax, "TA_RANGE": tmax - _daily(ds, "TA_MIN", slices),
        "RH_MAX": rhmax, "RH_RANGE": rhmax - _daily(ds, "RH_MIN", slices),
        "WS": _daily(ds, "WS", slices), "P": _daily(ds, "P", slices),
        "CROP": np.repeat(np.nan_to_num(crop, nan=-1.0)[:, None], days, 1), "GPP": gpp,
        "PREV_GPP": np.repeat(previous_year_gpp(ds, [y for y, _ in slices])[:, None], days, 1),
    }
    for name in SOIL_INPUTS:
        cols[name] = np.repeat(_static(ds, name, n_years)[:, None], days, 1)
    x = np.stack([_fill_gaps(cols[name]) for name in INPUTS], axis=-1).astype(np.float32)
    return x, gpp, gpp_raw, crop


def warmup_slices(ds: xr.Dataset, years, days: int) -> list[tuple[int, np.ndarray]]:
    """(source year, time indices) of each year's warm-up: the last ``days`` days before its 1 January.

    The warm-up of year Y is the end of year Y-1 (366 days in a leap year: the
    days right before 1 January). A year whose predecessor is not a full year
    of ``ds`` (the first year of a record) takes the end of the following year
    instead (in a two-crop rotation the crop of Y+1 is the crop Y-1 had; its
    weather is another year's), or its own end when it has no successor either.
    """
    time_years = ds["time"].dt.year.values
    full = {int(y) for y in set(time_years.tolist()) if (time_years == y).sum() >= DAYS}
    out = []
    for year in years:
        source = next((y for y in (int(year) - 1, int(year) + 1, int(year)) if y in full), None)
        if source is None:
            raise ValueError(f"no full year of daily data for the warm-up of {year}")
        idx = np.flatnonzero(time_years == source)
        out.append((source, idx[len(idx) - days:]))
    return out


def make_samples(ds: xr.Dataset, years=None, warmup: int = 0) -> Samples:
    """Unit-year samples of a contract dataset (counties or flux sites).

    Parameters
    ----------
    ds : contract dataset with dims unit/time, the drivers in :data:`NEEDED`,
        the soils in :data:`SOIL_INPUTS`, annual ``CROP`` (and ``YIELD`` when
        known); fluxes RA/RH/NEE/RECO when known (missing ones become NaN),
        optional ``RECO_QC``/``NEE_QC`` (quality weights) and ``RESIDUE``.
    years : the calendar years to take (default: every full year).
    warmup : days of the previous year read before each sample (0 to 365),
        ``Samples.warm``; see :func:`warmup_slices` for the first year of a record.

    Returns
    -------
    :class:`Samples`, year-major (all units of the first year, then the next).
    """
    missing = [v for v in NEEDED + ("CROP",) if v not in ds]
    if missing:
        raise ValueError(f"dataset lacks variables {missing} needed for KGML-ag inputs")
    if not 0 <= int(warmup) <= DAYS:
        raise ValueError(f"warmup must be 0 to {DAYS} days, got {warmup!r}")
    if years is None:
        years = sorted(set(ds["time"].dt.year.values.tolist()))
    slices = _year_slices(ds, years)
    if not slices:
        raise ValueError(f"no full year of daily data for years {list(years)}")
    n_units, n_years = ds.sizes["unit"], len(slices)
    x, gpp, gpp_raw, crop = _inputs(ds, slices)
    warm = _inputs(ds, warmup_slices(ds, [y for y, _ in slices], int(warmup)))[0] if warmup else \
        np.zeros((len(x), 0, x.shape[-1]), np.float32)
    year = np.repeat([y for y, _ in slices], n_units)
    nan = np.full((n_units * n_years, DAYS), np.nan)
    daily = {v: (_daily(ds, v, slices) if v in ds else nan.copy()) for v in DAILY_TARGETS}
    weight = np.ones_like(gpp)
    if "RECO_QC" in ds:
        weight = np.nan_to_num(_daily(ds, "RECO_QC", slices), nan=0.0)
    residue = _daily(ds, "RESIDUE", slices) if "RESIDUE" in ds else nan.copy()
    county = ds["county"].values if "county" in ds.coords else ds["unit"].values
    return Samples(
        x=x, gpp=gpp.astype(np.float32), daily={k: v.astype(np.float32) for k, v in daily.items()},
        yield_=_annual(ds, "YIELD", slices, n_units).astype(np.float32),
        residue=residue.astype(np.float32), season=growing_season(gpp_raw), weight=weight.astype(np.float32),
        unit=np.tile(ds["unit"].values.astype(str), n_years),
        state=np.tile(ds["state"].values.astype(str), n_years),
        county=np.tile(np.asarray(county).astype(str), n_years),
        year=year.astype(int), crop=np.nan_to_num(crop, nan=-1).astype(int),
        params=sample_params(ds, n_years), warm=warm, attrs={"years": [y for y, _ in slices]})


def residue_profile(samples: Samples) -> np.ndarray:
    """Mean timing of the residue input, (365,) summing to 1.

    Taken from the process-model residue when the samples have one; otherwise
    a default: the residue enters over the 30 days after the end of the
    growing season (harvest), the way KGML-ag injects it.
    """
    res = np.nan_to_num(samples.residue, nan=0.0)
    totals = res.sum(1)
    if np.any(totals > 0):
        prof = (res[totals > 0] / totals[totals > 0, None]).mean(0)
        return (prof / prof.sum()).astype(np.float32)
    season = samples.season.mean(0) > 0.5
    end = int(np.flatnonzero(season).max()) if season.any() else 280
    prof = np.zeros(DAYS, dtype=np.float32)
    prof[end:min(DAYS, end + 30)] = 1.0
    return prof / prof.sum()


def residue_input(gpp, ra, yield_, profile=None, day_axis: int = 1):
    """KGML-ag's residue rule, the one copy: ``max(0, sum GPP - sum Ra - yield) * profile`` (g C m-2).

    Works on NumPy arrays (float32 result; NaN yield counts as 0) and on torch
    tensors (differentiable; ``profile`` a tensor on their device).
    gpp, ra : (n, 365) g C m-2 d-1, or (365, n) with ``day_axis=0``;
    yield_ : (n,) g C m-2; profile : the timing, (365,) or gpp's shape;
    default (NumPy only) :func:`harvest_profile` of ``gpp``: the residue amount
    from each unit-year's own harvest day on. Returns gpp's shape.
    """
    unit_axis = 1 - day_axis
    if isinstance(gpp, np.ndarray):
        if profile is None:
            profile = harvest_profile(gpp if day_axis == 1 else gpp.T)
            profile = profile if day_axis == 1 else profile.T
        profile = np.asarray(profile)
        total = np.maximum(0.0, gpp.sum(day_axis) - ra.sum(day_axis) - np.nan_to_num(yield_, nan=0.0))
        timing = profile if profile.ndim == 2 else np.expand_dims(profile, unit_axis)
        return (np.expand_dims(total, day_axis) * timing).astype(np.float32)
    total = (gpp.sum(day_axis) - ra.sum(day_axis) - yield_).clamp(min=0.0)
    timing = profile if profile.ndim == 2 else profile.unsqueeze(unit_axis)
    return total.unsqueeze(day_axis) * timing


@dataclass
class Normalizer:
    """Means and standard deviations of inputs and targets (from training data), saved with a run."""

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: dict[str, float]
    y_std: dict[str, float]
    profile: np.ndarray
    p_mean: np.ndarray = field(default_factory=lambda: prior_mean())
    p_std: np.ndarray = field(default_factory=lambda: prior_std())

    @classmethod
    def fit(cls, samples: Samples) -> "Normalizer":
        """Statistics of ``samples`` (NaN ignored); a constant column gets std 1."""
        flat = samples.x.reshape(-1, samples.x.shape[-1]).astype(np.float64)
        x_mean, x_std = flat.mean(0), flat.std(0)
        x_std = np.where(x_std > 1e-4 * (np.abs(x_mean) + 1.0), x_std, 1.0)  # constant columns
        y_mean, y_std = {}, {}
        targets = dict(samples.daily, YIELD=samples.yield_, GPP=samples.gpp,
                       RESIDUE=residue_input(samples.gpp, np.nan_to_num(samples.daily["RA"]),
                                             samples.yield_))
        for name, values in targets.items():
            v = values[np.isfinite(values)]
            y_mean[name] = float(v.mean()) if v.size else 0.0
            y_std[name] = float(v.std()) if v.size and v.std() > 0 else 1.0
        return cls(x_mean.astype(np.float32), x_std.astype(np.float32),
                   y_mean, y_std, residue_profile(samples))

    def scale_x(self, x: np.ndarray) -> np.ndarray:
        """Standardised inputs, same shape as ``x``."""
        return ((x - self.x_mean) / self.x_std).astype(np.float32)

    def scale_params(self, params: np.ndarray) -> np.ndarray:
        """Process-model parameters (n, len(PARAM_NAMES)) in prior standard units (NaN -> 0, the prior mean)."""
        return np.nan_to_num((params - self.p_mean) / self.p_std, nan=0.0).astype(np.float32)

    def unscale_params(self, z: np.ndarray) -> dict[str, float]:
        """Parameters in physical units from prior standard units, ``{name: value}``."""
        values = np.asarray(z, np.float64) * self.p_std + self.p_mean
        return {k: float(v) for k, v in zip(PARAM_NAMES, values)}

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"x_mean": self.x_mean.tolist(), "x_std": self.x_std.tolist(), "y_mean": self.y_mean,
                "y_std": self.y_std, "profile": self.profile.tolist(), "inputs": list(INPUTS),
                "p_mean": self.p_mean.tolist(), "p_std": self.p_std.tolist(), "params": list(PARAM_NAMES)}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        """Inverse of :meth:`to_dict`."""
        if list(d.get("inputs", INPUTS)) != list(INPUTS):
            raise ValueError(f"normalizer was saved for inputs {d.get('inputs')}, expected {list(INPUTS)}")
        if list(d.get("params", PARAM_NAMES)) != list(PARAM_NAMES):
            raise ValueError(f"normalizer was saved for parameters {d.get('params')}, expected {list(PARAM_NAMES)}")
        return cls(np.asarray(d["x_mean"], np.float32), np.asarray(d["x_std"], np.float32),
                   dict(d["y_mean"]), dict(d["y_std"]), np.asarray(d["profile"], np.float32),
                   np.asarray(d.get("p_mean", prior_mean()), np.float32),
                   np.asarray(d.get("p_std", prior_std()), np.float32))


def prior_mean() -> np.ndarray:
    """Defaults of :data:`PARAM_NAMES` (the prior means), float32."""
    return np.array([PARAMS[k].default for k in PARAM_NAMES], np.float32)


def prior_std() -> np.ndarray:
    """Prior standard deviations of :data:`PARAM_NAMES`, float32."""
    return np.array([prior_sd(k) for k in PARAM_NAMES], np.float32)
