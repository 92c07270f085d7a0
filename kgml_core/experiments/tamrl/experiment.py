"""The TAM-RL experiment: held-out sites, real towers, upscaling, in one run."""
from __future__ import annotations

from kgml_core import labels, settings
from kgml_core.experiments.base import Experiment, Option, Setting
from kgml_core.experiments.tamrl.config import MODEL_NAMES, TamrlConfig
from kgml_core.experiments.tamrl.data import load_real_sites, tower_network
from kgml_core.experiments.tamrl.real import real_experiment
from kgml_core.experiments.tamrl.results import REAL_PREDICTIONS, UPSCALED, TamrlResults
from kgml_core.experiments.tamrl.virtual import virtual_experiment
from kgml_core.metrics import scores
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.runs import Run, RunStore
from kgml_core.tamrl.sites import TARGETS
from kgml_core.tamrl.upscale import upscale

MODEL_HELP = {m: labels.MODEL_HELP[m] for m in MODEL_NAMES}


class Tamrl(Experiment):
    """TAM-RL against FLUXCOM-style baselines on held-out flux sites, plus upscaling to counties.

    metrics.json (see :class:`~kgml_core.experiments.tamrl.results.TamrlResults`),
    predictions.nc (held-out virtual sites), real_predictions.nc (real towers,
    when present), upscaled.nc (counties) and the TAM-RL weights per seed.
    """

    kind = "tamrl"
    title = "TAM-RL: upscale flux towers to places without towers, against GBM / LSTM baselines"
    short_title = "TAM-RL upscaled"
    results_class = TamrlResults
    help = "Held-out flux sites (k folds or the towers picked on the map), real towers, county upscaling."
    cli_name = "tamrl"
    config_class = TamrlConfig
    labels = MODEL_HELP
    settings = (
        Setting("states", "States", "Counties of these states are upscaled to.", "states"),
        Setting("site_ids", "Train only on the virtual towers picked on the map",
                "Otherwise k folds over all towers, stratified by vegetation type.", "map_sites", low=3),
    )

    def stage_plan(self, config) -> list[tuple[str, float]]:
        """Per fold and seed: gradient boosting, the LSTM baselines and TAM-RL; then the real towers and upscaling."""
        t = config.train
        per_model = {"gbm": 1.0, "lstm": t.epochs, "ct_lstm": t.epochs, "tamrl": t.pretrain_epochs + t.epochs}
        folds = [f"fold{k}" for k in (config.folds or range(config.k_folds))] if not config.site_ids else ["*"]
        plan = [(f"{fold}/seed{seed}/{model}", w) for fold in folds for seed in config.seeds
                for model, w in per_model.items()]
        if config.real_sites:
            plan += [(f"real/seed{seed}/{model}", w) for seed in config.seeds[:config.real_n_seeds]
                     for model, w in per_model.items()]
        return plan + [("upscale", 1.0)]
    options = (
        Option("--sites", "site_ids", "training site ids (default: k folds)"),
        Option("--states", "states", "states to upscale to (e.g. IA,IL)"),
        Option("--seeds", "seeds", "training seeds"),
        Option("--stratify", "stratify", "the class site folds are stratified by", choices=("igbp", "climate")),
        Option("--no-real", "real_sites", "skip the real FLUXNET sites", const=False),
        Option("--threads", "threads", "CPU threads for torch and the trees (default 2)"),
    )

    def default_name(self, config: TamrlConfig) -> str:
        return f"TAM-RL {config.preset}"

    def run(self, config: TamrlConfig, run: Run, progress: ProgressCallback | None,
            cancel: CancelToken | None) -> dict:
        cfg = config
        network = tower_network(cfg)
        run.log(f"virtual tower network: {network.sizes['unit']} sites, {cfg.years[0]}-{cfg.years[1]}")
        part, preds, members = virtual_experiment(network, cfg, progress, cancel)
        run.save_predictions(preds)
        for i, m in enumerate(members):
            run.save_weights(f"tamrl_seed{cfg.seeds[i]}", m.model.state_dict())
        metrics = {k: part[k] for k in ("split", "n_test_sites", "n_train_sites", "models")}
        metrics.update({k: v for k, v in part.items() if k not in metrics})
        gpp = part["relative_rmse"]["tamrl_vs_gbm"]["GPP"]
        metrics["headline"] = {"name": "TAM-RL GPP median RMSE vs GBM (relative)", "value": gpp}
        metrics["real_sites"] = _real_part(cfg, network, run, progress, cancel)
        metrics["upscaled"] = _upscale_part(cfg, members, run, progress, cancel, "LAI_MODEL" in network)
        return metrics

    def summary(self, metrics: dict) -> str:
        frame = TamrlResults(None, metrics).summary_table()  # type: ignore[arg-type]
        frame.columns = [c.replace(" median", "").split(" (")[0] for c in frame.columns]
        return f"held-out virtual sites ({metrics.get('n_test_sites')}), median per-site scores:\n" \
               + frame.round(3).to_string()


def _real_part(cfg: TamrlConfig, network, run: Run, progress, cancel) -> dict:
    if not cfg.real_sites:
        return {"skipped": "real_sites is off in the configuration"}
    real = load_real_sites()
    if real is None:
        return {"skipped": f"no FLUXNET daily files under {settings.data_dir() / 'fluxnet'}"}
    part, ds = real_experiment(real, network, cfg, progress, cancel)
    run.save_dataset(REAL_PREDICTIONS, ds)
    run.log(f"real sites: {', '.join(map(str, real['unit'].values))}")
    return part


def _upscale_part(cfg: TamrlConfig, members, run: Run, progress, cancel, observed_drivers: bool = False) -> dict:
    from kgml_core.simulator import WorldConfig, load_world

    report(progress, cancel, ProgressEvent("upscale", 1, 1, 0, 1, message="upscaling to counties"))
    world = load_world(WorldConfig(states=tuple(cfg.states), years=tuple(cfg.upscale_years),
                                   seed=cfg.network_seed, counties=tuple(cfg.counties) or None))
    if observed_drivers:  # the models learned satellite LAI and probe soil water: give the counties the same
        from kgml_core.simulator.towers import observe_drivers
        world = observe_drivers(world.copy(), cfg.network_seed)
    ds = upscale(members, world, cfg.drivers, cfg.statics, cfg.train, memory=cfg.memory_days)
    run.save_dataset(UPSCALED, ds)
    report(progress, cancel, ProgressEvent("upscale", 1, 1, 1, 1, message=f"{ds.sizes['unit']} counties"))
    truth = {f: scores(world[f].values, ds[f].values) for f in TARGETS if f in world}
    return {"file": f"{UPSCALED}.nc", "states": list(cfg.states), "n_counties": int(ds.sizes["unit"]),
            "years": list(cfg.upscale_years), "n_members": len(members),
            "against_simulated_truth": {f: {k: s[k] for k in ("r2", "rmse")} for f, s in truth.items()},
            "mean_std": {f: float(ds[f"{f}_STD"].mean()) for f in TARGETS}}


def run_tamrl(config: TamrlConfig | None = None, store: RunStore | None = None,
              progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
              name: str | None = None) -> Run:
    """Run the TAM-RL experiment into a new run of ``store``: :meth:`Experiment.execute`."""
    return Tamrl().execute(config, store, progress, cancel, name=name)
