"""A fold's baselines trained in a second process give the predictions of the in-process run."""
from dataclasses import replace

import numpy as np

from kgml_core.experiments.tamrl import preset
from kgml_core.experiments.tamrl import training as T
from kgml_core.experiments.tamrl.data import tower_network
from kgml_core.experiments.tamrl.evaluation import strata_labels
from kgml_core.tamrl.sites import site_arrays


def test_baselines_beside_the_lstm_chain_give_the_same_predictions(monkeypatch):
    cfg = preset("tiny", threads=1)
    a, vocab = site_arrays(tower_network(cfg), cfg.drivers, cfg.statics, memory=cfg.memory_days)
    _, train_idx, test_idx = T.site_splits(a.units, strata_labels(a, cfg.stratify), cfg)[0]
    pools = []
    original = T._second_process
    monkeypatch.setattr(T, "_second_process", lambda c: pools.append(original(c)) or pools[-1])
    alone = T.train_and_predict(a, vocab, train_idx, test_idx, cfg, 0, "fold0")
    beside = T.train_and_predict(a, vocab, train_idx, test_idx, replace(cfg, threads=2), 0, "fold0")
    assert pools[0] is None and pools[1] is not None          # in process, then with a second process
    assert list(alone.predictions) == list(beside.predictions)
    for name, values in alone.predictions.items():
        np.testing.assert_allclose(beside.predictions[name], values, rtol=1e-5, atol=1e-5, err_msg=name)


def test_no_second_process_when_sequential_or_one_thread():
    assert T._second_process(preset("tiny", threads=1)) is None
    assert T._second_process(preset("tiny", threads=2, scheduler="sequential")) is None
