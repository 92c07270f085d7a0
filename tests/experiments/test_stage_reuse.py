"""Reuse of trained stages across runs: same results, said in the log and metrics; a change retrains what it affects."""
from dataclasses import replace

import pytest
import torch

from kgml_core.experiments.state_vs_global import preset, run_state_vs_global
from kgml_core.runs import RunStore
from kgml_core.training.trainer import StepConfig

torch.set_num_threads(1)


@pytest.fixture
def reuse_on(tmp_path, monkeypatch):
    monkeypatch.setenv("KGML_STAGE_CACHE_MB", "100")
    monkeypatch.setenv("KGML_CACHE_DIR", str(tmp_path / "cache"))
    return RunStore(tmp_path / "runs")


def test_repeated_run_reuses_every_stage_with_the_same_results(reuse_on):
    cfg = preset("tiny", states=("IL",), threads=1)
    first = run_state_vs_global(cfg, reuse_on)
    assert first.metrics()["reused_stages"] == {}
    notes = []
    second = run_state_vs_global(cfg, reuse_on, progress=lambda e: notes.append(e.message) if e.note else None)
    reused = second.metrics()["reused_stages"]
    assert {"pretrained", "global", "state_IL", "no_knowledge"} <= set(reused)
    assert {r["run_id"] for r in reused.values()} == {first.id}
    assert f"pretraining reused from run {first.id}" in second.read_log()
    assert any(n.startswith("pretraining reused from run") for n in notes)
    for key in first.weight_names():                       # the very same weights
        torch.testing.assert_close(second.load_weights(key), first.load_weights(key), rtol=0, atol=0)
    assert_same_scores(second.metrics()["states"], first.metrics()["states"])


def assert_same_scores(a: dict, b: dict, rel: float = 1e-6) -> None:
    """Scores equal up to float round-off (the same weights may sum in another order in another buffer)."""
    for state in b:
        for model in b[state]:
            for target, s in b[state][model].items():
                assert a[state][model][target] == pytest.approx(s, rel=rel, abs=1e-8, nan_ok=True), (state, model, target)


def test_changing_the_fine_tuning_reuses_only_what_comes_before(reuse_on):
    cfg = preset("tiny", states=("IL",), threads=1)
    first = run_state_vs_global(cfg, reuse_on)
    tuned = replace(cfg, protocol=replace(cfg.protocol, region5=StepConfig(epochs=2, batch_size=8, lr=1e-3)))
    second = run_state_vs_global(tuned, reuse_on)
    reused = set(second.metrics()["reused_stages"])
    assert {"pretrained", "global", "no_knowledge"} <= reused
    assert not {k for k in reused if k.startswith(("state_", "region_"))}
    torch.testing.assert_close(second.load_weights("global"), first.load_weights("global"))
    other_seed = run_state_vs_global(replace(cfg, seed=1), reuse_on)
    assert other_seed.metrics()["reused_stages"] == {}


def test_changing_the_states_reuses_the_pretraining_of_the_fixed_domain(reuse_on):
    """Pretraining reads the fixed pretraining domain, not the modelled states: its stage is reused."""
    first = run_state_vs_global(preset("tiny", states=("IL",), threads=1), reuse_on)
    other = run_state_vs_global(preset("tiny", states=("IA",), threads=1), reuse_on)
    reused = other.metrics()["reused_stages"]
    assert "pretrained" in reused and reused["pretrained"]["run_id"] == first.id
    assert "global" not in reused                          # fine-tuned on the new states' observations
    torch.testing.assert_close(other.load_weights("pretrained"), first.load_weights("pretrained"), rtol=0, atol=0)
    assert other.metrics()["pretraining"]["states"] == first.metrics()["pretraining"]["states"]
    own = preset("tiny", states=("IN",), threads=1, pretrain_states=None)   # the modelled states' counties
    assert "pretrained" not in run_state_vs_global(own, reuse_on).metrics()["reused_stages"]


def test_a_reused_pretraining_is_the_one_a_cold_run_trains(reuse_on, tmp_path, monkeypatch):
    """The pretrained weights depend on what their key records (the seed), not on what drew from torch's
    generator earlier in the run (other states, other rungs): reusing them gives a cold run's weights."""
    first = run_state_vs_global(preset("tiny", states=("IL",), threads=1), reuse_on)
    monkeypatch.setenv("KGML_CACHE_DIR", str(tmp_path / "empty_cache"))
    fewer_rungs = tuple(m for m in preset("tiny").models if m != "no_knowledge")
    cold = run_state_vs_global(preset("tiny", states=("IA", "IN"), models=fewer_rungs, threads=1),
                               RunStore(tmp_path / "cold_runs"))
    assert cold.metrics()["reused_stages"] == {}
    torch.testing.assert_close(cold.load_weights("pretrained"), first.load_weights("pretrained"), rtol=0, atol=0)
