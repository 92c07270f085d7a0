"""Experiment parts on a Dask cluster give the in-process results for the same seed.

One worker thread (cheap to start on a busy machine): each task seeds torch itself, and the
test's own thread waits while the task runs, so the shared random generator is not raced.
"""
import dataclasses

import pytest
import torch

from kgml_core import distributed as D
from kgml_core.experiments.state_vs_global import preset
from kgml_core.experiments.state_vs_global.data import TrainingSets
from kgml_core.experiments.state_vs_global.training import Harness, _kgml
from kgml_core.training.data import Normalizer, make_samples
from tests.training.conftest import fake_world

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def address():
    """A local cluster of one worker thread, used through its address like a remote one."""
    with D.dask_client(n_workers=1, processes=False) as client:
        yield client.scheduler.address


def _state_models(cfg, cluster):
    s = make_samples(fake_world(n_units=4, years=(2001, 2002)))
    harness = Harness(cfg, TrainingSets(s, s, s, s), Normalizer.fit(s), None, None, cluster=cluster)
    torch.manual_seed(3)
    harness.weights["global"] = _kgml(cfg).state_dict()
    trainers = harness.train_groups("state", s.state, s.state)
    return {g: t.state_dict() for g, t in trainers.items()}, harness


def test_state_models_as_dask_tasks_equal_in_process(address):
    cfg = preset("tiny", threads=1)
    # two units per state: the pull is chosen by validation; without the global candidate a state must train
    cfg.protocol.region5 = dataclasses.replace(cfg.protocol.region5, l2sp_grid_global=False)
    local, _ = _state_models(cfg, None)
    with D.ExperimentCluster(address) as cluster:
        remote, harness = _state_models(cfg, cluster)
        assert cluster.used == address
    assert sorted(remote) == sorted(local) == ["IA", "IL"]
    for group in local:
        torch.testing.assert_close(remote[group], local[group], rtol=1e-5, atol=1e-6)
        anchor = harness.weights["global"]
        assert any(not torch.equal(remote[group][k], anchor[k]) for k in anchor)      # it did train


def test_tamrl_folds_and_seeds_as_dask_tasks_equal_in_process(address):
    from kgml_core.experiments.tamrl.config import TamrlConfig
    from kgml_core.experiments.tamrl.data import tower_network
    from kgml_core.experiments.tamrl.evaluation import strata_labels
    from kgml_core.experiments.tamrl.training import site_splits
    from kgml_core.experiments.tamrl.virtual import fold_results
    from kgml_core.tamrl.sites import site_arrays
    cfg = TamrlConfig.from_preset("tiny", seeds=(0,), threads=1)
    a, vocab = site_arrays(tower_network(cfg), cfg.drivers, cfg.statics, memory=cfg.memory_days)
    splits = site_splits(a.units, strata_labels(a, cfg.stratify), cfg)
    local = fold_results(a, vocab, splits, cfg)
    with D.ExperimentCluster(address) as cluster:
        remote = fold_results(a, vocab, splits, cfg, client=cluster.client(1))
    assert sorted(remote) == sorted(local) == [(0, 0)]
    for job in local:
        for model, pred in local[job].predictions.items():
            assert remote[job].predictions[model] == pytest.approx(pred, rel=1e-4, abs=1e-5), (job, model)


def test_scheduler_setting_is_checked(monkeypatch):
    with pytest.raises(ValueError, match="scheduler"):
        preset("tiny", scheduler="my laptop")
    assert preset("tiny", scheduler="tcp://10.0.0.1:8786").scheduler == "tcp://10.0.0.1:8786"
    cluster = D.ExperimentCluster("sequential")
    assert cluster.client(8) is None and cluster.used == "sequential"
    monkeypatch.delenv("KGML_DASK_SCHEDULER", raising=False)
    monkeypatch.setattr(D.cluster, "free_cores", lambda: 0.5)  # a busy machine: auto stays in process
    assert D.ExperimentCluster("auto").client(8) is None
