"""The models on CUDA: the same outputs and gradients as on the CPU (float32, TF32 off), for KGML-ag (the
parameter-conditioned emulator, its "q10" read-out with soil water), the GRU with attention and the fast GRU.

Skipped without CUDA (CI has none); ``benchmarks/bench_cuda.py`` runs the same comparisons at the presets'
sizes and prints the differences.
"""
from __future__ import annotations

import copy

import pytest
import torch

from kgml_core.models import build_model
from kgml_core.models.fast_gru import gru_time_major
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig, soil_temperature
from kgml_core.training.data import INPUTS, PARAM_NAMES
from tests.models.test_rh_response import _norm

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA absent: torch sees no GPU")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def exact_float32():
    """TF32 off in cuDNN and cuBLAS (on by default in cuDNN): float32 results comparable with the CPU's;
    the CPU on one thread."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.get_num_threads()
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(1)                   # the CPU references: several threads thrash on a shared machine
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, threads = before
    torch.set_num_threads(threads)


def _inputs(batch=4, days=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, days, len(INPUTS), generator=gen)
    return x, torch.randn(batch, len(PARAM_NAMES), generator=gen), torch.randn(batch, days - 10, generator=gen)


def _outputs_and_grads(model, x, params, residue, train):
    model.train(train)
    model.zero_grad()
    with torch.set_grad_enabled(train):
        out = model(x, residue, params, warmup=10)
        if train:
            sum((v * (i + 1)).sum() for i, v in enumerate(out.values())).backward()
    grads = {n: p.grad.cpu() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach().cpu() for k, v in out.items()}, grads


def _assert_close(cpu: dict, cuda: dict, rel: float) -> None:
    """Every tensor within ``rel`` times the largest value of them all (a gradient of 1e-4 beside
    gradients of 10 differs by float32 rounding of the whole sum, not of itself)."""
    assert cpu.keys() == cuda.keys()
    scale = max((float(v.abs().max()) for v in cpu.values()), default=0.0)
    for k in cpu:
        assert float((cpu[k] - cuda[k]).abs().max()) <= rel * scale, k


@pytest.mark.parametrize("extra", [{}, {"rh_response": "q10", "swc_output": True, "rh_moisture": True}],
                         ids=["gru", "q10_swc_moisture"])
def test_emulator_on_cuda_agrees_with_the_cpu(extra):
    torch.manual_seed(0)
    model = KGMLAg(KGMLAgConfig(hidden=16, flux_hidden=8, head_hidden=8, dropout=0.0, n_params=len(PARAM_NAMES),
                                **extra))
    model.use_normalizer(_norm() if not extra else _moisture_norm())
    on_cuda = copy.deepcopy(model).to(CUDA)
    x, params, residue = _inputs()
    for train in (False, True):
        out_cpu, grad_cpu = _outputs_and_grads(model, x, params, residue, train)
        out_gpu, grad_gpu = _outputs_and_grads(on_cuda, x.to(CUDA), params.to(CUDA), residue.to(CUDA), train)
        _assert_close(out_cpu, out_gpu, 1e-4)
        _assert_close(grad_cpu, grad_gpu, 1e-3)
        assert train or not grad_gpu


def _moisture_norm():
    norm = _norm()
    norm.y_mean["SWC"], norm.y_std["SWC"] = 30.0, 5.0
    return norm


def test_gru_attention_on_cuda_agrees_with_the_cpu():
    torch.manual_seed(0)
    model = build_model("gru_attention", {"hidden": 16, "head_hidden": 8, "dropout": 0.0}).eval()
    x = _inputs()[0]
    with torch.no_grad():
        _assert_close(model(x), {k: v.cpu() for k, v in copy.deepcopy(model).to(CUDA)(x.to(CUDA)).items()}, 1e-4)


def test_fast_gru_on_cuda_agrees_with_the_cpu():
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 16, num_layers=2)
    x = torch.randn(50, 3, 5)

    def run(module, inp):
        inp = inp.clone().requires_grad_(True)
        h = gru_time_major(module, inp)
        h.pow(2).sum().backward()
        return {"h": h.detach().cpu(), "dx": inp.grad.cpu(), **{n: p.grad.cpu() for n, p in module.named_parameters()}}

    _assert_close(run(gru, x), run(copy.deepcopy(gru).to(CUDA), x.to(CUDA)), 1e-4)


def test_soil_temperature_on_cuda():
    ta = 10 + 10 * torch.sin(torch.linspace(0, 6, 200))[:, None].repeat(1, 3)
    assert torch.allclose(soil_temperature(ta.to(CUDA), 7.0).cpu(), soil_temperature(ta, 7.0), atol=1e-4)


def test_eval_mode_backward_on_cuda_as_on_the_cpu():
    """cuDNN's GRU has no eval-mode backward: KGML-ag's GRUs then run torch's CUDA kernel (same gradients)."""
    torch.manual_seed(0)
    model = KGMLAg(KGMLAgConfig(hidden=16, flux_hidden=8, head_hidden=8, n_params=len(PARAM_NAMES))).eval()
    model.use_normalizer(_norm())
    x, params, residue = _inputs()

    def input_gradient(m, device):
        inp = x.clone().to(device).requires_grad_(True)
        m(inp, residue.to(device), params.to(device), warmup=10)["nee"].sum().backward()
        return {"dx": inp.grad.cpu()}

    _assert_close(input_gradient(model, torch.device("cpu")), input_gradient(copy.deepcopy(model).to(CUDA), CUDA),
                  1e-4)
