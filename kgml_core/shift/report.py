"""The full distribution-shift diagnostic of a contract dataset: :func:`diagnose`."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core.shift.concept import concept_shift
from kgml_core.shift.embedding import embed_units
from kgml_core.shift.features import (clean_features, select_features, standardize_features,
                                      unit_features)
from kgml_core.shift.matrix import (distance_to_training, error_correlation, group_order,
                                    pairwise_shift, shift_matrix)

log = logging.getLogger(__name__)


@dataclass
class ShiftReport:
    """Tidy tables of one shift diagnostic (see ``docs/shift.md`` for every column).

    per_variable : per pair of groups and variable: Wasserstein, KS, PSI, SMD.
    pairwise : per pair of groups: MMD^2, its permutation p-value, domain-classifier AUC.
    classifier_importance : per pair of groups and variable: classifier importance and rank.
    shift_matrix : group x group MMD^2 (square).
    unit_distance : per unit: group, distance from the training units (and error when given).
    error_correlation : Pearson/Spearman correlation of distance and error (empty without errors).
    concept_curves : binned response curves per driver and group.
    concept_tests : permutation tests that the response surfaces differ (all groups, each pair).
    embedding : per unit: pc1, pc2, group.
    features : the unit features used (physical units).
    """

    per_variable: pd.DataFrame
    pairwise: pd.DataFrame
    classifier_importance: pd.DataFrame
    shift_matrix: pd.DataFrame
    unit_distance: pd.DataFrame
    error_correlation: pd.DataFrame
    concept_curves: pd.DataFrame
    concept_tests: pd.DataFrame
    embedding: pd.DataFrame
    features: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def to_json_dict(self) -> dict:
        """JSON-ready dict: ``pairs`` (per pair of groups: MMD, p-value, AUC, per-variable
        statistics, top classifier features) plus every table as a list of records."""
        pairs = []
        for row in self.pairwise.to_dict("records"):
            key = (self.per_variable["group_a"] == row["group_a"]) & (self.per_variable["group_b"] == row["group_b"])
            ikey = ((self.classifier_importance["group_a"] == row["group_a"])
                    & (self.classifier_importance["group_b"] == row["group_b"]))
            pairs.append({**row,
                          "variables": _records(self.per_variable[key].drop(columns=["group_a", "group_b"])),
                          "classifier_importance": _records(
                              self.classifier_importance[ikey].drop(columns=["group_a", "group_b"]))})
        out = {"meta": _clean(self.meta), "pairs": pairs,
               "shift_matrix": _clean(self.shift_matrix.to_dict("index")),
               "embedding_explained_variance": self.embedding.attrs.get("explained_variance_ratio", [])}
        for f in fields(self):
            if f.name not in ("meta", "shift_matrix", "pairwise", "per_variable", "classifier_importance"):
                table = getattr(self, f.name)
                out[f.name] = _records(table.reset_index() if table.index.name else table)
        return out


def _records(df: pd.DataFrame) -> list[dict]:
    return _clean(df.to_dict("records"))


def _clean(obj):
    """NaN -> None and NumPy scalars -> Python, recursively, for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else float(obj)
    return obj


def default_groups(ds: xr.Dataset) -> pd.Series:
    """The ``state`` coordinate as a group label per unit."""
    if "state" not in ds.coords:
        raise ValueError("no groups given and the dataset has no 'state' coordinate")
    return pd.Series(np.asarray(ds["state"].values, str),
                     index=pd.Index([str(u) for u in ds["unit"].values], name="unit"), name="group")


def _check_groups(groups: pd.Series, units: pd.Index) -> pd.Series:
    groups = groups.copy()
    groups.index = groups.index.astype(str)
    groups = groups.dropna().astype(str).reindex(units).dropna()
    counts = groups.value_counts()
    if len(counts) < 2:
        raise ValueError(f"shift diagnostics need at least 2 groups with units, got {counts.to_dict()}")
    small = counts[counts < 2]
    if len(small):
        raise ValueError(f"groups {list(small.index)} have fewer than 2 units; every group needs 2 or more")
    return groups


def diagnose(ds: xr.Dataset, groups: pd.Series | None = None, variables: Iterable[str] | None = None,
             seed: int = 0, errors: pd.Series | None = None, train_units: Iterable[str] | None = None,
             n_permutations: int = 200, weights: Mapping[str, float] | None = None,
             response: str = "RH", drivers: Sequence[str] = ("TA", "SWC_REL"),
             distance: str = "knn") -> ShiftReport:
    """Distribution-shift diagnostics of the units of ``ds`` between groups.

    Parameters
    ----------
    ds : contract dataset (unit x daily time) with drivers, soil variables and fluxes.
    groups : label per unit (index unit ids); default the ``state`` coordinate.
    variables : unit features (``"SWC_GS"``) or source variables (``"SWC"``) to use; default all.
    seed : seed of permutations, folds and forests.
    errors : optional per-unit model error (for example RMSE of RH), correlated with distance.
    train_units : units a model was trained on; default every unit (each unit's
        distance is then from all the *other* units).
    n_permutations : permutations of the MMD and concept-shift tests.
    weights : feature weights for the distance and the embedding (keys as in
        :func:`~kgml_core.shift.features.standardize_features`).
    response, drivers : the relation tested for concept shift; skipped (empty tables)
        when the dataset lacks them. ``SWC_REL`` (SWC relative to field capacity)
        falls back to ``SWC`` when the dataset has no ``FC``.
    distance : ``"knn"`` or ``"mahalanobis"`` (see :func:`distance_to_training`).
    """
    feats = clean_features(select_features(unit_features(ds), variables))
    groups = _check_groups(default_groups(ds) if groups is None else groups, feats.index)
    feats = feats.loc[groups.index]
    per_var, pairs, imps = pairwise_shift(feats, groups, n_permutations, seed)
    matrix = shift_matrix(pairs, "mmd2", group_order(groups))
    weighted = standardize_features(feats, weights)
    train = feats.index if train_units is None else pd.Index([str(u) for u in train_units])
    unknown = train.difference(feats.index)
    if len(unknown):
        raise ValueError(f"train_units {list(unknown[:5])} are not units with features")
    dist = distance_to_training(weighted.loc[train], weighted, distance)
    unit_dist = pd.DataFrame({"group": groups, "distance": dist, "in_training": feats.index.isin(train)})
    corr = pd.DataFrame(columns=["method", "r", "p_value", "n_units"])
    if errors is not None:
        errors = errors.copy()
        errors.index = errors.index.astype(str)
        unit_dist["error"] = errors.reindex(feats.index)
        corr = error_correlation(dist, errors)
    curves, tests = _concept(ds, groups, response, drivers, n_permutations, seed)
    meta = {"groups": group_order(groups), "n_units": len(feats), "features": list(feats.columns),
            "units": feats.attrs.get("units", {}), "seed": seed, "n_permutations": n_permutations,
            "distance": distance, "response": response, "drivers": list(drivers)}
    return ShiftReport(per_var, pairs, imps, matrix, unit_dist.rename_axis("unit"), corr, curves, tests,
                       embed_units(weighted, groups), feats, meta)


def _concept(ds, groups, response, drivers, n_permutations, seed) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "SWC_REL" in drivers and "FC" not in ds.data_vars:
        drivers = tuple("SWC" if d == "SWC_REL" else d for d in drivers)
    needed = [v for d in drivers for v in (("SWC", "FC") if d == "SWC_REL" else (d,))]
    missing = [v for v in (response, *needed) if v not in ds.data_vars or "unit" not in ds[v].dims]
    if missing:
        log.info("concept shift skipped: dataset lacks daily %s", missing)
        return pd.DataFrame(), pd.DataFrame()
    return concept_shift(ds, groups, response, drivers, n_permutations=n_permutations, seed=seed)
