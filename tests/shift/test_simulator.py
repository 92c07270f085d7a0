"""Concept shift on the embedded simulator: it should grow with parameter heterogeneity."""
import pytest

from kgml_core import geo
from kgml_core.shift import concept_shift
from kgml_core.shift.report import default_groups

simulator = pytest.importorskip("kgml_core.simulator")


@pytest.fixture(scope="module")
def worlds():
    counties = tuple(geo.county_table(["IL", "IA", "IN"]).groupby("state").head(12).index)
    return {h: simulator.simulate_world(simulator.WorldConfig(years=(2005, 2006), heterogeneity=h,
                                                              counties=counties))
            for h in (0.0, 1.0)}


def test_concept_shift_appears_with_heterogeneity(worlds):
    eta = {}
    for h, ds in worlds.items():
        _, tests = concept_shift(ds, default_groups(ds), drivers=("TA", "SWC_REL"), n_permutations=19)
        eta[h] = tests.set_index("scope").loc["all", "eta2"]
    # measured at 15 counties per state, 2005-2007: 0.050 at heterogeneity 0, 0.365 at 1
    assert eta[1.0] > 3 * eta[0.0]
    assert eta[0.0] < 0.1


def test_climate_features_do_not_depend_on_heterogeneity(worlds):
    from kgml_core.shift import unit_features
    f0, f1 = (unit_features(worlds[h]) for h in (0.0, 1.0))
    assert (f0["TA_GS"] - f1["TA_GS"]).abs().max() < 1e-6
