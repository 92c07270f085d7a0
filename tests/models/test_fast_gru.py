"""The fast GRU gives nn.GRU's outputs and gradients; KGML-ag with it gives the native model's outputs."""
import pytest
import torch
from torch import nn

from kgml_core.models import fast_gru
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig


def _native(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    return gru(x)[0]


@pytest.mark.parametrize("layers, batch_first", [(1, False), (2, False), (2, True)])
def test_gru_layer_matches_native_outputs_and_gradients(layers, batch_first):
    torch.manual_seed(0)
    gru = nn.GRU(7, 5, num_layers=layers, batch_first=batch_first).double()
    x = torch.randn(3, 11, 7, dtype=torch.float64) if batch_first else torch.randn(11, 3, 7, dtype=torch.float64)
    x.requires_grad_(True)
    weight = torch.randn(5, dtype=torch.float64)
    grads = []
    for run in (_native, fast_gru.gru_batch_first if batch_first else fast_gru.gru_time_major):
        gru.zero_grad()
        x.grad = None
        out = run(gru, x)
        (out * weight).sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in gru.parameters()] + [x.grad.clone()]))
    (out_a, g_a), (out_b, g_b) = grads
    assert torch.allclose(out_a, out_b, atol=1e-12)
    for a, b in zip(g_a, g_b):
        assert torch.allclose(a, b, atol=1e-10)


def test_gradcheck_of_one_layer():
    torch.manual_seed(1)
    args = [torch.randn(s, dtype=torch.float64, requires_grad=True)
            for s in ((4, 2, 3), (6, 3), (6, 2), (6,), (6,))]
    assert torch.autograd.gradcheck(fast_gru.GRULayer.apply, args)


def test_frozen_weights_and_data_input_skip_the_custom_backward():
    gru = nn.GRU(4, 3)
    for p in gru.parameters():
        p.requires_grad_(False)
    out = fast_gru.gru_time_major(gru, torch.randn(5, 2, 4))
    assert out.grad_fn is None                                   # the native kernel, no autograd


@pytest.mark.parametrize("rh_layers", [1, 2])
def test_kgml_ag_outputs_and_gradients_unchanged(monkeypatch, rh_layers):
    """Eval outputs to 1e-5 and training gradients (dropout off) against the native nn.GRU path."""
    torch.manual_seed(2)
    model = KGMLAg(KGMLAgConfig(hidden=16, flux_hidden=8, head_hidden=8, dropout=0.0, rh_layers=rh_layers))
    x, residue = torch.randn(4, 30, 19), torch.randn(4, 30)
    results = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr("kgml_core.models.kgml_ag.gru_batch_first", _native)
        model.eval()
        with torch.no_grad():
            evald = model(x, residue)
        model.train()
        model.zero_grad()
        out = model(x, lambda y, ra: ra * 0.1 + y[:, None])     # the callable residue path
        sum(out[k].square().mean() for k in ("yield", "ra", "rh", "nee")).backward()
        results.append((evald, {n: p.grad.clone() for n, p in model.named_parameters()}))
    (eval_fast, grad_fast), (eval_native, grad_native) = results
    for k in ("yield", "ra", "rh", "nee", "attention"):
        assert torch.allclose(eval_fast[k], eval_native[k], atol=1e-5)
    for name in grad_native:
        assert torch.allclose(grad_fast[name], grad_native[name], atol=1e-5), name
