"""The stage store: content keys, put/get, leases, eviction by size (never of a leased entry)."""
import json
import os

import numpy as np
import pytest
import torch

from kgml_core import settings
from kgml_core.stages import StageStore, array_digest, code_version, stage_key


def _weights(n: int) -> dict:
    return {"w": torch.arange(n, dtype=torch.float32)}


def test_keys_change_with_every_part():
    base = stage_key("pretrained", {"data": "abc", "seed": 0})
    assert base == stage_key("pretrained", {"seed": 0, "data": "abc"})         # order-free
    assert base != stage_key("pretrained", {"data": "abd", "seed": 0})
    assert base != stage_key("pretrained", {"data": "abc", "seed": 1})
    assert base != stage_key("global", {"data": "abc", "seed": 0})
    assert len(code_version()) == 16


def test_array_digest_sees_values_shapes_and_dtypes():
    a = np.zeros((2, 3), np.float32)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a.reshape(3, 2))
    assert array_digest(a) != array_digest(a.astype(np.float64))
    b = a.copy()
    b[1, 2] = 1e-7
    assert array_digest(a) != array_digest(b)
    assert array_digest({"x": a, "u": np.array(["a", "b"], dtype=object)}) == \
        array_digest({"u": np.array(["a", "b"]), "x": a})


def test_put_then_get_with_metadata(tmp_path):
    store = StageStore(tmp_path, max_bytes=10**9)
    assert store.get("k1") is None
    store.put("k1", _weights(4), {"stage": "pretrained", "run_id": "r1", "run_name": "first"})
    entry = store.get("k1")
    torch.testing.assert_close(entry.weights, _weights(4))
    assert entry.meta["run_id"] == "r1" and entry.source == "run r1 (first)"
    store.put("k1", _weights(5), {"stage": "pretrained", "run_id": "r2"})       # first writer wins
    assert store.get("k1").meta["run_id"] == "r1"
    with pytest.raises(ValueError):
        store.get("../x")


def test_eviction_by_size_least_recently_used_first(tmp_path):
    store = StageStore(tmp_path, max_bytes=10**9)
    for i, key in enumerate(("a1", "b2", "c3")):
        store.put(key, _weights(20_000), {"run_id": key})
        os.utime(tmp_path / key / "meta.json", (1000 + i, 1000 + i))
    store.get("a1")                                   # now the most recently used
    one = store.size_bytes() // 3
    store.max_bytes = 2 * one + one // 2
    assert store.evict() == ["b2"]
    assert store.keys() == ["a1", "c3"]


def test_leased_entries_are_never_evicted_dead_leases_are_ignored(tmp_path):
    store = StageStore(tmp_path, max_bytes=10**9)
    store.put("a1", _weights(20_000), {"run_id": "r1"}, holder="run-1")
    store.put("b2", _weights(20_000), {"run_id": "r2"})
    os.utime(tmp_path / "a1" / "meta.json", (1000, 1000))    # the oldest, but leased
    store.max_bytes = 1
    assert store.evict() == ["b2"]
    assert store.keys() == ["a1"] and store.leased("a1")
    # the lease of a process that no longer exists does not protect the entry
    lease = tmp_path / "a1" / "lease-run-1"
    info = json.loads(lease.read_text())
    lease.write_text(json.dumps({**info, "pid": 2**22 + 12345}))
    assert not store.leased("a1") and store.evict() == ["a1"]
    store.put("c3", _weights(10), {"run_id": "r3"}, holder="run-3")
    store.release("run-3")
    assert not store.leased("c3")


def test_size_setting(monkeypatch):
    monkeypatch.setenv("KGML_STAGE_CACHE_MB", "1.5")
    assert settings.stage_cache_bytes() == int(1.5 * 2**20)
    monkeypatch.setenv("KGML_STAGE_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="KGML_STAGE_CACHE_MB"):
        settings.stage_cache_bytes()


def test_stage_names_for_people():
    from kgml_core.stages import describe
    assert describe("pretrained") == "pretraining"
    assert describe("no_knowledge") == "level-1 model"
    assert describe("state_IA") == "IA model"
    assert describe("region_2") == "region 2 model"
    assert describe("custom") == "custom model"
