"""Register a fake experiment in the experiments registry, for tests of the queue and the Train page."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from kgml_core import experiments
from kgml_core.config import ExperimentConfig
from kgml_core.experiments.base import Experiment


@dataclass
class FakeConfig(ExperimentConfig):
    """Settings of the fake experiments: steps to report, whether to fail, seconds per step."""

    steps: int = 3
    fail: bool = False
    delay: float = 0.01
    preset: str = "quick"


FakeConfig.PRESETS = {"quick": {}, "tiny": {"steps": 1}}


def register_fake_experiment(monkeypatch, kind: str, run: Callable, resumable: bool = False) -> Experiment:
    """Make ``kind`` an experiment of :class:`FakeConfig` that computes with ``run(config, run, progress, cancel)``."""
    experiment = type(f"Fake_{kind}", (Experiment,), {
        "kind": kind, "title": f"fake experiment {kind}", "cli_name": kind.replace("_", "-"),
        "config_class": FakeConfig, "resumable": resumable,
        "run": lambda self, config, run_, progress, cancel: run(config, run_, progress, cancel)})()
    monkeypatch.setitem(experiments.EXPERIMENTS, kind, experiment)
    return experiment
