import numpy as np
import pytest
import torch

from kgml_core.tamrl import sites as site_tasks
from kgml_core.tamrl import windows
from kgml_core.progress import CancelToken, Cancelled
from kgml_core.tamrl import predict
from kgml_core.tamrl import training as tr
from tests.tamrl.builders import DRIVERS

STATICS = ("ELEV", "MAT", "MAP", "SAND")
CFG = tr.TrainConfig(pretrain_epochs=1, epochs=1, hidden=8, z_dim=4, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def prepared(sites):
    a, vocab = site_tasks.site_arrays(sites, DRIVERS, STATICS)
    sc = windows.Scaler().fit(a, len(vocab.names))
    b = sc.transform(a)
    val = np.zeros(a.n_unit, bool)
    val[:2] = True
    data = tr.window_data(b, sc, site_tasks.class_weights(a.igbp, a.climate), val, CFG)
    return a, b, sc, data


def test_balance_term_in_physical_units():
    mean, std = torch.tensor([5.0, 4.0, -1.0]), torch.tensor([2.0, 1.0, 3.0])
    phys = torch.tensor([[[6.0, 4.0, -1.0]]])        # NEE - (RECO - GPP) = -1 - (4 - 6) = 1
    z = (phys - mean) / std
    loss, parts = tr.flux_loss(z, z, torch.ones_like(z), mean, std, alpha=0.1)
    assert parts["mse"] == pytest.approx(0.0)
    assert parts["balance"] == pytest.approx(1.0)
    assert float(loss) == pytest.approx(0.1)


def test_weighted_mse_ignores_zero_weight():
    y = torch.zeros(1, 2, 3)
    y_hat = torch.tensor([[[1.0, 1.0, 1.0], [5.0, 5.0, 5.0]]])
    w = torch.tensor([[[1.0] * 3, [0.0] * 3]])
    _, parts = tr.flux_loss(y_hat, y, w, torch.zeros(3), torch.ones(3), 0.0)
    assert parts["mse"] == pytest.approx(1.0)


def test_windows_split_by_site(prepared):
    _, _, _, data = prepared
    assert set(data.val[0]) == {0, 1}
    assert not set(data.train[0]) & {0, 1}


def test_three_stage_training_and_prediction(prepared):
    a, b, sc, data = prepared
    events = []
    lstm = tr.train_lstm(data, b.x.shape[-1], CFG, 0, events.append)
    ct = tr.train_ct_lstm(data, b.x.shape[-1], b.s.shape[-1], CFG, 0)
    tam = tr.train_tamrl(data, lstm, b.s.shape[-1], CFG, 0, events.append)
    assert {e.stage for e in events} == {"lstm", "tamrl"}
    sup = windows.fixed_support_start(a.qc, a.time, CFG.window)
    for model, s in ((lstm, None), (ct, None), (tam, None), (tam, sup)):
        p = predict.predict_series(model, b, sc, CFG, s)
        assert p.shape == a.y.shape and np.isfinite(p).all()
    few = predict.predict_series(tam, b, sc, CFG, sup)
    other = predict.predict_series(tam, b, sc, CFG, sup + 60)
    assert not np.allclose(few, other)  # the support window matters


def test_training_learns_on_tiny_sites(prepared):
    a, b, sc, data = prepared
    cfg = tr.TrainConfig(pretrain_epochs=6, hidden=16, batch_size=32, lr=3e-3, device="cpu")
    model = tr.train_lstm(data, b.x.shape[-1], cfg, 0)
    p = predict.predict_series(model, b, sc, cfg)
    err = np.nanmean((p - a.y) ** 2, axis=(0, 1))
    assert np.all(err < np.nanvar(a.y, axis=(0, 1)))  # better than predicting the mean


def test_cancel_stops_training(prepared):
    _, b, _, data = prepared
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        tr.train_lstm(data, b.x.shape[-1], CFG, 0, None, token)


def test_support_window_starts_cover_any_support_length():
    mask = np.zeros((4, 400), bool)
    mask[0, 100:107] = True        # 7 days: one window ending on the last support day
    mask[1, 0:365] = True          # a year: 13 windows of 30 days backwards from day 364
    mask[3, 2:5] = True            # near the start: clipped to day 0
    starts = predict.support_window_starts(mask, 30)
    assert starts.shape == (4, 13)
    assert list(starts[0][starts[0] >= 0]) == [77]
    assert starts[1][0] == 335 and starts[1][-1] == 0 and (starts[1] >= 0).all()
    assert (starts[2] == -1).all() and list(starts[3][starts[3] >= 0]) == [0]


def test_predict_with_a_support_mask_of_any_length(prepared):
    a, b, sc, data = prepared
    lstm = tr.train_lstm(data, b.x.shape[-1], CFG, 0)
    tam = tr.train_tamrl(data, lstm, b.s.shape[-1], CFG, 0)
    zero = predict.predict_series(tam, b, sc, CFG, None)
    none = np.zeros(a.qc.shape[:2], bool)
    np.testing.assert_allclose(predict.predict_series(tam, b, sc, CFG, none), zero, atol=1e-5)
    year = none.copy()
    year[:, :365] = True
    assert not np.allclose(predict.predict_series(tam, b, sc, CFG, year), zero)


def test_per_site_gain_recovers_a_site_twice_as_productive(prepared):
    from dataclasses import replace
    a, b, sc, data = prepared
    lstm = tr.train_lstm(data, b.x.shape[-1], CFG, 0)
    tam = tr.train_tamrl(data, lstm, b.s.shape[-1], CFG, 0)
    year = np.zeros(a.qc.shape[:2], bool)
    year[:, :365] = True
    cfg = replace(CFG, adapt_steps=150, adapt_head=True, alpha=0.0)
    z_only = predict.predict_series(tam, b, sc, replace(cfg, adapt_head=False), year)
    doubled = replace(b, y=2.0 * z_only, qc=np.ones_like(b.qc))   # every flux twice what the embedding gives
    z0 = predict._unit_embeddings(tam, doubled, sc, cfg, year, torch.as_tensor(b.x), torch.as_tensor(b.s))
    _, gain, offset = predict.adapt_site(tam, doubled, sc, cfg, year, z0, head=True)
    assert np.median(gain) > 1.3 and gain.shape == offset.shape == (a.n_unit, 3)
    head = predict.predict_series(tam, doubled, sc, cfg, year)
    assert np.nanmean((head - doubled.y) ** 2) < 0.5 * np.nanmean((z_only - doubled.y) ** 2)
    _, ones, zeros = predict.adapt_site(tam, doubled, sc, cfg, year, z0)
    assert (ones == 1).all() and (zeros == 0).all()


def test_eval_mode_adaptation_turns_cudnn_off_on_cuda_only():
    """cuDNN's LSTM has no eval-mode backward: the adaptation's gradients run without it on CUDA, in eval mode."""
    model = torch.nn.LSTM(2, 2)
    cases = {("cuda", False): False, ("cuda", True): True, ("cpu", False): True, ("cpu", True): True}
    for (device, training), cudnn_on in cases.items():
        model.train(training)
        with predict.eval_backward_kernels(model, torch.device(device)):
            assert torch.backends.cudnn.enabled is cudnn_on, (device, training)
        assert torch.backends.cudnn.enabled
