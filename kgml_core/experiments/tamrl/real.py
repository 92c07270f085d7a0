"""Real FLUXNET towers: a temporal hold-out at one tower; zero- and few-shot at every tower."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr

from kgml_core.experiments.tamrl.config import MODEL_NAMES, REAL_DRIVERS, TamrlConfig
from kgml_core.experiments.tamrl.evaluation import per_site_scores, prediction_dataset, score_mask, scored_days
from kgml_core.experiments.tamrl.training import train_and_predict
from kgml_core.metrics import scores
from kgml_core.tamrl.sites import ClassVocab, SiteArrays, TARGETS, doy_features, site_arrays
from kgml_core.tamrl.windows import first_observed_day, support_mask


def real_experiment(real: xr.Dataset, network: xr.Dataset, cfg: TamrlConfig, progress=None, cancel=None):
    """Temporal hold-out at ``cfg.real_target``; zero- and few-shot at every real site.

    Training set: the target tower before ``real_test_start`` plus
    ``real_virtual_sites`` virtual towers spread over the network's vegetation types
    (:func:`spread_over_types`: more tasks for the encoders, every type among them), on the
    drivers every FLUXNET SUBSET file has. Few-shot TAM-RL at every real site
    reads its first year of record (:func:`real_support`: a site with one year
    only, its first ``real_short_support`` days); each site is scored after its
    support (the target only in its test years). The other real sites are never
    seen in training.
    """
    if cfg.real_target not in set(map(str, real["unit"].values)):
        raise ValueError(f"real_target '{cfg.real_target}' is not among the real sites "
                         f"{sorted(map(str, real['unit'].values))}")
    rcfg = replace(cfg, drivers=REAL_DRIVERS, train=replace(cfg.train, adapt_head=cfg.real_adapt_head))
    virtual = network.isel(unit=spread_over_types(network["IGBP"].values, cfg.real_virtual_sites))
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


def spread_over_types(igbp: np.ndarray, n: int) -> np.ndarray:
    """Positions of ``n`` sites taken in turn from each vegetation type (in site order), so that every type
    of the network is among the tasks even when ``n`` is small; sorted."""
    igbp = np.asarray(igbp).astype(str)
    queues = [list(np.flatnonzero(igbp == c)) for c in np.unique(igbp)]
    picked: list[int] = []
    while len(picked) < min(n, len(igbp)):
        for q in queues:
            if q and len(picked) < n:
                picked.append(int(q.pop(0)))
    return np.sort(np.array(picked, dtype=int))


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
    x = cat("x", np.nan)
    x[..., -2:] = doy_features(time)[None]
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
    for m in real_models(results):
        pred = np.mean([r.predictions[m] for r in results], axis=0)
        out["temporal_holdout"][m] = {
            flux: {k: scores(np.where(mask_t[:, j], a.y[target, :, j], np.nan), pred[target, :, j])[k]
                   for k in ("r2", "rmse", "n")} for j, flux in enumerate(TARGETS)}
        out["sites"][m] = per_site_scores(a.y, pred, mask, a.units)
        out["zero_shot_sites"][m] = {f: {u: r for u, r in rows.items() if u != cfg.real_target}
                                     for f, rows in out["sites"][m].items()}
    return out


def real_models(results) -> tuple[str, ...]:
    """The models scored at the real towers: :data:`MODEL_NAMES`, plus the embedding-only few-shot
    (``tamrl_z_only``) when few-shot also fitted per-site gains."""
    return MODEL_NAMES + tuple(m for m in ("tamrl_z_only",) if m in results[0].predictions)


def _real_dataset(real: xr.Dataset, a: SiteArrays, results) -> xr.Dataset:
    """Observed and predicted fluxes at the real sites (seed means), dims (model, unit, time)."""
    preds = {m: np.mean([r.predictions[m] for r in results], axis=0) for m in real_models(results)}
    return prediction_dataset(real, a, preds, np.full(a.n_unit, -1), np.arange(a.n_unit))

