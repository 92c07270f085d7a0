import json

import numpy as np
import pandas as pd
import pytest

from kgml_core.shift import diagnose, distance_to_training, error_correlation, shift_matrix
from tests.shift.conftest import make_world


@pytest.fixture(scope="module")
def report():
    ds = make_world(states=("AA", "BB", "CC"), units_per_state=15, years=1, seed=5,
                    ta_shift={"CC": 3.0})
    errors = pd.Series(np.arange(45, dtype=float), index=[f"{i:05d}" for i in range(45)])
    return diagnose(ds, n_permutations=19, errors=errors)


def test_report_tables(report):
    assert len(report.pairwise) == 3
    assert set(report.per_variable["variable"]) >= {"TA_GS", "SWC_GS", "SOC"}
    assert report.shift_matrix.shape == (3, 3)
    assert np.allclose(report.shift_matrix.to_numpy(), report.shift_matrix.to_numpy().T)
    assert list(report.embedding.columns) == ["pc1", "pc2", "group"]
    assert report.unit_distance["distance"].notna().all()
    assert list(report.error_correlation["method"]) == ["pearson", "spearman"]
    assert report.concept_tests.iloc[0]["drivers"] == "TA+SWC"  # no FC: falls back to SWC


def test_report_finds_the_warm_state(report):
    pairs = report.pairwise.set_index(["group_a", "group_b"])
    assert pairs.loc[("AA", "CC"), "auc"] > 0.9 and pairs.loc[("AA", "CC"), "p_value"] == pytest.approx(0.05)
    assert pairs.loc[("AA", "BB"), "auc"] < 0.8
    top = report.classifier_importance.query("group_a == 'AA' and group_b == 'CC' and rank == 1")
    assert top["variable"].iloc[0] in ("TA_GS", "TA_ANN", "VPD_GS")
    assert report.shift_matrix.loc["AA", "CC"] > report.shift_matrix.loc["AA", "BB"]


def test_json_is_strict_and_has_pairs(report):
    d = json.loads(json.dumps(report.to_json_dict(), allow_nan=False))
    assert len(d["pairs"]) == 3
    pair = d["pairs"][0]
    assert {"group_a", "group_b", "mmd2", "p_value", "auc", "variables"} <= set(pair)
    assert {"wasserstein", "ks", "ks_p", "psi"} <= set(pair["variables"][0])


def test_distance_to_training_known_answers():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    target = pd.DataFrame({"a": [0.0, 5.0], "b": [0.0, 0.0]}, index=["near", "far"])
    maha = distance_to_training(train, target, "mahalanobis")
    assert maha["near"] < 0.3 and maha["far"] == pytest.approx(5.0, rel=0.1)
    knn = distance_to_training(train, target, "knn")
    assert knn["far"] > 10 * knn["near"]
    # a training unit is never its own neighbour
    self_d = distance_to_training(train, train, "knn", k=1)
    assert (self_d > 0).all()
    with pytest.raises(ValueError, match="unknown"):
        distance_to_training(train, target, "cosine")


def test_error_correlation_detects_relation():
    rng = np.random.default_rng(1)
    d = pd.Series(rng.random(50))
    corr = error_correlation(d, 2 * d + rng.normal(0, 0.05, 50)).set_index("method")
    assert corr.loc["spearman", "r"] > 0.9 and corr.loc["pearson", "p_value"] < 1e-10


def test_shift_matrix_auc_diagonal():
    pairs = pd.DataFrame({"group_a": ["x"], "group_b": ["y"], "auc": [0.8]})
    m = shift_matrix(pairs, "auc")
    assert m.loc["x", "x"] == 0.5 and m.loc["y", "x"] == 0.8


def test_bad_groups_are_named():
    ds = make_world(units_per_state=5, years=1)
    one = pd.Series("AA", index=[str(u) for u in ds["unit"].values])
    with pytest.raises(ValueError, match="at least 2 groups"):
        diagnose(ds, groups=one, n_permutations=0)
    lonely = one.copy()
    lonely.iloc[0] = "ZZ"
    with pytest.raises(ValueError, match="ZZ"):
        diagnose(ds, groups=lonely, n_permutations=0)
    with pytest.raises(ValueError, match="NOPE"):
        diagnose(ds, variables=["NOPE"], n_permutations=0)
