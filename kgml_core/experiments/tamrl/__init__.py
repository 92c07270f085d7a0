"""TAM-RL against FLUXCOM-style baselines on held-out flux sites, plus upscaling to counties.

``run_tamrl(config)`` (and ``python -m kgml_core experiment tamrl``):

1. builds the virtual tower network (:func:`kgml_core.simulator.load_tower_network`);
2. holds out whole sites: k folds over sites stratified by IGBP or climate
   class, or the training sites the user picked on the map;
3. per fold and seed trains the gradient-boosting baseline, a plain LSTM, a
   context LSTM (CT-LSTM) and TAM-RL (initialised from the plain LSTM);
4. scores every held-out site after its first year, against good-QC
   observations and the simulator's truth (per-site R2 and RMSE per flux;
   median and quartiles; paired bootstrap intervals of model differences; per
   vegetation type; the few-shot support-length curve);
5. on the real FLUXNET files: a temporal hold-out at US-Ne1 (trained on
   2001-2009, tested 2010-2012); zero- and few-shot (support: each tower's first
   year; US-Wi7 its first 90 days) at every tower;
6. upscales daily GPP, RECO and NEE to every county of the selected states
   with the TAM-RL seed ensemble in zero-shot mode (mean and spread).

Everything is saved in a run of the :class:`~kgml_core.runs.RunStore`:
``metrics.json``, ``predictions.nc``, ``real_predictions.nc``, ``upscaled.nc``
and the TAM-RL weights. Modules: ``config``, ``data``, ``training`` (one fold
and seed), ``virtual`` (the fold loop), ``real``, ``evaluation``, ``results``
(the typed reader pages use), ``experiment`` (the registered :class:`Tamrl`).
"""
from kgml_core.experiments.tamrl.config import MODEL_NAMES, REAL_DRIVERS, TamrlConfig, preset
from kgml_core.experiments.tamrl.data import load_real_sites, tower_network
from kgml_core.experiments.tamrl.evaluation import (paired_differences, per_site_scores, per_vegetation, score_mask,
                                                    scored_days, strata_labels, summarise, support_curve)
from kgml_core.experiments.tamrl.experiment import MODEL_HELP, Tamrl, run_tamrl
from kgml_core.experiments.tamrl.real import real_experiment
from kgml_core.experiments.tamrl.results import TamrlResults, load_upscaled
from kgml_core.experiments.tamrl.training import FoldResult, site_splits, train_and_predict
from kgml_core.experiments.tamrl.virtual import virtual_experiment
from kgml_core.tamrl.sites import TARGETS

__all__ = ["MODEL_HELP", "MODEL_NAMES", "REAL_DRIVERS", "TARGETS", "FoldResult", "Tamrl", "TamrlConfig",
           "TamrlResults", "load_real_sites", "load_upscaled", "per_site_scores", "preset", "real_experiment",
           "run_tamrl", "score_mask", "scored_days", "strata_labels", "paired_differences",
           "per_vegetation", "support_curve", "site_splits", "summarise", "tower_network", "train_and_predict",
           "virtual_experiment"]
