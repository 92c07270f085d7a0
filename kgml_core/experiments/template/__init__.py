"""Template of a new experiment: copy this package, rename, register one line.

This one is small but real: it scores the process model with default
parameters against the simulated truth, per state and flux (the first rung of
the state-vs-global ladder, alone). To add an experiment:

1. copy ``kgml_core/experiments/template/`` to ``kgml_core/experiments/NAME/``;
2. ``config.py``: the settings as a dataclass deriving from
   :class:`~kgml_core.config.ExperimentConfig` (defaults = the ``quick``
   preset; ``PRESETS`` holds at least ``tiny`` for tests), plus ``check()``;
3. ``experiment.py``: a subclass of :class:`~kgml_core.experiments.base.Experiment`
   with its kind, titles, help, settings for the Train page and ``run()``,
   which computes into the open run (``run.save_dataset``, ``run.save_weights``...)
   and returns the metrics dict (with a ``headline``);
4. ``results.py``: a :class:`~kgml_core.experiments.base.Results` reader the
   pages use instead of digging in the metrics;
5. add one line to :data:`kgml_core.experiments.EXPERIMENTS`; the job queue,
   ``python -m kgml_core experiment NAME`` and the Train page pick it up.

``tests/experiments/test_registry.py`` registers this template and runs it
from the command line and the job queue.
"""
from kgml_core.experiments.template.config import TemplateConfig
from kgml_core.experiments.template.experiment import ProcessBaseline
from kgml_core.experiments.template.results import ProcessBaselineResults

__all__ = ["ProcessBaseline", "ProcessBaselineResults", "TemplateConfig"]
