"""Benchmark of the state-vs-global experiment: prints timings, the metrics table and the sweep.

Usage::

    .venv/bin/python benchmarks/bench_kgml.py --preset quick [--threads 1] [--sweep 0 0.5 1]

Runs into a throw-away run store (``KGML_RUNS_DIR`` or a temporary directory)
and prints figures; it asserts nothing. Timings depend on the load of the
machine: say how loaded it was when you quote them.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import sys

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global import metrics_table, preset, run_state_vs_global
from kgml_core.runs import RunStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=("tiny", "quick", "full"))
    parser.add_argument("--states", nargs="+", default=["IL", "IA", "IN"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sweep", type=float, nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sites-per-state", type=int, default=None, help="override the preset's flux sites")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                        help="other top-level config overrides, e.g. pretrain_units=128 hidden=48")
    args = parser.parse_args()
    extra = {} if args.sites_per_state is None else {"sites_per_state": args.sites_per_state}
    for item in args.set:
        key, _, value = item.partition("=")
        extra[key] = json.loads(value)
    root = Path(os.environ.get("KGML_RUNS_DIR") or tempfile.mkdtemp(prefix="bench_kgml_"))
    cfg = preset(args.preset, states=tuple(args.states), threads=args.threads, sweep=tuple(args.sweep),
                 seed=args.seed, **extra)
    stages: dict[str, float] = {}
    last = [time.time()]

    def timer(event) -> None:
        if event.step == event.n_steps and event.epoch == event.n_epochs:
            now = time.time()
            stages[event.stage] = stages.get(event.stage, 0.0) + now - last[0]
            last[0] = now

    start = time.time()
    run = run_state_vs_global(cfg, RunStore(root), progress=timer)
    total = time.time() - start
    m = run.metrics()
    print(f"preset {args.preset} {extra or ''}, states {' '.join(args.states)}, torch threads {torch.get_num_threads()}, "
          f"device {m.get('device')}, load average {os.getloadavg()[0]:.1f}")
    print(f"total {total:.1f} s (run reports {m['seconds']:.1f} s)")
    print(pd.Series(stages).round(1).to_string())
    table = metrics_table(m)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        for score in ("r2", "rmse", "bias"):
            print(f"\n{score}")
            print(table.pivot_table(index=["state", "model"], columns="target", values=score).round(3))
    print("\nRh RMSE difference state_specific - global (95 % CI):")
    for state, b in m["bootstrap"].items():
        d = b["RH"]["state_specific_vs_global"]
        print(f"  {state}: {d['diff']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] ({100 * d['rel_diff']:+.1f} %)")
    if "heterogeneity_sweep" in m:
        sweep = m["heterogeneity_sweep"]
        print("\nheterogeneity sweep (Rh RMSE reduction of state-specific vs global):")
        for state, row in sweep["states"].items():
            cells = ", ".join(f"h={h:g}: {100 * r:+.1f} %" for h, r in zip(sweep["values"], row["rmse_reduction"]))
            print(f"  {state}: {cells}")
    print(f"\nrun {run.id} in {root}")


if __name__ == "__main__":
    main()
