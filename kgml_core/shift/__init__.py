"""Distribution-shift diagnostics: how groups of units (states, regions, sites) differ.

Start with :func:`diagnose`, which returns a :class:`ShiftReport` of tidy tables;
the pieces are public too: :func:`unit_features`, :func:`covariate_shift`,
:func:`mmd_test`, :class:`DomainClassifier`, :func:`concept_shift`,
:func:`distance_to_training`, :func:`error_correlation`, :func:`embed_units`.
"""
from kgml_core.shift.concept import concept_shift, curve_difference_test
from kgml_core.shift.covariate import (DomainClassifier, covariate_shift, mmd_test,
                                       per_variable_shift, population_stability_index,
                                       variable_shift)
from kgml_core.shift.embedding import embed_units
from kgml_core.shift.features import standardize_features, unit_features
from kgml_core.shift.matrix import (distance_to_training, error_correlation, pairwise_shift,
                                    shift_matrix)
from kgml_core.shift.report import ShiftReport, diagnose

__all__ = [
    "DomainClassifier", "ShiftReport", "concept_shift", "covariate_shift", "curve_difference_test",
    "diagnose", "distance_to_training", "embed_units", "error_correlation", "mmd_test",
    "pairwise_shift", "per_variable_shift", "population_stability_index", "shift_matrix",
    "standardize_features", "unit_features", "variable_shift",
]
