"""The names of the KGML-ag family's inputs, targets and parameters, in the order the networks read them.

A small module of its own so that the models (:mod:`kgml_core.models`) and the
sample builder (:mod:`kgml_core.training.data`) share one definition without
a model depending on the training package. Why these inputs (no ``YEAR``,
``PREV_GPP`` as a memory of last year's crop): :mod:`kgml_core.training.data`.
"""
from __future__ import annotations

from kgml_core.simulator.parameters import SPATIAL

DAYS = 365
DAILY_INPUTS = ("SW_IN", "TA_MAX", "TA_RANGE", "RH_MAX", "RH_RANGE", "WS", "P", "CROP", "GPP", "PREV_GPP")
SOIL_INPUTS = ("BD", "SAND", "SILT", "FC", "WP", "KSAT", "SOC", "PH", "CEC")
INPUTS = DAILY_INPUTS + SOIL_INPUTS
# SWC (%): the process model's soil water, which flux towers also record; a target only of models that predict it
DAILY_TARGETS = ("RA", "RH", "NEE", "RECO", "SWC")
# contract variables a unit needs before its inputs can be derived (TA_RANGE = TA_MAX - TA_MIN, ...)
NEEDED = ("SW_IN", "TA_MAX", "TA_MIN", "RH_MAX", "RH_MIN", "WS", "P", "GPP")
# the process model's spatial parameters, in the order of the emulator's parameter input
PARAM_NAMES = SPATIAL
