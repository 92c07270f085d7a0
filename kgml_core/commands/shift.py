"""``shift``: distribution-shift diagnostics between states, written as JSON.

Runs on the embedded simulator world (``--years``, ``--seed``, ``--heterogeneity``)
or on any contract NetCDF file (``--input``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import xarray as xr

from kgml_core import geo
from kgml_core.cli import UserError
from kgml_core.schema import validate

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("shift", help="covariate and concept shift between states, as JSON")
    p.add_argument("--states", nargs="+", default=list(geo.DEFAULT_STATES),
                   help="postal codes, names or FIPS (default: IL IA IN)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--input", help="contract NetCDF file to diagnose instead of the simulator world")
    p.add_argument("--years", nargs=2, type=int, default=[2000, 2019], metavar=("FIRST", "LAST"),
                   help="simulated years, inclusive (default: 2000 2019)")
    p.add_argument("--seed", type=int, default=0, help="seed of the world and of the tests")
    p.add_argument("--heterogeneity", type=float, default=1.0,
                   help="spatial parameter variation of the simulated world (0 none, 1 default)")
    p.add_argument("--permutations", type=int, default=200, help="permutations of the MMD and concept tests")
    p.add_argument("--variables", nargs="+", help="unit features or source variables to compare (default all)")
    p.set_defaults(func=run)


def load_dataset(args) -> xr.Dataset:
    """The contract dataset for the selected states: from ``--input`` or the simulator."""
    states = geo.resolve_states(args.states)
    if args.input:
        path = Path(args.input)
        if not path.exists():
            raise FileNotFoundError(f"--input file {path} does not exist")
        ds = validate(xr.open_dataset(path), source=str(path))
        keep = [str(s) in states for s in ds["state"].values]
        if not any(keep):
            raise UserError(f"{path} has no unit in states {states}; it has {sorted(set(map(str, ds['state'].values)))}")
        return ds.isel(unit=keep).load()
    from kgml_core.simulator import WorldConfig, load_world
    cfg = WorldConfig(states=tuple(states), years=tuple(args.years), seed=args.seed,
                      heterogeneity=args.heterogeneity)
    return load_world(cfg)


def run(args) -> int:
    from kgml_core.shift import diagnose
    if args.permutations < 0:
        raise UserError(f"--permutations must be >= 0, got {args.permutations}")
    ds = load_dataset(args)
    report = diagnose(ds, variables=args.variables, seed=args.seed, n_permutations=args.permutations)
    out = report.to_json_dict()
    out["meta"]["source"] = args.input or "simulator"
    if not args.input:
        out["meta"].update(years=list(args.years), heterogeneity=args.heterogeneity)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, allow_nan=False))
    for pair in out["pairs"]:
        log.info("%s vs %s: MMD2 %.4f (p %.3f), classifier AUC %.3f", pair["group_a"], pair["group_b"],
                 pair["mmd2"], pair["p_value"], pair["auc"])
    print(f"wrote {path}")
    return 0
