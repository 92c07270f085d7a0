"""The TAM-RL family in one home: flux sites as learning tasks, their windows, training, prediction, upscaling.

* :mod:`~kgml_core.tamrl.sites`: a site dataset as dense arrays (:class:`~kgml_core.tamrl.sites.SiteArrays`),
  day-of-year features, site folds, class weights, tabular features for the baselines;
* :mod:`~kgml_core.tamrl.windows`: scaling, (unit, start day) windows and support sets;
* :mod:`~kgml_core.tamrl.training`: the trainer of the LSTM, CT-LSTM and TAM-RL models, built
  through the model registry (:func:`kgml_core.models.build_model`);
* :mod:`~kgml_core.tamrl.predict`: daily series for whole sites, few-shot embeddings;
* :mod:`~kgml_core.tamrl.upscale`: a seed ensemble applied to counties.

The models themselves live in :mod:`kgml_core.models` (``lstm``, ``ct_lstm``, ``tamrl``) and the
experiment in :mod:`kgml_core.experiments.tamrl`.
"""
