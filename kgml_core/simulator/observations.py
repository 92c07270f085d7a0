"""Sparse, noisy observations drawn from the observed world: county yields and flux towers."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr
from scipy.signal import lfilter

from kgml_core import schema
from kgml_core.simulator.config import WorldConfig
from kgml_core.simulator.fields import rng
from kgml_core.simulator.world import DRIVER_NAMES, SOIL_NAMES, load_world

# County yield errors (coefficient of variation) of the order NASS publishes for county estimates.
YIELD_CV = {0: 0.07, 1: 0.08}


def flux_noise(gpp: np.ndarray, reco: np.ndarray, nee: np.ndarray, g: np.random.Generator,
               gap_fraction: float = 0.15) -> dict[str, np.ndarray]:
    """Eddy-covariance-like daily fluxes from true ones, arrays (n, T) in g C m-2 d-1.

    Random error grows with flux size and with the share of gap-filled data; gaps
    come in runs of days (NaN, QC 0). Observed GPP is RECO minus NEE, as in
    flux partitioning, so NEE = RECO - GPP holds in the observations too.

    Returns GPP, RECO, NEE and their _QC (fraction of good data, 0-1), float32.
    """
    shape = nee.shape
    qc = np.clip(1 - 0.3 * np.abs(g.standard_normal(shape)), 0.05, 1).astype(np.float32)
    smooth = lfilter([np.sqrt(1 - 0.85 ** 2)], [1, -0.85], g.standard_normal(shape), axis=1)
    gap = smooth > np.quantile(smooth, 1 - gap_fraction) if gap_fraction > 0 else np.zeros(shape, bool)
    inflate = 1 + 1.5 * (1 - qc)
    nee_obs = nee + (0.2 + 0.08 * np.abs(nee)) * inflate * g.standard_normal(shape)
    reco_obs = np.maximum(reco + (0.15 + 0.08 * reco) * inflate * g.standard_normal(shape), 0)
    gpp_obs = np.maximum(reco_obs - nee_obs, 0)
    reco_obs = gpp_obs + nee_obs
    out = {"GPP": gpp_obs, "RECO": reco_obs, "NEE": nee_obs}
    for k in list(out):
        out[k] = np.where(gap, np.nan, out[k]).astype(np.float32)
        out[f"{k}_QC"] = np.where(gap, 0, qc).astype(np.float32)
    return out


def _noisy_yields(truth: xr.Dataset, g: np.random.Generator) -> xr.Dataset:
    crop = truth["CROP"].values
    cv = np.where(crop == 0, YIELD_CV[0], YIELD_CV[1])
    noisy = truth["YIELD"].values * (1 + cv * g.standard_normal(crop.shape))
    out = truth[["YIELD", "CROP"]].copy()
    schema.set_variable(out, "YIELD", np.maximum(noisy, 0).astype(np.float32),
                        provenance="simulated county statistics (observed world + NASS-like noise)")
    schema.set_variable(out, "CROP", crop)
    return out


def _pick_sites(truth: xr.Dataset, sites_per_state: int, g: np.random.Generator):
    states = truth["state"].values.astype(str)
    picks, ids = [], []
    for st in dict.fromkeys(states):
        members = np.flatnonzero(states == st)
        chosen = np.sort(g.choice(members, size=min(sites_per_state, len(members)), replace=False))
        picks.extend(chosen.tolist())
        ids.extend(f"SIM-{st}-{i + 1}" for i in range(len(chosen)))
    return np.array(picks, dtype=int), ids


def simulate_observations(cfg: WorldConfig, sites_per_state: int = 3,
                          seed: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """County yields and flux-tower series observed in the observed world of ``cfg``.

    Returns
    -------
    county_yields : every county, YIELD (unit, year, g C m-2) with NASS-like noise, and CROP.
    flux_sites : ``sites_per_state`` towers per state (unit_kind "site", ids "SIM-IL-1", ...,
        coordinate ``county`` with the host FIPS): the host's drivers and soils, noisy
        gappy GPP, RECO, NEE and their QC fractions (no RA/RH: they are unobservable).
    """
    if int(sites_per_state) < 0:
        raise ValueError(f"sites_per_state must be >= 0, got {sites_per_state!r}")
    truth = load_world(replace(cfg, world="observed"))
    g = rng(cfg.seed * 7919 + int(seed), "observations")
    yields = _noisy_yields(truth, g)
    yields.attrs = dict(truth.attrs, observation_seed=int(seed), title="simulated county yields")
    idx, ids = _pick_sites(truth, int(sites_per_state), g)
    host = truth.isel(unit=idx)
    sites = schema.empty_units(ids, host["lat"].values, host["lon"].values, host["state"].values, "site")
    sites = sites.assign_coords(county=("unit", host["unit"].values.astype(object)),
                                time=host["time"].values, year=host["year"].values)
    for k in DRIVER_NAMES + ("SWC", "LAI"):
        sites[k] = (schema.DAILY, host[k].values, host[k].attrs)
    for k in SOIL_NAMES:
        sites[k] = (schema.STATIC, host[k].values, host[k].attrs)
    sites["CROP"] = (schema.ANNUAL, host["CROP"].values, host["CROP"].attrs)
    obs = flux_noise(host["GPP"].values, host["RECO"].values, host["NEE"].values, g)
    for k, v in obs.items():
        schema.set_variable(sites, k, v, provenance="simulated eddy covariance (observed world)")
    sites.attrs = dict(truth.attrs, observation_seed=int(seed), title="simulated flux sites")
    return yields, sites
