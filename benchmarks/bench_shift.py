"""Time the full shift diagnostic on the simulator world (default: IL IA IN, 2000-2019).

Usage: python benchmarks/bench_shift.py [--years 2000 2019] [--threads 2] [--permutations 200]
Prints the world's size, the seconds of each stage and of :func:`diagnose` as a whole.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--states", nargs="+", default=["IL", "IA", "IN"])
    p.add_argument("--years", nargs=2, type=int, default=[2000, 2019])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--permutations", type=int, default=200)
    args = p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    from kgml_core.shift import concept_shift, diagnose, pairwise_shift, unit_features
    from kgml_core.shift.report import default_groups
    from kgml_core.simulator import WorldConfig, load_world

    t0 = time.perf_counter()
    ds = load_world(WorldConfig(states=tuple(args.states), years=tuple(args.years))).load()
    print(f"world: {ds.sizes['unit']} units x {ds.sizes['time']} days "
          f"(loaded/simulated in {time.perf_counter() - t0:.1f} s)")
    groups = default_groups(ds)
    stages = {
        "unit_features": lambda: unit_features(ds),
        "pairwise covariate shift": lambda: pairwise_shift(unit_features(ds), groups, args.permutations),
        "concept shift": lambda: concept_shift(ds, groups, drivers=("TA", "SWC_REL"),
                                               n_permutations=args.permutations),
    }
    for name, fn in stages.items():
        t, c = time.perf_counter(), time.process_time()
        fn()
        print(f"{name:>26}: {time.perf_counter() - t:6.2f} s wall, {time.process_time() - c:6.2f} s CPU")
    t, c = time.perf_counter(), time.process_time()
    report = diagnose(ds, n_permutations=args.permutations)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"{'diagnose (full)':>26}: {wall:6.2f} s wall, {cpu:6.2f} s CPU ({args.threads} threads, "
          f"{args.permutations} permutations; target < 20 s wall)")
    print(report.pairwise[["group_a", "group_b", "mmd2", "p_value", "auc"]].to_string(index=False))
    print(report.concept_tests[["scope", "group_a", "group_b", "eta2", "p_value"]].to_string(index=False))


if __name__ == "__main__":
    main()
