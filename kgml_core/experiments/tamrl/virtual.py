"""The held-out-site evaluation on the virtual tower network: folds over sites, seeds, scores."""
from __future__ import annotations

import numpy as np
import xarray as xr

from kgml_core.experiments.tamrl.config import MODEL_NAMES, TamrlConfig
from kgml_core.experiments.tamrl.evaluation import (_mean_tables, per_site_scores, prediction_dataset,
                                                    relative_rmse, score_mask, summarise)
from kgml_core.experiments.tamrl.training import FoldResult, site_splits, train_and_predict
from kgml_core.tasks import TARGETS, ClassVocab, SiteArrays, site_arrays
from kgml_core.upscale import Member


def run_fold(job: tuple[int, int], a: SiteArrays, vocab: ClassVocab, splits, cfg: TamrlConfig, progress=None,
             cancel=None) -> FoldResult:
    """Train and predict one (fold, seed) of ``splits`` (from :func:`site_splits`)."""
    fold, seed = job
    _, train_idx, test_idx = next(s for s in splits if s[0] == fold)
    return train_and_predict(a, vocab, train_idx, test_idx, cfg, seed, f"fold{fold}/seed{seed}", progress, cancel)


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

    ``client``: a dask.distributed client to train the (fold, seed) pairs as tasks.
    """
    a, vocab = site_arrays(ds, cfg.drivers, cfg.statics, memory=cfg.memory_days)
    labels = a.igbp if cfg.stratify == "igbp" else a.climate
    splits = site_splits(a.units, labels, cfg)
    fold_of = np.full(a.n_unit, -1, dtype=int)
    preds = {m: np.full(a.y.shape, np.nan, np.float32) for m in MODEL_NAMES}
    tables: dict[str, list[dict]] = {m: [] for m in MODEL_NAMES}
    by_seed: dict[str, dict[str, list[float]]] = {m: {f: [] for f in TARGETS} for m in MODEL_NAMES}
    members: list[Member] = []
    results = fold_results(a, vocab, splits, cfg, progress, cancel, client)
    for fold, train_idx, test_idx in splits:
        fold_of[test_idx] = fold
        seed_tables: dict[str, list[dict]] = {m: [] for m in MODEL_NAMES}
        seed_preds = {m: [] for m in MODEL_NAMES}
        for seed in cfg.seeds:
            res = results[fold, seed]
            if fold == splits[0][0]:
                members.append(res.member)
            te = a.subset(test_idx)
            mask = score_mask(te.qc, res.support_start, cfg.qc_test, cfg.train.window)
            for m in MODEL_NAMES:
                table = per_site_scores(te.y, res.predictions[m], mask, te.units)
                seed_tables[m].append(table)
                seed_preds[m].append(res.predictions[m])
                for flux, s in summarise(table).items():
                    by_seed[m][flux].append(s["median_rmse"])
        for m in MODEL_NAMES:
            tables[m].append(_mean_tables(seed_tables[m]))
            preds[m][test_idx] = np.mean(seed_preds[m], axis=0)
    per_site = {m: {flux: {u: r for t in tables[m] for u, r in t[flux].items()} for flux in TARGETS}
                for m in MODEL_NAMES}
    tested = np.nonzero(fold_of >= 0)[0]
    part = {
        "split": _split_name(cfg, splits),
        "n_test_sites": int(len(tested)),
        "n_train_sites": int(len(splits[0][1])),
        "models": {m: summarise(per_site[m]) for m in MODEL_NAMES},
        "median_rmse_by_seed": by_seed,
        "per_site": per_site,
    }
    part["relative_rmse"] = relative_rmse(part["models"])
    part["few_shot"] = {f: part["models"]["tamrl"][f] for f in TARGETS}
    part["zero_shot"] = {f: part["models"]["tamrl_zero_shot"][f] for f in TARGETS}
    return part, prediction_dataset(ds, a, preds, fold_of, tested), members


def _split_name(cfg: TamrlConfig, splits) -> str:
    if cfg.site_ids:
        return f"user-selected sites: {len(splits[0][1])} training, {len(splits[0][2])} held out"
    folds = ",".join(str(f) for f, _, _ in splits)
    return f"{cfg.k_folds}-fold over sites stratified by {cfg.stratify}; folds run: {folds}"

