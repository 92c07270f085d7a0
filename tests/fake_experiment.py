"""Register a fake experiment in the job queue's registry, for tests of the queue and the Train page."""
from __future__ import annotations

import sys
import types
from typing import Callable

from kgml_core import jobs


def register_fake_experiment(monkeypatch, kind: str, run: Callable, config_class: type) -> None:
    """Make ``kind`` an experiment whose presets build ``config_class(**overrides)`` and which runs ``run``."""
    module = types.ModuleType(f"fake_{kind}")
    module.preset = lambda name, **overrides: config_class(**overrides)
    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(jobs.EXPERIMENTS, kind, (module.__name__, "run"))
