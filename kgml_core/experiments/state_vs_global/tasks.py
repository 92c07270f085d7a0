"""Independent parts of the ladder that run in any process: stages and predictions for the second process.

:class:`~kgml_core.experiments.state_vs_global.training.Harness` shares these with the
second process beside the run (``distributed.share``): the level-1 model during the
pretraining, then the per-state and per-region estimates, each with its own
predictions of the evaluation samples, and the global model's predictions. Each
function seeds what it trains itself and predicts in eval mode (no random numbers),
so the weights and predictions are those of the same work in the run's own process,
bit for bit (one torch thread each).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from kgml_core.distributed.chunked import train_region_task
from kgml_core.experiments.state_vs_global.config import FLUXES
from kgml_core.models import build_model
from kgml_core.training.data import DAYS, Normalizer, Samples
from kgml_core.training.protocol import train_no_knowledge
from kgml_core.training.trainer import KGMLTrainer

# below this much work (sample-epochs) of independent stages, a second process (torch's import: about 2 s of
# CPU, and its first stage waits for it) gains nothing
BESIDE_MIN_WORK = 1000.0


@dataclass
class Job:
    """An independent part: its key, work (sample-epochs, for scheduling), what keys its reuse, and the
    keyword arguments of the function that runs it in another process (:func:`no_knowledge_task`,
    :func:`region_task`, :func:`global_predictions`); ``evaluate``: the evaluation samples the trained
    model predicts where it trained (None: predicted later, in the run's process)."""

    key: str
    work: float
    parts: dict
    task: dict
    prefix: str
    group: str
    evaluate: Samples | None = None


def predict_work(samples: Samples, passes: int = 1) -> float:
    """Work of ``passes`` predictions of ``samples`` in sample-epochs (a forward is about a third of one)."""
    return passes * len(samples) / 3.0


def no_knowledge_task(model_config: dict, norm: Normalizer, yields: Samples, sites: Samples, cfg,
                      seed: int, evaluate: Samples | None = None) -> tuple:
    """The level-1 model trained in any process: the weights of :meth:`Harness.train_no_knowledge` for the same
    seed (CPU, one thread). Returns (CPU state dict, {}, its predictions of ``evaluate`` or None)."""
    torch.manual_seed(seed)
    model = build_model("gru_attention", model_config)
    trainer = KGMLTrainer(model, norm, torch.device("cpu"), seed=seed)
    train_no_knowledge(trainer, yields, sites, cfg)
    return trainer.state_dict(), {}, None if evaluate is None else trainer.predict(evaluate)


def region_task(evaluate: Samples | None = None, **task) -> tuple:
    """:func:`~kgml_core.distributed.chunked.train_region_task` (``task``: its arguments), then the trained
    model's predictions of ``evaluate``. Returns (group, CPU state dict, what it decided, predictions or None)."""
    group, weights, decided = train_region_task(**task)
    if evaluate is None:
        return group, weights, decided, None
    model = build_model(task["model_name"], task["model_config"])
    model.load_state_dict(weights)
    trainer = KGMLTrainer(model, task["norm"], torch.device(task.get("device") or "cpu"), seed=task["seed"])
    return group, weights, decided, trainer.predict(evaluate)


def global_predictions(model_config: dict, weights: dict, norm: Normalizer, evaluate: Samples,
                       oracle: bool = False, state_thetas: dict[str, np.ndarray] | None = None,
                       device: str = "cpu") -> dict[str, dict[str, np.ndarray]]:
    """The global model's predictions of ``evaluate``: ``global``; with ``oracle`` ``emulator_oracle`` (each
    sample's own true parameters); with ``state_thetas`` (state -> ``theta``, prior standard units)
    ``emulator_state`` (each state's mean true parameters, :func:`theta_trainers`)."""
    model = build_model("kgml_ag", model_config)
    model.load_state_dict(weights)
    glob = KGMLTrainer(model, norm, torch.device(device), seed=0)
    out = {"global": glob.predict(evaluate)}
    if oracle:
        out["emulator_oracle"] = glob.predict(evaluate, sample_params=True)
    if state_thetas is not None:
        out["emulator_state"] = predict_grouped(theta_trainers(glob, state_thetas), evaluate, evaluate.state, glob)
    return out


def theta_trainers(glob: KGMLTrainer, thetas: dict[str, np.ndarray]) -> dict[str, KGMLTrainer]:
    """Group -> the global model's networks with ``theta`` set to the group's vector (prior standard units)."""
    out = {}
    for group, z in thetas.items():
        model = copy.deepcopy(glob.model)
        with torch.no_grad():
            model.theta.copy_(torch.from_numpy(np.asarray(z)))
        out[group] = KGMLTrainer(model, glob.norm, glob.device, seed=0)
    return out


def predict_grouped(trainers: dict, samples: Samples, groups: np.ndarray, fallback: KGMLTrainer,
                    known: dict[str, dict[str, np.ndarray]] | None = None) -> dict[str, np.ndarray]:
    """Predict each sample with its group's trainer (``fallback`` for groups without one); ``known``: group ->
    predictions of the group's samples already made (where its model trained)."""
    out = {k: np.full((len(samples), DAYS), np.nan, np.float32) for k in FLUXES}
    out["YIELD"] = np.full(len(samples), np.nan, np.float32)
    for group in np.unique(groups):
        mask = groups == group
        pred = (known or {}).get(group)
        if pred is None:
            pred = trainers.get(group, fallback).predict(samples.subset(mask))
        for k in out:
            out[k][mask] = pred[k]
    return out


def stage_names(job: Job, protocol) -> list[str]:
    """The progress stages a job's training would have reported (for the run's timeline)."""
    if job.prefix == "no_knowledge":
        return ["no_knowledge"]
    if job.prefix == "predict":
        return []
    return ([] if tuple(protocol.region_groups) == ("params",) else [f"{job.key}/step3"]) + [f"{job.key}/step5"]
