"""Tiny simulated worlds shared by the simulator tests (a few counties, two years)."""
from __future__ import annotations

import pytest

from kgml_core.simulator import WorldConfig, simulate_world

# Champaign and McLean IL, Polk and Story IA, Tippecanoe IN
COUNTIES = ("17019", "17113", "19153", "19169", "18157")


@pytest.fixture(scope="session")
def tiny_cfg() -> WorldConfig:
    return WorldConfig(years=(2011, 2012), counties=COUNTIES)


@pytest.fixture(scope="session")
def tiny_world(tiny_cfg):
    return simulate_world(tiny_cfg)
