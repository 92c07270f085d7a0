"""Real US geography from plotly-geo's Census 2016 files."""
import json

import pytest

from kgml_core import geo


def test_default_selection_has_293_counties_with_fips_index():
    counties = geo.load_counties()
    assert len(counties) == 293
    assert counties.groupby("state").size().to_dict() == {"IA": 99, "IL": 102, "IN": 92}
    assert counties.index.str.len().unique().tolist() == [5]
    assert counties.crs.to_epsg() == 4326


def test_select_by_postal_name_or_fips_is_the_same():
    by_code = geo.load_counties(["IL"]).index
    assert list(geo.load_counties(["Illinois"]).index) == list(by_code)
    assert list(geo.load_counties(["17"]).index) == list(by_code)


def test_all_conterminous_states_and_dc():
    states = geo.load_states()
    assert len(states) == 49 and "DC" in states.index and "AK" not in states.index
    assert len(geo.load_counties(None)) > 3000


def test_areas_are_equal_area_and_centroids_inside_state():
    counties = geo.load_counties(["IA"])
    # Iowa is about 145,700 km2 (land + water)
    assert counties["area_km2"].sum() == pytest.approx(145_700, rel=0.02)
    story = counties.loc["19169"]  # Story County, home of Ames
    assert story["name"] == "Story"
    assert 41.9 < story["lat"] < 42.1 and -93.5 < story["lon"] < -93.3


def test_unknown_state_names_value_and_what_is_expected():
    with pytest.raises(geo.UnknownStateError, match="'XX'.*postal code"):
        geo.load_counties(["XX"])
    with pytest.raises(ValueError, match="99999"):
        geo.select_counties(["99999"])


def test_browser_geojson_is_small_and_carries_ids():
    text = geo.geojson("county", ["IL", "IA", "IN"])
    assert len(text.encode()) < 1_000_000
    features = json.loads(text)["features"]
    assert len(features) == 293
    assert set(features[0]["properties"]) == {"id", "name", "state"}
