"""Data of the TAM-RL experiment: the virtual tower network and the real FLUXNET sites."""
from __future__ import annotations

import numpy as np
import xarray as xr

from kgml_core import schema, settings
from kgml_core.experiments.tamrl.config import TamrlConfig
from kgml_core.tamrl.sites import complete_static_features


def tower_network(cfg: TamrlConfig) -> xr.Dataset:
    """The virtual tower network of ``cfg`` (cached by the simulator)."""
    from kgml_core.simulator import TowerConfig, load_tower_network

    return load_tower_network(TowerConfig(n_sites=cfg.n_sites, years=tuple(cfg.years), seed=cfg.network_seed,
                                          heterogeneity=cfg.network_heterogeneity, drivers=cfg.network_drivers))



def load_real_sites() -> xr.Dataset | None:
    """The real FLUXNET daily files and site list through the official loader (None when absent)."""
    from kgml_core.loaders.fluxnet import load_fluxnet

    root = settings.data_dir()
    files = sorted((root / "fluxnet").glob("FLX_*_DD_*.csv")) if (root / "fluxnet").is_dir() else []
    if not files:
        return None
    site_list = root / "sites" / "fluxnet2015_site_list.csv"
    ds = load_fluxnet(files, site_list=site_list if site_list.exists() else None)
    return with_known_crops(complete_static_features(ds))


# crops of real cropland towers from their site descriptions (code: 0 corn, 1 soybean), by site and year
KNOWN_CROPS: dict[str, dict[str, int]] = {
    # Mead irrigated continuous maize (Suyker et al. 2005, Agric. For. Meteorol. 131: 180-190)
    "US-Ne1": {"default": 0},
}


def with_known_crops(ds: xr.Dataset) -> xr.Dataset:
    """Add the annual ``CROP`` (unit, year) of the real towers listed in :data:`KNOWN_CROPS` (-1 elsewhere)."""
    years = np.unique(ds["time"].values.astype("datetime64[Y]").astype(int) + 1970)
    crop = np.full((ds.sizes["unit"], len(years)), -1, np.int8)
    for i, u in enumerate(map(str, ds["unit"].values)):
        known = KNOWN_CROPS.get(u, {})
        crop[i] = [known.get(str(y), known.get("default", -1)) for y in years]
    ds = ds.assign_coords(year=("year", years))
    schema.set_variable(ds, "CROP", crop, provenance="site descriptions (kgml_core.experiments.tamrl.data.KNOWN_CROPS)")
    return ds

