"""``bench``: measure the core's throughput against the machine's limits and write JSON."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from kgml_core.cli import UserError

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark simulation, training, inference and upscaling (JSON)")
    p.add_argument("--quick", action="store_true", help="small problems, for development (about a minute)")
    p.add_argument("--out", required=True, help="output JSON file")
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: one per core)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="existing dask.distributed scheduler for the upscaling run "
                        "(default: $KGML_DASK_SCHEDULER, else a local cluster)")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataclasses import replace

    from kgml_core import settings
    from kgml_core.bench import BenchConfig, quick_config, run_benchmarks

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise UserError(f"--out {args.out!r}: expected a .json file name")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected a positive number of workers")
    cfg = quick_config() if args.quick else BenchConfig()
    cfg = replace(cfg, workers=args.workers, scheduler=args.scheduler or settings.dask_scheduler())
    result = run_benchmarks(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float))
    print(summary(result))
    print(f"wrote {out}")
    return 0


def summary(r: dict) -> str:
    """A few lines with the headline figures."""
    up, inf, tr = r["upscale"], r["inference"], r["training"]
    return "\n".join([
        f"matmul bound           {r['matmul']['bound_gflops']:.1f} GFLOP/s (float32, {r['machine']['torch_threads']} thread)",
        f"simulation             {r['simulation']['unit_days_per_s']:,.0f} unit-days/s",
        f"training               {tr['sequences_per_s']:.1f} sequences/s "
        f"({100 * tr['fraction_of_matmul_bound']:.1f} % of the matmul bound)",
        f"inference              {inf['county_days_per_s']:,.0f} county-days/s "
        f"({100 * inf['fraction_of_matmul_bound']:.1f} % of the matmul bound; "
        f"plain forward {inf['plain_forward_batch256_county_days_per_s']:,.0f})",
        f"1 -> 2 workers         x{r['workers']['speedup']:.2f}",
        f"upscaling              {up['counties']} counties x {up['years']} years: {up['wall_s']:.1f} s, "
        f"peak {up['peak_rss_gib']:.2f} GiB ({up['workers']} workers)",
    ])
