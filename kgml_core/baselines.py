"""FLUXCOM-style baseline: gradient-boosted trees on daily drivers and site features.

A stand-in for FLUXCOM-X-BASE (which uses XGBoost): one scikit-learn
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` per flux on a per-day
feature table (drivers, their trailing means, day of year, static site
features and one-hot classes; see :func:`kgml_core.tasks.tabular_features`).
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits


class GBMFluxRegressor:
    """Multi-output gradient boosting: one tree ensemble per target column.

    Parameters
    ----------
    max_iter : boosting rounds per target.
    learning_rate : shrinkage.
    max_leaf_nodes : leaves per tree.
    min_samples_leaf : smallest leaf.
    l2_regularization : L2 penalty on leaf values.
    max_rows : at most this many training rows are used (random subsample) to bound the cost.
    random_state : seed of the subsample and of the boosting.
    n_threads : OpenMP threads while fitting and predicting (None: the library default, all cores).
        Keep it at the number of free cores: oversubscribed OpenMP threads spin and slow down badly.
    """

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.08, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 40, l2_regularization: float = 0.0,
                 max_rows: int = 200_000, random_state: int = 0, n_threads: int | None = None):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_rows = max_rows
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> "GBMFluxRegressor":
        """Fit on ``X`` (n, n_feat) and ``Y`` (n, k); rows with NaN in a target are skipped for it.

        ``sample_weight`` is (n,) or (n, k) (per-target weights, e.g. QC times class weight);
        rows are resampled with probability proportional to it.
        """
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=np.float32)
        if Y.ndim == 1:
            Y = Y[:, None]
        if X.ndim != 2 or len(X) != len(Y):
            raise ValueError(f"X must be (n, n_features) and Y (n, k) with the same n; got {X.shape}, {Y.shape}")
        w = np.ones_like(Y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)
        w = np.broadcast_to(w if w.ndim == 2 else w[:, None], Y.shape)
        rng = np.random.default_rng(self.random_state)
        self.estimators_ = []
        for j in range(Y.shape[1]):
            rows = self._weighted_rows(np.isfinite(Y[:, j]) & (w[:, j] > 0), w[:, j], rng, j)
            est = HistGradientBoostingRegressor(
                max_iter=self.max_iter, learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization, early_stopping=False,
                random_state=self.random_state)
            with threadpool_limits(limits=self.n_threads, user_api="openmp"):
                self.estimators_.append(est.fit(X[rows], Y[rows, j]))
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = Y.shape[1]
        return self

    def _weighted_rows(self, ok: np.ndarray, w: np.ndarray, rng: np.random.Generator, j: int) -> np.ndarray:
        """Row indices drawn with replacement with probability proportional to ``w``.

        Resampling stands in for ``sample_weight``, which makes scikit-learn's
        feature binning (weighted percentiles) orders of magnitude slower.
        """
        rows = np.nonzero(ok)[0]
        if len(rows) == 0:
            raise ValueError(f"target column {j} has no finite value with positive weight")
        p = w[rows].astype(np.float64)
        return np.sort(rng.choice(rows, min(len(rows), self.max_rows), replace=True, p=p / p.sum()))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, n_feat) -> (n, k) predictions."""
        if not hasattr(self, "estimators_"):
            raise ValueError("GBMFluxRegressor is not fitted; call fit first")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} features, got shape {X.shape}")
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return np.stack([e.predict(X) for e in self.estimators_], axis=1).astype(np.float32)
