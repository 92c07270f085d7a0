"""``experiment``: run one of the registered experiments (``experiment NAME --help``).

Each experiment is a module under :mod:`kgml_core.experiments` exposing
``register(subparsers)``; adding one is a module and a line in :data:`EXPERIMENTS`.
"""
from __future__ import annotations

import importlib

EXPERIMENTS: list[str] = [
    "kgml_core.experiments.state_vs_global",
    "kgml_core.experiments.tamrl",
]


def register(sub) -> None:
    p = sub.add_parser("experiment", help="run a registered experiment and write DIR/metrics.json")
    exp_sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    for module in EXPERIMENTS:
        importlib.import_module(module).register(exp_sub)
    p.set_defaults(func=lambda args: p.print_help() or 0)
