"""Concept shift: does the same input-output relation differ between regions?

The response (by default heterotrophic respiration ``RH``) is modelled as a
piecewise-bilinear surface of its drivers (by default air temperature ``TA`` and
soil water content ``SWC``), with knots at quantiles of the pooled daily values:
``f(x) = sum_k w_k(x) theta_k`` with tensor-product hat functions ``w_k``. Two
models of the daily response ``y`` of unit ``u`` are fitted by least squares:

    shared:          y ~ a_u f(x)
    group-specific:  y ~ a_u f_g(u)(x)

where ``a_u`` is a per-unit factor (the size of the soil carbon stock, say, which
scales the response without changing its shape) and ``f`` the response surface.
The test statistic is the share of the shared model's residual sum of squares
that group-specific surfaces remove,

    eta2 = (RSS_shared - RSS_group) / RSS_shared,

i.e. how much better group-specific response surfaces fit at the same inputs.
Its null distribution comes from permuting the group labels across *units* (each
unit keeps all its days), which respects the strong autocorrelation of daily
series within a unit. ``a_u`` is fitted jointly with the shared ``f``
(alternating least squares) and then held fixed, not taken as the unit's mean
response: the mean depends on the unit's
climate, so dividing by it would turn a pure covariate shift into an apparent
concept shift. For the same reason the surface is piecewise linear rather than
a step per bin: with steps, groups whose inputs sit at different places inside
the same bin would differ spuriously. With ``relative=False`` all ``a_u`` are 1
and absolute levels count.
"""
from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr


def _centres(x: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    s = np.bincount(idx, weights=x, minlength=n)
    c = np.bincount(idx, minlength=n)
    return np.divide(s, c, out=np.full(n, np.nan), where=c > 0)


# Drivers computed from contract variables: relative soil water (fraction of field capacity).
DERIVED = {"SWC_REL": "soil water content relative to field capacity, SWC / (100 FC)"}


def _driver(ds: xr.Dataset, name: str) -> np.ndarray:
    """(n_units, n_days) values of a driver: a daily contract variable or one of :data:`DERIVED`."""
    if name == "SWC_REL":
        missing = [v for v in ("SWC", "FC") if v not in ds.data_vars]
        if missing:
            raise ValueError(f"driver SWC_REL needs variables {missing}, not in the dataset")
        return (np.asarray(ds["SWC"].transpose("unit", "time").values, float)
                / (100 * np.asarray(ds["FC"].values, float)[:, None]))
    return np.asarray(ds[name].transpose("unit", "time").values, float)


def _hat(x: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left knot index and weight of the right knot of each value (clipped to the knot range)."""
    idx = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 2)
    t = np.clip((x - knots[idx]) / (knots[idx + 1] - knots[idx]), 0.0, 1.0)
    return idx, t


class ConceptData:
    """Daily response and drivers of the units in ``groups`` and the per-unit normal equations.

    Attributes
    ----------
    units : unit ids (n_units,); labels : group label per unit (n_units,).
    y : response over valid (unit, day) pairs; unit_idx : their unit index; x : drivers.
    knots : per driver, knot positions (quantiles of pooled values).
    xtx : (n_units, K, K) and xty : (n_units, K) sums of w w^T and w y per unit,
        K the number of surface nodes (product of knots per driver).
    scale : per-unit factor a_u of the shared model (mean 1; all 1 unless ``relative``).
    """

    def __init__(self, ds: xr.Dataset, groups: pd.Series, response: str = "RH",
                 drivers: Sequence[str] = ("TA", "SWC"), n_bins: Sequence[int] | int = 8,
                 relative: bool = True):
        missing = [v for v in (response, *drivers) if v not in ds.data_vars and v not in DERIVED]
        if missing:
            raise ValueError(f"concept shift needs variables {missing}, not in the dataset")
        if isinstance(n_bins, int):
            n_bins = [n_bins] * len(drivers)
        ids = np.array([str(u) for u in ds["unit"].values])
        keep = np.isin(ids, groups.index.astype(str))
        self.units, self.drivers, self.response = ids[keep], tuple(drivers), response
        self.labels = groups.reindex(self.units).to_numpy()
        y = np.asarray(ds[response].transpose("unit", "time").values, float)[keep]
        xs = [_driver(ds, d)[keep] for d in drivers]
        valid = np.isfinite(y) & np.all([np.isfinite(x) for x in xs], axis=0)
        self.unit_idx = np.broadcast_to(np.arange(len(self.units))[:, None], y.shape)[valid]
        # one block per unit: the unit factor a_u is shared by all its days
        self.block_idx, self.block_unit = self.unit_idx, np.arange(len(self.units))
        self.y = y[valid]
        self.x = [x[valid] for x in xs]
        if self.y.size == 0:
            raise ValueError(f"no unit has finite {response} together with {list(drivers)}")
        self.knots = [np.unique(np.quantile(x, np.linspace(0, 1, n + 1))) for x, n in zip(self.x, n_bins)]
        if any(len(k) < 2 for k in self.knots):
            raise ValueError(f"a driver of {list(drivers)} is constant; cannot fit a response curve")
        self.bins = [np.clip(np.searchsorted(k[1:-1], x, side="right"), 0, len(k) - 2)
                     for k, x in zip(self.knots, self.x)]
        self.n_bins = [len(k) - 1 for k in self.knots]
        self.relative = relative
        self.xtx, self.xty = self._normal_equations()
        self.sumsq_block = np.bincount(self.block_idx, weights=self.y ** 2)
        _, scale = _fit_shared(self.xtx, self.xty, relative)
        self.scale = scale / scale.mean() if scale.mean() > 0 else scale  # per block

    def _normal_equations(self) -> tuple[np.ndarray, np.ndarray]:
        shape = [len(k) for k in self.knots]
        n_nodes, n_units = int(np.prod(shape)), len(self.block_unit)
        hats = [_hat(x, k) for x, k in zip(self.x, self.knots)]
        corners = []
        for offsets in np.ndindex(*([2] * len(hats))):
            node = np.ravel_multi_index([i + o for (i, _), o in zip(hats, offsets)], shape)
            weight = np.prod([t if o else 1 - t for (_, t), o in zip(hats, offsets)], axis=0)
            corners.append((node, weight))
        xty = np.zeros(n_units * n_nodes)
        xtx = np.zeros(n_units * n_nodes * n_nodes)
        base = self.block_idx * n_nodes
        for i, (node_i, w_i) in enumerate(corners):
            xty += np.bincount(base + node_i, weights=w_i * self.y, minlength=xty.size)
            for node_j, w_j in corners[i:]:
                xtx += np.bincount((base + node_i) * n_nodes + node_j, weights=w_i * w_j, minlength=xtx.size)
        xtx = xtx.reshape(n_units, n_nodes, n_nodes)
        # only pairs i <= j of corners were added: symmetrise, counting the diagonal once
        xtx = xtx + xtx.transpose(0, 2, 1)
        xtx[:, np.arange(n_nodes), np.arange(n_nodes)] /= 2
        return xtx, xty.reshape(n_units, n_nodes)


def _solve(a_mat: np.ndarray, b: np.ndarray) -> np.ndarray:
    """theta = A^-1 b with a tiny ridge, so nodes without data get 0 instead of failing."""
    ridge = 1e-9 * max(float(np.trace(a_mat)) / len(a_mat), 1e-12)
    return np.linalg.solve(a_mat + ridge * np.eye(len(a_mat)), b)


def _fit_shared(xtx: np.ndarray, xty: np.ndarray, fit_scale: bool, max_iter: int = 100,
                tol: float = 1e-8) -> tuple[float, np.ndarray]:
    """Alternating least squares of y ~ a_u f(x); returns (RSS - sum y^2, a)."""
    n_units, n_nodes = xty.shape
    flat = xtx.reshape(n_units * n_nodes, n_nodes)
    a = np.ones(n_units)
    last = np.inf
    for _ in range(max_iter):
        theta = _solve(np.tensordot(a ** 2, xtx, axes=1), xty.T @ a)
        quad = np.sum((flat @ theta).reshape(n_units, n_nodes) * theta, axis=1)  # theta' XtX_u theta
        lin = xty @ theta
        if fit_scale:
            a = np.divide(lin, quad, out=np.ones_like(lin), where=quad > 0)
        rss = float(np.sum(a ** 2 * quad) - 2 * np.sum(a * lin))
        if not fit_scale or last - rss <= tol * max(abs(rss), 1.0):
            break
        last = rss
    return rss, a


def _group_rss(a_nz: np.ndarray, nz: np.ndarray, n_nodes: int, b_vecs: np.ndarray, codes: np.ndarray,
               n_groups: int) -> float:
    """RSS - sum y^2 of group-specific surfaces with the unit factors held fixed.

    ``a_nz`` (n_units, len(nz)) holds the entries ``nz`` of the flattened a_u^2 XtX_u
    that are non-zero for some unit: hat functions overlap only with their
    neighbours, so XtX_u is sparse and summing only these entries is much faster.
    """
    onehot = np.eye(n_groups)[codes]
    a_g = np.zeros((n_groups, n_nodes * n_nodes))
    a_g[:, nz] = onehot.T @ a_nz
    b_g = onehot.T @ b_vecs
    return -float(sum(b @ _solve(m.reshape(n_nodes, n_nodes), b) for m, b in zip(a_g, b_g)))


def curve_difference_test(data: ConceptData, mask: np.ndarray | None = None,
                          n_permutations: int = 200, seed: int = 0) -> dict[str, float]:
    """Permutation test of whether group response surfaces differ (see the module docstring).

    ``mask`` selects the units taking part (default all). Returns ``eta2`` (share of
    the shared surface's residual sum of squares removed by group-specific
    surfaces), ``rms_diff`` (root mean square of that improvement per day, in
    response units), ``p_value``, ``n_units``, ``n_permutations``.
    """
    mask = np.ones(len(data.units), bool) if mask is None else mask
    labels = data.labels[mask].astype(str)
    uniq, codes = np.unique(labels, return_inverse=True)
    if len(uniq) < 2:
        raise ValueError("concept-shift test needs at least 2 groups")
    in_blocks = mask[data.block_unit]
    # each block's position among the selected units, to carry unit labels to blocks
    block_pos = (np.cumsum(mask) - 1)[data.block_unit[in_blocks]]
    xtx, xty = data.xtx[in_blocks], data.xty[in_blocks]
    shared, a = _fit_shared(xtx, xty, data.relative)
    n_nodes = xty.shape[1]
    a_mats, b_vecs = ((a ** 2)[:, None, None] * xtx).reshape(len(xtx), -1), a[:, None] * xty
    nz = np.flatnonzero(np.any(a_mats != 0, axis=0))
    rss = lambda c: _group_rss(a_mats[:, nz], nz, n_nodes, b_vecs, c[block_pos], len(uniq))
    observed = shared - rss(codes)
    rng = np.random.default_rng(seed)
    null = np.array([shared - rss(rng.permutation(codes)) for _ in range(n_permutations)])
    rss_shared = float(data.sumsq_block[in_blocks].sum()) + shared
    n_days = int(np.isin(data.unit_idx, np.flatnonzero(mask)).sum())
    return {"eta2": observed / rss_shared if rss_shared > 0 else np.nan,
            "rms_diff": float(np.sqrt(max(observed, 0.0) / max(n_days, 1))),
            "p_value": float((1 + np.sum(null >= observed - 1e-12 * abs(observed))) / (1 + n_permutations)),
            "n_units": int(mask.sum()), "n_permutations": int(n_permutations)}


def concept_curves(data: ConceptData) -> pd.DataFrame:
    """Binned response curves: per driver, group and bin, the mean response.

    Returns a tidy table with columns ``driver``, ``group``, ``bin``, ``x`` (mean
    driver value in the bin), ``mean``, ``std`` (of daily responses), ``n_days``,
    ``n_units``. When ``relative``, responses are divided by the unit factor
    ``a_u`` of the shared model (mean 1 over units), i.e. shown for a typical unit.
    """
    uniq, codes = np.unique(data.labels.astype(str), return_inverse=True)
    day_group = codes[data.unit_idx]
    y = data.y / data.scale[data.block_idx]
    rows = []
    for driver, bins, nb, x in zip(data.drivers, data.bins, data.n_bins, data.x):
        idx = day_group * nb + bins
        n = len(uniq) * nb
        mean, xm = _centres(y, idx, n), _centres(x, idx, n)
        sq = _centres(y ** 2, idx, n)
        count = np.bincount(idx, minlength=n)
        units = np.bincount(np.unique(idx * len(data.units) + data.unit_idx) // len(data.units),
                            minlength=n)
        for k in range(n):
            if count[k]:
                rows.append({"driver": driver, "group": uniq[k // nb], "bin": k % nb, "x": xm[k],
                             "mean": mean[k], "std": float(np.sqrt(max(sq[k] - mean[k] ** 2, 0.0))),
                             "n_days": int(count[k]), "n_units": int(units[k])})
    return pd.DataFrame(rows)


def concept_shift(ds: xr.Dataset, groups: pd.Series, response: str = "RH",
                  drivers: Sequence[str] = ("TA", "SWC"), n_bins: Sequence[int] | int = 8,
                  relative: bool = True, n_permutations: int = 200,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Response curves per group and tests of whether they differ.

    Parameters
    ----------
    ds : contract dataset (unit x time) holding ``response`` and ``drivers``; a
        driver may also be ``"SWC_REL"``, soil water relative to field capacity
        (SWC / (100 FC), needs SWC and FC), the moisture index microbes respond to.
    groups : group label per unit (index unit ids); units not in it are ignored.
    n_bins : quantile intervals per driver between surface knots, also the bins of
        the displayed curves (one number for all, or one per driver).
    relative : fit a per-unit factor ``a_u`` (compare shapes, not levels).

    Returns
    -------
    (curves, tests): curves as in :func:`concept_curves`; tests one row for all
    groups together (``scope="all"``) and one per pair of groups, columns
    ``scope``, ``group_a``, ``group_b``, ``response``, ``drivers`` and the fields of
    :func:`curve_difference_test`.
    """
    data = ConceptData(ds, groups, response, drivers, n_bins, relative)
    order = list(pd.unique(data.labels.astype(str)))
    scopes = [("all", None, None)] + [("pair", a, b) for a, b in combinations(order, 2)]
    rows = []
    for scope, a, b in scopes:
        mask = None if scope == "all" else np.isin(data.labels.astype(str), [a, b])
        res = curve_difference_test(data, mask, n_permutations, seed)
        rows.append({"scope": scope, "group_a": a, "group_b": b, "response": response,
                     "drivers": "+".join(drivers), **res})
    return concept_curves(data), pd.DataFrame(rows)
