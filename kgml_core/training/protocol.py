"""The 5-step KGML-ag protocol, and the per-region fine-tuning of SDSA-KGML.

=====  ==========================================  ===================  ======================
step   data                                        trains               loss
=====  ==========================================  ===================  ======================
1      process-model world                         shared, yield, Ra    yield + Ra (self-paced)
2      process-model world                         shared, Ra, Rh, NEE  Ra + Rh + NEE + balance
3      county yields (observed world)              yield head           yield
4      process-model world                         Ra, Rh, NEE          Ra + Rh + NEE + balance
5      flux-tower sites (observed world)           Rh, NEE              Reco split + NEE + balance
=====  ==========================================  ===================  ======================

Each step freezes what it does not train. A region's model (SDSA-KGML) starts
from the global model and repeats steps 3 and 5 on the region's own county
yields and flux sites (step 5 training ``region_groups``), with an L2-SP
pull toward the global weights.

With a parameter-conditioned emulator (``KGMLAg`` with ``n_params``) and
``"params"`` among the trained groups, step 5 is a calibration: the
parameter vector ``theta`` is estimated from the county yields and the flux
sites together (the yields inform light-use efficiency and drainage, the
towers the respiration parameters), the networks frozen; the global model
estimates one ``theta`` for the domain, a region's model one for the region.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from kgml_core.training.data import Samples
from kgml_core.training.pull import choose_pull
from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig, StepLog

STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "step1": (("shared", "yield", "ra"), "process_yield_ra"),
    "step2": (("shared", "ra", "rh", "nee"), "process_fluxes"),
    "step3": (("yield",), "county_yield"),
    "step4": (("ra", "rh", "nee"), "process_fluxes"),
    # observed Reco cannot separate Ra from Rh inside the season: Ra keeps its process-world training
    "step5": (("rh", "nee"), "site_fluxes"),
}


@dataclass
class ProtocolConfig:
    """Hyper-parameters of the five steps and of the regional fine-tuning."""

    step1: StepConfig = field(default_factory=lambda: StepConfig(epochs=4, self_paced=True, balance=0.0))
    step2: StepConfig = field(default_factory=lambda: StepConfig(epochs=4))
    step3: StepConfig = field(default_factory=lambda: StepConfig(epochs=6, lr=2e-3))
    step4: StepConfig = field(default_factory=lambda: StepConfig(epochs=2, lr=5e-4))
    step5: StepConfig = field(default_factory=lambda: StepConfig(epochs=10, batch_size=16, lr=1e-3))
    region3: StepConfig = field(default_factory=lambda: StepConfig(epochs=6, lr=2e-3, l2sp=1e-3))
    region5: StepConfig = field(default_factory=lambda: StepConfig(epochs=15, batch_size=8, lr=1e-3,
                                                                    l2sp=1e-3))
    # what a region's step 5 trains (the experiment's presets keep Ra: the
    # simulator's regional parameters act on Rh and, through it, NEE)
    region_groups: tuple[str, ...] = ("ra", "rh", "nee")
    # what the global step 5 trains (("params",): estimate one parameter vector, networks frozen)
    step5_groups: tuple[str, ...] = STEPS["step5"][0]
    # a parameter estimate also fits the county yields (they inform light-use efficiency and drainage)
    estimate_with_yields: bool = True

    def __post_init__(self) -> None:
        self.region_groups = tuple(self.region_groups)
        self.step5_groups = tuple(self.step5_groups)
        for name in ("step1", "step2", "step3", "step4", "step5", "region3", "region5"):
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, StepConfig(**value))


def run_step(trainer: KGMLTrainer, step: str, samples: Samples, cfg: StepConfig, prefix: str,
             anchor: dict[str, torch.Tensor] | None = None) -> StepLog:
    """Run one of :data:`STEPS` on ``samples``."""
    groups, kind = STEPS[step]
    return trainer.train_step(f"{prefix}/{step}", [Source(samples, kind)], groups, cfg, anchor)


def pretrain(trainer: KGMLTrainer, process: Samples, cfg: ProtocolConfig,
             prefix: str = "global") -> list[StepLog]:
    """Steps 1 and 2 on the process-model world."""
    return [run_step(trainer, "step1", process, cfg.step1, prefix),
            run_step(trainer, "step2", process, cfg.step2, prefix)]


def finetune(trainer: KGMLTrainer, process: Samples, yields: Samples, sites: Samples,
             cfg: ProtocolConfig, prefix: str = "global") -> list[StepLog]:
    """Steps 3, 4 and 5: county yields, process-world fluxes with the yield part frozen, flux sites."""
    return [run_step(trainer, "step3", yields, cfg.step3, prefix),
            run_step(trainer, "step4", process, cfg.step4, prefix),
            observation_step(trainer, yields if cfg.estimate_with_yields else None, sites, cfg.step5_groups,
                             cfg.step5, f"{prefix}/step5")]


def observation_step(trainer: KGMLTrainer, yields: Samples | None, sites: Samples, groups, cfg: StepConfig,
                     name: str, anchor: dict[str, torch.Tensor] | None = None) -> StepLog:
    """Step 5: the flux sites train ``groups``; a parameter estimate (``"params"``) also uses the yields (if given).

    A parameter estimate toward ``anchor`` with ``cfg.l2sp_grid`` chooses its
    pull by validation on the sites, each left out (and with ``cfg.l2sp_grid_folds="sites+years"``
    each training year) (:mod:`kgml_core.training.pull`; the choice in the log's ``info["pull"]``),
    then estimates ``theta`` on all its data with that pull.
    """
    sources = [Source(sites, STEPS["step5"][1])]
    if "params" in groups and yields is not None:
        sources.append(Source(yields, "county_yield"))
    choice = choose_pull(trainer, sites, cfg, anchor) if tuple(groups) == ("params",) and anchor is not None \
        else None
    if choice is None:
        return trainer.train_step(name, sources, groups, cfg, anchor)
    log = trainer.train_step(name, sources, groups, replace(cfg, l2sp=choice.chosen), anchor) \
        if math.isfinite(choice.chosen) else StepLog(name)          # an infinite pull keeps the anchor's theta
    log.info["pull"] = choice.to_dict()
    return log


def finetune_region(trainer: KGMLTrainer, yields: Samples, sites: Samples, cfg: ProtocolConfig,
                    anchor: dict[str, torch.Tensor], prefix: str) -> list[StepLog]:
    """SDSA-KGML: steps 3 and 5 on one region's data, pulled toward ``anchor`` (the global weights).

    When the region estimates parameters only (``region_groups == ("params",)``)
    the yield head is not refitted: the region's yields inform its parameters.
    """
    logs = [] if tuple(cfg.region_groups) == ("params",) else \
        [run_step(trainer, "step3", yields, cfg.region3, prefix, anchor)]
    return logs + [observation_step(trainer, yields if cfg.estimate_with_yields else None, sites,
                                    cfg.region_groups, cfg.region5, f"{prefix}/step5", anchor)]


def finetune_work(yields: Samples, sites: Samples, cfg: ProtocolConfig) -> float:
    """Work of :func:`finetune_region` on one region's data, in sample-epochs (one 365-day sample through
    the model once, forward and backward): step 3, step 5 and, for a parameter estimate with a grid of
    pulls, its validation fits (leave-one-site-out: ``n_pulls x n_sites`` fits on the other sites' samples;
    with ``l2sp_grid_folds="sites+years"`` also ``n_pulls x n_years`` fits on the other years' samples).
    What schedules the regions over processes, largest first; it decides no result."""
    params_only = tuple(cfg.region_groups) == ("params",)
    work = 0.0 if params_only else cfg.region3.epochs * len(yields)
    with_yields = "params" in cfg.region_groups and cfg.estimate_with_yields
    work += cfg.region5.epochs * (len(sites) + (len(yields) if with_yields else 0))
    towers = len(np.unique(sites.unit.astype(str))) if len(sites) else 0
    if params_only and cfg.region5.l2sp_grid and towers >= 2:
        grid_epochs = cfg.region5.l2sp_grid_epochs or cfg.region5.epochs
        folds_work = towers - 1                                 # each site's fold fits the others' samples
        years = len(np.unique(sites.year))
        if cfg.region5.l2sp_grid_folds == "sites+years" and years > 1:
            folds_work += years - 1
        work += grid_epochs * len(cfg.region5.l2sp_grid) * len(sites) * folds_work
    return float(work)


def region_groups(yield_groups: np.ndarray, site_groups: np.ndarray) -> list:
    """The groups (states or regions) that have county yields or flux sites, sorted."""
    return sorted(set(np.asarray(yield_groups).tolist()) | set(np.asarray(site_groups).tolist()))


def finetune_group(trainer: KGMLTrainer, group, yields: Samples, sites: Samples, yield_groups: np.ndarray,
                   site_groups: np.ndarray, cfg: ProtocolConfig, anchor: dict[str, torch.Tensor],
                   prefix: str) -> list[StepLog]:
    """:func:`finetune_region` on the yields and sites of ``group`` (``*_groups``: one label per sample)."""
    return finetune_region(trainer, yields.subset(np.asarray(yield_groups) == group),
                           sites.subset(np.asarray(site_groups) == group), cfg, anchor, prefix)


def train_no_knowledge(trainer: KGMLTrainer, yields: Samples, sites: Samples, cfg: StepConfig,
                       prefix: str = "no_knowledge") -> StepLog:
    """Level 1: every weight trained at once on county yields and flux sites, no balance term."""
    plain = StepConfig(**{**cfg.__dict__, "balance": 0.0})
    sources = [Source(yields, "county_yield"), Source(sites, "site_fluxes")]
    return trainer.train_step(prefix, sources, ("shared", "yield", "ra", "rh", "nee"), plain)
