"""Does the emulator respond to its parameters as the process model does? (issue 14's diagnostic)

For held-out counties of some states, runs the process model with the state's
mean true parameters and with each spatial parameter moved by -1 and +1 prior
standard deviation (the others at the state mean), and gives the trained global
model's emulator the same inputs with the same parameter vectors. Prints, per
state and parameter, the change of mean Rh (g C m-2 d-1) between +1 and -1 sd
over the whole year and over July-August, for the process model and the
emulator, and their ratio (1: the emulator's response is right; below 1:
attenuated; negative: the wrong sign). The global model comes from the stage
store when a run with the same settings trained it (``bench_kgml.py``), else it
is trained here.

    .venv/bin/python benchmarks/diag_param_response.py --seed 1 [--states IL IN] [--set KEY=JSON ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global import preset  # noqa: E402
from kgml_core.experiments.state_vs_global.data import load_data  # noqa: E402
from kgml_core.experiments.state_vs_global.training import fit_ladder  # noqa: E402
from kgml_core.sdsa import true_means  # noqa: E402
from kgml_core.simulator.parameters import PARAMS, default_parameters, prior_sd  # noqa: E402
from kgml_core.simulator.world import county_units, simulate_units  # noqa: E402
from kgml_core.simulator import WorldConfig  # noqa: E402
from kgml_core.stages import StageReuse, StageStore  # noqa: E402
from kgml_core.training.data import PARAM_NAMES, make_samples  # noqa: E402

JULY_AUGUST = slice(181, 243)   # day-of-year indices 182-243 of a 365-day sample


class _Run:
    """The minimum of a run the stage store needs (an id and a log)."""
    id = "diag_param_response"
    name = "diag_param_response"

    def log(self, message: str) -> None:
        print(message)


def variants(means: dict[str, float]) -> list[tuple[str, int, dict[str, float]]]:
    """(parameter, "base" or "default"; sign;, parameter vector): the state mean, each parameter at -1 / +1 sd
    around it, and the defaults (last)."""
    out = [("base", 0, dict(means))]
    for name in PARAM_NAMES:
        spec = PARAMS[name]
        for sign in (-1, 1):
            p = dict(means)
            p[name] = float(np.clip(means[name] + sign * prior_sd(name), spec.lower, spec.upper))
            out.append((name, sign, p))
    out.append(("default", 0, {k: PARAMS[k].default for k in PARAM_NAMES}))
    return out


def simulate_variants(cfg, counties: list[str], vecs) -> "xr.Dataset":
    """The process model for every (variant, county): units ``V<i>/<fips>``, variant-major."""
    table = county_units(WorldConfig(states=cfg.states, years=cfg.years, seed=cfg.seed, counties=tuple(counties)))
    parts = []
    for i in range(len(vecs)):
        parts.append(table.set_axis([f"V{i}/{u}" for u in table.index], axis=0))
    big = pd.concat(parts)
    params = default_parameters(len(big))
    for i, (_, _, vec) in enumerate(vecs):
        rows = slice(i * len(table), (i + 1) * len(table))
        for k, v in vec.items():
            params[k][rows] = v
    return simulate_units(big, params, cfg.years, cfg.seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--states", nargs="+", default=["IL", "IN"])
    parser.add_argument("--max-counties", type=int, default=12, help="held-out counties per state")
    parser.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=JSON")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    extra = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
    cfg = preset(args.preset, seed=args.seed, sweep=(), models=("global",), **extra)
    cpu0 = time.process_time()
    data = load_data(cfg)
    _, harness, _ = fit_ladder(cfg, data, models=("global",), reuse=StageReuse(StageStore(), _Run()))
    glob = harness.trainer(harness.group_models["global"]["all"])
    print(f"data and global model: {time.process_time() - cpu0:.1f} s CPU")
    truth = data.truth
    states = pd.Series(truth["state"].values.astype(str), index=truth["unit"].values.astype(str))
    means = true_means(truth, states)
    test = data.split.index[data.split == "test"]
    years = data.train_years[1:] + data.test_years     # a warm-up needs the previous year in the world
    rows = []
    for state in args.states:
        counties = sorted(u for u in test if states[u] == state)[:args.max_counties]
        vecs = variants(means[state])
        t = time.process_time()
        world = simulate_variants(cfg, counties, vecs)
        sim_cpu = time.process_time() - t
        samples = make_samples(world, years, cfg.warmup)
        variant = np.array([int(str(u).split("/")[0][1:]) for u in samples.unit])
        sim = samples.daily["RH"]
        emu = glob.predict(samples, sample_params=True)["RH"]
        print(f"{state}: {len(counties)} held-out counties x {len(years)} years x {len(vecs)} variants, "
              f"simulation {sim_cpu:.1f} s CPU; emulator Rh RMSE at the state mean "
              f"{np.sqrt(np.nanmean((emu[variant == 0] - sim[variant == 0]) ** 2)):.3f}, mean bias (emulator - "
              f"process) annual {np.mean(emu[variant == 0] - sim[variant == 0]):+.3f}, July-August "
              f"{np.mean(emu[variant == 0][:, JULY_AUGUST] - sim[variant == 0][:, JULY_AUGUST]):+.3f}")
        err = (emu[variant == 0] - sim[variant == 0])[:, JULY_AUGUST].mean(1)
        year = samples.year[variant == 0]
        print("    July-August bias at the state mean by year: " + ", ".join(
            f"{y} {err[year == y].mean():+.3f}" for y in np.unique(year)))
        last = len(vecs) - 1
        print(f"    at the default parameters: Rh RMSE {np.sqrt(np.nanmean((emu[variant == last] - sim[variant == last]) ** 2)):.3f}, "
              f"mean bias annual {np.mean(emu[variant == last] - sim[variant == last]):+.3f}, July-August "
              f"{np.mean(emu[variant == last][:, JULY_AUGUST] - sim[variant == last][:, JULY_AUGUST]):+.3f}")
        for name in PARAM_NAMES:
            lo, hi = [i for i, (n, _, _) in enumerate(vecs) if n == name]
            row = {"state": state, "parameter": name}
            for label, days in (("annual", slice(None)), ("jul_aug", JULY_AUGUST)):
                d_sim = sim[variant == hi][:, days].mean(1) - sim[variant == lo][:, days].mean(1)
                d_emu = emu[variant == hi][:, days].mean(1) - emu[variant == lo][:, days].mean(1)
                row[f"{label}_process"] = float(d_sim.mean())
                row[f"{label}_emulator"] = float(d_emu.mean())
                row[f"{label}_ratio"] = float(d_emu.mean() / d_sim.mean()) if abs(d_sim.mean()) > 1e-6 else np.nan
                row[f"{label}_corr"] = float(np.corrcoef(d_sim, d_emu)[0, 1]) if d_sim.std() > 0 else np.nan
            rows.append(row)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print("\nchange of mean Rh (g C m-2 d-1) from -1 to +1 prior sd, held-out counties and years "
          f"{years[0]}-{years[-1]}; ratio = emulator / process model; corr over county-years")
    print(table.round(3).to_string(index=False))
    print(f"\ntotal {time.process_time() - cpu0:.1f} s CPU")
    if args.json:
        Path(args.json).write_text(table.to_json(orient="records"))


if __name__ == "__main__":
    main()
