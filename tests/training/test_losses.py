import pytest
import torch

from kgml_core.training import losses as L


def test_mass_balance_zero_when_balanced():
    gpp = torch.rand(3, 10) * 10
    ra, rh = 0.4 * gpp, torch.rand(3, 10)
    nee = ra + rh - gpp
    assert float(L.mass_balance_penalty(gpp, ra, rh, nee)) == 0.0
    bad = L.mass_balance_penalty(gpp, ra, rh, nee + 1.0, tol=0.0)
    assert abs(float(bad) - 1.0) < 1e-5


def test_mass_balance_tolerance():
    gpp = torch.full((1, 4), 10.0)
    ra, rh = torch.full((1, 4), 4.0), torch.full((1, 4), 6.0)
    nee = ra + rh - gpp + 0.05  # off by 0.5 % of respiration
    assert float(L.mass_balance_penalty(gpp, ra, rh, nee, tol=0.01)) == 0.0
    assert float(L.mass_balance_penalty(gpp, ra, rh, nee, tol=0.0)) > 0.0


def test_masked_mse_ignores_nan():
    pred = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([1.0, float("nan"), 5.0])
    assert abs(float(L.masked_mse(pred, target, scale=2.0)) - 0.5) < 1e-6


def test_reco_partition():
    ra, rh = torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 2.0]])
    reco = torch.tensor([[3.0, 2.0]])
    season = torch.tensor([[True, False]])
    assert float(L.reco_partition_loss(ra, rh, reco, season)) == 0.0


def test_l2sp_and_self_paced():
    model = torch.nn.Linear(2, 1)
    anchor = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert float(L.l2_sp(model, anchor)) == 0.0
    with torch.no_grad():
        model.bias += 2.0
    assert abs(float(L.l2_sp(model, anchor)) - 4.0) < 1e-5
    w = L.self_paced_weights(torch.tensor([1.0, 2.0, 3.0, 100.0]), 0.5)
    assert w.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_reco_partition_season_weight():
    ra = torch.tensor([[1.0, 1.0]])
    rh = torch.tensor([[0.0, 0.0]])
    reco = torch.tensor([[2.0, 2.0]])
    season = torch.tensor([[True, False]])
    # in season the error is 2 - 1 = 1, outside 2 - 0 = 2
    assert float(L.reco_partition_loss(ra, rh, reco, season)) == pytest.approx((1 + 4) / 2)
    assert float(L.reco_partition_loss(ra, rh, reco, season, season_weight=0.0)) == pytest.approx(4.0)
