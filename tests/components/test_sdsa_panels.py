"""Compare-page panels: the ceiling read from metrics.json and the estimated-against-true parameters."""
from __future__ import annotations

import numpy as np
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
