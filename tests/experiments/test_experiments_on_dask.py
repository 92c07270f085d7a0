"""Experiments on a Dask cluster (local worker processes) give the results of the sequential path, same seed."""
import pytest
import torch

from kgml_core import distributed as D
from kgml_core.experiments.state_vs_global import preset, run_state_vs_global
from kgml_core.runs import RunStore

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def client():
    """A local cluster of two single-threaded worker processes (its address is used like a remote one's)."""
    with D.dask_client(n_workers=2, processes=True) as c:
        yield c


@pytest.fixture(scope="module")
def address(client):
    return client.scheduler.address


def _close(a, b, rel=1e-5):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _close(a[k], b[k], rel)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y, rel)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=rel, abs=1e-9, nan_ok=True)
    else:
        assert a == b


def test_state_vs_global_region_models_on_dask(address, tmp_path):
    cfg = preset("tiny", states=("IL",), models=("state_specific",), threads=1)
    store = RunStore(tmp_path)
    local = run_state_vs_global(cfg.with_settings({"scheduler": "sequential"}), store)
    events = []
    remote = run_state_vs_global(cfg.with_settings({"scheduler": address}), store, progress=events.append)
    assert local.metrics()["parallel"] == "sequential" and remote.metrics()["parallel"] == address
    assert any("Dask tasks" in e.message for e in events)
    for key in ("state_IL", "global"):
        torch.testing.assert_close(remote.load_weights(key), local.load_weights(key), rtol=1e-5, atol=1e-6)
    _close(remote.metrics()["states"], local.metrics()["states"])


def test_tamrl_folds_and_seeds_on_dask(client):
    from kgml_core.experiments.tamrl.config import TamrlConfig
    from kgml_core.experiments.tamrl.data import tower_network
    from kgml_core.experiments.tamrl.virtual import virtual_experiment
    cfg = TamrlConfig.from_preset("tiny", seeds=(0, 1), threads=1)
    network = tower_network(cfg)
    local, _, _ = virtual_experiment(network, cfg)
    remote, _, _ = virtual_experiment(network, cfg, client=client)
    _close(remote["models"], local["models"])
    _close(remote["median_rmse_by_seed"], local["median_rmse_by_seed"])


def test_scheduler_setting_is_checked():
    with pytest.raises(ValueError, match="scheduler"):
        preset("tiny", scheduler="my laptop")
    assert preset("tiny", scheduler="tcp://10.0.0.1:8786").scheduler == "tcp://10.0.0.1:8786"
    cluster = D.ExperimentCluster("sequential")
    assert cluster.client(8) is None and cluster.used == "sequential"
