import numpy as np
import pandas as pd
import pytest

from kgml_core.shift import (DomainClassifier, covariate_shift, mmd_test, population_stability_index,
                             variable_shift)


def test_variable_shift_same_distribution_is_small():
    rng = np.random.default_rng(0)
    res = variable_shift(rng.normal(0, 1, 2000), rng.normal(0, 1, 2000))
    assert res["wasserstein"] < 0.1
    assert res["ks_p"] > 0.01
    assert res["psi"] < 0.05
    assert abs(res["smd"]) < 0.1


def test_variable_shift_known_mean_shift_has_right_size():
    rng = np.random.default_rng(1)
    res = variable_shift(rng.normal(0, 2, 4000), rng.normal(1.5, 2, 4000))
    # a pure location shift moves the Wasserstein-1 distance by exactly the shift
    assert res["wasserstein"] == pytest.approx(1.5, abs=0.1)
    assert res["smd"] == pytest.approx(0.75, abs=0.06)
    # KS statistic of N(0,1) vs N(d,1): 2*Phi(d/2)-1 with d = 0.75 -> 0.293
    assert res["ks"] == pytest.approx(0.293, abs=0.03)
    assert res["ks_p"] < 1e-10
    assert res["psi"] > 0.25


def test_psi_matches_hand_computation():
    ref = np.arange(100.0)
    tgt = np.r_[np.arange(50.0), np.full(50, 99.0)]
    # deciles of ref: 10 bins of 10; target puts 10 in each of bins 0-4 and 50 in bin 9;
    # every count gets +0.5
    p = np.full(10, 10.5) / 105
    q = np.r_[np.full(5, 10.5), np.full(4, 0.5), 50.5] / 105
    assert population_stability_index(ref, tgt) == pytest.approx(np.sum((q - p) * np.log(q / p)))


def test_mmd_null_and_shift():
    rng = np.random.default_rng(2)
    same = mmd_test(rng.normal(size=(60, 4)), rng.normal(size=(60, 4)), n_permutations=99, seed=0)
    assert same["p_value"] > 0.05
    assert abs(same["mmd2"]) < 0.05
    shifted = mmd_test(rng.normal(size=(60, 4)), rng.normal(size=(60, 4)) + [1, 0, 0, 0],
                       n_permutations=99, seed=0)
    assert shifted["p_value"] == pytest.approx(0.01)


def test_mmd_matches_closed_form_for_gaussian_mean_shift():
    # N(0, I) vs N(delta, I) in d dims, Gaussian kernel of width h:
    # MMD^2 = 2 (h^2 / (h^2 + 2))^(d/2) (1 - exp(-|delta|^2 / (2 (h^2 + 2))))
    rng = np.random.default_rng(5)
    d, h, delta = 3, 2.0, 1.5
    expected = 2 * (h**2 / (h**2 + 2)) ** (d / 2) * (1 - np.exp(-delta**2 / (2 * (h**2 + 2))))
    res = mmd_test(rng.normal(size=(400, d)), rng.normal(size=(400, d)) + [delta, 0, 0],
                   n_permutations=0, bandwidth=h)
    assert res["mmd2"] == pytest.approx(expected, rel=0.15)


def test_mmd_rejects_too_small_samples():
    with pytest.raises(ValueError, match="at least 2 units"):
        mmd_test(np.zeros((1, 2)), np.zeros((5, 2)))


def test_domain_classifier_finds_the_shifted_feature():
    rng = np.random.default_rng(3)
    cols = ["x0", "x1", "x2"]
    a = pd.DataFrame(rng.normal(size=(80, 3)), columns=cols)
    b = pd.DataFrame(rng.normal(size=(80, 3)) + [0, 2, 0], columns=cols)
    clf = DomainClassifier(n_estimators=50).fit(a, b)
    assert clf.auc_ > 0.85
    assert clf.importances_.idxmax() == "x1"
    null = DomainClassifier(n_estimators=50).fit(a, pd.DataFrame(rng.normal(size=(80, 3)), columns=cols))
    assert 0.3 < null.auc_ < 0.7


def test_covariate_shift_table_columns():
    rng = np.random.default_rng(4)
    a = pd.DataFrame({"u": rng.normal(size=40), "v": rng.normal(size=40)})
    b = pd.DataFrame({"u": rng.normal(size=40) + 3, "v": rng.normal(size=40)})
    per_var, res, imp = covariate_shift(a, b, n_permutations=49)
    assert list(per_var["variable"]) == ["u", "v"]
    assert per_var.set_index("variable").loc["u", "wasserstein"] == pytest.approx(3, abs=0.5)
    assert res["p_value"] == pytest.approx(0.02) and res["auc"] > 0.95
    assert imp.idxmax() == "u"
