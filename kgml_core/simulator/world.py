"""Simulated county worlds: assemble weather, soils, parameters and the engine into a contract dataset."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo, schema, settings
from kgml_core.atomic import write_atomic
from kgml_core.progress import check_cancelled
from kgml_core.simulator import engine
from kgml_core.simulator.config import WorldConfig
from kgml_core.simulator.parameters import PARAMS, default_parameters, group_mean_parameters, \
    host_mean_parameters, prior_parameters, spatial_parameters
from kgml_core.simulator.soils import soil_properties
from kgml_core.simulator.weather import generate_weather

log = logging.getLogger(__name__)

# County worlds: the soil pools are spun up over the SPINUP_YEARS before the first year (their
# own weather), crop litter set to steady state after the first EQUILIBRIUM_YEARS (a corn-soybean
# rotation) and run day by day after that; the soil map describes SOM on 1 January SOIL_REFERENCE_YEAR.
SPINUP_YEARS = 6
EQUILIBRIUM_YEARS = 2
SOIL_REFERENCE_YEAR = 2010
CHUNK = 1040  # units per batch: bounds memory (about 1.3 GB of temporaries) for CONUS runs
DRIVER_NAMES = ("TA", "TA_MAX", "TA_MIN", "SW_IN", "VPD", "P", "RH_MAX", "RH_MIN", "WS")
SOIL_NAMES = ("BD", "SAND", "SILT", "CLAY", "FC", "WP", "KSAT", "SOC", "PH", "CEC")


def county_units(cfg: WorldConfig) -> pd.DataFrame:
    """The units of a configuration: unit index, columns state, lat, lon, fips.

    One unit per county (index = FIPS), or ``cfg.replicas`` per county (see
    :func:`replicate_units`).
    """
    if cfg.counties:
        table = geo.select_counties(cfg.counties)
    else:
        table = geo.load_counties(cfg.states)
    table = pd.DataFrame(table.drop(columns="geometry"))[["state", "lat", "lon"]]
    table["fips"] = table.index.values.astype(str)
    return replicate_units(table, int(getattr(cfg, "replicas", 1)))


def replicate_units(table: pd.DataFrame, replicas: int) -> pd.DataFrame:
    """``replicas`` copies of every county of ``table`` (index FIPS, column ``fips``), replica-major:
    the first keeps the FIPS as its unit id, copy K >= 1 is ``FIPS-rK``. The copies share
    location, state and FIPS (so weather, soils and rotation); only unit-keyed draws differ."""
    if replicas <= 1:
        return table
    parts = [table.set_axis(table.index.astype(str) + (f"-r{k}" if k else ""), axis=0)
             for k in range(replicas)]
    return pd.concat(parts)


def replica_base(units) -> np.ndarray:
    """The county (FIPS) of each unit id of :func:`replicate_units` (ids without a suffix unchanged)."""
    return np.array([str(u).split("-r")[0] for u in units], dtype=object)


def rotation(fips: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Corn (0) / soybean (1) rotation, phase from a hash of the FIPS code, (n, n_years) int8."""
    code = np.asarray(fips).astype(np.int64).astype(np.uint64)
    mixed = (code * np.uint64(2654435761) + np.uint64(40503)) % np.uint64(1 << 32)
    phase = ((mixed >> np.uint64(13)) & np.uint64(1)).astype(np.int64)
    return ((np.asarray(years)[None, :] + phase[:, None]) % 2).astype(np.int8)


def true_parameters(cfg: WorldConfig, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Parameters of the counties for ``cfg.world`` (see :class:`WorldConfig`), arrays (n,)."""
    if cfg.world == "process":
        return default_parameters(len(table))
    if cfg.world == "ensemble":
        return prior_parameters(table.index.values, cfg.seed)
    true = spatial_parameters(table["lat"].values, table["lon"].values, table["state"].values,
                              cfg.seed, float(cfg.heterogeneity))
    if cfg.world == "state_mean":
        return group_mean_parameters(true, table["state"].values)
    if cfg.world == "towers_mean":
        hosts = np.isin(table["fips"].values.astype(str), [str(h) for h in cfg.hosts])
        return host_mean_parameters(true, table["state"].values, hosts)
    if cfg.world == "domain_mean":
        return group_mean_parameters(true, np.zeros(len(table), int))
    return true


def run_points(lat, lon, soils, params, crop_years, years: tuple[int, int], seed: int,
               veg=None, elev=None, management: dict | None = None, spinup_years: int = 1,
               equilibrium_years: int = 0) -> tuple[dict, engine.EngineOutput]:
    """Weather and engine for points, in chunks of units to bound memory.

    ``crop_years``: (n, spinup_years + number of years) crop codes, spin-up years first.
    ``management``: optional per-unit arrays passed to :func:`engine.run`.
    ``spinup_years``: years simulated before ``years[0]`` (their own weather) and dropped.
    ``equilibrium_years``: crop soil pools set to steady state after this many
    spin-up years (see ``crop_equilibrium_days`` of :func:`engine.run`; SOM
    carried from :data:`SOIL_REFERENCE_YEAR`); 0: the pools start from fixed values.

    Returns the drivers (n, T) and the engine output, without the spin-up.
    """
    dates = pd.date_range(f"{years[0] - spinup_years}-01-01", f"{years[1]}-12-31", freq="D")
    spin = int((dates < pd.Timestamp(f"{years[0]}-01-01")).sum())
    eq_end = pd.Timestamp(f"{years[0] - spinup_years + equilibrium_years}-01-01")
    eq_days = int((dates < eq_end).sum()) if equilibrium_years else 0
    som_days = float((eq_end - pd.Timestamp(f"{SOIL_REFERENCE_YEAR}-01-01")).days)
    n, keep = len(lat), len(dates) - spin
    drivers = {k: np.empty((n, keep), np.float32) for k in DRIVER_NAMES}
    daily: dict[str, np.ndarray] = {}
    annual: dict[str, np.ndarray] = {}
    for lo in range(0, n, CHUNK):
        sl = slice(lo, min(lo + CHUNK, n))
        w = generate_weather(lat[sl], lon[sl], dates, seed, None if elev is None else elev[sl])
        check_cancelled()
        res = engine.run(w, dates, {k: v[sl] for k, v in soils.items()},
                         {k: v[sl] for k, v in params.items()}, crop_years[sl], lat[sl], lon[sl],
                         None if veg is None else veg[sl], spinup_days=spin,
                         management={k: v[sl] for k, v in management.items()} if management else None,
                         crop_equilibrium_days=eq_days, som_reference_days=som_days)
        for k in DRIVER_NAMES:
            drivers[k][sl] = w[k][:, spin:]
        del w
        for store, part in ((daily, res.daily), (annual, res.annual)):
            for k, v in part.items():
                store.setdefault(k, np.empty((n,) + v.shape[1:], np.float32))[sl] = v
    return drivers, engine.EngineOutput(daily=daily, annual=annual)


def simulate_world(cfg: WorldConfig) -> xr.Dataset:
    """Simulate a county world; see :class:`WorldConfig`. Returns a contract dataset."""
    table = county_units(cfg)
    ds = simulate_units(table, true_parameters(cfg, table), cfg.years, cfg.seed)
    ds.attrs.update({"config": cfg.to_json(), "world": cfg.world, "replicas": int(cfg.replicas),
                     "heterogeneity": float(cfg.heterogeneity), "seed": int(cfg.seed),
                     "title": f"simulated {cfg.world} world", "source": "kgml_core.simulator"})
    return ds


def simulate_units(table: pd.DataFrame, params: dict[str, np.ndarray], years: tuple[int, int],
                   seed: int) -> xr.Dataset:
    """The process model run for county units with the given parameters; a contract dataset.

    ``table``: unit index, columns state, lat, lon and ``fips`` (the county:
    weather, soils and rotation follow it); ``params``: arrays (n_units,) of
    every parameter (e.g. :func:`~kgml_core.simulator.parameters.default_parameters`
    with some changed); ``years``: first and last year, spun up as every world.
    """
    lat, lon = table["lat"].values, table["lon"].values
    all_years = np.arange(years[0] - SPINUP_YEARS, years[1] + 1)
    soils = soil_properties(lat, lon, seed)
    crop = rotation(table["fips"].values, all_years)
    drivers, res = run_points(lat, lon, soils, params, crop, years, seed,
                              spinup_years=SPINUP_YEARS, equilibrium_years=EQUILIBRIUM_YEARS)
    ds = schema.empty_units(table.index.values, lat, lon, table["state"].values, "county")
    return _assemble(ds, years, drivers, res, soils, params, crop[:, SPINUP_YEARS:])


def _assemble(ds: xr.Dataset, years, drivers, res, soils, params, crop) -> xr.Dataset:
    """Put drivers, fluxes, soils, annual variables and parameters on ``ds`` (contract names)."""
    time = pd.date_range(f"{years[0]}-01-01", f"{years[1]}-12-31", freq="D")
    ds = ds.assign_coords(time=("time", time.values), year=("year", np.arange(years[0], years[1] + 1)))
    for k, v in drivers.items():
        schema.set_variable(ds, k, v)
    d = res.daily
    for k in ("SWC", "LAI", "GPP", "RA", "RH"):
        schema.set_variable(ds, k, d[k])
    reco = d["RA"] + d["RH"]
    schema.set_variable(ds, "RECO", reco)
    schema.set_variable(ds, "NEE", reco - d["GPP"])
    ds["RESIDUE"] = (schema.DAILY, d["RESIDUE"], {
        "units": "g C m-2 d-1", "long_name": "carbon input to the soil from crop residue at harvest"})
    schema.set_variable(ds, "YIELD", res.annual["YIELD"])
    schema.set_variable(ds, "CROP", crop.astype(np.int8))
    for k in SOIL_NAMES:
        schema.set_variable(ds, k, soils[k])
    for k, v in params.items():
        spec = PARAMS[k]
        ds[f"PARAM_{k}"] = ("unit", v, {"units": spec.units, "long_name": spec.long_name})
    return ds


def cache_path(cfg) -> Path:
    """Where the cached NetCDF of a configuration lives."""
    kind = "towers" if cfg.__class__.__name__ == "TowerConfig" else "world"
    return settings.cache_dir() / f"simulator_{kind}_{cfg.key()}.nc"


def cached(cfg, build) -> xr.Dataset:
    """Load ``cfg``'s dataset from the cache, or build it with ``build(cfg)`` and store it atomically."""
    path = cache_path(cfg)
    if path.exists():
        try:
            return xr.load_dataset(path)
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable cache file %s (%s)", path, err)
    ds = build(cfg)
    write_atomic(path, ds.to_netcdf)
    return ds


def load_world(cfg: WorldConfig) -> xr.Dataset:
    """:func:`simulate_world`, cached on disk as NetCDF keyed by a hash of the configuration."""
    return cached(cfg, simulate_world)
