"""AppTest: the emission maps page with the observed world and with a state-vs-global run."""
import numpy as np
import pandas as pd
import pytest
import streamlit as st
import xarray as xr

from tests.app.conftest import app_test


def _open():
    at = app_test()
    at.run()
    return at.switch_page("pages/emissions.py").run()


def test_observed_world_flux_period_year_and_exports():
    st.cache_data.clear()
    at = _open()
    assert not at.exception and not at.error
    assert at.selectbox(key="em_source").value == "observed"
    at.selectbox(key="em_variable").set_value("RH").run()
    at.selectbox(key="em_period").set_value("JJA").run()
    at.slider(key="em_year").set_value(2016).run()
    assert not at.exception and not at.error
    assert any("Rh, summer (June-August) sum 2016" in h.proto.body for h in at.get("html"))
    at.selectbox(key="em_county").set_value("19169").run()  # a county's values by year and daily series
    assert not at.exception and not at.error
    assert any("Story County, IA" in m.value for m in at.markdown) and len(at.get("plotly_chart")) == 2
    at.selectbox(key="em_variable").set_value("YIELD").run()
    assert at.radio(key="em_yield_units").value == "bu"
    assert any("(bu/acre)" in h.proto.body for h in at.get("html"))
    at.selectbox(key="em_variable").set_value("RH").run()
    at.toggle(key="em_exports").set_value(True).run()
    assert not at.exception and not at.error
    assert len(at.dataframe) == 1 and list(at.dataframe[0].value.index) == ["IA", "IL", "IN"]


def _fake_run(tmp_path, monkeypatch):
    """A finished state-vs-global run in the layout of kgml_core.experiments.state_vs_global."""
    from kgml_core.runs import RunStore
    from kgml_core.simulator import WorldConfig, load_world

    from components import runtime

    store = RunStore(tmp_path / "runs")  # the pages read runs through runtime.run_store()
    monkeypatch.setattr(runtime, "run_store", lambda: store)
    runtime.runs_changed()
    world = load_world(WorldConfig(years=(2015, 2019)))
    models = ["truth", "global", "state_specific"]
    ds = xr.Dataset(coords={c: world[c] for c in ("unit", "lat", "lon", "state", "unit_kind", "time", "year")})
    ds = ds.assign_coords(model=("model", np.array(models, dtype=object)),
                          region=("unit", np.arange(ds.sizes["unit"]) % 2),
                          split=("unit", np.array(["train", "test"] * 200, dtype=object)[:ds.sizes["unit"]]))
    for k in ("RA", "RH", "NEE", "RECO"):
        truth = world[k].values.astype(np.float32)
        ds[k] = (("model", "unit", "time"), np.stack([truth, truth * 1.1, truth * 0.95]), world[k].attrs)
    ds["YIELD"] = (("model", "unit", "year"), np.stack([world["YIELD"].values] * 3), world["YIELD"].attrs)
    run = store.create("state_vs_global", {"states": ["IL", "IA", "IN"]}, name="fake comparison")
    run.save_predictions(ds)
    run.save_metrics({"states": {s: {m: {k: {"r2": 0.9, "rmse": 0.1, "n": 10} for k in ("RA", "RH")}
                                     for m in models[1:]} for s in ("IL", "IA", "IN")}})
    run.finish("finished")
    return run


@pytest.fixture()
def fresh_runs_index():
    """Drop the cached run index before and after, so no other test sees this one's store."""
    from components import runtime
    runtime.runs_changed()
    yield
    runtime.runs_changed()


def test_run_difference_maps_regions_and_report(tmp_path, monkeypatch, fresh_runs_index):
    run = _fake_run(tmp_path, monkeypatch)
    st.cache_data.clear()
    at = _open()
    at.selectbox(key="em_source").set_value(run.id).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="em_model").value == "state_specific"  # a model by default, not the truth
    assert at.selectbox(key="em_diff").options == ["Values", "Which is closer to the truth", "Model − truth"]
    at.selectbox(key="em_diff").set_value("closer").run()
    assert not at.exception and not at.error
    assert any("state-specific model is closer" in h.proto.body for h in at.get("html"))
    at.selectbox(key="em_diff").set_value("model_minus_truth").run()
    at.selectbox(key="em_model").set_value("global").run()
    at.toggle(key="em_regions").set_value(True).run()
    at.toggle(key="em_exports").set_value(True).run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert set(table.index.get_level_values("model")) == {"global", "state_specific"}
