"""Benchmark of the state-vs-global experiment against the targets of issue 14; prints every figure.

Usage::

    .venv/bin/python benchmarks/bench_kgml.py --preset quick --seeds 0 1 2 [--sweep 0] [--set KEY=JSON ...]
    .venv/bin/python benchmarks/bench_kgml.py --combine seed0.json seed1.json seed2.json

Runs the experiment once per seed into a throw-away run store
(``KGML_RUNS_DIR`` or a temporary directory), then prints per seed and over
seeds: the timings, the held-out Rh RMSE of global and state-specific models
with paired bootstrap intervals, the oracle ceiling and the fraction of it
reached, the heterogeneity-0 difference (``--sweep 0``, pretraining reused),
held-out R2, the process-model rungs against the state-specific models, the
emulator's own error and the estimated Q10 against the truth, and finally
each target as met or missed. It asserts nothing. ``--combine`` prints the
summary over seeds of runs saved with ``--json`` by separate processes (a
``full`` seed takes hours: seeds run one at a time, or in separate sessions). Timings depend on the load
of the machine: say how loaded it was when you quote them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global import metrics_table, preset, run_state_vs_global  # noqa: E402
from kgml_core.runs import RunStore  # noqa: E402


def run_seed(args, seed: int, extra: dict, root: Path) -> tuple[dict, float, dict]:
    """One run; returns its metrics, wall seconds and per-stage seconds (``cpu``: the run's CPU seconds)."""
    top = {k: v for k, v in extra.items() if "." not in k}
    cfg = preset(args.preset, states=tuple(args.states), threads=args.threads, sweep=tuple(args.sweep),
                 seed=seed, **top)
    nested = {k: v for k, v in extra.items() if "." in k}
    cfg = cfg.with_settings(nested) if nested else cfg
    stages: dict[str, float] = {}
    last = [time.time()]

    def timer(event) -> None:
        if event.step == event.n_steps and event.epoch == event.n_epochs:
            now = time.time()
            stages[event.stage] = stages.get(event.stage, 0.0) + now - last[0]
            last[0] = now

    start, cpu = time.time(), time.process_time()
    run = run_state_vs_global(cfg, RunStore(root), progress=timer)
    stages["cpu"] = time.process_time() - cpu        # one torch thread: CPU time robust to the machine's load
    return run.metrics(), time.time() - start, stages


def pct(x: float) -> str:
    return f"{100 * x:+.1f} %" if np.isfinite(x) else "n/a"


def print_seed(seed: int, m: dict, wall: float, stages: dict) -> None:
    print(f"\n=== seed {seed}: {wall:.1f} s wall, {stages.get('cpu', float('nan')):.1f} s CPU (run reports "
          f"{m['seconds']:.1f} s), load average now {os.getloadavg()[0]:.1f}, reused stages "
          f"{sorted(m.get('reused_stages') or {})}")
    print(pd.Series(stages).round(1).to_string())
    table = metrics_table(m)
    with pd.option_context("display.width", 200, "display.max_rows", 300, "display.max_columns", 20):
        for score in ("r2", "rmse"):
            print(f"\nheld-out {score} (held-out counties + held-out years)")
            print(table.pivot_table(index=["state", "model"], columns="target", values=score).round(3))


def gains(m: dict) -> pd.DataFrame:
    """Per state: Rh RMSE of the rungs, the gain with its interval, the ceiling and the fraction."""
    rows = []
    for state, c in m["ceiling"]["RH"].items():
        ci = m["bootstrap"][state]["RH"]["state_specific_vs_global"]
        rows.append({"state": state, "global": c["global_rmse"], "state_specific": c["state_specific_rmse"],
                     "gain": c["realised"], "diff": ci["diff"], "lo": ci["lo"], "hi": ci["hi"],
                     "oracle_global": c["oracle_global_rmse"], "oracle_state": c["oracle_state_rmse"],
                     "ceiling": c["ceiling"], "fraction": c["fraction"],
                     "oracle_towers": c.get("oracle_towers_rmse", np.nan),
                     "towers_ceiling": c.get("towers_ceiling", np.nan),
                     "towers_fraction": c.get("towers_fraction", np.nan),
                     "emulator_ceiling": c.get("emulator_ceiling", np.nan),
                     "emulator_fraction": c.get("emulator_fraction", np.nan)})
    return pd.DataFrame(rows).set_index("state")


def q10_table(m: dict, names=("RH_Q10", "RH_SWC_OPT", "DRAINAGE")) -> pd.DataFrame:
    """Estimated and true parameters per model (``names``), with the pull chosen by validation (NaN: fixed)."""
    p = m.get("parameters") or {}
    rows = []
    for kind in ("global", "state", "region"):
        for group, v in (p.get(kind) or {}).items():
            rows.append({"kind": kind, "group": group, "pull": (v.get("pull") or {}).get("chosen", np.nan),
                         **{f"{k}_est": v["estimated"][k] for k in names},
                         **{f"{k}_true": v["truth"].get(k, np.nan) for k in names}})
    return pd.DataFrame(rows)


def parameter_errors(m: dict) -> pd.DataFrame:
    """Every estimated parameter against the truth of the same counties: (estimate - truth) / prior sd."""
    from kgml_core.simulator.parameters import prior_sd

    p = m.get("parameters") or {}
    rows = []
    for kind in ("global", "state", "region"):
        for group, v in (p.get(kind) or {}).items():
            rows.append({"kind": kind, "group": group, **{k: (v["estimated"][k] - v["truth"].get(k, np.nan))
                                                            / prior_sd(k) for k in p["names"]}})
    return pd.DataFrame(rows)


def summary(results: dict[int, dict], walls: dict[int, float]) -> None:
    seeds = sorted(results)
    print("\n=== over seeds", seeds)
    g = pd.concat({s: gains(results[s]) for s in seeds}, names=["seed"])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\nRh RMSE (g C m-2 d-1), gain = 1 - state/global, diff [lo, hi] = paired 95 % bootstrap over counties,"
              "\nceiling = 1 - oracle_state/oracle_global, fraction = gain / ceiling; towers_ceiling = 1 -"
              "\noracle_towers/oracle_global (the state's tower hosts' mean true parameters: what its towers"
              "\nallow), towers_fraction = gain / it; emulator_ceiling = 1 - emulator_state/global (a perfect"
              "\nestimate with this emulator), emulator_fraction = gain / it")
        print(g.round(3))
        mean = g.groupby("state").mean()
        print("\nmean over seeds")
        print(mean.round(3))
    states = list(mean.index)
    targets = []
    for st in states:
        rows = g.xs(st, level="state")
        ok = bool((rows["gain"] >= 0.15).all() and (rows["hi"] < 0).all())
        targets.append((f"{st}: state-specific Rh RMSE >= 15 % below global, interval excludes 0, every seed",
                        ok, ", ".join(f"{pct(a)} [{b:+.3f}, {c:+.3f}]" for a, b, c in
                                      zip(rows["gain"], rows["lo"], rows["hi"]))))
        targets.append((f"{st}: at least half of the oracle ceiling", bool((rows["fraction"] >= 0.5).all()),
                        ", ".join(f"{f:.2f} of {pct(c)}" for f, c in zip(rows["fraction"], rows["ceiling"]))))
        if np.isfinite(rows["towers_ceiling"]).any():
            print(f"  (report) {st}: ceilings oracle / towers / emulator, gain, 15 % above the towers ceiling: "
                  + ", ".join(f"seed {s} {pct(c)} / {pct(t)} / {pct(e)}, {pct(a)}, {'yes' if t < 0.15 else 'no'}"
                              for s, c, t, e, a in zip(rows.index, rows["ceiling"], rows["towers_ceiling"],
                                                       rows["emulator_ceiling"], rows["gain"])))
    # heterogeneity 0
    without = [s for s in seeds if 0.0 not in (results[s].get("heterogeneity_sweep") or {}).get("values", [])]
    if without:
        print(f"  (report) the h = 0 point was not run in seeds {without}")
    for s in seeds:
        sweep = results[s].get("heterogeneity_sweep")
        if not sweep or 0.0 not in sweep["values"]:
            continue
        j = sweep["values"].index(0.0)
        for st, row in sweep["states"].items():
            red = row["rmse_reduction"][j]
            targets.append((f"seed {s} {st}: h = 0 difference within +-3 %", abs(red) <= 0.03,
                            f"{pct(red)} (diff {row['diff'][j]:+.4f} [{row['lo'][j]:+.4f}, {row['hi'][j]:+.4f}])"))
    # held-out R2 and rungs
    for st in states:
        r2 = [results[s]["states"][st]["state_specific"]["RH"]["r2"] for s in seeds]
        if st in ("IL", "IN"):
            targets.append((f"{st}: held-out Rh R2 >= 0.90 (state-specific)", min(r2) >= 0.90,
                            ", ".join(f"{v:.3f}" for v in r2)))
        for k in ("RH", "RECO", "NEE", "YIELD"):
            sv = [results[s]["states"][st]["state_specific"][k]["rmse"] for s in seeds]
            pv = [results[s]["states"][st]["process_model"][k]["rmse"] for s in seeds]
            line = ", ".join(f"{a:.3f} vs {b:.3f}" for a, b in zip(sv, pv))
            if k == "YIELD":
                print(f"  (report) {st}: yield RMSE state-specific vs process model: {line}")
                continue
            targets.append((f"{st}: state-specific {k} RMSE below the default-parameter process model",
                            all(a < b for a, b in zip(sv, pv)), line))
    # Q10
    for s in seeds:
        q = q10_table(results[s])
        if q.empty:
            continue
        print(f"\nseed {s}: estimated parameters (physical units) against the mean truth of the same counties")
        print(q.round(3).to_string(index=False))
        print("estimate - truth in prior standard deviations")
        print(parameter_errors(results[s]).round(2).to_string(index=False))
        for _, row in q[q["kind"] == "state"].iterrows():
            err = row["RH_Q10_est"] - row["RH_Q10_true"]
            targets.append((f"seed {s} {row['group']}: estimated Q10 within 0.25 of the state-mean truth",
                            abs(err) <= 0.25, f"{row['RH_Q10_est']:.2f} vs {row['RH_Q10_true']:.2f}"))
    # emulator
    for s in seeds:
        for split, mm in results[s]["by_split"].items():
            cells = [f"{st} {mm[st]['emulator_oracle']['RH']['rmse']:.3f}" for st in states
                     if "emulator_oracle" in mm[st]]
            if cells:
                worst = max(mm[st]["emulator_oracle"]["RH"]["rmse"] for st in states if "emulator_oracle" in mm[st])
                targets.append((f"seed {s}: emulator (true parameters) Rh RMSE <= 0.2 on {split}",
                                worst <= 0.2, ", ".join(cells)))
        pre = results[s].get("pretraining")
        if pre and pre.get("rh_rmse_own_samples") is not None:
            print(f"\nseed {s}: pretraining {pre['counties']} counties of {pre['states'] or 'the modelled states'} x "
                  f"{pre['years']}, {pre['samples']} samples; emulator Rh RMSE on its own pretraining samples "
                  f"{pre['rh_rmse_own_samples']:.3f}")
    walls_list = [walls[s] for s in seeds]
    print("\nwall seconds per run:", ", ".join(f"{w:.0f}" for w in walls_list))
    print("\nTARGETS")
    for name, ok, detail in targets:
        print(f"  [{'met' if ok else 'MISSED'}] {name}: {detail}")


def combined(paths: list[str]) -> dict[int, dict]:
    """Every seed's metrics from files written by ``--json``; a seed found in two files is an error."""
    results, source = {}, {}
    for path in paths:
        try:
            saved = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"--combine: cannot read {path}: {e} (expected a file written by --json)")
        if not isinstance(saved, dict) or not all(isinstance(m, dict) and "ceiling" in m for m in saved.values()):
            raise SystemExit(f"--combine: {path} is not a file written by --json (seed -> the run's metrics)")
        for seed, m in saved.items():
            if int(seed) in results:
                raise SystemExit(f"--combine: seed {seed} is in both {source[int(seed)]} and {path}")
            results[int(seed)], source[int(seed)] = m, path
    if not results:
        raise SystemExit("--combine: the files hold no run")
    return results


def build_parser() -> argparse.ArgumentParser:
    """The command line; ``--set`` may be given several times (its items add up)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=("tiny", "quick", "full"))
    parser.add_argument("--states", nargs="+", default=["IL", "IA", "IN"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sweep", type=float, nargs="*", default=[0.0],
                        help="heterogeneity values rerun with the pretraining reused (default: 0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sites-per-state", type=int, default=None, help="override the preset's flux sites")
    parser.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=JSON",
                        help="other config overrides, e.g. pretrain_units=128 hidden=48 "
                             "protocol.region5.l2sp=1e-3 (dotted keys reach nested settings)")
    parser.add_argument("--json", default=None, help="also write every seed's metrics to this file")
    parser.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                        help="run nothing: print the summary over the seeds saved by earlier --json runs "
                             "(wall seconds: each run's own)")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.combine:
        results = combined(args.combine)
        print(f"combined {len(results)} seeds {sorted(results)} from {' '.join(args.combine)}")
        summary(results, {s: float(m["seconds"]) for s, m in results.items()})
        return
    extra = {} if args.sites_per_state is None else {"sites_per_state": args.sites_per_state}
    for item in args.set:
        key, _, value = item.partition("=")
        extra[key] = json.loads(value)
    root = Path(os.environ.get("KGML_RUNS_DIR") or tempfile.mkdtemp(prefix="bench_kgml_"))
    print(f"preset {args.preset} {extra or ''}, states {' '.join(args.states)}, seeds {args.seeds}, "
          f"torch threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    torch.set_num_threads(args.threads)
    results, walls = {}, {}
    for seed in args.seeds:
        m, wall, stages = run_seed(args, seed, extra, root)
        results[seed], walls[seed] = m, wall
        print_seed(seed, m, wall, stages)
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps({str(k): v for k, v in results.items()}, default=float))
    summary(results, walls)
    print(f"\nruns in {root}")


if __name__ == "__main__":
    main()
