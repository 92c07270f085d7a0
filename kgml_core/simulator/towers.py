"""A virtual flux-tower network across the conterminous US (for upscaling experiments).

Real towers differ in ways their inputs do not show. The network carries the
hidden heterogeneity that FLUXNET sites have, each piece scaled by
``TowerConfig.heterogeneity`` (1 = the sizes argued in ``docs/tamrl.md``):

* light-use efficiency that differs between sites of one vegetation type
  (:data:`LUE_CV`);
* land-use and disturbance history (:func:`site_history`): soil organic matter
  below equilibrium on former cropland, coarse woody debris and young stands
  after a stand-replacing disturbance;
* cropland management: corn/soybean rotation or continuous corn, irrigation,
  sowing and harvest dates that vary between farms;
* drivers as a tower network delivers them (``TowerConfig.drivers="observed"``):
  leaf area from a MODIS-like 8-day product (:func:`satellite_lai`) and soil
  water from a shallow probe (:func:`probe_swc`) instead of the model's states.

The noise-free fluxes are kept as ``GPP_TRUE``, ``RECO_TRUE``, ``NEE_TRUE``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
import xarray as xr

from kgml_core import geo, schema
from kgml_core.simulator import climate, vegetation
from kgml_core.simulator.config import TowerConfig
from kgml_core.simulator.fields import rng
from kgml_core.simulator.observations import flux_noise
from kgml_core.simulator.parameters import PARAMS, default_parameters
from kgml_core.simulator.soils import soil_properties
from kgml_core.simulator.world import _assemble, cached, rotation, run_points

IGBP_CODE = {"CRO": vegetation.CROP, "GRA": vegetation.GRASS, "DBF": vegetation.DECIDUOUS,
             "ENF": vegetation.EVERGREEN, "SAV": vegetation.SHRUB, "OSH": vegetation.SHRUB}
# light-use efficiency (g C MJ-1 APAR) by vegetation type; crops use the maize default
LUE_BY_TYPE = {"CRO": PARAMS["LUE"].default, "GRA": 1.55, "DBF": 1.35, "ENF": 1.45, "SAV": 1.25, "OSH": 1.10}
# within-type coefficient of variation of light-use efficiency (site-optimised values of
# one plant functional type differ by 20-30 %; crops, one cultivar family each, less)
LUE_CV = {"natural": 0.25, "crop": 0.12}
# parameters that vary between sites: (sd of the site-idiosyncratic part, relative?)
SITE_SPREAD = {"DRAINAGE": (0.3, True), "RH_Q10": (0.25, False),
               "RH_SWC_OPT": (0.06, False), "RH_SWC_WIDTH": (0.05, False),
               "RH_KLIT": (0.2, True), "RH_KSOM": (0.2, True)}


def sample_locations(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` random points on conterminous US land: lat, lon (degrees) and state codes."""
    states = geo.load_states()
    g = rng(seed, "towers/locations")
    lat, lon, st = [], [], []
    while len(lat) < n:
        x = g.uniform(-124.5, -67.0, 4 * n)
        y = g.uniform(25.0, 49.2, 4 * n)
        code = np.full(x.shape, "", dtype=object)
        for postal, geom in zip(states.index, states.geometry):
            code[shapely.contains_xy(geom, x, y)] = postal
        inside = code != ""
        lat.extend(y[inside])
        lon.extend(x[inside])
        st.extend(code[inside])
    return np.array(lat[:n]), np.array(lon[:n]), np.array(st[:n], dtype=object)


def vegetation_types(lat, lon, koeppen, elev, g: np.random.Generator) -> np.ndarray:
    """IGBP class per site drawn with climate-dependent probabilities, (n,) str."""
    names = np.array(["CRO", "GRA", "DBF", "ENF", "SAV", "OSH"])
    map_ = climate.mean_annual_precipitation(lat, lon)
    arid = np.char.startswith(koeppen.astype(str), "B")
    belt = (lon > -100) & (lon < -81) & (lat > 36.5) & (lat < 46.5) & (map_ > 600)
    mountain = (elev > 1300) & ~arid
    pacific = (lon < -119) & ~arid
    east = (lon > -95) & ~belt
    probs = np.tile([0.30, 0.40, 0.15, 0.15, 0.0, 0.0], (len(lat), 1))
    probs[east] = [0.12, 0.08, 0.45, 0.35, 0.0, 0.0]
    probs[belt] = [0.60, 0.15, 0.25, 0.0, 0.0, 0.0]
    probs[mountain] = [0.0, 0.30, 0.0, 0.70, 0.0, 0.0]
    probs[pacific] = [0.05, 0.20, 0.0, 0.55, 0.20, 0.0]
    probs[arid] = [0.05, 0.35, 0.0, 0.0, 0.25, 0.35]
    u = g.uniform(size=len(lat))[:, None]
    return names[(u > np.cumsum(probs, axis=1)).sum(axis=1)]


def site_parameters(igbp, mat, map_, g: np.random.Generator, heterogeneity: float = 1.0) -> dict[str, np.ndarray]:
    """Parameters of each site: a part that follows vegetation and climate, and a site-specific part.

    The site-specific part (LUE log-normal with :data:`LUE_CV`, :data:`SITE_SPREAD`)
    is multiplied by ``heterogeneity``.
    """
    n = len(igbp)
    h = float(heterogeneity)
    out = default_parameters(n)
    cv = np.where(np.asarray(igbp) == "CRO", LUE_CV["crop"], LUE_CV["natural"])
    lue = np.array([LUE_BY_TYPE[v] for v in igbp]) * np.exp(h * cv * g.standard_normal(n) - 0.5 * (h * cv) ** 2)
    out["LUE"] = np.clip(lue, 0.5, PARAMS["LUE"].upper).astype(np.float32)
    out["RH_Q10"] += -0.035 * (mat - 10.0)
    out["RH_SWC_OPT"] += -0.06 * np.clip((map_ - 800) / 600, -1.5, 1.5)
    out["RH_KLIT"] *= np.where(np.isin(igbp, ["ENF"]), 0.6, 1.0)
    for name, (sd, relative) in SITE_SPREAD.items():
        eps = h * g.standard_normal(n)
        value = out[name] * (1 + sd * eps) if relative else out[name] + sd * eps
        out[name] = np.clip(value, PARAMS[name].lower, PARAMS[name].upper).astype(np.float32)
    return out


# site history and management: probabilities and ranges (see docs/tamrl.md for the sources)
P_DISTURBED = {"ENF": 0.35, "DBF": 0.25}           # forests with a stand-replacing disturbance in the last 25 years
SLASH_G_C = (1500.0, 4000.0)                      # coarse woody debris left by it, g C m-2
P_FORMER_CROPLAND = {"GRA": 0.30, "SAV": 0.15, "OSH": 0.10, "DBF": 0.30, "ENF": 0.10}
SOM_FACTOR_FORMER = (0.55, 0.80)                  # soil organic matter / equilibrium on former cropland
SOM_FACTOR_OTHER = (0.80, 1.00)
P_CONTINUOUS_CORN = 0.25
P_IRRIGATED = {"dry": 0.55, "humid": 0.08}        # MAP below / above 700 mm
SOW_SHIFT_SD = 7.0                                # days
HARVEST_DELAY = (7, 45)                           # days from maturity to harvest


def site_history(igbp: np.ndarray, map_: np.ndarray, g: np.random.Generator,
                 heterogeneity: float = 1.0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Land-use and disturbance history and cropland management of each site.

    Returns
    -------
    management : per-site arrays for :func:`kgml_core.simulator.engine.run` (``som_factor``, ``cwd``,
        ``lai_scale``, ``irrigated``, ``sow_shift``, ``harvest_delay``).
    description : per-site arrays saved with the network (``SITE_DISTURBANCE_AGE``
        years, NaN when none; ``SITE_FORMER_CROPLAND``, ``SITE_IRRIGATED``,
        ``SITE_CONTINUOUS_CORN`` 0/1). They are not model inputs.
    """
    n, h = len(igbp), float(heterogeneity)
    igbp = np.asarray(igbp).astype(str)
    u = g.uniform(size=(8, n))
    p_dist = np.array([P_DISTURBED.get(v, 0.0) for v in igbp]) * min(h, 1.0)
    disturbed = u[0] < p_dist
    age = np.where(disturbed, 1 + 24 * u[1], np.nan)
    slash = SLASH_G_C[0] + (SLASH_G_C[1] - SLASH_G_C[0]) * u[2]
    from kgml_core.simulator.engine import CWD_K
    cwd = np.where(disturbed, slash * np.exp(-CWD_K * 365 * np.nan_to_num(age)), 0.0)
    regrowth = np.where(disturbed, 1 - 0.8 * np.exp(-np.nan_to_num(age) / 7.0), 1.0)
    lai_scale = regrowth * np.exp(h * 0.12 * g.standard_normal(n))
    p_former = np.array([P_FORMER_CROPLAND.get(v, 0.0) for v in igbp]) * min(h, 1.0)
    former = (u[3] < p_former) & ~disturbed
    lo, hi = np.where(former, SOM_FACTOR_FORMER[0], SOM_FACTOR_OTHER[0]), \
        np.where(former, SOM_FACTOR_FORMER[1], SOM_FACTOR_OTHER[1])
    som_factor = 0.85 + h * (lo + (hi - lo) * u[4] - 0.85)
    crop = igbp == "CRO"
    irrigated = crop & (u[5] < np.where(map_ < 700, P_IRRIGATED["dry"], P_IRRIGATED["humid"]) * min(h, 1.0))
    continuous = crop & (u[6] < P_CONTINUOUS_CORN * min(h, 1.0))
    sow_shift = h * SOW_SHIFT_SD * g.standard_normal(n)
    delay = np.round(21 + h * (HARVEST_DELAY[0] + (HARVEST_DELAY[1] - HARVEST_DELAY[0]) * u[7] - 21))
    management = {"som_factor": som_factor.astype(np.float32), "cwd": cwd.astype(np.float32),
                  "lai_scale": lai_scale.astype(np.float32), "irrigated": irrigated,
                  "sow_shift": sow_shift.astype(np.float32), "harvest_delay": delay.astype(np.int64)}
    description = {"SITE_DISTURBANCE_AGE": age.astype(np.float32),
                   "SITE_FORMER_CROPLAND": former.astype(np.int8),
                   "SITE_IRRIGATED": irrigated.astype(np.int8),
                   "SITE_CONTINUOUS_CORN": continuous.astype(np.int8)}
    return management, description


# ---------------------------------------------------------------------------------------------
# drivers as a tower network delivers them
# ---------------------------------------------------------------------------------------------

LAI_COMPOSITE_DAYS = 8
LAI_NOISE = (0.10, 0.12)     # sd of one composite's error: a + b * LAI (m2 m-2)
LAI_SITE_BIAS_SD = 0.15      # log-sd of a site's multiplicative bias (500 m pixel vs tower footprint)
LAI_CLOUDY = 0.20            # share of composites without a good retrieval (previous value kept)


def satellite_lai(lai: np.ndarray, time: pd.DatetimeIndex, g: np.random.Generator) -> np.ndarray:
    """MODIS-like leaf area index from the true one, (n, T) m2 m-2.

    8-day composites restarting on 1 January (as MCD15A2H), each the period's
    mean with a random error growing with LAI, a persistent per-site bias and
    composites lost to clouds or snow (the last good value is carried forward);
    the daily series holds each composite's value for its 8 days.
    """
    n, n_days = lai.shape
    year = time.year.values - time.year.values[0]
    period = year * 46 + (time.day_of_year.values - 1) // LAI_COMPOSITE_DAYS
    _, start, inverse = np.unique(period, return_index=True, return_inverse=True)
    sums = np.add.reduceat(lai, start, axis=1)
    comp = sums / np.diff(np.r_[start, n_days])[None, :]
    bias = np.exp(LAI_SITE_BIAS_SD * g.standard_normal((n, 1)))
    noisy = comp * bias + (LAI_NOISE[0] + LAI_NOISE[1] * comp) * g.standard_normal(comp.shape)
    lost = g.uniform(size=comp.shape) < LAI_CLOUDY
    lost[:, 0] = False
    idx = np.where(lost, 0, np.arange(comp.shape[1])[None, :])
    idx = np.maximum.accumulate(idx, axis=1)
    kept = np.take_along_axis(noisy, idx, axis=1)
    return np.maximum(kept, 0.0)[:, inverse].astype(np.float32)


PROBE_DEPTH_MM = 100.0
PROBE_OFFSET_SD = 3.0        # % vol: factory-calibrated probes in an uncalibrated soil
PROBE_GAIN_SD = 0.08


def probe_swc(root_swc: np.ndarray, drivers: dict[str, np.ndarray], soils: dict[str, np.ndarray],
              g: np.random.Generator) -> np.ndarray:
    """Soil water (% vol) a probe at 5-10 cm would read, (n, T).

    A 100 mm surface layer wetted by rain, drying by soil evaporation (Priestley-
    Taylor potential evaporation reduced linearly with its water), draining
    half its water above field capacity per day and relaxing towards the root
    zone (5 % of the difference per day); then a per-probe gain and offset
    error and 0.5 % vol of reading noise.
    """
    from kgml_core.simulator.forcing import priestley_taylor
    n, n_days = root_swc.shape
    fc, wp, sat = (np.asarray(soils[k], np.float32) for k in ("FC", "WP", "SAT"))
    floor = 0.4 * wp
    pet = priestley_taylor(drivers["TA"], drivers["SW_IN"]).astype(np.float32)
    rain = np.where(drivers["TA"] > 0, drivers["P"], 0).astype(np.float32)
    root = root_swc / 100.0
    theta = root[:, 0].copy()
    out = np.empty((n, n_days), np.float32)
    for t in range(n_days):
        theta = np.minimum(theta + rain[:, t] / PROBE_DEPTH_MM, sat)
        theta -= 0.5 * np.maximum(theta - fc, 0)
        dry = np.clip((theta - floor) / (fc - floor), 0, 1)
        theta = np.maximum(theta - pet[:, t] * dry / PROBE_DEPTH_MM, floor)
        theta += 0.05 * (root[:, t] - theta)
        out[:, t] = theta
    gain = 1 + PROBE_GAIN_SD * g.standard_normal((n, 1))
    offset = PROBE_OFFSET_SD * g.standard_normal((n, 1))
    reading = 100 * out * gain + offset + 0.5 * g.standard_normal(out.shape)
    return np.clip(reading, 1.0, 60.0).astype(np.float32)


def simulate_tower_network(cfg: TowerConfig) -> xr.Dataset:
    """Simulate a virtual flux-tower network; see :class:`TowerConfig`. Returns a contract dataset."""
    n = int(cfg.n_sites)
    lat, lon, states = sample_locations(n, cfg.seed)
    g = rng(cfg.seed, "towers/sites")
    elev = np.maximum(climate.elevation(lat, lon) + 80 * g.standard_normal(n), 1.0)
    kg = climate.koeppen(lat, lon, elev)
    mat = climate.mean_annual_temperature(lat, lon, elev)
    map_ = climate.mean_annual_precipitation(lat, lon)
    igbp = vegetation_types(lat, lon, kg, elev, g)
    veg = np.array([IGBP_CODE[v] for v in igbp], np.int8)
    soils = soil_properties(lat, lon, cfg.seed)
    params = site_parameters(igbp, mat, map_, g, cfg.heterogeneity)
    management, history = site_history(igbp, map_, rng(cfg.seed, "towers/history"), cfg.heterogeneity)
    years = np.arange(cfg.years[0] - 1, cfg.years[1] + 1)
    ids = np.array([f"VT-{i + 1:04d}" for i in range(n)], dtype=object)
    crop = rotation(np.arange(n) + 1, years)
    crop[history["SITE_CONTINUOUS_CORN"] == 1] = 0
    drivers, res = run_points(lat, lon, soils, params, crop, cfg.years, cfg.seed, veg=veg, elev=elev,
                              management=management)
    ds = schema.empty_units(ids, lat, lon, states, "site")
    ds = ds.assign_coords(IGBP=("unit", igbp.astype(object)), climate=("unit", kg.astype(object)))
    crop_out = np.where(veg[:, None] == vegetation.CROP, crop[:, 1:], -1).astype(np.int8)
    ds = _assemble(ds, cfg.years, drivers, res, soils, params, crop_out)
    ds = ds.drop_vars(["RA", "RH", "RESIDUE"])
    for k in ("GPP", "RECO", "NEE"):
        ds[f"{k}_TRUE"] = (schema.DAILY, ds[k].values, {**schema.variable_attrs(k), "long_name":
                           f"{schema.variable_attrs(k)['long_name']} (simulator truth, noise-free)"})
    obs = flux_noise(ds["GPP"].values, ds["RECO"].values, ds["NEE"].values,
                     rng(cfg.seed, "towers/noise"), gap_fraction=0.08)
    for k, v in obs.items():
        schema.set_variable(ds, k, v, provenance="simulated eddy covariance (virtual tower)")
    if cfg.drivers == "observed":
        observe_drivers(ds, cfg.seed, soils)
    for k, v in history.items():
        ds[k] = ("unit", v, {"units": "years" if k.endswith("AGE") else "1",
                             "long_name": k.removeprefix("SITE_").replace("_", " ").lower() + " (not a model input)"})
    schema.set_variable(ds, "ELEV", elev.astype(np.float32))
    schema.set_variable(ds, "MAT", mat.astype(np.float32))
    schema.set_variable(ds, "MAP", map_.astype(np.float32))
    ds["YIELD"] = ds["YIELD"].where(veg[:, None] == vegetation.CROP)
    schema.with_attrs(ds)
    ds.attrs.update({"config": cfg.to_json(), "seed": int(cfg.seed), "title": "virtual flux-tower network",
                     "source": "kgml_core.simulator"})
    return ds


def observe_drivers(ds: xr.Dataset, seed: int, soils: dict | None = None) -> xr.Dataset:
    """Replace LAI and SWC by what a satellite and a shallow probe give; keep the states as ``*_MODEL``.

    In place on ``ds`` (daily ``LAI``, ``SWC``, ``TA``, ``SW_IN``, ``P``; soils
    ``FC``, ``WP`` and ``SAT``, from ``soils`` or recomputed at the units'
    locations with ``seed``); also returned.
    """
    time = pd.DatetimeIndex(ds["time"].values)
    lai, swc = ds["LAI"].transpose("unit", "time").values, ds["SWC"].transpose("unit", "time").values
    if soils is None:
        soils = soil_properties(ds["lat"].values, ds["lon"].values, seed)
    drivers = {k: ds[k].transpose("unit", "time").values for k in ("TA", "SW_IN", "P")}
    ds["LAI_MODEL"] = (schema.DAILY, lai, {"units": "m2 m-2", "long_name": "simulated leaf area index (state)"})
    ds["SWC_MODEL"] = (schema.DAILY, swc, {"units": "%", "long_name": "simulated root-zone soil water (state)"})
    schema.set_variable(ds, "LAI", satellite_lai(lai, time, rng(seed, "towers/lai")),
                        provenance="MODIS-like 8-day composite of the simulated leaf area")
    schema.set_variable(ds, "SWC", probe_swc(swc, drivers, soils, rng(seed, "towers/probe")),
                        provenance="shallow (5-10 cm) probe reading of the simulated soil water",
                        extra_attrs={"long_name": "volumetric soil water content at 5-10 cm (probe)"})
    return ds


def load_tower_network(cfg: TowerConfig) -> xr.Dataset:
    """:func:`simulate_tower_network`, cached on disk as NetCDF keyed by the configuration."""
    return cached(cfg, simulate_tower_network)
