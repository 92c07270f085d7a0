"""Dask helpers: chunked runs give the same results as the core run in one piece."""
import numpy as np
import pytest
import torch
import xarray as xr

from kgml_core import distributed as D
from kgml_core.inference import predict_counties
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig
from kgml_core.training.data import Normalizer, make_samples
from tests.training.conftest import fake_world


@pytest.fixture(scope="module")
def client():
    torch.set_num_threads(1)
    c = D.get_client(n_workers=2, processes=False)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def _square(x, power=2):
    return x ** power


def test_unit_chunks_cover_all_units():
    chunks = D.unit_chunks(10, 4)
    assert [(s.start, s.stop) for s in chunks] == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(ValueError, match="chunk_size"):
        D.unit_chunks(10, 0)


def test_map_tasks_keeps_order(client):
    assert D.map_tasks(_square, range(5), client, power=3) == [0, 1, 8, 27, 64]


def test_existing_scheduler_from_environment(client, monkeypatch):
    monkeypatch.setenv("KGML_DASK_SCHEDULER", client.scheduler.address)
    other = D.get_client()
    try:
        assert other.scheduler.address == client.scheduler.address
        assert other.cluster is None          # connected, not a new local cluster
    finally:
        other.close()


def test_chunked_inference_equals_whole(client):
    torch.manual_seed(0)
    ds = fake_world(n_units=7, years=(2001, 2001))
    norm = Normalizer.fit(make_samples(ds))
    model = KGMLAg(KGMLAgConfig(hidden=8, flux_hidden=4, head_hidden=4)).eval()
    whole = predict_counties(model, ds, norm, threads=1)
    parts = D.predict_counties_chunked(model, ds, norm, client, chunk_size=3)
    lazy = D.predict_counties_chunked(model, D.chunk_units(ds, 4), norm, client)
    for got in (parts, lazy):
        assert list(got["unit"].values) == list(ds["unit"].values)
        for k in ("NEE", "RECO", "YIELD"):
            np.testing.assert_allclose(got[k].values, whole[k].values, rtol=1e-5, atol=1e-5)


def test_chunked_simulation_equals_whole(client):
    from kgml_core import geo
    from kgml_core.simulator import WorldConfig, simulate_world
    fips = tuple(geo.load_counties(["IL"]).index[:3])
    cfg = WorldConfig(counties=fips, years=(2001, 2001))
    whole = simulate_world(cfg)
    parts = D.simulate_world_chunked(cfg, client, chunk_size=2)
    assert list(parts["unit"].values) == list(fips)
    for k in ("GPP", "NEE", "TA", "YIELD", "SOC", "PARAM_LUE"):
        np.testing.assert_allclose(parts[k].values, whole[k].values, rtol=1e-5, atol=1e-5)  # float32 sums


def test_chunked_shift_features_equal_whole(client):
    from kgml_core.shift import unit_features
    ds = fake_world(n_units=6, years=(2001, 2001))
    for standardize in (False, True):
        got = D.unit_features_chunked(ds, client, chunk_size=4, standardize=standardize)
        ref = unit_features(ds, standardize=standardize)
        np.testing.assert_allclose(got.loc[ref.index, ref.columns].values, ref.values, rtol=1e-6, atol=1e-9)


def test_region_models_as_tasks_match_sequential():
    # one worker: threads of one process share torch's global RNG (dropout), worker processes do not
    from kgml_core.training.protocol import ProtocolConfig, finetune_region
    from kgml_core.training.trainer import KGMLTrainer, StepConfig
    ds = fake_world(n_units=4, years=(2001, 2002))
    s = make_samples(ds)
    norm = Normalizer.fit(s)
    sizes = {"hidden": 8, "flux_hidden": 4, "head_hidden": 4}
    torch.manual_seed(0)
    anchor = KGMLAg(KGMLAgConfig(**sizes)).state_dict()
    step = StepConfig(epochs=1, batch_size=4, l2sp=1e-3)
    protocol = ProtocolConfig(region3=step, region5=step)
    with D.dask_client(n_workers=1, processes=False) as one:
        got = D.train_region_models(anchor, norm, s, s, s.state, s.state, protocol, one,
                                    model_config=sizes)
    assert sorted(got) == ["IA", "IL"]
    model = KGMLAg(KGMLAgConfig(**sizes))
    model.load_state_dict(anchor)
    ref = KGMLTrainer(model, norm, torch.device("cpu"), seed=0)
    finetune_region(ref, s.subset(s.state == "IL"), s.subset(s.state == "IL"), protocol, anchor, "x")
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(got["IL"][k], v)
    assert not torch.equal(got["IL"]["ra_net.out.weight"], anchor["ra_net.out.weight"])


def test_model_spec_ships_a_model_through_dask_serialization():
    from distributed.protocol import deserialize, serialize
    torch.manual_seed(1)
    model = KGMLAg(KGMLAgConfig(hidden=8, flux_hidden=4, head_hidden=4))
    header, frames = serialize(D.ModelSpec.of(model))
    rebuilt = deserialize(header, frames).build()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[k], v)
    assert not rebuilt.training
    with pytest.raises(ValueError, match="registry"):
        D.ModelSpec.of(torch.nn.Linear(2, 2))


def test_peak_rss_sees_this_process():
    with D.PeakRSS(interval=0.01) as peak:
        block = np.ones(20_000_000)          # 160 MB
        time_sum = float(block.sum())
    assert time_sum == 2e7 and peak.gib > 0.15 and peak.children_gib >= 0


def _pid_of(item, fail=False):
    import os
    if fail:
        raise ValueError(f"item {item} failed")
    return item, os.getpid()


def test_share_runs_every_item_once_in_one_process_or_the_other():
    import os
    import time
    pool = D.second_process()
    assert pool is not None
    ran: dict = {}
    try:
        def here(item):
            time.sleep(0.3)
            ran[item] = os.getpid()
        D.share(pool, list(range(6)), here, lambda item: (_pid_of, {"item": item}),
                lambda item, result: ran.__setitem__(item, result[1]))
        with pytest.raises(ValueError, match="item . failed"):
            D.share(pool, ["a", "b", "c"], lambda item: time.sleep(0.5),
                    lambda item: (_pid_of, {"item": item, "fail": True}), lambda item, result: None)
        def cancelled():
            raise InterruptedError("cancelled")
        slow = pool.apply_async(time.sleep, (60,))
        started = time.perf_counter()
        with pytest.raises(InterruptedError):           # a cancel is seen while the second process works
            D.share(pool, [], here, lambda item: (_pid_of, {"item": item}), lambda item, result: None,
                    pending=[("slow", slow)], check=cancelled)
        assert time.perf_counter() - started < 30
    finally:
        pool.terminate()
        pool.join()
    assert sorted(ran) == list(range(6))
    assert os.getpid() in ran.values() and set(ran.values()) - {os.getpid()}   # both processes took items


def test_the_second_process_does_not_run_the_parents_main_file(tmp_path, monkeypatch):
    # a script without a __main__ guard, or the Streamlit app (installed as __main__ with its file), in the parent
    import sys
    import types
    marker = tmp_path / "ran"
    script = tmp_path / "script.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('the parent script ran again')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    pool = D.second_process()
    try:
        item, pid = pool.apply_async(_pid_of, ("x",)).get(timeout=300)
    finally:
        pool.terminate()
        pool.join()
    assert item == "x" and sys.modules["__main__"] is fake
    assert not marker.exists()
