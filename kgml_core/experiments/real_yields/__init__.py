"""Global against regional KGML-ag on real county yields: the state-vs-global question asked of real data.

The process model runs on the counties' real daily weather (:mod:`kgml_core.simulator.real`);
KGML-ag is pretrained on that process world, its yield head fine-tuned on real NASS county
yields, then fine-tuned again per region of the Auto Region Detector. Everything is scored on
held-out real county-years (held-out counties and a held-out last year) against NASS, beside two
simple baselines: each county's mean yield, and a linear model of growing-season weather.

Modules: ``config`` (settings, presets), ``data`` (real weather, yields, soils; the real-data
world; the split), ``evaluation`` (baselines, scores, bootstrap), ``results`` (the typed reader),
``experiment`` (the registered :class:`RealYields`).
"""
from kgml_core.experiments.real_yields.config import KIND, MODEL_NAMES, RealYieldsConfig
from kgml_core.experiments.real_yields.experiment import RealYields
from kgml_core.experiments.real_yields.results import RealYieldsResults

__all__ = ["KIND", "MODEL_NAMES", "RealYields", "RealYieldsConfig", "RealYieldsResults"]
