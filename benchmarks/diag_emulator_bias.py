"""Where is the emulator biased, and what does its bias follow? (issue 14, session 6)

Takes the trained global model of a seed (from the stage store when
``bench_kgml.py`` trained it with the same settings: run that first; else it
trains one here and does not store it) and gives
its emulator each unit's own parameter vector (``predict(sample_params=True)``,
as the ``emulator_oracle`` rung) on

* its own pretraining samples (the prior ensemble of the pretraining domain),
* the pretraining world's first copy of every county in every year (drawn
  for pretraining or not),
* the prior ensemble of every county of the pretraining states over the
  experiment's years (the same draws as the pretraining world's first copies),

and prints the July-August and annual Rh bias (emulator minus process model,
g C m-2 d-1) per state, split by whether the county is in the pretraining
domain, then the per-county July-August bias regressed on what describes a
county (soil properties, climate, the process model's own state): the
correlation of each with the bias, and the share of the bias's variance that
the state explains beyond them. It also prints how much the process model's
own July-August Rh of the same county-years differs between the pretraining
world (started with the pretraining window) and a world started with the
experiment's years (the soil pools' history differs).

    .venv/bin/python benchmarks/diag_emulator_bias.py --seed 1 [--set KEY=JSON ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from kgml_core.experiments.state_vs_global import preset  # noqa: E402
from kgml_core.experiments.state_vs_global.data import load_data  # noqa: E402
from kgml_core.experiments.state_vs_global.training import fit_ladder  # noqa: E402
from kgml_core.simulator import WorldConfig, load_world  # noqa: E402
from kgml_core.simulator.world import replica_base  # noqa: E402
from kgml_core.stages import StageReuse, StageStore  # noqa: E402
from kgml_core.training.data import make_samples  # noqa: E402

JULY_AUGUST = slice(181, 243)   # day-of-year indices 182-243 of a 365-day sample
SOILS = ("BD", "SAND", "SILT", "CLAY", "FC", "WP", "KSAT", "SOC", "PH", "CEC")


class _Run:
    """The minimum of a run the stage store needs (an id and a log)."""
    id = "diag_emulator_bias"
    name = "diag_emulator_bias"

    def log(self, message: str) -> None:
        print(message)


class _LoadOnly(StageReuse):
    """Loads the stages a ``bench_kgml.py`` run stored and stores none of its own: a model trained
    here starts from other initial weights than a full run's (they follow what drew random numbers
    before it), and a later benchmark with the same settings would reuse it as if it were its own."""

    def save(self, stage: str, key: str, weights: dict) -> None:
        return None


def bias_table(samples, emu: np.ndarray) -> pd.DataFrame:
    """Per sample: county, state, year, July-August and annual bias, the process model's July-August Rh."""
    sim = samples.daily["RH"]
    err = emu - sim
    return pd.DataFrame({"county": replica_base(samples.unit), "state": samples.state.astype(str),
                         "year": samples.year, "ja_bias": err[:, JULY_AUGUST].mean(1),
                         "annual_bias": err.mean(1), "ja_rh": sim[:, JULY_AUGUST].mean(1),
                         "sq": (err ** 2).mean(1)})


def _predicted(trainer, samples):
    """(samples, the emulator's Rh given each sample's own parameters)."""
    return samples, trainer.predict(samples, sample_params=True)["RH"]


def county_features(world, years: list[int]) -> pd.DataFrame:
    """Per county: soils, July-August climate and the process model's July-August state over ``years``."""
    ds = world.sel(time=world["time"].dt.year.isin(years))
    ja = ds.sel(time=ds["time"].dt.month.isin([7, 8]))
    units = world["unit"].values.astype(str)
    feats = {k: world[k].values for k in SOILS if k in world}
    for k in ("TA", "P", "SW_IN", "VPD", "GPP"):
        feats[f"ja_{k}"] = ja[k].mean("time").values
    feats["annual_P"] = ds["P"].mean("time").values * 365
    feats["ja_SWC_rel"] = (ja["SWC"] / 100 / world["FC"]).mean("time").values
    feats["spring_P"] = ds.sel(time=ds["time"].dt.month.isin([4, 5, 6]))["P"].mean("time").values
    feats["lat"], feats["lon"] = world["lat"].values, world["lon"].values
    for k in [v for v in world.data_vars if str(v).startswith("PARAM_")]:
        if np.std(world[k].values) > 1e-6 * abs(np.mean(world[k].values)):    # the drawn (spatial) ones
            feats[k] = world[k].values
    return pd.DataFrame(feats, index=pd.Index(replica_base(units), name="county"))


def regress(df: pd.DataFrame, target: str, features: list[str], states: pd.Series) -> None:
    """Correlations of ``target`` with each feature, and R2 of a linear fit with and without state dummies."""
    y = df[target].values
    print(f"  correlation of the county's {target} with:")
    cors = {f: np.corrcoef(df[f].values, y)[0, 1] for f in features if np.std(df[f].values) > 0}
    for f, c in sorted(cors.items(), key=lambda kv: -abs(kv[1])):
        print(f"    {f:18s} {c:+.2f}")
    X = (df[features] - df[features].mean()) / df[features].std().replace(0, 1)
    dummies = pd.get_dummies(states.reindex(df.index), dtype=float)

    def r2(m: np.ndarray) -> float:
        m = np.column_stack([np.ones(len(y)), m])
        coef, *_ = np.linalg.lstsq(m, y, rcond=None)
        return 1 - np.sum((y - m @ coef) ** 2) / np.sum((y - y.mean()) ** 2)

    print(f"  R2 of a linear fit: features {r2(X.values):.2f}, state alone {r2(dummies.values[:, 1:]):.2f}, "
          f"features + state {r2(np.column_stack([X.values, dummies.values[:, 1:]])):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=JSON")
    parser.add_argument("--csv", default=None, help="write the per-county table here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    extra = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
    cfg = preset(args.preset, seed=args.seed, sweep=(), models=("global",),
                 **{k: v for k, v in extra.items() if "." not in k})
    nested = {k: v for k, v in extra.items() if "." in k}          # dotted keys, as bench_kgml.py takes them
    cfg = cfg.with_settings(nested) if nested else cfg
    cpu0 = time.process_time()
    data = load_data(cfg)
    _, harness, _ = fit_ladder(cfg, data, models=("global",), reuse=_LoadOnly(StageStore(), _Run()))
    glob = harness.trainer(harness.group_models["global"]["all"])
    print(f"data and global model: {time.process_time() - cpu0:.1f} s CPU")
    pd.set_option("display.width", 200)

    own = harness.sets.process
    t = bias_table(*_predicted(glob, own))
    print("\nown pretraining samples (prior ensemble, pretraining years): bias by state")
    print(t.groupby("state").agg(n=("ja_bias", "size"), ja_bias=("ja_bias", "mean"),
                                 annual_bias=("annual_bias", "mean"), ja_rh=("ja_rh", "mean"),
                                 rmse=("sq", lambda s: float(np.sqrt(s.mean())))).round(3).to_string())

    pre_world = data.pretrain.sel(unit=[u for u in data.pretrain["unit"].values.astype(str) if "-r" not in u])
    first, last = cfg.pretraining_years()
    t = bias_table(*_predicted(glob, make_samples(pre_world, list(range(first + 1, last + 1)), cfg.warmup)))
    drawn = set(zip(replica_base(own.unit), own.year.tolist()))
    t["drawn"] = [(c, y) in drawn for c, y in zip(t["county"], t["year"])]
    print(f"\npretraining world, first copy of every county, {first + 1}-{last}: bias by state, county-year "
          "drawn for pretraining or not")
    print(t.groupby(["state", "drawn"]).agg(n=("ja_bias", "size"), ja_bias=("ja_bias", "mean"),
                                            annual_bias=("annual_bias", "mean")).round(3).to_string())
    print("July-August bias by state and year")
    print(t.pivot_table(index="state", columns="year", values="ja_bias").round(2).to_string())

    states = cfg.pretrain_states or cfg.states
    world = load_world(WorldConfig(states=states, years=cfg.years, seed=cfg.seed, world="ensemble"))
    shared = [y for y in range(cfg.years[0], last + 1) if first <= y]
    same = pre_world.sel(time=pre_world["time"].dt.year.isin(shared))
    other = world.sel(unit=same["unit"].values, time=world["time"].dt.year.isin(shared))
    summer = same["time"].dt.month.isin([7, 8]).values
    gap = (same["RH"].values - other["RH"].values)[:, summer].mean(1)
    print(f"\nthe same county-years ({shared[0]}-{shared[-1]}) in the pretraining world (from {first}) minus the "
          f"world of the experiment's years (from {cfg.years[0]}): July-August process-model Rh by state")
    print(pd.Series(gap).groupby(same["state"].values.astype(str)).mean().round(3).to_string())
    years = list(range(cfg.years[0] + 1, cfg.years[1] + 1))   # a warm-up needs the previous year
    samples = make_samples(world, years, cfg.warmup)
    t = bias_table(*_predicted(glob, samples))
    pre = set(replica_base(own.unit))
    t["in_pretraining"] = t["county"].isin(pre)
    t["held_out_year"] = t["year"].isin(data.test_years)
    print(f"\nprior ensemble of every county of {', '.join(states)}, {years[0]}-{years[-1]}: bias by state, "
          "county in the pretraining domain, held-out year")
    print(t.groupby(["state", "in_pretraining", "held_out_year"]).agg(
        n=("ja_bias", "size"), ja_bias=("ja_bias", "mean"), annual_bias=("annual_bias", "mean"),
        ja_rh=("ja_rh", "mean"), rmse=("sq", lambda s: float(np.sqrt(s.mean())))).round(3).to_string())
    print("\nJuly-August bias by state and year")
    print(t.pivot_table(index="state", columns="year", values="ja_bias").round(3).to_string())

    feats = county_features(world, years)
    per = t.groupby("county").agg(ja_bias=("ja_bias", "mean"), annual_bias=("annual_bias", "mean"),
                                  state=("state", "first"), in_pretraining=("in_pretraining", "first"))
    df = per.join(feats)
    print("\nper-county July-August bias against the county's properties (all counties of the domain)")
    names = [c for c in feats.columns]
    regress(df, "ja_bias", names, per["state"])
    print("\nmean of each property by state")
    print(df.groupby("state")[["ja_bias"] + names].mean().round(3).T.to_string())
    if args.csv:
        df.to_csv(args.csv)
    print(f"\ntotal {time.process_time() - cpu0:.1f} s CPU")


if __name__ == "__main__":
    main()
