"""Data of the TAM-RL experiment: the virtual tower network and the real FLUXNET sites."""
from __future__ import annotations

import xarray as xr

from kgml_core import settings
from kgml_core.experiments.tamrl.config import TamrlConfig
from kgml_core.tasks import complete_static_features


def tower_network(cfg: TamrlConfig) -> xr.Dataset:
    """The virtual tower network of ``cfg`` (cached by the simulator)."""
    from kgml_core.simulator import TowerConfig, load_tower_network

    return load_tower_network(TowerConfig(n_sites=cfg.n_sites, years=tuple(cfg.years), seed=cfg.network_seed))



def load_real_sites() -> xr.Dataset | None:
    """The real FLUXNET daily files and site list through the official loader (None when absent)."""
    from kgml_core.loaders.fluxnet import load_fluxnet

    root = settings.data_dir()
    files = sorted((root / "fluxnet").glob("FLX_*_DD_*.csv")) if (root / "fluxnet").is_dir() else []
    if not files:
        return None
    site_list = root / "sites" / "fluxnet2015_site_list.csv"
    ds = load_fluxnet(files, site_list=site_list if site_list.exists() else None)
    return complete_static_features(ds)

