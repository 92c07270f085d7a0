"""Benchmark: ingest ten years of half-hourly data for one site (target: under 5 s).

Writes a synthetic FLUXNET2015 SUBSET HH file and an AmeriFlux BASE HH file of
3,652 days (175,296 records) into a temporary folder and prints the time to load
each into the daily data contract (best of three runs), plus the real daily files.

    .venv/bin/python benchmarks/bench_ingest.py
"""
# ruff: noqa: E402
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kgml_core import settings
from kgml_core.loaders import load_file, samples


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        flx = samples.write_fluxnet_hh(tmp, "US-Bch", days=3652)
        amf = samples.write_ameriflux(Path(tmp) / "AMF_US-Bch_BASE_HH_1-5.csv", "US-Bch", days=3652,
                                      missing_fraction=0.05)
        for label, path in (("FLUXNET2015 HH", flx), ("AmeriFlux BASE HH", amf)):
            ds = load_file(path)
            mb = path.stat().st_size / 1e6
            print(f"{label:>18}: 10 years, {ds.sizes['time']} days, {mb:.0f} MB -> "
                  f"{best_of(lambda: load_file(path)):.2f} s (target < 5 s)")
    real = settings.data_dir() / "fluxnet"
    if real.exists():
        print(f"{'3 real DD files':>18}: {best_of(lambda: load_file(real)):.2f} s")


if __name__ == "__main__":
    main()
