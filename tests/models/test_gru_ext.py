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
