"""KGML-ag as a parameter-conditioned emulator: the parameter vector reaches every sub-network,
``theta`` stands in for it, and the ``params`` group trains ``theta`` alone."""
from __future__ import annotations

import numpy as np
import torch

from kgml_core.models import build_model
from kgml_core.models.kgml_ag import KGMLAg
from kgml_core.training.trainer import KGMLTrainer


def _model(n_params=3):
    torch.manual_seed(0)
    return build_model("kgml_ag", {"n_inputs": 4, "hidden": 8, "flux_hidden": 6, "n_params": n_params,
                                    "dropout": 0.0}).eval()


def test_parameters_change_every_output_and_theta_is_the_default():
    model = _model()
    x = torch.randn(2, 30, 4)
    base = model(x)
    moved = model(x, params=torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 2.0]]))
    for key in ("yield", "ra", "rh", "nee"):
        assert not torch.allclose(base[key], moved[key])
    with torch.no_grad():
        model.theta.copy_(torch.tensor([1.0, 0.0, 0.0]))
    own = model(x)
    given = model(x, params=torch.tensor([[1.0, 0.0, 0.0]] * 2))
    torch.testing.assert_close(own["rh"], given["rh"])


def test_time_major_and_batch_first_forward_use_theta_alike():
    model = _model()
    with torch.no_grad():
        model.theta.copy_(torch.tensor([0.5, -0.5, 1.0]))
    x = torch.randn(3, 25, 4)

    def residue(yield_, ra):
        return torch.zeros_like(ra)
    fast = model(x.transpose(0, 1).contiguous(), residue, time_major=True)
    slow = model.train()(x, torch.zeros(3, 25))          # the batch-first path (no dropout in this model)
    torch.testing.assert_close(fast["rh"].t(), slow["rh"], rtol=1e-5, atol=1e-5)


def test_params_group_trains_theta_alone():
    model = _model()
    trainer = KGMLTrainer.__new__(KGMLTrainer)
    trainer.model = model
    trainable = trainer.set_trainable(["params"])
    assert len(trainable) == 1 and trainable[0] is model.theta
    assert not any(p.requires_grad for n, p in model.named_parameters() if n != "theta")


def test_without_parameters_it_is_plain_kgml_ag():
    model = _model(n_params=0)
    assert model.theta is None and "theta" not in dict(model.named_parameters())
    assert isinstance(model, KGMLAg) and np.isfinite(model(torch.randn(1, 10, 4))["rh"].detach().numpy()).all()
