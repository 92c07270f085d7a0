"""The state-vs-global experiment: the SDSA-KGML comparison ladder in one run."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from kgml_core import labels
from kgml_core.distributed import ExperimentCluster, map_tasks
from kgml_core.experiments.base import SCHEDULER_OPTION, SCHEDULER_SETTING, Experiment, Option, Setting
from kgml_core.experiments.state_vs_global.config import KIND, MODEL_NAMES, StateVsGlobalConfig
from kgml_core.experiments.state_vs_global.data import load_data, without_pretraining_world
from kgml_core.experiments.state_vs_global.evaluation import bootstrap, evaluate, headline, region_summary, \
    science_summary
from kgml_core.experiments.state_vs_global.results import StateVsGlobalResults, metrics_table
from kgml_core.experiments.state_vs_global.training import fit_ladder, pretraining_summary
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.runs import Run, RunStore
from kgml_core.stages import StageReuse

MODEL_HELP = {m: labels.MODEL_HELP[m] for m in MODEL_NAMES}


class StateVsGlobal(Experiment):
    """SDSA-KGML: the comparison ladder trained and scored on a simulated multi-state world.

    metrics.json: ``states`` -> state -> model -> target -> scores, plus
    ``by_split``, ``bootstrap``, ``regions``, ``heterogeneity_sweep`` when
    ``config.sweep`` is set, ``seconds``, ``ceiling`` (the oracle ceiling, the
    realised gain and the fraction reached per state, see :mod:`kgml_core.sdsa`)
    and ``parameters`` (estimated against true parameters per state and
    region), ``pretraining`` (the pretraining domain, its years and samples,
    and the emulator's Rh RMSE on its own pretraining samples); predictions.nc; the weights of every
    stage (``pretrained``, ``global``, ``state_XX``, ``region_N``,
    ``no_knowledge``), each saved as soon as the stage ends, so a resumed run
    trains only the missing stages.
    """

    kind = KIND
    title = "SDSA-KGML: state- and region-specific against global KGML-ag (Ra, Rh, NEE)"
    short_title = "State vs global"
    results_class = StateVsGlobalResults
    help = "The comparison ladder of the SDSA-KGML article on a simulated multi-state world."
    cli_name = "state-vs-global"
    config_class = StateVsGlobalConfig
    resumable = True
    labels = MODEL_HELP
    settings = (
        Setting("states", "States", "Counties of these states are modelled.", "states"),
        Setting("models", "Models", "The comparison ladder: process model, level 1, 2 and 3 models.", "models"),
        Setting("seed", "Seed", "Random seed of the world and the training.", "int", low=0, high=10_000),
        Setting("heterogeneity", "Heterogeneity of the simulated world",
                "0: one parameter set everywhere (no spatial shift); 1: the default.", "slider",
                low=0.0, high=2.0, step=0.25),
        Setting("sweep", "Heterogeneity sweep (optional)",
                "Also retrain global and state-specific models on worlds with these heterogeneities "
                "(each point costs about one more run).", "floats", options=(0.0, 0.25, 0.5, 0.75, 1.0, 1.5)),
        SCHEDULER_SETTING,
    )

    def stage_plan(self, config) -> list[tuple[str, float]]:
        """The ladder's stages weighted by their epochs (sweep points come after, unplanned)."""
        p = config.training_protocol()
        plan = [(f"global/step{i}", getattr(p, f"step{i}").epochs) for i in range(1, 6)]
        if "no_knowledge" in config.models:
            plan.append(("no_knowledge", config.no_knowledge.epochs))
        if "state_specific" in config.models:
            for state in config.states:
                plan += [(f"state_{state}/step3", p.region3.epochs), (f"state_{state}/step5", p.region5.epochs)]
        if "auto_region" in config.models:
            plan += [("region_*/step3", p.region3.epochs), ("region_*/step5", p.region5.epochs)]
        return plan + [("evaluate", 1.0)]
    options = (
        Option("--states", "states", "postal codes"),
        Option("--seed", "seed", "random seed"),
        Option("--heterogeneity", "heterogeneity", "simulator heterogeneity (default 1)"),
        Option("--sweep", "sweep", "also run global vs state-specific for these heterogeneity values"),
        Option("--region-method", "region_method", "auto regions", choices=("kmeans", "contiguous", "states")),
        Option("--n-regions", "n_regions", "fixed number of auto regions"),
        Option("--threads", "threads", "torch CPU threads (1 is fastest on a shared CPU)"),
        Option("--device", "device", "auto, cpu or cuda", choices=("auto", "cpu", "cuda")),
        SCHEDULER_OPTION,
    )

    def run(self, config: StateVsGlobalConfig, run: Run, progress: ProgressCallback | None,
            cancel: CancelToken | None) -> dict:
        cfg = config
        completed = {key: run.load_weights(key) for key in run.weight_names()
                     if key in _stage_keys(cfg) or key.startswith(("state_", "region_"))}
        run.log(f"loading worlds for {' '.join(cfg.states)} {cfg.years} h={cfg.heterogeneity}")
        data, sets = without_pretraining_world(cfg, load_data(cfg, step=lambda message, i: report(
            progress, cancel, ProgressEvent("preparing", i, 4, 0, 0, message=message))))

        def checkpoint(key: str, weights: dict) -> None:
            run.save_weights(key, weights)
            run.log(f"stage {key} done")
        reuse = StageReuse.for_run(run, note=_noter(progress))
        try:
            with ExperimentCluster(cfg.scheduler) as cluster:
                metrics = self._fit_and_score(cfg, run, data, sets, progress, cancel, checkpoint, completed,
                                              reuse, cluster)
                metrics["parallel"] = cluster.used
                run.log(f"independent parts ran: {cluster.used}")
        finally:
            if reuse is not None:
                reuse.close()
        return metrics

    def _fit_and_score(self, cfg, run, data, sets, progress, cancel, checkpoint, completed, reuse,
                       cluster) -> dict:
        ds, harness, regions = fit_ladder(cfg, data, progress, cancel, models=cfg.models,
                                          checkpoint=checkpoint, completed=completed, reuse=reuse,
                                          cluster=cluster, sets=sets)
        metrics = {"states": evaluate(ds), "by_split": {w: evaluate(ds, w) for w in
                                                        ("heldout_counties", "heldout_years")},
                   "bootstrap": bootstrap(ds, cfg.n_boot, cfg.seed),
                   "regions": region_summary(regions),
                   "test_years": data.test_years, "train_years": data.train_years,
                   "n_test_counties": int((data.split == "test").sum()),
                   "device": str(harness.device), "resumed_stages": sorted(harness.skipped)}
        metrics["headline"] = headline(metrics["states"])
        metrics["pretraining"] = pretraining_summary(cfg, data, harness)
        metrics.update(science_summary(metrics, ds, harness, data, regions))
        if cfg.sweep:
            run.log(f"heterogeneity sweep {cfg.sweep}")
            metrics["heterogeneity_sweep"] = heterogeneity_sweep(
                cfg, cfg.sweep, harness.weights["pretrained"], progress, cancel, reuse,
                cluster.client(len(cfg.sweep)), cluster)
        metrics["reused_stages"] = dict(reuse.reused) if reuse is not None else {}
        run.save_predictions(ds)
        for key, weights in harness.weights.items():
            run.save_weights(key, weights)
        run.save_json("normalizer", harness.norm.to_dict())
        return metrics

    def summary(self, metrics: dict) -> str:
        table = metrics_table(metrics)
        with pd.option_context("display.width", 140, "display.max_rows", 200):
            rmse = table.pivot_table(index=["state", "model"], columns="target", values="rmse").round(3)
            r2 = table.pivot_table(index=["state", "model"], columns="target", values="r2").round(3)
            return f"RMSE\n{rmse}\nR2\n{r2}\n{metrics['headline']['name']}: {metrics['headline']['value']:.3f}"


def _noter(progress: ProgressCallback | None):
    """A callback passing a message (a reused stage) to ``progress`` as a kept note."""
    if progress is None:
        return None
    return lambda message: progress(ProgressEvent("reuse", 0, 0, 0, 0, {}, message, note=True))


def _stage_keys(cfg: StateVsGlobalConfig) -> set[str]:
    return {"pretrained", "global", "no_knowledge"} | {f"state_{s}" for s in cfg.states}


def heterogeneity_sweep(cfg: StateVsGlobalConfig, values, pretrained: dict | None = None,
                        progress=None, cancel=None, reuse: StageReuse | None = None, client=None,
                        cluster=None) -> dict:
    """Global against state-specific Rh RMSE for each heterogeneity in ``values``.

    Returns ``{"values": [...], "states": {STATE: {"global_rmse": [...],
    "state_specific_rmse": [...], "rmse_reduction": [...], "diff": [...], "lo": [...],
    "hi": [...]}}}`` (reduction = 1 - state/global; diff, lo, hi: RMSE(state) -
    RMSE(global) with its 95 % paired bootstrap interval over counties).
    With ``client`` each point is one Dask task (no progress, no stage reuse; the same results); else
    the points run here, one after another, their per-state estimates shared with ``cluster``'s second
    process when it gives one (:class:`~.training.Harness`; the same results).
    """
    values = [float(v) for v in values]
    if client is not None:
        points = map_tasks(sweep_point, values, client, cfg=cfg, pretrained=pretrained)
    else:
        points = [sweep_point(h, cfg, pretrained, progress, cancel, reuse, cluster) for h in values]
    out: dict = {"values": values, "states": {}}
    for point in points:
        for state, cells in point.items():
            row = out["states"].setdefault(state, {"global_rmse": [], "state_specific_rmse": [],
                                                   "rmse_reduction": [], "diff": [], "lo": [], "hi": []})
            for key, value in cells.items():
                row[key].append(value)
    return out


def sweep_point(h: float, cfg: StateVsGlobalConfig, pretrained: dict | None = None, progress=None, cancel=None,
                reuse: StageReuse | None = None, cluster=None) -> dict[str, dict[str, float]]:
    """State -> global and state-specific Rh RMSE, their reduction and paired interval, on the world of ``h``
    (``cluster``: where the per-state estimates may run, see :func:`~.training.fit_ladder`)."""
    # the sweep scores global against state-specific only: no oracle world to simulate
    point_data = load_data(replace(cfg, models=("global", "state_specific")), heterogeneity=float(h))
    data, sets = without_pretraining_world(cfg, point_data)
    ds, _, _ = fit_ladder(cfg, data, progress, cancel, pretrained, models=("global", "state_specific"),
                          reuse=reuse, cluster=cluster, sets=sets)
    intervals = bootstrap(ds, cfg.n_boot, cfg.seed, targets=("RH",))
    out = {}
    for state, m in evaluate(ds).items():
        g, s = m["global"]["RH"]["rmse"], m["state_specific"]["RH"]["rmse"]
        ci = intervals[state]["RH"]["state_specific_vs_global"]
        out[state] = {"global_rmse": g, "state_specific_rmse": s, "rmse_reduction": 1 - s / g,
                      **{key: ci[key] for key in ("diff", "lo", "hi")}}
    return out


def run_state_vs_global(config: StateVsGlobalConfig | None = None, store: RunStore | None = None,
                        progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                        name: str | None = None, resume: str | None = None) -> Run:
    """Run the experiment into a new run of ``store`` (or resume run ``resume``): :meth:`Experiment.execute`."""
    return StateVsGlobal().execute(config, store, progress, cancel, name=name, resume=resume)



