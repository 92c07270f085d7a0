import numpy as np
import pytest

from kgml_core.baselines import GBMFluxRegressor, GBMParams, search_space, tune_gbm


def test_gbm_learns_and_skips_missing_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3)).astype(np.float32)
    Y = np.stack([2 * X[:, 0], X[:, 1] ** 2, X[:, 0] - X[:, 2]], axis=1)
    Y[::7, 1] = np.nan
    model = GBMFluxRegressor(max_iter=80, random_state=0, n_threads=1).fit(X, Y, np.ones(len(X)))
    assert model is not None and len(model.estimators_) == 3 and model.n_features_in_ == 3
    pred = model.predict(X[:500])
    truth = Y[:500]
    ok = np.isfinite(truth)
    r2 = 1 - np.nansum((pred - truth)[ok] ** 2) / np.nansum((truth[ok] - np.nanmean(truth[ok])) ** 2)
    assert r2 > 0.9


def test_gbm_zero_weight_rows_ignored():
    X = np.linspace(0, 1, 400)[:, None].astype(np.float32)
    Y = np.where(X < 0.5, 0.0, 10.0)
    w = np.where(X[:, 0] < 0.5, 1.0, 0.0)
    model = GBMFluxRegressor(max_iter=20, n_threads=1).fit(X, Y, w)
    assert abs(float(model.predict(X[-5:]).max())) < 1.0


def test_gbm_errors():
    with pytest.raises(ValueError, match="not fitted"):
        GBMFluxRegressor().predict(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no finite"):
        GBMFluxRegressor().fit(np.zeros((5, 2)), np.full((5, 1), np.nan))
    model = GBMFluxRegressor(max_iter=5, n_threads=1).fit(np.random.rand(50, 2), np.random.rand(50, 1))
    with pytest.raises(ValueError, match="2 features"):
        model.predict(np.zeros((3, 4)))


def test_gbm_early_stops_on_validation_and_tuning_picks_the_best():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    Y = np.stack([np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=3000), X[:, 1] * X[:, 2]], axis=1)
    tr, va = slice(0, 2000), slice(2000, 3000)
    w = np.ones_like(Y)
    model = GBMFluxRegressor(max_iter=2000, early_stopping=10, n_threads=1).fit(
        X[tr], Y[tr], w[tr], validation=(X[va], Y[va], w[va]))
    assert all(b < 2000 for b in model.best_iterations_) and len(model.val_mse_) == 2
    best, log = tune_gbm(X[tr], Y[tr], w[tr], (X[va], Y[va], w[va]), n_trials=3, max_iter=300, seed=0,
                         scale=Y.std(axis=0))
    assert len(log) == 3 and len({tuple(sorted((k, v) for k, v in t.items() if k not in ("val_loss", "rounds")))
                                  for t in log}) == 3
    assert min(t["val_loss"] for t in log) == pytest.approx(
        float(np.sum(np.asarray(best.val_mse_) / Y.std(axis=0) ** 2)))
    assert search_space(3, 0)[0] == GBMParams()
