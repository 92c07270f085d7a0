"""Benchmark: few-shot adaptation variants of TAM-RL on one trained model (real towers or one virtual fold).

Usage::

    python benchmarks/bench_tamrl_adaptation.py real          # the real-tower part of the quick preset
    python benchmarks/bench_tamrl_adaptation.py 0             # fold 0 of the virtual network
    python benchmarks/bench_tamrl_adaptation.py real --set real_virtual_sites=24

Trains the models once exactly as the experiment does, then predicts the
held-out sites with each adaptation variant (refinement steps, learning rate,
prior, the per-site gain/offset head, and a post-hoc ridge calibration of each
flux on the support) and prints the scores on the experiment's scored days:
per real tower GPP and NEE R2, or for a virtual fold the median per-site RMSE
and R2. This is how the variants in docs/tamrl.md ("Real towers: diagnosis and what we
tried") were measured.
"""
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

import kgml_core.experiments.tamrl.real as real_part
import kgml_core.experiments.tamrl.virtual as virtual_part
from kgml_core.experiments.tamrl import preset
from kgml_core.experiments.tamrl.data import load_real_sites, tower_network
from kgml_core.experiments.tamrl.training import train_and_predict
from kgml_core.metrics import scores
from kgml_core.tamrl.predict import predict_series
from kgml_core.tamrl.windows import first_observed_day

VARIANTS = ((60, 0.05, 10.0, False), (200, 0.05, 10.0, False), (300, 0.1, 10.0, False),
            (60, 0.05, 10.0, True), (200, 0.05, 10.0, True), (60, 0.05, 1.0, True), (60, 0.05, 100.0, True))


def trained(mode: str, name: str, settings: list[str]):
    """(config, FoldResult, raw test arrays, first scored day per test site) of one training run."""
    cfg = preset(name, threads=1)
    pairs = [s.split("=", 1) for s in settings]
    cfg = cfg.with_settings({k: cfg.parse_setting(k, v) for k, v in pairs})
    network = tower_network(cfg)
    seen: dict = {}

    def keep(a, vocab, train_idx, test_idx, c, *args, **kw):
        seen.update(a=a.subset(test_idx), cfg=c, result=train_and_predict(a, vocab, train_idx, test_idx, c,
                                                                            *args, **kw))
        return seen["result"]
    if mode == "real":
        real_part.train_and_predict = keep
        real_part.real_experiment(load_real_sites(), network, cfg)
        start = real_part.real_support(seen["a"].qc, seen["a"].time, cfg.real_short_support)[1]
    else:
        virtual_part.train_and_predict = keep
        virtual_part.virtual_experiment(network, replace(cfg, folds=(int(mode),), seeds=cfg.seeds[:1],
                                                         real_sites=False))
        start = first_observed_day(seen["a"].qc) + 365
    return seen["cfg"], seen["result"], seen["a"], start


def report(name: str, a, pred: np.ndarray, scored: np.ndarray, per_site: bool) -> None:
    cells = []
    for j, flux in ((0, "GPP"), (2, "NEE")):
        s = [scores(np.where(scored[i, :, j], a.y[i, :, j], np.nan), pred[i, :, j]) for i in range(a.n_unit)]
        if per_site:
            cells.append(f"{flux} R2 " + " ".join(f"{u} {r['r2']:+.3f}" for u, r in zip(a.units, s)))
        else:
            cells.append(f"{flux} median RMSE {np.nanmedian([r['rmse'] for r in s]):.3f} "
                         f"R2 {np.nanmedian([r['r2'] for r in s]):.3f}")
    print(f"{name:48s} " + "   ".join(cells))


def ridge_calibrated(pred: np.ndarray, a, support: np.ndarray, qc_min: float, lam: float) -> np.ndarray:
    """Per site and flux, ``g * pred + b`` fitted on the support days, ridge towards g = 1, b = 0."""
    out = pred.copy()
    for i in range(a.n_unit):
        for j in range(3):
            k = support[i] & (a.qc[i, :, j] >= qc_min) & np.isfinite(a.y[i, :, j]) & np.isfinite(pred[i, :, j])
            if k.sum() < 5:
                continue
            x = np.c_[pred[i, k, j], np.ones(k.sum())]
            g, b = np.linalg.solve(x.T @ x + lam * np.eye(2), x.T @ a.y[i, k, j] + lam * np.array([1.0, 0.0]))
            out[i, :, j] = g * pred[i, :, j] + b
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", help="'real' or a virtual fold number")
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", nargs="*", action="extend", default=[], help="configuration overrides, key=value")
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.process_time()
    cfg, result, a, start = trained(args.mode, args.preset, args.set)
    print(f"trained ({args.mode}): {time.process_time() - t0:.0f} s CPU")
    after = np.arange(a.qc.shape[1])[None, :] >= np.asarray(start)[:, None]
    scored = (a.qc >= cfg.qc_test) & after[..., None]
    per_site = args.mode == "real"
    for name in ("tamrl_zero_shot", "gbm", "tamrl"):
        report(f"as run: {name}", a, result.predictions[name], scored, per_site)
    member = result.member
    tes = member.scaler.transform(a)
    for steps, lr, prior, head in VARIANTS:
        tc = replace(cfg.train, adapt_steps=steps, adapt_lr=lr, adapt_prior=prior, adapt_head=head)
        pred = predict_series(member.model, tes, member.scaler, tc, result.support)
        report(f"{'z + gain/offset' if head else 'z only'}, {steps} steps, lr {lr}, prior {prior}", a, pred,
               scored, per_site)
        if (steps, lr, prior, head) == VARIANTS[0]:
            for lam in (10.0, 100.0):
                report(f"  then ridge calibration on the support, {lam}", a,
                       ridge_calibrated(pred, a, result.support, cfg.train.qc_min, lam), scored, per_site)


if __name__ == "__main__":
    main()
