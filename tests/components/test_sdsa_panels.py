"""Compare-page panels: the ceiling read from metrics.json and the estimated-against-true parameters."""
from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

from components import sdsa_panels


def _metrics():
    ceiling = {"IA": {"ceiling": 0.74, "realised": 0.18, "fraction": 0.18 / 0.74, "oracle_state_rmse": 0.12,
                      "oracle_global_rmse": 0.44, "global_rmse": 0.70, "state_specific_rmse": 0.58}}
    params = {"names": ["RH_Q10"], "units": {"RH_Q10": "1"}, "long_names": {"RH_Q10": "Q10"},
              "global": {"all": {"estimated": {"RH_Q10": 2.3}, "truth": {"RH_Q10": 2.25}}},
              "state": {"IA": {"estimated": {"RH_Q10": 1.9}, "truth": {"RH_Q10": 1.7}}},
              "region": {"0": {"estimated": {"RH_Q10": 2.0}, "truth": {"RH_Q10": 1.8}}}}
    return {"ceiling": {"RH": ceiling}, "parameters": params, "regions": {"labels": {"19153": 0, "19169": 0}}}


def test_ceiling_frame_sentence_and_figure():
    frame = sdsa_panels.ceiling_frame(_metrics())
    assert frame.loc[0, "ceiling"] == 74 and round(frame.loc[0, "fraction"]) == 24
    assert "reach 24 % of the 74 %" in sdsa_panels.ceiling_sentence(frame.iloc[0])
    fig = sdsa_panels.ceiling_figure(frame)
    assert [t.name for t in fig.data] == ["achievable (oracle ceiling)", "realised (state-specific vs global)"]
    assert sdsa_panels.ceiling_frame({"states": {}}).empty          # older runs: no panel
    with_emulator = _metrics()
    with_emulator["ceiling"]["RH"]["IA"]["emulator_ceiling"] = 0.30
    frame = sdsa_panels.ceiling_frame(with_emulator)
    sentence = sdsa_panels.ceiling_sentence(frame.iloc[0])
    assert "realised: 18.0 % lower error" in sentence
    assert "perfect estimate with this emulator would give 30.0 % lower error: the rest" in sentence
    assert [t.name for t in sdsa_panels.ceiling_figure(frame).data][1].startswith("reachable with this emulator")
    assert "towers" not in sentence                                  # runs before the towers' oracle
    with_emulator["ceiling"]["RH"]["IA"]["towers_ceiling"] = 0.21
    frame = sdsa_panels.ceiling_frame(with_emulator)
    sentence = sdsa_panels.ceiling_sentence(frame.iloc[0])
    assert "Its flux towers allow at best a 21 % reduction (the process model" in sentence
    with_emulator["ceiling"]["RH"]["IA"]["towers_ceiling"] = -0.05
    sentence = sdsa_panels.ceiling_sentence(sdsa_panels.ceiling_frame(with_emulator).iloc[0])
    assert "Its flux towers allow none (5.0 % higher error)" in sentence
    names = [t.name for t in sdsa_panels.ceiling_figure(frame).data]
    assert names[1].startswith("achievable from the towers") and names[2].startswith("reachable with this emulator")
    assert sdsa_panels.ceiling_figure(frame).data[1].y[0] == pytest.approx(21)


def test_parameter_table_figure_and_map():
    m = _metrics()
    frame = sdsa_panels.parameter_frame(m)
    assert set(frame["kind"]) == {"global", "state", "region"}
    row = frame[(frame["kind"] == "state")].iloc[0]
    assert row["estimated"] == 1.9 and row["truth"] == 1.7
    fig = sdsa_panels.parameter_figure(frame, "RH_Q10")
    assert {t.name for t in fig.data} >= {"state", "region", "global", "1:1"}
    counties = pd.DataFrame({"lat": [41.7, 42.0], "lon": [-93.6, -93.5]}, index=["19153", "19169"])
    fmap = sdsa_panels.parameter_map(frame, m, counties, "RH_Q10")
    np.testing.assert_allclose(fmap.data[0].marker.color, [2.0, 2.0])
    np.testing.assert_allclose(fmap.data[1].marker.color, [1.8, 1.8])
    assert sdsa_panels.parameter_frame({}).empty


def test_parameter_figure_merges_the_labels_of_points_on_top_of_each_other():
    frame = pd.DataFrame({"kind": ["global", "state", "state", "region", "region"],
                          "group": ["domain", "IN", "IL", "0", "1"], "parameter": "RH_Q10", "units": "1",
                          "estimated": [2.20, 2.201, 2.40, 2.199, 2.0], "truth": [2.25, 2.251, 2.65, 2.249, 1.9]})
    fig = sdsa_panels.parameter_figure(frame, "RH_Q10")
    text = {t.name: list(t.text) for t in fig.data if t.name != "1:1"}
    assert text["global"] == ["domain<br>Indiana<br>region 0"]            # one label where three points sit together
    assert text["state"] == ["", "Illinois"] and text["region"] == ["", "region 1"]
    assert list(fig.data[1].customdata) == ["Indiana", "Illinois"]    # every name stays in the hover


def _predictions():
    """A predictions dataset: two held-out IA counties (one better with the state model) and a training one."""
    import xarray as xr

    time = pd.date_range("2012-01-01", periods=30, freq="D")
    truth = np.sin(np.arange(30) / 5.0)[None, :].repeat(3, 0) + 1.0
    glob = truth + np.array([[0.2], [0.1], [0.3]])
    state = truth + np.array([[0.1], [0.2], [0.3]])
    rh = np.stack([truth, glob, state])
    return xr.Dataset({"RH": (("model", "unit", "time"), rh)},
                      coords={"model": ["truth", "global", "state_specific"], "unit": ["19153", "19169", "19001"],
                              "time": time, "split": ("unit", ["test", "test", "train"]),
                              "state": ("unit", ["IA", "IA", "IA"])})


def test_county_scores_and_error_frame():
    from kgml_core.sdsa import county_scores

    pred = _predictions()
    block = county_scores(pred, "RH")
    assert set(block) == {"19153", "19169"}                   # held-out counties only
    assert block["19153"]["global_rmse"] == pytest.approx(0.2) and block["19153"]["state_specific_rmse"] == \
        pytest.approx(0.1)
    frame = sdsa_panels.county_error_frame({"counties": {"RH": block}}, "RH")
    assert frame.loc["19153", "change"] == pytest.approx(-50) and frame.loc["19169", "change"] == pytest.approx(100)
    # older runs: computed from the predictions when given, empty otherwise
    assert sdsa_panels.county_error_frame({}, "RH", pred).equals(frame)
    assert sdsa_panels.county_error_frame({}, "RH").empty


def test_county_error_map_colours_and_labels():
    frame = sdsa_panels.county_error_frame({}, "RH", _predictions())
    fmap = sdsa_panels.county_error_map(frame, ["IA"], "RH")
    html = fmap.get_root().render()
    assert sdsa_panels.county_error_title("RH") in html and "Global RMSE" in html
    data = next(c for c in fmap._children.values() if hasattr(c, "_children") and any(
        hasattr(g, "data") for g in c._children.values()))
    geo = next(g for g in data._children.values() if hasattr(g, "data")).data
    props = {f["properties"]["id"]: f["properties"] for f in geo["features"]}
    blue, red = props["19153"]["fill"], props["19169"]["fill"]       # RdBu_r: lower error blue, higher red
    assert int(blue[5:7], 16) > int(blue[1:3], 16) and int(red[1:3], 16) > int(red[5:7], 16)
    assert props["19001"]["fill"] == "#D9D9D9"                         # a training county: no data
    assert props["19153"]["Global RMSE"] == "0.2"


def test_ceiling_sentence_has_no_negative_zero_and_names_a_worse_emulator():
    m = _metrics()
    m["ceiling"]["RH"]["IA"].update(realised=-0.003, fraction=-0.003 / 0.74, emulator_ceiling=-0.004)
    sentence = sdsa_panels.ceiling_sentence(sdsa_panels.ceiling_frame(m).iloc[0])
    assert "-0 %" not in sentence and "reach 0 % of the 74 %" in sentence
    assert "realised: 0.3 % higher error" in sentence
    assert "would give 0.4 % higher error: all of the ceiling is lost in the emulator" in sentence
    m["ceiling"]["RH"]["IA"].update(realised=-0.04, fraction=-0.04 / 0.26, ceiling=0.26)
    sentence = sdsa_panels.ceiling_sentence(sdsa_panels.ceiling_frame(m).iloc[0])
    assert "reach none of the 26 %" in sentence and "realised: 4.0 % higher error" in sentence


def test_ceiling_sentence_says_when_the_state_signal_is_below_the_emulators_error():
    m = _metrics()
    m["ceiling"]["RH"]["IA"].update(emulator_ceiling=0.05, emulator_state_rmse=0.40)       # below 0.44
    sentence = sdsa_panels.ceiling_sentence(sdsa_panels.ceiling_frame(m).iloc[0])
    assert "signal is smaller" not in sentence
    m["ceiling"]["RH"]["IA"].update(emulator_state_rmse=0.46)
    sentence = sdsa_panels.ceiling_sentence(sdsa_panels.ceiling_frame(m).iloc[0])
    assert ("the emulator's error (Rh RMSE 0.460) is larger than the process model's with one parameter set "
            "for the whole domain (0.440): the state's signal is smaller than the emulator's own error") in sentence
    del m["ceiling"]["RH"]["IA"]["emulator_state_rmse"]                                    # runs before it
    assert "signal is smaller" not in sdsa_panels.ceiling_sentence(sdsa_panels.ceiling_frame(m).iloc[0])
