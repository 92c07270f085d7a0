"""Configuration and presets of the TAM-RL experiment."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kgml_core.config import ExperimentConfig
from kgml_core.tasks import DEFAULT_DRIVERS, DEFAULT_STATICS
from kgml_core.training.tamrl import TrainConfig

MODEL_NAMES = ("tamrl", "tamrl_zero_shot", "gbm", "lstm", "ct_lstm")
REAL_DRIVERS = ("TA", "SW_IN", "VPD", "P", "WS")  # in every FLUXNET SUBSET daily file


@dataclass
class TamrlConfig(ExperimentConfig):
    """Configuration of a TAM-RL experiment (saved with every run).

    Attributes
    ----------
    n_sites, years, network_seed : the virtual tower network (:class:`~kgml_core.simulator.TowerConfig`).
    site_ids : training sites picked by the user (virtual ids such as "VT-0001"); empty: k folds over all sites.
    test_site_ids : held-out sites when ``site_ids`` is given (default: every other site).
    stratify : "igbp" or "climate": the class the site folds are stratified by.
    k_folds : number of folds over sites; ``folds`` lists the folds run (empty: all).
    seeds : training seeds; scores are averaged over them and the upscaled map is their ensemble.
    val_fraction : share of the training sites held out for early stopping.
    drivers, statics : daily and static inputs.
    memory_days : trailing-mean lengths (days) of the drivers added as inputs to every model.
    qc_test : a test day counts only when the flux's QC is at least this (fraction of good data).
    support_month : few-shot support window: 30 days from the 1st of this month (first good year).
    train : training hyper-parameters; gbm_iter : boosting rounds of the baseline.
    states, upscale_years, counties : the counties to upscale to (counties: optional FIPS subset).
    real_sites : run the real FLUXNET part when the files are present.
    real_target, real_train_end, real_test_start : the temporal hold-out on a real tower.
    real_virtual_sites : virtual sites added to the real-site training set (tasks for the encoder).
    real_n_seeds : how many of ``seeds`` the real-site part trains (it costs as much as a fold).
    threads : torch CPU threads.
    """

    preset: str = "quick"
    n_sites: int = 40
    years: tuple[int, int] = (2010, 2012)
    network_seed: int = 0
    site_ids: tuple[str, ...] = ()
    test_site_ids: tuple[str, ...] = ()
    stratify: str = "igbp"
    k_folds: int = 5
    folds: tuple[int, ...] = (0,)
    seeds: tuple[int, ...] = (0, 1)
    val_fraction: float = 0.2
    drivers: tuple[str, ...] = DEFAULT_DRIVERS
    statics: tuple[str, ...] = DEFAULT_STATICS
    memory_days: tuple[int, ...] = (30, 90)
    qc_test: float = 0.8
    support_month: int = 7
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        hidden=96, dropout=0.0, lr=2e-3, pretrain_epochs=30, epochs=20, batch_size=64, patience=8))
    gbm_iter: int = 150
    states: tuple[str, ...] = ("IA",)
    upscale_years: tuple[int, int] = (2012, 2012)
    counties: tuple[str, ...] = ()
    real_sites: bool = True
    real_target: str = "US-Ne1"
    real_train_end: str = "2009-12-31"
    real_test_start: str = "2010-01-01"
    real_virtual_sites: int = 12
    real_n_seeds: int = 1
    threads: int = 2

    LABEL: ClassVar[str] = "tamrl config"
    EXECUTION_KEYS: ClassVar[tuple[str, ...]] = ("threads",)

    def check(self) -> None:
        """A known stratification and at least one seed."""
        if self.stratify not in ("igbp", "climate"):
            raise ValueError(f"stratify must be 'igbp' or 'climate', got {self.stratify!r}")
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")


TamrlConfig.PRESETS = {  # overrides of the defaults (the quick preset)
    "tiny": dict(n_sites=10, years=(2011, 2012), k_folds=3, folds=(0,), seeds=(0,),
                 train=TrainConfig(pretrain_epochs=1, epochs=1, hidden=16, z_dim=8, batch_size=128),
                 gbm_iter=20, counties=("19001", "19003"), real_virtual_sites=2, states=("IA",), threads=1),
    "quick": {},
    "full": dict(n_sites=160, years=(2005, 2016), k_folds=5, folds=(), seeds=(0, 1, 2),
                 train=TrainConfig(hidden=128, dropout=0.0, lr=2e-3, pretrain_epochs=40, epochs=30,
                                   batch_size=64, patience=8),
                 gbm_iter=400, real_virtual_sites=40, real_n_seeds=3, states=("IL", "IA", "IN"), upscale_years=(2012, 2016)),
}



def preset(name: str, **overrides) -> TamrlConfig:
    """The named preset ("tiny", "quick", "full") with ``overrides`` applied."""
    return TamrlConfig.from_preset(name, **overrides)
