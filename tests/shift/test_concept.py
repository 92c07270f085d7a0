import numpy as np
import pandas as pd
import pytest

from kgml_core.shift import concept_shift
from kgml_core.shift.report import default_groups


def test_no_concept_shift_when_relation_is_shared(null_world):
    curves, tests = concept_shift(null_world, default_groups(null_world), n_permutations=99)
    row = tests.iloc[0]
    assert row["scope"] == "all"
    assert row["p_value"] > 0.05
    assert row["eta2"] < 0.01


def test_concept_shift_detected_when_q10_differs(shifted_world):
    curves, tests = concept_shift(shifted_world, default_groups(shifted_world), n_permutations=99)
    assert tests.iloc[0]["p_value"] == pytest.approx(0.01)
    assert tests.iloc[0]["eta2"] > 0.05
    # the warm end of the curve rises faster where Q10 is higher
    ta = curves[curves["driver"] == "TA"]
    top = ta[ta["bin"] == ta["bin"].max()].set_index("group")["mean"]
    assert top["BB"] > top["AA"] * 1.1


def test_covariate_shift_alone_is_not_concept_shift():
    from tests.shift.conftest import make_world
    ds = make_world(seed=3, ta_shift={"BB": 3.0}, swc_shift={"BB": 5.0})
    _, tests = concept_shift(ds, default_groups(ds), n_permutations=99)
    assert tests.iloc[0]["p_value"] > 0.05


def test_curves_table_and_pairs():
    from tests.shift.conftest import make_world
    ds = make_world(states=("AA", "BB", "CC"), units_per_state=8, years=1, seed=4)
    curves, tests = concept_shift(ds, default_groups(ds), n_bins=5, n_permutations=19)
    assert list(tests["scope"]) == ["all", "pair", "pair", "pair"]
    assert set(curves["group"]) == {"AA", "BB", "CC"}
    assert set(curves["driver"]) == {"TA", "SWC"}
    assert curves.groupby(["driver", "group"]).size().max() == 5
    assert (curves["n_units"] <= 8).all()
    assert curves.groupby("driver")["n_days"].sum().eq(24 * 365).all()


def test_missing_response_is_named(null_world):
    with pytest.raises(ValueError, match="GPP"):
        concept_shift(null_world, default_groups(null_world), response="GPP")
