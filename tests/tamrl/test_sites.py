import numpy as np
import pytest

from kgml_core.tamrl import sites as site_tasks
from kgml_core.tamrl import windows
from tests.tamrl.builders import DRIVERS, make_sites


def test_site_arrays_shapes_and_classes(sites):
    a, vocab = site_tasks.site_arrays(sites, DRIVERS, ("ELEV", "MAT", "SAND", "CLAY"))
    n, t = sites.sizes["unit"], sites.sizes["time"]
    assert a.x.shape == (n, t, len(DRIVERS) + 2 + 2)  # drivers, crop of the year (2), day of year (2)
    assert a.dyn_names[-4:] == ("LC_CORN", "LC_SOY", "DOY_SIN", "DOY_COS")
    assert a.y.shape == a.qc.shape == (n, t, 3)
    assert a.s.shape == (n, 4 + len(vocab.names))
    assert np.all(np.isnan(a.s[:, 3]))  # CLAY absent: NaN, imputed by the scaler
    assert set(vocab.igbp) == {"CRO", "GRA", "ENF", "DBF"}
    assert np.all(a.qc[np.isnan(a.y)] == 0)
    np.testing.assert_allclose(a.s[:, 4:].sum(axis=1), 2.0)  # one IGBP and one climate class each


def test_crop_of_the_year_is_a_daily_input(sites):
    ds = sites.assign_coords(year=("year", [2010, 2011]))
    crop = np.full((ds.sizes["unit"], 2), -1, np.int8)
    crop[0] = [0, 1]   # corn then soybean
    crop[1] = [1, -1]  # soybean then not a crop
    ds["CROP"] = (("unit", "year"), crop)
    a, _ = site_tasks.site_arrays(ds, DRIVERS)
    year = ds["time"].dt.year.values
    lc = a.x[..., len(DRIVERS):len(DRIVERS) + 2]
    np.testing.assert_array_equal(lc[0, year == 2010], [[1, 0]] * int((year == 2010).sum()))
    np.testing.assert_array_equal(lc[0, year == 2011], [[0, 1]] * int((year == 2011).sum()))
    assert lc[1, year == 2010, 1].all() and not lc[1, year == 2011].any() and not lc[2:].any()
    plain, _ = site_tasks.site_arrays(ds, DRIVERS, land_cover=False)
    assert plain.x.shape[-1] == a.x.shape[-1] - 2 and "LC_CORN" not in plain.dyn_names


def test_site_arrays_names_missing_driver(sites):
    with pytest.raises(ValueError, match="'SWC'"):
        site_tasks.site_arrays(sites, ("TA", "SWC"))


def test_scaler_standardises_and_imputes(sites):
    a, vocab = site_tasks.site_arrays(sites, DRIVERS, ("ELEV", "CLAY"))
    sc = windows.Scaler().fit(a, n_one_hot=len(vocab.names))
    b = sc.transform(a)
    assert abs(float(b.x[..., 0].mean())) < 1e-3 and abs(float(b.x[..., 0].std()) - 1) < 1e-3
    assert np.all(b.s[:, 1] == 0)  # all-NaN column becomes the mean
    np.testing.assert_array_equal(b.s[:, 2:], a.s[:, 2:])  # one-hot columns untouched
    np.testing.assert_allclose(sc.unscale_y(sc.scale_y(a.y)), a.y, rtol=1e-5, atol=1e-5)


def test_window_index_requires_good_days_in_loss_part():
    qc = np.zeros((2, 100, 3), np.float32)
    qc[0, 40:45, 0] = 1.0  # only unit 0 has observations, days 40-44
    u, st = windows.window_index(qc, length=30, stride=15, loss_days=15)
    assert set(u) == {0}
    for s in st:
        assert np.any((np.arange(s + 15, s + 30) >= 40) & (np.arange(s + 15, s + 30) < 45))
    np.testing.assert_array_equal(st, [15])


def test_gather_matches_loop():
    arr = np.arange(2 * 50 * 3).reshape(2, 50, 3)
    u, st = np.array([0, 1, 1]), np.array([0, 5, 20])
    out = windows.gather(arr, u, st, 10)
    assert out.shape == (3, 10, 3)
    for k in range(3):
        np.testing.assert_array_equal(out[k], arr[u[k], st[k]:st[k] + 10])


def test_sample_support_same_unit_never_overlapping():
    u = np.repeat(np.arange(5), 20)
    st = np.tile(np.arange(0, 300, 15), 5)
    sup = windows.sample_support(u, st, 30, np.random.default_rng(0))
    assert np.all(u[sup] == u)
    assert np.all(np.abs(st[sup] - st) >= 30)


def test_sample_support_two_window_unit_falls_back_to_other_window():
    u, st = np.array([0, 0]), np.array([0, 15])
    sup = windows.sample_support(u, st, 30, np.random.default_rng(1))
    np.testing.assert_array_equal(sup, [1, 0])


def test_site_folds_stratified_and_balanced():
    labels = np.array(["CRO"] * 10 + ["GRA"] * 5 + ["ENF"] * 5)
    folds = site_tasks.site_folds(labels, 5, seed=3)
    assert np.bincount(folds).tolist() == [4, 4, 4, 4, 4]
    for cls in ("CRO", "GRA", "ENF"):
        counts = np.bincount(folds[labels == cls], minlength=5)
        assert counts.max() - counts.min() <= 1
    with pytest.raises(ValueError, match="folds"):
        site_tasks.site_folds(labels[:3], 5)


def test_class_weights_inverse_frequency():
    w = site_tasks.class_weights(["CRO", "CRO", "CRO", "GRA"], ["Dfa", "Dfa", "Dfa", "Dfa"])
    assert w.mean() == pytest.approx(1.0)
    assert w[3] > w[0]
    assert w[3] / w[0] == pytest.approx((0.5 * 2 + 0.5) / (0.5 * 4 / 6 + 0.5))


def test_trailing_mean_against_loop():
    x = np.random.default_rng(0).normal(size=(2, 40, 1))
    x[0, 5, 0] = np.nan
    got = site_tasks.trailing_mean(x, 7)
    for t in (0, 5, 6, 39):
        np.testing.assert_allclose(got[0, t, 0], np.nanmean(x[0, max(0, t - 6):t + 1, 0]), rtol=1e-5)


def test_fixed_support_start_prefers_july():
    ds = make_sites(2, (2010, 2011))
    a, _ = site_tasks.site_arrays(ds, DRIVERS, ())
    st = windows.fixed_support_start(a.qc, a.time, 30, month=7)
    day = a.time[st].astype("datetime64[D]")
    assert all(str(d).endswith("-07-01") for d in day)


def test_tiling_starts_cover_series():
    s = windows.tiling_starts(100, 30, 15)
    covered = np.zeros(100, bool)
    covered[:15] = True
    for k in s:
        covered[k + 15:k + 30] = True
    assert covered.all() and s[-1] == 70
    with pytest.raises(ValueError, match="shorter"):
        windows.tiling_starts(10, 30, 15)


def test_complete_static_features_fills_classes_and_normals():
    ds = make_sites(3, (2011, 2011), kind="county").drop_vars(["ELEV", "MAT", "MAP"]).drop_vars(["IGBP", "climate"])
    out = site_tasks.complete_static_features(ds, igbp="CRO")
    assert list(out["IGBP"].values) == ["CRO"] * 3
    assert all(len(c) == 3 for c in out["climate"].values)
    assert np.all(np.isfinite(out["ELEV"].values))
    np.testing.assert_allclose(out["MAT"].values, ds["TA"].mean("time").values, rtol=1e-5)


def test_memory_features_are_trailing_means(sites):
    a, _ = site_tasks.site_arrays(sites, ("TA", "P"), (), memory=(30,))
    assert a.dyn_names == ("TA", "P", "TA_MEAN30", "P_MEAN30", "LC_CORN", "LC_SOY", "DOY_SIN", "DOY_COS")
    np.testing.assert_allclose(a.x[1, 100, 2], a.x[1, 71:101, 0].mean(), rtol=1e-5)
    feats, names = site_tasks.tabular_features(a)
    assert names[:8] == list(a.dyn_names) and names[8:10] == ["TA_MEAN7", "P_MEAN7"]
    assert feats.shape[-1] == len(names)


def test_support_mask_from_the_first_year():
    time = np.arange("2010-01-01", "2013-01-01", dtype="datetime64[D]").astype("datetime64[ns]")
    qc = np.ones((2, len(time), 3), np.float32)
    qc[1, :100] = 0                                   # unit 1's record starts on day 100
    year = windows.support_mask(qc, time, 365)
    assert year[0, :365].all() and not year[0, 365:].any() and year[1].sum() == 365 and year[1, 100:465].all()
    week = windows.support_mask(qc, time, 7)
    mid = int(np.nonzero(time == np.datetime64("2010-07-15"))[0][0])
    assert week.sum(axis=1).tolist() == [7, 7] and week[0, mid - 3:mid + 4].all()
    start = windows.support_mask(qc, time, 90, anchor="start")
    assert start[1, 100:190].all() and start[1].sum() == 90
    assert not windows.support_mask(qc, time, 0).any()
    assert list(windows.first_observed_day(qc)) == [0, 100]
