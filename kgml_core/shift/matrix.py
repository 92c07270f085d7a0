"""Shift across many groups, and each unit's distance from a training distribution.

:func:`pairwise_shift` runs the covariate-shift statistics for every pair of
groups and :func:`shift_matrix` arranges one of them as a square table.
:func:`distance_to_training` measures how far each target unit lies from the
units a model was trained on, and :func:`error_correlation` says whether that
distance explains the model's per-unit error.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.covariance import LedoitWolf
from sklearn.neighbors import NearestNeighbors

from kgml_core.shift.covariate import covariate_shift

DISTANCE_METHODS = ("knn", "mahalanobis")


def group_order(groups: pd.Series) -> list[str]:
    """Group labels in order of first appearance."""
    return [str(g) for g in pd.unique(groups.astype(str))]


def pairwise_shift(features: pd.DataFrame, groups: pd.Series, n_permutations: int = 200,
                   seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Covariate shift for every pair of groups.

    Parameters
    ----------
    features : unit features in physical units (index unit ids).
    groups : group label per unit (index unit ids); units missing from either are dropped.

    Returns
    -------
    (per_variable, pairwise, importance): tidy tables keyed by ``group_a``,
    ``group_b``; per_variable adds ``variable`` and the statistics of
    :func:`~kgml_core.shift.covariate.variable_shift`; pairwise has ``mmd2``,
    ``p_value``, ``bandwidth``, ``n_permutations``, ``auc``, ``n_a``, ``n_b``;
    importance has ``variable``, ``importance``, ``rank``.
    """
    labels = groups.astype(str).reindex(features.index).dropna()
    per_var, pairs, imps = [], [], []
    for a, b in combinations(group_order(labels), 2):
        fa, fb = features.loc[labels.index[labels == a]], features.loc[labels.index[labels == b]]
        pv, res, imp = covariate_shift(fa, fb, n_permutations, seed)
        key = {"group_a": a, "group_b": b}
        per_var.append(pv.assign(**key))
        pairs.append({**key, **res, "n_a": len(fa), "n_b": len(fb)})
        imp = imp.sort_values(ascending=False)
        imps.append(pd.DataFrame({**key, "variable": imp.index, "importance": imp.to_numpy(),
                                  "rank": np.arange(1, len(imp) + 1)}))
    if not pairs:
        raise ValueError(f"shift diagnostics need at least 2 groups, got {group_order(labels)}")
    first = ["group_a", "group_b", "variable"]
    per_var_df = pd.concat(per_var, ignore_index=True)
    per_var_df = per_var_df[first + [c for c in per_var_df.columns if c not in first]]
    return per_var_df, pd.DataFrame(pairs), pd.concat(imps, ignore_index=True)


def shift_matrix(pairwise: pd.DataFrame, value: str = "mmd2", order: list[str] | None = None) -> pd.DataFrame:
    """Square, symmetric group x group table of one pairwise statistic (0 on the diagonal, AUC 0.5)."""
    order = order or list(pd.unique(pairwise[["group_a", "group_b"]].to_numpy().ravel()))
    diag = 0.5 if value == "auc" else 0.0
    m = pd.DataFrame(np.nan, index=pd.Index(order, name="group"), columns=order)
    for g in order:
        m.loc[g, g] = diag
    for row in pairwise.itertuples(index=False):
        m.loc[row.group_a, row.group_b] = m.loc[row.group_b, row.group_a] = getattr(row, value)
    return m


def distance_to_training(train_features: pd.DataFrame, target_features: pd.DataFrame,
                         method: str = "knn", k: int = 5) -> pd.Series:
    """Distance of each target unit from the training distribution, in standardised feature space.

    Features are standardised with the training units' mean and standard deviation.

    Parameters
    ----------
    train_features : (n_train, d) unit features the model was trained on.
    target_features : (n_target, d) unit features to score; may share units with the
        training set, in which case a unit is never its own neighbour.
    method : ``"knn"``: mean Euclidean distance to the ``k`` nearest training units;
        ``"mahalanobis"``: Mahalanobis distance from the training mean with a
        Ledoit-Wolf shrunk covariance (robust when units are few).

    Returns
    -------
    Series indexed like ``target_features`` (dimensionless, in training standard deviations).
    """
    if method not in DISTANCE_METHODS:
        raise ValueError(f"distance method '{method}' unknown; expected one of {list(DISTANCE_METHODS)}")
    missing = [c for c in train_features.columns if c not in target_features.columns]
    if missing:
        raise ValueError(f"target features lack columns {missing} of the training features")
    target_features = target_features[list(train_features.columns)]
    mean, std = train_features.mean(), train_features.std(ddof=0).replace(0.0, 1.0)
    xt = ((train_features - mean) / std).to_numpy(float)
    xq = ((target_features - mean) / std).to_numpy(float)
    if method == "mahalanobis":
        d = np.sqrt(LedoitWolf().fit(xt).mahalanobis(xq))
    else:
        d = _knn_distance(xt, xq, train_features.index, target_features.index, k)
    return pd.Series(d, index=target_features.index, name=f"distance_{method}")


def _knn_distance(xt: np.ndarray, xq: np.ndarray, train_ids: pd.Index, target_ids: pd.Index,
                  k: int) -> np.ndarray:
    if len(xt) < 2:
        raise ValueError(f"k-NN distance needs at least 2 training units, got {len(xt)}")
    k = min(k, len(xt) - 1)
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(xt).kneighbors(xq)
    is_self = train_ids.to_numpy()[idx] == target_ids.to_numpy()[:, None]
    # drop a unit's own entry, otherwise drop the (k+1)-th neighbour
    keep = ~is_self
    keep[keep.sum(1) > k, -1] = False
    return np.where(keep, dist, 0).sum(1) / k


def error_correlation(distance: pd.Series, errors: pd.Series) -> pd.DataFrame:
    """Pearson and Spearman correlation of per-unit distance and per-unit model error.

    Returns one row per method: ``method``, ``r``, ``p_value``, ``n_units``.
    Units present in only one of the series are left out.
    """
    joined = pd.concat([distance.rename("distance"), errors.rename("error")], axis=1, join="inner").dropna()
    if len(joined) < 3:
        raise ValueError(f"need errors for at least 3 units with features, got {len(joined)}")
    rows = []
    for name, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
        res = fn(joined["distance"], joined["error"])
        rows.append({"method": name, "r": float(res.statistic), "p_value": float(res.pvalue),
                     "n_units": len(joined)})
    return pd.DataFrame(rows)
