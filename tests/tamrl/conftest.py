"""Fixtures of the TAM-RL tests."""
from __future__ import annotations

import pytest
import torch
import xarray as xr

from tests.tamrl.builders import make_sites


@pytest.fixture(autouse=True)
def _threads():
    # one thread: the shared test machine is oversubscribed, where more threads only spin
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def sites() -> xr.Dataset:
    return make_sites()
