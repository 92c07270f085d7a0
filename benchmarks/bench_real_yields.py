"""Benchmark: the real-yields experiment on Iowa's 35 HRRR counties (2017-2021) over several seeds.

Each seed draws its own held-out counties and trains its own models; 2021 is always held out.
Prints, per held-out set and model, the yield RMSE (bu/acre) and R2 against NASS as mean and
standard deviation over seeds, and the paired-bootstrap RMSE differences against the global
model of each seed (counties resampled).

    .venv/bin/python benchmarks/bench_real_yields.py [--seeds 0 1 2] [--preset quick] [--out FILE.json]
    .venv/bin/python benchmarks/bench_real_yields.py --combine seed0.json seed1.json ...   # seeds run apart
"""
# ruff: noqa: E402
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from kgml_core import experiments
from kgml_core.experiments.real_yields.config import MODEL_NAMES
from kgml_core.experiments.real_yields.evaluation import SPLITS
from kgml_core.runs import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--combine", type=Path, nargs="+", default=None, help="print the summary of saved --out files")
    args = parser.parse_args()
    if args.combine:
        saved = [json.loads(p.read_text()) for p in args.combine]
        rows = [r for s in saved for r in s["rows"]]
        print_summary(rows, [b for s in saved for b in s["bootstrap"]], sorted({r["seed"] for r in rows}))
        return
    exp = experiments.get("real_yields")
    rows, boots, runs = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            start = time.time()
            run = exp.execute(exp.config(args.preset, seed=seed), RunStore(tmp))
            m = run.metrics()
            runs[seed] = m
            print(f"seed {seed}: {time.time() - start:.0f} s, regions "
                  f"{len(set(m['regions']['labels'].values()))}, held-out counties {m['n_test_counties']}", flush=True)
            for split in SPLITS:
                for model in MODEL_NAMES:
                    s = m["scores"][split][model]
                    rows.append({"seed": seed, "held out": split, "model": model, "rmse_bu": s["rmse_bu"],
                                 "r2": s["r2"], "bias_bu": s["bias_bu"], "n": s["n"]})
                for model, b in m["bootstrap"][split].items():
                    boots.append({"seed": seed, "held out": split, "model": model, **b})
    print_summary(rows, boots, args.seeds)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, "bootstrap": boots, "metrics": runs}, indent=1, default=str))


def print_summary(rows: list[dict], boots: list[dict], seeds: list[int]) -> None:
    """Mean and sd over seeds per held-out set and model; the bootstrap intervals of each seed."""
    table = pd.DataFrame(rows)
    summary = table.groupby(["held out", "model"], sort=False).agg(
        rmse_bu=("rmse_bu", "mean"), rmse_sd=("rmse_bu", "std"), r2=("r2", "mean"), r2_sd=("r2", "std"),
        bias_bu=("bias_bu", "mean"), n=("n", "mean"))
    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(f"\nheld-out yield against NASS, {len(seeds)} seeds {seeds} (mean, sd over seeds)")
        print(summary.round(3).to_string())
        print("\nRMSE(model) - RMSE(global), g C m-2, 95 % bootstrap interval per seed")
        print(pd.DataFrame(boots).set_index(["held out", "model", "seed"])[["diff", "lo", "hi", "rel_diff"]]
              .round(3).to_string())


if __name__ == "__main__":
    main()
