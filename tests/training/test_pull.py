"""The pull of a state's parameter estimate toward the global one, chosen by leave-one-site-out validation.

On the planted-Q10 world of ``test_planted_effect`` (an exact emulator): when
the states differ, validation must choose a weak pull and recover each
state's Q10; when they do not, it must choose the strongest pull of the grid.
The batched fits (all candidates and folds in one batch) must follow the
same path as each estimate alone.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kgml_core.training.data import make_samples, prior_mean, prior_std
from kgml_core.training.protocol import observation_step
from kgml_core.models import gru_ext
from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig
from kgml_core.training.data import INPUTS, PARAM_NAMES
from kgml_core.training.pull import choose_pull, fit_chunks, fit_thetas, held_out_rows, one_se_choice
from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig
from tests.training.test_planted_effect import Q10, ExactEmulator, _estimate, _norm, q10_world, towers

GRID = (1.0, 1e-1, 1e-2, 1e-3)


def _sites(q10_by_state: dict[str, float], spread: float = 0.05):
    """Four towers per state, each with its state's Q10 plus a small tower-level deviation."""
    states = np.repeat(list(q10_by_state), 4)
    q10 = np.array([q10_by_state[s] for s in states]) + spread * np.random.default_rng(3).normal(size=len(states))
    return make_samples(towers(q10_world(q10, states, seed=5), seed=6))


def _state_estimate(sites, state: str, glob: KGMLTrainer, grid=GRID, folds="sites"):
    model = ExactEmulator()
    model.load_state_dict(glob.state_dict())
    trainer = KGMLTrainer(model, _norm(), torch.device("cpu"), seed=0)
    cfg = StepConfig(epochs=40, batch_size=64, lr=0.1, cosine=True, l2sp=1e-2, l2sp_grid=grid,
                     l2sp_grid_folds=folds)
    log = observation_step(trainer, None, sites.subset(sites.state == state), ("params",), cfg, "est",
                           glob.state_dict())
    q10 = float(prior_mean()[Q10] + prior_std()[Q10] * trainer.model.theta.detach()[Q10])
    return log, q10


def test_one_se_rule_prefers_the_strongest_pull_unless_clearly_worse():
    grid = [1.0, 0.1, 0.01]
    same = np.array([[1.00, 1.02, 0.99, 1.01], [0.99, 1.01, 1.00, 1.00], [0.98, 1.02, 1.01, 0.99]])
    assert one_se_choice(grid, same)[0] == 1.0
    # the strong pull is worse on every left-out site by much more than the folds disagree
    differ = np.array([[1.50, 1.60, 1.55, 1.52], [1.10, 1.12, 1.11, 1.09], [1.00, 1.02, 1.01, 0.99]])
    assert one_se_choice(grid, differ)[0] == 0.01
    # consistent but tiny gains (0.2 %) of weaker pulls are below the tolerance: the strongest stays
    tiny = np.array([[1.002, 1.012, 0.992, 1.002], [1.001, 1.011, 0.991, 1.001], [1.0, 1.01, 0.99, 1.0]])
    assert one_se_choice(grid, tiny)[0] == 1.0 and one_se_choice(grid, tiny, tolerance=0.0)[0] == 0.01


@pytest.mark.parametrize("folds", ["sites", "sites+years"])
@pytest.mark.parametrize("planted, expect_weak", [({"IL": 1.6, "IA": 3.0}, True), ({"IL": 2.4, "IA": 2.4}, False)])
def test_validation_chooses_weak_pull_only_for_a_real_difference(planted, expect_weak, folds):
    torch.set_num_threads(1)
    sites = _sites(planted)
    glob = _estimate(sites)
    for state, truth in planted.items():
        log, q10 = _state_estimate(sites, state, glob, folds=folds)
        years = [f"year {y}" for y in np.unique(sites.year)] if folds != "sites" else []
        assert log.info["pull"]["fold_names"] == log.info["pull"]["towers"] + years
        assert len(log.info["pull"]["fold_loss"][0]) == 4 + len(years)
        chosen = log.info["pull"]["chosen"]
        if expect_weak:
            assert chosen <= 1e-2, (state, log.info["pull"])
            assert abs(q10 - truth) < 0.25, (state, q10, truth)
        else:
            assert chosen == max(GRID), (state, log.info["pull"])
            assert abs(q10 - truth) < 0.15, (state, q10, truth)


def test_batched_fits_equal_one_estimate_alone():
    """Fits run together in one batch follow the path of each estimate alone (no dropout here)."""
    torch.set_num_threads(1)
    sites = _sites({"IL": 1.6, "IA": 3.0})
    glob = _estimate(sites)
    il = sites.subset(sites.state == "IL")
    alone = {}
    for pull in (1e-2, 1e-3):
        cfg = StepConfig(epochs=20, batch_size=64, lr=0.1, cosine=True, l2sp=pull)
        trainer = KGMLTrainer(ExactEmulator(), _norm(), torch.device("cpu"), seed=0)
        trainer.model.load_state_dict(glob.state_dict())
        observation_step(trainer, None, il, ("params",), cfg, "alone", glob.state_dict())
        alone[pull] = trainer.model.theta.detach()
    batched = KGMLTrainer(ExactEmulator(), _norm(), torch.device("cpu"), seed=0)
    batched.model.load_state_dict(glob.state_dict())
    batched.set_trainable(("params",))
    tensors = batched.tensors(Source(il, "site_fluxes"))
    every = np.arange(len(il))
    thetas = fit_thetas(batched, tensors, [every, every], [1e-2, 1e-3], cfg, glob.state_dict()["theta"])
    torch.testing.assert_close(thetas[0], alone[1e-2], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(thetas[1], alone[1e-3], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(thetas[0], thetas[1])


def test_fit_chunks_group_whole_fits_on_blocks_of_the_batch():
    assert fit_chunks([80] * 18, 160) == [(i, i + 2) for i in range(0, 18, 2)]      # a `full` state
    assert fit_chunks([144] * 30, 160) == [(i, i + 1) for i in range(30)]          # one fit above the budget
    assert fit_chunks([12] * 12, 160) == [(0, 12)]                                  # a `quick` state: one piece
    assert fit_chunks([20] * 18, 160) == [(0, 8), (8, 16), (16, 18)]               # cuts where 16 divides the rows
    assert fit_chunks([7] * 40, 64) == [(0, 16), (16, 32), (32, 40)]
    assert fit_chunks([7] * 5, 8) == [(0, 5)]                                       # no block boundary: one piece
    for sizes in ([20] * 18, [7] * 40, [16, 16, 32, 16, 8]):
        chunks = fit_chunks(sizes, 40)
        ends = np.cumsum([0] + sizes)
        assert chunks[0][0] == 0 and chunks[-1][1] == len(sizes)
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
        assert all(ends[first] % 16 == 0 for first, _ in chunks)


def test_chunked_fits_equal_one_piece_bit_for_bit():
    """The fold fits in chunks of whole fits (dropout between the GRU layers and before the heads replayed from
    the whole batch's masks) give the estimates of one piece to the last bit, and leave the generator alike."""
    if gru_ext.extension() is None:
        pytest.skip("the fused GRU extension is not built in this checkout (`make`)")
    torch.set_num_threads(1)
    sites = _sites({"IL": 1.6, "IA": 3.0})
    torch.manual_seed(0)
    model = KGMLAg(KGMLAgConfig(n_inputs=len(INPUTS), hidden=16, flux_hidden=16, head_hidden=8, dropout=0.2,
                                n_params=len(PARAM_NAMES)))
    trainer = KGMLTrainer(model, _norm(), torch.device("cpu"), seed=0)
    trainer.set_trainable(("params",))
    tensors = trainer.tensors(Source(sites, "site_fluxes"))
    g = np.random.default_rng(1)
    rows = [g.choice(len(sites), n) for n in (16, 16, 32, 16, 8)]
    cfg = StepConfig(epochs=3, batch_size=64, lr=0.1, cosine=True, param_prior=1e-2)
    out = []
    for chunk_rows in (32, 10 ** 6):
        assert len(fit_chunks([len(r) for r in rows], chunk_rows)) == (3 if chunk_rows == 32 else 1)
        torch.manual_seed(5)
        thetas = fit_thetas(trainer, tensors, rows, [1e-1, 1e-2, 1e-3, 1e-2, 1e-3], cfg,
                            0.1 * torch.ones(len(PARAM_NAMES)), chunk_rows=chunk_rows)
        out.append((thetas, torch.get_rng_state()))
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])
    assert not torch.equal(out[0][0][0], out[0][0][1])


def test_year_folds_leave_out_one_training_year_of_every_site():
    sites = _sites({"IL": 1.6})
    towers = np.unique(sites.unit.astype(str))
    by_site = held_out_rows(sites, towers)
    assert list(by_site) == list(towers)
    assert [len(r) for r in by_site.values()] == [np.sum(sites.unit == t) for t in towers]
    both = held_out_rows(sites, towers, "sites+years")
    years = np.unique(sites.year)
    assert len(years) > 1 and list(both) == list(towers) + [f"year {y}" for y in years]
    for year in years:
        rows = both[f"year {year}"]
        assert set(sites.year[rows]) == {year} and set(sites.unit[rows]) == set(towers)
    with pytest.raises(ValueError, match="l2sp_grid_folds must be one of"):
        StepConfig(l2sp_grid_folds="years")


def test_fewer_than_two_sites_keep_the_fixed_pull():
    sites = _sites({"IL": 1.6})
    one = sites.subset(sites.unit == sites.unit[0])
    trainer = KGMLTrainer(ExactEmulator(), _norm(), torch.device("cpu"), seed=0)
    cfg = StepConfig(epochs=2, batch_size=64, lr=0.1, l2sp=1e-2, l2sp_grid=GRID)
    assert choose_pull(trainer, one, cfg, trainer.state_dict()) is None
    log = observation_step(trainer, None, one, ("params",), cfg, "one", trainer.state_dict())
    assert "pull" not in log.info and "l2sp" in log.epochs[-1]


def test_the_global_candidate_declines_a_state_estimate_only_without_a_difference():
    """With the infinite pull among the candidates, one Q10 everywhere keeps the global theta itself."""
    torch.set_num_threads(1)
    for planted, declined in (({"IL": 2.4, "IA": 2.4}, True), ({"IL": 1.6, "IA": 3.0}, False)):
        sites = _sites(planted)
        glob = _estimate(sites)
        model = ExactEmulator()
        model.load_state_dict(glob.state_dict())
        trainer = KGMLTrainer(model, _norm(), torch.device("cpu"), seed=0)
        cfg = StepConfig(epochs=40, batch_size=64, lr=0.1, cosine=True, l2sp=1e-2, l2sp_grid=GRID,
                         l2sp_grid_global=True)
        log = observation_step(trainer, None, sites.subset(sites.state == "IL"), ("params",), cfg, "est",
                               glob.state_dict())
        assert log.info["pull"]["grid"][0] == "global"
        same = torch.equal(trainer.model.theta.detach(), glob.state_dict()["theta"])
        assert (log.info["pull"]["chosen"] == "global") == declined == same, log.info["pull"]
