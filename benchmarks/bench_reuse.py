"""Time to result: cold, repeated and changed ``quick`` runs with reuse of trained stages, and TAM-RL ``quick``.

Usage::

    .venv/bin/python benchmarks/bench_reuse.py [--states IL IA IN] [--scheduler auto|sequential|local|ADDRESS]
                                               [--skip-tamrl] [--skip-states] [--cold-only]

Runs into a throw-away run store and an empty stage store (``KGML_STAGE_DIR``
in a temporary folder); the simulated worlds are loaded once first, so they
come from the world cache, as they do for every run after a first one. In order:

1. cold ``quick`` state-vs-global (nothing to reuse),
2. the same run again (every stage reused),
3. only the fine-tuning changed (regional step 5 epochs 30 -> 20: pretraining and global model reused),
4. only the states changed (a different state set: the pretraining on the fixed Corn Belt domain reused),
5. TAM-RL ``quick`` (cold).

Prints wall seconds, CPU seconds of this process and its children (the second
process that trains independent stages beside the run, see docs/scaling.md), of
which this process alone (``main``: on an idle machine the wall time is about that
plus the waits for the second process), the load average, what was reused, where
the independent parts ran, and the issue's targets met or missed. It asserts
nothing; timings depend on how busy the machine is (say so when quoting them).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, fn) -> dict:
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    main0, kids0 = _cpu(), _cpu(resource.RUSAGE_CHILDREN)
    run = fn()
    wall, main = time.perf_counter() - t0, _cpu() - main0
    cpu = main + _cpu(resource.RUSAGE_CHILDREN) - kids0
    metrics = run.metrics()
    reused = sorted(metrics.get("reused_stages", {}))
    row = {"label": label, "wall_s": wall, "cpu_s": cpu, "main_cpu_s": main,
           "load": (load0 + os.getloadavg()[0]) / 2, "reused": reused, "run": run.id}
    print(f"{label:<40} {wall:7.1f} s wall {cpu:7.1f} s CPU ({main:.1f} s main)  load {row['load']:4.1f}  "
          f"reused: {', '.join(reused) or 'nothing'}; parallel: {metrics.get('parallel', '-')}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", nargs="+", default=["IL", "IA", "IN"])
    parser.add_argument("--other-states", nargs="+", default=["IL", "IA", "MO"])
    parser.add_argument("--scheduler", default="auto")
    parser.add_argument("--skip-tamrl", action="store_true")
    parser.add_argument("--skip-states", action="store_true", help="skip run 4 (it reuses nothing: a cold run)")
    parser.add_argument("--cold-only", action="store_true", help="run 1 alone (the cold run; implies --skip-tamrl)")
    args = parser.parse_args()
    os.environ["KGML_STAGE_DIR"] = tempfile.mkdtemp(prefix="bench_reuse_stages_")
    os.environ.setdefault("KGML_STAGE_CACHE_MB", "2048")

    from kgml_core.experiments.state_vs_global import preset, run_state_vs_global
    from kgml_core.experiments.state_vs_global.data import load_data
    from kgml_core.experiments.tamrl.experiment import run_tamrl
    from kgml_core.runs import RunStore
    from kgml_core.training.trainer import StepConfig

    store = RunStore(Path(tempfile.mkdtemp(prefix="bench_reuse_runs_")))
    cfg = preset("quick", states=tuple(args.states), scheduler=args.scheduler)
    other = replace(cfg, states=tuple(args.other_states))
    args.skip_states |= args.cold_only
    args.skip_tamrl |= args.cold_only
    for c in (cfg,) if args.skip_states else (cfg, other):
        load_data(c)                                   # worlds into the cache, outside the timings
    tuned = replace(cfg, protocol=replace(cfg.protocol, region5=replace(cfg.protocol.region5, epochs=20)))
    print(f"cores {os.cpu_count()}, load average at start {os.getloadavg()}, scheduler {args.scheduler}")
    rows = {"cold quick": timed("cold quick", lambda: run_state_vs_global(cfg, store))}
    if not args.cold_only:
        rows["repeated quick"] = timed("repeated quick (unchanged)", lambda: run_state_vs_global(cfg, store))
        rows["fine-tuning changed"] = timed("fine-tuning changed", lambda: run_state_vs_global(tuned, store))
    if not args.skip_states:
        rows["states changed"] = timed(f"states changed ({' '.join(args.other_states)})",
                                       lambda: run_state_vs_global(other, store))
    if not args.skip_tamrl:
        from kgml_core.experiments.tamrl.config import TamrlConfig
        tcfg = TamrlConfig.from_preset("quick", scheduler=args.scheduler)
        rows["TAM-RL quick"] = timed("TAM-RL quick", lambda: run_tamrl(tcfg, store))
    limits = {"repeated quick": 20, "fine-tuning changed": 60, "states changed": 60, "cold quick": 120,
              "TAM-RL quick": 150}
    print("\ntargets (wall seconds on this machine, see the load column):")
    for name, row in rows.items():
        limit = limits[name]
        print(f"  {name:<22} {row['wall_s']:7.1f} s wall, {row['cpu_s']:6.1f} s CPU  target < {limit} s: "
              f"{'met' if row['wall_s'] < limit else 'MISSED'} (wall), "
              f"{'met' if row['cpu_s'] < limit else 'MISSED'} (CPU)")


if __name__ == "__main__":
    main()
