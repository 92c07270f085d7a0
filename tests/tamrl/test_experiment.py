import json

import numpy as np
import pytest

from kgml_core import settings
from kgml_core.cli import main
from kgml_core.experiments import tamrl as exp
from kgml_core.runs import RunStore
from kgml_core.schema import validate


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tamrl")
    code = main(["experiment", "tamrl", "--preset", "tiny", "--out", str(root / "out"), "--no-real",
                 "--store", str(root / "runs")])
    assert code == 0
    store = RunStore(root / "runs")
    run = store.get(store.list()["run_id"].iloc[0])
    return json.loads((root / "out" / "metrics.json").read_text()), run


def test_metrics_json_shape(cli_run):
    metrics, _ = cli_run
    assert metrics["n_test_sites"] >= 1 and "stratified by igbp" in metrics["split"]
    for model in ("tamrl", "gbm", "lstm", "ct_lstm", "tamrl_zero_shot"):
        for flux in ("GPP", "RECO", "NEE"):
            s = metrics["models"][model][flux]
            assert {"median_r2", "q25_r2", "q75_r2", "median_rmse"} <= set(s)
            assert s["q25_r2"] <= s["median_r2"] <= s["q75_r2"] and s["median_rmse"] > 0
    assert set(metrics["per_site"]["gbm"]["GPP"]) == set(metrics["per_site"]["tamrl"]["NEE"])
    assert metrics["real_sites"] == {"skipped": "real_sites is off in the configuration"}
    assert metrics["seconds"] > 0 and set(metrics["zero_shot"]) == {"GPP", "RECO", "NEE"}


def test_metrics_have_truth_paired_intervals_curve_and_vegetation(cli_run):
    metrics, _ = cli_run
    assert set(metrics["models_truth"]) == set(metrics["models"])
    for g in ("obs", "truth"):
        r = metrics["paired"][g]["tamrl_vs_gbm"]["GPP"]
        assert r["lo"] <= r["rel"] <= r["hi"] and r["n_sites"] == metrics["n_test_sites"]
        assert set(metrics["paired"][g]) >= {"tamrl_vs_gbm", "tamrl_vs_lstm", "tamrl_vs_ct_lstm",
                                             "tamrl_vs_tamrl_zero_shot"}
        curve = metrics["support_curve"][g]["NEE"]
        assert list(curve) == ["0", "7", "30", "90", "365"]
        assert curve["0"]["median_rmse"] == pytest.approx(metrics["models_truth" if g == "truth" else "models"]
                                                          ["tamrl_zero_shot"]["NEE"]["median_rmse"])
        assert curve["365"]["median_rmse"] == pytest.approx(metrics["models_truth" if g == "truth" else "models"]
                                                            ["tamrl"]["NEE"]["median_rmse"])
        veg = metrics["per_vegetation"][g]
        assert sum(row["n_sites"] for row in veg.values()) == metrics["n_test_sites"]


def test_predictions_and_upscaled_saved(cli_run):
    metrics, run = cli_run
    assert run.status == "finished"
    pred = run.predictions()
    assert list(pred["model"].values)[0] == "obs"
    assert pred["GPP"].dims == ("model", "unit", "time")
    assert {"IGBP", "climate", "fold", "lat", "lon"} <= set(pred.coords)
    assert pred.sizes["unit"] == metrics["n_test_sites"]
    up = exp.load_upscaled(run)
    validate(up, required=("GPP", "RECO", "NEE"))
    assert list(up["unit"].values) == ["19001", "19003"]
    assert {"GPP_STD", "RECO_STD", "NEE_STD"} <= set(up.data_vars)
    assert np.isfinite(up["GPP"].values).all()
    assert run.load_weights("tamrl_seed0")


def test_scores_use_good_qc_only():
    y = np.array([[[1.0, 1, 1], [2.0, 2, 2], [3.0, 3, 3], [10.0, 10, 10]]])
    qc = np.array([[[1.0] * 3, [1.0] * 3, [1.0] * 3, [0.1] * 3]])
    pred = y.copy()
    pred[0, 3] = -50.0  # a bad-QC day badly predicted does not count
    mask = exp.score_mask(qc, None, 0.8, 30)
    table = exp.per_site_scores(y, pred, mask, ["A"])
    assert table["GPP"]["A"]["rmse"] == pytest.approx(0.0) and table["GPP"]["A"]["n"] == 3
    mask = exp.score_mask(qc, np.array([0]), 0.8, 2)  # support window days 0-1 excluded
    assert mask[0, :, 0].tolist() == [False, False, True, False]


def test_user_selected_sites_split():
    units = np.array([f"VT-{i:04d}" for i in range(1, 9)])
    cfg = exp.preset("tiny", site_ids=("VT-0001", "VT-0002", "VT-0003"))
    ((fold, train, test),) = exp.site_splits(units, np.array(["CRO"] * 8), cfg)
    assert train.tolist() == [0, 1, 2] and test.tolist() == [3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="unknown site ids"):
        exp.site_splits(units, units, exp.preset("tiny", site_ids=("XX-0001",)))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="stratify"):
        exp.preset("tiny", stratify="soil")
    with pytest.raises(ValueError, match="unknown preset"):
        exp.preset("huge")
    with pytest.raises(ValueError, match="unknown tamrl config keys"):
        exp.TamrlConfig.from_dict({"n_site": 3})
    assert exp.TamrlConfig.from_dict({"train": {"epochs": 2}}).train.epochs == 2


def test_real_sites_temporal_holdout_and_zero_shot():
    if not (settings.data_dir() / "fluxnet").is_dir():
        pytest.skip(f"real FLUXNET files not found under {settings.data_dir()}")
    real = exp.load_real_sites()
    cfg = exp.preset("tiny")
    network = exp.tower_network(cfg)
    part, ds = exp.real_experiment(real, network, cfg)
    hold = part["temporal_holdout"]
    assert set(hold) == set(exp.MODEL_NAMES) | {"tamrl_z_only"}  # few-shot with and without site gains
    assert hold["gbm"]["GPP"]["n"] > 300  # 2010-2012 good-QC days at US-Ne1
    assert set(part["zero_shot_sites"]["tamrl_zero_shot"]["GPP"]) == {"US-AR1", "US-Wi7"}
    assert set(part["sites"]["tamrl"]["GPP"]) == {"US-AR1", "US-Ne1", "US-Wi7"}
    support = part["support"]
    assert support["US-Wi7"]["days"] == 90 and support["US-AR1"]["days"] == 365
    assert support["US-Wi7"]["scored_from"] > support["US-Wi7"]["first_day"]
    assert part["sites"]["tamrl"]["GPP"]["US-AR1"]["n"] > 300
    assert "US-Ne1" in list(ds["unit"].values)


def test_scored_days_and_strata():
    qc = np.ones((2, 5, 3), np.float32)
    qc[0, 4] = 0.5
    mask = exp.scored_days(qc, np.array([2, 0]), 0.8)
    assert mask[0, :, 0].tolist() == [False, False, True, True, False] and mask[1].all()
    assert exp.scored_days(qc, np.array([2, 0]), None)[0, 4].all()
    a = type("A", (), {"igbp": np.array(["CRO", "GRA"]), "climate": np.array(["Dfa", "BSk"])})()
    assert list(exp.strata_labels(a, "igbp+climate")) == ["CRO/D", "GRA/B"]


def test_parts_run_apart_merge_into_the_same_tables(cli_run):
    from kgml_core.experiments.tamrl.evaluation import merge_parts
    metrics, _ = cli_run
    units = sorted(metrics["per_site"]["tamrl"]["GPP"])
    half = set(units[: len(units) // 2])

    def part(keep):
        sub = lambda tables: {m: {f: {u: r for u, r in rows.items() if (u in half) == keep}  # noqa: E731
                                  for f, rows in per.items()} for m, per in tables.items()}
        return {"per_site": sub(metrics["per_site"]), "per_site_truth": sub(metrics["per_site_truth"]),
                "per_site_curve": {g: sub(t) for g, t in metrics["per_site_curve"].items()},
                "igbp": {u: v for u, v in metrics["igbp"].items() if (u in half) == keep},
                "split": metrics["split"], "n_test_sites": sum((u in half) == keep for u in units)}
    merged = merge_parts([part(True), part(False)], (0, 7, 30, 90, 365))
    assert merged["n_test_sites"] == metrics["n_test_sites"]
    for key in ("models", "models_truth", "paired", "per_vegetation", "support_curve"):
        assert json.dumps(merged[key], sort_keys=True, default=float) == \
            json.dumps(metrics[key], sort_keys=True, default=float), key


def test_merged_seeds_of_one_fold_average_per_site_scores():
    from kgml_core.experiments.tamrl.evaluation import merge_parts

    def part(rmse):
        table = {m: {f: {"VT-1": {"r2": 0.5, "rmse": rmse, "n": 10}, "VT-2": {"r2": 0.7, "rmse": 2 * rmse, "n": 9}}
                     for f in ("GPP", "RECO", "NEE")}
                 for m in ("tamrl", "tamrl_encoder_only", "tamrl_zero_shot", "gbm", "lstm", "ct_lstm")}
        return {"per_site": table, "per_site_truth": table, "igbp": {"VT-1": "GRA", "VT-2": "ENF"},
                "split": "fold 0"}
    merged = merge_parts([part(1.0), part(3.0)], ())
    assert merged["n_test_sites"] == 2
    assert merged["per_site"]["gbm"]["GPP"]["VT-2"] == {"r2": 0.7, "rmse": 4.0, "n": 9}
    assert merged["models"]["tamrl"]["NEE"]["median_rmse"] == 3.0


def test_virtual_tasks_of_the_real_part_cover_every_vegetation_type():
    from kgml_core.experiments.tamrl.real import spread_over_types
    igbp = np.array(["GRA", "GRA", "GRA", "ENF", "CRO", "GRA", "OSH", "ENF"])
    picked = spread_over_types(igbp, 4)
    assert sorted(igbp[picked]) == ["CRO", "ENF", "GRA", "OSH"] and list(picked) == sorted(picked)
    assert len(spread_over_types(igbp, 20)) == len(igbp)
