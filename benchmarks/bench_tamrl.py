"""Benchmark: the TAM-RL experiment end to end; prints the results table and timings.

Usage::

    python benchmarks/bench_tamrl.py [--preset quick|full] [--threads 2] [--no-real]

Prints median per-site R2 and RMSE per flux for every model on the held-out
virtual sites, TAM-RL's RMSE relative to each baseline, the real-tower figures
and the wall-clock and CPU time of the run.
"""
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import resource
import tempfile
import time

import pandas as pd
import torch

from kgml_core.experiments.tamrl import TARGETS, preset, run_tamrl
from kgml_core.runs import RunStore


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="quick")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-real", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = preset(args.preset, threads=args.threads, real_sites=not args.no_real)
    t0, c0 = time.time(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_tamrl(cfg, RunStore(tmp))
        m = run.metrics()
    wall, cpu = time.time() - t0, time.process_time() - c0
    rows = [{"model": name, **{f"{f} R2": s[f]["median_r2"] for f in TARGETS},
             **{f"{f} RMSE": s[f]["median_rmse"] for f in TARGETS}} for name, s in m["models"].items()]
    print(f"preset {args.preset}: {m['split']}; {m['n_test_sites']} held-out sites, seeds {list(cfg.seeds)}")
    print(pd.DataFrame(rows).set_index("model").round(3).to_string())
    print("\nTAM-RL median RMSE relative to baselines (negative = lower):")
    print(pd.DataFrame(m["relative_rmse"]).T.round(3).to_string())
    real = m.get("real_sites", {})
    if "temporal_holdout" in real:
        print(f"\nreal tower {real['target']} ({real['test_period']}):")
        print(pd.DataFrame({k: {f"{f} {s}": v[f][s] for f in TARGETS for s in ("r2", "rmse")}
                            for k, v in real["temporal_holdout"].items()}).T.round(3).to_string())
    print(f"\nwall {wall:.0f} s, CPU {cpu:.0f} s, max RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, threads {args.threads}")


if __name__ == "__main__":
    main()
