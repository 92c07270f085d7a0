"""A virtual flux-tower network across the conterminous US (for upscaling experiments)."""
from __future__ import annotations

import numpy as np
import shapely
import xarray as xr

from kgml_core import geo, schema
from kgml_core.simulator import climate, engine
from kgml_core.simulator.config import TowerConfig
from kgml_core.simulator.fields import rng
from kgml_core.simulator.observations import flux_noise
from kgml_core.simulator.parameters import PARAMS, default_parameters
from kgml_core.simulator.soils import soil_properties
from kgml_core.simulator.world import _assemble, cached, rotation, run_points

IGBP_CODE = {"CRO": engine.CROP, "GRA": engine.GRASS, "DBF": engine.DECIDUOUS,
             "ENF": engine.EVERGREEN, "SAV": engine.SHRUB, "OSH": engine.SHRUB}
# light-use efficiency (g C MJ-1 APAR) by vegetation type; crops use the maize default
LUE_BY_TYPE = {"CRO": PARAMS["LUE"].default, "GRA": 1.55, "DBF": 1.35, "ENF": 1.45, "SAV": 1.25, "OSH": 1.10}
# parameters that vary between sites: (sd of the site-idiosyncratic part, relative?)
SITE_SPREAD = {"LUE": (0.10, True), "DRAINAGE": (0.3, True), "RH_Q10": (0.25, False),
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


def site_parameters(igbp, mat, map_, g: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters of each site: a part that follows vegetation and climate, and a site-specific part."""
    n = len(igbp)
    out = default_parameters(n)
    out["LUE"] = np.array([LUE_BY_TYPE[v] for v in igbp], np.float32)
    out["RH_Q10"] += -0.035 * (mat - 10.0)
    out["RH_SWC_OPT"] += -0.06 * np.clip((map_ - 800) / 600, -1.5, 1.5)
    out["RH_KLIT"] *= np.where(np.isin(igbp, ["ENF"]), 0.6, 1.0)
    for name, (sd, relative) in SITE_SPREAD.items():
        eps = g.standard_normal(n)
        value = out[name] * (1 + sd * eps) if relative else out[name] + sd * eps
        out[name] = np.clip(value, PARAMS[name].lower, PARAMS[name].upper).astype(np.float32)
    return out


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
    params = site_parameters(igbp, mat, map_, g)
    years = np.arange(cfg.years[0] - 1, cfg.years[1] + 1)
    ids = np.array([f"VT-{i + 1:04d}" for i in range(n)], dtype=object)
    crop = rotation(np.arange(n) + 1, years)
    drivers, res = run_points(lat, lon, soils, params, crop, cfg.years, cfg.seed, veg=veg, elev=elev)
    ds = schema.empty_units(ids, lat, lon, states, "site")
    ds = ds.assign_coords(IGBP=("unit", igbp.astype(object)), climate=("unit", kg.astype(object)))
    crop_out = np.where(veg[:, None] == engine.CROP, crop[:, 1:], -1).astype(np.int8)
    ds = _assemble(ds, cfg.years, drivers, res, soils, params, crop_out)
    ds = ds.drop_vars(["RA", "RH", "RESIDUE"])
    obs = flux_noise(ds["GPP"].values, ds["RECO"].values, ds["NEE"].values,
                     rng(cfg.seed, "towers/noise"), gap_fraction=0.08)
    for k, v in obs.items():
        schema.set_variable(ds, k, v, provenance="simulated eddy covariance (virtual tower)")
    schema.set_variable(ds, "ELEV", elev.astype(np.float32))
    schema.set_variable(ds, "MAT", mat.astype(np.float32))
    schema.set_variable(ds, "MAP", map_.astype(np.float32))
    ds["YIELD"] = ds["YIELD"].where(veg[:, None] == engine.CROP)
    schema.with_attrs(ds)
    ds.attrs.update({"config": cfg.to_json(), "seed": int(cfg.seed), "title": "virtual flux-tower network",
                     "source": "kgml_core.simulator"})
    return ds


def load_tower_network(cfg: TowerConfig) -> xr.Dataset:
    """:func:`simulate_tower_network`, cached on disk as NetCDF keyed by the configuration."""
    return cached(cfg, simulate_tower_network)
