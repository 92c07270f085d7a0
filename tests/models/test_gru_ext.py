"""The compiled GRU extension: built by `make`, loaded and used; switched off on request."""
import logging

import pytest
import torch
from torch import nn

from kgml_core.models import fast_gru, gru_ext


def test_the_extension_is_used_after_make():
    """`make` builds the extension (build/gru_ext/.built); then the models must load and use it."""
    if not (gru_ext.BUILD_ROOT / ".built").exists():
        pytest.skip("`make` has not built the fused GRU extension in this checkout")
    assert gru_ext.extension() is not None, (
        f"built by make but not loadable for this source and torch: {gru_ext.build_dir()} (rerun `make`)")
    assert fast_gru.fused()
    gru = nn.GRU(3, 4)
    out = fast_gru.gru_time_major(gru, torch.randn(5, 2, 3))
    assert type(out.grad_fn).__name__ == "FusedGRULayerBackward"          # the compiled layer ran


def test_switched_off_runs_the_pytorch_loop():
    gru = nn.GRU(3, 4)
    with gru_ext.switched_off():
        assert not fast_gru.fused()
        out = fast_gru.gru_time_major(gru, torch.randn(5, 2, 3))
    assert type(out.grad_fn).__name__ == "GRURecurrenceBackward"


def test_a_missing_build_is_logged_and_falls_back(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(gru_ext, "BUILD_ROOT", tmp_path / "nothing")
    gru_ext._load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=gru_ext.__name__):
            assert gru_ext.extension() is None
        assert "not built" in caplog.text and "make" in caplog.text
    finally:
        monkeypatch.undo()
        gru_ext._load.cache_clear()


def test_the_build_key_follows_the_source():
    key = gru_ext.build_key()
    assert len(key) == 16 and gru_ext.build_dir().name == key
    assert gru_ext.build_key() == key                                    # deterministic


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tanh_equals_torch_and_keeps_nan(dtype):
    x = torch.cat([torch.linspace(-12, 12, 2001, dtype=dtype), torch.tensor([0.0, 1e-8, -100.0, 100.0, 1e30],
                                                                            dtype=dtype)])
    torch.testing.assert_close(fast_gru.tanh(x), torch.tanh(x), atol=1e-6 if dtype == torch.float32 else 1e-12,
                               rtol=0)
    assert torch.isnan(fast_gru.tanh(torch.tensor([float("nan"), 1.0], dtype=dtype))[0])


def test_tanh_gradcheck():
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fast_gru.tanh, (x,))


def _grid() -> torch.Tensor:
    """A dense float32 grid over +-100, log-spaced magnitudes down to 1e-30, the switch points and extremes."""
    special = [0.0, -0.0, 1e-30, -1e-30, 0.6249, 0.625, 0.6251, 88.0, -88.0, 89.0, -89.0, 1e4, -1e4, 1e30, -1e30,
               float("inf"), -float("inf")]
    logs = torch.logspace(-30, 2, 100_001)
    return torch.cat([torch.linspace(-100, 100, 2_000_001), logs, -logs, torch.tensor(special)])


def _ulp_error(got: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """|got - ref| in units of 2^-23 |ref| (float32's relative spacing); below the smallest normal float
    (2^-126) in units of 2^-126 (results there are flushed towards zero)."""
    unit = torch.where(ref.abs() >= 2 ** -126, ref.abs() * 2 ** -23, torch.full_like(ref, 2 ** -126))
    return (got.double() - ref).abs() / unit


@pytest.mark.parametrize("avx512", [True, False])
def test_the_kernels_sigmoid_and_tanh_are_within_2_ulp_of_float64(avx512):
    ext = gru_ext.extension()
    if ext is None:
        pytest.skip("the fused GRU extension is not built (`make`)")
    ext.set_avx512(avx512)
    try:
        x = _grid()
        sig, th = ext.activations(x)
        nan_sig, nan_th = ext.activations(torch.tensor([float("nan"), 0.5]))
    finally:
        ext.set_avx512(True)
    assert _ulp_error(sig, torch.sigmoid(x.double())).max() <= 2.0
    assert _ulp_error(th, torch.tanh(x.double())).max() <= 2.0
    assert torch.isnan(nan_sig[0]) and torch.isnan(nan_th[0])               # NaN passes through


def _fused_inference_kernel():
    ext = gru_ext.extension()
    if ext is None or ext.kernels() != "avx512":
        pytest.skip("the fused inference step needs the built extension and an AVX-512 CPU")
    return ext


@pytest.mark.parametrize("hidden, layers, pieces", [(16, 1, [3]), (32, 2, [32, 7]), (64, 2, [19, 1]),
                                                    (48, 3, [2, 5])])
def test_fused_inference_equals_native_gru_and_its_read_out(hidden, layers, pieces):
    _fused_inference_kernel()
    torch.manual_seed(hidden)
    gru, out = nn.GRU(sum(pieces), hidden, num_layers=layers), nn.Linear(hidden, 1)
    xs = [torch.randn(41, 37, k) for k in pieces]          # 37 rows: whole and partial 6-row tiles
    cols = torch.tensor(pieces).cumsum(0).tolist()
    parts = [(x, gru.weight_ih_l0[:, c - k:c]) for x, k, c in zip(xs, pieces, cols)]
    with torch.no_grad():
        native = gru(torch.cat(xs, -1))[0]
        states = fast_gru.gru_from_parts(gru, parts)
        series = fast_gru.series_from_parts(gru, out, parts)
    assert states.grad_fn is None and series.shape == (41, 37)
    torch.testing.assert_close(states, native, atol=1e-5, rtol=0)
    torch.testing.assert_close(series, out(native).squeeze(-1), atol=1e-5, rtol=0)


def test_fused_inference_equals_the_layer_by_layer_path_in_kgml_ag():
    ext = _fused_inference_kernel()
    from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig
    torch.manual_seed(0)
    model = KGMLAg(KGMLAgConfig(hidden=64, flux_hidden=64, head_hidden=64, rh_layers=2, dropout=0.2)).eval()
    x, residue = torch.randn(9, 365, model.config.n_inputs), torch.randn(9, 365)
    with torch.no_grad():
        fused = model(x, residue)
        ext.set_avx512(False)
        try:
            by_layer = model(x, residue)
        finally:
            ext.set_avx512(True)
    for key in fused:
        torch.testing.assert_close(fused[key], by_layer[key], atol=1e-5, rtol=0)


def test_fused_inference_declines_what_it_cannot_run():
    ext = _fused_inference_kernel()
    gru = nn.GRU(4, 5)                                        # hidden not a multiple of 16
    w_ih, w_hh, b_ih, b_hh = [w.detach() for w in gru.all_weights[0]]
    assert ext.infer([torch.randn(3, 2, 4)], [w_ih], b_ih, w_hh, b_hh, []) is None
    gru = nn.GRU(4, 16)
    x = torch.randn(3, 2, 4)
    assert fast_gru.gru_time_major(gru, x).grad_fn is not None          # a gradient is needed: the layer path
    with torch.no_grad():
        gru.train()
        torch.testing.assert_close(fast_gru.gru_time_major(gru, x), gru(x)[0], atol=1e-5, rtol=0)


def test_fused_attention_score_equals_the_module():
    _fused_inference_kernel()
    torch.manual_seed(4)
    score = nn.Sequential(nn.Linear(24, 32), nn.Tanh(), nn.Linear(32, 1))
    h = torch.randn(13, 11, 24)                              # 143 rows: whole and partial 8-row tiles
    with torch.no_grad():
        fused = fast_gru.tanh_score(score, h)
    torch.testing.assert_close(fused, score(h).squeeze(-1).detach(), atol=1e-5, rtol=0)
    assert fast_gru.tanh_score(score, h).grad_fn is not None              # with a gradient: the module itself


def test_fused_training_forward_gives_native_gradients_in_float32():
    ext = _fused_inference_kernel()
    torch.manual_seed(5)
    gru = nn.GRU(9, 32)
    x = torch.randn(30, 13, 9, requires_grad=True)
    results = []
    for run in (lambda: gru(x)[0], lambda: fast_gru.gru_time_major(gru, x)):
        gru.zero_grad()
        x.grad = None
        out = run()
        (out * torch.linspace(-1, 1, 32)).sum().backward()
        results.append([out.detach()] + [p.grad.clone() for p in gru.parameters()] + [x.grad.clone()])
    assert ext.kernels() == "avx512" and type(out.grad_fn).__name__ == "FusedGRULayerBackward"
    for native, fused in zip(*results):
        torch.testing.assert_close(fused, native, atol=1e-5, rtol=1e-5)


def test_frozen_weights_get_no_gradient_work_and_the_same_input_gradient():
    """A layer whose weights are frozen (a parameter estimate) skips their gradients: the input's is unchanged."""
    if gru_ext.extension() is None:
        pytest.skip("the fused GRU extension is not built in this checkout (`make`)")
    torch.manual_seed(0)
    gru = nn.GRU(5, 16)
    x = torch.randn(20, 3, 5, requires_grad=True)
    grad = torch.randn(20, 3, 16)
    trained = torch.autograd.grad(fast_gru.gru_time_major(gru, x), x, grad)[0]
    for p in gru.parameters():
        p.requires_grad_(False)
    out = fast_gru.gru_time_major(gru, x)
    assert type(out.grad_fn).__name__ == "FusedGRULayerBackward"
    assert torch.equal(torch.autograd.grad(out, x, grad)[0], trained)
