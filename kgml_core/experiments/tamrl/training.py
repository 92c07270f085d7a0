"""Training on one fold and seed: site splits, the four models fitted, the test sites predicted."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from kgml_core.baselines import GBMFluxRegressor, tune_gbm
from kgml_core.experiments.tamrl.config import TamrlConfig
from kgml_core.progress import ProgressCallback, ProgressEvent, report
from kgml_core.tamrl.sites import ClassVocab, SiteArrays, class_weights, site_folds, tabular_features
from kgml_core.tamrl.windows import Scaler, support_mask
from kgml_core.tamrl.predict import predict_series
from kgml_core.tamrl.training import train_ct_lstm, train_lstm, train_tamrl, window_data
from kgml_core.tamrl.upscale import Member


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
                      test_support: np.ndarray | None = None, with_curve: bool = False) -> FoldResult:
    """Fit the four models on ``train_idx`` and predict the units ``test_idx`` of ``a`` (raw arrays).

    ``test_support``: (n_test, n_time) support days of few-shot TAM-RL (default:
    :func:`support_mask` with ``cfg.support_days`` from each site's first year);
    ``with_curve``: also predict with each support length of ``cfg.support_curve`` (masks from
    :func:`support_mask`), as ``tamrl_support_<days>``.
    """
    tr, te = a.subset(train_idx), a.subset(test_idx)
    scaler = Scaler().fit(tr, n_one_hot=len(vocab.names))
    trs, tes = scaler.transform(tr), scaler.transform(te)
    val = validation_mask(tr.igbp, cfg.val_fraction, seed)
    data = window_data(trs, scaler, class_weights(tr.igbp, tr.climate), val, cfg.train)
    support = test_support if test_support is not None else support_mask(te.qc, te.time, cfg.support_days)
    wrap = _staged(progress, stage)
    beside = _second_process(cfg)
    if beside is not None:  # the baselines that do not need the LSTM train in a second process meanwhile
        pending = beside.apply_async(_baselines, (tr, te, trs, tes, scaler, data, replace(cfg, threads=1), seed, val),
                                     {"threads": 1})
        report(wrap, cancel, ProgressEvent("gbm", 0, 1, 0, 1, message="gradient boosting and CT-LSTM training "
                                           "in a second process"))
    try:
        with _torch_threads(1 if beside is not None else None):
            base = None if beside is not None else _baselines(tr, te, trs, tes, scaler, data, cfg, seed, val,
                                                              wrap, cancel)
            torch.manual_seed(seed)
            lstm = train_lstm(data, trs.x.shape[-1], cfg.train, seed, wrap, cancel)
            lstm_pred = predict_series(lstm, tes, scaler, cfg.train)
            preds = _tamrl_predictions(data, lstm, trs, te, tes, scaler, cfg, seed, support, test_support,
                                       with_curve, wrap, cancel)
        if beside is not None:
            base = pending.get()
    finally:
        if beside is not None:
            beside.terminate()
            beside.join()
    if beside is not None:
        report(wrap, cancel, ProgressEvent("gbm", 1, 1, 1, 1, message="gradient boosting and CT-LSTM fitted"))
    preds = {"gbm": base["gbm"], "lstm": lstm_pred, "ct_lstm": base["ct_lstm"], **preds}
    return FoldResult(preds, Member(preds.pop("_member"), scaler, vocab), support, {})


def _baselines(tr: SiteArrays, te: SiteArrays, trs: SiteArrays, tes: SiteArrays, scaler: Scaler, data,
               cfg: TamrlConfig, seed: int, val: np.ndarray, progress=None, cancel=None,
               threads: int | None = None) -> dict[str, np.ndarray]:
    """Gradient boosting and the CT-LSTM of a fold (neither needs the LSTM): predictions ``gbm``, ``ct_lstm``.

    Runs in the fold's process or, as a task of :func:`_second_process`, beside it
    (``threads`` 1 there, no progress); each seeds its own generators, so the results
    do not depend on where.
    """
    if threads:
        torch.set_num_threads(threads)
    preds = {"gbm": fit_predict_gbm(tr, te, cfg, seed, val)}
    report(progress, cancel, ProgressEvent("gbm", 1, 1, 1, 1, message="gradient boosting fitted"))
    ct = train_ct_lstm(data, trs.x.shape[-1], trs.s.shape[-1], cfg.train, seed, progress, cancel)
    preds["ct_lstm"] = predict_series(ct, tes, scaler, cfg.train)
    return preds


def _second_process(cfg: TamrlConfig):
    """A one-process pool for the baselines when the fold may use two cores, else None.

    :func:`kgml_core.distributed.second_process` (why two single-threaded processes, and
    where none can start); not with ``threads`` 1 or ``scheduler="sequential"``.
    """
    from kgml_core.distributed import second_process
    if int(cfg.threads) < 2 or cfg.scheduler == "sequential":
        return None
    return second_process()


@contextmanager
def _torch_threads(n: int | None):
    """torch's intra-op threads set to ``n`` within the block (unchanged when None)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tamrl_predictions(data, lstm, trs, te, tes, scaler, cfg, seed, support, test_support, with_curve,
                       wrap, cancel) -> dict:
    """TAM-RL trained from ``lstm`` and its predictions (few-shot, encoder only, zero-shot, the support curve).

    Returns the predictions by name and the model under ``_member``.
    """
    preds = {}
    tam = train_tamrl(data, lstm, trs.s.shape[-1], cfg.train, seed, wrap, cancel)
    preds["tamrl"] = predict_series(tam, tes, scaler, cfg.train, support)
    preds["tamrl_encoder_only"] = predict_series(tam, tes, scaler, cfg.train, support, adapt=False)
    if cfg.train.adapt_head:  # the embedding-only refinement beside it
        preds["tamrl_z_only"] = predict_series(tam, tes, scaler, replace(cfg.train, adapt_head=False), support)
    preds["tamrl_zero_shot"] = predict_series(tam, tes, scaler, cfg.train, None)
    curve = {d: support_mask(te.qc, te.time, d) for d in cfg.support_curve} if with_curve else {}
    for days, mask in curve.items():
        if not mask.any():
            preds[f"tamrl_support_{days}"] = preds["tamrl_zero_shot"]
        elif test_support is None and days == cfg.support_days:
            preds[f"tamrl_support_{days}"] = preds["tamrl"]
        else:
            preds[f"tamrl_support_{days}"] = predict_series(tam, tes, scaler, cfg.train, mask)
    preds["_member"] = tam
    return preds


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
