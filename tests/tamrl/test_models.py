import pytest
import torch

from kgml_core.models import MODELS, build_model
from kgml_core.models.lstm import CTLSTMModel, LSTMModel
from kgml_core.models.tamrl import TAMRLModel, TaskEncoder


def test_registry_builds_each_model():
    for name, cls in (("lstm", LSTMModel), ("ct_lstm", CTLSTMModel), ("tamrl", TAMRLModel)):
        assert MODELS[name] is cls
        assert isinstance(build_model(name, {"hidden": 8}), cls)


def test_lstm_and_ct_lstm_shapes():
    x, s = torch.randn(4, 30, 7), torch.randn(4, 5)
    assert LSTMModel(7, hidden=8)(x)["y_hat"].shape == (4, 30, 3)
    ct = CTLSTMModel(7, 5, hidden=8)
    assert ct(x, s)["y_hat"].shape == (4, 30, 3)
    with pytest.raises(ValueError, match="static"):
        ct(x)


def test_encoder_returns_embedding():
    enc = TaskEncoder(10, hidden=8, z_dim=6)
    assert enc(torch.randn(3, 30, 10)).shape == (3, 6)


def test_pretrained_lstm_copied_exactly_and_modulation_starts_as_identity():
    torch.manual_seed(0)
    lstm = LSTMModel(7, hidden=8).eval()
    tam = TAMRLModel(7, 5, 13, hidden=8, z_dim=4).eval()
    tam.load_pretrained(lstm)
    x = torch.randn(2, 30, 7)
    got = tam(x, s=torch.randn(2, 5))["y_hat"]
    torch.testing.assert_close(got, lstm(x)["y_hat"])
    with torch.no_grad():
        tam.forward_model.film.bias.fill_(0.5)
    assert not torch.allclose(tam(x, s=torch.randn(2, 5))["y_hat"], got)


def test_tamrl_modes_and_mismatch():
    tam = TAMRLModel(7, 5, 13, hidden=8, z_dim=4).eval()
    x = torch.randn(2, 30, 7)
    few = tam(x, support=torch.randn(2, 30, 13))
    zero = tam(x, s=torch.randn(2, 5))
    assert few["y_hat"].shape == zero["y_hat"].shape == (2, 30, 3) and few["z"].shape == (2, 4)
    with pytest.raises(ValueError, match="support window"):
        tam(x)
    with pytest.raises(ValueError, match="does not match"):
        tam.load_pretrained(LSTMModel(6, hidden=8))


def test_several_support_windows_average_their_encodings():
    torch.manual_seed(0)
    model = TAMRLModel(n_dyn=4, n_static=3, n_support=10, hidden=8, z_dim=5).eval()
    s = torch.randn(2, 3)
    one = torch.randn(2, 30, 10)
    other = torch.randn(2, 30, 10)
    one[..., -3:], other[..., -3:] = 1.0, 1.0      # observed masks
    empty = torch.zeros(2, 30, 10)                   # a padding window: nothing observed
    with torch.no_grad():
        z1, z2 = model.embed(one, s), model.embed(other, s)
        both = model.embed(torch.stack([one, other, empty], dim=1), s)
        only_empty = model.embed(torch.stack([empty, empty], dim=1), s)
    torch.testing.assert_close(both, (z1 + z2) / 2)
    torch.testing.assert_close(only_empty, model.embed(None, s))   # no observation: zero-shot
