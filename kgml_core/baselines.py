"""FLUXCOM-style baseline: gradient-boosted trees (LightGBM) on daily drivers and site features.

FLUXCOM-X-BASE uses XGBoost and CarbonFluxBench a tuned LightGBM; this is the
LightGBM anchor: one :class:`lightgbm.LGBMRegressor` per flux on a per-day
feature table (drivers, their trailing means, the crop of the year, day of
year, static site features and one-hot classes; see
:func:`kgml_core.tamrl.sites.tabular_features`), early-stopped on held-out
validation sites like the networks, and tuned by :func:`tune_gbm` on those
same validation sites.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import lightgbm as lgb
import numpy as np


@dataclass(frozen=True)
class GBMParams:
    """Hyper-parameters of one LightGBM configuration (the ones the search varies)."""

    learning_rate: float = 0.05
    num_leaves: int = 63
    min_child_samples: int = 50
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0


# the search space of :func:`tune_gbm` (LightGBM's usual ranges; CarbonFluxBench tunes these)
GBM_SEARCH: dict[str, tuple] = {
    "learning_rate": (0.03, 0.05, 0.1),
    "num_leaves": (15, 31, 63, 127, 255),
    "min_child_samples": (20, 50, 100, 300),
    "colsample_bytree": (0.5, 0.7, 0.9),
    "reg_lambda": (0.0, 1.0, 10.0),
}


class GBMFluxRegressor:
    """Multi-output gradient boosting: one LightGBM ensemble per target column.

    Parameters
    ----------
    max_iter : most boosting rounds per target (early stopping may use fewer).
    params : the tuned hyper-parameters (:class:`GBMParams`).
    early_stopping : rounds without improvement of the validation loss before stopping
        (only when validation data are given to :meth:`fit`).
    max_rows : at most this many training rows are used (random subsample) to bound the cost.
    random_state : seed of the subsample, bagging and column sampling.
    n_threads : threads of LightGBM (keep it at the number of free cores).
    """

    def __init__(self, max_iter: int = 300, params: GBMParams | None = None, early_stopping: int = 30,
                 max_rows: int = 400_000, random_state: int = 0, n_threads: int | None = 1):
        self.max_iter = int(max_iter)
        self.params = params or GBMParams()
        self.early_stopping = int(early_stopping)
        self.max_rows = int(max_rows)
        self.random_state = int(random_state)
        self.n_threads = n_threads

    def _estimator(self) -> lgb.LGBMRegressor:
        return lgb.LGBMRegressor(n_estimators=self.max_iter, subsample=0.8, subsample_freq=1,
                                 random_state=self.random_state, n_jobs=self.n_threads or 0,
                                 verbose=-1, **asdict(self.params))

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None,
            validation: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None) -> "GBMFluxRegressor":
        """Fit on ``X`` (n, n_feat) and ``Y`` (n, k); rows with NaN or zero weight in a target are skipped for it.

        ``sample_weight`` is (n,) or (n, k) (per-target weights, e.g. QC times class
        weight). ``validation`` = (X_val, Y_val, w_val) early-stops each target on
        the weighted squared error of those rows; ``best_iterations_`` records where.
        """
        X, Y, w = _checked(X, Y, sample_weight)
        val = _checked(*validation) if validation is not None else None
        rng = np.random.default_rng(self.random_state)
        self.estimators_, self.best_iterations_, self.val_mse_ = [], [], []
        for j in range(Y.shape[1]):
            rows = np.nonzero(np.isfinite(Y[:, j]) & (w[:, j] > 0))[0]
            if len(rows) == 0:
                raise ValueError(f"target column {j} has no finite value with positive weight")
            if len(rows) > self.max_rows:
                rows = np.sort(rng.choice(rows, self.max_rows, replace=False))
            est = self._estimator()
            kwargs = {}
            if val is not None:
                vr = np.nonzero(np.isfinite(val[1][:, j]) & (val[2][:, j] > 0))[0]
                if len(vr):
                    kwargs = dict(eval_X=(val[0][vr],), eval_y=(val[1][vr, j],), eval_sample_weight=[val[2][vr, j]],
                                  callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)])
            est.fit(X[rows], Y[rows, j], sample_weight=w[rows, j], **kwargs)
            self.estimators_.append(est)
            self.best_iterations_.append(int(est.best_iteration_ or self.max_iter))
            if kwargs:
                self.val_mse_.append(float(est.best_score_["valid_0"]["l2"]))
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = Y.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, n_feat) -> (n, k) predictions."""
        if not hasattr(self, "estimators_"):
            raise ValueError("GBMFluxRegressor is not fitted; call fit first")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} features, got shape {X.shape}")
        return np.stack([e.predict(X, num_iteration=b) for e, b in zip(self.estimators_, self.best_iterations_)],
                        axis=1).astype(np.float32)


def _checked(X, Y, w=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float32)
    Y = np.asarray(Y, dtype=np.float32)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or len(X) != len(Y):
        raise ValueError(f"X must be (n, n_features) and Y (n, k) with the same n; got {X.shape}, {Y.shape}")
    w = np.ones_like(Y) if w is None else np.asarray(w, dtype=np.float32)
    return X, Y, np.ascontiguousarray(np.broadcast_to(w if w.ndim == 2 else w[:, None], Y.shape))


def search_space(n_trials: int, seed: int = 0) -> list[GBMParams]:
    """``n_trials`` configurations: the default first, then random draws from :data:`GBM_SEARCH`."""
    rng = np.random.default_rng(seed)
    out = [GBMParams()]
    while len(out) < n_trials:
        cand = GBMParams(**{k: type(v[0])(v[rng.integers(len(v))]) for k, v in GBM_SEARCH.items()})
        if cand not in out:
            out.append(cand)
    return out[:max(1, n_trials)]


def tune_gbm(X: np.ndarray, Y: np.ndarray, w: np.ndarray, validation: tuple[np.ndarray, np.ndarray, np.ndarray],
             n_trials: int, max_iter: int, seed: int = 0, n_threads: int | None = 1,
             scale: Sequence[float] | None = None) -> tuple[GBMFluxRegressor, list[dict]]:
    """Random search over :data:`GBM_SEARCH` on the validation sites; the best model and the trial log.

    Every trial is early-stopped on ``validation``; trials are ranked by the
    validation MSE summed over targets, each divided by ``scale[j]**2`` (the
    target's standard deviation, so fluxes weigh alike, as in the networks' loss).
    """
    scale = np.ones(np.asarray(Y).shape[-1]) if scale is None else np.asarray(scale, float)
    best, log = None, []
    for params in search_space(n_trials, seed):
        model = GBMFluxRegressor(max_iter, params, random_state=seed, n_threads=n_threads)
        model.fit(X, Y, w, validation)
        loss = float(np.sum(np.asarray(model.val_mse_) / scale[:len(model.val_mse_)] ** 2))
        log.append({**asdict(params), "val_loss": loss, "rounds": model.best_iterations_})
        if best is None or loss < best[0]:
            best = (loss, model)
    return best[1], log
