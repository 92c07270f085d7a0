"""The real-yields experiment: global against region-specific KGML-ag on real county yields."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from kgml_core import labels, schema
from kgml_core.experiments.base import Experiment, Option, Setting
from kgml_core.experiments.real_yields.config import KIND, RealYieldsConfig
from kgml_core.experiments.real_yields.data import RealData, load_data
from kgml_core.experiments.real_yields.evaluation import (SPLITS, county_mean_baseline, evaluate, headline, masks,
                                                          season_features, weather_linear_baseline)
from kgml_core.experiments.real_yields.results import RealYieldsResults
from kgml_core.experiments.state_vs_global.data import TrainingSets
from kgml_core.experiments.state_vs_global.evaluation import region_summary
from kgml_core.experiments.state_vs_global.training import Harness, predict_grouped
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.regions import detect_regions
from kgml_core.runs import Run
from kgml_core.training.data import Normalizer, make_samples
from kgml_core.training.protocol import run_step

MODEL_HELP = {
    "county_mean": "Baseline: each county's mean yield over its training years (the mean of all training "
                   "yields for a held-out county).",
    "weather_linear": "Baseline: ordinary least squares of yield on growing-season weather (temperature, "
                      "maximum temperature, precipitation, radiation, VPD).",
    "process_model": labels.MODEL_HELP.get("process_model", "The process model with default parameters."),
    "global": "KGML-ag pretrained on the process model driven by the real weather, its yield head "
              "fine-tuned on the real yields of all training counties.",
    "auto_region": "The global model fine-tuned on each Auto Region Detector region's real yields "
                   "(pulled toward the global weights).",
}


class YieldHarness(Harness):
    """The stage harness of the state-vs-global experiment, with yield-only fine-tuning (no flux towers)."""

    def train_global_yields(self, pretrained: dict) -> object:
        model = self._new(pretrained)
        return self._stage("global", model, lambda t: run_step(t, "step3", self.sets.yields, self.cfg.protocol.step3,
                                                               "global"))

    def train_regions(self, groups: np.ndarray) -> dict:
        anchor = self.weights["global"]
        out = {}
        for group in sorted(set(groups.tolist()) - {"nan"}):
            out[group] = self._stage(f"region_{group}", self._new(anchor), lambda t, g=group: run_step(
                t, "step3", self.sets.yields.subset(groups == g), self.cfg.protocol.region3, f"region_{g}", anchor))
        return out

    def _new(self, weights: dict):
        from kgml_core.experiments.state_vs_global.training import _kgml

        model = _kgml(self.cfg)
        model.load_state_dict(weights)
        return model


def _sets(cfg: RealYieldsConfig, data: RealData) -> TrainingSets:
    train_units = data.split.index[data.split == "train"].to_numpy()
    process = make_samples(data.process, data.train_years)  # the process model's outputs are knowledge, not data
    yields = make_samples(data.world.sel(unit=train_units), data.train_years)
    yields = yields.subset(np.isfinite(yields.yield_))
    evaluation = make_samples(data.world, data.train_years + data.test_years)
    return TrainingSets(process, yields, yields.subset(np.zeros(len(yields), bool)), evaluation)


def _table(data: RealData, ev, preds: dict[str, np.ndarray]) -> pd.DataFrame:
    """(unit, year) rows: the real yield and every model's prediction (g C m-2)."""
    index = pd.MultiIndex.from_arrays([ev.unit, ev.year], names=["unit", "year"])
    table = pd.DataFrame({"obs": ev.yield_.astype(float), **{k: v.astype(float) for k, v in preds.items()}},
                         index=index)
    train = pd.Series(masks(data, index)["train"], index=index)
    table.insert(1, "county_mean", county_mean_baseline(table["obs"], train))
    table.insert(2, "weather_linear", weather_linear_baseline(table["obs"], train, season_features(data.world)))
    return table.sort_index()


def predictions_dataset(table: pd.DataFrame, data: RealData, regions: pd.Series) -> xr.Dataset:
    """YIELD (model, unit, year) of the real yields ('observed') and every model, with split and region."""
    world = data.world
    models = ["observed"] + [c for c in table.columns if c != "obs"]
    cube = np.stack([table[c if c != "observed" else "obs"].unstack("year").reindex(
        index=world["unit"].values, columns=world["year"].values).to_numpy(np.float32) for c in models])
    ds = xr.Dataset(coords={c: world[c] for c in ("unit", "lat", "lon", "state", "unit_kind", "year")})
    units = world["unit"].values.astype(str)
    ds = ds.assign_coords(model=("model", np.array(models, dtype=object)),
                          split=("unit", data.split.reindex(units).values.astype(object)),
                          region=("unit", regions.reindex(units).fillna(-1).values.astype(int)))
    ds["YIELD"] = (("model", "unit", "year"), cube, schema.variable_attrs("YIELD"))
    ds.attrs.update({"data_source": "real", "test_years": list(data.test_years),
                     "train_years": list(data.train_years), **{f"source_{k}": v for k, v in data.sources.items()}})
    return ds


class RealYields(Experiment):
    """Global against region-specific KGML-ag on real county yields and real weather.

    metrics.json: ``scores`` -> held-out set -> model -> scores (r2, rmse, rmse_bu, bias, n),
    ``bootstrap`` (RMSE differences against the global model, counties resampled),
    ``regions``, ``sources``, ``data_source`` = "real", ``headline``; predictions.nc holds
    YIELD (model, unit, year).
    """

    kind = KIND
    title = "Real data: global against region-specific KGML-ag on real county yields"
    help = ("The process model driven by the counties' real weather pretrains KGML-ag; the models are "
            "fine-tuned and scored on real NASS yields against two simple baselines.")
    cli_name = "real-yields"
    config_class = RealYieldsConfig
    results_class = RealYieldsResults
    resumable = True
    data_source = "real data"
    labels = MODEL_HELP
    settings = (
        Setting("seed", "Seed", "Random seed of the split and the training.", "int", low=0, high=10_000),
    )
    options = (
        Option("--weather", "weather", "county daily weather table or gridded NetCDF (default: HRRR Iowa)"),
        Option("--yields", "yields", "NASS county yields (default: the Quick Stats corn export)"),
        Option("--soils", "soils", "optional soil grid or contract file"),
        Option("--crop", "crop", "CORN or SOYBEANS", choices=("CORN", "SOYBEANS")),
        Option("--seed", "seed", "random seed"),
        Option("--n-regions", "n_regions", "fixed number of auto regions"),
        Option("--threads", "threads", "torch CPU threads"),
        Option("--device", "device", "auto, cpu or cuda", choices=("auto", "cpu", "cuda")),
    )

    def default_name(self, config: RealYieldsConfig) -> str:
        return f"real data: {config.crop.lower()} yields {config.years[0]}-{config.years[1]}"

    def run(self, config: RealYieldsConfig, run: Run, progress: ProgressCallback | None,
            cancel: CancelToken | None) -> dict:
        cfg = config
        completed = {k: run.load_weights(k) for k in run.weight_names()}
        data = load_data(cfg)
        run.log(f"real-data world: {data.world.sizes['unit']} counties, {data.train_years} train, "
                f"{data.test_years} held out; sources {data.sources}")
        sets = _sets(cfg, data)
        harness = YieldHarness(cfg, sets, Normalizer.fit(sets.process), progress, cancel,
                               lambda k, w: run.save_weights(k, w), completed)
        glob = harness.train_global_yields(harness.pretrain_global())
        ev = sets.evaluation
        process = make_samples(data.process, data.train_years + data.test_years)
        preds = {"process_model": process.yield_, "global": glob.predict(ev)["YIELD"]}
        regions = detect_regions(data.world, method=cfg.region_method, n_regions=cfg.n_regions, seed=cfg.seed)
        label = regions.labels.astype(str)
        by_region = harness.train_regions(label.reindex(sets.yields.county).fillna("nan").values)
        preds["auto_region"] = predict_grouped(by_region, ev, label.reindex(ev.county).values, glob)["YIELD"]
        report(progress, cancel, ProgressEvent("evaluate", 1, 1, 1, 1, {}, "scoring"))
        table = _table(data, ev, preds)
        metrics = evaluate(table, data, cfg.crop, cfg.n_boot, cfg.seed)
        metrics.update(regions=region_summary(regions), sources=data.sources, data_source="real",
                       splits=SPLITS, train_years=data.train_years, test_years=data.test_years,
                       n_counties=int(data.world.sizes["unit"]),
                       n_test_counties=int((data.split == "test").sum()),
                       n_train_yields=int(len(sets.yields)), device=str(harness.device),
                       resumed_stages=sorted(harness.skipped))
        metrics["headline"] = headline(metrics)
        run.save_predictions(predictions_dataset(table, data, regions.labels))
        run.save_json("normalizer", harness.norm.to_dict())
        return metrics

    def summary(self, metrics: dict) -> str:
        table = RealYieldsResults(None, metrics).summary_table()  # type: ignore[arg-type]
        with pd.option_context("display.width", 160):
            text = table.round(3).to_string()
        head = metrics["headline"]
        return f"REAL DATA ({metrics['sources']})\n{text}\n{head['name']}: {head['value']:+.2f}"
