"""TAM-RL against FLUXCOM-style baselines on held-out flux sites, plus upscaling to counties.

``run_tamrl(config)`` (and ``python -m kgml_core experiment tamrl``):

1. builds the virtual tower network (:func:`kgml_core.simulator.load_tower_network`);
2. holds out whole sites: k folds over sites stratified by IGBP or climate
   class, or the training sites the user picked on the map;
3. per fold and seed trains the gradient-boosting baseline, a plain LSTM, a
   context LSTM (CT-LSTM) and TAM-RL (initialised from the plain LSTM);
4. scores every held-out site on good-QC days only (per-site R2 and RMSE per
   flux; median and quartiles across sites; scores averaged over seeds);
5. on the real FLUXNET files: a temporal hold-out at US-Ne1 (trained on
   2001-2009, tested 2010-2012) and zero-shot predictions at the other sites;
6. upscales daily GPP, RECO and NEE to every county of the selected states
   with the TAM-RL seed ensemble in zero-shot mode (mean and spread).

Everything is saved in a run of the :class:`~kgml_core.runs.RunStore`:
``metrics.json``, ``predictions.nc``, ``real_predictions.nc``, ``upscaled.nc``
and the TAM-RL weights.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from kgml_core import geo, schema, settings
from kgml_core.config import check_known_keys
from kgml_core.baselines import GBMFluxRegressor, tune_gbm
from kgml_core.metrics import scores
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.runs import Run, RunStore
from kgml_core.metrics import paired_bootstrap_median_ratio
from kgml_core.tasks import (DEFAULT_DRIVERS, DEFAULT_STATICS, TARGETS, ClassVocab, Scaler, SiteArrays,
                             class_weights, complete_static_features, first_observed_day, site_arrays,
                             site_folds, support_mask, tabular_features)
from kgml_core.training.tamrl import (TrainConfig, predict_series, train_ct_lstm, train_lstm, train_tamrl,
                                      window_data)
from kgml_core.upscale import Member, upscale

MODEL_NAMES = ("tamrl", "tamrl_encoder_only", "tamrl_zero_shot", "gbm", "lstm", "ct_lstm")
STRATA = ("igbp+climate", "igbp", "climate")
REAL_DRIVERS = ("TA", "SW_IN", "VPD", "P", "WS")  # in every FLUXNET SUBSET daily file


@dataclass
class TamrlConfig:
    """Configuration of a TAM-RL experiment (saved with every run).

    Attributes
    ----------
    n_sites, years, network_seed : the virtual tower network (:class:`~kgml_core.simulator.TowerConfig`).
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
    threads : torch CPU threads.
    """

    preset: str = "quick"
    n_sites: int = 80
    years: tuple[int, int] = (2010, 2012)
    network_seed: int = 0
    site_ids: tuple[str, ...] = ()
    test_site_ids: tuple[str, ...] = ()
    stratify: str = "igbp+climate"
    k_folds: int = 5
    folds: tuple[int, ...] = (0,)
    seeds: tuple[int, ...] = (0, 1)
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
    threads: int = 2

    def __post_init__(self) -> None:
        if self.stratify not in STRATA:
            raise ValueError(f"stratify must be one of {list(STRATA)}, got {self.stratify!r}")
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        self.states = tuple(geo.resolve_states(self.states))  # unknown codes fail before any run exists
        if isinstance(self.train, dict):
            self.train = TrainConfig(**self.train)
        for name in ("years", "upscale_years", "site_ids", "test_site_ids", "folds", "seeds",
                     "drivers", "statics", "states", "counties", "memory_days", "support_curve"):
            setattr(self, name, tuple(getattr(self, name)))

    @classmethod
    def from_dict(cls, data: dict) -> "TamrlConfig":
        """Build from a dict (e.g. a saved ``config.json``); unknown keys are an error."""
        check_known_keys(cls, data, "TamrlConfig")
        return cls(**data)


PRESETS: dict[str, dict] = {
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
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}'; choose one of {sorted(PRESETS)}")
    return TamrlConfig(preset=name, **{**PRESETS[name], **overrides})


# ---------------------------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------------------------

def site_splits(units: np.ndarray, labels: np.ndarray, cfg: TamrlConfig) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``[(fold, train_idx, test_idx)]``: the user's split, or stratified k folds over sites."""
    units = np.asarray(units, dtype=str)
    if cfg.site_ids:
        train = _positions_of(units, cfg.site_ids, "site_ids")
        test = (_positions_of(units, cfg.test_site_ids, "test_site_ids") if cfg.test_site_ids
                else np.setdiff1d(np.arange(len(units)), train))
        if len(set(train) & set(test)):
            raise ValueError(f"sites {sorted(units[list(set(train) & set(test))])} are both training and test sites")
        if len(train) < 3 or len(test) < 1:
            raise ValueError(f"need at least 3 training sites and 1 test site, got {len(train)} and {len(test)}")
        return [(0, np.sort(train), np.sort(test))]
    fold_of = site_folds(labels, cfg.k_folds, seed=cfg.network_seed)
    chosen = cfg.folds or tuple(range(cfg.k_folds))
    bad = [f for f in chosen if not 0 <= f < cfg.k_folds]
    if bad:
        raise ValueError(f"folds {bad} outside 0..{cfg.k_folds - 1}")
    return [(f, np.nonzero(fold_of != f)[0], np.nonzero(fold_of == f)[0]) for f in chosen]


def _positions_of(units: np.ndarray, ids: Sequence[str], what: str) -> np.ndarray:
    lookup = {u: i for i, u in enumerate(units)}
    missing = [s for s in ids if s not in lookup]
    if missing:
        raise ValueError(f"{what}: unknown site ids {missing[:10]}; the network has {units[0]}..{units[-1]}")
    return np.array([lookup[s] for s in ids], dtype=int)


def validation_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """(n,) True for the training sites kept aside for early stopping (at least one)."""
    n = len(labels)
    k = max(1, int(round(fraction * n))) if n > 3 else 0
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:k]] = True
    return mask


# ---------------------------------------------------------------------------------------------
# one fold and seed: train everything, predict the test sites
# ---------------------------------------------------------------------------------------------

@dataclass
class FoldResult:
    """Predictions (model -> (n_test, n_time, 3) g C m-2 d-1) and the trained TAM-RL member.

    ``support``: (n_test, n_time) bool, the days TAM-RL few-shot read. Keys of
    ``predictions``: :data:`MODEL_NAMES` plus ``tamrl_support_<days>`` for the
    support-length curve.
    """

    predictions: dict[str, np.ndarray]
    member: Member
    support: np.ndarray
    histories: dict[str, dict]


def train_and_predict(a: SiteArrays, vocab: ClassVocab, train_idx: np.ndarray, test_idx: np.ndarray,
                      cfg: TamrlConfig, seed: int, stage: str, progress=None, cancel=None,
                      test_support: np.ndarray | None = None,
                      curve: dict[int, np.ndarray] | None = None) -> FoldResult:
    """Fit the four models on ``train_idx`` and predict the units ``test_idx`` of ``a`` (raw arrays).

    ``test_support``: (n_test, n_time) support days of few-shot TAM-RL (default:
    :func:`support_mask` with ``cfg.support_days`` from each site's first year);
    ``curve``: support length (days) -> such a mask, each predicted as ``tamrl_support_<days>``.
    """
    tr, te = a.subset(train_idx), a.subset(test_idx)
    scaler = Scaler().fit(tr, n_one_hot=len(vocab.names))
    trs, tes = scaler.transform(tr), scaler.transform(te)
    val = validation_mask(tr.igbp, cfg.val_fraction, seed)
    data = window_data(trs, scaler, class_weights(tr.igbp, tr.climate), val, cfg.train)
    support = test_support if test_support is not None else support_mask(te.qc, te.time, cfg.support_days)
    wrap = _staged(progress, stage)
    preds = {"gbm": fit_predict_gbm(tr, te, cfg, seed, val)}
    report(wrap, cancel, ProgressEvent("gbm", 1, 1, 1, 1, message="gradient boosting fitted"))
    torch.manual_seed(seed)
    lstm = train_lstm(data, trs.x.shape[-1], cfg.train, seed, wrap, cancel)
    preds["lstm"] = predict_series(lstm, tes, scaler, cfg.train)
    ct = train_ct_lstm(data, trs.x.shape[-1], trs.s.shape[-1], cfg.train, seed, wrap, cancel)
    preds["ct_lstm"] = predict_series(ct, tes, scaler, cfg.train)
    tam = train_tamrl(data, lstm, trs.s.shape[-1], cfg.train, seed, wrap, cancel)
    preds["tamrl"] = predict_series(tam, tes, scaler, cfg.train, support)
    preds["tamrl_encoder_only"] = predict_series(tam, tes, scaler, cfg.train, support, adapt=False)
    preds["tamrl_zero_shot"] = predict_series(tam, tes, scaler, cfg.train, None)
    for days, mask in (curve or {}).items():
        preds[f"tamrl_support_{days}"] = (preds["tamrl_zero_shot"] if not mask.any()
                                          else predict_series(tam, tes, scaler, cfg.train, mask))
    return FoldResult(preds, Member(tam, scaler, vocab), support, {})


def _staged(progress: ProgressCallback | None, prefix: str) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda e: progress(replace(e, stage=f"{prefix}/{e.stage}"))


def fit_predict_gbm(tr: SiteArrays, te: SiteArrays, cfg: TamrlConfig, seed: int,
                    val: np.ndarray | None = None) -> np.ndarray:
    """LightGBM on per-day drivers and site features; predictions (n_test, n_time, 3).

    Tuned like the networks are early-stopped: ``cfg.gbm_trials`` configurations,
    each early-stopped on the validation sites ``val`` (the networks' ones),
    the best by validation loss kept; trained on the other training sites.
    """
    ftr, _ = tabular_features(tr)
    fte, _ = tabular_features(te)
    w = np.where(tr.qc >= cfg.train.qc_min, tr.qc, 0.0) * class_weights(tr.igbp, tr.climate)[:, None, None]
    val = np.zeros(tr.n_unit, bool) if val is None else val
    rows = lambda m: (ftr[m].reshape(-1, ftr.shape[-1]), tr.y[m].reshape(-1, 3), w[m].reshape(-1, 3))  # noqa: E731
    threads = max(1, int(cfg.threads))
    if val.any():
        gbm, _ = tune_gbm(*rows(~val), rows(val), n_trials=cfg.gbm_trials, max_iter=cfg.gbm_iter, seed=seed,
                          n_threads=threads, scale=np.nanstd(tr.y.reshape(-1, 3), axis=0))
    else:
        gbm = GBMFluxRegressor(max_iter=cfg.gbm_iter, random_state=seed, n_threads=threads).fit(*rows(~val))
    return gbm.predict(fte.reshape(-1, fte.shape[-1])).reshape(te.y.shape)


# ---------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------

def score_mask(qc: np.ndarray, support_start: np.ndarray | None, qc_min: float, window: int,
               time_mask: np.ndarray | None = None) -> np.ndarray:
    """(n_unit, n_time, 3) True on the days scored: good QC, outside the support window, in ``time_mask``."""
    mask = qc >= qc_min
    if support_start is not None:
        days = np.arange(qc.shape[1])[None, :]
        inside = (days >= support_start[:, None]) & (days < support_start[:, None] + window)
        mask &= ~inside[..., None]
    if time_mask is not None:
        mask &= time_mask[None, :, None]
    return mask


def per_site_scores(y: np.ndarray, pred: np.ndarray, mask: np.ndarray, units: Sequence[str]) -> dict:
    """``{flux: {unit: {"r2", "rmse", "n"}}}`` on the masked days."""
    out = {}
    for j, flux in enumerate(TARGETS):
        obs = np.where(mask[..., j], y[..., j], np.nan)
        out[flux] = {str(u): {k: scores(obs[i], pred[i, :, j])[k] for k in ("r2", "rmse", "n")}
                     for i, u in enumerate(units)}
    return out


def summarise(table: dict) -> dict:
    """Median and quartiles across sites of a per-site table ``{flux: {unit: scores}}``."""
    out = {}
    for flux, rows in table.items():
        r2 = np.array([r["r2"] for r in rows.values() if r["n"] > 1], dtype=float)
        rmse = np.array([r["rmse"] for r in rows.values() if r["n"] > 1], dtype=float)
        q = lambda v, p: float(np.nanpercentile(v, p)) if np.isfinite(v).any() else float("nan")  # noqa: E731
        out[flux] = {"median_r2": q(r2, 50), "q25_r2": q(r2, 25), "q75_r2": q(r2, 75),
                     "median_rmse": q(rmse, 50), "q25_rmse": q(rmse, 25), "q75_rmse": q(rmse, 75),
                     "n_sites": int(np.isfinite(rmse).sum())}
    return out


def _mean_tables(tables: list[dict]) -> dict:
    """Average per-site scores over seeds (same sites and fluxes in every table)."""
    first = tables[0]
    return {flux: {u: {k: float(np.nanmean([t[flux][u][k] for t in tables])) if k != "n"
                       else int(first[flux][u]["n"]) for k in ("r2", "rmse", "n")}
                   for u in rows} for flux, rows in first.items()}


# ---------------------------------------------------------------------------------------------
# the virtual-network experiment
# ---------------------------------------------------------------------------------------------

def tower_network(cfg: TamrlConfig) -> xr.Dataset:
    """The virtual tower network of ``cfg`` (cached by the simulator)."""
    from kgml_core.simulator import TowerConfig, load_tower_network

    return load_tower_network(TowerConfig(n_sites=cfg.n_sites, years=tuple(cfg.years), seed=cfg.network_seed))


def strata_labels(a: SiteArrays, stratify: str) -> np.ndarray:
    """Per-site class the folds are stratified by: IGBP, climate, or IGBP with the main Koeppen group."""
    if stratify == "igbp":
        return a.igbp
    if stratify == "climate":
        return a.climate
    return np.array([f"{v}/{str(c)[:1]}" for v, c in zip(a.igbp, a.climate)], dtype=object)


def truth_arrays(ds: xr.Dataset) -> np.ndarray | None:
    """(unit, time, 3) noise-free GPP, RECO, NEE of a simulated network (``*_TRUE``), None when absent."""
    names = tuple(f"{t}_TRUE" for t in TARGETS)
    if not all(n in ds.data_vars for n in names):
        return None
    return np.stack([ds[n].transpose("unit", "time").values.astype(np.float32) for n in names], axis=-1)


def scored_days(qc: np.ndarray, start: np.ndarray, qc_min: float | None) -> np.ndarray:
    """(n_unit, n_time, 3) True on the days scored: from ``start`` (per unit) on, with QC >= ``qc_min``
    (None: every day, for the noise-free truth)."""
    after = np.arange(qc.shape[1])[None, :] >= np.asarray(start)[:, None]
    ok = np.ones(qc.shape, bool) if qc_min is None else qc >= qc_min
    return ok & after[..., None]


AGAINST = ("obs", "truth")
PAIRS = (("tamrl", "gbm"), ("tamrl", "lstm"), ("tamrl", "ct_lstm"), ("tamrl", "tamrl_zero_shot"),
         ("tamrl_encoder_only", "tamrl_zero_shot"), ("tamrl_zero_shot", "gbm"))


def virtual_experiment(ds: xr.Dataset, cfg: TamrlConfig, progress=None, cancel=None):
    """Held-out-site evaluation on a site dataset; returns (metrics part, predictions, members).

    Every model is scored on the same days of each held-out site: after its
    first year of record (the few-shot support comes from that year), against
    the observations (QC >= ``cfg.qc_test``) and, on a simulated network, against
    the simulator's noise-free truth (every day).
    """
    a, vocab = site_arrays(ds, cfg.drivers, cfg.statics, memory=cfg.memory_days)
    truth = truth_arrays(ds)
    splits = site_splits(a.units, strata_labels(a, cfg.stratify), cfg)
    curve_names = tuple(f"tamrl_support_{d}" for d in cfg.support_curve)
    names = MODEL_NAMES + curve_names
    against = AGAINST if truth is not None else ("obs",)
    fold_of = np.full(a.n_unit, -1, dtype=int)
    preds = {m: np.full(a.y.shape, np.nan, np.float32) for m in MODEL_NAMES}
    tables: dict[str, dict[str, list[dict]]] = {g: {m: [] for m in names} for g in against}
    by_seed: dict[str, dict[str, list[float]]] = {m: {f: [] for f in TARGETS} for m in MODEL_NAMES}
    members: list[Member] = []
    for fold, train_idx, test_idx in splits:
        fold_of[test_idx] = fold
        te = a.subset(test_idx)
        start = first_observed_day(te.qc) + 365
        curve = {d: support_mask(te.qc, te.time, d) for d in cfg.support_curve}
        masks = {"obs": scored_days(te.qc, start, cfg.qc_test), "truth": scored_days(te.qc, start, None)}
        target = {"obs": te.y, "truth": truth[test_idx] if truth is not None else None}
        seed_tables: dict[str, dict[str, list[dict]]] = {g: {m: [] for m in names} for g in against}
        seed_preds = {m: [] for m in MODEL_NAMES}
        for seed in cfg.seeds:
            res = train_and_predict(a, vocab, train_idx, test_idx, cfg, seed, f"fold{fold}/seed{seed}",
                                    progress, cancel, curve=curve)
            if fold == splits[0][0]:
                members.append(res.member)
            for g in against:
                for m in names:
                    seed_tables[g][m].append(per_site_scores(target[g], res.predictions[m], masks[g], te.units))
            for m in MODEL_NAMES:
                seed_preds[m].append(res.predictions[m])
                for flux, sm in summarise(seed_tables["obs"][m][-1]).items():
                    by_seed[m][flux].append(sm["median_rmse"])
        for g in against:
            for m in names:
                tables[g][m].append(_mean_tables(seed_tables[g][m]))
        for m in MODEL_NAMES:
            preds[m][test_idx] = np.mean(seed_preds[m], axis=0)
    per_site = {g: {m: {flux: {u: r for t in tables[g][m] for u, r in t[flux].items()} for flux in TARGETS}
                    for m in names} for g in against}
    tested = np.nonzero(fold_of >= 0)[0]
    igbp = {str(u): str(v) for u, v in zip(a.units, a.igbp)}
    part = {
        "split": _split_name(cfg, splits),
        "n_test_sites": int(len(tested)),
        "n_train_sites": int(len(splits[0][1])),
        "scoring": (f"every model on the same days: after each held-out site's first year of record; "
                    f"observations with QC >= {cfg.qc_test}" + ("; truth: the simulator's noise-free fluxes, "
                                                                  "every day" if truth is not None else "")),
        "support_days": int(cfg.support_days),
        "models": {m: summarise(per_site["obs"][m]) for m in MODEL_NAMES},
        "median_rmse_by_seed": by_seed,
        "per_site": {m: per_site["obs"][m] for m in MODEL_NAMES},
    }
    if truth is not None:
        part["models_truth"] = {m: summarise(per_site["truth"][m]) for m in MODEL_NAMES}
        part["per_site_truth"] = {m: per_site["truth"][m] for m in MODEL_NAMES}
    part["relative_rmse"] = relative_rmse(part["models"])
    part["paired"] = {g: paired_differences(per_site[g]) for g in against}
    part["per_vegetation"] = {g: per_vegetation(per_site[g], igbp, MODEL_NAMES) for g in against}
    part["support_curve"] = {g: support_curve(per_site[g], cfg.support_curve) for g in against}
    part["few_shot"] = {f: part["models"]["tamrl"][f] for f in TARGETS}
    part["zero_shot"] = {f: part["models"]["tamrl_zero_shot"][f] for f in TARGETS}
    return part, prediction_dataset(ds, a, preds, fold_of, tested), members


def _rmse_vector(table: dict, flux: str, units: Sequence[str]) -> np.ndarray:
    return np.array([table[flux][u]["rmse"] if table[flux][u]["n"] > 1 else np.nan for u in units], float)


def paired_differences(per_site: dict, pairs=PAIRS, seed: int = 0) -> dict:
    """``{"a_vs_b": {flux: paired bootstrap of median per-site RMSE}}`` (negative: a is lower)."""
    out = {}
    for a_name, b_name in pairs:
        if a_name not in per_site or b_name not in per_site:
            continue
        units = sorted(per_site[a_name]["GPP"])
        out[f"{a_name}_vs_{b_name}"] = {
            flux: paired_bootstrap_median_ratio(_rmse_vector(per_site[a_name], flux, units),
                                                _rmse_vector(per_site[b_name], flux, units), seed=seed)
            for flux in TARGETS}
    return out


def per_vegetation(per_site: dict, igbp: dict[str, str], models: Sequence[str]) -> dict:
    """``{IGBP: {"n_sites": k, model: {flux: median per-site RMSE}}}`` over the held-out sites of each type."""
    units = sorted(per_site[models[0]]["GPP"])
    classes = sorted({igbp[u] for u in units})
    out = {}
    for c in classes:
        members = [u for u in units if igbp[u] == c]
        row: dict = {"n_sites": len(members)}
        for m in models:
            row[m] = {flux: float(np.nanmedian(_rmse_vector(per_site[m], flux, members)))
                      if np.isfinite(_rmse_vector(per_site[m], flux, members)).any() else float("nan")
                      for flux in TARGETS}
        out[c] = row
    return out


def support_curve(per_site: dict, lengths: Sequence[int]) -> dict:
    """Few-shot skill against support length: ``{flux: {days: {"median_rmse", "vs_zero_shot"}}}``.

    ``vs_zero_shot`` is the paired bootstrap of the median per-site RMSE with
    that support against no support (the zero-shot embedding).
    """
    out: dict = {}
    for flux in TARGETS:
        zero = per_site.get("tamrl_zero_shot")
        units = sorted(per_site[f"tamrl_support_{lengths[0]}"][flux]) if lengths else []
        rows = {}
        for d in lengths:
            v = _rmse_vector(per_site[f"tamrl_support_{d}"], flux, units)
            rows[str(d)] = {"median_rmse": float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan"),
                            "vs_zero_shot": paired_bootstrap_median_ratio(v, _rmse_vector(zero, flux, units))
                            if zero is not None else None}
        out[flux] = rows
    return out


def _split_name(cfg: TamrlConfig, splits) -> str:
    if cfg.site_ids:
        return f"user-selected sites: {len(splits[0][1])} training, {len(splits[0][2])} held out"
    folds = ",".join(str(f) for f, _, _ in splits)
    return f"{cfg.k_folds}-fold over sites stratified by {cfg.stratify}; folds run: {folds}"


def relative_rmse(models: dict) -> dict:
    """Median RMSE of TAM-RL relative to each baseline: ``rmse_tamrl / rmse_baseline - 1`` per flux."""
    out = {}
    for base in ("gbm", "lstm", "ct_lstm"):
        out[f"tamrl_vs_{base}"] = {f: models["tamrl"][f]["median_rmse"] / models[base][f]["median_rmse"] - 1.0
                                   for f in TARGETS}
        out[f"tamrl_zero_shot_vs_{base}"] = {
            f: models["tamrl_zero_shot"][f]["median_rmse"] / models[base][f]["median_rmse"] - 1.0 for f in TARGETS}
    return out


def prediction_dataset(ds: xr.Dataset, a: SiteArrays, preds: dict[str, np.ndarray], fold_of: np.ndarray,
                       idx: np.ndarray) -> xr.Dataset:
    """Predictions and observations, dims (model, unit, time), for the units ``idx``."""
    models = ("obs",) + tuple(preds)
    out = schema.empty_units(a.units[idx], a.lat[idx], a.lon[idx],
                             ds["state"].values[idx] if "state" in ds.coords else "", "site")
    out = out.assign_coords(model=("model", np.array(models, dtype=object)),
                            time=a.time, IGBP=("unit", a.igbp[idx]), climate=("unit", a.climate[idx]),
                            fold=("unit", fold_of[idx]))
    for j, flux in enumerate(TARGETS):
        stack = np.stack([a.y[idx, :, j]] + [preds[m][idx, :, j] for m in preds])
        out[flux] = (("model", "unit", "time"), stack.astype(np.float32), schema.variable_attrs(flux))
        out[f"{flux}_QC"] = (("unit", "time"), a.qc[idx, :, j], schema.variable_attrs(f"{flux}_QC"))
    return out


# ---------------------------------------------------------------------------------------------
# real FLUXNET sites
# ---------------------------------------------------------------------------------------------

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
    schema.set_variable(ds, "CROP", crop, provenance="site descriptions (kgml_core.experiments.tamrl.KNOWN_CROPS)")
    return ds


def real_experiment(real: xr.Dataset, network: xr.Dataset, cfg: TamrlConfig, progress=None, cancel=None):
    """Temporal hold-out at ``cfg.real_target``; zero- and few-shot at every real site.

    Training set: the target tower before ``real_test_start`` plus
    ``real_virtual_sites`` virtual towers (more tasks for the encoders), on the
    drivers every FLUXNET SUBSET file has. Few-shot TAM-RL at every real site
    reads its first year of record (:func:`real_support`: a site with one year
    only, its first ``real_short_support`` days); each site is scored after its
    support (the target only in its test years). The other real sites are never
    seen in training.
    """
    if cfg.real_target not in set(map(str, real["unit"].values)):
        raise ValueError(f"real_target '{cfg.real_target}' is not among the real sites "
                         f"{sorted(map(str, real['unit'].values))}")
    rcfg = replace(cfg, drivers=REAL_DRIVERS)
    virtual = network.isel(unit=slice(0, min(cfg.real_virtual_sites, network.sizes["unit"])))
    vocab = ClassVocab.from_labels(np.r_[virtual["IGBP"].values, real["IGBP"].values],
                                   np.r_[virtual["climate"].values, real["climate"].values])
    a_v, _ = site_arrays(virtual, REAL_DRIVERS, cfg.statics, vocab=vocab, memory=cfg.memory_days)
    a_r, _ = site_arrays(real, REAL_DRIVERS, cfg.statics, vocab=vocab, memory=cfg.memory_days)
    target = int(np.nonzero(a_r.units == cfg.real_target)[0][0])
    before = a_r.time <= np.datetime64(cfg.real_train_end)
    a_t = a_r.subset([target])
    a_t = replace(a_t, y=np.where(before[None, :, None], a_t.y, np.nan),
                  qc=np.where(before[None, :, None], a_t.qc, 0.0).astype(np.float32))
    joint = _stack_units(_stack_units(a_v, a_t), a_r)
    n_train = a_v.n_unit + 1
    test = joint.subset(np.arange(n_train, joint.n_unit))
    support, score_from = real_support(test.qc, test.time, cfg.real_short_support)
    results = [train_and_predict(joint, vocab, np.arange(n_train), np.arange(n_train, joint.n_unit), rcfg,
                                 seed, f"real/seed{seed}", progress, cancel, test_support=support)
               for seed in cfg.seeds[:max(1, cfg.real_n_seeds)]]
    return _real_metrics(test, results, cfg, target, score_from), _real_dataset(real, test, results)


def real_support(qc: np.ndarray, time: np.ndarray, short_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Support days (n_unit, n_time) and first scored day (n_unit,) of real towers.

    A site with at least two years of record reads its first year (365 days from
    its first observed day); a shorter record its first ``short_days`` days.
    Scoring starts after the support.
    """
    first = first_observed_day(qc)
    last = (qc > 0).any(axis=-1).shape[1] - 1 - np.argmax((qc > 0).any(axis=-1)[:, ::-1], axis=1)
    long = (last - first) >= 2 * 365 - 1
    year = support_mask(qc, time, 365)
    short = support_mask(qc, time, short_days, anchor="start")
    mask = np.where(long[:, None], year, short)
    return mask, first + np.where(long, 365, short_days)


def _stack_units(a: SiteArrays, b: SiteArrays) -> SiteArrays:
    """Units of ``a`` and ``b`` on the union of their daily axes (NaN/0 outside each record)."""
    time = np.union1d(a.time, b.time)

    def on(arr: SiteArrays, v: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((v.shape[0], len(time)) + v.shape[2:], fill, dtype=v.dtype)
        out[:, np.searchsorted(time, arr.time)] = v
        return out
    cat = lambda f, fill: np.concatenate([on(a, getattr(a, f), fill), on(b, getattr(b, f), fill)])  # noqa: E731
    doy = (time.astype("datetime64[D]") - time.astype("datetime64[Y]")).astype(int)
    x = cat("x", np.nan)
    x[..., -2] = np.sin(2 * np.pi * doy / 365.25)
    x[..., -1] = np.cos(2 * np.pi * doy / 365.25)
    return replace(a, units=np.concatenate([a.units, b.units]), time=time, x=x,
                   s=np.concatenate([a.s, b.s]), y=cat("y", np.nan), qc=cat("qc", 0.0),
                   igbp=np.concatenate([a.igbp, b.igbp]), climate=np.concatenate([a.climate, b.climate]),
                   lat=np.concatenate([a.lat, b.lat]), lon=np.concatenate([a.lon, b.lon]))


def _real_metrics(a: SiteArrays, results, cfg: TamrlConfig, target: int, score_from: np.ndarray) -> dict:
    """Scores at the target tower in its test years and, per real site, after its support."""
    test_time = a.time >= np.datetime64(cfg.real_test_start)
    out = {"target": cfg.real_target, "train_period": f"record start to {cfg.real_train_end}",
           "test_period": f"{cfg.real_test_start} to record end", "drivers": list(REAL_DRIVERS),
           "support": {str(u): {"first_day": str(a.time[int(np.argmax(r.support[i]))])[:10],
                                "days": int(r.support[i].sum()), "scored_from": str(a.time[min(int(s), len(a.time) - 1)])[:10]}
                       for r in results[:1] for i, (u, s) in enumerate(zip(a.units, score_from))},
           "temporal_holdout": {}, "sites": {}, "zero_shot_sites": {}}
    mask_t = score_mask(a.qc[[target]], None, cfg.qc_test, cfg.train.window, test_time)[0]
    mask = scored_days(a.qc, score_from, cfg.qc_test)
    mask[target] &= mask_t
    for m in MODEL_NAMES:
        pred = np.mean([r.predictions[m] for r in results], axis=0)
        out["temporal_holdout"][m] = {
            flux: {k: scores(np.where(mask_t[:, j], a.y[target, :, j], np.nan), pred[target, :, j])[k]
                   for k in ("r2", "rmse", "n")} for j, flux in enumerate(TARGETS)}
        out["sites"][m] = per_site_scores(a.y, pred, mask, a.units)
        out["zero_shot_sites"][m] = {f: {u: r for u, r in rows.items() if u != cfg.real_target}
                                     for f, rows in out["sites"][m].items()}
    return out


def _real_dataset(real: xr.Dataset, a: SiteArrays, results) -> xr.Dataset:
    """Observed and predicted fluxes at the real sites (seed means), dims (model, unit, time)."""
    preds = {m: np.mean([r.predictions[m] for r in results], axis=0) for m in MODEL_NAMES}
    return prediction_dataset(real, a, preds, np.full(a.n_unit, -1), np.arange(a.n_unit))


# ---------------------------------------------------------------------------------------------
# the whole experiment
# ---------------------------------------------------------------------------------------------

def run_tamrl(config: TamrlConfig | None = None, store: RunStore | None = None,
              progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
              name: str | None = None) -> Run:
    """Run the TAM-RL experiment and save everything in a new run of ``store``.

    Returns the finished :class:`~kgml_core.runs.Run`: ``run.metrics()`` (see the
    module docstring), ``run.predictions()`` (virtual held-out sites, dims
    (model, unit, time) with model "obs" first) and :func:`load_upscaled`.
    """
    cfg = config or TamrlConfig()
    torch.set_num_threads(max(1, int(cfg.threads)))
    store = store or RunStore()
    run = store.create("tamrl", asdict(cfg), name=name or f"TAM-RL {cfg.preset}")
    t0 = time.time()
    with run.recording():
        metrics = _run(cfg, run, progress, cancel)
        metrics["seconds"] = time.time() - t0
        run.save_metrics(metrics)
        run.log(f"finished in {metrics['seconds']:.0f} s")
    return run


def _run(cfg: TamrlConfig, run: Run, progress, cancel) -> dict:
    network = tower_network(cfg)
    run.log(f"virtual tower network: {network.sizes['unit']} sites, {cfg.years[0]}-{cfg.years[1]}")
    part, preds, members = virtual_experiment(network, cfg, progress, cancel)
    run.save_predictions(preds)
    for i, m in enumerate(members):
        run.save_weights(f"tamrl_seed{cfg.seeds[i]}", m.model.state_dict())
    metrics = {k: part[k] for k in ("split", "n_test_sites", "n_train_sites", "models")}
    metrics.update({k: v for k, v in part.items() if k not in metrics})
    gpp = part["relative_rmse"]["tamrl_vs_gbm"]["GPP"]
    metrics["headline"] = {"name": "TAM-RL GPP median RMSE vs GBM (relative)", "value": gpp}
    metrics["real_sites"] = _real_part(cfg, network, run, progress, cancel)
    metrics["upscaled"] = _upscale_part(cfg, members, run, progress, cancel, set(network.data_vars))
    return metrics


def _real_part(cfg, network, run, progress, cancel) -> dict:
    if not cfg.real_sites:
        return {"skipped": "real_sites is off in the configuration"}
    real = load_real_sites()
    if real is None:
        return {"skipped": f"no FLUXNET daily files under {settings.data_dir() / 'fluxnet'}"}
    part, ds = real_experiment(real, network, cfg, progress, cancel)
    ds.to_netcdf(run.path / "real_predictions.nc")
    run.log(f"real sites: {', '.join(map(str, real['unit'].values))}")
    return part


def _upscale_part(cfg, members, run, progress, cancel, network_vars=()) -> dict:
    from kgml_core.simulator import WorldConfig, load_world

    report(progress, cancel, ProgressEvent("upscale", 1, 1, 0, 1, message="upscaling to counties"))
    world = load_world(WorldConfig(states=tuple(cfg.states), years=tuple(cfg.upscale_years),
                                   seed=cfg.network_seed, counties=tuple(cfg.counties) or None))
    if "LAI_MODEL" in network_vars:   # the models learned satellite LAI and probe soil water: give them the same
        from kgml_core.simulator.towers import observe_drivers
        world = observe_drivers(world.copy(), cfg.network_seed)
    ds = upscale(members, world, cfg.drivers, cfg.statics, cfg.train, memory=cfg.memory_days)
    path = run.path / "upscaled.nc"
    ds.to_netcdf(path)
    report(progress, cancel, ProgressEvent("upscale", 1, 1, 1, 1, message=f"{ds.sizes['unit']} counties"))
    truth = {f: scores(world[f].values, ds[f].values) for f in TARGETS if f in world}
    return {"file": "upscaled.nc", "states": list(cfg.states), "n_counties": int(ds.sizes["unit"]),
            "years": list(cfg.upscale_years), "n_members": len(members),
            "against_simulated_truth": {f: {k: s[k] for k in ("r2", "rmse")} for f, s in truth.items()},
            "mean_std": {f: float(ds[f"{f}_STD"].mean()) for f in TARGETS}}


def load_upscaled(run: Run) -> xr.Dataset:
    """The upscaled county dataset saved in a TAM-RL run (GPP, RECO, NEE and ``*_STD``)."""
    path = Path(run.path) / "upscaled.nc"
    if not path.exists():
        raise FileNotFoundError(f"run '{run.id}' has no upscaled counties ({path})")
    return xr.load_dataset(path)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------

def register(sub) -> None:
    """Add ``experiment tamrl`` to the experiment sub-parsers."""
    p = sub.add_parser("tamrl", help="TAM-RL vs gradient boosting, LSTM and CT-LSTM on held-out flux sites")
    p.add_argument("--preset", default="quick", choices=sorted(PRESETS), help="size of the experiment")
    p.add_argument("--out", type=Path, required=True, help="directory for metrics.json")
    p.add_argument("--sites", default="", help="comma-separated training site ids (default: k folds)")
    p.add_argument("--states", default="", help="comma-separated states to upscale to (e.g. IA,IL)")
    p.add_argument("--seeds", default="", help="comma-separated seeds")
    p.add_argument("--stratify", choices=("igbp", "climate"), default=None)
    p.add_argument("--no-real", action="store_true", help="skip the real FLUXNET sites")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch and the trees (default 2)")
    p.add_argument("--store", type=Path, default=None, help="run store directory (default: KGML_RUNS_DIR)")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    over: dict = {}
    if args.sites:
        over["site_ids"] = tuple(s.strip() for s in args.sites.split(",") if s.strip())
    if args.states:
        over["states"] = tuple(s.strip().upper() for s in args.states.split(",") if s.strip())
    if args.seeds:
        try:
            over["seeds"] = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            raise ValueError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    if args.stratify:
        over["stratify"] = args.stratify
    if args.no_real:
        over["real_sites"] = False
    if args.threads:
        over["threads"] = args.threads
    cfg = preset(args.preset, **over)
    last = {"stage": None}

    def progress(e: ProgressEvent) -> None:
        if e.message:
            print(f"[{e.stage}] {e.message}", flush=True)
        last["stage"] = e.stage
    run = run_tamrl(cfg, RunStore(args.store) if args.store else None, progress)
    args.out.mkdir(parents=True, exist_ok=True)
    metrics = run.metrics()
    (args.out / "metrics.json").write_text(json.dumps(_compact(metrics), indent=1, default=float))
    print(_table(metrics))
    print(f"run {run.id} ({run.status}); metrics in {args.out / 'metrics.json'}")
    return 0 if run.status == "finished" else 1


def _compact(metrics: dict) -> dict:
    """The metrics with the per-site tables kept (they are small: one row per test site)."""
    return metrics


def _table(metrics: dict) -> str:
    rows = []
    for m, per in metrics.get("models", {}).items():
        rows.append({"model": m, **{f"{f} R2": per[f]["median_r2"] for f in TARGETS},
                     **{f"{f} RMSE": per[f]["median_rmse"] for f in TARGETS}})
    frame = pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()
    return f"held-out virtual sites ({metrics.get('n_test_sites')}), median per-site scores:\n" \
           + frame.round(3).to_string()
