"""Batched inference: same numbers as the model and the trainer, batch-size invariant, FLOPs counted."""
import numpy as np
import pytest
import torch

from kgml_core.inference import (county_inputs, flops_per_county_day, gru_flops,
                                 predict_arrays, predict_counties)
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig
from kgml_core.training.data import Normalizer, make_samples
from kgml_core.training.trainer import KGMLTrainer
from tests.training.conftest import fake_world


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ds = fake_world(n_units=5, years=(2001, 2002))
    samples = make_samples(ds)
    model = KGMLAg(KGMLAgConfig(hidden=8, flux_hidden=4, head_hidden=4)).eval()
    return ds, samples, model, Normalizer.fit(samples)


def test_inputs_match_make_samples(setup):
    ds, samples, _, _ = setup
    x, gpp, years = county_inputs(ds)
    assert years == [2001, 2002]
    np.testing.assert_allclose(x, samples.x, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(gpp, samples.gpp, rtol=1e-6)


def test_eval_forward_runs_time_major_with_the_same_values(setup):
    """One forward: eval mode goes time-major inside; batch-first and time-major callers get the same numbers."""
    *_, model, _ = setup
    x = torch.randn(6, 365, 19)
    with torch.inference_mode():
        ref = model._forward(x, lambda y, ra: torch.sin(ra) + y[:, None], 1)  # the batch-first path
        got = model(x, lambda y, ra: torch.sin(ra) + y[:, None])
        tm = model(x.transpose(0, 1).contiguous(), lambda y, ra: torch.sin(ra) + y[None, :], time_major=True)
    for k in ("yield", "ra", "rh", "nee", "attention"):
        torch.testing.assert_close(got[k], ref[k])
        torch.testing.assert_close(tm[k].t() if tm[k].ndim == 2 else tm[k], ref[k])


def test_predictions_equal_trainer_and_batch_invariant(setup):
    ds, samples, model, norm = setup
    ref = KGMLTrainer(model, norm, torch.device("cpu")).predict(samples)
    x, gpp, _ = county_inputs(ds)
    small = predict_arrays(model, x, gpp, norm, batch_size=3)
    large = predict_arrays(model, x, gpp, norm, batch_size=100)
    for k in ("RA", "RH", "NEE", "RECO", "YIELD"):
        np.testing.assert_allclose(small[k], ref[k], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(small[k], large[k], rtol=1e-5, atol=1e-5)


def test_predict_counties_daily_and_annual(setup):
    ds, _, model, norm = setup
    daily = predict_counties(model, ds, norm, batch_size=4, threads=1)
    annual = predict_counties(model, ds, norm, batch_size=4, threads=1, annual=True)
    assert daily["NEE"].dims == ("unit", "time") and daily.sizes["time"] == 2 * 365
    assert annual["NEE"].dims == ("unit", "year") and list(annual["year"].values) == [2001, 2002]
    by_year = daily["NEE"].groupby("time.year").sum().transpose("unit", "year")
    np.testing.assert_allclose(annual["NEE"].values, by_year.values, rtol=1e-4)
    np.testing.assert_allclose(daily["RECO"], daily["RA"] + daily["RH"], rtol=1e-6)
    assert list(daily["unit"].values) == list(ds["unit"].values)


def test_missing_variable_is_named(setup):
    ds, _, model, norm = setup
    with pytest.raises(ValueError, match="GPP"):
        predict_counties(model, ds.drop_vars("GPP"), norm)


def test_flops_of_default_kgml_ag():
    c = KGMLAgConfig()
    expected = (gru_flops(19, 64) + gru_flops(64, 64)                    # shared GRU, 2 layers
                + gru_flops(64 + 19, 32) + gru_flops(64 + 19 + 1, 32) + gru_flops(2 + 19, 32)
                + 2 * (64 * 32 + 32) + 2 * (64 * 32 + 32) + 3 * 2 * 32)  # attention, yield MLP, read-outs
    assert flops_per_county_day(KGMLAg(c)) == expected
    assert gru_flops(19, 64) == 6 * (19 * 64 + 64 * 64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA absent: torch sees no GPU")
def test_predict_arrays_runs_where_the_model_is(setup):
    """A model on CUDA predicts there (inputs moved to it, outputs back as NumPy): the CPU's numbers."""
    import copy
    _, samples, model, norm = setup
    on_cpu = predict_arrays(model, samples.x, samples.gpp, norm, batch_size=3)
    on_cuda = predict_arrays(copy.deepcopy(model).cuda(), samples.x, samples.gpp, norm, batch_size=3)
    for k, v in on_cpu.items():
        np.testing.assert_allclose(on_cuda[k], v, atol=1e-3 * float(np.abs(v).max()))
