"""Training on one fold and seed: site splits, the four models fitted, the test sites predicted."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from kgml_core.baselines import GBMFluxRegressor
from kgml_core.experiments.tamrl.config import TamrlConfig
from kgml_core.progress import ProgressCallback, ProgressEvent, report
from kgml_core.tasks import ClassVocab, Scaler, SiteArrays, class_weights, fixed_support_start, site_folds, \
    tabular_features
from kgml_core.training.tamrl import predict_series, train_ct_lstm, train_lstm, train_tamrl, window_data
from kgml_core.upscale import Member


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



@dataclass
class FoldResult:
    """Predictions (model -> (n_test, n_time, 3) g C m-2 d-1) and the trained TAM-RL member."""

    predictions: dict[str, np.ndarray]
    member: Member
    support_start: np.ndarray
    histories: dict[str, dict]


def train_and_predict(a: SiteArrays, vocab: ClassVocab, train_idx: np.ndarray, test_idx: np.ndarray,
                      cfg: TamrlConfig, seed: int, stage: str, progress=None, cancel=None,
                      test_support: np.ndarray | None = None) -> FoldResult:
    """Fit the four models on ``train_idx`` and predict the units ``test_idx`` of ``a`` (raw arrays)."""
    tr, te = a.subset(train_idx), a.subset(test_idx)
    scaler = Scaler().fit(tr, n_one_hot=len(vocab.names))
    trs, tes = scaler.transform(tr), scaler.transform(te)
    val = validation_mask(tr.igbp, cfg.val_fraction, seed)
    data = window_data(trs, scaler, class_weights(tr.igbp, tr.climate), val, cfg.train)
    support = test_support if test_support is not None else fixed_support_start(
        te.qc, te.time, cfg.train.window, cfg.support_month, cfg.train.qc_min)
    wrap = _staged(progress, stage)
    preds = {"gbm": fit_predict_gbm(tr, te, cfg, seed)}
    report(wrap, cancel, ProgressEvent("gbm", 1, 1, 1, 1, message="gradient boosting fitted"))
    torch.manual_seed(seed)
    lstm = train_lstm(data, trs.x.shape[-1], cfg.train, seed, wrap, cancel)
    preds["lstm"] = predict_series(lstm, tes, scaler, cfg.train)
    ct = train_ct_lstm(data, trs.x.shape[-1], trs.s.shape[-1], cfg.train, seed, wrap, cancel)
    preds["ct_lstm"] = predict_series(ct, tes, scaler, cfg.train)
    tam = train_tamrl(data, lstm, trs.s.shape[-1], cfg.train, seed, wrap, cancel)
    preds["tamrl"] = predict_series(tam, tes, scaler, cfg.train, support)
    preds["tamrl_zero_shot"] = predict_series(tam, tes, scaler, cfg.train, None)
    return FoldResult(preds, Member(tam, scaler, vocab), support, {})


def _staged(progress: ProgressCallback | None, prefix: str) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda e: progress(replace(e, stage=f"{prefix}/{e.stage}"))


def fit_predict_gbm(tr: SiteArrays, te: SiteArrays, cfg: TamrlConfig, seed: int) -> np.ndarray:
    """Gradient boosting on per-day drivers and site features; predictions (n_test, n_time, 3)."""
    ftr, _ = tabular_features(tr)
    fte, _ = tabular_features(te)
    w = np.where(tr.qc >= cfg.train.qc_min, tr.qc, 0.0) * class_weights(tr.igbp, tr.climate)[:, None, None]
    gbm = GBMFluxRegressor(max_iter=cfg.gbm_iter, random_state=seed, n_threads=max(1, int(cfg.threads)))
    gbm.fit(ftr.reshape(-1, ftr.shape[-1]), tr.y.reshape(-1, 3), w.reshape(-1, 3))
    return gbm.predict(fte.reshape(-1, fte.shape[-1])).reshape(te.y.shape)

