"""Data of the state-vs-global experiment: the simulated worlds, the county split, the training sets."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import geo
from kgml_core.experiments.state_vs_global.config import FLUXES, ORACLES, StateVsGlobalConfig
from kgml_core.training.data import Samples, make_samples


@dataclass
class ExperimentData:
    """Everything the models see and are scored on.

    truth : observed world (counties); process : process world, same counties;
    yields : noisy county yields; sites : flux towers; split : unit -> "train"/"test";
    train_years, test_years : lists of int; pretrain : the world the emulator is
    pretrained on (the prior ensemble, or the process world); oracles : the
    process model run with the state-mean (``state_mean``), the domain-mean
    (``domain_mean``) and the tower-host-mean (``towers_mean``: per state, the mean
    over its flux towers' host counties) true parameters; regional : the prior
    ensemble over the modelled counties and the experiment's years (one draw per
    county, spun up as the observed world), for step 4 with
    ``step4_world="regional"``, else None.
    """

    truth: xr.Dataset
    process: xr.Dataset
    yields: xr.Dataset
    sites: xr.Dataset
    split: pd.Series
    train_years: list[int]
    test_years: list[int]
    pretrain: xr.Dataset | None = None
    oracles: dict[str, xr.Dataset] = field(default_factory=dict)
    regional: xr.Dataset | None = None


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


def split_counties(truth: xr.Dataset, hosts: set[str], test_fraction: float, seed: int,
                   block_deg: float | None = None) -> pd.Series:
    """Hold out ``test_fraction`` of each state's counties; flux-site host counties stay in training.

    With ``block_deg`` the held-out counties come in spatial blocks (cells of
    ``block_deg`` degrees of latitude and longitude, drawn at random until the
    fraction is reached), so a held-out county's neighbours are mostly held
    out too; otherwise counties are drawn one by one.
    """
    units = truth["unit"].values.astype(str)
    states = truth["state"].values.astype(str)
    split = pd.Series("train", index=pd.Index(units, name="unit"))
    g = np.random.default_rng(seed + 1)
    if block_deg:
        cell = np.char.add(np.floor(truth["lat"].values / block_deg).astype(int).astype(str),
                           np.floor(truth["lon"].values / block_deg).astype(int).astype(str).astype("<U8"))
    else:
        cell = units
    for state in dict.fromkeys(states):
        in_state = states == state
        n_test = int(round(test_fraction * in_state.sum()))
        chosen: list[str] = []
        for c in g.permutation(np.unique(cell[in_state])):
            if len(chosen) >= n_test:
                break
            free = [u for u in units[in_state & (cell == c)] if u not in hosts]
            chosen += free[:n_test - len(chosen)]
        split.loc[chosen] = "test"
    return split


def load_data(cfg: StateVsGlobalConfig, heterogeneity: float | None = None,
              step: Callable[[str, int], None] | None = None) -> ExperimentData:
    """Simulate (or load from the cache) the observed and process worlds and the observations.

    ``step(message, i)`` is called before each of the (up to 4) parts, for progress and cancellation.
    """
    from kgml_core.simulator import WorldConfig, load_world, simulate_observations

    step = step or (lambda message, i: None)
    h = cfg.heterogeneity if heterogeneity is None else heterogeneity
    world = WorldConfig(states=cfg.states, years=cfg.years, seed=cfg.seed, world="observed",
                        heterogeneity=h, counties=_choose_counties(cfg))
    step("simulating the observed world", 1)
    truth = load_world(world)
    step("simulating the process model's world", 2)
    process = load_world(replace(world, world="process"))
    step("simulating the pretraining world and the observations", 3)
    pretrain = pretraining_world(cfg, world, process)
    oracles = {name: load_world(replace(world, world=name)) for name in ("state_mean", "domain_mean")
               if set(ORACLES) & set(cfg.models)}
    yields, sites = simulate_observations(world, sites_per_state=cfg.sites_per_state, seed=cfg.seed)
    hosts = set(sites["county"].values.astype(str))
    if "oracle_towers" in cfg.models and _every_state_hosts(truth, hosts):
        oracles["towers_mean"] = load_world(replace(world, world="towers_mean", hosts=tuple(sorted(hosts))))
    split = split_counties(truth, hosts, cfg.test_fraction, cfg.seed, cfg.block_deg)
    years = list(range(cfg.years[0], cfg.years[1] + 1))
    # prior draws per county, as the pretraining ensemble: independent of the heterogeneity, so the sweep reuses it
    regional = load_world(replace(world, world="ensemble", heterogeneity=1.0)) \
        if cfg.step4_world == "regional" and cfg.pretrain_world == "ensemble" else None
    return ExperimentData(truth, process, yields, sites, split, years[:-cfg.test_years],
                          years[-cfg.test_years:], pretrain, oracles, regional)


def _every_state_hosts(truth: xr.Dataset, hosts: set[str]) -> bool:
    """Whether every state of ``truth`` has a flux-tower host county (the towers' oracle needs one)."""
    states = truth["state"].values.astype(str)
    hosted = states[np.isin(truth["unit"].values.astype(str), list(hosts))]
    return set(states) <= set(hosted)


def pretraining_counties(cfg: StateVsGlobalConfig) -> tuple[str, ...]:
    """``pretrain_units`` counties (all with None) of the ``pretrain_states`` domain, drawn with the seed.

    With ``pretrain_stratified`` every state gives the same number of counties
    (the remainder to the first states, all of a state's counties when it has
    fewer), instead of a draw from the whole domain.
    """
    table = geo.load_counties(cfg.pretrain_states)
    fips = sorted(table.index)
    if cfg.pretrain_units is None or cfg.pretrain_units >= len(fips):
        return tuple(fips)
    g = np.random.default_rng(cfg.seed + 5)
    if not cfg.pretrain_stratified:
        return tuple(sorted(g.choice(fips, size=cfg.pretrain_units, replace=False).tolist()))
    states = list(cfg.pretrain_states)
    share, extra = divmod(int(cfg.pretrain_units), len(states))
    picks: list[str] = []
    for i, state in enumerate(states):
        own = sorted(table.index[table["state"] == state])
        picks += g.choice(own, size=min(share + (i < extra), len(own)), replace=False).tolist()
    return tuple(sorted(picks))


def pretraining_world(cfg: StateVsGlobalConfig, world, process: xr.Dataset) -> xr.Dataset:
    """The world the emulator is pretrained on: the prior ensemble or the process world of the
    pretraining domain (``pretrain_states``; None: the modelled states) over :meth:`~StateVsGlobalConfig.pretraining_years`.

    The domain's world does not depend on the modelled states nor on the
    heterogeneity (the ensemble's draws are per county), so one cached world
    serves every run of a seed and its sweep.
    """
    from kgml_core.simulator import WorldConfig, load_world

    # "none" trains on no process-model data; the process world then only gives the scaling statistics
    kind = "process" if cfg.pretrain_world in ("process", "none") else "ensemble"
    years = cfg.pretraining_years()
    if cfg.pretrain_states is not None:
        base = WorldConfig(states=cfg.pretrain_states, years=years, seed=cfg.seed, world=kind,
                           counties=pretraining_counties(cfg),
                           replicas=int(cfg.pretrain_replicas) if kind == "ensemble" else 1)
        return concat_years([load_world(replace(base, years=span))
                             for span in year_segments(years, cfg.pretrain_segment)])
    if kind == "process" and years == tuple(cfg.years):
        return process
    return load_world(replace(world, world=kind, heterogeneity=1.0, years=years))


def year_segments(years: tuple[int, int], length: int | None) -> list[tuple[int, int]]:
    """``years`` (first, last) cut into consecutive spans of ``length`` years ending with the last
    (the first span may be shorter); one span with None."""
    first, last = int(years[0]), int(years[1])
    if not length:
        return [(first, last)]
    spans, end = [], last
    while end >= first:
        spans.append((max(first, end - int(length) + 1), end))
        end = spans[-1][0] - 1
    return spans[::-1]


def concat_years(worlds: list[xr.Dataset]) -> xr.Dataset:
    """Worlds of the same units over consecutive years as one world: daily variables joined along
    ``time``, annual ones along ``year``, the rest (soils, parameters) taken from the first."""
    if len(worlds) == 1:
        return worlds[0]
    first = worlds[0]
    daily = [v for v in first.data_vars if "time" in first[v].dims]
    annual = [v for v in first.data_vars if "year" in first[v].dims and "time" not in first[v].dims]
    out = first.drop_vars(daily + annual + ["time", "year"])
    out = out.merge(xr.concat([w[daily] for w in worlds], dim="time"), compat="override")
    out = out.merge(xr.concat([w[annual] for w in worlds], dim="year"), compat="override")
    out.attrs = dict(first.attrs)
    return out


def pretraining_samples(world: xr.Dataset, years: list[int], span: int, seed: int, warmup: int = 0,
                        shared_years: bool = False) -> Samples:
    """``span`` of ``years`` per county, drawn per county with the seed (all when ``span`` covers them), year-major.

    The summer anomalies of a year are fields of about 900 km, so the domain
    sees as many independent summers as it has distinct years: drawing each
    county's years from a longer window gives more of them at the same number
    of samples. ``warmup``: days of each sample's previous year (see
    :func:`~kgml_core.training.data.make_samples`), read from the whole world.
    In a world of county copies (``replicas``) the county's years are dealt
    out in turn among its copies (the k-th drawn year to copy k mod R), so the
    same county-years are seen, each with one of R parameter draws; with
    ``shared_years`` every copy sees the same ``span // R`` years instead (the
    same weather under R draws: paired, but R times fewer years per county).
    """
    from kgml_core.simulator.world import replica_base

    units = world["unit"].values
    if span >= len(years) and int(world.attrs.get("replicas", 1)) == 1:
        return make_samples(world, years, warmup)
    g = np.random.default_rng(seed + 6)
    base = replica_base(units)
    counties = list(dict.fromkeys(base))
    copies = {c: np.flatnonzero(base == c) for c in counties}
    chosen = np.zeros((len(units), len(years)), bool)
    for county in counties:
        picks = g.choice(len(years), size=min(span, len(years)), replace=False)
        if shared_years:
            chosen[np.ix_(copies[county], picks[:max(1, len(picks) // len(copies[county]))])] = True
            continue
        for k, year in enumerate(picks):
            chosen[copies[county][k % len(copies[county])], year] = True
    return Samples.concat([make_samples(world.sel(unit=units[chosen[:, j]]), [year], warmup)
                           for j, year in enumerate(years) if chosen[:, j].any()])


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
    """process : pretraining samples (steps 1-2); yields, sites : observations; evaluation : every
    county-year of the observed world; regional : the regional prior ensemble's training county-years
    (``step4_world="regional"``), else None."""

    process: Samples
    yields: Samples
    sites: Samples
    evaluation: Samples
    regional: Samples | None = None

    @property
    def step4(self) -> Samples:
        """The process-model samples of step 4: the regional ensemble's when there is one, else the pretraining's."""
        return self.regional if self.regional is not None else self.process


def training_sets(cfg: StateVsGlobalConfig, data: ExperimentData) -> TrainingSets:
    """Samples for pretraining, yield and flux fine-tuning, and evaluation (all counties, all years)."""
    train_units = data.split.index[data.split == "train"].to_numpy()
    pretrain_world = data.pretrain if data.pretrain is not None else data.process
    first, last = cfg.pretraining_years()
    if cfg.pretrain_states is None:          # the modelled states' training counties
        g = np.random.default_rng(cfg.seed + 2)
        pre_units = train_units if cfg.pretrain_units is None or cfg.pretrain_units >= len(train_units) \
            else np.sort(g.choice(train_units, size=cfg.pretrain_units, replace=False))
        process = make_samples(pretrain_world.sel(unit=pre_units), list(range(first, last + 1)), cfg.warmup)
    else:
        process = pretraining_samples(pretrain_world, list(range(first, last + 1)), cfg.pretrain_span, cfg.seed,
                                      cfg.warmup, cfg.pretrain_replica_years == "shared")
    yields = make_samples(_yield_world(data).sel(unit=train_units), data.train_years, cfg.warmup)
    yields = _subsample(yields, cfg.max_yield_samples, cfg.seed + 3)
    sites = make_samples(data.sites, data.train_years, cfg.warmup)
    evaluation = make_samples(data.truth, data.train_years + data.test_years, cfg.warmup)
    regional = None
    if cfg.step4_world == "regional" and cfg.pretrain_world == "ensemble":
        if data.regional is None:
            raise ValueError("step4_world='regional' needs the regional prior ensemble: load the data with "
                             "this configuration (load_data), or build the training sets before the world is dropped")
        regional = make_samples(data.regional.sel(unit=train_units), data.train_years, cfg.warmup)
    return TrainingSets(process, yields, sites, evaluation, regional)


def held_out(data: ExperimentData, samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """Per sample of ``samples``: (in a held-out county, in a held-out year), boolean (n,) each."""
    return (np.isin(samples.county, data.split.index[data.split == "test"]),
            np.isin(samples.year, data.test_years))


def without_pretraining_world(cfg: StateVsGlobalConfig, data: ExperimentData) -> tuple[ExperimentData, TrainingSets]:
    """The training sets of ``data``, and ``data`` without its pretraining world.

    Nothing reads the pretraining world once its samples are built: dropping it
    frees its memory for the rest of a run (1.1 GB of the 3.2 GB that a `full`
    run's data and samples hold, measured; the heterogeneity sweep loads its own).
    """
    return replace(data, pretrain=None, regional=None), training_sets(cfg, data)
