"""Configuration and presets of the TAM-RL experiment."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kgml_core.config import ExperimentConfig
from kgml_core.distributed import check_scheduler
from kgml_core.tamrl.sites import DEFAULT_DRIVERS, DEFAULT_STATICS
from kgml_core.tamrl.training import TrainConfig

MODEL_NAMES = ("tamrl", "tamrl_encoder_only", "tamrl_zero_shot", "gbm", "lstm", "ct_lstm")
STRATA = ("igbp+climate", "igbp", "climate")
REAL_DRIVERS = ("TA", "SW_IN", "VPD", "P", "WS")  # in every FLUXNET SUBSET daily file


@dataclass
class TamrlConfig(ExperimentConfig):
    """Configuration of a TAM-RL experiment (saved with every run).

    Attributes
    ----------
    n_sites, years, network_seed, network_heterogeneity, network_drivers : the virtual tower network
        (:class:`~kgml_core.simulator.TowerConfig`: ``heterogeneity`` and ``drivers``; 0 and "model"
        give the former network without hidden differences and with exact states as inputs).
    site_ids : training sites picked by the user (virtual ids such as "VT-0001"); empty: k folds over all sites.
    test_site_ids : held-out sites when ``site_ids`` is given (default: every other site).
    stratify : "igbp+climate", "igbp" or "climate": the classes the site folds are stratified by
        ("igbp+climate": vegetation type and main Koeppen group together).
    k_folds : number of folds over sites; ``folds`` lists the folds run (empty: all).
    seeds : training seeds; scores are averaged over them and the upscaled map is their ensemble.
    val_fraction : share of the training sites held out for early stopping.
    drivers, statics : daily and static inputs.
    memory_days : trailing-mean lengths (days) of the drivers added as inputs to every model.
    qc_test : a test day counts only when the flux's QC is at least this (fraction of good data).
    support_days : few-shot TAM-RL reads this many days of each test site's first year of
        record (365: the whole year; fewer: centred on 15 July); every model is scored
        only after that first year.
    support_curve : support lengths (days) of the few-shot skill curve (0 = zero-shot).
    train : training hyper-parameters; gbm_iter : most boosting rounds of the baseline (early-stopped
        on the validation sites); gbm_trials : configurations its random search tries on them.
    states, upscale_years, counties : the counties to upscale to (counties: optional FIPS subset).
    real_sites : run the real FLUXNET part when the files are present.
    real_target, real_train_end, real_test_start : the temporal hold-out on a real tower.
    real_virtual_sites : virtual sites added to the real-site training set (tasks for the encoder).
    real_n_seeds : how many of ``seeds`` the real-site part trains (it costs as much as a fold).
    real_short_support : few-shot support (days from the record start) of a real site with
        less than two years of record (the others read their first year).
    real_adapt_head : few-shot at the real towers also fits a per-site gain and offset of each flux
        on the support (``TrainConfig.adapt_head``); the embedding-only few-shot is reported beside it
        as ``tamrl_z_only``.
    threads : torch CPU threads.
    scheduler : where the (fold, seed) pairs train: "auto", "sequential", "local" or a
        Dask scheduler address (:class:`kgml_core.distributed.ExperimentCluster`).
    """

    preset: str = "quick"
    n_sites: int = 80
    years: tuple[int, int] = (2010, 2012)
    network_seed: int = 0
    network_heterogeneity: float = 1.0
    network_drivers: str = "observed"
    site_ids: tuple[str, ...] = ()
    test_site_ids: tuple[str, ...] = ()
    stratify: str = "igbp+climate"
    k_folds: int = 5
    folds: tuple[int, ...] = (0,)
    seeds: tuple[int, ...] = (0,)
    val_fraction: float = 0.2
    drivers: tuple[str, ...] = DEFAULT_DRIVERS
    statics: tuple[str, ...] = DEFAULT_STATICS
    memory_days: tuple[int, ...] = (30, 90)
    qc_test: float = 0.8
    support_days: int = 365
    support_curve: tuple[int, ...] = (0, 7, 30, 90, 365)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        hidden=96, dropout=0.0, lr=2e-3, pretrain_epochs=30, epochs=20, batch_size=64, patience=8))
    gbm_iter: int = 1000
    gbm_trials: int = 6
    states: tuple[str, ...] = ("IA",)
    upscale_years: tuple[int, int] = (2012, 2012)
    counties: tuple[str, ...] = ()
    real_sites: bool = True
    real_target: str = "US-Ne1"
    real_train_end: str = "2009-12-31"
    real_test_start: str = "2010-01-01"
    real_virtual_sites: int = 12
    real_n_seeds: int = 1
    real_short_support: int = 90
    real_adapt_head: bool = True
    threads: int = 2
    scheduler: str = "auto"

    LABEL: ClassVar[str] = "tamrl config"
    EXECUTION_KEYS: ClassVar[tuple[str, ...]] = ("threads", "scheduler")

    def check(self) -> None:
        """A known stratification and at least one seed."""
        if self.stratify not in STRATA:
            raise ValueError(f"stratify must be one of {list(STRATA)}, got {self.stratify!r}")
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        self.scheduler = check_scheduler(self.scheduler)


TamrlConfig.PRESETS = {  # overrides of the defaults (the quick preset)
    "tiny": dict(n_sites=10, years=(2011, 2012), k_folds=3, folds=(0,), seeds=(0,),
                 train=TrainConfig(pretrain_epochs=1, epochs=1, hidden=16, z_dim=8, batch_size=128),
                 gbm_iter=20, gbm_trials=1, counties=("19001", "19003"), real_virtual_sites=2, states=("IA",), threads=1),
    "quick": {},
    "full": dict(n_sites=160, years=(2005, 2016), k_folds=5, folds=(), seeds=(0, 1, 2),
                 train=TrainConfig(hidden=128, dropout=0.0, lr=2e-3, pretrain_epochs=40, epochs=30,
                                   batch_size=64, patience=8),
                 gbm_iter=2000, gbm_trials=10, real_virtual_sites=40, real_n_seeds=3, states=("IL", "IA", "IN"), upscale_years=(2012, 2016)),
}



def preset(name: str, **overrides) -> TamrlConfig:
    """The named preset ("tiny", "quick", "full") with ``overrides`` applied."""
    return TamrlConfig.from_preset(name, **overrides)
