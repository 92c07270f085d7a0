"""The CUDA benchmark runs on a machine without CUDA, says so, and writes its figures (no timing assertions)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_cuda():
    spec = importlib.util.spec_from_file_location("bench_cuda", ROOT / "benchmarks" / "bench_cuda.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_cuda"] = module
    spec.loader.exec_module(module)
    return module


def test_synthetic_samples_obey_the_carbon_balance(bench_cuda):
    s = bench_cuda.synthetic_samples(6, warmup=20, units=3)
    assert s.x.shape[:2] == (6, 365) and s.warm.shape[:2] == (6, 20) and s.params.shape[0] == 6
    d = s.daily
    assert abs(d["NEE"] - (d["RA"] + d["RH"] - s.gpp)).max() < 1e-4
    assert sorted(set(s.unit)) == ["T0", "T1", "T2"]


def test_smoke_run_without_cuda(bench_cuda, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "cuda.json"
    threads = torch.get_num_threads()
    try:
        bench_cuda.main(["--smoke", "--parts", "training", "speed", "--sizes", "quick", "--rounds", "1",
                         "--batches", "1", "--threads", "1", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert "CUDA ABSENT" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["machine"]["cuda"] is False
    assert r["training"]["loss_fell"] and r["training"]["predict_arrays"].startswith("ok")
    assert set(r["speed"][0]["epoch_s"]) == {"cpu_1_thread"}
