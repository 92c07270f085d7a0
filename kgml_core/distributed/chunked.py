"""The core's functions run per chunk of units or per region as Dask tasks, with the same results as in process.

Nothing here changes the science code: the simulator, inference, per-unit features and
upscaling treat units independently, and region fine-tuning regions independently.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core.distributed.cluster import worker_threads
from kgml_core.distributed.tasks import DEFAULT_CHUNK, combine, map_tasks, map_unit_chunks, unit_chunks


def _simulate_chunk(counties: tuple[str, ...], cfg) -> xr.Dataset:
    from kgml_core.simulator import simulate_world
    return simulate_world(replace(cfg, counties=counties))


def simulate_world_chunked(cfg, client=None, chunk_size: int = DEFAULT_CHUNK) -> xr.Dataset:
    """:func:`kgml_core.simulator.simulate_world` with one Dask task per chunk of counties.

    The simulator draws weather, soils and parameters from smooth fields of
    location and seed, so a county's series do not depend on the chunking.
    """
    from kgml_core.simulator.world import county_units

    fips = county_units(cfg).index.values.astype(str)
    chunks = [tuple(fips[sl]) for sl in unit_chunks(len(fips), chunk_size)]
    ds = combine(map_tasks(_simulate_chunk, chunks, client, cfg=cfg))
    ds = ds.sel(unit=fips)
    ds.attrs["config"] = cfg.to_json()
    return ds


def predict_counties_chunked(model, ds: xr.Dataset, norm, client=None, chunk_size: int | None = None,
                             **kwargs) -> xr.Dataset:
    """:func:`kgml_core.inference.predict_counties` per unit chunk as Dask tasks."""
    return map_unit_chunks(_predict_chunk, ds, client, chunk_size, model=model, norm=norm, **kwargs)


def _predict_chunk(ds: xr.Dataset, model, norm, **kwargs) -> xr.Dataset:
    from kgml_core.inference import predict_counties
    kwargs.setdefault("threads", worker_threads())
    return predict_counties(model, ds, norm, **kwargs)


def unit_features_chunked(ds: xr.Dataset, client=None, chunk_size: int | None = None,
                          standardize: bool = False, **kwargs) -> pd.DataFrame:
    """:func:`kgml_core.shift.unit_features` per unit chunk; z-scores taken over all units afterwards."""
    from kgml_core.shift import standardize_features, unit_features
    weights = kwargs.pop("weights", None)
    raw = map_unit_chunks(unit_features, ds, client, chunk_size, **kwargs)
    return standardize_features(raw, weights) if standardize else raw


def upscale_chunked(members, counties: xr.Dataset, client=None, chunk_size: int | None = None,
                    **kwargs) -> xr.Dataset:
    """:func:`kgml_core.tamrl.upscale.upscale` (TAM-RL ensemble) per unit chunk as Dask tasks."""
    return map_unit_chunks(_upscale_chunk, counties, client, chunk_size, members=members, **kwargs)


def _upscale_chunk(counties: xr.Dataset, members, **kwargs) -> xr.Dataset:
    from kgml_core.tamrl.upscale import upscale
    return upscale(members, counties, **kwargs)


def _annual_chunk(counties: tuple[str, ...], world_cfg, model, norm, batch_size: int) -> xr.Dataset:
    from kgml_core.inference import predict_counties
    ds = _simulate_chunk(counties, world_cfg)
    return predict_counties(model, ds, norm, batch_size=batch_size, annual=True,
                            threads=worker_threads())


def upscale_world_annual(world_cfg, model, norm, client=None, chunk_size: int = DEFAULT_CHUNK,
                         batch_size: int = 256) -> xr.Dataset:
    """Simulate drivers and predict annual sums for every county of ``world_cfg``, chunk by chunk.

    Each task simulates one chunk of counties, runs the model on it and returns
    only the annual sums (unit, year), so no process ever holds the daily
    outputs of more than one chunk.
    """
    from kgml_core.simulator.world import county_units

    fips = county_units(world_cfg).index.values.astype(str)
    chunks = [tuple(fips[sl]) for sl in unit_chunks(len(fips), chunk_size)]
    out = combine(map_tasks(_annual_chunk, chunks, client, world_cfg=world_cfg, model=model,
                            norm=norm, batch_size=batch_size))
    return out.sel(unit=fips)


def train_region_task(group: str, model_name: str, model_config: dict, norm, anchor: dict, yields,
                      sites, yield_groups, site_groups, protocol, seed: int, prefix: str = "region",
                      device: str | None = None) -> tuple[str, dict, dict]:
    """One group's model from ``anchor`` by :func:`~kgml_core.training.protocol.finetune_group`, in any process.

    Returns (group, CPU state dict, what the fine-tuning decided). The task of
    :func:`train_region_models` and of the second process of the state-vs-global
    experiment: the weights of the in-process stage for the same seed.
    """
    import torch

    from kgml_core.models import build_model
    from kgml_core.training.protocol import finetune_group
    from kgml_core.training.trainer import KGMLTrainer

    model = build_model(model_name, model_config)
    model.load_state_dict(anchor)
    trainer = KGMLTrainer(model, norm, torch.device(device) if device else None, seed=seed)
    logs = finetune_group(trainer, group, yields, sites, yield_groups, site_groups, protocol, anchor,
                          f"{prefix}_{group}")
    return group, trainer.state_dict(), {k: v for log in logs for k, v in log.info.items()}


def train_region_models(anchor: dict, norm, yields, sites, yield_groups: np.ndarray,
                        site_groups: np.ndarray, protocol, client=None, model_name: str = "kgml_ag",
                        model_config: dict | None = None, seed: int = 0, groups: Sequence | None = None,
                        prefix: str = "region", device: str | None = None,
                        info: dict | None = None) -> dict[str, dict]:
    """SDSA-KGML: one fine-tuned model per region (or state), one Dask task each.

    Runs :func:`kgml_core.training.protocol.finetune_group` (what the
    state-vs-global harness runs per group, in process) from the global
    weights ``anchor``, for ``groups`` (default: every group with data).
    Returns group -> state dict; the same weights as in process for the same seed.
    ``info`` (a dict) receives group -> what the fine-tuning decided (its logs' ``info``, e.g. the chosen pull).
    """
    from kgml_core.training.protocol import region_groups

    groups = region_groups(yield_groups, site_groups) if groups is None else list(groups)
    results = map_tasks(train_region_task, groups, client, model_name=model_name,
                        model_config=model_config or {}, norm=norm, anchor=anchor, yields=yields,
                        sites=sites, yield_groups=np.asarray(yield_groups),
                        site_groups=np.asarray(site_groups), protocol=protocol, seed=seed, prefix=prefix,
                        device=device)
    if info is not None:
        info.update({group: decided for group, _, decided in results})
    return {group: weights for group, weights, _ in results}
