"""The fast GRU gives nn.GRU's outputs and gradients; KGML-ag with it gives the native model's outputs.

Every test runs on both CPU paths: the compiled extension (skipped when it is not built) and the
pure-PyTorch loop (always).
"""
import contextlib

import pytest
import torch
from torch import nn

from kgml_core.models import fast_gru, gru_ext
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig


def _native(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    return gru(x)[0]


@pytest.fixture(params=["fused", "pytorch"], autouse=True)
def path(request):
    """Run the test with the compiled extension, then with the pure-PyTorch loop."""
    if request.param == "fused" and gru_ext.extension() is None:
        pytest.skip("the fused GRU extension is not built (`make`)")
    with gru_ext.switched_off() if request.param == "pytorch" else contextlib.nullcontext():
        assert fast_gru.fused() == (request.param == "fused")
        yield request.param


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


def test_gradcheck_of_the_recurrence():
    torch.manual_seed(1)
    args = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in ((4, 2, 6), (6, 2), (6,))]
    assert torch.autograd.gradcheck(fast_gru.GRURecurrence.apply, args)


def test_input_gates_equal_the_concatenated_projection():
    torch.manual_seed(3)
    a, b, w, bias = torch.randn(5, 2, 3), torch.randn(5, 2, 1), torch.randn(6, 4), torch.randn(6)
    got = fast_gru.input_gates(bias, [(a, w[:, :3]), (b, w[:, 3:])])
    torch.testing.assert_close(got, torch.cat([a, b], -1) @ w.t() + bias)


def test_frozen_weights_and_data_input_skip_the_custom_backward():
    gru = nn.GRU(4, 3)
    for p in gru.parameters():
        p.requires_grad_(False)
    x = torch.randn(5, 2, 4)
    out = fast_gru.gru_time_major(gru, x)
    assert out.grad_fn is None                                   # the loop without saving anything
    torch.testing.assert_close(out, _native(gru, x))


def _native_kgml_ag(model: KGMLAg, x: torch.Tensor, residue) -> dict[str, torch.Tensor]:
    """KGML-ag written with the concatenated inputs and the native batch-first nn.GRU modules."""
    h = model.drop(model.shared(x)[0])
    yield_, attention = model.yield_head(h, 1)
    ra = model.ra_net.read(model.ra_net.gru(torch.cat([h, x], -1))[0])
    residue = residue(yield_, ra)
    rh = model.rh_net.read(model.rh_net.gru(torch.cat([h, x, residue.unsqueeze(-1)], -1))[0])
    nee = model.nee_net.read(model.nee_net.gru(torch.cat([ra.unsqueeze(-1), rh.unsqueeze(-1), x], -1))[0])
    return {"yield": yield_, "ra": ra, "rh": rh, "nee": nee, "attention": attention}


@pytest.mark.parametrize("rh_layers", [1, 2])
def test_kgml_ag_outputs_and_gradients_unchanged(rh_layers):
    """Eval outputs and training gradients (dropout off) equal to the native nn.GRU model on concatenated inputs."""
    torch.manual_seed(2)
    model = KGMLAg(KGMLAgConfig(hidden=16, flux_hidden=8, head_hidden=8, dropout=0.0, rh_layers=rh_layers)).double()
    x = torch.randn(4, 30, 19, dtype=torch.float64)
    residue = lambda y, ra: ra * 0.1 + y[:, None]                  # noqa: E731 (the callable residue path)
    results = []
    for forward in (model, lambda x_, r_: _native_kgml_ag(model, x_, r_)):
        model.eval()
        with torch.no_grad():
            evald = forward(x, residue)
        model.train()
        model.zero_grad()
        out = forward(x, residue)
        sum(out[k].square().mean() for k in ("yield", "ra", "rh", "nee")).backward()
        results.append((evald, {n: p.grad.clone() for n, p in model.named_parameters()}))
    (eval_fast, grad_fast), (eval_native, grad_native) = results
    for k in ("yield", "ra", "rh", "nee", "attention"):
        torch.testing.assert_close(eval_fast[k], eval_native[k], atol=1e-12, rtol=1e-9)
    for name in grad_native:
        torch.testing.assert_close(grad_fast[name], grad_native[name], atol=1e-12, rtol=1e-9, msg=name)


def test_kgml_ag_float32_and_tensor_residue_to_round_off():
    torch.manual_seed(4)
    model = KGMLAg(KGMLAgConfig(hidden=16, flux_hidden=8, head_hidden=8, rh_layers=2)).eval()
    x, residue = torch.randn(3, 365, 19), torch.randn(3, 365)
    with torch.no_grad():
        got = model(x, residue)
        ref = _native_kgml_ag(model, x, lambda y, ra: residue)
        zero = model(x)                                             # None: a zero residue input
        ref_zero = _native_kgml_ag(model, x, lambda y, ra: torch.zeros_like(residue))
    for k in ("yield", "ra", "rh", "nee"):
        torch.testing.assert_close(got[k], ref[k], atol=2e-6, rtol=1e-5)
        torch.testing.assert_close(zero[k], ref_zero[k], atol=2e-6, rtol=1e-5)


def test_float32_layer_equals_native_gru_to_1e5():
    torch.manual_seed(5)
    gru = nn.GRU(11, 24, num_layers=2)
    x = torch.randn(365, 6, 11)
    with torch.no_grad():
        torch.testing.assert_close(fast_gru.gru_time_major(gru, x), _native(gru, x), atol=1e-5, rtol=1e-5)
    out = fast_gru.gru_time_major(gru, x)
    out.square().mean().backward()
    fast = [p.grad.clone() for p in gru.parameters()]
    gru.zero_grad()
    _native(gru, x).square().mean().backward()
    for a, b in zip(fast, [p.grad for p in gru.parameters()]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_gradcheck_of_a_layer_from_input_pieces():
    """Input pieces (as KGML-ag's flux GRUs have), their weight blocks and the biases, in float64."""
    torch.manual_seed(6)
    shapes = ((9,), (9, 3), (9,), (4, 2, 2), (9, 2), (4, 2, 1), (9, 1))   # b_ih, w_hh, b_hh, (x_i, w_i)...
    args = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    b_ih, w_hh, b_hh, x0, w0, x1, w1 = args

    def layer(b_ih, w_hh, b_hh, x0, w0, x1, w1):
        return fast_gru.gru_layer([(x0, w0), (x1, w1)], b_ih, w_hh, b_hh)

    assert torch.autograd.gradcheck(layer, args)

