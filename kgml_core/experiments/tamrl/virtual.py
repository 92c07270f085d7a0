"""The held-out-site evaluation on the virtual tower network: folds over sites, seeds, scores."""
from __future__ import annotations

import numpy as np
import xarray as xr

from kgml_core.experiments.tamrl.config import MODEL_NAMES, TamrlConfig
from kgml_core.experiments.tamrl.evaluation import (AGAINST, _mean_tables, comparisons, per_site_scores,
                                                    prediction_dataset, scored_days, strata_labels, summarise,
                                                    truth_arrays)
from kgml_core.experiments.tamrl.training import FoldResult, site_splits, train_and_predict
from kgml_core.tamrl.sites import ClassVocab, SiteArrays, TARGETS, site_arrays
from kgml_core.tamrl.windows import first_observed_day
from kgml_core.tamrl.upscale import Member


def run_fold(job: tuple[int, int], a: SiteArrays, vocab: ClassVocab, splits, cfg: TamrlConfig, progress=None,
             cancel=None) -> FoldResult:
    """Train and predict one (fold, seed) of ``splits`` (from :func:`site_splits`)."""
    fold, seed = job
    _, train_idx, test_idx = next(s for s in splits if s[0] == fold)
    return train_and_predict(a, vocab, train_idx, test_idx, cfg, seed, f"fold{fold}/seed{seed}", progress, cancel,
                             with_curve=True)


def fold_results(a: SiteArrays, vocab: ClassVocab, splits, cfg: TamrlConfig, progress=None, cancel=None,
                 client=None) -> dict[tuple[int, int], FoldResult]:
    """Every (fold, seed) of ``splits`` trained: in this process, or one Dask task each with ``client``.

    Dask tasks report no progress and cannot be cancelled mid-task; results are
    the same either way (each task seeds its own generators).
    """
    jobs = [(fold, seed) for fold, _, _ in splits for seed in cfg.seeds]
    if client is None:
        return {job: run_fold(job, a, vocab, splits, cfg, progress, cancel) for job in jobs}
    from kgml_core.distributed import map_tasks
    return dict(zip(jobs, map_tasks(run_fold, jobs, client, a=a, vocab=vocab, splits=splits, cfg=cfg)))


def virtual_experiment(ds: xr.Dataset, cfg: TamrlConfig, progress=None, cancel=None, client=None):
    """Held-out-site evaluation on a site dataset; returns (metrics part, predictions, members).

    Every model is scored on the same days of each held-out site: after its
    first year of record (the few-shot support comes from that year), against
    the observations (QC >= ``cfg.qc_test``) and, on a simulated network, against
    the simulator's noise-free truth (every day). ``client``: a dask.distributed
    client to train the (fold, seed) pairs as tasks.
    """
    a, vocab = site_arrays(ds, cfg.drivers, cfg.statics, memory=cfg.memory_days)
    truth = truth_arrays(ds)
    splits = site_splits(a.units, strata_labels(a, cfg.stratify), cfg)
    curve_names = tuple(f"tamrl_support_{d}" for d in cfg.support_curve)
    names = MODEL_NAMES + curve_names
    against = AGAINST if truth is not None else ("obs",)
    fold_of = np.full(a.n_unit, -1, dtype=int)
    preds = {m: np.full(a.y.shape, np.nan, np.float32) for m in MODEL_NAMES}
    tables: dict[str, dict[str, list[dict]]] = {g: {m: [] for m in names} for g in against}
    by_seed: dict[str, dict[str, list[float]]] = {m: {f: [] for f in TARGETS} for m in MODEL_NAMES}
    members: list[Member] = []
    results_by_job = fold_results(a, vocab, splits, cfg, progress, cancel, client)
    for fold, train_idx, test_idx in splits:
        fold_of[test_idx] = fold
        te = a.subset(test_idx)
        start = first_observed_day(te.qc) + 365
        masks = {"obs": scored_days(te.qc, start, cfg.qc_test), "truth": scored_days(te.qc, start, None)}
        target = {"obs": te.y, "truth": truth[test_idx] if truth is not None else None}
        seed_tables: dict[str, dict[str, list[dict]]] = {g: {m: [] for m in names} for g in against}
        seed_preds = {m: [] for m in MODEL_NAMES}
        for seed in cfg.seeds:
            res = results_by_job[fold, seed]
            if fold == splits[0][0]:
                members.append(res.member)
            for g in against:
                for m in names:
                    seed_tables[g][m].append(per_site_scores(target[g], res.predictions[m], masks[g], te.units))
            for m in MODEL_NAMES:
                seed_preds[m].append(res.predictions[m])
                for flux, sm in summarise(seed_tables["obs"][m][-1]).items():
                    by_seed[m][flux].append(sm["median_rmse"])
        for g in against:
            for m in names:
                tables[g][m].append(_mean_tables(seed_tables[g][m]))
        for m in MODEL_NAMES:
            preds[m][test_idx] = np.mean(seed_preds[m], axis=0)
    per_site = {g: {m: {flux: {u: r for t in tables[g][m] for u, r in t[flux].items()} for flux in TARGETS}
                    for m in names} for g in against}
    tested = np.nonzero(fold_of >= 0)[0]
    igbp = {str(u): str(v) for u, v in zip(a.units, a.igbp)}
    part = {
        "split": _split_name(cfg, splits),
        "n_test_sites": int(len(tested)),
        "n_train_sites": int(len(splits[0][1])),
        "scoring": (f"every model on the same days: after each held-out site's first year of record; "
                    f"observations with QC >= {cfg.qc_test}" + ("; truth: the simulator's noise-free fluxes, "
                                                                  "every day" if truth is not None else "")),
        "support_days": int(cfg.support_days),
        "models": {m: summarise(per_site["obs"][m]) for m in MODEL_NAMES},
        "median_rmse_by_seed": by_seed,
        "per_site": {m: per_site["obs"][m] for m in MODEL_NAMES},
    }
    part["per_site_truth"] = {m: per_site["truth"][m] for m in MODEL_NAMES} if truth is not None else {}
    part["per_site_curve"] = {g: {m: per_site[g][m] for m in curve_names} for g in against}
    part["igbp"] = {u: igbp[u] for u in part["per_site"]["tamrl"]["GPP"]}
    part.update(comparisons(part, cfg.support_curve))
    return part, prediction_dataset(ds, a, preds, fold_of, tested), members


def _split_name(cfg: TamrlConfig, splits) -> str:
    if cfg.site_ids:
        return f"user-selected sites: {len(splits[0][1])} training, {len(splits[0][2])} held out"
    folds = ",".join(str(f) for f, _, _ in splits)
    return f"{cfg.k_folds}-fold over sites stratified by {cfg.stratify}; folds run: {folds}"

