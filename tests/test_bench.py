"""Benchmark pieces: figures are positive and consistent; the CLI rejects bad input. No timing assertions."""
import json

import numpy as np
import pytest
import torch

from kgml_core import bench
from kgml_core.cli import main
from kgml_core.inference import flops_per_county_day
from kgml_core.models.kgml_ag import KGMLAg
from kgml_core.training.data import Normalizer, make_samples
from tests.training.conftest import fake_world


@pytest.fixture(scope="module")
def samples():
    torch.set_num_threads(1)
    return make_samples(fake_world(n_units=8, years=(2001, 2002)))


def test_matmul_throughput_is_positive():
    rate = bench.matmul_gflops(32, 16, 48, seconds=0.05)
    assert np.isfinite(rate) and rate > 0


def test_inference_and_training_figures_are_consistent(samples):
    norm = Normalizer.fit(samples)
    cfg = bench.BenchConfig(infer_batches=(8,), train_sequences=16, train_batch=8, repeat_s=0.01)
    flops = flops_per_county_day(KGMLAg())
    inf = bench.bench_inference(samples, norm, cfg, flops, bound=10.0)
    assert inf["county_days_per_s"] == inf["by_batch"]["8"] > 0
    assert inf["bound_county_days_per_s"] == pytest.approx(10e9 / flops)
    assert inf["fraction_of_matmul_bound"] == pytest.approx(inf["county_days_per_s"] / inf["bound_county_days_per_s"])
    tr = bench.bench_training(samples, norm, cfg, flops, bound=10.0)
    assert tr["sequences"] == 16 and tr["sequences_per_s"] > 0
    assert tr["fraction_of_matmul_bound"] == pytest.approx(tr["sequences_per_s"] / tr["bound_sequences_per_s"])


def test_targets_read_the_figures():
    r = {"inference": {"fraction_of_matmul_bound": 0.6, "county_days_per_s": 400_000},
         "training": {"fraction_of_matmul_bound": 0.2},
         "upscale": {"counties": 3108, "years": 20, "wall_s": 100.0, "peak_rss_gib": 5.0}}
    t = bench.targets(r)
    assert t["inference_half_of_bound"]
    assert not t["training_third_of_bound"]
    assert not t["upscale_conus_20y_under_120s_4gib"]      # memory over 4 GiB
    json.dumps(t)


def test_cli_rejects_bad_output_name(tmp_path, capsys):
    assert main(["bench", "--quick", "--out", str(tmp_path / "figures.txt")]) == 2
    assert "expected a .json" in capsys.readouterr().err
    assert main(["bench", "--quick", "--workers", "0", "--out", str(tmp_path / "b.json")]) == 2
