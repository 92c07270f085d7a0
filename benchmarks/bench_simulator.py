"""Speed and memory of the simulator (prints figures; not a test).

Usage: ``python benchmarks/bench_simulator.py [--conus] [--threads 2]``.
Targets: 3 states (293 counties) x 20 years daily under 5 s; every conterminous
county (about 3,100) x 20 years under 60 s and 4 GiB, on 2 CPU cores.
"""
from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # run from anywhere

import argparse
import os
import resource
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conus", action="store_true", help="also run all conterminous counties")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from kgml_core import geo
    from kgml_core.simulator import TowerConfig, WorldConfig, simulate_tower_network, simulate_world

    geo.load_counties(None)  # read the shapefile once, outside the timings
    cases = [("3 states (IL IA IN) x 20 years", WorldConfig(years=(2000, 2019))),
             ("tower network 160 sites x 12 years", TowerConfig())]
    if args.conus:
        cases.append(("all CONUS counties x 20 years",
                      WorldConfig(states=tuple(geo.CONUS_STATES), years=(2000, 2019))))
    for label, cfg in cases:
        start = time.perf_counter()
        ds = simulate_tower_network(cfg) if isinstance(cfg, TowerConfig) else simulate_world(cfg)
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        print(f"{label:40s} {ds.sizes['unit']:5d} units x {ds.sizes['time']} days: "
              f"{wall:6.2f} s, dataset {ds.nbytes / 2 ** 30:.2f} GiB, peak RSS so far {peak:.2f} GiB")
        del ds
    return 0


if __name__ == "__main__":
    sys.exit(main())
