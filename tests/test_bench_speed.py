"""The side-by-side speed benchmark: same sizes, sane summaries, a tiny run end to end. No timing assertions."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from kgml_core.inference import flops_per_county_day
from kgml_core.models.kgml_ag import KGMLAg

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_speed():
    spec = importlib.util.spec_from_file_location("bench_speed", ROOT / "benchmarks" / "bench_speed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_speed"] = module       # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_project_at_public_sizes_matches_the_reference_recurrences(bench_speed):
    ref = bench_speed.ReferenceKGMLAg()
    project = KGMLAg(bench_speed.project_config("public_sizes"))
    gru_sizes = lambda m: sorted((g.input_size, g.hidden_size, g.num_layers)        # noqa: E731
                                 for g in m.modules() if isinstance(g, torch.nn.GRU))
    assert gru_sizes(ref) == gru_sizes(project)
    assert flops_per_county_day(project) == pytest.approx(flops_per_county_day(ref), rel=0.01)


def test_reference_forward_shapes(bench_speed):
    out = bench_speed.ReferenceKGMLAg()(torch.randn(2, 10, 19), torch.zeros(2, 10))
    assert [tuple(o.shape) for o in out] == [(2,), (2, 10), (2, 10), (2, 10)]


def test_summary_medians_and_paired_ratios(bench_speed):
    times = {"reference": {"wall": [2.0, 2.0, 4.0], "cpu": [1.0, 1.0, 1.0]},
             "fast": {"wall": [1.0, 1.0, 1.0], "cpu": [0.5, 0.25, 0.5]}}
    s = bench_speed.summarise(times, work=10, flops={"reference": 1e9, "fast": 5e8}, reference="reference")
    assert s["reference"]["per_s_wall"] == 5.0 and s["reference"]["ratio_wall"] == 1.0
    assert s["fast"]["per_s_wall"] == 10.0 and s["fast"]["ratio_wall"] == 2.0
    assert s["fast"]["ratio_wall_range"] == [2.0, 4.0]
    assert s["fast"]["ratio_cpu"] == 2.0 and s["fast"]["gflops_cpu"] == pytest.approx(20 * 5e8 / 1e9)


def test_tiny_run_end_to_end(bench_speed, tmp_path, monkeypatch):
    import numpy as np

    from kgml_core.training.data import Normalizer, make_samples
    from tests.training.conftest import fake_world
    base = make_samples(fake_world(n_units=4, years=(2001, 2001)))
    monkeypatch.setattr(bench_speed, "benchmark_samples",
                        lambda n: (base.subset(np.arange(n) % len(base)), Normalizer.fit(base)))
    cfg = bench_speed.SpeedConfig(rounds=1, train_sequences=4, train_batch=4, infer_sequences=4, infer_batch=4,
                                  contenders=("quick",))
    r = bench_speed.run_speed(cfg)
    for what in ("training", "inference"):
        assert set(r[what]) == {"reference", "project_quick"}
        assert r[what]["project_quick"]["per_s_cpu"] > 0
    assert "project_quick" in bench_speed.table(r)
