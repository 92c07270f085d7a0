"""Data of the real-yields experiment: real weather, yields and soils; the real-data world; the split."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo, schema, settings
from kgml_core.experiments.real_yields.config import HRRR_IOWA, NASS_CORN, RealYieldsConfig


@dataclass
class RealData:
    """What the models see and are scored on.

    process : the process model on the real weather (default parameters; simulated YIELD);
    world : the same with YIELD replaced by the real county yields (NaN where NASS has none);
    split : unit -> "train"/"test"; train_years, test_years; sources : file names.
    """

    process: xr.Dataset
    world: xr.Dataset
    split: pd.Series
    train_years: list[int]
    test_years: list[int]
    sources: dict[str, str]


def resolve(path: str, default: str) -> Path:
    """A configured path, or the default file of the real-data folder; FileNotFoundError naming it."""
    target = Path(path).expanduser() if path else settings.data_dir() / default
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such file (set it in the configuration, or load real data)")
    return target


def load_sources(cfg: RealYieldsConfig) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset | None, dict]:
    """Weather (counties x days), yields (counties x years) and optional soils, through the loaders."""
    from kgml_core.loaders import load_any

    wpath = resolve(cfg.weather, HRRR_IOWA)
    weather = load_any([wpath])
    if "time" not in weather.dims or "county" not in set(weather["unit_kind"].values.astype(str)):
        raise ValueError(f"{wpath.name}: not daily county weather (a county table or a gridded NetCDF)")
    ypath = resolve(cfg.yields, NASS_CORN)
    states = sorted(set(weather["state"].values.astype(str)) - {""})
    yields = load_any([ypath], crop=cfg.crop, states=states or None)
    soils = None
    if cfg.soils:
        spath = resolve(cfg.soils, "")
        soils = load_any([spath], counties=geo.select_counties(list(weather["unit"].values.astype(str))))
    sources = {"weather": wpath.name, "yields": ypath.name, "soils": Path(cfg.soils).name if cfg.soils else ""}
    return weather, yields, soils, sources


def split_counties(units: np.ndarray, fraction: float, seed: int) -> pd.Series:
    """Hold out ``fraction`` of the counties (all years)."""
    g = np.random.default_rng(seed + 1)
    split = pd.Series("train", index=pd.Index(units, name="unit"))
    split.iloc[np.sort(g.choice(len(units), size=max(1, int(round(fraction * len(units)))), replace=False))] = "test"
    return split


def load_data(cfg: RealYieldsConfig) -> RealData:
    """The real-data world of the configured files, restricted to counties with yields in ``cfg.years``."""
    from kgml_core.simulator.real import real_world

    weather, yields, soils, sources = load_sources(cfg)
    years = list(range(cfg.years[0], cfg.years[1] + 1))
    weather = weather.sel(time=slice(f"{years[0]}-01-01", f"{years[-1]}-12-31"))
    have = yields["YIELD"].reindex(unit=weather["unit"].values, year=years)
    units = weather["unit"].values[np.isfinite(have.values).any(axis=1)]
    if len(units) < 4:
        raise ValueError(f"only {len(units)} counties of {sources['weather']} have {cfg.crop} yields in "
                         f"{sources['yields']} for {cfg.years}: at least 4 are needed")
    process = real_world(weather.sel(unit=units), soils, cfg.seed, "process", crop=cfg.crop)
    missing = [y for y in years if y not in process["year"].values]
    if missing:
        raise ValueError(f"{sources['weather']} has no full year of weather for {missing}")
    process = process.sel(year=years, time=slice(f"{years[0]}-01-01", f"{years[-1]}-12-31"))
    world = process.copy()
    schema.set_variable(world, "YIELD", yields["YIELD"].reindex(unit=units, year=years).values,
                        provenance=yields["YIELD"].attrs.get("provenance", sources["yields"]))
    world.attrs.update(data_source="real weather, real yields", sources=str(sources))
    split = split_counties(np.asarray(units, dtype=str), cfg.test_fraction, cfg.seed)
    return RealData(process, world, split, years[:-cfg.test_years], years[-cfg.test_years:], sources)


def pick_inputs(datasets: dict[str, xr.Dataset]) -> dict[str, tuple[str, xr.Dataset]]:
    """Which loaded datasets feed the experiment: {"weather"|"yields"|"soils": (name, dataset)}.

    weather: daily county drivers; yields: annual county YIELD; soils: soil variables on units.
    The first of each in the given order is taken.
    """
    from kgml_core.loaders.uses import WEATHER

    out: dict[str, tuple[str, xr.Dataset]] = {}
    for name, ds in datasets.items():
        kinds = set(ds["unit_kind"].values.astype(str)) if "unit_kind" in ds.coords else set()
        if "county" not in kinds:
            continue
        if "time" in ds.dims and ds.attrs.get("time_step", "D") == "D" and len(set(ds.data_vars) & set(WEATHER)) >= 3:
            out.setdefault("weather", (name, ds))
        if "YIELD" in ds and "year" in ds["YIELD"].dims:
            out.setdefault("yields", (name, ds))
        if set(ds.data_vars) & set(schema.SOIL):
            out.setdefault("soils", (name, ds))
    return out


def write_inputs(picked: dict[str, tuple[str, xr.Dataset]], folder: Path) -> dict[str, str]:
    """Save the picked datasets as contract NetCDF files (named by content) for a job; config overrides."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for role, (name, ds) in picked.items():
        keep = [v for v in ds.data_vars if (role == "weather" and "time" in ds[v].dims)
                or (role == "yields" and v in ("YIELD", "YIELD_BU", "CROP"))
                or (role == "soils" and v in schema.SOIL)]
        part = ds[keep]
        digest = hashlib.sha1(f"{role}:{name}:{dict(part.sizes)}:{part.attrs.get('source_files', '')}".encode()
                              + np.nan_to_num(part[keep[0]].values.astype(float)).tobytes()[:1 << 20]).hexdigest()[:16]
        path = folder / f"{role}_{digest}.nc"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            part.to_netcdf(tmp)
            tmp.replace(path)
        out[role] = str(path)
    return out
