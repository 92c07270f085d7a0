"""``simulate``: write a simulated world (or virtual tower network) to NetCDF."""
from __future__ import annotations

import logging

from kgml_core.cli import UserError

log = logging.getLogger(__name__)


def _years(text: str) -> tuple[int, int]:
    parts = text.split("-")
    try:
        first, last = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        first = None
    if first is None:
        raise UserError(f"--years {text!r}: expected YYYY or YYYY-YYYY (e.g. 2000-2019)")
    return first, last


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a county world or a virtual flux-tower network")
    p.add_argument("--states", nargs="+", default=["IL", "IA", "IN"], help="postal codes (default IL IA IN)")
    p.add_argument("--counties", nargs="+", default=None, help="optional subset of 5-digit FIPS codes")
    p.add_argument("--years", default=None, help="YYYY-YYYY, inclusive (default 2000-2019; towers 2005-2016)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--world", choices=["observed", "process"], default="observed")
    p.add_argument("--heterogeneity", type=float, default=1.0, help="0 one parameter set, 1 default")
    p.add_argument("--sites", type=int, default=None,
                   help="simulate a virtual flux-tower network of N sites instead of counties")
    p.add_argument("--out", required=True, help="output NetCDF file")
    p.set_defaults(func=run)


def run(args) -> int:
    from kgml_core.simulator import TowerConfig, WorldConfig, simulate_tower_network, simulate_world
    from kgml_core.geo import resolve_states

    if args.sites is not None:
        years = _years(args.years) if args.years else (2005, 2016)
        cfg = TowerConfig(n_sites=args.sites, years=years, seed=args.seed)
        ds = simulate_tower_network(cfg)
    else:
        years = _years(args.years) if args.years else (2000, 2019)
        counties = tuple(str(c).zfill(5) for c in args.counties) if args.counties else None
        cfg = WorldConfig(states=tuple(resolve_states(args.states)), years=years, seed=args.seed,
                          world=args.world, heterogeneity=args.heterogeneity, counties=counties)
        ds = simulate_world(cfg)
    ds.to_netcdf(args.out)
    print(f"wrote {args.out}: {ds.sizes['unit']} units x {ds.sizes.get('time', 0)} days "
          f"({cfg.to_json()})")
    return 0
