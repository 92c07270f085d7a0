"""Data of the state-vs-global experiment: the simulated worlds, the county split, the training sets."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo
from kgml_core.experiments.state_vs_global.config import FLUXES, StateVsGlobalConfig
from kgml_core.training.data import Samples, make_samples


@dataclass
class ExperimentData:
    """Everything the models see and are scored on.

    truth : observed world (counties); process : process world, same counties;
    yields : noisy county yields; sites : flux towers; split : unit -> "train"/"test";
    train_years, test_years : lists of int.
    """

    truth: xr.Dataset
    process: xr.Dataset
    yields: xr.Dataset
    sites: xr.Dataset
    split: pd.Series
    train_years: list[int]
    test_years: list[int]


def _choose_counties(cfg: StateVsGlobalConfig) -> tuple[str, ...] | None:
    if cfg.max_counties is None:
        return None
    table = geo.load_counties(cfg.states)
    picks = []
    for state in cfg.states:
        fips = sorted(table.index[table["state"] == state])
        g = np.random.default_rng(cfg.seed)
        picks += sorted(g.choice(fips, size=min(cfg.max_counties, len(fips)), replace=False).tolist())
    return tuple(picks)


def split_counties(truth: xr.Dataset, hosts: set[str], test_fraction: float, seed: int) -> pd.Series:
    """Hold out ``test_fraction`` of each state's counties; flux-site host counties stay in training."""
    units = truth["unit"].values.astype(str)
    states = truth["state"].values.astype(str)
    split = pd.Series("train", index=pd.Index(units, name="unit"))
    g = np.random.default_rng(seed + 1)
    for state in dict.fromkeys(states):
        free = [u for u in units[states == state] if u not in hosts]
        n_test = int(round(test_fraction * (states == state).sum()))
        chosen = g.choice(free, size=min(n_test, len(free)), replace=False) if free else []
        split.loc[list(chosen)] = "test"
    return split


def load_data(cfg: StateVsGlobalConfig, heterogeneity: float | None = None) -> ExperimentData:
    """Simulate (or load from the cache) the observed and process worlds and the observations."""
    from kgml_core.simulator import WorldConfig, load_world, simulate_observations

    h = cfg.heterogeneity if heterogeneity is None else heterogeneity
    world = WorldConfig(states=cfg.states, years=cfg.years, seed=cfg.seed, world="observed",
                        heterogeneity=h, counties=_choose_counties(cfg))
    truth = load_world(world)
    process = load_world(replace(world, world="process"))
    yields, sites = simulate_observations(world, sites_per_state=cfg.sites_per_state, seed=cfg.seed)
    hosts = set(sites["county"].values.astype(str))
    split = split_counties(truth, hosts, cfg.test_fraction, cfg.seed)
    years = list(range(cfg.years[0], cfg.years[1] + 1))
    return ExperimentData(truth, process, yields, sites, split, years[:-cfg.test_years],
                          years[-cfg.test_years:])


def _subsample(samples: Samples, n: int | None, seed: int) -> Samples:
    if n is None or len(samples) <= n:
        return samples
    g = np.random.default_rng(seed)
    return samples.subset(np.sort(g.choice(len(samples), size=n, replace=False)))


def _yield_world(data: ExperimentData) -> xr.Dataset:
    """County inputs with the noisy yield statistics and no fluxes (what counties observe)."""
    ds = data.truth.drop_vars([v for v in FLUXES + ("RESIDUE",) if v in data.truth])
    ds["YIELD"] = data.yields["YIELD"]
    return ds


@dataclass
class TrainingSets:
    process: Samples
    yields: Samples
    sites: Samples
    evaluation: Samples


def training_sets(cfg: StateVsGlobalConfig, data: ExperimentData) -> TrainingSets:
    """Samples for pretraining, yield and flux fine-tuning, and evaluation (all counties, all years)."""
    train_units = data.split.index[data.split == "train"].to_numpy()
    g = np.random.default_rng(cfg.seed + 2)
    pre_units = train_units if cfg.pretrain_units is None or cfg.pretrain_units >= len(train_units) \
        else np.sort(g.choice(train_units, size=cfg.pretrain_units, replace=False))
    process = make_samples(data.process.sel(unit=pre_units), data.train_years)
    yields = make_samples(_yield_world(data).sel(unit=train_units), data.train_years)
    yields = _subsample(yields, cfg.max_yield_samples, cfg.seed + 3)
    sites = make_samples(data.sites, data.train_years)
    evaluation = make_samples(data.truth, data.train_years + data.test_years)
    return TrainingSets(process, yields, sites, evaluation)

