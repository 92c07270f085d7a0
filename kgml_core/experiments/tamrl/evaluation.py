"""Scoring held-out sites: good-QC days outside the support window, per site, then across sites."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

from kgml_core import schema
from kgml_core.metrics import paired_bootstrap_median_ratio, scores
from kgml_core.tamrl.sites import SiteArrays, TARGETS


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
    return {flux: {u: _mean_rows([t[flux][u] for t in tables]) for u in rows} for flux, rows in tables[0].items()}


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


def comparisons(part: dict, lengths: Sequence[int]) -> dict:
    """Summaries and comparisons from the per-site tables of a metrics part (``per_site``,
    ``per_site_truth``, ``per_site_curve``, ``igbp``): ``models``, ``models_truth``,
    ``relative_rmse``, ``paired``, ``per_vegetation``, ``support_curve``, ``few_shot``, ``zero_shot``.

    Also used to merge parts run separately (e.g. one fold each): concatenate
    their per-site tables, then call this once.
    """
    tables = {"obs": {**part["per_site"], **part.get("per_site_curve", {}).get("obs", {})}}
    if part.get("per_site_truth"):
        tables["truth"] = {**part["per_site_truth"], **part.get("per_site_curve", {}).get("truth", {})}
    models = [m for m in part["per_site"]]
    out = {"models": {m: summarise(part["per_site"][m]) for m in models}}
    if "truth" in tables:
        out["models_truth"] = {m: summarise(part["per_site_truth"][m]) for m in models}
    out["relative_rmse"] = relative_rmse(out["models"])
    out["paired"] = {g: paired_differences(t) for g, t in tables.items()}
    out["per_vegetation"] = {g: per_vegetation(t, part["igbp"], models) for g, t in tables.items()}
    if all(f"tamrl_support_{d}" in tables["obs"] for d in lengths):
        out["support_curve"] = {g: support_curve(t, lengths) for g, t in tables.items()}
    out["few_shot"] = {f: out["models"]["tamrl"][f] for f in TARGETS}
    out["zero_shot"] = {f: out["models"]["tamrl_zero_shot"][f] for f in TARGETS}
    return out


def merge_parts(parts: Sequence[dict], lengths: Sequence[int]) -> dict:
    """One metrics part from several run apart: folds (disjoint held-out sites) and seeds (the same
    sites again; their per-site scores are averaged, as within one run)."""
    def union(key: str, sub: str | None = None) -> dict:
        rows_of: dict = {}
        for p in parts:
            src = p.get(key, {}) if sub is None else p.get(key, {}).get(sub, {})
            for m, per_flux in src.items():
                for flux, rows in per_flux.items():
                    for u, r in rows.items():
                        rows_of.setdefault(m, {}).setdefault(flux, {}).setdefault(u, []).append(r)
        return {m: {flux: {u: _mean_rows(rs) for u, rs in rows.items()} for flux, rows in per_flux.items()}
                for m, per_flux in rows_of.items()}
    merged = {"per_site": union("per_site"), "per_site_truth": union("per_site_truth"),
              "per_site_curve": {g: union("per_site_curve", g) for g in AGAINST},
              "igbp": {u: v for p in parts for u, v in p.get("igbp", {}).items()},
              "split": "; ".join(dict.fromkeys(p.get("split", "") for p in parts)),
              "scoring": "; ".join(dict.fromkeys(p.get("scoring", "") for p in parts))}
    merged["n_test_sites"] = len(next(iter(merged["per_site"].values()), {}).get("GPP", {}))
    merged.update(comparisons(merged, lengths))
    return merged


def _mean_rows(rows: list[dict]) -> dict:
    """Per-site scores of one unit over seeds: mean R2 and RMSE, the first run's day count."""
    return {k: (int(rows[0]["n"]) if k == "n" else float(np.nanmean([r[k] for r in rows])))
            for k in ("r2", "rmse", "n")}
