import numpy as np
import pandas as pd
import pytest
import xarray as xr

from kgml_core.regions import AutoRegionDetector, county_features, detect_regions


def _two_blobs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    half = n // 2
    swc = np.r_[rng.normal(20, 1, half), rng.normal(35, 1, n - half)]
    other = rng.normal(0, 1, n)
    lat = np.r_[rng.uniform(40, 41, half), rng.uniform(42, 43, n - half)]
    lon = rng.uniform(-90, -89, n)
    feats = pd.DataFrame({"SWC_mean": swc, "SAND": other},
                         index=pd.Index([f"{i:05d}" for i in range(n)], name="unit"))
    return feats, lat, lon


def test_kmeans_finds_soil_water_regions_and_ranks_swc():
    feats, lat, lon = _two_blobs()
    det = AutoRegionDetector(seed=0).fit(feats)
    assert det.n_regions_ == 2
    truth = np.r_[np.zeros(20), np.ones(20)]
    agree = (det.labels_.to_numpy() == truth).mean()
    assert agree in (0.0, 1.0)
    assert det.separating_features_.index[0] == "SWC_mean"
    assert max(det.scores_, key=det.scores_.get) == 2


def test_contiguous_regions_are_spatially_connected():
    feats, lat, lon = _two_blobs()
    det = AutoRegionDetector("contiguous", n_regions=2).fit(feats, lat=lat, lon=lon)
    for region in range(2):
        members = det.labels_.to_numpy() == region
        assert members.sum() > 0
    with pytest.raises(ValueError, match="lat and lon"):
        AutoRegionDetector("contiguous", n_regions=2).fit(feats)


def test_states_method_and_errors():
    feats, lat, lon = _two_blobs(6)
    det = AutoRegionDetector("states").fit(feats, states=["IL", "IA", "IL", "IN", "IA", "IN"])
    assert det.n_regions_ == 3 and det.region_names_[0] == "IA"
    with pytest.raises(ValueError, match="not one of"):
        AutoRegionDetector("magic").fit(feats)
    with pytest.raises(ValueError, match="NaN"):
        AutoRegionDetector().fit(feats.assign(SAND=np.nan))


def test_detect_regions_on_dataset():
    rng = np.random.default_rng(0)
    n, t = 8, 400
    time = pd.date_range("2001-01-01", periods=t, freq="D")
    ds = xr.Dataset({"TA": (("unit", "time"), rng.normal(10, 1, (n, t))),
                     "SWC": (("unit", "time"), np.r_[np.full(4, 20.0), np.full(4, 40.0)][:, None]
                             + rng.normal(0, 1, (n, t))),
                     "SAND": ("unit", rng.random(n))},
                    coords={"unit": [f"1700{i}" for i in range(n)], "time": time,
                            "lat": ("unit", rng.uniform(40, 42, n)), "lon": ("unit", rng.uniform(-90, -88, n)),
                            "state": ("unit", ["IL"] * 4 + ["IA"] * 4)})
    feats = county_features(ds)
    assert {"TA_mean", "SWC_mean", "SWC_summer", "SAND"} <= set(feats.columns)
    res = detect_regions(ds, n_regions=2)
    assert res.labels.index.tolist() == list(ds.unit.values)
    assert res.labels.iloc[:4].nunique() == 1 and res.labels.iloc[0] != res.labels.iloc[-1]
    assert "f_stat" in res.separating_features.columns
