"""Training the ladder's models: the harness of stages (checkpointed, resumable) and the ladder itself."""
from __future__ import annotations

from dataclasses import asdict, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch
import xarray as xr

from kgml_core.distributed import share
from kgml_core.experiments.state_vs_global.config import FLUXES, MODEL_NAMES, StateVsGlobalConfig
from kgml_core.experiments.state_vs_global.data import ExperimentData, TrainingSets, training_sets
from kgml_core.experiments.state_vs_global.evaluation import predictions_dataset
from kgml_core.experiments.state_vs_global.tasks import (BESIDE_MIN_WORK, Job, global_predictions,
                                                         no_knowledge_task, predict_grouped, predict_work,
                                                         region_task, stage_names)
from kgml_core.models import MODELS, build_model
from kgml_core.progress import CancelToken, ProgressCallback, ProgressEvent, report
from kgml_core.regions import detect_regions
from kgml_core.sdsa import true_means
from kgml_core.stages import StageReuse, array_digest, describe, samples_digest, stage_key
from kgml_core.training.data import INPUTS, PARAM_NAMES, Normalizer, make_samples
from kgml_core.training.protocol import (finetune, finetune_group, finetune_work, pretrain, region_groups,
                                        train_no_knowledge)
from kgml_core.training.trainer import KGMLTrainer, default_device


def _device(cfg: StateVsGlobalConfig) -> torch.device:
    return default_device(cfg.device)


def _sizes(cfg: StateVsGlobalConfig, name: str = "kgml_ag") -> dict:
    sizes = {"n_inputs": len(INPUTS), "hidden": cfg.hidden, "head_hidden": cfg.head_hidden,
             "dropout": cfg.dropout}
    if name == "kgml_ag":
        sizes["flux_hidden"] = cfg.flux_hidden
        if int(getattr(cfg, "rh_layers", 1)) != 1:       # absent at 1: the model sizes of runs saved before
            sizes["rh_layers"] = int(cfg.rh_layers)
        if getattr(cfg, "rh_response", "gru") != "gru":  # likewise: the default read-out leaves the sizes as before
            sizes.update(rh_response=cfg.rh_response, soil_days=float(cfg.soil_days),
                         q10_in_networks=bool(cfg.q10_in_networks))
        if getattr(cfg, "swc_output", False):
            sizes["swc_output"] = True
        if getattr(cfg, "rh_moisture", False):
            sizes["rh_moisture"] = True
        # a parameter-conditioned emulator only when pretrained on the ensemble (other experiments: plain)
        sizes["n_params"] = len(PARAM_NAMES) if getattr(cfg, "pretrain_world", "process") == "ensemble" else 0
    return sizes


def _kgml(cfg: StateVsGlobalConfig, name: str = "kgml_ag"):
    return build_model(name, _sizes(cfg, name))


class Harness:
    """Trains the ladder's models on one :class:`TrainingSets` and predicts the evaluation samples.

    Each stage's weights go to ``self.weights[key]`` (keys ``pretrained``,
    ``global``, ``state_XX``, ``region_N``, ``no_knowledge``) and, when given,
    to ``checkpoint(key, weights)`` as soon as the stage ends. A stage whose
    key is in ``completed`` (weights of an interrupted run) is not trained
    again: its weights are loaded instead. With ``reuse`` (a
    :class:`~kgml_core.stages.StageReuse`), a stage trained before, by any run,
    from the same settings, data, parent weights, seed, device and code is
    loaded from the stage store, and every stage trained here is stored.
    With ``cluster`` (a :class:`~kgml_core.distributed.ExperimentCluster`) the
    stages that are independent of each other run beside this process: the
    per-state and per-region models that must be trained as Dask tasks when the
    cluster gives a client, else, when they are worth it (:data:`BESIDE_MIN_WORK`),
    shared with the cluster's second process (:meth:`start_beside`: the level-1
    model trains there from the start, during the pretraining and the global
    model; the regional models after the global one, each process taking the
    next, largest first). The same weights for the same seed (one torch thread
    each), recorded and checkpointed here as each ends.
    """

    def __init__(self, cfg: StateVsGlobalConfig, sets: TrainingSets, norm: Normalizer,
                 progress: ProgressCallback | None, cancel: CancelToken | None,
                 checkpoint: Callable[[str, dict], None] | None = None,
                 completed: dict[str, dict[str, torch.Tensor]] | None = None,
                 reuse: StageReuse | None = None, cluster=None):
        self.cfg, self.sets, self.norm = cfg, sets, norm
        self.progress, self.cancel = progress, cancel
        self.device = _device(cfg)
        self.weights: dict[str, dict[str, torch.Tensor]] = {}
        self.checkpoint = checkpoint
        self.completed = dict(completed or {})
        self.skipped: list[str] = []
        self.reuse = reuse
        self.cluster = cluster
        self._digests: dict[str, str] = {}
        # kind ("global", "state", "region") -> group -> trained model (for the parameter table)
        self.group_models: dict[str, dict[str, torch.nn.Module]] = {}
        # stage key -> what its training decided besides the weights (e.g. {"pull": ...}; stages trained here)
        self.decided: dict[str, dict] = {}
        self._pool = None                                   # the cluster's second process, once started
        self._pending: list = []                            # (job, AsyncResult) running in it
        self._trained: dict[str, KGMLTrainer] = {}          # stages trained, not yet handed out
        # job key -> predictions of its evaluation samples, made where it ran (shared jobs only)
        self.predictions: dict[str, dict] = {}

    def trainer(self, model) -> KGMLTrainer:
        return KGMLTrainer(model, self.norm, self.device, self.progress, self.cancel, self.cfg.seed)

    def _stage(self, key: str, model: torch.nn.Module, train: Callable[[KGMLTrainer], object],
               parts: dict | None = None) -> KGMLTrainer:
        """Train ``model`` with ``train`` (or load stage ``key``: completed, or reused), record and checkpoint it.

        ``parts``: what the stage depends on besides the model, normalizer, seed
        and device (settings, data digests, parent weights); it keys the reuse.
        """
        t = self.trainer(model)
        if key in self.completed:
            model.load_state_dict(self.completed[key])
            self.skipped.append(key)
            self.weights[key] = t.state_dict()
            return t
        content = self._content_key(key, type(model), model.config, parts)
        cached = self.reuse.load(key, content) if content else None
        if cached is not None:
            model.load_state_dict(cached)
        else:
            logs = train(t)
            decided = {k: v for log in logs or [] if hasattr(log, "info") for k, v in log.info.items()} \
                if isinstance(logs, list) else {}
            if decided:
                self.decided[key] = decided
        self.weights[key] = t.state_dict()
        if self.checkpoint is not None:
            self.checkpoint(key, self.weights[key])
        if content and cached is None:
            self.reuse.save(key, content, self.weights[key])
        return t

    def _content_key(self, key: str, model_class: type, model_config, parts: dict | None) -> str | None:
        if self.reuse is None or parts is None:
            return None
        return stage_key(key, {"model": model_class.__name__, "model_config": asdict(model_config),
                               "norm": self._digest("norm"), "seed": self.cfg.seed,
                               "device": self.device.type, **parts})

    def _digest(self, name: str) -> str:
        """Digest of a training set (``process``, ``step4``, ``yields``, ``sites``) or of the normalizer (``norm``)."""
        if name not in self._digests:
            self._digests[name] = array_digest(self.norm.to_dict()) if name == "norm" else \
                samples_digest(getattr(self.sets, name))
        return self._digests[name]

    def pretrain_global(self) -> dict[str, torch.Tensor]:
        """Steps 1-2 on the process world (independent of the observed world's heterogeneity)."""
        p = self.cfg.protocol
        # the initial weights from the seed alone: the stage key records the seed, not what drew from torch's
        # generator before this point in the process (another script, another ladder)
        torch.manual_seed(self.cfg.seed)
        self._stage("pretrained", _kgml(self.cfg),
                    lambda t: pretrain(t, self.sets.process, self.cfg.protocol, "global"),
                    {"data": self._digest("process"), "steps": [asdict(p.step1), asdict(p.step2)]})
        return self.weights["pretrained"]

    def train_global(self, pretrained: dict[str, torch.Tensor]) -> KGMLTrainer:
        """Steps 3-5 from the pretrained weights."""
        model = _kgml(self.cfg)
        model.load_state_dict(pretrained)
        p = self.cfg.protocol
        return self._stage("global", model, lambda t: finetune(
            t, self.sets.step4, self.sets.yields, self.sets.sites, self.cfg.protocol, "global"),
            {"parent": array_digest(pretrained), "steps": [asdict(p.step3), asdict(p.step4), asdict(p.step5),
                                                           list(p.step5_groups)],
             "data": [self._digest(n) for n in ("step4", "yields", "sites")]})

    def train_groups(self, prefix: str, yield_groups: np.ndarray, site_groups: np.ndarray) -> dict:
        """One SDSA-KGML model per group (state or region), from the global weights: group -> trainer."""
        return self.train_group_sets({prefix: (yield_groups, site_groups)})[prefix]

    def train_group_sets(self, group_sets: dict[str, tuple[np.ndarray, np.ndarray]],
                         evaluation_groups: dict[str, np.ndarray] | None = None,
                         extra: tuple[Job, ...] = ()) -> dict[str, dict]:
        """:meth:`train_groups` for several kinds at once: ``{prefix: (yield_groups, site_groups)}`` ->
        ``{prefix: {group: trainer}}``.

        The models are independent of each other: those that must train run as Dask
        tasks when the cluster gives a client, else shared with the second process
        (:meth:`start_beside`; largest first, each process taking the next when free),
        else one after another here. A level-1 model training in the second process is
        collected here too. Every stage is recorded and checkpointed here, as it ends.
        When shared, each model also predicts its group's evaluation samples where it
        trained (``evaluation_groups``: prefix -> group of each evaluation sample), and
        the ``extra`` jobs (predictions, :func:`global_predictions`) are shared too; their
        results go to :attr:`predictions` (job key -> predictions).
        """
        jobs = [job for prefix, (yg, sg) in group_sets.items()
                for job in self._group_jobs(prefix, yg, sg, (evaluation_groups or {}).get(prefix))]
        todo = [job for job in jobs if self._must_train(job.key, job.parts)]
        remote: dict[str, tuple[dict, dict]] = {}
        if self._pool is None and self._start_beside(sum(job.work for job in todo)) is None:
            for prefix, (yg, sg) in group_sets.items():
                remote.update(self._train_remote(prefix, [j.group for j in todo if j.prefix == prefix], yg, sg))
        if self._pool is not None:
            self._share(todo + list(extra))
        for job in jobs:
            if job.key not in self._trained:
                self._trained[job.key] = self._finish(job, *remote[job.key]) if job.key in remote \
                    else self._run_here(job)
        return {prefix: {job.group: self._trained.pop(job.key) for job in jobs if job.prefix == prefix}
                for prefix in group_sets}

    def _group_jobs(self, prefix: str, yield_groups: np.ndarray, site_groups: np.ndarray,
                    evaluation_groups: np.ndarray | None = None) -> list[Job]:
        anchor = self.weights["global"]
        p = self.cfg.protocol
        parent = array_digest(anchor)
        yield_groups, site_groups = np.asarray(yield_groups), np.asarray(site_groups)
        jobs = []
        for group in region_groups(yield_groups, site_groups):
            in_y, in_s = yield_groups == group, site_groups == group
            yields, sites = self.sets.yields.subset(in_y), self.sets.sites.subset(in_s)
            parts = {"parent": parent, "data": [samples_digest(yields), samples_digest(sites)],
                     "steps": [asdict(p.region3), asdict(p.region5), list(p.region_groups)]}
            task = dict(group=group, model_name="kgml_ag", model_config=_sizes(self.cfg), norm=self.norm,
                        anchor=anchor, yields=yields, sites=sites, yield_groups=yield_groups[in_y],
                        site_groups=site_groups[in_s], protocol=p, seed=self.cfg.seed, prefix=prefix,
                        device=self.device.type)
            in_e = None if evaluation_groups is None else np.asarray(evaluation_groups) == group
            evaluate = self.sets.evaluation.subset(in_e) if in_e is not None and in_e.any() else None
            jobs.append(Job(f"{prefix}_{group}", finetune_work(yields, sites, p), parts, task, prefix, group,
                            evaluate))
        return jobs

    def _run_here(self, job: Job) -> KGMLTrainer:
        """The stage of ``job`` in this process (trained, or loaded when completed or reused)."""
        if job.prefix == "no_knowledge":
            torch.manual_seed(self.cfg.seed)       # its initial weights do not depend on what ran before
            return self._stage(job.key, _kgml(self.cfg, "gru_attention"), lambda t: train_no_knowledge(
                t, self.sets.yields, self.sets.sites, self.cfg.no_knowledge), job.parts)
        a = job.task
        model = _kgml(self.cfg)
        model.load_state_dict(a["anchor"])
        return self._stage(job.key, model, lambda t: finetune_group(
            t, job.group, a["yields"], a["sites"], a["yield_groups"], a["site_groups"], a["protocol"],
            a["anchor"], job.key), job.parts)

    def _finish(self, job: Job, weights: dict, decided: dict) -> KGMLTrainer:
        """The stage of ``job`` from weights trained in another process (recorded and checkpointed here)."""
        model = _kgml(self.cfg, "gru_attention" if job.prefix == "no_knowledge" else "kgml_ag")
        trainer = self._stage(job.key, model, lambda t: t.model.load_state_dict(weights), job.parts)
        self.decided[job.key] = decided
        return trainer

    def start_beside(self, no_knowledge: bool, group_sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Start the second process now (it imports torch while this one pretrains) when the independent
        stages that must train are worth it, and the level-1 model (independent of every other stage) in it.

        The regional stages count as to train (their parent, the global model, is not trained yet).
        With a Dask scheduler the level-1 model stays here (only the regional stages are tasks).
        """
        job = self._no_knowledge_job() if no_knowledge else None
        if job is None or not self._must_train(job.key, job.parts):
            return
        work = job.work + sum(
            finetune_work(self.sets.yields.subset(np.asarray(yg) == g), self.sets.sites.subset(np.asarray(sg) == g),
                          self.cfg.protocol)
            for yg, sg in group_sets.values() for g in region_groups(yg, sg))
        if self._start_beside(work) is not None:
            job.evaluate = self.sets.evaluation            # predicted there, during the pretraining
            self._pending = [(job, self._pool.apply_async(no_knowledge_task, (), {**job.task,
                                                                                  "evaluate": job.evaluate}))]

    def _start_beside(self, work: float):
        """The cluster's second process when ``work`` (sample-epochs) is worth one, this process trains on one
        thread on the CPU (the same results there), and the cluster gives one; else None."""
        if self._pool is None and work >= BESIDE_MIN_WORK and self.cluster is not None \
                and self.device.type == "cpu" and torch.get_num_threads() == 1:
            self._pool = self.cluster.beside()
        return self._pool

    def _share(self, todo: list[Job]) -> None:
        """``todo`` and the pending level-1 model shared between this process and the second one."""
        beside: list[str] = []

        def done(job: Job, result) -> None:
            if job.prefix == "predict":
                self.predictions[job.key] = result
                return
            weights, decided, predicted = result[-3:]
            self._trained[job.key] = self._finish(job, weights, decided)
            if predicted is not None:
                self.predictions[job.key] = predicted
            beside.append(job.key)
            for stage in stage_names(job, self.cfg.protocol):
                report(self.progress, self.cancel, ProgressEvent(stage, 1, 1, 1, 1, {},
                                                                 f"{job.key} trained in a second process"))

        def here(job: Job) -> None:
            if job.prefix == "predict":
                self.predictions[job.key] = global_predictions(**job.task)
                return
            self._trained[job.key] = self._run_here(job)
            if job.evaluate is not None:
                self.predictions[job.key] = self._trained[job.key].predict(job.evaluate)

        def task(job: Job):
            return (global_predictions, job.task) if job.prefix == "predict" else \
                (region_task, {**job.task, "evaluate": job.evaluate})

        pending, self._pending = self._pending, []
        share(self._pool, sorted(todo, key=lambda job: -job.work), here, task, done, pending,
              (lambda: self.cancel.check()) if self.cancel is not None else None)
        if beside and self.progress is not None:
            self.progress(ProgressEvent("parallel", 0, 0, 0, 0, {}, f"trained in a second process beside this "
                                        f"one: {', '.join(describe(key) for key in sorted(beside))}", note=True))

    def pull_choices(self, prefix: str) -> dict[str, dict]:
        """Group -> the pull chosen by validation for the ``prefix`` models trained in this run."""
        return {key[len(prefix) + 1:]: d["pull"] for key, d in sorted(self.decided.items())
                if key.startswith(f"{prefix}_") and "pull" in d}

    def _must_train(self, key: str, parts: dict) -> bool:
        """Whether stage ``key`` is neither completed in this run nor in the stage store."""
        if key in self.completed:
            return False
        # the key from the model's class and config: building a model here would draw from torch's generator
        name = "gru_attention" if key == "no_knowledge" else "kgml_ag"
        model_class = MODELS[name]
        content = self._content_key(key, model_class, model_class.config_class(**_sizes(self.cfg, name)), parts)
        return content is None or not self.reuse.store.has(content)

    def _train_remote(self, prefix: str, groups: list, yield_groups: np.ndarray,
                      site_groups: np.ndarray) -> dict:
        """``groups``' models trained as Dask tasks when the cluster gives a client ({} otherwise):
        stage key -> (weights, what the training decided)."""
        client = self.cluster.client(len(groups)) if self.cluster is not None and groups else None
        if client is None:
            return {}
        from kgml_core.distributed import train_region_models
        report(self.progress, self.cancel, ProgressEvent(
            prefix, 1, 1, 0, 1, {}, f"{len(groups)} {prefix} models training as Dask tasks ({self.cluster.used})"))
        info: dict = {}
        weights = train_region_models(self.weights["global"], self.norm, self.sets.yields, self.sets.sites,
                                      yield_groups, site_groups, self.cfg.protocol, client, "kgml_ag",
                                      _sizes(self.cfg), self.cfg.seed, groups=groups, prefix=prefix,
                                      device=self.device.type, info=info)
        return {f"{prefix}_{group}": (w, info.get(group, {})) for group, w in weights.items()}

    def _no_knowledge_job(self) -> Job:
        parts = {"data": [self._digest("yields"), self._digest("sites")], "steps": [asdict(self.cfg.no_knowledge)]}
        nk = self.cfg.no_knowledge
        task = dict(model_config=_sizes(self.cfg, "gru_attention"), norm=self.norm, yields=self.sets.yields,
                    sites=self.sets.sites, cfg=nk, seed=self.cfg.seed)
        return Job("no_knowledge", nk.epochs * (len(self.sets.yields) + len(self.sets.sites)), parts, task,
                   "no_knowledge", "")

    def train_no_knowledge(self) -> KGMLTrainer:
        """Level 1, from scratch on the observations (collected when it trained in the second process)."""
        if self._pending:
            self._share([])
        if "no_knowledge" in self._trained:
            return self._trained.pop("no_knowledge")
        return self._run_here(self._no_knowledge_job())


def state_thetas(data: ExperimentData, norm: Normalizer) -> dict[str, np.ndarray]:
    """State -> its mean true parameters in prior standard units.

    The global model's networks with these as ``theta`` (:func:`~.tasks.theta_trainers`)
    are state-specific models whose parameter estimate is perfect: their gain over
    the global model is what the estimate can achieve with this emulator.
    """
    truth = data.truth
    means = true_means(truth, pd.Series(truth["state"].values.astype(str), index=truth["unit"].values.astype(str)))
    return {state: norm.scale_params(np.array([[params[k] for k in PARAM_NAMES]]))[0]
            for state, params in means.items()}


def _global_predictions_job(cfg: StateVsGlobalConfig, models, data: ExperimentData, harness: Harness) -> Job:
    """The global model's predictions of the evaluation samples (global, emulator oracles) as a shareable job."""
    emulator = cfg.pretrain_world == "ensemble"
    ev = harness.sets.evaluation
    task = dict(model_config=_sizes(cfg), weights=harness.weights["global"], norm=harness.norm, evaluate=ev,
                oracle=emulator and "emulator_oracle" in models,
                state_thetas=state_thetas(data, harness.norm) if emulator and "emulator_state" in models else None,
                device=harness.device.type)
    passes = 1 + task["oracle"] + (task["state_thetas"] is not None)
    return Job("predict_global", predict_work(ev, passes), {}, task, "predict", "")


def _regions(data: ExperimentData, cfg: StateVsGlobalConfig):
    return detect_regions(data.truth, method=cfg.region_method, n_regions=cfg.n_regions, seed=cfg.seed)


def fit_ladder(cfg: StateVsGlobalConfig, data: ExperimentData, progress=None, cancel=None,
               pretrained: dict | None = None, models=MODEL_NAMES,
               checkpoint: Callable[[str, dict], None] | None = None,
               completed: dict[str, dict] | None = None,
               reuse: StageReuse | None = None, cluster=None,
               sets: TrainingSets | None = None) -> tuple[xr.Dataset, Harness, object]:
    """Train the requested models of the ladder on ``data`` and return their predictions.

    ``pretrained`` (steps 1-2 weights) is reused when given, since the process
    world does not depend on the observed world's heterogeneity.
    ``checkpoint(key, weights)`` is called after each trained stage;
    ``completed`` maps stage keys to weights that are loaded instead of trained
    (see :class:`Harness`); ``reuse`` looks stages up in the stage store;
    ``cluster`` runs the independent stages (level-1, per-state and per-region models) as Dask tasks
    or in a second process (see :class:`Harness`); ``sets``: the training sets of ``data`` when built
    before (:func:`~.data.without_pretraining_world`), else built here.
    """
    cfg = replace(cfg, protocol=cfg.training_protocol())     # the ablations, once, for every stage below
    sets = sets if sets is not None else training_sets(cfg, data)
    norm = Normalizer.fit(sets.process)
    harness = Harness(cfg, sets, norm, progress, cancel, checkpoint, completed, reuse, cluster)
    regions = _regions(data, cfg)
    label = regions.labels.astype(str)
    group_sets = {}
    if "state_specific" in models:
        group_sets["state"] = (sets.yields.state, sets.sites.state)
    if "auto_region" in models:
        group_sets["region"] = (label.reindex(sets.yields.county).values, label.reindex(sets.sites.county).values)
    harness.start_beside("no_knowledge" in models, group_sets)
    pretrained = pretrained if pretrained is not None else harness.pretrain_global()
    harness.weights["pretrained"] = pretrained
    glob = harness.train_global(pretrained)
    harness.group_models["global"] = {"all": glob.model}
    ev = sets.evaluation
    on_global = _global_predictions_job(cfg, models, data, harness)
    ev_groups = {"state": ev.state, "region": label.reindex(ev.county).values}
    # independent of each other and of the level-1 model; with the second process each predicts where it trains
    by_group = harness.train_group_sets(group_sets, {k: ev_groups[k] for k in group_sets}, (on_global,))
    from_global = harness.predictions.pop(on_global.key, None) or global_predictions(**on_global.task)
    preds: dict[str, dict[str, np.ndarray]] = {}
    years = data.train_years + data.test_years
    if "process_model" in models:
        preds["process_model"] = _world_predictions(data.process, years)
    oracle_choice = None
    if "oracle_global" in models:
        oracle_choice, preds["oracle_global"] = best_single_parameter_set(data, years)
    if "oracle_state" in models:
        preds["oracle_state"] = _world_predictions(data.oracles["state_mean"], years)
    if "oracle_towers" in models and "towers_mean" in data.oracles:
        preds["oracle_towers"] = _world_predictions(data.oracles["towers_mean"], years)
    # the emulator given each county's (each state's mean) true parameters: its own error, without estimation
    for name in ("emulator_oracle", "emulator_state"):
        if name in from_global:
            preds[name] = from_global[name]
    if "no_knowledge" in models:
        level1 = harness.train_no_knowledge()
        preds["no_knowledge"] = harness.predictions.pop("no_knowledge", None) or level1.predict(ev)
    preds["global"] = from_global["global"]
    for name, prefix in (("state_specific", "state"), ("auto_region", "region")):
        if name in models:
            known = {job[len(prefix) + 1:]: p for job, p in harness.predictions.items() if job.startswith(f"{prefix}_")}
            preds[name] = predict_grouped(by_group[prefix], ev, ev_groups[prefix], glob, known)
            harness.group_models[prefix] = {k: t.model for k, t in by_group[prefix].items()}
    report(progress, cancel, ProgressEvent("evaluate", 1, 1, 1, 1, {}, "scoring"))
    ds = predictions_dataset(preds, ev, data, regions.labels)
    ds.attrs["oracle_global_choice"] = oracle_choice or ""
    return ds, harness, regions


def _world_predictions(world: xr.Dataset, years) -> dict[str, np.ndarray]:
    """A simulated world's fluxes and yields as sample-major predictions (the process-model rungs)."""
    s = make_samples(world, years)
    return {**{k: s.daily[k] for k in FLUXES}, "YIELD": s.yield_}


def best_single_parameter_set(data: ExperimentData, years) -> tuple[str, dict[str, np.ndarray]]:
    """The oracle of one parameter set for the whole domain: the better (Rh RMSE on the
    training counties and years) of the defaults and the domain mean of the true parameters.

    Returns the name of the choice ("default" or "domain_mean") and its predictions.
    """
    train_units = data.split.index[data.split == "train"].to_numpy()
    truth = data.truth["RH"].sel(unit=train_units, time=data.truth["time.year"].isin(data.train_years)).values
    candidates = {"default": data.process, "domain_mean": data.oracles["domain_mean"]}
    rmse = {name: float(np.sqrt(np.nanmean((w["RH"].sel(unit=train_units, time=w["time.year"].isin(
        data.train_years)).values - truth) ** 2))) for name, w in candidates.items()}
    best = min(rmse, key=rmse.get)
    return best, _world_predictions(candidates[best], years)


def pretraining_summary(cfg: StateVsGlobalConfig, data: ExperimentData, harness: Harness,
                        n_check: int = 256) -> dict:
    """The pretraining domain and how well the emulator fits it.

    Returns ``{"world", "states", "counties", "parameter_draws", "years", "samples", "rh_rmse_own_samples"}``:
    ``states`` None when the modelled states' training counties were used;
    ``parameter_draws`` the distinct units (a county's copies, ``pretrain_replicas``, each draw their own);
    ``rh_rmse_own_samples`` the Rh RMSE (g C m-2 d-1) of the global model given
    each sample's own parameters on ``n_check`` of its pretraining samples (a
    parameter-conditioned emulator only; None otherwise): the underfitting
    check (compare the held-out ``emulator_oracle`` scores).
    """
    process = harness.sets.process
    from kgml_core.simulator.world import replica_base

    out = {"world": cfg.pretrain_world, "states": list(cfg.pretrain_states) if cfg.pretrain_states else None,
           "counties": int(len(np.unique(replica_base(process.unit)))),
           "parameter_draws": int(len(np.unique(process.unit))), "years": list(cfg.pretraining_years()),
           "samples": int(len(process)), "rh_rmse_own_samples": None}
    model = harness.group_models.get("global", {}).get("all")
    if model is not None and cfg.pretrain_world == "ensemble" and len(process):
        g = np.random.default_rng(cfg.seed + 7)
        check = process.subset(np.sort(g.choice(len(process), size=min(n_check, len(process)), replace=False)))
        pred = harness.trainer(model).predict(check, sample_params=True)["RH"]
        truth = check.daily["RH"]
        ok = np.isfinite(truth)
        out["rh_rmse_own_samples"] = float(np.sqrt(np.mean((pred[ok] - truth[ok]) ** 2)))
    return out
