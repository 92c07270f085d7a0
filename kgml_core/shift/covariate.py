"""Covariate shift between two samples of units: do their inputs differ, and in what?

Per variable: Wasserstein-1 distance (also in units of the pooled standard
deviation), the two-sample Kolmogorov-Smirnov statistic and p-value, the
standardised mean difference and the population stability index (PSI).
Multivariate: the maximum mean discrepancy (MMD) with a Gaussian kernel and a
permutation test, and a domain classifier's cross-validated ROC AUC with the
features that drive it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import cdist
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

PSI_PSEUDOCOUNT = 0.5  # added to every bin count so empty bins give a finite, sample-size-aware PSI


def population_stability_index(reference: np.ndarray, target: np.ndarray, n_bins: int = 10) -> float:
    """PSI = sum_b (q_b - p_b) ln(q_b / p_b) over quantile bins of ``reference``.

    ``p_b``/``q_b`` are the fractions of ``reference``/``target`` in bin ``b``, each bin
    count plus 0.5 (an empty bin among ~100 units then costs about 0.3, not the
    ~0.7 of a fixed 1e-4 floor); the bin edges are the reference quantiles
    (``n_bins`` bins), open at both ends.
    Rule of thumb: < 0.1 no shift, 0.1-0.25 moderate, > 0.25 large.
    """
    reference, target = _finite(reference), _finite(target)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    q = np.bincount(np.searchsorted(edges, target, side="right"), minlength=len(edges) + 1)
    p = (p + PSI_PSEUDOCOUNT) / (p.sum() + PSI_PSEUDOCOUNT * len(p))
    q = (q + PSI_PSEUDOCOUNT) / (q.sum() + PSI_PSEUDOCOUNT * len(q))
    return float(np.sum((q - p) * np.log(q / p)))


def _finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise ValueError(f"need at least 2 finite values per sample, got {x.size}")
    return x


def variable_shift(a: np.ndarray, b: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """Univariate shift statistics of sample ``b`` against reference ``a`` (1-D arrays)."""
    a, b = _finite(a), _finite(b)
    pooled_sd = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
    ks = stats.ks_2samp(a, b)
    w = float(stats.wasserstein_distance(a, b))
    scale = pooled_sd if pooled_sd > 0 else np.nan
    return {
        "mean_a": float(a.mean()), "mean_b": float(b.mean()),
        "smd": float((b.mean() - a.mean()) / scale),
        "wasserstein": w, "wasserstein_std": w / scale,
        "ks": float(ks.statistic), "ks_p": float(ks.pvalue),
        "psi": population_stability_index(a, b, n_bins),
        "n_a": int(a.size), "n_b": int(b.size),
    }


def per_variable_shift(a: pd.DataFrame, b: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """:func:`variable_shift` for every column shared by ``a`` and ``b``; one row per variable."""
    shared = [c for c in a.columns if c in b.columns]
    if not shared:
        raise ValueError("the two samples share no variable")
    rows = [{"variable": c, **variable_shift(a[c].to_numpy(), b[c].to_numpy(), n_bins)} for c in shared]
    return pd.DataFrame(rows)


def _gaussian_kernel(x: np.ndarray, bandwidth: float | None) -> tuple[np.ndarray, float]:
    d2 = cdist(x, x, "sqeuclidean")
    if bandwidth is None:
        off = d2[np.triu_indices_from(d2, k=1)]
        bandwidth = float(np.sqrt(np.median(off[off > 0]) / 2)) if np.any(off > 0) else 1.0
    return np.exp(-d2 / (2 * bandwidth ** 2)), bandwidth


def _mmd2_unbiased(k: np.ndarray, in_a: np.ndarray) -> float:
    """Unbiased MMD^2 from a pooled kernel matrix and a boolean mask of sample ``a``."""
    ia, ib = np.flatnonzero(in_a), np.flatnonzero(~in_a)
    m, n = ia.size, ib.size
    kaa, kbb, kab = k[np.ix_(ia, ia)], k[np.ix_(ib, ib)], k[np.ix_(ia, ib)]
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1))
                 + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2 * kab.mean())


def mmd_test(a: np.ndarray, b: np.ndarray, n_permutations: int = 200, seed: int = 0,
             bandwidth: float | None = None) -> dict[str, float]:
    """Maximum mean discrepancy between samples ``a`` (m, d) and ``b`` (n, d), with a permutation test.

    Uses the Gaussian kernel exp(-|x - y|^2 / (2 h^2)) with ``h`` from the median
    heuristic (h^2 = median pairwise squared distance / 2) unless ``bandwidth`` is
    given. Features should already be on a common scale (standardised).

    Returns
    -------
    dict with ``mmd2`` (unbiased estimate, ~0 without shift), ``p_value``
    ((1 + #{perm >= observed}) / (1 + n_permutations)), ``bandwidth``, ``n_permutations``.
    """
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"MMD needs at least 2 units per sample, got {a.shape[0]} and {b.shape[0]}")
    k, h = _gaussian_kernel(np.vstack([a, b]), bandwidth)
    in_a = np.arange(len(k)) < a.shape[0]
    observed = _mmd2_unbiased(k, in_a)
    rng = np.random.default_rng(seed)
    null = np.array([_mmd2_unbiased(k, rng.permutation(in_a)) for _ in range(n_permutations)])
    p = (1 + np.sum(null >= observed)) / (1 + n_permutations)
    return {"mmd2": observed, "p_value": float(p), "bandwidth": h, "n_permutations": int(n_permutations)}


class DomainClassifier:
    """A classifier that tells sample ``a`` from sample ``b``; its CV AUC measures covariate shift.

    AUC 0.5: the samples are indistinguishable; 1.0: perfectly separable.
    ``importances_`` (one value per feature, summing to 1) are the random forest's
    impurity importances averaged over the cross-validation folds: the features
    that drive the separation.

    Parameters
    ----------
    n_splits : folds of stratified cross-validation (reduced when a sample is smaller).
    n_estimators : trees in the random forest.
    seed : random seed of the folds and the forest.
    """

    def __init__(self, n_splits: int = 5, n_estimators: int = 100, seed: int = 0):
        self.n_splits = n_splits
        self.n_estimators = n_estimators
        self.seed = seed

    def fit(self, a: pd.DataFrame, b: pd.DataFrame) -> "DomainClassifier":
        """Cross-validate on the pooled units; sets ``auc_``, ``importances_``, ``oof_proba_``."""
        x = np.vstack([a.to_numpy(float), b.to_numpy(float)])
        y = np.r_[np.zeros(len(a), int), np.ones(len(b), int)]
        splits = min(self.n_splits, len(a), len(b))
        if splits < 2:
            raise ValueError(f"domain classifier needs at least 2 units per sample, got {len(a)} and {len(b)}")
        folds = StratifiedKFold(splits, shuffle=True, random_state=self.seed)
        proba, importance = np.zeros(len(y)), np.zeros(x.shape[1])
        for train, test in folds.split(x, y):
            forest = RandomForestClassifier(self.n_estimators, min_samples_leaf=2,
                                            random_state=self.seed, n_jobs=1).fit(x[train], y[train])
            proba[test] = forest.predict_proba(x[test])[:, 1]
            importance += forest.feature_importances_ / splits
        self.auc_ = float(roc_auc_score(y, proba))
        self.importances_ = pd.Series(importance, index=list(a.columns), name="importance")
        self.oof_proba_ = proba
        return self


def covariate_shift(a: pd.DataFrame, b: pd.DataFrame, n_permutations: int = 200,
                    seed: int = 0) -> tuple[pd.DataFrame, dict[str, float], pd.Series]:
    """All covariate-shift statistics of unit features ``b`` against ``a``.

    Parameters
    ----------
    a, b : unit features (rows units, same columns). The per-variable statistics use
        them as given; MMD and the classifier use them standardised on the pooled
        units, so pass physical values.

    Returns
    -------
    (per-variable table, {"mmd2", "p_value", "bandwidth", "n_permutations", "auc"},
    classifier importances by feature)
    """
    per_var = per_variable_shift(a, b)
    pooled = pd.concat([a, b])
    std = pooled.std(ddof=0).replace(0.0, 1.0)
    za, zb = (a - pooled.mean()) / std, (b - pooled.mean()) / std
    result = mmd_test(za.to_numpy(), zb.to_numpy(), n_permutations, seed)
    clf = DomainClassifier(seed=seed).fit(za, zb)
    result["auc"] = clf.auc_
    return per_var, result, clf.importances_
