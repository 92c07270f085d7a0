"""State-specific against global KGML: the experiment of the SDSA-KGML article.

The comparison ladder, trained and scored in one harness on a simulated
three-state world (the "observed" world has location-dependent parameters;
the "process" world is the process model with default parameters):

* ``process_model``: the process model with default parameters (no learning);
* ``no_knowledge`` (level 1): a GRU with attention trained on the sparse
  observations only (county yields, flux sites), no knowledge guidance;
* ``global`` (level 2): KGML-ag trained end to end with the 5-step protocol;
* ``state_specific`` (level 3): SDSA-KGML, the global model fine-tuned per
  state (steps 3 and 5 on the state's data, L2-SP toward the global weights);
* ``auto_region`` (level 3): the same per region of the Auto Region Detector.

Scores are computed on held-out counties (all years) and on held-out years
(all counties) of the observed world's noise-free truth, per state and per
flux, with paired bootstrap intervals for each RMSE difference against the
global model. :func:`heterogeneity_sweep` repeats the global against
state-specific comparison for several heterogeneity settings.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import xarray as xr

from kgml_core import geo, schema
from kgml_core.config import check_known_keys
from kgml_core.metrics import paired_bootstrap_rmse_diff, scores
from kgml_core.models import build_model
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.regions import detect_regions
from kgml_core.runs import Run, RunStore
from kgml_core.sdsa import ceiling, parameter_table
from kgml_core.training.data import DAYS, INPUTS, PARAM_NAMES, Normalizer, Samples, make_samples
from kgml_core.training.protocol import ProtocolConfig, finetune, finetune_region, pretrain, \
    train_no_knowledge
from kgml_core.training.trainer import KGMLTrainer, StepConfig, default_device

log = logging.getLogger(__name__)

MODEL_NAMES = ("process_model", "oracle_global", "oracle_state", "emulator_oracle", "no_knowledge", "global",
               "state_specific", "auto_region")
ORACLES = ("oracle_global", "oracle_state")
FLUXES = ("RA", "RH", "NEE", "RECO")
TARGETS = FLUXES + ("YIELD",)
KIND = "state_vs_global"


@dataclass
class StateVsGlobalConfig:
    """Configuration of the experiment; defaults are the ``quick`` preset.

    states, years (first, last), test_years (the last N years held out),
    test_fraction (share of each state's counties held out), heterogeneity
    (of the simulator's parameters), seed, sites_per_state (flux towers),
    max_counties (per state, None for all), pretrain_units (process-world
    counties for pretraining, None for all training counties),
    max_yield_samples (county-years for yield fine-tuning, None for all),
    model sizes, the protocol's step settings, no_knowledge (level-1 training),
    region_method / n_regions (Auto Region Detector), n_boot (bootstrap
    resamples), models (the rungs of the ladder to train; "global" is always
    trained, the region models start from it), sweep (heterogeneity values, run after the main experiment),
    threads (torch CPU threads: 1 is fastest for these small GRUs, and
    several OpenMP threads thrash on a shared machine), device ("auto", "cpu", "cuda").
    """

    states: tuple[str, ...] = ("IL", "IA", "IN")
    years: tuple[int, int] = (2010, 2015)
    test_years: int = 2
    test_fraction: float = 0.3
    heterogeneity: float = 1.0
    seed: int = 0
    sites_per_state: int = 4
    max_counties: int | None = None
    pretrain_units: int | None = 64
    max_yield_samples: int | None = 256
    hidden: int = 32
    flux_hidden: int = 16
    head_hidden: int = 12
    dropout: float = 0.1
    # few large full-year batches, a high learning rate annealed by a cosine: the
    # GRUs' cost is per time step, so large batches are nearly free on a CPU
    protocol: ProtocolConfig = field(default_factory=lambda: quick_protocol("ensemble"))
    no_knowledge: StepConfig = field(default_factory=lambda: StepConfig(epochs=10, batch_size=64, lr=1e-2,
                                                                        cosine=True))
    region_method: str = "kmeans"
    n_regions: int | None = 3
    # "ensemble": pretrain a parameter-conditioned emulator on per-county prior draws
    # (the global and regional models then estimate parameter vectors); "process":
    # the original single-parameter pretraining (the models fine-tune weights)
    pretrain_world: str = "ensemble"
    block_deg: float | None = 1.0
    n_boot: int = 300
    models: tuple[str, ...] = MODEL_NAMES
    sweep: tuple[float, ...] = ()
    threads: int = 1
    device: str = "auto"
    preset: str = "quick"

    def __post_init__(self) -> None:
        self.states = tuple(geo.resolve_states(self.states))  # unknown codes fail before any run exists
        self.years = tuple(int(y) for y in self.years)
        self.sweep = tuple(float(h) for h in self.sweep)
        unknown = sorted(set(self.models) - set(MODEL_NAMES))
        if unknown:
            raise ValueError(f"unknown models {unknown}: expected some of {list(MODEL_NAMES)}")
        self.models = tuple(m for m in MODEL_NAMES if m in set(self.models) | {"global"})
        if not self.states:
            raise ValueError("state-vs-global needs at least one state")
        if not 1 <= self.test_years < self.years[1] - self.years[0] + 1:
            raise ValueError(f"test_years must leave at least one training year in {self.years}, "
                             f"got {self.test_years}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.pretrain_world not in ("ensemble", "process"):
            raise ValueError(f"pretrain_world must be 'ensemble' or 'process', got {self.pretrain_world!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")

    def to_dict(self) -> dict:
        """JSON-ready form (saved with every run)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StateVsGlobalConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        check_known_keys(cls, d, "state-vs-global config")
        d = dict(d)
        if isinstance(d.get("protocol"), dict):
            d["protocol"] = ProtocolConfig(**d["protocol"])
        if isinstance(d.get("no_knowledge"), dict):
            d["no_knowledge"] = StepConfig(**d["no_knowledge"])
        return cls(**d)


def quick_protocol(pretrain_world: str) -> ProtocolConfig:
    """The ``quick`` protocol for a pretraining world.

    Few large full-year batches, a high learning rate annealed by a cosine: the
    GRUs' cost is per time step, so large batches are nearly free on a CPU.
    With the ``ensemble`` (a parameter-conditioned emulator) step 5 and the
    regions estimate the parameter vector with the networks frozen (a large
    rate: ``theta`` is in prior standard units); with ``process`` (the original
    single-parameter pretraining) they fine-tune the Rh and NEE networks.
    """
    common = dict(
        step1=StepConfig(epochs=4, batch_size=64, lr=1e-2, self_paced=True, balance=0.0, cosine=True),
        step2=StepConfig(epochs=30, batch_size=64, lr=1e-2, cosine=True),
        step3=StepConfig(epochs=30, batch_size=128, lr=1e-2, cosine=True),
        step4=StepConfig(epochs=2, batch_size=64, lr=1e-3),
        region3=StepConfig(epochs=2, batch_size=64, lr=2e-3, l2sp=1e-3))
    legacy = ProtocolConfig(**common, step5=StepConfig(epochs=15, batch_size=16, lr=1e-3, cosine=True),
                            region5=StepConfig(epochs=30, batch_size=24, lr=1e-3, l2sp=1e-2, cosine=True),
                            region_groups=("rh", "nee"), step5_groups=("rh", "nee"))
    return estimation_steps(legacy, pretrain_world, 15, 30)


def estimation_steps(protocol: ProtocolConfig, pretrain_world: str, epochs: int,
                     region_epochs: int) -> ProtocolConfig:
    """``protocol`` with step 5 and the regions estimating parameters (``ensemble``), else unchanged.

    ``theta`` is in prior standard units, so the rate is large (0.1); the
    global estimate is pulled weakly toward the prior mean, a region's toward
    the global estimate (L2-SP on ``theta`` alone).
    """
    if pretrain_world != "ensemble":
        return protocol
    return replace(protocol,
                   step5=StepConfig(epochs=epochs, batch_size=64, lr=0.1, cosine=True, param_prior=1e-2),
                   region5=StepConfig(epochs=region_epochs, batch_size=64, lr=0.1, cosine=True, l2sp=1e-2),
                   region_groups=("params",), step5_groups=("params",))


def preset(name: str, **overrides) -> StateVsGlobalConfig:
    """``tiny`` (tests, seconds), ``quick`` (app and CI, minutes on 2 cores) or ``full`` (article scale)."""
    world = overrides.get("pretrain_world", "ensemble")
    if name == "quick":
        cfg = StateVsGlobalConfig(protocol=quick_protocol(world))
    elif name == "tiny":
        one = StepConfig(epochs=1, batch_size=8, lr=3e-3)
        cfg = StateVsGlobalConfig(
            years=(2012, 2014), test_years=1, max_counties=6, sites_per_state=1, pretrain_units=6,
            max_yield_samples=12, hidden=8, flux_hidden=8, head_hidden=8, n_regions=2, n_boot=50,
            protocol=estimation_steps(ProtocolConfig(*(one,) * 7), world, 1, 1), no_knowledge=one, preset="tiny")
    elif name == "full":
        cfg = StateVsGlobalConfig(
            years=(2000, 2019), test_years=4, sites_per_state=6, pretrain_units=200, max_yield_samples=None,
            hidden=64, flux_hidden=32, head_hidden=32, dropout=0.2, n_regions=None, n_boot=1000,
            preset="full",
            protocol=ProtocolConfig(
                step1=StepConfig(epochs=10, batch_size=128, lr=5e-3, self_paced=True, balance=0.0, cosine=True),
                step2=StepConfig(epochs=60, batch_size=128, lr=5e-3, cosine=True),
                step3=StepConfig(epochs=10, batch_size=128, lr=2e-3),
                step4=StepConfig(epochs=5, batch_size=128, lr=5e-4),
                step5=StepConfig(epochs=30, batch_size=32, lr=1e-3, cosine=True),
                region3=StepConfig(epochs=8, batch_size=128, lr=1e-3, l2sp=1e-3),
                region5=StepConfig(epochs=60, batch_size=32, lr=1e-3, l2sp=1e-2, cosine=True),
                region_groups=("rh", "nee"), step5_groups=("rh", "nee")),
            no_knowledge=StepConfig(epochs=40, batch_size=64, lr=5e-3, cosine=True))
        cfg = replace(cfg, protocol=estimation_steps(cfg.protocol, world, 30, 60))
    else:
        raise ValueError(f"unknown preset '{name}'; expected tiny, quick or full")
    return replace(cfg, **overrides) if overrides else cfg


# --------------------------------------------------------------------------- data
@dataclass
class ExperimentData:
    """Everything the models see and are scored on.

    truth : observed world (counties); process : process world, same counties;
    yields : noisy county yields; sites : flux towers; split : unit -> "train"/"test";
    train_years, test_years : lists of int; pretrain : the world the emulator is
    pretrained on (the prior ensemble, or the process world); oracles : the
    process model run with the state-mean (``state_mean``) and the domain-mean
    (``domain_mean``) true parameters.
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


def _choose_counties(cfg: StateVsGlobalConfig) -> tuple[str, ...] | None:
    if cfg.max_counties is None:
        return None
    from kgml_core import geo
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


def load_data(cfg: StateVsGlobalConfig, heterogeneity: float | None = None) -> ExperimentData:
    """Simulate (or load from the cache) the observed and process worlds and the observations."""
    from kgml_core.simulator import WorldConfig, load_world, simulate_observations

    h = cfg.heterogeneity if heterogeneity is None else heterogeneity
    world = WorldConfig(states=cfg.states, years=cfg.years, seed=cfg.seed, world="observed",
                        heterogeneity=h, counties=_choose_counties(cfg))
    truth = load_world(world)
    process = load_world(replace(world, world="process"))
    # the ensemble's draws do not depend on heterogeneity: one cached world serves a sweep
    pretrain = process if cfg.pretrain_world == "process" else \
        load_world(replace(world, world="ensemble", heterogeneity=1.0))
    oracles = {name: load_world(replace(world, world=name)) for name in ("state_mean", "domain_mean")
               if set(ORACLES) & set(cfg.models)}
    yields, sites = simulate_observations(world, sites_per_state=cfg.sites_per_state, seed=cfg.seed)
    hosts = set(sites["county"].values.astype(str))
    split = split_counties(truth, hosts, cfg.test_fraction, cfg.seed, cfg.block_deg)
    years = list(range(cfg.years[0], cfg.years[1] + 1))
    return ExperimentData(truth, process, yields, sites, split, years[:-cfg.test_years],
                          years[-cfg.test_years:], pretrain, oracles)


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
    pretrain_world = data.pretrain if data.pretrain is not None else data.process
    process = make_samples(pretrain_world.sel(unit=pre_units), data.train_years)
    yields = make_samples(_yield_world(data).sel(unit=train_units), data.train_years)
    yields = _subsample(yields, cfg.max_yield_samples, cfg.seed + 3)
    sites = make_samples(data.sites, data.train_years)
    evaluation = make_samples(data.truth, data.train_years + data.test_years)
    return TrainingSets(process, yields, sites, evaluation)


# --------------------------------------------------------------------------- models
def _device(cfg: StateVsGlobalConfig) -> torch.device:
    return default_device() if cfg.device == "auto" else torch.device(cfg.device)


def _kgml(cfg: StateVsGlobalConfig, name: str = "kgml_ag"):
    sizes = {"n_inputs": len(INPUTS), "hidden": cfg.hidden, "head_hidden": cfg.head_hidden,
             "dropout": cfg.dropout}
    if name == "kgml_ag":
        sizes["flux_hidden"] = cfg.flux_hidden
        sizes["n_params"] = len(PARAM_NAMES) if cfg.pretrain_world == "ensemble" else 0
    return build_model(name, sizes)


class Harness:
    """Trains the ladder's models on one :class:`TrainingSets` and predicts the evaluation samples.

    Each stage's weights go to ``self.weights[key]`` (keys ``pretrained``,
    ``global``, ``state_XX``, ``region_N``, ``no_knowledge``) and, when given,
    to ``checkpoint(key, weights)`` as soon as the stage ends. A stage whose
    key is in ``completed`` (weights of an interrupted run) is not trained
    again: its weights are loaded instead.
    """

    def __init__(self, cfg: StateVsGlobalConfig, sets: TrainingSets, norm: Normalizer,
                 progress: ProgressCallback | None, cancel: CancelToken | None,
                 checkpoint: Callable[[str, dict], None] | None = None,
                 completed: dict[str, dict[str, torch.Tensor]] | None = None):
        self.cfg, self.sets, self.norm = cfg, sets, norm
        self.progress, self.cancel = progress, cancel
        self.device = _device(cfg)
        self.weights: dict[str, dict[str, torch.Tensor]] = {}
        self.checkpoint = checkpoint
        self.completed = dict(completed or {})
        self.skipped: list[str] = []
        # kind ("global", "state", "region") -> group -> trained model (for the parameter table)
        self.group_models: dict[str, dict[str, torch.nn.Module]] = {}

    def trainer(self, model) -> KGMLTrainer:
        return KGMLTrainer(model, self.norm, self.device, self.progress, self.cancel, self.cfg.seed)

    def _stage(self, key: str, model: torch.nn.Module, train: Callable[[KGMLTrainer], object]) -> KGMLTrainer:
        """Train ``model`` with ``train`` (or load the completed stage ``key``), record and checkpoint it."""
        t = self.trainer(model)
        if key in self.completed:
            model.load_state_dict(self.completed[key])
            self.skipped.append(key)
            self.weights[key] = t.state_dict()
            return t
        train(t)
        self.weights[key] = t.state_dict()
        if self.checkpoint is not None:
            self.checkpoint(key, self.weights[key])
        return t

    def pretrain_global(self) -> dict[str, torch.Tensor]:
        """Steps 1-2 on the process world (independent of the observed world's heterogeneity)."""
        self._stage("pretrained", _kgml(self.cfg),
                    lambda t: pretrain(t, self.sets.process, self.cfg.protocol, "global"))
        return self.weights["pretrained"]

    def train_global(self, pretrained: dict[str, torch.Tensor]) -> KGMLTrainer:
        """Steps 3-5 from the pretrained weights."""
        model = _kgml(self.cfg)
        model.load_state_dict(pretrained)
        return self._stage("global", model, lambda t: finetune(
            t, self.sets.process, self.sets.yields, self.sets.sites, self.cfg.protocol, "global"))

    def train_groups(self, prefix: str, yield_groups: np.ndarray, site_groups: np.ndarray) -> dict:
        """One SDSA-KGML model per group (state or region), from the global weights."""
        anchor = self.weights["global"]
        trainers = {}
        for group in sorted(set(yield_groups.tolist()) | set(site_groups.tolist())):
            model = _kgml(self.cfg)
            model.load_state_dict(anchor)
            trainers[group] = self._stage(f"{prefix}_{group}", model, lambda t, g=group: finetune_region(
                t, self.sets.yields.subset(yield_groups == g), self.sets.sites.subset(site_groups == g),
                self.cfg.protocol, anchor, f"{prefix}_{g}"))
        return trainers

    def train_no_knowledge(self) -> KGMLTrainer:
        """Level 1, from scratch on the observations."""
        return self._stage("no_knowledge", _kgml(self.cfg, "gru_attention"), lambda t: train_no_knowledge(
            t, self.sets.yields, self.sets.sites, self.cfg.no_knowledge))


def predict_grouped(trainers: dict, samples: Samples, groups: np.ndarray,
                    fallback: KGMLTrainer) -> dict[str, np.ndarray]:
    """Predict each sample with its group's trainer (``fallback`` for groups without one)."""
    out = {k: np.full((len(samples), DAYS), np.nan, np.float32) for k in FLUXES}
    out["YIELD"] = np.full(len(samples), np.nan, np.float32)
    for group in np.unique(groups):
        mask = groups == group
        pred = trainers.get(group, fallback).predict(samples.subset(mask))
        for k in out:
            out[k][mask] = pred[k]
    return out


# --------------------------------------------------------------------------- evaluation
def _to_grid(values: np.ndarray, samples: Samples, truth: xr.Dataset) -> np.ndarray:
    """Sample-major daily values (n, 365) onto the (unit, time) grid of ``truth`` (NaN elsewhere)."""
    units = {u: i for i, u in enumerate(truth["unit"].values.astype(str))}
    time = pd.DatetimeIndex(truth["time"].values)
    grid = np.full((len(units), len(time)), np.nan, np.float32)
    first_day = {y: int(np.flatnonzero(time.year == y)[0]) for y in np.unique(samples.year)}
    rows = np.array([units[u] for u in samples.unit])
    for y, start in first_day.items():
        sel = samples.year == y
        grid[rows[sel], start:start + DAYS] = values[sel]
    return grid


def _to_annual(values: np.ndarray, samples: Samples, truth: xr.Dataset) -> np.ndarray:
    units = {u: i for i, u in enumerate(truth["unit"].values.astype(str))}
    years = {int(y): j for j, y in enumerate(truth["year"].values)}
    grid = np.full((len(units), len(years)), np.nan, np.float32)
    grid[[units[u] for u in samples.unit], [years[int(y)] for y in samples.year]] = values
    return grid


def predictions_dataset(preds: dict[str, dict[str, np.ndarray]], samples: Samples,
                        data: ExperimentData, regions: pd.Series) -> xr.Dataset:
    """Predictions of every model and the truth: RA, RH, NEE, RECO (model, unit, time), YIELD (model, unit, year)."""
    truth = data.truth
    names = ["truth"] + list(preds)
    ds = xr.Dataset(coords={c: truth[c] for c in ("unit", "lat", "lon", "state", "unit_kind", "time", "year")})
    ds = ds.assign_coords(model=("model", np.array(names, dtype=object)),
                          split=("unit", data.split.reindex(truth["unit"].values.astype(str)).values.astype(object)),
                          region=("unit", regions.reindex(truth["unit"].values.astype(str)).values.astype(int)))
    for k in FLUXES:
        stack = [truth[k].transpose("unit", "time").values.astype(np.float32)]
        stack += [_to_grid(p[k], samples, truth) for p in preds.values()]
        ds[k] = (("model", "unit", "time"), np.stack(stack), schema.variable_attrs(k))
        ds[k].encoding = {"zlib": True, "complevel": 1}
    stack = [truth["YIELD"].transpose("unit", "year").values.astype(np.float32)]
    stack += [_to_annual(p["YIELD"], samples, truth) for p in preds.values()]
    ds["YIELD"] = (("model", "unit", "year"), np.stack(stack), schema.variable_attrs("YIELD"))
    ds.attrs.update({"test_years": list(data.test_years), "train_years": list(data.train_years),
                     "heterogeneity": float(truth.attrs.get("heterogeneity", np.nan)),
                     "note": "split: 'test' counties held out; years in test_years held out"})
    return ds


def _eval_masks(ds: xr.Dataset, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (unit, time) and (unit, year) masks of a held-out set: counties, years or either."""
    test_unit = ds["split"].values == "test"
    test_years = set(ds.attrs["test_years"])
    test_time = np.isin(pd.DatetimeIndex(ds["time"].values).year, list(test_years))
    test_year = np.isin(ds["year"].values, list(test_years))
    if which == "heldout_counties":
        return test_unit[:, None] & ~test_time[None, :], test_unit[:, None] & ~test_year[None, :]
    if which == "heldout_years":
        return ~test_unit[:, None] & test_time[None, :], ~test_unit[:, None] & test_year[None, :]
    return test_unit[:, None] | test_time[None, :], test_unit[:, None] | test_year[None, :]


def evaluate(ds: xr.Dataset, which: str = "heldout") -> dict:
    """Scores per state, model and target on a held-out set of :func:`predictions_dataset` output."""
    daily_mask, annual_mask = _eval_masks(ds, which)
    states = ds["state"].values.astype(str)
    out: dict = {}
    for state in dict.fromkeys(states):
        in_state = states == state
        out[state] = {}
        for model in ds["model"].values[1:]:
            out[state][str(model)] = {}
            for k in TARGETS:
                mask = (annual_mask if k == "YIELD" else daily_mask) & in_state[:, None]
                obs = ds[k].sel(model="truth").values
                sim = ds[k].sel(model=model).values
                out[state][str(model)][k] = scores(obs[mask], sim[mask])
    return out


def bootstrap(ds: xr.Dataset, n_boot: int, seed: int, targets=TARGETS) -> dict:
    """Paired bootstrap (resampling counties) of RMSE(model) - RMSE(global), per state and target."""
    daily_mask, annual_mask = _eval_masks(ds, "heldout")
    states = ds["state"].values.astype(str)
    out: dict = {}
    for state in dict.fromkeys(states):
        rows = states == state
        out[state] = {}
        for k in targets:
            mask = (annual_mask if k == "YIELD" else daily_mask)[rows]
            obs = np.where(mask, ds[k].sel(model="truth").values[rows], np.nan)
            base = ds[k].sel(model="global").values[rows]
            out[state][k] = {
                f"{m}_vs_global": paired_bootstrap_rmse_diff(obs, ds[k].sel(model=m).values[rows], base,
                                                             n_boot=n_boot, seed=seed)
                for m in ("state_specific", "auto_region", "no_knowledge", "process_model", "emulator_oracle")
                if m in ds["model"].values}
            if {"oracle_state", "oracle_global"} <= set(ds["model"].values):
                out[state][k]["oracle_state_vs_oracle_global"] = paired_bootstrap_rmse_diff(
                    obs, ds[k].sel(model="oracle_state").values[rows],
                    ds[k].sel(model="oracle_global").values[rows], n_boot=n_boot, seed=seed)
    return out


# --------------------------------------------------------------------------- runs
def _regions(data: ExperimentData, cfg: StateVsGlobalConfig):
    return detect_regions(data.truth, method=cfg.region_method, n_regions=cfg.n_regions, seed=cfg.seed)


def fit_ladder(cfg: StateVsGlobalConfig, data: ExperimentData, progress=None, cancel=None,
               pretrained: dict | None = None, models=MODEL_NAMES,
               checkpoint: Callable[[str, dict], None] | None = None,
               completed: dict[str, dict] | None = None) -> tuple[xr.Dataset, Harness, object]:
    """Train the requested models of the ladder on ``data`` and return their predictions.

    ``pretrained`` (steps 1-2 weights) is reused when given, since the process
    world does not depend on the observed world's heterogeneity.
    ``checkpoint(key, weights)`` is called after each trained stage;
    ``completed`` maps stage keys to weights that are loaded instead of trained
    (see :class:`Harness`).
    """
    sets = training_sets(cfg, data)
    norm = Normalizer.fit(sets.process)
    harness = Harness(cfg, sets, norm, progress, cancel, checkpoint, completed)
    pretrained = pretrained if pretrained is not None else harness.pretrain_global()
    harness.weights["pretrained"] = pretrained
    glob = harness.train_global(pretrained)
    harness.group_models["global"] = {"all": glob.model}
    ev = sets.evaluation
    preds: dict[str, dict[str, np.ndarray]] = {}
    years = data.train_years + data.test_years
    if "process_model" in models:
        preds["process_model"] = _world_predictions(data.process, years)
    oracle_choice = None
    if "oracle_global" in models:
        oracle_choice, preds["oracle_global"] = best_single_parameter_set(data, years)
    if "oracle_state" in models:
        preds["oracle_state"] = _world_predictions(data.oracles["state_mean"], years)
    if "emulator_oracle" in models and cfg.pretrain_world == "ensemble":
        # the emulator given each county's true parameters: its own error, without estimation
        preds["emulator_oracle"] = glob.predict(ev, sample_params=True)
    if "no_knowledge" in models:
        preds["no_knowledge"] = harness.train_no_knowledge().predict(ev)
    preds["global"] = glob.predict(ev)
    if "state_specific" in models:
        by_state = harness.train_groups("state", sets.yields.state, sets.sites.state)
        preds["state_specific"] = predict_grouped(by_state, ev, ev.state, glob)
        harness.group_models["state"] = {k: t.model for k, t in by_state.items()}
    regions = _regions(data, cfg)
    if "auto_region" in models:
        label = regions.labels.astype(str)
        by_region = harness.train_groups("region", label.reindex(sets.yields.county).values,
                                         label.reindex(sets.sites.county).values)
        preds["auto_region"] = predict_grouped(by_region, ev, label.reindex(ev.county).values, glob)
        harness.group_models["region"] = {k: t.model for k, t in by_region.items()}
    report(progress, cancel, ProgressEvent("evaluate", 1, 1, 1, 1, {}, "scoring"))
    ds = predictions_dataset(preds, ev, data, regions.labels)
    ds.attrs["oracle_global_choice"] = oracle_choice or ""
    return ds, harness, regions


def _world_predictions(world: xr.Dataset, years) -> dict[str, np.ndarray]:
    """A simulated world's fluxes and yields as sample-major predictions (the process-model rungs)."""
    s = make_samples(world, years)
    return {**{k: s.daily[k] for k in FLUXES}, "YIELD": s.yield_}


def best_single_parameter_set(data: ExperimentData, years) -> tuple[str, dict[str, np.ndarray]]:
    """The oracle of one parameter set for the whole domain: the better (Rh RMSE on the
    training counties and years) of the defaults and the domain mean of the true parameters.

    Returns the name of the choice ("default" or "domain_mean") and its predictions.
    """
    train_units = data.split.index[data.split == "train"].to_numpy()
    truth = data.truth["RH"].sel(unit=train_units, time=data.truth["time.year"].isin(data.train_years)).values
    candidates = {"default": data.process, "domain_mean": data.oracles["domain_mean"]}
    rmse = {name: float(np.sqrt(np.nanmean((w["RH"].sel(unit=train_units, time=w["time.year"].isin(
        data.train_years)).values - truth) ** 2))) for name, w in candidates.items()}
    best = min(rmse, key=rmse.get)
    return best, _world_predictions(candidates[best], years)


def _headline(states_metrics: dict) -> dict:
    gains = [1 - m["state_specific"]["RH"]["rmse"] / m["global"]["RH"]["rmse"]
             for m in states_metrics.values() if "state_specific" in m]
    return {"name": "Rh RMSE reduction of state-specific vs global (mean over states)",
            "value": float(np.mean(gains)) if gains else float("nan")}


def heterogeneity_sweep(cfg: StateVsGlobalConfig, values, pretrained: dict | None = None,
                        progress=None, cancel=None) -> dict:
    """Global against state-specific Rh RMSE for each heterogeneity in ``values``.

    Returns ``{"values": [...], "states": {STATE: {"global_rmse": [...],
    "state_specific_rmse": [...], "rmse_reduction": [...], "diff": [...], "lo": [...],
    "hi": [...]}}}`` (reduction = 1 - state/global; diff, lo, hi: RMSE(state) -
    RMSE(global) with its 95 % paired bootstrap interval over counties).
    """
    out: dict = {"values": [float(v) for v in values], "states": {}}
    for h in values:
        data = load_data(cfg, heterogeneity=float(h))
        ds, harness, _ = fit_ladder(cfg, data, progress, cancel, pretrained, models=("global", "state_specific"))
        pretrained = harness.weights["pretrained"]
        metrics = evaluate(ds)
        intervals = bootstrap(ds, cfg.n_boot, cfg.seed, targets=("RH",))
        for state, m in metrics.items():
            row = out["states"].setdefault(state, {"global_rmse": [], "state_specific_rmse": [],
                                                   "rmse_reduction": [], "diff": [], "lo": [], "hi": []})
            g, s = m["global"]["RH"]["rmse"], m["state_specific"]["RH"]["rmse"]
            row["global_rmse"].append(g)
            row["state_specific_rmse"].append(s)
            row["rmse_reduction"].append(1 - s / g)
            ci = intervals[state]["RH"]["state_specific_vs_global"]
            for key in ("diff", "lo", "hi"):
                row[key].append(ci[key])
    return out


# config keys that change how fast a run goes, not what it computes: a resumed run may differ in them
EXECUTION_KEYS = ("threads", "device")


def _comparable(config: dict) -> dict:
    return {k: v for k, v in json.loads(json.dumps(config)).items() if k not in EXECUTION_KEYS}


def _reopen(store: RunStore, run_id: str, cfg: StateVsGlobalConfig) -> tuple[Run, dict[str, dict]]:
    """The interrupted run ``run_id``, marked running again, and the weights of its completed stages."""
    run = store.get(run_id)
    if run.kind != KIND:
        raise ValueError(f"run '{run_id}' is a {run.kind!r} run, not {KIND!r}; cannot resume it")
    if run.status in ("running", "finished"):
        raise ValueError(f"run '{run_id}' is {run.status}; only cancelled, failed or interrupted "
                         f"runs can be resumed")
    saved, wanted = _comparable(run.config), _comparable(cfg.to_dict())
    if saved != wanted:
        diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        raise ValueError(f"run '{run_id}' was made with another configuration (differs in {diff}); "
                         f"resume it with the configuration saved in its config.json")
    completed = {key: run.load_weights(key) for key in run.weight_names() if key in _stage_keys(cfg)
                 or key.startswith(("state_", "region_"))}
    now = time.time()
    # the run store has no public "reopen": set the same fields that RunStore.create sets
    run._update_status(status="running", pid=os.getpid(), host=socket.gethostname(), heartbeat=now,
                       finished=None, seconds=None)
    store._update_index(run.id, status="running", seconds=None)
    run.log(f"resumed by pid {os.getpid()}; completed stages: {', '.join(sorted(completed)) or 'none'}")
    return run, completed


def _stage_keys(cfg: StateVsGlobalConfig) -> set[str]:
    return {"pretrained", "global", "no_knowledge"} | {f"state_{s}" for s in cfg.states}


def run_state_vs_global(config: StateVsGlobalConfig | None = None, store: RunStore | None = None,
                        progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                        name: str | None = None, resume: str | None = None) -> Run:
    """Run the experiment into a new run of ``store`` (or resume one) and return it.

    The run holds config.json (reproducible with its seed), metrics.json (see
    the module docstring: ``states`` -> state -> model -> target -> scores,
    plus ``by_split``, ``bootstrap``, ``regions``, ``heterogeneity_sweep`` when
    ``config.sweep`` is set, ``seconds``), predictions.nc and the weights of
    every model. Each stage's weights (``pretrained``, ``global``,
    ``state_XX``, ``region_N``, ``no_knowledge``) are saved as soon as the
    stage ends, so ``resume`` (the id of a cancelled, failed or interrupted run
    of the same configuration; ``threads`` and ``device`` may differ) trains
    only the missing stages, writing into the same run. On cancellation the
    run is marked ``cancelled`` and returned; on an error it is marked
    ``failed`` and the error is raised.
    """
    cfg = config or StateVsGlobalConfig()
    store = store or RunStore()
    if resume:
        run, completed = _reopen(store, resume, cfg)
    else:
        run, completed = store.create(KIND, cfg.to_dict(), name=name), {}
    torch.set_num_threads(max(1, int(cfg.threads)))
    torch.manual_seed(cfg.seed)
    start = time.time()
    with run.recording():
        run.log(f"loading worlds for {' '.join(cfg.states)} {cfg.years} h={cfg.heterogeneity}")
        data = load_data(cfg)

        def checkpoint(key: str, weights: dict) -> None:
            run.save_weights(key, weights)
            run.log(f"stage {key} done")
        ds, harness, regions = fit_ladder(cfg, data, _beating(run, progress), cancel, models=cfg.models,
                                          checkpoint=checkpoint, completed=completed)
        metrics = {"states": evaluate(ds), "by_split": {w: evaluate(ds, w) for w in
                                                        ("heldout_counties", "heldout_years")},
                   "bootstrap": bootstrap(ds, cfg.n_boot, cfg.seed),
                   "regions": _region_summary(regions),
                   "test_years": data.test_years, "train_years": data.train_years,
                   "n_test_counties": int((data.split == "test").sum()),
                   "device": str(harness.device), "resumed_stages": sorted(harness.skipped)}
        metrics["headline"] = _headline(metrics["states"])
        metrics.update(science_summary(metrics, ds, harness, data, regions))
        if cfg.sweep:
            run.log(f"heterogeneity sweep {cfg.sweep}")
            metrics["heterogeneity_sweep"] = heterogeneity_sweep(
                cfg, cfg.sweep, harness.weights["pretrained"], _beating(run, progress), cancel)
        metrics["seconds"] = time.time() - start
        run.save_predictions(ds)
        for key, weights in harness.weights.items():
            run.save_weights(key, weights)
        run.save_json("normalizer", harness.norm.to_dict())
        run.save_metrics(metrics)
        run.log(f"finished in {metrics['seconds']:.1f} s")
    return run


def science_summary(metrics: dict, ds: xr.Dataset, harness: Harness, data: ExperimentData, regions) -> dict:
    """The ceiling (overall and per held-out split), the parameter table and the oracle choice."""
    truth = data.truth
    units = truth["unit"].values.astype(str)
    labels = {"global": pd.Series("all", index=units),
              "state": pd.Series(truth["state"].values.astype(str), index=units),
              "region": regions.labels.astype(str)}
    return {"ceiling": {"RH": ceiling(metrics["states"], "RH"), "NEE": ceiling(metrics["states"], "NEE"),
                        "by_split": {w: ceiling(m, "RH") for w, m in metrics["by_split"].items()},
                        "oracle_global_choice": ds.attrs.get("oracle_global_choice", "")},
            "parameters": parameter_table(harness.group_models, harness.norm, truth, labels)}


def _beating(run: Run, progress: ProgressCallback | None) -> ProgressCallback:
    """A progress callback that also beats the run's heart once per epoch end."""
    def callback(event: ProgressEvent) -> None:
        if event.step == event.n_steps:
            run.heartbeat()
        if progress is not None:
            progress(event)
    return callback


def _region_summary(regions) -> dict:
    sep = regions.separating_features.reset_index()
    return {"method": regions.method, "labels": {str(k): int(v) for k, v in regions.labels.items()},
            "names": {str(k): v for k, v in regions.region_names.items()},
            "silhouette": {str(k): v for k, v in regions.scores.items()},
            "separating_features": sep.replace({np.nan: None}).to_dict(orient="records")}


# --------------------------------------------------------------------------- CLI
def metrics_table(metrics: dict, targets=TARGETS) -> pd.DataFrame:
    """Long table (state, model, target, r2, rmse, ...) of a metrics dict's ``states`` block."""
    rows = [{"state": s, "model": m, "target": k, **v}
            for s, models in metrics["states"].items() for m, ts in models.items()
            for k, v in ts.items() if k in targets]
    return pd.DataFrame(rows)


def _cli_progress() -> ProgressCallback:
    def show(event: ProgressEvent) -> None:
        if event.step == event.n_steps or event.n_steps == 0:
            loss = " ".join(f"{k}={v:.3f}" for k, v in event.losses.items())
            print(f"\r{event.stage:<22} epoch {event.epoch}/{event.n_epochs} {loss}"[:110].ljust(110),
                  end="\n" if event.epoch == event.n_epochs else "", file=sys.stderr, flush=True)
    return show


def _main(args) -> int:
    overrides = {"states": tuple(args.states), "seed": args.seed, "threads": args.threads,
                 "region_method": args.region_method, "device": args.device}
    for key in ("heterogeneity", "n_regions"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.sweep:
        overrides["sweep"] = tuple(args.sweep)
    store = RunStore(Path(args.store)) if args.store else RunStore()
    if args.resume:
        # the interrupted run's own configuration; only how it runs may change
        cfg = replace(StateVsGlobalConfig.from_dict(store.get(args.resume).config),
                      threads=args.threads, device=args.device)
    else:
        cfg = preset(args.preset, **overrides)
    run = run_state_vs_global(cfg, store, progress=None if args.quiet else _cli_progress(),
                              resume=args.resume)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from kgml_core.runs import write_json_atomic
    metrics = run.metrics()
    write_json_atomic(out / "metrics.json", metrics)
    run.predictions().to_netcdf(out / "predictions.nc")
    table = metrics_table(metrics)
    with pd.option_context("display.width", 140, "display.max_rows", 200):
        print(table.pivot_table(index=["state", "model"], columns="target", values="rmse").round(3))
        print(table.pivot_table(index=["state", "model"], columns="target", values="r2").round(3))
    print(f"{metrics['headline']['name']}: {metrics['headline']['value']:.3f}; "
          f"{metrics['seconds']:.1f} s; run {run.id}; wrote {out / 'metrics.json'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("state-vs-global", help="SDSA-KGML: state-specific against global KGML-ag")
    p.add_argument("--states", nargs="+", default=["IL", "IA", "IN"], help="postal codes")
    p.add_argument("--preset", choices=("tiny", "quick", "full"), default="quick")
    p.add_argument("--out", required=True, help="directory for metrics.json and predictions.nc")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heterogeneity", type=float, default=None, help="simulator heterogeneity (default 1)")
    p.add_argument("--sweep", type=float, nargs="+", default=None,
                   help="also run global vs state-specific for these heterogeneity values")
    p.add_argument("--region-method", choices=("kmeans", "contiguous", "states"), default="kmeans")
    p.add_argument("--n-regions", type=int, default=None, help="fixed number of auto regions")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared CPU)")
    p.add_argument("--resume", default=None, metavar="RUN_ID",
                   help="finish an interrupted run (its saved configuration; completed stages are reused)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--store", default=None, help="run store directory (default: settings.runs_dir())")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_main)
