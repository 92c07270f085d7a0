"""TAM-RL on CUDA: the few-shot adaptation (a gradient through the LSTMs in eval mode) runs there and
gives the CPU's predictions (float32, TF32 off). Skipped without CUDA (CI has none)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from kgml_core.tamrl import predict
from kgml_core.tamrl import training as tr
from tests.tamrl.test_training import CFG, prepared  # noqa: F401  (the module fixture)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA absent: torch sees no GPU")


@pytest.fixture(autouse=True)
def exact_float32():
    """TF32 off in cuDNN and cuBLAS (cuDNN's is on by default): float32 results comparable with the CPU's."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_few_shot_adaptation_on_cuda_as_on_the_cpu(prepared):  # noqa: F811
    a, b, sc, data = prepared
    tam = tr.train_tamrl(data, tr.train_lstm(data, b.x.shape[-1], CFG, 0), b.s.shape[-1], CFG, 0)
    year = np.zeros(a.qc.shape[:2], bool)
    year[:, :365] = True
    on_cpu = predict.predict_series(tam, b, sc, CFG, year)
    on_cuda = predict.predict_series(copy.deepcopy(tam).to("cuda"), b, sc, CFG, year)
    diff = np.abs(on_cuda - on_cpu).max()
    print(f"TAM-RL few-shot adaptation, CUDA against CPU: max |diff| {diff:.2e}, largest |value| "
          f"{np.abs(on_cpu).max():.2f} g C m-2 d-1")
    assert np.isfinite(on_cuda).all()
    assert diff < 1e-3 * np.abs(on_cpu).max()
