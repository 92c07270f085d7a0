"""State-specific against global KGML: the experiment of the SDSA-KGML article.

The comparison ladder, trained and scored in one harness on a simulated
three-state world (the "observed" world has location-dependent parameters;
the "process" world is the process model with default parameters):

* ``process_model``: the process model with default parameters (no learning);
* ``no_knowledge`` (level 1): a GRU with attention trained on the sparse
  observations only (county yields, flux sites), no knowledge guidance;
* ``global`` (level 2): KGML-ag trained end to end with the 5-step protocol;
* ``state_specific`` (level 3): SDSA-KGML, the global model fine-tuned per
  state (steps 3 and 5 on the state's data, L2-SP toward the global weights);
* ``auto_region`` (level 3): the same per region of the Auto Region Detector.

Scores are computed on held-out counties (all years) and on held-out years
(all counties) of the observed world's noise-free truth, per state and per
flux, with paired bootstrap intervals for each RMSE difference against the
global model. :func:`heterogeneity_sweep` repeats the global against
state-specific comparison for several heterogeneity settings.

Modules: ``config`` (settings, presets), ``data`` (worlds, split, training
sets), ``training`` (the stage harness, the ladder), ``evaluation`` (scores),
``results`` (the typed reader pages use), ``experiment`` (the registered
:class:`StateVsGlobal`).
"""
from kgml_core.experiments.state_vs_global.config import (FLUXES, KIND, MODEL_NAMES, TARGETS,
                                                          StateVsGlobalConfig, preset)
from kgml_core.experiments.state_vs_global.experiment import (MODEL_HELP, StateVsGlobal, heterogeneity_sweep,
                                                              run_state_vs_global)
from kgml_core.experiments.state_vs_global.results import StateVsGlobalResults, metrics_table

__all__ = ["FLUXES", "KIND", "MODEL_HELP", "MODEL_NAMES", "TARGETS", "StateVsGlobal", "StateVsGlobalConfig",
           "StateVsGlobalResults", "heterogeneity_sweep", "metrics_table", "preset", "run_state_vs_global"]
