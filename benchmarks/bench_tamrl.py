"""Benchmark: the TAM-RL experiment end to end; prints the results tables, the targets and timings.

Usage::

    python benchmarks/bench_tamrl.py [--preset quick|full] [--folds all|0,1] [--seeds 0,1,2]
                                     [--threads 2] [--no-real] [--json out.json]
    python benchmarks/bench_tamrl.py --merge fold0.json fold1.json ...   # runs made apart, one table

Prints, for the held-out virtual sites, median per-site RMSE (quartiles) per
model and flux against the observations and against the simulator's truth,
paired bootstrap intervals of every model difference, the support-length
curve and the per-vegetation table; the real towers zero- and few-shot; the
issue's targets (met or missed) and the wall-clock and CPU time of the run.
"""
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import json
import os
import resource
import tempfile
import time

import pandas as pd
import torch

from kgml_core.experiments.tamrl import preset, run_tamrl
from kgml_core.experiments.tamrl.evaluation import merge_parts
from kgml_core.runs import RunStore

FLUXES = ("GPP", "NEE", "RECO")


def _models_table(models: dict) -> pd.DataFrame:
    return pd.DataFrame({m: {f: f"{s[f]['median_rmse']:.3f} ({s[f]['q25_rmse']:.2f}-{s[f]['q75_rmse']:.2f})"
                             for f in FLUXES} for m, s in models.items()}).T


def _paired_table(paired: dict) -> pd.DataFrame:
    return pd.DataFrame({pair: {f: f"{100 * r['rel']:+.1f} % [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}]"
                                for f, r in per.items()} for pair, per in paired.items()}).T[list(FLUXES)]


def _curve_table(curve: dict) -> pd.DataFrame:
    return pd.DataFrame({f: {f"{d} d": f"{r['median_rmse']:.3f} ({100 * r['vs_zero_shot']['rel']:+.1f} % "
                                        f"[{100 * r['vs_zero_shot']['lo']:+.1f}, {100 * r['vs_zero_shot']['hi']:+.1f}])"
                             for d, r in rows.items()} for f, rows in curve.items()})[list(FLUXES)]


def _veg_table(veg: dict, flux: str) -> pd.DataFrame:
    return pd.DataFrame({c: {"sites": row["n_sites"], **{m: round(row[m][flux], 3) for m in row if m != "n_sites"}}
                         for c, row in veg.items()}).T


def targets(m: dict) -> list[tuple[str, str, bool]]:
    """The issue's targets: (what, measured, met)."""
    out = []
    paired = m.get("paired", {}).get("obs", {})
    for f in ("GPP", "NEE"):
        r = paired.get("tamrl_vs_gbm", {}).get(f)
        if r:
            out.append((f"TAM-RL few-shot {f} median RMSE <= -8 % vs tuned GBM, interval excludes 0",
                        f"{100 * r['rel']:+.1f} % [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}]",
                        r["rel"] <= -0.08 and r["hi"] < 0))
        r = paired.get("tamrl_vs_tamrl_zero_shot", {}).get(f)
        if r:
            out.append((f"few-shot {f} <= -5 % vs zero-shot", f"{100 * r['rel']:+.1f} % "
                        f"[{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}]", r["rel"] <= -0.05))
    curve = m.get("support_curve", {}).get("obs", {})
    for f in ("GPP", "NEE"):
        rows = curve.get(f)
        if rows:
            values = [rows[d]["median_rmse"] for d in sorted(rows, key=int)]
            falling = all(b <= a + 1e-9 for a, b in zip(values, values[1:]))
            out.append((f"{f} support curve falls with support length", " > ".join(f"{v:.3f}" for v in values),
                        falling))
    sites = m.get("real_sites", {}).get("sites", {}).get("tamrl", {}).get("GPP", {})
    for site, need in (("US-AR1", 0.5), ("US-Wi7", 0.5), ("US-Ne1", 0.90)):
        if site in sites:
            r2 = sites[site]["r2"]
            out.append((f"{site} few-shot GPP R2 >= {need}", f"{r2:.3f}", r2 >= need))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="quick")
    p.add_argument("--folds", default="", help="'all' or comma-separated folds (default: the preset's)")
    p.add_argument("--seeds", default="", help="comma-separated seeds (default: the preset's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-real", action="store_true")
    p.add_argument("--json", type=_Path, default=None, help="also write the metrics here")
    p.add_argument("--merge", type=_Path, nargs="+", default=None,
                   help="metrics JSON files of runs over disjoint held-out sites (e.g. one fold each): "
                        "print their merged tables instead of running")
    args = p.parse_args()
    if args.merge:
        parts = [json.loads(f.read_text()) for f in args.merge]
        merged = merge_parts(parts, tuple(int(d) for d in parts[0]["support_curve"]["obs"]["GPP"]))
        merged["real_sites"] = next((q["real_sites"] for q in parts if "sites" in q.get("real_sites", {})), {})
        print(f"merged {len(parts)} runs: {merged['split']}; {merged['n_test_sites']} held-out sites")
        print(f"seconds per run: {[round(q.get('seconds', float('nan'))) for q in parts]}")
        report(merged)
        return
    torch.set_num_threads(args.threads)
    over = {"threads": args.threads, "real_sites": not args.no_real}
    if args.folds:
        over["folds"] = () if args.folds == "all" else tuple(int(f) for f in args.folds.split(","))
    if args.seeds:
        over["seeds"] = tuple(int(s) for s in args.seeds.split(","))
    cfg = preset(args.preset, **over)
    load0, t0, c0, k0 = os.getloadavg(), time.time(), time.process_time(), _children_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_tamrl(cfg, RunStore(tmp))
        m = run.metrics()
    wall, cpu, child_cpu = time.time() - t0, time.process_time() - c0, _children_cpu() - k0
    if args.json:
        args.json.write_text(json.dumps(m, default=float))
    print(f"preset {args.preset}: {cfg.n_sites} virtual sites {cfg.years[0]}-{cfg.years[1]}; {m['split']}; "
          f"{m['n_test_sites']} held-out sites; seeds {list(cfg.seeds)}; few-shot support {cfg.support_days} d")
    report(m)
    print(f"\nwall {wall:.0f} s, CPU {cpu + child_cpu:.0f} s (this process {cpu:.0f} s, child processes "
          f"{child_cpu:.0f} s), max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"threads {args.threads}; load average (1, 5, 15 min) before {_load(load0)}, after {_load(os.getloadavg())}")
    print(f"target TAM-RL {args.preset} < 150 s wall: {'met' if wall < 150 else 'MISSED'} ({wall:.0f} s; "
          f"wall times are only comparable on a quiet machine)")


def _children_cpu() -> float:
    """CPU seconds of finished child processes (the fold's second process, see training._second_process)."""
    t = os.times()
    return t.children_user + t.children_system


def _load(avg) -> str:
    return ", ".join(f"{v:.1f}" for v in avg)


def report(m: dict) -> None:
    """Print every table of a TAM-RL metrics dict and the issue's targets."""
    print(f"scoring: {m.get('scoring', '')}")
    print("\nmedian per-site RMSE (quartiles), g C m-2 d-1, against the observations:")
    print(_models_table(m["models"]).to_string())
    if "models_truth" in m:
        print("\nagainst the simulator's noise-free truth:")
        print(_models_table(m["models_truth"]).to_string())
    for g, paired in m.get("paired", {}).items():
        print(f"\npaired bootstrap of median per-site RMSE ({g}; negative = first model lower):")
        print(_paired_table(paired).to_string())
    for g, curve in m.get("support_curve", {}).items():
        print(f"\nsupport-length curve ({g}): median RMSE (vs zero-shot, paired interval):")
        print(_curve_table(curve).to_string())
    for f in ("GPP", "NEE"):
        print(f"\nper vegetation type, median {f} RMSE (obs):")
        print(_veg_table(m["per_vegetation"]["obs"], f).to_string())
    real = m.get("real_sites", {})
    if "sites" in real:
        print(f"\nreal towers (support: {json.dumps(real.get('support'))}); GPP / NEE R2:")
        rows = {mod: {f"{s} {f}": real["sites"][mod][f][s]["r2"] for f in ("GPP", "NEE") for s in real["sites"][mod][f]}
                for mod in real["sites"]}
        print(pd.DataFrame(rows).T.round(3).to_string())
    print("\ntargets:")
    for what, value, met in targets(m):
        print(f"  [{'met' if met else 'MISSED'}] {what}: {value}")


if __name__ == "__main__":
    main()
