"""Benchmarks of the core against the machine's own limits, measured in one run.

:func:`run_benchmarks` measures simulation throughput (unit-days/s), training
throughput (sequences/s) and inference throughput (county-days/s) of KGML-ag,
the float32 matrix-product throughput of the machine at sizes representative
of the model (the bound both are compared with), upscaling of every
conterminous county for 20 years (wall time, peak memory), the speed-up from
1 to 2 Dask workers, and how the cost of upscaling grows with counties and
years. ``quick`` shrinks every problem for development.
"""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from kgml_core import distributed as D
from kgml_core.inference import flops_per_county_day, predict_arrays, set_threads
from kgml_core.models.kgml_ag import KGMLAg
from kgml_core.training.data import DAYS, Normalizer, make_samples

log = logging.getLogger(__name__)


@dataclass
class BenchConfig:
    """Problem sizes of the benchmark (defaults: the full run).

    sim_states, sim_years : world simulated for the simulation, training and inference figures.
    train_sequences : unit-years per training measurement; train_batch : their batch size.
    infer_batches : batch sizes tried for inference (best reported).
    upscale_states : states upscaled (None: every conterminous state); upscale_years : (first, last).
    growth_counties, growth_years : the sweep of the cost-growth table.
    workers : Dask workers for upscaling (default: one per core); chunk : counties per task.
    repeat_s : seconds each throughput measurement runs at least.
    """

    sim_states: tuple[str, ...] = ("IL", "IA", "IN")
    sim_years: tuple[int, int] = (2000, 2001)
    train_sequences: int = 512
    train_batch: int = 64
    infer_batches: tuple[int, ...] = (256, 1024)
    upscale_states: tuple[str, ...] | None = None
    upscale_years: tuple[int, int] = (2000, 2019)
    growth_counties: tuple[int, ...] = (64, 128, 256)
    growth_years: tuple[int, ...] = (1, 2, 4)
    workers: int | None = None
    chunk: int = 128
    repeat_s: float = 3.0
    scheduler: str | None = None
    notes: list[str] = field(default_factory=list)


def quick_config() -> BenchConfig:
    """Small sizes for development (about a minute on 2 busy cores)."""
    return BenchConfig(sim_states=("IL",), sim_years=(2000, 2000), train_sequences=128,
                       infer_batches=(256,), upscale_states=("IL",), upscale_years=(2000, 2001),
                       growth_counties=(32, 64), growth_years=(1, 2), repeat_s=1.0)


# --------------------------------------------------------------------------- machine
def matmul_gflops(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """Float32 ``torch.matmul`` throughput (GFLOP/s) of (m, k) @ (k, n), best of short repeats."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    reps = max(1, int(2e8 / (2 * m * k * n)))
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b)
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2 * m * k * n / best / 1e9


def machine_matmul(batch: int, hidden: int, n_in: int, seconds: float) -> dict:
    """Matrix-product throughput at the model's shapes: recurrent (batch, H) @ (H, 3H), input (batch*365, F) @ (F, 3H)."""
    shapes = {"recurrent": (batch, hidden, 3 * hidden), "input_projection": (batch * 64, n_in, 3 * hidden),
              "square_256": (256, 256, 256)}
    rates = {k: matmul_gflops(*s, seconds=seconds) for k, s in shapes.items()}
    return {"gflops": rates, "shapes": {k: list(v) for k, v in shapes.items()},
            "bound_gflops": max(rates.values())}


# --------------------------------------------------------------------------- pieces
def bench_simulation(cfg: BenchConfig):
    """Simulate the benchmark world; returns (figures, dataset)."""
    from kgml_core import geo
    from kgml_core.simulator import WorldConfig, simulate_world
    geo.load_counties(cfg.sim_states)  # shapefile read outside the timing
    t0 = time.perf_counter()
    ds = simulate_world(WorldConfig(states=cfg.sim_states, years=cfg.sim_years))
    wall = time.perf_counter() - t0
    unit_days = ds.sizes["unit"] * ds.sizes["time"]
    return {"units": ds.sizes["unit"], "days": ds.sizes["time"], "wall_s": wall,
            "unit_days_per_s": unit_days / wall}, ds


def _timed(fn, seconds: float) -> float:
    """Seconds per call of ``fn`` (best of repeats over at least ``seconds``, after one warm-up)."""
    fn()
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_training(samples, norm, cfg: BenchConfig, flops_day: int, bound: float) -> dict:
    """Sequences/s of one epoch of KGML-ag training (all groups, flux losses with mass balance)."""
    from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig
    sub = samples.subset(np.arange(min(len(samples), cfg.train_sequences)))
    trainer = KGMLTrainer(KGMLAg(), norm, torch.device("cpu"))
    step = StepConfig(epochs=1, batch_size=cfg.train_batch)
    groups = ("shared", "yield", "ra", "rh", "nee")
    wall = _timed(lambda: trainer.train_step("bench", [Source(sub, "process_fluxes")], groups, step),
                  cfg.repeat_s)
    rate = len(sub) / wall
    achieved = rate * DAYS * 3 * flops_day / 1e9  # backward ~ 2x forward
    return {"sequences": len(sub), "batch": cfg.train_batch, "sequences_per_s": rate,
            "bound_sequences_per_s": bound * 1e9 / (3 * flops_day * DAYS),
            "achieved_gflops": achieved, "fraction_of_matmul_bound": achieved / bound}


def bench_inference(samples, norm, cfg: BenchConfig, flops_day: int, bound: float) -> dict:
    """County-days/s of :func:`predict_arrays`, and of a plain batch-first ``model(x)`` at batch 256."""
    model = KGMLAg().eval()
    out = {"by_batch": {}}
    for batch in cfg.infer_batches:
        n = max(batch, min(len(samples), 2 * batch))
        x, g = samples.x[:n], samples.gpp[:n]
        wall = _timed(lambda: predict_arrays(model, x, g, norm, batch), cfg.repeat_s)
        out["by_batch"][str(batch)] = n * DAYS / wall
    xb = torch.from_numpy(norm.scale_x(samples.x[:256]))

    def plain():
        with torch.no_grad():
            model(xb)
    out["plain_forward_batch256_county_days_per_s"] = 256 * DAYS / _timed(plain, cfg.repeat_s)
    best = max(out["by_batch"].values())
    out.update({"county_days_per_s": best, "bound_county_days_per_s": bound * 1e9 / flops_day,
                "fraction_of_matmul_bound": best * flops_day / (bound * 1e9)})
    return out


def bench_upscale(cfg: BenchConfig, norm, states, years, workers: int | None = None,
                  scheduler: str | None = None) -> dict:
    """Simulate and predict annual sums for every county of ``states`` x ``years`` with Dask."""
    from kgml_core.simulator import WorldConfig
    from kgml_core.geo import CONUS_STATES
    world = WorldConfig(states=tuple(states or CONUS_STATES), years=tuple(years))
    model = KGMLAg().eval()
    with D.dask_client(scheduler=scheduler, n_workers=workers) as client:
        n_workers = len(client.scheduler_info()["workers"])
        D.warm_up(client)
        with D.PeakRSS() as peak:
            t0 = time.perf_counter()
            ds = D.upscale_world_annual(world, model, norm, client, chunk_size=cfg.chunk)
            wall = time.perf_counter() - t0
    n_units, n_years = ds.sizes["unit"], ds.sizes["year"]
    return {"counties": n_units, "years": n_years, "workers": n_workers, "chunk": cfg.chunk,
            "wall_s": wall, "peak_rss_gib": peak.gib, "peak_rss_workers_gib": peak.children_gib, "county_days_per_s": n_units * n_years * DAYS / wall,
            "finite": bool(np.isfinite(ds["NEE"].values).all()),
            "peak_rss_note": "sum of the resident memory of this process and its worker processes"
                             if scheduler is None else "this process only (remote workers)"}


def bench_workers(cfg: BenchConfig, norm) -> dict:
    """Wall time of the same upscaling with 1 and 2 local worker processes."""
    from kgml_core import geo
    counties = tuple(geo.load_counties(cfg.sim_states).index[:max(cfg.growth_counties)])
    years = (cfg.upscale_years[0], cfg.upscale_years[0] + max(cfg.growth_years) - 1)
    walls = {}
    for n in (1, 2):
        walls[n] = _upscale_counties(counties, years, norm, n, max(1, len(counties) // 8))
    return {"counties": len(counties), "years": years[1] - years[0] + 1, "wall_s_1_worker": walls[1],
            "wall_s_2_workers": walls[2], "speedup": walls[1] / walls[2]}


def _upscale_counties(counties, years, norm, workers: int, chunk: int) -> float:
    from kgml_core.simulator import WorldConfig
    world = WorldConfig(counties=tuple(counties), years=tuple(years))
    with D.dask_client(n_workers=workers) as client:
        D.warm_up(client)
        t0 = time.perf_counter()
        D.upscale_world_annual(world, KGMLAg().eval(), norm, client, chunk_size=chunk)
        return time.perf_counter() - t0


def bench_growth(cfg: BenchConfig, norm) -> dict:
    """Upscaling wall time over a grid of counties x years, and a linear fit in county-years."""
    from kgml_core import geo
    fips = geo.load_counties(cfg.sim_states).index
    rows = []
    with D.dask_client(n_workers=cfg.workers) as client:
        D.warm_up(client)
        for n_c in cfg.growth_counties:
            for n_y in cfg.growth_years:
                from kgml_core.simulator import WorldConfig
                world = WorldConfig(counties=tuple(fips[:n_c]),
                                    years=(cfg.upscale_years[0], cfg.upscale_years[0] + n_y - 1))
                t0 = time.perf_counter()
                D.upscale_world_annual(world, KGMLAg().eval(), norm, client, chunk_size=cfg.chunk)
                wall = time.perf_counter() - t0
                rows.append({"counties": n_c, "years": n_y, "wall_s": wall,
                             "county_days_per_s": n_c * n_y * DAYS / wall})
    cy = np.array([r["counties"] * r["years"] for r in rows], float)
    wall = np.array([r["wall_s"] for r in rows])
    slope, intercept = np.polyfit(cy, wall, 1)
    return {"rows": rows, "fit": {"intercept_s": float(intercept), "s_per_county_year": float(slope)}}


# --------------------------------------------------------------------------- all
def run_benchmarks(cfg: BenchConfig | None = None) -> dict:
    """Run every benchmark and return the figures as a JSON-ready dict."""
    cfg = cfg or BenchConfig()
    threads = set_threads(1)
    result: dict = {"config": asdict(cfg), "machine": {
        "cores": D.machine_cores(), "torch_threads": threads, "torch": torch.__version__,
        "python": platform.python_version(), "processor": platform.processor() or platform.machine()}}
    model = KGMLAg()
    c = model.config
    flops_day = flops_per_county_day(model)
    result["model"] = {"name": "kgml_ag", "config": asdict(c), "forward_flops_per_county_day": flops_day}
    log.info("matrix-product throughput")
    result["matmul"] = machine_matmul(256, c.hidden, c.n_inputs + c.hidden, cfg.repeat_s / 3)
    bound = result["matmul"]["bound_gflops"]
    log.info("simulation")
    result["simulation"], ds = bench_simulation(cfg)
    samples = make_samples(ds)
    norm = Normalizer.fit(samples)
    del ds
    log.info("training")
    result["training"] = bench_training(samples, norm, cfg, flops_day, bound)
    log.info("inference")
    result["inference"] = bench_inference(samples, norm, cfg, flops_day, bound)
    log.info("scaling 1 -> 2 workers")
    result["workers"] = bench_workers(cfg, norm)
    log.info("cost growth")
    result["growth"] = bench_growth(cfg, norm)
    log.info("upscaling")
    result["upscale"] = bench_upscale(cfg, norm, cfg.upscale_states, cfg.upscale_years, cfg.workers,
                                      cfg.scheduler)
    result["targets"] = targets(result)
    return result


def targets(r: dict) -> dict:
    """The issue's targets, met or not, from the measured figures."""
    up = r["upscale"]
    return {
        "inference_half_of_bound": r["inference"]["fraction_of_matmul_bound"] >= 0.5,
        "training_third_of_bound": r["training"]["fraction_of_matmul_bound"] >= 1 / 3,
        "upscale_conus_20y_under_120s_4gib": bool(up["counties"] > 3000 and up["years"] >= 20
                                                  and up["wall_s"] < 120 and up["peak_rss_gib"] < 4),
        "note": "speed against the public KGML-ag is measured side by side by benchmarks/bench_speed.py",
    }
