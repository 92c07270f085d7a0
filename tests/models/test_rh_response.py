"""KGML-ag's knowledge-guided Rh read-out (``rh_response="q10"``): Rh in physical units is a base
respiration at 20 degC times ``Q10 ** ((Ts - 20) / 10)``, Q10 from the parameter vector (each
sample's or ``theta``), Ts a soil-temperature proxy of the air-temperature inputs; the default
read-out ("gru") is KGML-ag's as before."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig, soil_temperature
from kgml_core.training.data import INPUTS, PARAM_NAMES, Normalizer, prior_mean, prior_std
from kgml_core.training.trainer import KGMLTrainer

Q10 = PARAM_NAMES.index("RH_Q10")
TA_MAX, TA_RANGE = INPUTS.index("TA_MAX"), INPUTS.index("TA_RANGE")


def _norm() -> Normalizer:
    x_mean, x_std = np.zeros(len(INPUTS), np.float32), np.ones(len(INPUTS), np.float32)
    x_mean[TA_MAX], x_std[TA_MAX] = 16.0, 11.0
    x_mean[TA_RANGE], x_std[TA_RANGE] = 11.0, 3.0
    y_mean = {"RH": 1.6, "RA": 3.0, "NEE": -1.0, "YIELD": 500.0, "RESIDUE": 100.0, "GPP": 5.0, "RECO": 4.6}
    y_std = {"RH": 1.1, "RA": 3.0, "NEE": 4.0, "YIELD": 200.0, "RESIDUE": 150.0, "GPP": 6.0, "RECO": 3.5}
    return Normalizer(x_mean, x_std, y_mean, y_std, np.full(365, 1 / 365, np.float32))


def _model(response="q10", n_params=len(PARAM_NAMES), **kw) -> KGMLAg:
    torch.manual_seed(0)
    model = KGMLAg(KGMLAgConfig(hidden=8, flux_hidden=6, head_hidden=4, dropout=0.0, n_params=n_params,
                                rh_response=response, **kw)).eval()
    model.use_normalizer(_norm())
    return model


def _params(q10s) -> torch.Tensor:
    """Parameter vectors (prior standard units) at the prior mean except Q10 (physical values ``q10s``)."""
    z = torch.zeros(len(q10s), len(PARAM_NAMES))
    z[:, Q10] = (torch.tensor(q10s) - float(prior_mean()[Q10])) / float(prior_std()[Q10])
    return z


def _phys_rh(model, out) -> torch.Tensor:
    mean, sd = model.rh_scales[0], model.rh_scales[1]
    return out["rh"] * sd + mean


def _temperatures(days=60, batch=2, seed=1):
    """Standardised inputs with a seasonal air temperature, the other inputs random."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, days, len(INPUTS), generator=gen)
    ta = 5.0 + 15.0 * torch.sin(torch.linspace(0, 3.0, days))
    x[..., TA_MAX] = ((ta + 5.5) - 16.0) / 11.0          # TA_MAX = TA + range / 2 with a range of 11 degC
    x[..., TA_RANGE] = 0.0
    return x, ta


@pytest.mark.parametrize("in_networks", [True, False])
def test_rh_scales_by_q10_to_the_soil_temperature_when_only_q10_changes(in_networks):
    """Q10 out of the networks: only the factor moves (exactly its ratio); in them: the ratio holds on the
    factor's share, checked through the base (the networks' read-out), equal when their inputs are equal."""
    model = _model(q10_in_networks=in_networks)
    x, ta = _temperatures()
    with torch.no_grad():
        low, high = (_phys_rh(model, model(x, params=_params([q, q]))) for q in (1.5, 3.0))
    ts = soil_temperature(ta[:, None], 7.0)[:, 0]
    expected = (3.0 / 1.5) ** ((ts - 20.0) / 10.0)
    if not in_networks:
        torch.testing.assert_close(high / low, expected.expand_as(high), rtol=1e-4, atol=1e-6)
    else:
        # the networks see Q10 too: the Ra and NEE networks' outputs move, and Rh is not the ratio alone
        assert not torch.allclose(high / low, expected.expand_as(high), rtol=1e-3)


def test_the_estimate_theta_flows_through_the_factor_like_given_parameters():
    model = _model(q10_in_networks=False)
    x, _ = _temperatures()
    with torch.no_grad():
        model.theta.copy_(_params([3.1])[0])
        own = model(x)
        given = model(x, params=_params([3.1, 3.1]))
    torch.testing.assert_close(own["rh"], given["rh"])
    # theta's Q10 gets a gradient through the factor alone (the networks do not read it)
    model.zero_grad()
    model(x)["rh"].sum().backward()
    assert model.theta.grad[Q10].abs() > 0
    assert torch.all(model.theta.grad[[i for i in range(len(PARAM_NAMES)) if i != Q10]] != 0)


def test_soil_temperature_lags_and_damps_air_temperature():
    days = torch.arange(730, dtype=torch.float64)
    seasonal = 10 + 12 * torch.sin(2 * np.pi * (days - 105) / 365)
    weekly = 4 * torch.sin(2 * np.pi * days / 9)
    ta = (seasonal + weekly)[:, None]
    ts = soil_temperature(ta, 7.0)[:, 0]
    ref = [float(ta[0])]                           # the recursion it stands for, started at the first day
    for t in range(1, len(days)):
        ref.append(ref[-1] + (float(ta[t]) - ref[-1]) / 7.0)
    np.testing.assert_allclose(ts.numpy(), ref, rtol=1e-9, atol=1e-9)
    seasonal_ts = soil_temperature(seasonal[:, None], 7.0)[365:, 0]
    lag = int(seasonal_ts.argmax()) - int(seasonal[365:].argmax())
    assert 3 <= lag <= 10                          # about a week behind the air
    weekly_ts = soil_temperature(weekly[:, None], 7.0)[365:, 0]
    assert weekly_ts.std() < 0.5 * weekly[365:].std()   # day-to-day swings damped


def test_rh_comes_out_standardised_and_positive_in_physical_units():
    model = _model()
    x, _ = _temperatures(days=40, batch=3)
    out = model(x, params=_params([1.3, 2.2, 3.9]))
    assert out["rh"].shape == (3, 40)
    assert torch.all(_phys_rh(model, out) > 0)


def test_the_trainer_gives_the_model_its_scales_and_they_travel_with_the_weights():
    torch.manual_seed(0)
    model = KGMLAg(KGMLAgConfig(hidden=8, flux_hidden=6, head_hidden=4, n_params=len(PARAM_NAMES),
                                rh_response="q10"))
    x, _ = _temperatures()
    with pytest.raises(RuntimeError, match="use_normalizer"):
        model(x)
    KGMLTrainer(model, _norm(), torch.device("cpu"))
    assert torch.isfinite(model.rh_scales[:8]).all() and float(model.rh_scales[0]) == pytest.approx(1.6)
    copy = KGMLAg(model.config)
    copy.load_state_dict(model.state_dict())
    torch.testing.assert_close(copy.eval()(x)["rh"], model.eval()(x)["rh"])


def test_default_read_out_is_kgml_ags_and_holds_no_new_state():
    plain = _model("gru")
    assert "rh_scales" not in plain.state_dict()
    x, _ = _temperatures()
    with torch.no_grad():
        out = plain(x, params=_params([1.5, 3.0]))
        h = plain.shared(plain.with_parameters(x, _params([1.5, 3.0])))[0]
    assert out["rh"].shape == (2, 60) and torch.isfinite(h).all()
    # the same weights under "gru" give the linear read-out, under "q10" the factor on top of it
    q10 = _model("q10")
    q10.load_state_dict({**plain.state_dict(), "rh_scales": q10.rh_scales})
    with torch.no_grad():
        other = q10(x, params=_params([1.5, 3.0]))
    torch.testing.assert_close(other["ra"], out["ra"])
    assert not torch.allclose(other["rh"], out["rh"])


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="rh_response"):
        KGMLAg(KGMLAgConfig(rh_response="arrhenius"))
    with pytest.raises(ValueError, match="TA_MAX"):
        KGMLAg(KGMLAgConfig(n_inputs=4, rh_response="q10"))
    with pytest.raises(ValueError, match="soil_days"):
        KGMLAg(KGMLAgConfig(rh_response="q10", soil_days=0.5))


def test_without_parameters_q10_is_the_prior_mean():
    model = _model(n_params=0)
    x, ta = _temperatures()
    with torch.no_grad():
        factor = model.rh_factor(x.transpose(0, 1))
    ts = soil_temperature(ta[:, None], 7.0)[:, 0]
    torch.testing.assert_close(factor[:, 0], float(prior_mean()[Q10]) ** ((ts - 20) / 10), rtol=1e-5, atol=1e-6)


def test_soil_water_output_is_read_from_the_shared_states_and_trained_with_them():
    model = _model("gru", swc_output=True)
    x, _ = _temperatures(days=50)
    out = model(x, params=_params([2.0, 2.0]), warmup=10)
    assert out["swc"].shape == (2, 40)
    assert "swc" not in _model("gru")(x)                       # the default predicts no soil water
    assert "swc_head" in type(model).GROUPS["shared"]
    trainer = KGMLTrainer(model, _norm(), torch.device("cpu"))
    trained = trainer.set_trainable(["shared"])
    assert any(p is model.swc_head.weight for p in trained)
    assert "swc" not in model(x, yield_only=True)


def test_moisture_response_of_the_predicted_soil_water():
    norm = _norm()
    norm.y_mean["SWC"], norm.y_std["SWC"] = 30.0, 6.0
    fc = INPUTS.index("FC")
    norm.x_mean[fc], norm.x_std[fc] = 0.33, 0.05
    torch.manual_seed(0)
    model = KGMLAg(KGMLAgConfig(hidden=8, flux_hidden=6, head_hidden=4, dropout=0.0, n_params=len(PARAM_NAMES),
                                rh_response="q10", swc_output=True, rh_moisture=True)).eval()
    model.use_normalizer(norm)
    x, _ = _temperatures(days=20)
    x[..., fc] = 0.0                                            # FC 0.33 m3 m-3
    params = _params([2.0, 2.0])
    opt, width = PARAM_NAMES.index("RH_SWC_OPT"), PARAM_NAMES.index("RH_SWC_WIDTH")
    params[1, opt] = 1.0                                        # the second sample's optimum one prior sd higher
    factor = model.rh_factor(x.transpose(0, 1), params)
    temperature = _model().rh_factor(x.transpose(0, 1), params)
    swc = torch.full((20, 2), (0.33 * 0.8 * 100 - 30.0) / 6.0)  # SWC at 0.8 of field capacity (the prior optimum)
    p_mean, p_std = prior_mean(), prior_std()
    opts = torch.tensor([p_mean[opt], p_mean[opt] + p_std[opt]])
    expected = temperature * torch.exp(-((0.8 - opts) / float(p_mean[width])) ** 2)
    torch.testing.assert_close(factor(swc), expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(factor(swc)[:, 0], temperature[:, 0])  # at the optimum: the temperature factor alone
    out = model(x, params=params)
    assert out["rh"].shape == out["swc"].shape == (2, 20)
    with pytest.raises(ValueError, match="rh_moisture"):
        KGMLAg(KGMLAgConfig(n_params=len(PARAM_NAMES), rh_response="q10", rh_moisture=True))
