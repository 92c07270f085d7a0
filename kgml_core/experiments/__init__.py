"""Experiments: one extension point, one registry.

Each experiment is a package under :mod:`kgml_core.experiments` (config and
presets, data, training, evaluation, a typed results reader, and a subclass of
:class:`~kgml_core.experiments.base.Experiment`) plus one line in
:data:`EXPERIMENTS`. The job queue, the ``experiment`` command and the Train
page all read this registry; see ``template/`` for a new one.
"""
from __future__ import annotations

from kgml_core.experiments.base import Experiment, Option, Setting
from kgml_core.experiments.real_yields.experiment import RealYields
from kgml_core.experiments.state_vs_global.experiment import StateVsGlobal
from kgml_core.experiments.tamrl.experiment import Tamrl

# kind -> experiment; adding an experiment is one line here
EXPERIMENTS: dict[str, Experiment] = {e.kind: e for e in (StateVsGlobal(), Tamrl(), RealYields())}


def data_source(kind: str) -> str:
    """What runs of ``kind`` ran on: "real data" or "simulated world" ("unknown" for an unregistered kind)."""
    return EXPERIMENTS[kind].data_source if kind in EXPERIMENTS else "unknown"


def get(kind: str) -> Experiment:
    """The registered experiment ``kind`` (ValueError naming the known ones)."""
    if kind not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {kind!r}: expected one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[kind]


def by_cli_name(name: str) -> Experiment:
    """The experiment called ``name`` on the command line (its kind works too)."""
    for experiment in EXPERIMENTS.values():
        if name in (experiment.cli_name, experiment.kind):
            return experiment
    raise ValueError(f"unknown experiment {name!r}: expected one of "
                     f"{sorted(e.cli_name for e in EXPERIMENTS.values())}")


__all__ = ["EXPERIMENTS", "Experiment", "Option", "Setting", "by_cli_name", "data_source", "get"]
