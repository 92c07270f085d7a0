"""``info``: the region selection, its counties and where data lives."""
from __future__ import annotations

import json

from kgml_core import geo, settings


def register(sub) -> None:
    p = sub.add_parser("info", help="list the counties of states and show data locations")
    p.add_argument("--states", nargs="+", default=list(geo.DEFAULT_STATES),
                   help="postal codes, names or FIPS (default: IL IA IN)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.set_defaults(func=run)


def run(args) -> int:
    table = geo.county_table(args.states)
    summary = {
        "states": geo.resolve_states(args.states),
        "counties": int(len(table)),
        "counties_per_state": table.groupby("state").size().to_dict(),
        "area_km2": round(float(table["area_km2"].sum()), 1),
        "cache_dir": str(settings.cache_dir()),
        "runs_dir": str(settings.runs_dir()),
        "data_dir": str(settings.data_dir()),
        "data_dir_exists": settings.data_dir().exists(),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:>20}: {value}")
    return 0
