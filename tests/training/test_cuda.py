"""The trainer and the pull on CUDA (``device="cuda"``): training end to end, predictions, the pull's fold
fits and choice as on the CPU from the same weights. Skipped without CUDA (CI has none);
``benchmarks/bench_cuda.py`` runs the same at the presets' sizes and times it."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from kgml_core.models.kgml_ag import KGMLAg, KGMLAgConfig
from kgml_core.training.data import PARAM_NAMES, Normalizer, make_samples
from kgml_core.training.pull import choose_pull
from kgml_core.training.trainer import KGMLTrainer, Source, StepConfig
from tests.models.test_cuda import exact_float32  # noqa: F401 - autouse: TF32 off, the CPU on one thread
from tests.training.conftest import fake_world

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA absent: torch sees no GPU")
CUDA = torch.device("cuda")


def _model(dropout=0.1):
    torch.manual_seed(0)
    return KGMLAg(KGMLAgConfig(hidden=16, flux_hidden=8, head_hidden=8, dropout=dropout, n_params=len(PARAM_NAMES)))


def test_trainer_trains_and_predicts_on_cuda():
    samples = make_samples(fake_world(n_units=8, years=(2001, 2003)), warmup=30)
    norm = Normalizer.fit(samples)
    trainer = KGMLTrainer(_model(), norm, CUDA, seed=0)
    log = trainer.train_step("pre", [Source(samples, "process_fluxes")], ("shared", "yield", "ra", "rh", "nee"),
                             StepConfig(epochs=8, batch_size=8, lr=1e-2, cosine=True))
    loss = [sum(e.values()) for e in log.epochs]
    assert loss[-1] < 0.5 * loss[0], loss
    assert {p.device.type for p in trainer.model.parameters()} == {CUDA.type}
    pred = trainer.predict(samples)
    on_cpu = KGMLTrainer(copy.deepcopy(trainer.model), norm, torch.device("cpu")).predict(samples)
    for k, v in pred.items():
        assert np.isfinite(v).all()
        np.testing.assert_allclose(v, on_cpu[k], atol=1e-3 * float(np.abs(on_cpu[k]).max()))


def test_pull_on_cuda_chooses_as_on_the_cpu():
    sites = make_samples(fake_world(n_units=4, years=(2001, 2003), kind="site", seed=2))
    norm = Normalizer.fit(sites)
    model = _model(dropout=0.0)
    anchor = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = StepConfig(epochs=5, lr=0.1, cosine=True, l2sp=1e-2, l2sp_grid=(1e-1, 1e-3), l2sp_grid_global=True,
                     l2sp_grid_folds="sites+years")
    choices = [choose_pull(KGMLTrainer(copy.deepcopy(model), norm, device, seed=0), sites, cfg, anchor)
               for device in (torch.device("cpu"), CUDA)]
    cpu, gpu = (np.array(c.fold_loss) for c in choices)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3)
    assert choices[0].chosen == choices[1].chosen
