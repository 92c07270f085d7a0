"""The warm-up: each sample carries the end of its previous year, the recurrent networks read it with no
loss and carry their state into the scored year."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kgml_core.models import build_model
from kgml_core.training.data import DAYS, INPUTS, Normalizer, Samples, make_samples
from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig
from tests.training.conftest import fake_world

K = 40
WEATHER = [INPUTS.index(k) for k in ("SW_IN", "TA_MAX", "P", "GPP")]


@pytest.fixture(scope="module")
def three_years():
    return fake_world(n_units=4, years=(2001, 2003), seed=3)


def test_warmup_is_the_end_of_the_previous_year(three_years):
    cold = make_samples(three_years)
    warm = make_samples(three_years, warmup=K)
    assert cold.warmup == 0 and warm.warmup == K and warm.warm.shape == (len(warm), K, len(INPUTS))
    np.testing.assert_array_equal(cold.x, warm.x)                  # the scored year is unchanged
    # 2002's warm-up is the end of 2001 (weather, GPP, 2001's crop), 2003's the end of 2002
    np.testing.assert_allclose(warm.warm[4:8], cold.x[0:4, -K:], rtol=1e-6)
    np.testing.assert_allclose(warm.warm[8:12], cold.x[4:8, -K:], rtol=1e-6)
    # the first year of the record has no predecessor: the end of the following year stands in
    np.testing.assert_allclose(warm.warm[0:4][..., WEATHER], cold.x[4:8, -K:][..., WEATHER], rtol=1e-6)
    one = make_samples(three_years.sel(time=three_years["time.year"] == 2002), warmup=K)
    np.testing.assert_allclose(one.warm, cold.x[4:8, -K:], rtol=1e-6)  # a one-year record: its own end


def test_warmup_follows_subset_and_concat_and_checks_its_length(three_years):
    warm = make_samples(three_years, warmup=K)
    sub = warm.subset(np.array([5, 1]))
    np.testing.assert_array_equal(sub.warm, warm.warm[[5, 1]])
    both = Samples.concat([sub, warm.subset(np.array([0]))])
    assert both.warm.shape == (3, K, len(INPUTS))
    with pytest.raises(ValueError, match="warmup"):
        make_samples(three_years, warmup=DAYS + 1)


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model("kgml_ag", {"n_inputs": len(INPUTS), "hidden": 8, "flux_hidden": 6, "head_hidden": 6,
                                    "dropout": 0.0}).eval()


@pytest.mark.parametrize("time_major", [False, True])
def test_the_scored_year_continues_the_warmup_run(time_major):
    """With a warm-up the GRUs run on: the scored outputs are the tail of one run over all days."""
    model = _model()
    x = torch.randn(3, K + 50, len(INPUTS))
    if time_major:
        x = x.transpose(0, 1).contiguous()
    whole = model(x, time_major=time_major)
    warm = model(x, time_major=time_major, warmup=K)
    day = 0 if time_major else 1
    for key in ("ra", "rh", "nee"):
        assert warm[key].shape[day] == 50
        torch.testing.assert_close(warm[key], whole[key].narrow(day, K, 50))
    assert warm["attention"].shape[day] == 50                       # the yield head attends to the scored days
    with pytest.raises(ValueError, match="warmup"):
        model(x, time_major=time_major, warmup=K + 50)


def _trainer(samples):
    return KGMLTrainer(_model(), Normalizer.fit(samples), torch.device("cpu"))


def test_prediction_depends_on_the_previous_year(three_years):
    samples = make_samples(three_years, warmup=K)
    trainer = _trainer(samples)
    base = trainer.predict(samples)
    assert base["RH"].shape == (len(samples), DAYS)
    changed = samples.subset(np.arange(len(samples)))
    changed.warm[..., INPUTS.index("P")] += 20.0                    # a much wetter autumn last year
    moved = trainer.predict(changed)
    assert np.abs(moved["RH"][:, :30] - base["RH"][:, :30]).max() > 1e-4
    # without a warm-up (or for a model that reads none) last year's inputs cannot matter
    cold = make_samples(three_years)
    np.testing.assert_allclose(_trainer(samples).predict(cold)["RH"],
                               _trainer(samples).predict(cold.subset(np.arange(len(cold))))["RH"])


def test_no_loss_on_warmup_days(three_years, monkeypatch):
    """Whatever the networks output on warm-up days, the losses (and the step's gradients) are the same."""
    samples = make_samples(three_years, warmup=K)
    trainer = _trainer(samples)
    tensors = trainer.tensors(Source(samples, "process_fluxes"))
    assert tensors["x"].shape[1] == K + DAYS
    cfg = StepConfig()

    def loss():
        trainer.model.zero_grad()
        terms = trainer._loss("process_fluxes", tensors, cfg, 1.0)
        total = sum(terms.values())
        total.backward()
        return float(total.detach()), trainer.model.nee_net.out.weight.grad.clone()

    before, grad_before = loss()
    series = trainer.model.nee_net.from_parts

    def shifted(parts):     # time-major daily series: the first K days are the warm-up
        out = series(parts)
        assert out.shape[0] == K + DAYS                             # the network did run over the warm-up
        return torch.cat([out[:K] + 1e3, out[K:]])

    monkeypatch.setattr(trainer.model.nee_net, "from_parts", shifted)
    after, grad_after = loss()
    assert after == pytest.approx(before, rel=1e-6)
    torch.testing.assert_close(grad_after, grad_before)


def test_training_with_a_warmup_lowers_the_loss(three_years):
    samples = make_samples(three_years, warmup=K)
    trainer = _trainer(samples)
    log = trainer.train_step("s", [Source(samples, "process_fluxes")], ("shared", "ra", "rh", "nee"),
                             StepConfig(epochs=6, batch_size=6, lr=1e-2))
    totals = [sum(e.values()) for e in log.epochs]
    assert np.isfinite(totals).all() and totals[-1] < totals[0]
