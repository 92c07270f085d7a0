"""``ingest``: load real data files into the data contract and write one NetCDF file.

``python -m kgml_core ingest {fluxnet,ameriflux,nass,netcdf,sites,hrrr,auto} PATH... --out FILE.nc``
Folders are allowed. Bad input ends with one readable line and exit code 2.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

KINDS = ("fluxnet", "ameriflux", "nass", "netcdf", "sites", "hrrr", "soil", "auto")


def register(sub) -> None:
    p = sub.add_parser("ingest", help="load FLUXNET, AmeriFlux, NASS, NetCDF, site, county weather or "
                                      "soil grid files into the data contract and write FILE.nc")
    p.add_argument("kind", choices=KINDS, help="file format ('auto' detects it from the content)")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument("--out", type=Path, required=True, help="output NetCDF file")
    p.add_argument("--site-list", type=Path, default=None,
                   help="site metadata CSV for coordinates/IGBP (fluxnet, ameriflux) or the sites of a grid (netcdf)")
    p.add_argument("--partition", choices=("NT", "DT"), default="NT", help="FLUXNET GPP/RECO partition")
    p.add_argument("--min-coverage", type=float, default=0.8,
                   help="share of valid half-hours for a daily value (sub-daily files, 0-1)")
    p.add_argument("--crop", default=None, help="NASS commodity (CORN, SOYBEANS); default CORN when present")
    p.add_argument("--states", nargs="+", default=None, help="keep counties of these states (nass, netcdf)")
    p.set_defaults(func=run)


def _options(args) -> dict:
    kind = args.kind
    if kind in ("fluxnet", "ameriflux"):
        opts = {"site_list": args.site_list, "min_coverage": args.min_coverage}
        if kind == "fluxnet":
            opts["partition"] = args.partition
        return opts
    if kind == "nass":
        return {"crop": args.crop, "states": args.states}
    if kind in ("netcdf", "soil"):
        return {"states": args.states, "sites": args.site_list}
    return {}


def run(args) -> int:
    from kgml_core import loaders

    if args.kind == "auto":
        ds = loaders.load_any(args.paths, site_list=args.site_list, partition=args.partition,
                              min_coverage=args.min_coverage, crop=args.crop, states=args.states)
    elif args.kind in loaders.MULTI_FILE:
        for p in args.paths:
            loaders.check_kind(p, args.kind)
        ds = loaders.guarded(args.paths[0], args.kind, loaders.LOADERS[args.kind], args.paths, **_options(args))
    else:
        parts = [loaders.load_file(p, args.kind, **_options(args)) for p in args.paths]
        ds = parts[0] if len(parts) == 1 else loaders.merge(parts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(args.out)
    dims = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    print(f"wrote {args.out}: {len(ds.data_vars)} variables ({', '.join(map(str, ds.data_vars))}); {dims}")
    return 0
